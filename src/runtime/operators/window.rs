//! The window operator (Flink's `WindowOperator`): assigns each keyed element to windows, keeps
//! each window's contents in keyed state (namespace = the window), asks the trigger when to
//! fire and purge, and clears a window once the watermark passes its end plus the allowed
//! lateness. Session windows merge per key. Later elements go to the late-data side output.

use std::hash::Hash;
use std::sync::Arc;

use super::side::SideOutputs;
use crate::api::functions::{Collector, LongCounter, RuntimeContext};
use crate::api::process::OutputTag;
use crate::api::window::{
    ProcessWindowFunction, TimeWindow, Trigger, TriggerContext, WindowAssigner, WindowContext,
    WindowStateAccess,
};
use crate::graph::stream_graph::OperatorInfo;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{
    guarded, processing_time_now, BoxOutput, ChainEvent, Output, TaskError,
};
use crate::state::operator::KeyedCheckpoints;
use crate::state::{KeyedStateBackend, StateKey, TimerService};
use crate::util::hash::StableHashMap;

/// How a window keeps its elements and turns them into results (Flink's internal window
/// functions): incrementally reduced or aggregated, or kept as a list for a process function.
pub trait WindowContents<K, T, O>: Clone + Send + Sync + 'static {
    /// Cloneable so sliding windows can merge shared panes.
    type Acc: Clone + crate::state::StateValue;
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
    fn add(
        &mut self,
        acc: Option<Self::Acc>,
        value: T,
        timestamp: i64,
    ) -> anyhow::Result<Self::Acc>;
    fn merge(&mut self, a: Self::Acc, b: Self::Acc) -> anyhow::Result<Self::Acc>;
    /// Emits the window's results; may change the contents (evictors).
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        acc: &mut Self::Acc,
        out: &mut Collector<O>,
    ) -> anyhow::Result<()>;
}

/// Incremental `reduce`, then a process function over the single reduced value.
#[derive(Clone)]
pub struct ReduceContents<R, P>(pub R, pub P);

impl<K, T: Clone + crate::state::StateValue, O, R, P> WindowContents<K, T, O>
    for ReduceContents<R, P>
where
    R: crate::api::functions::ReduceFunction<T> + Sync,
    P: ProcessWindowFunction<K, T, O>,
{
    type Acc = T;
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.1.open(ctx)
    }
    fn add(&mut self, acc: Option<T>, value: T, _: i64) -> anyhow::Result<T> {
        match acc {
            Some(acc) => self.0.reduce(acc, value),
            None => Ok(value),
        }
    }
    fn merge(&mut self, a: T, b: T) -> anyhow::Result<T> {
        self.0.reduce(a, b)
    }
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        acc: &mut T,
        out: &mut Collector<O>,
    ) -> anyhow::Result<()> {
        self.1.process(key, ctx, std::slice::from_ref(acc), out)
    }
}

/// Incremental `aggregate`, then a process function over the single result.
pub struct AggregateContents<A, P, Acc, R>(
    pub A,
    pub P,
    pub std::marker::PhantomData<fn() -> (Acc, R)>,
);

impl<A: Clone, P: Clone, Acc, R> Clone for AggregateContents<A, P, Acc, R> {
    fn clone(&self) -> Self {
        AggregateContents(self.0.clone(), self.1.clone(), std::marker::PhantomData)
    }
}

impl<K, T, O, A, P, Acc, R> WindowContents<K, T, O> for AggregateContents<A, P, Acc, R>
where
    Acc: Clone + crate::state::StateValue,
    R: 'static,
    A: crate::api::window::AggregateFunction<T, Acc, R>,
    P: ProcessWindowFunction<K, R, O>,
{
    type Acc = Acc;
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.1.open(ctx)
    }
    fn add(&mut self, acc: Option<Acc>, value: T, _: i64) -> anyhow::Result<Acc> {
        let acc = acc.unwrap_or_else(|| self.0.create_accumulator());
        Ok(self.0.add(value, acc))
    }
    fn merge(&mut self, a: Acc, b: Acc) -> anyhow::Result<Acc> {
        Ok(self.0.merge(a, b))
    }
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        acc: &mut Acc,
        out: &mut Collector<O>,
    ) -> anyhow::Result<()> {
        let result = self.0.get_result(acc);
        self.1.process(key, ctx, std::slice::from_ref(&result), out)
    }
}

