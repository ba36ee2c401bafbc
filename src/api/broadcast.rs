//! The broadcast state pattern (Flink's `BroadcastStream` / `BroadcastProcessFunction`): one
//! low-volume stream (rules, configuration) is broadcast to every parallel subtask of an
//! operator and kept there in *broadcast state*, maps named by `MapStateDescriptor`s; the
//! other stream is processed against it. Only the broadcast side may change the state, so
//! every subtask holds the same maps, which is why a checkpoint keeps one copy and a restore
//! gives it to every subtask, at any parallelism.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::datastream::DataStream;
use crate::api::functions::{Collector, RuntimeContext};
use crate::checkpoint::{OperatorStateMode, OperatorStateSnapshot};
use crate::graph::stream_graph::{
    AnyBox, HeadInput, Invokable, NodeKind, OperatorInfo, TwoInputFactory,
};
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, TaskError};
use crate::runtime::operators::co::{process_buffer, EndedInputs};
use crate::runtime::operators::factory::{downcast_output, Record, TypedOutputs};
use crate::state::{MapStateDescriptor, OperatorSnapshotFutures, TaskStateManager};

/// The maps of one operator subtask, by state name: serialised keys to serialised values.
type Maps = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

fn codec() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn encode<T: Serialize>(value: &T, what: &str) -> anyhow::Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, codec())
        .map_err(|e| anyhow::anyhow!("could not serialise a broadcast state {what}: {e}"))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], state: &str) -> anyhow::Result<T> {
    bincode::serde::decode_from_slice(bytes, codec())
        .map(|(v, _)| v)
        .map_err(|e| anyhow::anyhow!("broadcast state '{state}' holds another type: {e}"))
}

/// A broadcast state map, readable from both sides.
pub struct ReadOnlyBroadcastState<'a, K, V> {
    name: &'a str,
    map: Option<&'a BTreeMap<Vec<u8>, Vec<u8>>>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: DeserializeOwned> ReadOnlyBroadcastState<'_, K, V> {
    pub fn get(&self, key: &K) -> anyhow::Result<Option<V>> {
        let Some(map) = self.map else { return Ok(None) };
        match map.get(&encode(key, "key")?) {
            Some(bytes) => decode(bytes, self.name).map(Some),
            None => Ok(None),
        }
    }
    pub fn contains(&self, key: &K) -> anyhow::Result<bool> {
        Ok(self
            .map
            .is_some_and(|m| encode(key, "key").is_ok_and(|k| m.contains_key(&k))))
    }
    /// Every entry, in key-byte order.
    pub fn entries(&self) -> anyhow::Result<Vec<(K, V)>> {
        self.map
            .into_iter()
            .flatten()
            .map(|(k, v)| Ok((decode(k, self.name)?, decode(v, self.name)?)))
            .collect()
    }
}

/// A broadcast state map as the broadcast side sees it: writable.
pub struct BroadcastState<'a, K, V> {
    name: &'a str,
    map: &'a mut BTreeMap<Vec<u8>, Vec<u8>>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> BroadcastState<'_, K, V> {
    pub fn get(&self, key: &K) -> anyhow::Result<Option<V>> {
        match self.map.get(&encode(key, "key")?) {
            Some(bytes) => decode(bytes, self.name).map(Some),
            None => Ok(None),
        }
    }
    pub fn put(&mut self, key: K, value: V) -> anyhow::Result<()> {
        self.map
            .insert(encode(&key, "key")?, encode(&value, "value")?);
        Ok(())
    }
    pub fn remove(&mut self, key: &K) -> anyhow::Result<()> {
        self.map.remove(&encode(key, "key")?);
        Ok(())
    }
    pub fn clear(&mut self) {
        self.map.clear();
    }
    pub fn entries(&self) -> anyhow::Result<Vec<(K, V)>> {
        self.map
            .iter()
            .map(|(k, v)| Ok((decode(k, self.name)?, decode(v, self.name)?)))
            .collect()
    }
}

/// What `process_element` sees: read-only broadcast state and the output.
pub struct ReadOnlyContext<'a, 'c, O> {
    maps: &'a Maps,
    out: &'a mut Collector<'c, O>,
}

impl<O> ReadOnlyContext<'_, '_, O> {
    pub fn broadcast_state<'s, K, V>(
        &'s self,
        descriptor: &'s MapStateDescriptor<K, V>,
    ) -> ReadOnlyBroadcastState<'s, K, V> {
        ReadOnlyBroadcastState {
            name: &descriptor.name,
            map: self.maps.get(&descriptor.name),
            _types: PhantomData,
        }
    }
    pub fn collect(&mut self, record: O) {
        self.out.collect(record)
    }
}

/// What `process_broadcast_element` sees: writable broadcast state and the output.
pub struct Context<'a, 'c, O> {
    maps: &'a mut Maps,
    out: &'a mut Collector<'c, O>,
}

impl<O> Context<'_, '_, O> {
    pub fn broadcast_state<'s, K, V>(
        &'s mut self,
        descriptor: &'s MapStateDescriptor<K, V>,
    ) -> BroadcastState<'s, K, V> {
        BroadcastState {
            name: &descriptor.name,
            map: self.maps.entry(descriptor.name.clone()).or_default(),
            _types: PhantomData,
        }
    }
    pub fn collect(&mut self, record: O) {
        self.out.collect(record)
    }
}

