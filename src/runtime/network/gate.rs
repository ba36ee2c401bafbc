//! The input gate: a task's view of all channels it reads, from one or two logical inputs,
//! with the watermark valve that combines their watermarks.

use crossbeam_channel::{Receiver, Select};
use std::time::Duration;

use super::barrier::{BarrierHandler, BarrierOutcome};
use super::NetworkEvent;
use crate::checkpoint::CheckpointBarrier;
use crate::config::options::CheckpointingMode;
use crate::runtime::chain::TaskError;
use crate::runtime::task::TaskControl;

/// One channel feeding a logical input (0 for one-input tasks, 0 or 1 for two-input tasks).
pub struct InputChannel {
    pub input: usize,
    pub receiver: Receiver<NetworkEvent>,
}

/// What the gate hands the task.
#[derive(Debug)]
pub enum GateEvent {
    /// A buffer of records for logical input `input`.
    Records { input: usize, buffer: Vec<u8> },
    /// The task's combined watermark advanced.
    Watermark(i64),
    /// Every channel went idle (`true`), or one became active again.
    WatermarkStatus { idle: bool },
    /// The data of every channel of logical input `input` has ended.
    InputEnded { input: usize },
    /// Nothing arrived within the wait time.
    Timeout,
    /// A control message for the task.
    Control(TaskControl),
    /// The barrier arrived on every open channel: snapshot now.
    Barrier(CheckpointBarrier),
    /// The checkpoint being aligned was abandoned (overtaken or cancelled upstream).
    CheckpointAborted(u64),
}

/// Combines channel watermarks (Flink's `StatusWatermarkValve`): the task's watermark is the
/// minimum over channels that are neither idle nor finished, and never goes backwards.
#[derive(Debug)]
pub struct WatermarkValve {
    watermarks: Vec<i64>,
    idle: Vec<bool>,
    finished: Vec<bool>,
    emitted: i64,
    all_idle: bool,
}

impl WatermarkValve {
    pub fn new(channels: usize) -> Self {
        WatermarkValve {
            watermarks: vec![i64::MIN; channels],
            idle: vec![false; channels],
            finished: vec![false; channels],
            emitted: i64::MIN,
            all_idle: false,
        }
    }

    /// A channel's watermark; returns the new combined watermark if it advanced.
    pub fn watermark(&mut self, channel: usize, watermark: i64) -> Option<i64> {
        if watermark > self.watermarks[channel] {
            self.watermarks[channel] = watermark;
        }
        self.advance()
    }

    /// A channel's idleness; returns (new combined watermark, new combined status) changes.
    pub fn status(&mut self, channel: usize, idle: bool) -> (Option<i64>, Option<bool>) {
        self.idle[channel] = idle;
        let watermark = self.advance();
        (watermark, self.update_all_idle())
    }

    /// A channel ended: it no longer holds back the watermark.
    pub fn finish(&mut self, channel: usize) -> (Option<i64>, Option<bool>) {
        self.finished[channel] = true;
        let watermark = self.advance();
        (watermark, self.update_all_idle())
    }

    fn update_all_idle(&mut self) -> Option<bool> {
        let open: Vec<usize> = (0..self.idle.len())
            .filter(|&c| !self.finished[c])
            .collect();
        let all_idle = !open.is_empty() && open.iter().all(|&c| self.idle[c]);
        (all_idle != self.all_idle).then(|| {
            self.all_idle = all_idle;
            all_idle
        })
    }

    fn advance(&mut self) -> Option<i64> {
        let active = (0..self.watermarks.len()).filter(|&c| !self.idle[c] && !self.finished[c]);
        let min = active.map(|c| self.watermarks[c]).min()?;
        (min > self.emitted).then(|| {
            self.emitted = min;
            min
        })
    }
}

/// Reads a task's input channels in arrival order.
pub struct InputGate {
    channels: Vec<InputChannel>,
    /// Channels still open (indices into `channels`): until their end of partition, since
    /// the barriers of a final checkpoint still follow their end of data.
    active: Vec<usize>,
    /// Per channel, whether its data ended.
    data_ended: Vec<bool>,
    /// Channels per logical input whose data has not ended.
    open_per_input: Vec<usize>,
    control: Receiver<TaskControl>,
    valve: WatermarkValve,
    /// Events produced by one channel event, delivered one at a time.
    pending: std::collections::VecDeque<GateEvent>,
    barriers: BarrierHandler,
}