/// All elements kept (with their timestamps) for a process function, optionally evicted.
pub struct ListContents<T, P> {
    pub function: P,
    pub evictor: Option<Arc<dyn crate::api::window::Evictor<T>>>,
}

impl<T, P: Clone> Clone for ListContents<T, P> {
    fn clone(&self) -> Self {
        ListContents {
            function: self.function.clone(),
            evictor: self.evictor.clone(),
        }
    }
}

impl<K, T: Clone + crate::state::StateValue, O, P: ProcessWindowFunction<K, T, O>>
    WindowContents<K, T, O> for ListContents<T, P>
{
    type Acc = Vec<(T, i64)>;
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.function.open(ctx)
    }
    fn add(
        &mut self,
        acc: Option<Self::Acc>,
        value: T,
        timestamp: i64,
    ) -> anyhow::Result<Self::Acc> {
        let mut acc = acc.unwrap_or_default();
        acc.push((value, timestamp));
        Ok(acc)
    }
    fn merge(&mut self, mut a: Self::Acc, b: Self::Acc) -> anyhow::Result<Self::Acc> {
        a.extend(b);
        Ok(a)
    }
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        acc: &mut Self::Acc,
        out: &mut Collector<O>,
    ) -> anyhow::Result<()> {
        if let Some(evictor) = &self.evictor {
            evictor.evict_before(acc, ctx.window);
        }
        let elements: Vec<T> = acc.iter().map(|(v, _)| v.clone()).collect();
        self.function.process(key, ctx, &elements, out)?;
        if let Some(evictor) = &self.evictor {
            evictor.evict_after(acc, ctx.window);
        }
        Ok(())
    }
}

/// Passes the reduced/aggregated value through (a window function that only reduces).
#[derive(Clone)]
pub struct PassThroughWindow;

impl<K, T: Clone + Send + 'static> ProcessWindowFunction<K, T, T> for PassThroughWindow {
    fn process(
        &mut self,
        _key: &K,
        _ctx: &mut WindowContext,
        elements: &[T],
        out: &mut Collector<T>,
    ) -> anyhow::Result<()> {
        elements.iter().for_each(|e| out.collect(e.clone()));
        Ok(())
    }
}

const CONTENTS: &str = "window-contents";
const TRIGGER_VALUES: &str = "window-trigger-values";
const SESSIONS: &str = "window-sessions";
const WINDOW_USER_STATE: &str = "window-user-state";
/// For the pane operator, which clears per-window state after each firing.
pub(crate) const WINDOW_USER_STATE_NAME: &str = WINDOW_USER_STATE;
pub(crate) type UserStateTable = UserState;
const GLOBAL_USER_STATE: &str = "window-global-user-state";

/// Values a process window function keeps by name, encoded (so they snapshot like any state).
type UserState = StableHashMap<String, Option<Vec<u8>>>;

/// A process window function's view of the key's state: per window and per key.
pub(crate) struct WindowStateRef<'a, K> {
    pub state: &'a mut KeyedStateBackend<K>,
    pub key: &'a K,
    pub key_group: usize,
    pub window: TimeWindow,
}

