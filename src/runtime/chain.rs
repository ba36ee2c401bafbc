//! The operator chain: how records move between the operators that share one task thread.
//!
//! Records travel through a chain in batches ([`Batch`]), passed by value. Every operator is an
//! [`Output`] of the operator before it, so dynamic dispatch happens once per batch, and the
//! per-record work (the user's closure) is monomorphised inside each operator. The last
//! operators of a chain write into record writers, which serialise into network buffers.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::api::functions::RuntimeContext;
use crate::checkpoint::CheckpointBarrier;
use crate::runtime::batch::Batch;

/// How a task fails: the operator that failed and why, or that it was cancelled.
#[derive(Debug, Clone)]
pub enum TaskError {
    /// An operator (user code or engine code acting for it) failed.
    Operator { operator: String, message: String },
    /// The task was asked to stop.
    Cancelled,
}

impl TaskError {
    pub fn operator(operator: &str, message: impl Into<String>) -> Self {
        TaskError::Operator {
            operator: operator.to_string(),
            message: message.into(),
        }
    }
}

/// Control that flows down a chain in order with the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// Event time has advanced to this watermark (ms): no more records at or before it.
    Watermark(i64),
    /// The stream went idle (`true`) or active again: idle inputs do not hold back watermarks.
    WatermarkStatus { idle: bool },
    /// Processing time (ms since the epoch) reached this value: fire timers due by now.
    ProcessingTime(i64),
    /// All input has arrived: emit what was held back (BATCH results), then tell downstream.
    /// Record writers send their consumers an end of data.
    EndOfInput,
    /// The task finishes (after `EndOfInput`, and with checkpointing after the final
    /// checkpoint): record writers close their channels.
    EndOfPartition,
    /// Send partially filled network buffers downstream (buffer timeout, idle input).
    Flush,
    /// Every record before the barrier has been processed: snapshot state (into the task's
    /// [`crate::state::TaskStateManager`]), then pass the barrier on. Record writers forward
    /// it to every channel.
    Barrier(CheckpointBarrier),
    /// The checkpoint completed everywhere: commit what it made durable (two-phase sinks).
    CheckpointComplete(u64),
    /// The checkpoint was abandoned: forget what was staged for it.
    CheckpointAborted(u64),
}

/// The receiving end of a chain link: the next operator, a fan-out, or a record writer.
pub trait Output<T>: Send {
    /// Opens this operator and everything downstream of it (downstream first, as Flink does,
    /// so no operator emits into one that is not ready).
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError>;
    /// Processes every record of `batch`, leaving it empty (its capacity is reused).
    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError>;
    /// Handles a control event, then passes it on.
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError>;
    /// The earliest processing time (ms) at which this operator or one downstream has a timer,
    /// so the task knows how long it may wait for input.
    fn next_deadline(&self) -> Option<i64> {
        None
    }
    /// Releases resources, upstream first. Called after `EndOfInput`, or after a failure.
    fn close(&mut self) -> Result<(), TaskError>;
}

/// Current processing time in ms since the epoch, as timers see it.
pub fn processing_time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A boxed output of any record type.
pub type BoxOutput<T> = Box<dyn Output<T>>;

/// Runs user code, turning both its errors and its panics into a [`TaskError`] naming the
/// operator. `catch_unwind` costs nothing unless a panic happens, so it wraps whole batches.
pub fn guarded<R>(
    operator: &str,
    body: impl FnOnce() -> anyhow::Result<R>,
) -> Result<R, TaskError> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(TaskError::operator(operator, format!("{e:#}"))),
        Err(panic) => Err(TaskError::operator(operator, panic_message(&*panic))),
    }
}

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

/// Sends every batch to several outputs (an operator with several consumers).
pub struct FanOut<T> {
    outputs: Vec<BoxOutput<T>>,
    scratch: Batch<T>,
}

impl<T: Clone + Send> FanOut<T> {
    pub fn new(outputs: Vec<BoxOutput<T>>) -> Self {
        FanOut {
            outputs,
            scratch: Batch::new(),
        }
    }
}

impl<T: Clone + Send> Output<T> for FanOut<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.open(ctx))
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        let last = self.outputs.len().saturating_sub(1);
        for (i, out) in self.outputs.iter_mut().enumerate() {
            if i == last {
                out.push(batch)?;
            } else {
                self.scratch.clear();
                self.scratch.extend_from(batch);
                out.push(&mut self.scratch)?;
            }
        }
        batch.clear();
        Ok(())
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.event(event.clone()))
    }

    fn next_deadline(&self) -> Option<i64> {
        self.outputs.iter().filter_map(|o| o.next_deadline()).min()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        // Close all even if one fails, reporting the first failure.
        let mut first = Ok(());
        for o in &mut self.outputs {
            let r = o.close();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// The output of an operator nobody consumes (e.g. a source used only for its side effects).
pub struct Discard;

impl<T: Send> Output<T> for Discard {
    fn open(&mut self, _: &RuntimeContext) -> Result<(), TaskError> {
        Ok(())
    }
    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        batch.clear();
        Ok(())
    }
    fn event(&mut self, _: ChainEvent) -> Result<(), TaskError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}
