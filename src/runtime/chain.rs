//! The operator chain: how records move between the operators that share one task thread.
//!
//! Records travel through a chain in batches (`Vec<T>`), passed by value. Every operator is an
//! [`Output`] of the operator before it, so dynamic dispatch happens once per batch, and the
//! per-record work (the user's closure) is monomorphised inside each operator. The last
//! operators of a chain write into record writers, which serialise into network buffers.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::api::functions::RuntimeContext;

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

/// The receiving end of a chain link: the next operator, a fan-out, or a record writer.
pub trait Output<T>: Send {
    /// Opens this operator and everything downstream of it (downstream first, as Flink does,
    /// so no operator emits into one that is not ready).
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError>;
    /// Processes every record of `batch`, leaving it empty (its capacity is reused).
    fn push(&mut self, batch: &mut Vec<T>) -> Result<(), TaskError>;
    /// All input has arrived: emit what was held back (BATCH results), then tell downstream.
    fn end_input(&mut self) -> Result<(), TaskError>;
    /// Sends partially filled network buffers downstream (buffer timeout, idle input).
    fn flush(&mut self) -> Result<(), TaskError>;
    /// Releases resources, upstream first. Called after `end_input`, or after a failure.
    fn close(&mut self) -> Result<(), TaskError>;
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
    scratch: Vec<T>,
}

impl<T: Clone + Send> FanOut<T> {
    pub fn new(outputs: Vec<BoxOutput<T>>) -> Self {
        FanOut {
            outputs,
            scratch: Vec::new(),
        }
    }
}

impl<T: Clone + Send> Output<T> for FanOut<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.open(ctx))
    }

    fn push(&mut self, batch: &mut Vec<T>) -> Result<(), TaskError> {
        let last = self.outputs.len().saturating_sub(1);
        for (i, out) in self.outputs.iter_mut().enumerate() {
            if i == last {
                out.push(batch)?;
            } else {
                self.scratch.clear();
                self.scratch.extend_from_slice(batch);
                out.push(&mut self.scratch)?;
            }
        }
        batch.clear();
        Ok(())
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.end_input())
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.flush())
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
    fn push(&mut self, batch: &mut Vec<T>) -> Result<(), TaskError> {
        batch.clear();
        Ok(())
    }
    fn end_input(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}