impl<K: StateKey> WindowStateAccess for WindowStateRef<'_, K> {
    fn with_slot(
        &mut self,
        name: &str,
        global: bool,
        f: &mut dyn FnMut(&mut Option<Vec<u8>>),
    ) -> anyhow::Result<()> {
        // The value's slot in the key's (or window's) named values; empty ones are removed.
        let update = |values: &mut Option<UserState>| {
            let map = values.get_or_insert_with(UserState::default);
            let slot = map.entry(name.to_string()).or_insert(None);
            f(slot);
            if slot.is_none() {
                map.remove(name);
            }
            if map.is_empty() {
                *values = None;
            }
        };
        if global {
            self.state
                .update(GLOBAL_USER_STATE, self.key, self.key_group, &(), update)
        } else {
            let window = self.window;
            self.state
                .update(WINDOW_USER_STATE, self.key, self.key_group, &window, update)
        }
        .map_err(state_error)
    }
}

/// Window settings shared by every subtask.
pub struct WindowSpec<T> {
    pub assigner: WindowAssigner<T>,
    pub trigger: Arc<dyn Trigger<T>>,
    pub allowed_lateness: i64,
    pub late_tag: Option<OutputTag<T>>,
}

impl<T> Clone for WindowSpec<T> {
    fn clone(&self) -> Self {
        WindowSpec {
            assigner: self.assigner.clone(),
            trigger: self.trigger.clone(),
            allowed_lateness: self.allowed_lateness,
            late_tag: self.late_tag.clone(),
        }
    }
}

pub struct WindowOperator<K, T, O, C: WindowContents<K, T, O>> {
    pub name: String,
    /// Stable operator id: the key of this operator's state in snapshots.
    pub operator_id: String,
    pub key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub spec: WindowSpec<T>,
    pub contents: C,
    pub next: BoxOutput<O>,
    pub side: SideOutputs,
    pub out: Batch<O>,
    pub state: Option<KeyedStateBackend<K>>,
    pub timers: TimerService<K, TimeWindow>,
    pub checkpoints: Option<KeyedCheckpoints>,
    pub windows: Vec<TimeWindow>,
    /// Elements dropped as late with no late-data output (Flink's `numLateRecordsDropped`).
    pub late_dropped: Option<LongCounter>,
}

/// The trigger's view of one (key, window).
struct Ctx<'a, K> {
    key: &'a K,
    key_group: usize,
    window: TimeWindow,
    state: &'a mut KeyedStateBackend<K>,
    timers: &'a mut TimerService<K, TimeWindow>,
}

impl<K: StateKey> TriggerContext for Ctx<'_, K> {
    fn current_watermark(&self) -> i64 {
        self.timers.current_watermark()
    }
    fn current_processing_time(&self) -> i64 {
        processing_time_now()
    }
    fn register_event_time_timer(&mut self, time: i64) {
        self.timers
            .register_event_time_timer(self.key.clone(), self.window, time);
    }
    fn register_processing_time_timer(&mut self, time: i64) {
        self.timers
            .register_processing_time_timer(self.key.clone(), self.window, time);
    }
    fn delete_event_time_timer(&mut self, time: i64) {
        self.timers
            .delete_event_time_timer(self.key.clone(), self.window, time);
    }
    fn delete_processing_time_timer(&mut self, time: i64) {
        self.timers
            .delete_processing_time_timer(self.key.clone(), self.window, time);
    }
    fn get_value(&mut self, name: &str) -> Option<i64> {
        self.state
            .get(
                TRIGGER_VALUES,
                self.key,
                self.key_group,
                &self.window,
                |values: Option<&TriggerValues>| values?.get(name).copied(),
            )
            .unwrap_or_else(|e| {
                self.state.record_failure(e);
                None
            })
    }
    fn set_value(&mut self, name: &str, value: i64) {
        self.update_values(|values| {
            values
                .get_or_insert_with(TriggerValues::default)
                .insert(name.to_string(), value);
        });
    }
    fn clear_value(&mut self, name: &str) {
        self.update_values(|slot| {
            if let Some(values) = slot {
                values.remove(name);
                if values.is_empty() {
                    *slot = None;
                }
            }
        });
    }
}

/// A trigger's named counters of one (key, window).
type TriggerValues = StableHashMap<String, i64>;

