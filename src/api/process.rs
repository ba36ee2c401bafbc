//! Process functions: the lowest-level stream operators, with access to timestamps, the
//! current watermark, timers (keyed streams only), keyed state and side outputs (Flink's
//! `ProcessFunction`, `KeyedProcessFunction`).

use std::marker::PhantomData;

use super::functions::RuntimeContext;
use crate::runtime::batch::Batch;
use crate::runtime::chain::processing_time_now;
use crate::runtime::operators::side::SideOutputs;
use crate::state::{
    AggregatingState, AggregatingStateDescriptor, KeyedStateBackend, ListState,
    ListStateDescriptor, MapState, MapStateDescriptor, ReducingState, ReducingStateDescriptor,
    StateError, StateKey, StateValue, TimerService, ValueState, ValueStateDescriptor,
};

/// Names a side output and its record type (Flink's `OutputTag`).
pub struct OutputTag<T> {
    pub(crate) id: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> OutputTag<T> {
    pub fn new(id: &str) -> Self {
        OutputTag {
            id: id.to_string(),
            _type: PhantomData,
        }
    }
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        Self::new(&self.id)
    }
}

/// Which clock fired a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeDomain {
    EventTime,
    ProcessingTime,
}

/// Emitting records: to the main output (keeping the current timestamp) or a side output.
pub struct Emitter<'a, O> {
    pub(crate) out: &'a mut Batch<O>,
    pub(crate) side: &'a mut SideOutputs,
    pub(crate) timestamp: Option<i64>,
    pub(crate) watermark: i64,
}

impl<O> Emitter<'_, O> {
    /// Emits to the main output with the current record's (or timer's) timestamp.
    pub fn collect(&mut self, record: O) {
        self.out.push(record, self.timestamp);
    }
    /// Emits to the main output with an explicit timestamp.
    pub fn collect_with_timestamp(&mut self, record: O, timestamp: i64) {
        self.out.push(record, Some(timestamp));
    }
    /// Emits to a side output.
    pub fn output<X: Clone + 'static>(
        &mut self,
        tag: &OutputTag<X>,
        record: X,
    ) -> anyhow::Result<()> {
        self.side.emit(tag, record, self.timestamp)
    }
    /// The timestamp of the record (or event-time timer) being processed.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }
    pub fn current_watermark(&self) -> i64 {
        self.watermark
    }
    pub fn current_processing_time(&self) -> i64 {
        processing_time_now()
    }
}

/// Context of a non-keyed [`ProcessFunction`].
pub type ProcessContext<'a, O> = Emitter<'a, O>;

/// A function over a (non-keyed) stream with access to timestamps and side outputs.
pub trait ProcessFunction<I, O>: Clone + Send + Sync + 'static {
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
    fn process_element(&mut self, value: I, ctx: &mut ProcessContext<O>) -> anyhow::Result<()>;
    fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Registers and deletes timers for the current key.
pub struct TimerServiceHandle<'a, K> {
    pub(crate) timers: &'a mut TimerService<K, ()>,
    pub(crate) key: &'a K,
}

impl<K: StateKey> TimerServiceHandle<'_, K> {
    /// Fires `on_timer` once the watermark passes `time`.
    pub fn register_event_time_timer(&mut self, time: i64) {
        self.timers
            .register_event_time_timer(self.key.clone(), (), time);
    }
    pub fn delete_event_time_timer(&mut self, time: i64) {
        self.timers
            .delete_event_time_timer(self.key.clone(), (), time);
    }
    /// Fires `on_timer` once the wall clock reaches `time` (ms since the epoch).
    pub fn register_processing_time_timer(&mut self, time: i64) {
        self.timers
            .register_processing_time_timer(self.key.clone(), (), time);
    }
    pub fn delete_processing_time_timer(&mut self, time: i64) {
        self.timers
            .delete_processing_time_timer(self.key.clone(), (), time);
    }
    pub fn current_watermark(&self) -> i64 {
        self.timers.current_watermark()
    }
    pub fn current_processing_time(&self) -> i64 {
        processing_time_now()
    }
}

/// Context of a [`KeyedProcessFunction`]: the current key, its state, timers and outputs.
pub struct KeyedContext<'a, K, O> {
    pub(crate) emit: Emitter<'a, O>,
    pub(crate) key: &'a K,
    pub(crate) key_group: usize,
    pub(crate) state: &'a mut KeyedStateBackend<K>,
    pub(crate) timers: &'a mut TimerService<K, ()>,
    pub(crate) time_domain: Option<TimeDomain>,
}

impl<K: StateKey, O> KeyedContext<'_, K, O> {
    /// The key of the record or timer being processed.
    pub fn current_key(&self) -> &K {
        self.key
    }
    pub fn timestamp(&self) -> Option<i64> {
        self.emit.timestamp
    }
    /// For `on_timer`: which clock fired.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.time_domain
    }
    pub fn collect(&mut self, record: O) {
        self.emit.collect(record);
    }
    pub fn collect_with_timestamp(&mut self, record: O, timestamp: i64) {
        self.emit.collect_with_timestamp(record, timestamp);
    }
    pub fn output<X: Clone + 'static>(
        &mut self,
        tag: &OutputTag<X>,
        record: X,
    ) -> anyhow::Result<()> {
        self.emit.output(tag, record)
    }
    pub fn timer_service(&mut self) -> TimerServiceHandle<'_, K> {
        TimerServiceHandle {
            timers: self.timers,
            key: self.key,
        }
    }
    pub fn current_watermark(&self) -> i64 {
        self.timers.current_watermark()
    }
    pub fn value_state<'s, V: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s ValueStateDescriptor<V>,
    ) -> Result<ValueState<'s, K, (), V>, StateError> {
        ValueState::open(self.state, self.key, self.key_group, descriptor, &())
    }
    pub fn list_state<'s, V: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s ListStateDescriptor<V>,
    ) -> Result<ListState<'s, K, (), V>, StateError> {
        ListState::open(self.state, self.key, self.key_group, descriptor, &())
    }
    pub fn map_state<'s, UK: std::hash::Hash + Eq + Clone + StateValue, UV: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s MapStateDescriptor<UK, UV>,
    ) -> Result<MapState<'s, K, (), UK, UV>, StateError> {
        MapState::open(self.state, self.key, self.key_group, descriptor, &())
    }
    pub fn reducing_state<'s, V: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s ReducingStateDescriptor<V>,
    ) -> Result<ReducingState<'s, K, (), V>, StateError> {
        ReducingState::open(self.state, self.key, self.key_group, descriptor, &())
    }
    pub fn aggregating_state<'s, IN, ACC: Clone + StateValue, OUT>(
        &'s mut self,
        descriptor: &'s AggregatingStateDescriptor<IN, ACC, OUT>,
    ) -> Result<AggregatingState<'s, K, (), IN, ACC, OUT>, StateError> {
        AggregatingState::open(self.state, self.key, self.key_group, descriptor, &())
    }
}

/// A function over a keyed stream with per-key state and timers (Flink's `KeyedProcessFunction`).
pub trait KeyedProcessFunction<K, I, O>: Clone + Send + Sync + 'static {
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
    fn process_element(&mut self, value: I, ctx: &mut KeyedContext<K, O>) -> anyhow::Result<()>;
    /// A timer of the current key fired at `timestamp`.
    fn on_timer(&mut self, _timestamp: i64, _ctx: &mut KeyedContext<K, O>) -> anyhow::Result<()> {
        Ok(())
    }
    fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
