//! The sink operator: hands batches to a [`SinkFunction`].

use crate::api::functions::{RuntimeContext, SinkFunction};
use crate::runtime::chain::{guarded, Output, TaskError};

pub struct SinkOperator<F> {
    pub name: String,
    pub f: F,
}

impl<T: Send, F: SinkFunction<T>> Output<T> for SinkOperator<F> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        guarded(&self.name, || self.f.open(ctx))
    }
    fn push(&mut self, batch: &mut Vec<T>) -> Result<(), TaskError> {
        guarded(&self.name, || self.f.invoke_batch(batch))
    }
    fn end_input(&mut self) -> Result<(), TaskError> {
        guarded(&self.name, || self.f.finish())
    }
    fn flush(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), TaskError> {
        guarded(&self.name, || self.f.close())
    }
}
