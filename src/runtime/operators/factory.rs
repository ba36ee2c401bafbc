//! Generic factories that put typed operators behind the StreamGraph's type-erased interfaces.
//! The only `Any` downcasts in the engine live here and run once per task deployment.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};

use super::co::CoFlatMapOperator;
use super::side::{SideOutput, SideOutputs, TypedSideOutput};
use super::source::ReaderDriver;
use crate::api::functions::{CoFlatMapFunction, Partitioner, ReduceFunction, RuntimeContext};
use crate::api::source::Source;
use crate::config::RuntimeExecutionMode;
use crate::graph::stream_graph::{
    AnyBox, HeadInput, NodeOutputs, OneInputFactory, OperatorInfo, SourceDriver, SourceFactory,
    TwoInputFactory, WriterContext, WriterFactory,
};
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, Discard, FanOut, Output, TaskError};
use crate::runtime::network::partitioner::{CustomSelector, KeyGroupSelector, StandardSelector};
use crate::runtime::network::serde_codec::decode_all;
use crate::runtime::network::writer::RecordWriter;
use crate::util::hash::StableHashMap;

/// The bound every record type satisfies: cloneable (fan-out, rolling results), sendable
/// between task threads, and serialisable across task boundaries.
pub trait Record: Clone + Send + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> Record for T {}

fn downcast<T: 'static>(value: AnyBox, what: &str) -> Result<T, String> {
    value.downcast::<T>().map(|b| *b).map_err(|_| {
        format!(
            "internal error: {what} does not carry {}",
            std::any::type_name::<T>()
        )
    })
}

/// A chain output of record type `O` from its type-erased form.
pub fn downcast_output<O: 'static>(output: AnyBox) -> Result<BoxOutput<O>, String> {
    downcast::<BoxOutput<O>>(output, "the operator's output")
}

/// Fan-out and discard for outputs of record type `O`.
pub struct TypedOutputs<O>(PhantomData<fn() -> O>);

impl<O> Default for TypedOutputs<O> {
    fn default() -> Self {
        TypedOutputs(PhantomData)
    }
}

impl<O: Clone + Send + 'static> NodeOutputs for TypedOutputs<O> {
    fn fan_out(&self, outputs: Vec<AnyBox>) -> Result<AnyBox, String> {
        let mut typed = outputs
            .into_iter()
            .map(|o| downcast::<BoxOutput<O>>(o, "an operator output"))
            .collect::<Result<Vec<_>, _>>()?;
        let combined: BoxOutput<O> = match typed.len() {
            0 => Box::new(Discard),
            1 => typed.remove(0),
            _ => Box::new(FanOut::new(typed)),
        };
        Ok(Box::new(combined))
    }

    fn discard(&self) -> AnyBox {
        let discard: BoxOutput<O> = Box::new(Discard);
        Box::new(discard)
    }
}

macro_rules! delegate_outputs {
    ($ty:ident < $($p:ident),* >, $out:ident) => {
        impl<$($p),*> NodeOutputs for $ty<$($p),*>
        where
            $out: Clone + Send + 'static,
            $ty<$($p),*>: Send + Sync,
        {
            fn fan_out(&self, outputs: Vec<AnyBox>) -> Result<AnyBox, String> {
                TypedOutputs::<$out>::default().fan_out(outputs)
            }
            fn discard(&self) -> AnyBox {
                TypedOutputs::<$out>::default().discard()
            }
        }
    };
}

/// Builds a chained one-input operator from its downstream output.
type MakeOperator<I, O> =
    dyn Fn(OperatorInfo, BoxOutput<O>, SideOutputs) -> BoxOutput<I> + Send + Sync;

pub struct OneInputOperatorFactory<I, O> {
    make: Box<MakeOperator<I, O>>,
}

impl<I, O> OneInputOperatorFactory<I, O> {
    pub fn new(
        make: impl Fn(OperatorInfo, BoxOutput<O>, SideOutputs) -> BoxOutput<I> + Send + Sync + 'static,
    ) -> Self {
        OneInputOperatorFactory {
            make: Box::new(make),
        }
    }
}

delegate_outputs!(OneInputOperatorFactory<I, O>, O);

