//! The input gate: a task's view of all channels it reads, from one or two logical inputs.

use crossbeam_channel::{Receiver, Select};
use std::time::Duration;

use super::NetworkEvent;
use crate::runtime::chain::TaskError;
use crate::runtime::task::TaskControl;

/// One channel feeding a logical input (0 for one-input tasks, 0 or 1 for two-input tasks).
pub struct InputChannel {
    pub input: usize,
    pub receiver: Receiver<NetworkEvent>,
}

/// What the gate hands the task.
pub enum GateEvent {
    /// A buffer of records for logical input `input`.
    Records { input: usize, buffer: Vec<u8> },
    /// Every channel of logical input `input` has ended.
    InputEnded { input: usize },
    /// Nothing arrived within the wait time (time to flush output buffers).
    Idle,
    /// A control message for the task.
    Control(TaskControl),
}

/// Reads a task's input channels in arrival order.
pub struct InputGate {
    channels: Vec<InputChannel>,
    /// Channels still open (indices into `channels`).
    active: Vec<usize>,
    /// Open channels per logical input.
    open_per_input: Vec<usize>,
    control: Receiver<TaskControl>,
}

impl InputGate {
    pub fn new(
        channels: Vec<InputChannel>,
        num_inputs: usize,
        control: Receiver<TaskControl>,
    ) -> Self {
        let mut open_per_input = vec![0; num_inputs];
        for c in &channels {
            open_per_input[c.input] += 1;
        }
        let active = (0..channels.len()).collect();
        InputGate {
            channels,
            active,
            open_per_input,
            control,
        }
    }

    /// Logical inputs that have no channel at all (ended from the start).
    pub fn inputs_without_channels(&self) -> Vec<usize> {
        (0..self.open_per_input.len())
            .filter(|&i| self.open_per_input[i] == 0)
            .collect()
    }

    /// True when every channel has ended.
    pub fn is_finished(&self) -> bool {
        self.active.is_empty()
    }

    /// Waits up to `timeout` for the next event of any channel or the control queue.
    pub fn next(&mut self, timeout: Duration) -> Result<GateEvent, TaskError> {
        loop {
            let mut select = Select::new();
            for &c in &self.active {
                select.recv(&self.channels[c].receiver);
            }
            let control_index = select.recv(&self.control);
            let op = match select.select_timeout(timeout) {
                Ok(op) => op,
                Err(_) => return Ok(GateEvent::Idle),
            };
            let index = op.index();
            if index == control_index {
                return match op.recv(&self.control) {
                    Ok(msg) => Ok(GateEvent::Control(msg)),
                    // The task executor is gone: nothing will ever ask us to finish cleanly.
                    Err(_) => Err(TaskError::Cancelled),
                };
            }
            let channel = self.active[index];
            let input = self.channels[channel].input;
            match op.recv(&self.channels[channel].receiver) {
                Ok(NetworkEvent::Records(buffer)) => {
                    return Ok(GateEvent::Records { input, buffer })
                }
                Ok(NetworkEvent::EndOfPartition) => {
                    self.active.remove(index);
                    self.open_per_input[input] -= 1;
                    if self.open_per_input[input] == 0 {
                        return Ok(GateEvent::InputEnded { input });
                    }
                }
                // A producer vanished without EndOfPartition: it failed or was cancelled.
                Err(_) => return Err(TaskError::Cancelled),
            }
        }
    }
}
