//! Windows: assigners (tumbling, sliding, session, global; event and processing time),
//! triggers, evictors and window functions, as in Flink's `org.apache.flink.streaming.api.windowing`.
//!
//! Time windows are aligned to the epoch (plus an optional offset): a 30 s tumbling window
//! covers [0, 30) and [30, 60) of each minute. A window's results carry the timestamp
//! `end - 1` (its max timestamp).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::functions::RuntimeContext;

/// A window `[start, end)` (Flink's `TimeWindow`); the global window spans all time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeWindow {
    pub start: i64,
    pub end: i64,
}

impl TimeWindow {
    pub fn new(start: i64, end: i64) -> Self {
        TimeWindow { start, end }
    }
    /// The one window of `GlobalWindows` (count windows).
    pub fn global() -> Self {
        TimeWindow {
            start: i64::MIN,
            end: i64::MAX,
        }
    }
    pub fn is_global(&self) -> bool {
        *self == Self::global()
    }
    /// The largest timestamp that belongs to the window.
    pub fn max_timestamp(&self) -> i64 {
        if self.is_global() {
            i64::MAX
        } else {
            self.end - 1
        }
    }
    /// Whether the windows overlap or touch (session windows merge then).
    pub fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && self.end >= other.start
    }
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    /// Flink's `TimeWindow.getWindowStartWithOffset`.
    pub fn start_with_offset(timestamp: i64, offset: i64, size: i64) -> i64 {
        let remainder = (timestamp - offset) % size;
        if remainder < 0 {
            timestamp - (remainder + size)
        } else {
            timestamp - remainder
        }
    }
}

