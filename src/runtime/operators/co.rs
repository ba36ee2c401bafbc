//! Two-input operators over connected streams (`connect(..).map(..)` / `.flat_map(..)`). They
//! always head their chain, so they read both inputs' buffers directly.

use serde::de::DeserializeOwned;

use crate::api::functions::{CoFlatMapFunction, Collector, RuntimeContext};
use crate::graph::stream_graph::HeadInput;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, TaskError};
use crate::runtime::network::serde_codec::decode_all;

pub struct CoFlatMapOperator<A, B, O, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<O>,
    pub out: Batch<O>,
    pub first: Batch<A>,
    pub second: Batch<B>,
    pub ended: [bool; 2],
}

impl<A, B, O, F> HeadInput for CoFlatMapOperator<A, B, O, F>
where
    A: DeserializeOwned + Send,
    B: DeserializeOwned + Send,
    O: Send + 'static,
    F: CoFlatMapFunction<A, B, O>,
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.next.open(ctx)?;
        guarded(&self.name, || self.f.open(ctx))
    }

    fn push_buffer(&mut self, input: usize, buffer: &[u8]) -> Result<(), TaskError> {
        let (f, out) = (&mut self.f, &mut self.out);
        if input == 0 {
            decode_all(buffer, &mut self.first)?;
            let first = &mut self.first;
            guarded(&self.name, || {
                let mut c = Collector::new(out);
                first.drain().try_for_each(|(a, ts)| {
                    c.timestamp = ts;
                    f.flat_map1(a, &mut c)
                })
            })?;
        } else {
            decode_all(buffer, &mut self.second)?;
            let second = &mut self.second;
            guarded(&self.name, || {
                let mut c = Collector::new(out);
                second.drain().try_for_each(|(b, ts)| {
                    c.timestamp = ts;
                    f.flat_map2(b, &mut c)
                })
            })?;
        }
        self.next.push(&mut self.out)
    }

    fn end_input(&mut self, input: usize) -> Result<(), TaskError> {
        self.ended[input.min(1)] = true;
        if self.ended == [true, true] {
            self.next.event(ChainEvent::EndOfInput)?;
        }
        Ok(())
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        self.next.event(event)
    }

    fn next_deadline(&self) -> Option<i64> {
        self.next.next_deadline()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        let own = guarded(&self.name, || self.f.close());
        own.and(self.next.close())
    }
}
