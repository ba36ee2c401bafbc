//! Two-input operators over connected streams (`connect(..).map(..)` / `.flat_map(..)`). They
//! always head their chain, so they read both inputs' buffers directly.

use serde::de::DeserializeOwned;

use crate::api::functions::{CoFlatMapFunction, Collector, RuntimeContext};
use crate::graph::stream_graph::HeadInput;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, TaskError};
use crate::runtime::network::serde_codec::decode_all;

/// Decodes `buffer` into `batch` and runs `f` on each record with a collector into `out` that
/// carries the record's timestamp; a failure or panic is operator `name`'s.
pub(crate) fn process_buffer<T: DeserializeOwned, O>(
    name: &str,
    buffer: &[u8],
    batch: &mut Batch<T>,
    out: &mut Batch<O>,
    mut f: impl FnMut(T, &mut Collector<'_, O>) -> anyhow::Result<()>,
) -> Result<(), TaskError> {
    decode_all(buffer, batch)?;
    guarded(name, || {
        let mut c = Collector::new(out);
        batch.drain().try_for_each(|(record, ts)| {
            c.timestamp = ts;
            f(record, &mut c)
        })
    })
}

/// Which inputs of a two-input operator have ended: the operator's input ends with both.
#[derive(Debug, Default)]
pub(crate) struct EndedInputs([bool; 2]);

impl EndedInputs {
    /// Records the end of `input`; true once both inputs have ended.
    pub(crate) fn end(&mut self, input: usize) -> bool {
        self.0[input.min(1)] = true;
        self.0 == [true, true]
    }
}

pub struct CoFlatMapOperator<A, B, O, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<O>,
    pub out: Batch<O>,
    pub first: Batch<A>,
    pub second: Batch<B>,
    pub(crate) ended: EndedInputs,
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
        let f = &mut self.f;
        if input == 0 {
            process_buffer(
                &self.name,
                buffer,
                &mut self.first,
                &mut self.out,
                |a, c| f.flat_map1(a, c),
            )?;
        } else {
            process_buffer(
                &self.name,
                buffer,
                &mut self.second,
                &mut self.out,
                |b, c| f.flat_map2(b, c),
            )?;
        }
        self.next.push(&mut self.out)
    }

    fn end_input(&mut self, input: usize) -> Result<(), TaskError> {
        if self.ended.end(input) {
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