fn millis(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// Assigns each element to windows.
pub enum WindowAssigner<T> {
    Tumbling {
        size: i64,
        offset: i64,
        event_time: bool,
    },
    Sliding {
        size: i64,
        slide: i64,
        offset: i64,
        event_time: bool,
    },
    Session {
        gap: SessionGap<T>,
        event_time: bool,
    },
    Global,
}

impl<T> Clone for WindowAssigner<T> {
    fn clone(&self) -> Self {
        match self {
            WindowAssigner::Tumbling {
                size,
                offset,
                event_time,
            } => WindowAssigner::Tumbling {
                size: *size,
                offset: *offset,
                event_time: *event_time,
            },
            WindowAssigner::Sliding {
                size,
                slide,
                offset,
                event_time,
            } => WindowAssigner::Sliding {
                size: *size,
                slide: *slide,
                offset: *offset,
                event_time: *event_time,
            },
            WindowAssigner::Session { gap, event_time } => WindowAssigner::Session {
                gap: gap.clone(),
                event_time: *event_time,
            },
            WindowAssigner::Global => WindowAssigner::Global,
        }
    }
}

/// A session gap: fixed, or computed per element.
pub enum SessionGap<T> {
    Fixed(i64),
    Dynamic(Arc<dyn Fn(&T) -> Duration + Send + Sync>),
}

impl<T> Clone for SessionGap<T> {
    fn clone(&self) -> Self {
        match self {
            SessionGap::Fixed(g) => SessionGap::Fixed(*g),
            SessionGap::Dynamic(f) => SessionGap::Dynamic(f.clone()),
        }
    }
}

/// Tumbling (fixed, non-overlapping) event-time windows.
pub struct TumblingEventTimeWindows;
impl TumblingEventTimeWindows {
    pub fn of<T>(size: Duration) -> WindowAssigner<T> {
        WindowAssigner::Tumbling {
            size: millis(size),
            offset: 0,
            event_time: true,
        }
    }
    pub fn of_with_offset<T>(size: Duration, offset: Duration) -> WindowAssigner<T> {
        WindowAssigner::Tumbling {
            size: millis(size),
            offset: millis(offset),
            event_time: true,
        }
    }
}

/// Tumbling processing-time windows.
pub struct TumblingProcessingTimeWindows;
impl TumblingProcessingTimeWindows {
    pub fn of<T>(size: Duration) -> WindowAssigner<T> {
        WindowAssigner::Tumbling {
            size: millis(size),
            offset: 0,
            event_time: false,
        }
    }
}

/// Sliding (overlapping) event-time windows.
pub struct SlidingEventTimeWindows;
impl SlidingEventTimeWindows {
    pub fn of<T>(size: Duration, slide: Duration) -> WindowAssigner<T> {
        WindowAssigner::Sliding {
            size: millis(size),
            slide: millis(slide),
            offset: 0,
            event_time: true,
        }
    }
}

/// Sliding processing-time windows.
pub struct SlidingProcessingTimeWindows;
impl SlidingProcessingTimeWindows {
    pub fn of<T>(size: Duration, slide: Duration) -> WindowAssigner<T> {
        WindowAssigner::Sliding {
            size: millis(size),
            slide: millis(slide),
            offset: 0,
            event_time: false,
        }
    }
}

/// Session windows in event time: a window closes after a gap without elements.
pub struct EventTimeSessionWindows;
impl EventTimeSessionWindows {
    pub fn with_gap<T>(gap: Duration) -> WindowAssigner<T> {
        WindowAssigner::Session {
            gap: SessionGap::Fixed(millis(gap)),
            event_time: true,
        }
    }
    pub fn with_dynamic_gap<T>(
        gap: impl Fn(&T) -> Duration + Send + Sync + 'static,
    ) -> WindowAssigner<T> {
        WindowAssigner::Session {
            gap: SessionGap::Dynamic(Arc::new(gap)),
            event_time: true,
        }
    }
}

/// Session windows in processing time.
pub struct ProcessingTimeSessionWindows;
impl ProcessingTimeSessionWindows {
    pub fn with_gap<T>(gap: Duration) -> WindowAssigner<T> {
        WindowAssigner::Session {
            gap: SessionGap::Fixed(millis(gap)),
            event_time: false,
        }
    }
    pub fn with_dynamic_gap<T>(
        gap: impl Fn(&T) -> Duration + Send + Sync + 'static,
    ) -> WindowAssigner<T> {
        WindowAssigner::Session {
            gap: SessionGap::Dynamic(Arc::new(gap)),
            event_time: false,
        }
    }
}

/// One window holding everything (needs a custom trigger, as for count windows).
pub struct GlobalWindows;
impl GlobalWindows {
    pub fn create<T>() -> WindowAssigner<T> {
        WindowAssigner::Global
    }
}

impl<T> WindowAssigner<T> {
    pub fn is_event_time(&self) -> bool {
        match self {
            WindowAssigner::Tumbling { event_time, .. }
            | WindowAssigner::Sliding { event_time, .. }
            | WindowAssigner::Session { event_time, .. } => *event_time,
            WindowAssigner::Global => false,
        }
    }

    pub fn is_merging(&self) -> bool {
        matches!(self, WindowAssigner::Session { .. })
    }

    /// The windows an element with this (event or processing) time belongs to.
    pub fn assign(&self, element: &T, time: i64, out: &mut Vec<TimeWindow>) {
        out.clear();
        match self {
            WindowAssigner::Tumbling { size, offset, .. } => {
                let start = TimeWindow::start_with_offset(time, *offset, *size);
                out.push(TimeWindow::new(start, start + size));
            }
            WindowAssigner::Sliding {
                size,
                slide,
                offset,
                ..
            } => {
                let last_start = TimeWindow::start_with_offset(time, *offset, *slide);
                let mut start = last_start;
                while start > time - size {
                    out.push(TimeWindow::new(start, start + size));
                    start -= slide;
                }
            }
            WindowAssigner::Session { gap, .. } => {
                let gap = match gap {
                    SessionGap::Fixed(g) => *g,
                    SessionGap::Dynamic(f) => millis(f(element)),
                };
                out.push(TimeWindow::new(time, time + gap));
            }
            WindowAssigner::Global => out.push(TimeWindow::global()),
        }
    }

    /// Checks the assigner's parameters (Flink rejects these at construction).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            WindowAssigner::Tumbling { size, offset, .. } if *size <= 0 || offset.abs() >= *size => {
                Err(format!("TumblingWindows parameters must satisfy abs(offset) < size and size > 0, got size {size} ms, offset {offset} ms"))
            }
            WindowAssigner::Sliding { size, slide, offset, .. } if *size <= 0 || *slide <= 0 || offset.abs() >= *slide => Err(format!(
                "SlidingWindows parameters must satisfy abs(offset) < slide and size > 0 and slide > 0, got size {size} ms, slide {slide} ms, offset {offset} ms"
            )),
            WindowAssigner::Session { gap: SessionGap::Fixed(g), .. } if *g <= 0 => Err(format!("Session windows require a gap > 0, got {g} ms")),
            _ => Ok(()),
        }
    }
}

