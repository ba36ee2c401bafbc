//! Pieces the benchmark harnesses share.
#![allow(dead_code)]

use strato::{LongCounter, RuntimeContext, SinkFunction};

/// Counts what reaches it, so a benchmark measures the pipeline, not an output format; the
/// total is the job's `records` accumulator.
#[derive(Clone, Default)]
pub struct CountingSink {
    counter: Option<LongCounter>,
    seen: i64,
}

impl<T> SinkFunction<T> for CountingSink {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.counter = Some(ctx.long_counter("records"));
        Ok(())
    }
    fn invoke(&mut self, _value: T) -> anyhow::Result<()> {
        self.seen += 1;
        Ok(())
    }
    fn invoke_batch(&mut self, batch: &mut Vec<T>) -> anyhow::Result<()> {
        self.seen += batch.len() as i64;
        batch.clear();
        Ok(())
    }
    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(c) = &self.counter {
            c.add(self.seen);
        }
        Ok(())
    }
}