impl<K: StateKey> Ctx<'_, K> {
    /// Trigger callbacks cannot fail: a state error fails the operator after the callback.
    fn update_values(&mut self, f: impl FnOnce(&mut Option<TriggerValues>)) {
        let window = self.window;
        if let Err(e) = self
            .state
            .update(TRIGGER_VALUES, self.key, self.key_group, &window, f)
        {
            self.state.record_failure(e);
        }
    }
}

fn state_error(e: crate::state::StateError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

impl<K, T, O, C> WindowOperator<K, T, O, C>
where
    K: StateKey + Hash,
    T: Clone + Send + 'static,
    O: Send + 'static,
    C: WindowContents<K, T, O>,
{
    pub fn new(
        op: OperatorInfo,
        key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
        spec: WindowSpec<T>,
        contents: C,
        next: BoxOutput<O>,
        side: SideOutputs,
    ) -> Self {
        WindowOperator {
            name: op.name,
            operator_id: op.id,
            key_selector,
            spec,
            contents,
            next,
            side,
            out: Batch::new(),
            state: None,
            timers: TimerService::default(),
            checkpoints: None,
            windows: Vec::new(),
            late_dropped: None,
        }
    }

    fn event_time(&self) -> bool {
        self.spec.assigner.is_event_time()
    }
}

/// An element too late for every window it belongs to: to the late-data side output if there
/// is one, else dropped and counted (Flink's `numLateRecordsDropped`).
pub(crate) fn handle_late<T: Clone + 'static>(
    tag: Option<&OutputTag<T>>,
    side: &mut SideOutputs,
    dropped: Option<&LongCounter>,
    value: T,
    timestamp: i64,
) -> anyhow::Result<()> {
    match tag {
        Some(tag) => side.emit(tag, value, Some(timestamp)),
        None => {
            if let Some(counter) = dropped {
                counter.add(1);
            }
            Ok(())
        }
    }
}

/// When a window's state is removed: the end of its allowed lateness (event time) or its end
/// (processing time); never for the global window.
fn cleanup_time(window: &TimeWindow, event_time: bool, allowed_lateness: i64) -> Option<i64> {
    if window.is_global() {
        None
    } else if event_time {
        Some(window.max_timestamp().saturating_add(allowed_lateness))
    } else {
        Some(window.max_timestamp())
    }
}

/// Per-element and per-timer work, with the operator's fields borrowed apart.
struct Processing<'a, K, T, O, C: WindowContents<K, T, O>> {
    name: &'a str,
    spec: &'a WindowSpec<T>,
    contents: &'a mut C,
    out: &'a mut Batch<O>,
    state: &'a mut KeyedStateBackend<K>,
    timers: &'a mut TimerService<K, TimeWindow>,
}