impl<I: Record, O: Clone + Send + 'static> OneInputFactory for OneInputOperatorFactory<I, O> {
    fn create(
        &self,
        op: &OperatorInfo,
        output: AnyBox,
        side: SideOutputs,
    ) -> Result<AnyBox, String> {
        let output = downcast::<BoxOutput<O>>(output, "the operator's output")?;
        Ok(Box::new((self.make)(op.clone(), output, side)))
    }

    fn head(&self, operator: AnyBox) -> Result<Box<dyn HeadInput>, String> {
        let operator = downcast::<BoxOutput<I>>(operator, "the chain head")?;
        Ok(Box::new(OneInputHead {
            operator,
            batch: Batch::new(),
        }))
    }
}

/// Decodes a one-input chain head's buffers into batches.
struct OneInputHead<I> {
    operator: BoxOutput<I>,
    batch: Batch<I>,
}

impl<I: Record> HeadInput for OneInputHead<I> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.operator.open(ctx)
    }
    fn push_buffer(&mut self, _input: usize, buffer: &[u8]) -> Result<(), TaskError> {
        decode_all(buffer, &mut self.batch)?;
        self.operator.push(&mut self.batch)
    }
    fn end_input(&mut self, _input: usize) -> Result<(), TaskError> {
        self.operator.event(ChainEvent::EndOfInput)
    }
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        self.operator.event(event)
    }
    fn next_deadline(&self) -> Option<i64> {
        self.operator.next_deadline()
    }
    fn close(&mut self) -> Result<(), TaskError> {
        self.operator.close()
    }
}

/// A source node.
pub struct SourceOperatorFactory<T> {
    pub source: Arc<dyn Source<T>>,
}

delegate_outputs!(SourceOperatorFactory<T>, T);

impl<T: Clone + Send + 'static> SourceFactory for SourceOperatorFactory<T> {
    fn create(
        &self,
        op: &OperatorInfo,
        output: AnyBox,
        ctx: &RuntimeContext,
    ) -> Result<Box<dyn SourceDriver>, String> {
        let next = downcast::<BoxOutput<T>>(output, "the source's output")?;
        let name = &op.name;
        let restored = ctx
            .state_manager()
            .restored(&op.id)
            .map(|r| super::source::restored_splits(&r.operator))
            .transpose()
            .map_err(|e| format!("could not restore the reader of '{name}': {e}"))?;
        let reader = match restored {
            Some(splits) => self.source.restore_reader(ctx, splits),
            None => self.source.create_reader(ctx),
        }
        .map_err(|e| format!("could not create the reader of '{name}': {e:#}"))?;
        Ok(Box::new(ReaderDriver::new(op.clone(), reader, next)))
    }
}

/// A connected-streams flat map (co-map is expressed as a co-flat-map).
pub struct CoFlatMapFactory<A, B, O, F> {
    pub f: F,
    pub _types: PhantomData<fn(A, B) -> O>,
}

delegate_outputs!(CoFlatMapFactory<A, B, O, F>, O);

impl<A: Record, B: Record, O: Clone + Send + 'static, F: CoFlatMapFunction<A, B, O> + Sync>
    TwoInputFactory for CoFlatMapFactory<A, B, O, F>
{
    fn create_head(&self, op: &OperatorInfo, output: AnyBox) -> Result<Box<dyn HeadInput>, String> {
        let next = downcast::<BoxOutput<O>>(output, "the co-operator's output")?;
        Ok(Box::new(CoFlatMapOperator {
            name: op.name.clone(),
            f: self.f.clone(),
            next,
            out: Batch::new(),
            first: Batch::new(),
            second: Batch::new(),
            ended: Default::default(),
        }))
    }
}

/// A writer factory for record type `T`; the type-erased [`WriterFactory`] follows from it.
pub trait TypedWriterFactory<T: Record>: Send + Sync {
    fn writer(&self, ctx: WriterContext) -> BoxOutput<T>;
}

/// Wraps a typed writer factory as a [`WriterFactory`].
pub struct Writers<T, F>(pub F, pub PhantomData<fn(T)>);

impl<T: Record, F: TypedWriterFactory<T>> WriterFactory for Writers<T, F> {
    fn create(&self, ctx: WriterContext) -> AnyBox {
        Box::new(self.0.writer(ctx))
    }
    fn create_side(&self, tag: &str, ctx: WriterContext) -> Box<dyn SideOutput> {
        Box::new(TypedSideOutput::<T> {
            tag: tag.to_string(),
            output: self.0.writer(ctx),
            batch: Batch::new(),
        })
    }
}

