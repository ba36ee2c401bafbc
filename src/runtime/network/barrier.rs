//! Barrier handling in the input gate (Flink's `CheckpointBarrierHandler`): a task takes its
//! snapshot for checkpoint `n` once barrier `n` arrived on every open channel.
//!
//! - EXACTLY_ONCE aligns: a channel that delivered the barrier is blocked (its later records
//!   belong after the snapshot) until the barrier arrived everywhere.
//! - AT_LEAST_ONCE only tracks: nothing is blocked, so records after the barrier on a fast
//!   channel may be processed before the snapshot and be replayed after a failure.
//!
//! A newer barrier arriving during an alignment abandons the older checkpoint, as does a
//! cancellation marker from upstream.

use crate::checkpoint::CheckpointBarrier;
use crate::config::options::CheckpointingMode;

/// What the handler decided after a barrier, marker or channel end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BarrierOutcome {
    /// Nothing to do yet.
    Pending,
    /// Every open channel delivered the barrier: take the snapshot.
    Aligned(CheckpointBarrier),
    /// The checkpoint being aligned was abandoned.
    Aborted(u64),
}

/// Tracks the barriers of the checkpoint currently being aligned.
#[derive(Debug)]
pub struct BarrierHandler {
    mode: CheckpointingMode,
    /// Channels that delivered the current barrier (blocked under EXACTLY_ONCE).
    received: Vec<bool>,
    /// Channels that have ended: they take part in no further checkpoint.
    ended: Vec<bool>,
    current: Option<CheckpointBarrier>,
    /// The newest checkpoint id handled (completed or abandoned): older barriers are late.
    latest: u64,
}

impl BarrierHandler {
    pub fn new(channels: usize, mode: CheckpointingMode) -> Self {
        BarrierHandler {
            mode,
            received: vec![false; channels],
            ended: vec![false; channels],
            current: None,
            latest: 0,
        }
    }

    /// True when `channel` must not be read now (it is ahead of an alignment).
    pub fn is_blocked(&self, channel: usize) -> bool {
        self.mode == CheckpointingMode::ExactlyOnce && self.received[channel]
    }

    /// Barrier `barrier` arrived on `channel`. May return an abort of the older checkpoint
    /// first; the caller calls [`Self::check`] afterwards for the alignment itself.
    pub fn barrier(&mut self, channel: usize, barrier: CheckpointBarrier) -> Vec<BarrierOutcome> {
        let mut outcomes = Vec::new();
        if barrier.id <= self.latest {
            return outcomes; // late barrier of a checkpoint already done or abandoned
        }
        match &self.current {
            Some(current) if current.id == barrier.id => {}
            Some(current) => {
                // A newer checkpoint overtakes the one being aligned: that one cannot complete.
                outcomes.push(BarrierOutcome::Aborted(current.id));
                self.reset();
                self.current = Some(barrier);
            }
            None => self.current = Some(barrier),
        }
        self.received[channel] = true;
        outcomes.push(self.check());
        outcomes
    }

    /// Upstream abandoned checkpoint `id` (Flink's `CancelCheckpointMarker`).
    pub fn cancel(&mut self, id: u64) -> BarrierOutcome {
        match &self.current {
            Some(current) if current.id <= id => {
                let aborted = current.id;
                self.latest = self.latest.max(id);
                self.reset();
                BarrierOutcome::Aborted(aborted)
            }
            Some(_) => BarrierOutcome::Pending,
            None => {
                if id > self.latest {
                    self.latest = id;
                    return BarrierOutcome::Aborted(id);
                }
                BarrierOutcome::Pending
            }
        }
    }

    /// `channel` ended: an alignment in progress no longer waits for it.
    pub fn end_channel(&mut self, channel: usize) -> BarrierOutcome {
        self.ended[channel] = true;
        self.check()
    }

    fn check(&mut self) -> BarrierOutcome {
        let Some(current) = &self.current else {
            return BarrierOutcome::Pending;
        };
        let complete = (0..self.received.len()).all(|c| self.received[c] || self.ended[c]);
        if !complete {
            return BarrierOutcome::Pending;
        }
        let barrier = current.clone();
        self.latest = barrier.id;
        self.reset();
        BarrierOutcome::Aligned(barrier)
    }

    fn reset(&mut self) {
        self.current = None;
        self.received.iter_mut().for_each(|r| *r = false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::SnapshotType;

    fn barrier(id: u64) -> CheckpointBarrier {
        CheckpointBarrier {
            id,
            timestamp: 0,
            kind: SnapshotType::Checkpoint,
            target: None,
        }
    }

    #[test]
    fn exactly_once_blocks_each_channel_after_its_barrier_until_all_arrived() {
        let mut h = BarrierHandler::new(3, CheckpointingMode::ExactlyOnce);
        assert_eq!(h.barrier(0, barrier(1)), vec![BarrierOutcome::Pending]);
        assert!(h.is_blocked(0) && !h.is_blocked(1));
        assert_eq!(h.barrier(2, barrier(1)), vec![BarrierOutcome::Pending]);
        assert_eq!(
            h.barrier(1, barrier(1)),
            vec![BarrierOutcome::Aligned(barrier(1))]
        );
        assert!(
            (0..3).all(|c| !h.is_blocked(c)),
            "alignment releases every channel"
        );
    }

    #[test]
    fn at_least_once_never_blocks_but_still_waits_for_every_barrier() {
        let mut h = BarrierHandler::new(2, CheckpointingMode::AtLeastOnce);
        assert_eq!(h.barrier(0, barrier(4)), vec![BarrierOutcome::Pending]);
        assert!(!h.is_blocked(0));
        assert_eq!(
            h.barrier(1, barrier(4)),
            vec![BarrierOutcome::Aligned(barrier(4))]
        );
    }

    #[test]
    fn an_ended_channel_no_longer_holds_back_alignment() {
        let mut h = BarrierHandler::new(2, CheckpointingMode::ExactlyOnce);
        h.barrier(0, barrier(1));
        assert_eq!(h.end_channel(1), BarrierOutcome::Aligned(barrier(1)));
        assert_eq!(
            h.barrier(0, barrier(2)),
            vec![BarrierOutcome::Aligned(barrier(2))]
        );
    }

    #[test]
    fn a_newer_barrier_abandons_the_alignment_in_progress_and_late_ones_are_ignored() {
        let mut h = BarrierHandler::new(2, CheckpointingMode::ExactlyOnce);
        h.barrier(0, barrier(1));
        assert_eq!(
            h.barrier(1, barrier(2)),
            vec![BarrierOutcome::Aborted(1), BarrierOutcome::Pending]
        );
        assert!(!h.is_blocked(0) && h.is_blocked(1));
        assert_eq!(
            h.barrier(0, barrier(2)),
            vec![BarrierOutcome::Aligned(barrier(2))]
        );
        assert!(
            h.barrier(0, barrier(1)).is_empty(),
            "late barrier of checkpoint 1"
        );
    }

    #[test]
    fn a_cancellation_marker_releases_the_alignment() {
        let mut h = BarrierHandler::new(2, CheckpointingMode::ExactlyOnce);
        h.barrier(0, barrier(3));
        assert_eq!(h.cancel(3), BarrierOutcome::Aborted(3));
        assert!(!h.is_blocked(0));
        assert!(h.barrier(1, barrier(3)).is_empty());
    }
}