impl<K, T, O, C> Processing<'_, K, T, O, C>
where
    K: StateKey + Hash,
    T: Clone + Send + 'static,
    O: Send + 'static,
    C: WindowContents<K, T, O>,
{
    fn ctx<'b>(
        state: &'b mut KeyedStateBackend<K>,
        timers: &'b mut TimerService<K, TimeWindow>,
        key: &'b K,
        key_group: usize,
        window: TimeWindow,
    ) -> Ctx<'b, K> {
        Ctx {
            key,
            key_group,
            window,
            state,
            timers,
        }
    }

    /// Emits a window's results (if it has contents) with the window's max timestamp.
    fn fire(&mut self, key: &K, key_group: usize, window: &TimeWindow) -> anyhow::Result<()> {
        // Taken out while the function runs, so it can use the key's other state; the
        // contents slot stays (as `None`) so the window is not taken for a new one.
        let Some(mut acc) = self
            .state
            .update(
                CONTENTS,
                key,
                key_group,
                window,
                |slot: &mut Option<Option<C::Acc>>| slot.as_mut().and_then(Option::take),
            )
            .map_err(state_error)?
        else {
            return Ok(());
        };
        let watermark = self.timers.current_watermark();
        let mut access = WindowStateRef {
            state: &mut *self.state,
            key,
            key_group,
            window: *window,
        };
        let mut ctx = WindowContext::new(window, watermark, processing_time_now());
        ctx.state = Some(&mut access);
        let mut collector = Collector::new(&mut *self.out);
        collector.timestamp = Some(window.max_timestamp());
        let result = self.contents.emit(key, &mut ctx, &mut acc, &mut collector);
        self.state
            .update(
                CONTENTS,
                key,
                key_group,
                window,
                |slot: &mut Option<Option<C::Acc>>| {
                    if let Some(inner) = slot {
                        *inner = Some(acc);
                    }
                },
            )
            .map_err(state_error)?;
        result
    }

    fn purge(&mut self, key: &K, key_group: usize, window: &TimeWindow) -> anyhow::Result<()> {
        self.state
            .put::<_, Option<C::Acc>>(CONTENTS, key, key_group, window, None)
            .map_err(state_error)
    }

    /// Removes everything of a window: contents, trigger and function state, timers.
    fn clear_window(
        &mut self,
        key: &K,
        key_group: usize,
        window: &TimeWindow,
        cleanup: Option<i64>,
    ) -> anyhow::Result<()> {
        self.purge(key, key_group, window)?;
        self.state
            .put::<_, UserState>(WINDOW_USER_STATE, key, key_group, window, None)
            .map_err(state_error)?;
        self.spec.trigger.clear(
            window,
            &mut Self::ctx(self.state, self.timers, key, key_group, *window),
        );
        self.state
            .put::<_, TriggerValues>(TRIGGER_VALUES, key, key_group, window, None)
            .map_err(state_error)?;
        if let Some(t) = cleanup {
            if self.spec.assigner.is_event_time() {
                self.timers.delete_event_time_timer(key.clone(), *window, t);
            } else {
                self.timers
                    .delete_processing_time_timer(key.clone(), *window, t);
            }
        }
        Ok(())
    }

    /// Merges a new session window into the key's sessions; returns the window to add to.
    fn merge_session(
        &mut self,
        key: &K,
        key_group: usize,
        new: TimeWindow,
        cleanup: &dyn Fn(&TimeWindow) -> Option<i64>,
    ) -> anyhow::Result<TimeWindow> {
        let mut active: Vec<TimeWindow> = self
            .state
            .take(SESSIONS, key, key_group, &())
            .map_err(state_error)?
            .unwrap_or_default();
        let (overlapping, mut rest): (Vec<_>, Vec<_>) =
            active.drain(..).partition(|w| w.intersects(&new));
        let merged = overlapping.iter().fold(new, |acc, w| acc.cover(w));
        // Nothing to merge when no session overlaps, or the only one already covers the new window.
        let already_covered = overlapping.len() == 1 && overlapping[0] == merged;
        if !overlapping.is_empty() && !already_covered {
            let mut acc: Option<C::Acc> = None;
            let mut trigger_values = TriggerValues::default();
            for old in &overlapping {
                let old_acc = self
                    .state
                    .take::<_, Option<C::Acc>>(CONTENTS, key, key_group, old)
                    .map_err(state_error)?
                    .flatten();
                if let Some(old_acc) = old_acc {
                    acc = Some(match acc {
                        Some(a) => self.contents.merge(a, old_acc)?,
                        None => old_acc,
                    });
                }
                self.state
                    .get(
                        TRIGGER_VALUES,
                        key,
                        key_group,
                        old,
                        |values: Option<&TriggerValues>| {
                            for (name, v) in values.into_iter().flatten() {
                                *trigger_values.entry(name.clone()).or_insert(0) += v;
                            }
                        },
                    )
                    .map_err(state_error)?;
                self.clear_window(key, key_group, old, cleanup(old))?;
            }
            if let Some(acc) = acc {
                self.state
                    .put(CONTENTS, key, key_group, &merged, Some(Some(acc)))
                    .map_err(state_error)?;
            }
            if !trigger_values.is_empty() {
                self.state
                    .put(
                        TRIGGER_VALUES,
                        key,
                        key_group,
                        &merged,
                        Some(trigger_values),
                    )
                    .map_err(state_error)?;
            }
            self.spec.trigger.on_merge(
                &merged,
                &mut Self::ctx(self.state, self.timers, key, key_group, merged),
            );
        }
        rest.push(merged);
        self.state
            .put(SESSIONS, key, key_group, &(), Some(rest))
            .map_err(state_error)?;
        Ok(merged)
    }

    fn retire_session(
        &mut self,
        key: &K,
        key_group: usize,
        window: &TimeWindow,
    ) -> anyhow::Result<()> {
        self.state
            .update(
                SESSIONS,
                key,
                key_group,
                &(),
                |slot: &mut Option<Vec<TimeWindow>>| {
                    if let Some(active) = slot {
                        active.retain(|w| w != window);
                        if active.is_empty() {
                            *slot = None;
                        }
                    }
                },
            )
            .map_err(state_error)
    }
}