/// Writers for partitioners without user code.
pub struct StandardWriters;

impl StandardWriters {
    pub fn factory<T: Record>() -> Writers<T, StandardWriters> {
        Writers(StandardWriters, PhantomData)
    }
}

impl<T: Record> TypedWriterFactory<T> for StandardWriters {
    fn writer(&self, ctx: WriterContext) -> BoxOutput<T> {
        let selector = StandardSelector::new(ctx.kind, ctx.subtask_index, ctx.channels.len());
        Box::new(RecordWriter::new(ctx.name, ctx.channels, selector))
    }
}

/// Writers for `key_by` edges: hash partitioning by key group.
pub struct KeyedWriters<T, K> {
    pub key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
}

impl<T: Record, K: std::hash::Hash + 'static> TypedWriterFactory<T> for KeyedWriters<T, K> {
    fn writer(&self, ctx: WriterContext) -> BoxOutput<T> {
        let selector = KeyGroupSelector::new(self.key_selector.clone(), ctx.max_parallelism);
        Box::new(RecordWriter::new(ctx.name, ctx.channels, selector))
    }
}

/// Writers for `partition_custom` edges.
pub struct CustomWriters<T, K, P> {
    pub key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub partitioner: P,
}

impl<T: Record, K: 'static, P: Partitioner<K> + Sync> TypedWriterFactory<T>
    for CustomWriters<T, K, P>
{
    fn writer(&self, ctx: WriterContext) -> BoxOutput<T> {
        let selector = CustomSelector::new(self.key_selector.clone(), self.partitioner.clone());
        Box::new(RecordWriter::new(ctx.name, ctx.channels, selector))
    }
}

/// Writers for the input edge of a keyed rolling aggregation. In BATCH mode they combine
/// records per key before the exchange (the reduce function is associative, as Flink's
/// contract requires), so one value per key and producer crosses the network instead of every
/// record; in STREAMING mode every update must reach the aggregation, so they pass records on.
pub struct CombiningKeyedWriters<T, K, R> {
    pub key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub reduce: R,
}

impl<T: Record, K: std::hash::Hash + Eq + Send + 'static, R: ReduceFunction<T> + Sync>
    TypedWriterFactory<T> for CombiningKeyedWriters<T, K, R>
{
    fn writer(&self, ctx: WriterContext) -> BoxOutput<T> {
        let inner = KeyedWriters {
            key_selector: self.key_selector.clone(),
        }
        .writer(ctx);
        Box::new(Combiner {
            key_selector: self.key_selector.clone(),
            reduce: self.reduce.clone(),
            inner,
            combined: None,
            out: Batch::new(),
        })
    }
}

struct Combiner<T, K, R> {
    key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    reduce: R,
    inner: BoxOutput<T>,
    /// Per key, the combined value (taken out while reducing); `None` in STREAMING mode.
    combined: Option<StableHashMap<K, Option<T>>>,
    out: Batch<T>,
}

impl<T: Record, K: std::hash::Hash + Eq + Send + 'static, R: ReduceFunction<T>> Output<T>
    for Combiner<T, K, R>
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        if ctx.runtime_mode() == RuntimeExecutionMode::Batch {
            self.combined = Some(StableHashMap::default());
        }
        self.inner.open(ctx)
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        let Some(combined) = self.combined.as_mut() else {
            return self.inner.push(batch);
        };
        let (reduce, selector) = (&mut self.reduce, &self.key_selector);
        guarded("combine", || {
            for (record, _) in batch.drain() {
                let slot = combined.entry(selector(&record)).or_insert(None);
                let value = match slot.take() {
                    Some(acc) => reduce.reduce(acc, record)?,
                    None => record,
                };
                *slot = Some(value);
            }
            Ok(())
        })
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        if event == ChainEvent::EndOfInput {
            if let Some(combined) = self.combined.as_mut() {
                for value in combined.drain().filter_map(|(_, v)| v) {
                    self.out.push(value, None);
                    if self.out.len() >= super::BATCH_SIZE {
                        self.inner.push(&mut self.out)?;
                    }
                }
                self.inner.push(&mut self.out)?;
            }
        }
        self.inner.event(event)
    }

    fn next_deadline(&self) -> Option<i64> {
        self.inner.next_deadline()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        self.inner.close()
    }
}