impl InputGate {
    pub fn new(
        channels: Vec<InputChannel>,
        num_inputs: usize,
        control: Receiver<TaskControl>,
        mode: CheckpointingMode,
    ) -> Self {
        let mut open_per_input = vec![0; num_inputs];
        for c in &channels {
            open_per_input[c.input] += 1;
        }
        let active = (0..channels.len()).collect();
        let data_ended = vec![false; channels.len()];
        let valve = WatermarkValve::new(channels.len());
        let barriers = BarrierHandler::new(channels.len(), mode);
        InputGate {
            channels,
            active,
            data_ended,
            open_per_input,
            control,
            valve,
            pending: Default::default(),
            barriers,
        }
    }

    /// Logical inputs that have no channel at all (ended from the start).
    pub fn inputs_without_channels(&self) -> Vec<usize> {
        (0..self.open_per_input.len())
            .filter(|&i| self.open_per_input[i] == 0)
            .collect()
    }

    /// True when every channel has ended and every event was delivered.
    pub fn is_finished(&self) -> bool {
        self.active.is_empty() && self.pending.is_empty()
    }

    /// True when the data of every input ended (channels may still carry barriers).
    pub fn data_ended(&self) -> bool {
        self.open_per_input.iter().all(|&open| open == 0)
    }

    /// `channel`'s data ended (its end of data, or an end of partition without one): it no
    /// longer holds back the watermark, and its input may have ended.
    fn end_data(&mut self, channel: usize) {
        if std::mem::replace(&mut self.data_ended[channel], true) {
            return;
        }
        let changes = self.valve.finish(channel);
        self.queue(changes);
        let input = self.channels[channel].input;
        self.open_per_input[input] -= 1;
        if self.open_per_input[input] == 0 {
            self.pending.push_back(GateEvent::InputEnded { input });
        }
    }

    fn queue(&mut self, (watermark, status): (Option<i64>, Option<bool>)) {
        if let Some(idle) = status.filter(|idle| !idle) {
            self.pending.push_back(GateEvent::WatermarkStatus { idle });
        }
        if let Some(wm) = watermark {
            self.pending.push_back(GateEvent::Watermark(wm));
        }
        if let Some(idle) = status.filter(|idle| *idle) {
            self.pending.push_back(GateEvent::WatermarkStatus { idle });
        }
    }

    fn queue_barrier(&mut self, outcome: BarrierOutcome) {
        match outcome {
            BarrierOutcome::Pending => {}
            BarrierOutcome::Aligned(barrier) => self.pending.push_back(GateEvent::Barrier(barrier)),
            BarrierOutcome::Aborted(id) => self.pending.push_back(GateEvent::CheckpointAborted(id)),
        }
    }