impl<K, T, O, C> Output<T> for WindowOperator<K, T, O, C>
where
    K: StateKey + Hash,
    T: Clone + Send + 'static,
    O: Send + 'static,
    C: WindowContents<K, T, O>,
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.next.open(ctx)?;
        self.side.open(ctx)?;
        let (checkpoints, backend) =
            KeyedCheckpoints::open(ctx, &self.operator_id, Some(&mut self.timers))
                .map_err(|e| TaskError::operator(&self.name, e.to_string()))?;
        self.state = Some(backend);
        self.checkpoints = Some(checkpoints);
        self.late_dropped = Some(ctx.long_counter("numLateRecordsDropped"));
        guarded(&self.name, || self.contents.open(ctx))
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        let event_time = self.event_time();
        let merging = self.spec.assigner.is_merging();
        let lateness = self.spec.allowed_lateness;
        let cleanup_of = |w: &TimeWindow| cleanup_time(w, event_time, lateness);
        let Self {
            name,
            key_selector,
            spec,
            contents,
            out,
            side,
            state,
            timers,
            windows,
            late_dropped,
            ..
        } = self;
        let Some(state) = state.as_mut() else {
            return Err(TaskError::operator(
                name,
                "records arrived before the window operator was opened",
            ));
        };
        guarded(name, || {
            let mut p = Processing {
                name,
                spec,
                contents,
                out,
                state,
                timers,
            };
            for (record, timestamp) in batch.drain() {
                let time = if event_time {
                    timestamp.ok_or_else(|| {
                        anyhow::anyhow!("a record has no timestamp, but '{}' uses event-time windows: did you forget assign_timestamps_and_watermarks?", p.name)
                    })?
                } else {
                    processing_time_now()
                };
                let key = key_selector(&record);
                let key_group = p.state.key_group_of(&key);
                p.spec.assigner.assign(&record, time, windows);
                let mut skipped = true;
                let count = windows.len();
                let mut record = Some(record);
                for (i, assigned) in windows.iter().enumerate() {
                    let window = if merging {
                        p.merge_session(&key, key_group, *assigned, &cleanup_of)?
                    } else {
                        *assigned
                    };
                    let watermark = p.timers.current_watermark();
                    if event_time && cleanup_of(&window).is_some_and(|t| t <= watermark) {
                        if merging {
                            p.retire_session(&key, key_group, &window)?;
                        }
                        continue;
                    }
                    skipped = false;
                    let value = if i + 1 == count {
                        record.take()
                    } else {
                        record.clone()
                    };
                    let Some(value) = value else { continue };
                    // The trigger sees the element first; a FIRE is acted on after it is added.
                    let trigger_result = p.spec.trigger.on_element(
                        &value,
                        time,
                        &window,
                        &mut Processing::<K, T, O, C>::ctx(
                            p.state, p.timers, &key, key_group, window,
                        ),
                    );
                    let contents = &mut *p.contents;
                    let new_window = p
                        .state
                        .update(
                            CONTENTS,
                            &key,
                            key_group,
                            &window,
                            |slot: &mut Option<Option<C::Acc>>| {
                                let acc = slot.take().flatten();
                                let new_window = acc.is_none();
                                *slot = Some(Some(contents.add(acc, value, time)?));
                                anyhow::Ok(new_window)
                            },
                        )
                        .map_err(state_error)??;
                    if trigger_result.is_fire() {
                        p.fire(&key, key_group, &window)?;
                    }
                    if trigger_result.is_purge() {
                        p.purge(&key, key_group, &window)?;
                    }
                    if let Some(t) = cleanup_of(&window).filter(|_| new_window) {
                        if event_time {
                            p.timers.register_event_time_timer(key.clone(), window, t);
                        } else {
                            p.timers
                                .register_processing_time_timer(key.clone(), window, t);
                        }
                    }
                }
                crate::runtime::operators::process::fail_on_state_error(p.state)?;
                if skipped && event_time {
                    if let Some(value) = record.take() {
                        handle_late(
                            p.spec.late_tag.as_ref(),
                            side,
                            late_dropped.as_ref(),
                            value,
                            time,
                        )?;
                    }
                }
            }
            Ok(())
        })?;
        if !self.out.is_empty() {
            self.next.push(&mut self.out)?;
        }
        Ok(())
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        let (event_time_domain, now) = match event {
            ChainEvent::Watermark(wm) => {
                self.timers.advance_watermark(wm);
                (true, wm)
            }
            ChainEvent::ProcessingTime(now) => (false, now),
            _ => {
                if let (Some(checkpoints), Some(state)) = (&self.checkpoints, &mut self.state) {
                    checkpoints
                        .on_event(&event, state, Some(&self.timers))
                        .map_err(|e| TaskError::operator(&self.name, e.to_string()))?;
                }
                self.side.event(&event)?;
                return self.next.event(event);
            }
        };
        let event_time = self.event_time();
        let merging = self.spec.assigner.is_merging();
        let lateness = self.spec.allowed_lateness;
        let Self {
            name,
            spec,
            contents,
            out,
            state,
            timers,
            ..
        } = self;
        if let Some(state) = state.as_mut() {
            guarded(name, || {
                let mut p = Processing {
                    name,
                    spec,
                    contents,
                    out,
                    state,
                    timers,
                };
                loop {
                    let due = if event_time_domain {
                        p.timers.pop_event_timer()
                    } else {
                        p.timers.pop_processing_timer(now)
                    };
                    let Some((time, key, window)) = due else {
                        break;
                    };
                    let key_group = p.state.key_group_of(&key);
                    let result = {
                        let mut ctx = Processing::<K, T, O, C>::ctx(
                            p.state, p.timers, &key, key_group, window,
                        );
                        if event_time_domain {
                            p.spec.trigger.on_event_time(time, &window, &mut ctx)
                        } else {
                            p.spec.trigger.on_processing_time(time, &window, &mut ctx)
                        }
                    };
                    if result.is_fire() {
                        p.fire(&key, key_group, &window)?;
                    }
                    if result.is_purge() {
                        p.purge(&key, key_group, &window)?;
                    }
                    crate::runtime::operators::process::fail_on_state_error(p.state)?;
                    if event_time == event_time_domain
                        && cleanup_time(&window, event_time, lateness) == Some(time)
                    {
                        p.clear_window(&key, key_group, &window, None)?;
                        if merging {
                            p.retire_session(&key, key_group, &window)?;
                        }
                    }
                }
                Ok(())
            })?;
        }
        if !self.out.is_empty() {
            self.next.push(&mut self.out)?;
        }
        self.side.event(&event)?;
        self.next.event(event)
    }

    fn next_deadline(&self) -> Option<i64> {
        [
            self.timers.next_processing_time(),
            self.next.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        if let Some(state) = &mut self.state {
            state.dispose();
        }
        self.side.close().and(self.next.close())
    }
}