/// What a trigger decides (Flink's `TriggerResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    Continue,
    Fire,
    Purge,
    FireAndPurge,
}

impl TriggerResult {
    pub fn is_fire(self) -> bool {
        matches!(self, TriggerResult::Fire | TriggerResult::FireAndPurge)
    }
    pub fn is_purge(self) -> bool {
        matches!(self, TriggerResult::Purge | TriggerResult::FireAndPurge)
    }
}

/// What a trigger can do: timers and a per-(key, window) counter/value store.
pub trait TriggerContext {
    fn current_watermark(&self) -> i64;
    fn current_processing_time(&self) -> i64;
    fn register_event_time_timer(&mut self, time: i64);
    fn register_processing_time_timer(&mut self, time: i64);
    fn delete_event_time_timer(&mut self, time: i64);
    fn delete_processing_time_timer(&mut self, time: i64);
    /// A number kept per key and window under `name` (e.g. a count).
    fn get_value(&mut self, name: &str) -> Option<i64>;
    fn set_value(&mut self, name: &str, value: i64);
    fn clear_value(&mut self, name: &str);
}

/// Decides when a window fires and purges (Flink's `Trigger`).
pub trait Trigger<T>: Send + Sync {
    fn on_element(
        &self,
        element: &T,
        timestamp: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult;
    fn on_event_time(
        &self,
        time: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult;
    fn on_processing_time(
        &self,
        time: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult;
    /// Session windows merge; only triggers that can merge their state are allowed with them.
    fn can_merge(&self) -> bool {
        false
    }
    fn on_merge(&self, _window: &TimeWindow, _ctx: &mut dyn TriggerContext) {}
    /// The window is gone: delete its timers and state.
    fn clear(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext);
}

/// Fires when the watermark passes the window's end (the default for event-time windows).
pub struct EventTimeTrigger;

impl<T> Trigger<T> for EventTimeTrigger {
    fn on_element(
        &self,
        _: &T,
        _: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            // A late element within the allowed lateness: fire again at once.
            TriggerResult::Fire
        } else {
            ctx.register_event_time_timer(window.max_timestamp());
            TriggerResult::Continue
        }
    }
    fn on_event_time(
        &self,
        time: i64,
        window: &TimeWindow,
        _: &mut dyn TriggerContext,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }
    fn on_processing_time(
        &self,
        _: i64,
        _: &TimeWindow,
        _: &mut dyn TriggerContext,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn on_merge(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext) {
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
    }
    fn clear(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext) {
        ctx.delete_event_time_timer(window.max_timestamp());
    }
}

/// Fires when the wall clock passes the window's end (the default for processing-time windows).
pub struct ProcessingTimeTrigger;

impl<T> Trigger<T> for ProcessingTimeTrigger {
    fn on_element(
        &self,
        _: &T,
        _: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        ctx.register_processing_time_timer(window.max_timestamp());
        TriggerResult::Continue
    }
    fn on_event_time(&self, _: i64, _: &TimeWindow, _: &mut dyn TriggerContext) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        _: i64,
        _: &TimeWindow,
        _: &mut dyn TriggerContext,
    ) -> TriggerResult {
        TriggerResult::Fire
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn on_merge(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext) {
        if window.max_timestamp() > ctx.current_processing_time() {
            ctx.register_processing_time_timer(window.max_timestamp());
        }
    }
    fn clear(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext) {
        ctx.delete_processing_time_timer(window.max_timestamp());
    }
}

/// Fires once a window holds `count` elements (Flink's `CountTrigger`).
pub struct CountTrigger(pub i64);

impl CountTrigger {
    pub fn of(count: i64) -> Self {
        CountTrigger(count)
    }
}

impl<T> Trigger<T> for CountTrigger {
    fn on_element(
        &self,
        _: &T,
        _: i64,
        _: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        let count = ctx.get_value("count").unwrap_or(0) + 1;
        if count >= self.0 {
            ctx.clear_value("count");
            TriggerResult::Fire
        } else {
            ctx.set_value("count", count);
            TriggerResult::Continue
        }
    }
    fn on_event_time(&self, _: i64, _: &TimeWindow, _: &mut dyn TriggerContext) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        _: i64,
        _: &TimeWindow,
        _: &mut dyn TriggerContext,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn clear(&self, _: &TimeWindow, ctx: &mut dyn TriggerContext) {
        ctx.clear_value("count");
    }
}

/// Fires every `interval` of event time while the window is open, and at its end
/// (Flink's `ContinuousEventTimeTrigger`).
pub struct ContinuousEventTimeTrigger(pub i64);

impl ContinuousEventTimeTrigger {
    pub fn of(interval: Duration) -> Self {
        ContinuousEventTimeTrigger(millis(interval))
    }
}

impl<T> Trigger<T> for ContinuousEventTimeTrigger {
    fn on_element(
        &self,
        _: &T,
        timestamp: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            return TriggerResult::Fire;
        }
        ctx.register_event_time_timer(window.max_timestamp());
        if ctx.get_value("fire-time").is_none() {
            let next = timestamp - timestamp.rem_euclid(self.0) + self.0;
            ctx.register_event_time_timer(next);
            ctx.set_value("fire-time", next);
        }
        TriggerResult::Continue
    }
    fn on_event_time(
        &self,
        time: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            return TriggerResult::Fire;
        }
        if ctx.get_value("fire-time") == Some(time) {
            ctx.clear_value("fire-time");
            let next = time + self.0;
            ctx.register_event_time_timer(next);
            ctx.set_value("fire-time", next);
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        _: i64,
        _: &TimeWindow,
        _: &mut dyn TriggerContext,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn clear(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext) {
        if let Some(t) = ctx.get_value("fire-time") {
            ctx.delete_event_time_timer(t);
        }
        ctx.clear_value("fire-time");
        ctx.delete_event_time_timer(window.max_timestamp());
    }
}

/// Fires every `interval` of processing time while the window is open.
pub struct ContinuousProcessingTimeTrigger(pub i64);

impl ContinuousProcessingTimeTrigger {
    pub fn of(interval: Duration) -> Self {
        ContinuousProcessingTimeTrigger(millis(interval))
    }
}

impl<T> Trigger<T> for ContinuousProcessingTimeTrigger {
    fn on_element(
        &self,
        _: &T,
        _: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        if ctx.get_value("fire-time").is_none() {
            let now = ctx.current_processing_time();
            let next = (now - now.rem_euclid(self.0) + self.0).min(window.max_timestamp());
            ctx.register_processing_time_timer(next);
            ctx.set_value("fire-time", next);
        }
        TriggerResult::Continue
    }
    fn on_event_time(&self, _: i64, _: &TimeWindow, _: &mut dyn TriggerContext) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        time: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        if ctx.get_value("fire-time") == Some(time) {
            ctx.clear_value("fire-time");
            if time < window.max_timestamp() {
                let next = (time + self.0).min(window.max_timestamp());
                ctx.register_processing_time_timer(next);
                ctx.set_value("fire-time", next);
            }
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }
    fn clear(&self, _: &TimeWindow, ctx: &mut dyn TriggerContext) {
        if let Some(t) = ctx.get_value("fire-time") {
            ctx.delete_processing_time_timer(t);
        }
        ctx.clear_value("fire-time");
    }
}

/// Turns every FIRE of the wrapped trigger into FIRE_AND_PURGE (Flink's `PurgingTrigger`).
pub struct PurgingTrigger<T>(pub Box<dyn Trigger<T>>);

impl<T> PurgingTrigger<T> {
    pub fn of(trigger: impl Trigger<T> + 'static) -> Self {
        PurgingTrigger(Box::new(trigger))
    }
    fn purge(result: TriggerResult) -> TriggerResult {
        if result.is_fire() {
            TriggerResult::FireAndPurge
        } else {
            result
        }
    }
}

impl<T> Trigger<T> for PurgingTrigger<T> {
    fn on_element(
        &self,
        element: &T,
        timestamp: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        Self::purge(self.0.on_element(element, timestamp, window, ctx))
    }
    fn on_event_time(
        &self,
        time: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        Self::purge(self.0.on_event_time(time, window, ctx))
    }
    fn on_processing_time(
        &self,
        time: i64,
        window: &TimeWindow,
        ctx: &mut dyn TriggerContext,
    ) -> TriggerResult {
        Self::purge(self.0.on_processing_time(time, window, ctx))
    }
    fn can_merge(&self) -> bool {
        self.0.can_merge()
    }
    fn on_merge(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext) {
        self.0.on_merge(window, ctx)
    }
    fn clear(&self, window: &TimeWindow, ctx: &mut dyn TriggerContext) {
        self.0.clear(window, ctx)
    }
}

/// Never fires (the default of `GlobalWindows`).
pub struct NeverTrigger;

impl<T> Trigger<T> for NeverTrigger {
    fn on_element(
        &self,
        _: &T,
        _: i64,
        _: &TimeWindow,
        _: &mut dyn TriggerContext,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_event_time(&self, _: i64, _: &TimeWindow, _: &mut dyn TriggerContext) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        _: i64,
        _: &TimeWindow,
        _: &mut dyn TriggerContext,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn clear(&self, _: &TimeWindow, _: &mut dyn TriggerContext) {}
}

/// Removes elements from a window before or after the window function (Flink's `Evictor`).
/// Elements come with their timestamps, in arrival order.
pub trait Evictor<T>: Send + Sync {
    /// Removes the elements this evictor does not keep.
    fn evict(&self, elements: &mut Vec<(T, i64)>, window: &TimeWindow);
    /// Evict after the window function instead of before (Flink's `doEvictAfter`).
    fn evicts_after(&self) -> bool {
        false
    }
    fn evict_before(&self, elements: &mut Vec<(T, i64)>, window: &TimeWindow) {
        if !self.evicts_after() {
            self.evict(elements, window);
        }
    }
    fn evict_after(&self, elements: &mut Vec<(T, i64)>, window: &TimeWindow) {
        if self.evicts_after() {
            self.evict(elements, window);
        }
    }
}

/// Keeps the last `max_count` elements.
pub struct CountEvictor {
    max_count: usize,
    after: bool,
}

impl CountEvictor {
    pub fn of(max_count: usize) -> Self {
        CountEvictor {
            max_count,
            after: false,
        }
    }
    /// Evicts after the window function instead of before.
    pub fn of_after(max_count: usize) -> Self {
        CountEvictor {
            max_count,
            after: true,
        }
    }
}

impl<T> Evictor<T> for CountEvictor {
    fn evict(&self, elements: &mut Vec<(T, i64)>, _: &TimeWindow) {
        if elements.len() > self.max_count {
            let excess = elements.len() - self.max_count;
            elements.drain(..excess);
        }
    }
    fn evicts_after(&self) -> bool {
        self.after
    }
}

/// Keeps the elements within `window_size` of the newest element's timestamp.
pub struct TimeEvictor {
    window_size: i64,
    after: bool,
}

impl TimeEvictor {
    pub fn of(window_size: Duration) -> Self {
        TimeEvictor {
            window_size: millis(window_size),
            after: false,
        }
    }
    pub fn of_after(window_size: Duration) -> Self {
        TimeEvictor {
            window_size: millis(window_size),
            after: true,
        }
    }
}

impl<T> Evictor<T> for TimeEvictor {
    fn evict(&self, elements: &mut Vec<(T, i64)>, _: &TimeWindow) {
        if let Some(max) = elements.iter().map(|(_, ts)| *ts).max() {
            let cutoff = max - self.window_size;
            elements.retain(|(_, ts)| *ts > cutoff);
        }
    }
    fn evicts_after(&self) -> bool {
        self.after
    }
}

/// Distance between two elements, for [`DeltaEvictor`].
type DeltaFunction<T> = dyn Fn(&T, &T) -> f64 + Send + Sync;

/// Keeps the elements whose `delta` to the newest element is below `threshold`.
pub struct DeltaEvictor<T> {
    threshold: f64,
    delta: Arc<DeltaFunction<T>>,
    after: bool,
}

impl<T> DeltaEvictor<T> {
    pub fn of(threshold: f64, delta: impl Fn(&T, &T) -> f64 + Send + Sync + 'static) -> Self {
        DeltaEvictor {
            threshold,
            delta: Arc::new(delta),
            after: false,
        }
    }
}

impl<T: Send + Sync> Evictor<T> for DeltaEvictor<T> {
    fn evict(&self, elements: &mut Vec<(T, i64)>, _: &TimeWindow) {
        let Some(newest) = elements.len().checked_sub(1) else {
            return;
        };
        let keep: Vec<bool> = elements
            .iter()
            .enumerate()
            .map(|(i, e)| i == newest || (self.delta)(&e.0, &elements[newest].0) < self.threshold)
            .collect();
        let mut flags = keep.into_iter();
        elements.retain(|_| flags.next().unwrap_or(true));
    }
    fn evicts_after(&self) -> bool {
        self.after
    }
}

/// Incremental aggregation (Flink's `AggregateFunction`).
pub trait AggregateFunction<T, Acc, R>: Clone + Send + Sync + 'static {
    fn create_accumulator(&self) -> Acc;
    fn add(&self, value: T, accumulator: Acc) -> Acc;
    fn get_result(&self, accumulator: &Acc) -> R;
    fn merge(&self, a: Acc, b: Acc) -> Acc;
}

/// What a process window function learns about the window it runs for, and its state.
pub struct WindowContext<'a> {
    pub window: &'a TimeWindow,
    pub current_watermark: i64,
    pub current_processing_time: i64,
    pub(crate) state: Option<&'a mut dyn WindowStateAccess>,
}

/// Per-key state of a window operator, scoped to one window or to the key (type-erased so
/// the context needs no key type).
pub(crate) trait WindowStateAccess {
    /// Runs `f` on the slot of value `name`: per window when `global` is false, per key
    /// otherwise (a closure, so the value may live in RocksDB as well as on the heap).
    fn with_slot(
        &mut self,
        name: &str,
        global: bool,
        f: &mut dyn FnMut(&mut Option<Vec<u8>>),
    ) -> anyhow::Result<()>;
}

impl WindowContext<'_> {
    pub(crate) fn new(
        window: &TimeWindow,
        current_watermark: i64,
        current_processing_time: i64,
    ) -> WindowContext<'_> {
        WindowContext {
            window,
            current_watermark,
            current_processing_time,
            state: None,
        }
    }