    /// Waits up to `timeout` for the next event of any channel or the control queue.
    pub fn next(&mut self, timeout: Duration) -> Result<GateEvent, TaskError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let mut select = Select::new();
            // Channels ahead of an alignment stay unread; `readable[i]` is the channel of
            // select index `i`.
            let readable: Vec<usize> = self
                .active
                .iter()
                .copied()
                .filter(|&c| !self.barriers.is_blocked(c))
                .collect();
            for &c in &readable {
                select.recv(&self.channels[c].receiver);
            }
            let control_index = select.recv(&self.control);
            let op = match select.select_timeout(timeout) {
                Ok(op) => op,
                Err(_) => return Ok(GateEvent::Timeout),
            };
            let index = op.index();
            if index == control_index {
                return match op.recv(&self.control) {
                    Ok(msg) => Ok(GateEvent::Control(msg)),
                    // The task executor is gone: nothing will ever ask us to finish cleanly.
                    Err(_) => Err(TaskError::Cancelled),
                };
            }
            let channel = readable[index];
            let input = self.channels[channel].input;
            match op.recv(&self.channels[channel].receiver) {
                Ok(NetworkEvent::Records(buffer)) => {
                    return Ok(GateEvent::Records { input, buffer })
                }
                Ok(NetworkEvent::Watermark(wm)) => {
                    let advanced = self.valve.watermark(channel, wm);
                    self.queue((advanced, None));
                }
                Ok(NetworkEvent::WatermarkStatus { idle }) => {
                    let changes = self.valve.status(channel, idle);
                    self.queue(changes);
                }
                Ok(NetworkEvent::Barrier(barrier)) => {
                    for outcome in self.barriers.barrier(channel, barrier) {
                        self.queue_barrier(outcome);
                    }
                }
                Ok(NetworkEvent::CancelCheckpoint(id)) => {
                    let outcome = self.barriers.cancel(id);
                    self.queue_barrier(outcome);
                }
                Ok(NetworkEvent::EndOfData) => self.end_data(channel),
                Ok(NetworkEvent::EndOfPartition) => {
                    self.end_data(channel);
                    self.active.retain(|&c| c != channel);
                    let outcome = self.barriers.end_channel(channel);
                    self.queue_barrier(outcome);
                }
                // A producer vanished without EndOfPartition: it failed or was cancelled.
                Err(_) => return Err(TaskError::Cancelled),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_is_the_minimum_over_channels_and_never_goes_back() {
        let mut v = WatermarkValve::new(2);
        assert_eq!(v.watermark(0, 10), None, "channel 1 has no watermark yet");
        assert_eq!(v.watermark(1, 5), Some(5));
        assert_eq!(v.watermark(1, 20), Some(10));
        assert_eq!(
            v.watermark(0, 8),
            None,
            "a channel going back changes nothing"
        );
        assert_eq!(v.watermark(0, 30), Some(20));
    }

    #[test]
    fn an_idle_channel_does_not_hold_back_the_watermark() {
        let mut v = WatermarkValve::new(2);
        assert_eq!(v.watermark(0, 100), None);
        assert_eq!(v.status(1, true), (Some(100), None));
        assert_eq!(v.watermark(0, 150), Some(150));
        // All idle: the status goes idle, the watermark stays.
        assert_eq!(v.status(0, true), (None, Some(true)));
        // Reactivated behind the current watermark: no regression, and it must catch up first.
        assert_eq!(v.status(1, false), (None, Some(false)));
        assert_eq!(v.watermark(1, 120), None);
        assert_eq!(v.watermark(1, 160), Some(160));
    }

    #[test]
    fn a_finished_channel_stops_holding_back_the_watermark() {
        let mut v = WatermarkValve::new(2);
        v.watermark(0, 50);
        assert_eq!(v.finish(1), (Some(50), None));
    }

    #[test]
    fn an_end_of_data_ends_the_input_but_barriers_still_align_over_its_channel() {
        use crate::checkpoint::{CheckpointBarrier, SnapshotType};
        let (senders, channels): (Vec<_>, Vec<_>) = (0..2)
            .map(|_| {
                let (tx, rx) = crossbeam_channel::unbounded();
                (
                    tx,
                    InputChannel {
                        input: 0,
                        receiver: rx,
                    },
                )
            })
            .unzip();
        let (_control, control_rx) = crossbeam_channel::unbounded();
        let mut gate = InputGate::new(channels, 1, control_rx, CheckpointingMode::ExactlyOnce);
        let wait = Duration::from_millis(10);
        senders[0].send(NetworkEvent::EndOfData).unwrap();
        assert!(matches!(gate.next(wait).unwrap(), GateEvent::Timeout));
        senders[1].send(NetworkEvent::EndOfData).unwrap();
        assert!(matches!(
            gate.next(wait).unwrap(),
            GateEvent::InputEnded { input: 0 }
        ));
        assert!(gate.data_ended() && !gate.is_finished());
        let barrier = CheckpointBarrier {
            id: 7,
            timestamp: 0,
            kind: SnapshotType::Checkpoint,
            target: None,
        };
        senders[0]
            .send(NetworkEvent::Barrier(barrier.clone()))
            .unwrap();
        assert!(matches!(gate.next(wait).unwrap(), GateEvent::Timeout));
        senders[1].send(NetworkEvent::Barrier(barrier)).unwrap();
        assert!(matches!(gate.next(wait).unwrap(), GateEvent::Barrier(b) if b.id == 7));
        for sender in &senders {
            sender.send(NetworkEvent::EndOfPartition).unwrap();
        }
        while !gate.is_finished() {
            assert!(matches!(gate.next(wait).unwrap(), GateEvent::Timeout));
        }
    }
}