/// Flink's `BroadcastProcessFunction`: `process_element` for the main stream (broadcast state
/// read-only), `process_broadcast_element` for the broadcast stream (read-write). The broadcast
/// side must update the state the same way on every subtask (deterministically, from the
/// element alone), or subtasks disagree.
pub trait BroadcastProcessFunction<IN1, IN2, OUT>: Clone + Send + Sync + 'static {
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
    fn process_element(
        &mut self,
        value: IN1,
        ctx: &mut ReadOnlyContext<'_, '_, OUT>,
    ) -> anyhow::Result<()>;
    fn process_broadcast_element(
        &mut self,
        value: IN2,
        ctx: &mut Context<'_, '_, OUT>,
    ) -> anyhow::Result<()>;
    fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A stream broadcast to every subtask of the operator it is connected to.
pub struct BroadcastStream<T> {
    pub(crate) stream: DataStream<T>,
}

/// A stream connected with a broadcast stream; `process` adds the operator.
pub struct BroadcastConnectedStream<A, B> {
    pub(crate) first: DataStream<A>,
    pub(crate) second: DataStream<B>,
}

impl<A: Record, B: Record> BroadcastConnectedStream<A, B> {
    pub fn process<O: Record, F: BroadcastProcessFunction<A, B, O>>(&self, f: F) -> DataStream<O> {
        let factory = BroadcastProcessFactory {
            f,
            _types: PhantomData,
        };
        self.first.add_two_input(
            "Co-Process-Broadcast",
            &self.second,
            Invokable::TwoInput(Arc::new(factory)),
            NodeKind::Operator,
        )
    }
}

struct BroadcastProcessFactory<A, B, O, F> {
    f: F,
    _types: PhantomData<fn(A, B) -> O>,
}

impl<A, B, O: Clone + Send + 'static, F: Send + Sync> crate::graph::stream_graph::NodeOutputs
    for BroadcastProcessFactory<A, B, O, F>
{
    fn fan_out(&self, outputs: Vec<AnyBox>) -> Result<AnyBox, String> {
        crate::graph::stream_graph::NodeOutputs::fan_out(&TypedOutputs::<O>::default(), outputs)
    }
    fn discard(&self) -> AnyBox {
        crate::graph::stream_graph::NodeOutputs::discard(&TypedOutputs::<O>::default())
    }
}

impl<A: Record, B: Record, O: Record, F: BroadcastProcessFunction<A, B, O>> TwoInputFactory
    for BroadcastProcessFactory<A, B, O, F>
{
    fn create_head(&self, op: &OperatorInfo, output: AnyBox) -> Result<Box<dyn HeadInput>, String> {
        Ok(Box::new(BroadcastProcessOperator {
            op: op.clone(),
            f: self.f.clone(),
            next: downcast_output::<O>(output)?,
            out: Batch::new(),
            first: Batch::new(),
            second: Batch::new(),
            ended: Default::default(),
            maps: Maps::new(),
            state: None,
        }))
    }
}

/// The operator: keeps the broadcast maps, snapshots them at barriers, restores them at open.
struct BroadcastProcessOperator<A, B, O, F> {
    op: OperatorInfo,
    f: F,
    next: BoxOutput<O>,
    out: Batch<O>,
    first: Batch<A>,
    second: Batch<B>,
    ended: EndedInputs,
    maps: Maps,
    state: Option<Arc<TaskStateManager>>,
}

impl<A: Record, B: Record, O: Record, F: BroadcastProcessFunction<A, B, O>>
    BroadcastProcessOperator<A, B, O, F>
{
    fn restore(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        let Some(restored) = ctx.state_manager().restored(&self.op.id) else {
            return Ok(());
        };
        for (name, mode, entries) in &restored.operator.states {
            if *mode != OperatorStateMode::Broadcast {
                continue;
            }
            let map = self.maps.entry(name.clone()).or_default();
            for entry in entries {
                let (k, v): (Vec<u8>, Vec<u8>) = decode(entry, name)?;
                map.insert(k, v);
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<(), TaskError> {
        let mut states = Vec::new();
        for (name, map) in &self.maps {
            let entries = map
                .iter()
                .map(|entry| encode(&entry, "entry").map(serde_bytes::ByteBuf::from))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| TaskError::operator(&self.op.name, e.to_string()))?;
            states.push((name.clone(), OperatorStateMode::Broadcast, entries));
        }
        if let Some(state) = &self.state {
            state.add_snapshot(
                &self.op.id,
                OperatorSnapshotFutures {
                    operator: OperatorStateSnapshot { states },
                    ..Default::default()
                },
            );
        }
        Ok(())
    }
}

impl<A: Record, B: Record, O: Record, F: BroadcastProcessFunction<A, B, O>> HeadInput
    for BroadcastProcessOperator<A, B, O, F>
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.state = Some(ctx.state_manager().clone());
        self.next.open(ctx)?;
        let name = self.op.name.clone();
        guarded(&name, || self.restore(ctx))?;
        guarded(&self.op.name, || self.f.open(ctx))
    }

    fn push_buffer(&mut self, input: usize, buffer: &[u8]) -> Result<(), TaskError> {
        let (f, maps) = (&mut self.f, &mut self.maps);
        if input == 0 {
            process_buffer(
                &self.op.name,
                buffer,
                &mut self.first,
                &mut self.out,
                |a, out| f.process_element(a, &mut ReadOnlyContext { maps, out }),
            )?;
        } else {
            process_buffer(
                &self.op.name,
                buffer,
                &mut self.second,
                &mut self.out,
                |b, out| f.process_broadcast_element(b, &mut Context { maps, out }),
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
        if let ChainEvent::Barrier(_) = &event {
            self.snapshot()?;
        }
        self.next.event(event)
    }

    fn next_deadline(&self) -> Option<i64> {
        self.next.next_deadline()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        let own = guarded(&self.op.name, || self.f.close());
        own.and(self.next.close())
    }
}