    fn value<V: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
        global: bool,
    ) -> anyhow::Result<Option<V>> {
        let Some(state) = self.state.as_mut() else {
            anyhow::bail!("window state '{name}' is not available here")
        };
        let mut stored = None;
        state.with_slot(name, global, &mut |slot| stored = slot.clone())?;
        match stored {
            Some(bytes) => {
                bincode::serde::decode_from_slice::<V, _>(&bytes, bincode::config::standard())
                    .map(|(v, _)| Some(v))
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "window state '{name}' does not hold a {}: {e}",
                            std::any::type_name::<V>()
                        )
                    })
            }
            None => Ok(None),
        }
    }

    fn set<V: serde::Serialize>(
        &mut self,
        name: &str,
        global: bool,
        value: Option<V>,
    ) -> anyhow::Result<()> {
        let Some(state) = self.state.as_mut() else {
            anyhow::bail!("window state '{name}' is not available here")
        };
        let encoded = match value {
            Some(v) => Some(
                bincode::serde::encode_to_vec(&v, bincode::config::standard())
                    .map_err(|e| anyhow::anyhow!("could not store window state '{name}': {e}"))?,
            ),
            None => None,
        };
        let mut encoded = Some(encoded);
        state.with_slot(name, global, &mut |slot| {
            if let Some(value) = encoded.take() {
                *slot = value;
            }
        })
    }

    /// Value `name` kept for this key and window (cleared with the window).
    pub fn window_state<V: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> anyhow::Result<Option<V>> {
        self.value(name, false)
    }
    pub fn update_window_state<V: serde::Serialize>(
        &mut self,
        name: &str,
        value: V,
    ) -> anyhow::Result<()> {
        self.set(name, false, Some(value))
    }
    /// Value `name` kept for this key across all its windows.
    pub fn global_state<V: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> anyhow::Result<Option<V>> {
        self.value(name, true)
    }
    pub fn update_global_state<V: serde::Serialize>(
        &mut self,
        name: &str,
        value: V,
    ) -> anyhow::Result<()> {
        self.set(name, true, Some(value))
    }
    pub fn clear_global_state(&mut self, name: &str) -> anyhow::Result<()> {
        self.set::<()>(name, true, None)
    }
}

