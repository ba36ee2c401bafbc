//! User-defined sources: a [`Source`] describes the input and creates one [`SourceReader`] per
//! parallel subtask; the task polls its reader for batches (Flink's FLIP-27 `SourceReader`
//! model), which leaves the task in control between polls to cancel, flush, and later inject
//! checkpoint barriers at a consistent position.

use crate::api::functions::RuntimeContext;
use crate::runtime::batch::Batch;
use crate::runtime::chain::ChainEvent;

/// Whether a source ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundedness {
    Bounded,
    ContinuousUnbounded,
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputStatus {
    /// Call again right away.
    MoreAvailable,
    /// Nothing now; the reader waited briefly (at most ~100 ms) before saying so.
    NothingAvailable,
    /// The input is exhausted.
    EndOfInput,
}

/// Where a reader puts the records of one poll, with their timestamps and any watermarks.
pub struct SourceOutput<'a, T> {
    pub(crate) batch: &'a mut Batch<T>,
    /// Watermarks and status changes, each with the number of records emitted before it.
    pub(crate) events: &'a mut Vec<(usize, ChainEvent)>,
}

impl<T> SourceOutput<'_, T> {
    /// Emits one record without a timestamp.
    #[inline]
    pub fn collect(&mut self, record: T) {
        self.batch.push(record, None);
    }

    /// Emits one record with its event timestamp (ms).
    #[inline]
    pub fn collect_with_timestamp(&mut self, record: T, timestamp: i64) {
        self.batch.push(record, Some(timestamp));
    }

    /// Emits a watermark after the records emitted so far: no later record will have a
    /// timestamp at or before it.
    pub fn emit_watermark(&mut self, watermark: i64) {
        self.events
            .push((self.batch.len(), ChainEvent::Watermark(watermark)));
    }

    /// Marks this source subtask idle (it holds back no watermark downstream) or active again.
    pub fn mark_idle(&mut self, idle: bool) {
        self.events
            .push((self.batch.len(), ChainEvent::WatermarkStatus { idle }));
    }

    /// Records emitted in this poll so far.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// True once a poll has emitted a full batch: the reader should return then.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.batch.len() >= crate::runtime::operators::BATCH_SIZE
    }
}

/// Reads one subtask's share of a source.
pub trait SourceReader<T>: Send {
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
    /// Emits the next records (up to about one batch, see [`SourceOutput::is_full`]).
    fn poll_next(&mut self, output: &mut SourceOutput<T>) -> anyhow::Result<InputStatus>;
    fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// The reader's position at a checkpoint, as one entry per split it still owns (for a
    /// split: where it is and where it ends), taken between two polls. After a failure, or
    /// from a savepoint at another parallelism, the splits of all readers are redistributed and
    /// handed to [`Source::restore_reader`]. The default (no entries) means the source has no
    /// position and starts over after a restore.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
    /// Checkpoint `checkpoint_id` completed (e.g. acknowledge consumed messages upstream).
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A source of records.
pub trait Source<T>: Send + Sync + 'static {
    /// Name shown in plans and task names (`Source: <name>`).
    fn name(&self) -> String {
        "Custom Source".to_string()
    }
    fn boundedness(&self) -> Boundedness;
    /// Non-parallel sources always run with parallelism 1.
    fn is_parallel(&self) -> bool {
        true
    }
    /// The reader for subtask `ctx.index_of_this_subtask()` of `ctx.number_of_parallel_subtasks()`.
    fn create_reader(&self, ctx: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<T>>>;
    /// A reader resuming from `splits`: this subtask's share of what the readers returned
    /// from [`SourceReader::snapshot_state`] (possibly none). The default starts over, for
    /// sources without a position.
    fn restore_reader(
        &self,
        ctx: &RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> anyhow::Result<Box<dyn SourceReader<T>>> {
        let _ = splits;
        self.create_reader(ctx)
    }
}
