//! Drives a [`SourceReader`]: polls it and pushes each batch into the chain.

use crate::api::functions::RuntimeContext;
use crate::api::source::{InputStatus, SourceOutput, SourceReader};
use crate::graph::stream_graph::SourceDriver;
use crate::runtime::chain::{guarded, BoxOutput, TaskError};

pub struct ReaderDriver<T> {
    pub name: String,
    pub reader: Box<dyn SourceReader<T>>,
    pub next: BoxOutput<T>,
    pub batch: Vec<T>,
}

impl<T: Send + 'static> SourceDriver for ReaderDriver<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.next.open(ctx)?;
        guarded(&self.name, || self.reader.open(ctx))
    }

    fn poll(&mut self) -> Result<InputStatus, TaskError> {
        let (reader, batch) = (&mut self.reader, &mut self.batch);
        let status = guarded(&self.name, || reader.poll_next(&mut SourceOutput { batch }))?;
        if !self.batch.is_empty() {
            self.next.push(&mut self.batch)?;
        }
        Ok(status)
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        self.next.end_input()
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.next.flush()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        let own = guarded(&self.name, || self.reader.close());
        own.and(self.next.close())
    }
}