/// Computes a window's results from all its elements (Flink's `ProcessWindowFunction`).
pub trait ProcessWindowFunction<K, T, O>: Clone + Send + Sync + 'static {
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        elements: &[T],
        out: &mut super::functions::Collector<O>,
    ) -> anyhow::Result<()>;
}

/// Adapts a closure to a [`ProcessWindowFunction`].
#[derive(Clone)]
pub struct WindowClosure<F>(pub F);

impl<K, T, O, F> ProcessWindowFunction<K, T, O> for WindowClosure<F>
where
    F: FnMut(&K, &mut WindowContext, &[T], &mut super::functions::Collector<O>)
        + Clone
        + Send
        + Sync
        + 'static,
{
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        elements: &[T],
        out: &mut super::functions::Collector<O>,
    ) -> anyhow::Result<()> {
        (self.0)(key, ctx, elements, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_windows_are_aligned_to_the_epoch_with_an_optional_offset() {
        let mut w = Vec::new();
        TumblingEventTimeWindows::of::<()>(Duration::from_secs(30)).assign(&(), 45_000, &mut w);
        assert_eq!(w, vec![TimeWindow::new(30_000, 60_000)]);
        TumblingEventTimeWindows::of::<()>(Duration::from_millis(10)).assign(&(), -3, &mut w);
        assert_eq!(w, vec![TimeWindow::new(-10, 0)]);
        TumblingEventTimeWindows::of_with_offset::<()>(
            Duration::from_secs(10),
            Duration::from_secs(2),
        )
        .assign(&(), 11_000, &mut w);
        assert_eq!(w, vec![TimeWindow::new(2_000, 12_000)]);
    }

    #[test]
    fn a_sliding_window_element_belongs_to_size_over_slide_windows() {
        let mut w = Vec::new();
        SlidingEventTimeWindows::of::<()>(Duration::from_secs(10), Duration::from_secs(5)).assign(
            &(),
            12_000,
            &mut w,
        );
        assert_eq!(
            w,
            vec![
                TimeWindow::new(10_000, 20_000),
                TimeWindow::new(5_000, 15_000)
            ]
        );
    }

    #[test]
    fn invalid_assigner_parameters_are_rejected() {
        assert!(TumblingEventTimeWindows::of::<()>(Duration::ZERO)
            .validate()
            .is_err());
        assert!(
            SlidingEventTimeWindows::of::<()>(Duration::from_secs(1), Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(EventTimeSessionWindows::with_gap::<()>(Duration::ZERO)
            .validate()
            .is_err());
    }

    #[test]
    fn evictors_keep_what_flink_keeps() {
        let w = TimeWindow::new(0, 100);
        let mut elements: Vec<(i32, i64)> = (0..10).map(|i| (i, i as i64 * 10)).collect();
        CountEvictor::of(3).evict_before(&mut elements, &w);
        assert_eq!(
            elements.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![7, 8, 9]
        );
        let mut elements: Vec<(i32, i64)> = (0..10).map(|i| (i, i as i64 * 10)).collect();
        TimeEvictor::of(Duration::from_millis(25)).evict_before(&mut elements, &w);
        assert_eq!(
            elements.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![7, 8, 9]
        );
        let mut elements: Vec<(i32, i64)> = vec![(1, 0), (8, 1), (9, 2), (10, 3)];
        DeltaEvictor::of(2.5, |a: &i32, b: &i32| (*a - *b).abs() as f64)
            .evict_before(&mut elements, &w);
        assert_eq!(
            elements.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
    }
}
