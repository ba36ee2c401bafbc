//! The sink operator: hands batches to a [`SinkFunction`].

use crate::api::functions::{RuntimeContext, SinkFunction};
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, ChainEvent, Output, TaskError};

pub struct SinkOperator<F> {
    pub name: String,
    pub f: F,
}

impl<T: Send, F: SinkFunction<T>> Output<T> for SinkOperator<F> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        guarded(&self.name, || self.f.open(ctx))
    }
    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        batch.timestamps.clear();
        guarded(&self.name, || self.f.invoke_batch(&mut batch.records))
    }
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        match event {
            ChainEvent::EndOfInput => guarded(&self.name, || self.f.finish()),
            _ => Ok(()),
        }
    }
    fn close(&mut self) -> Result<(), TaskError> {
        guarded(&self.name, || self.f.close())
    }
}
