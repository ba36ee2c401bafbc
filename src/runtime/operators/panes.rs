//! Sliding event-time windows by panes: each element is added to one pane (a tumbling slice
//! of gcd(size, slide)), and a window that fires merges its size/gcd panes. A 10 s / 1 s
//! sliding aggregate then costs one update per element, like a tumbling one, instead of ten.
//!
//! Used for sliding event-time windows with the default trigger, no evictor and no allowed
//! lateness; other windows go through the general [`WindowOperator`](super::window::WindowOperator).

use std::hash::Hash;
use std::sync::Arc;

use super::side::SideOutputs;
use super::window::{
    handle_late, UserStateTable, WindowContents, WindowStateRef, WINDOW_USER_STATE_NAME,
};
use crate::api::functions::{Collector, LongCounter, RuntimeContext};
use crate::api::process::OutputTag;
use crate::api::window::{TimeWindow, WindowContext};
use crate::graph::stream_graph::OperatorInfo;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{
    guarded, processing_time_now, BoxOutput, ChainEvent, Output, TaskError,
};
use crate::runtime::keygroup::assign_to_key_group;
use crate::state::operator::KeyedCheckpoints;
use crate::state::{KeyedStateBackend, StateKey, TimerService};

const PANES: &str = "window-panes";

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub struct PaneWindowOperator<K, T, O, C: WindowContents<K, T, O>> {
    pub name: String,
    /// Stable operator id: the key of this operator's state in snapshots.
    pub operator_id: String,
    pub key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub size: i64,
    pub slide: i64,
    pub offset: i64,
    pub late_tag: Option<OutputTag<T>>,
    pub contents: C,
    pub next: BoxOutput<O>,
    pub side: SideOutputs,
    pub out: Batch<O>,
    pub state: Option<KeyedStateBackend<K>>,
    pub checkpoints: Option<KeyedCheckpoints>,
    /// One timer per (key, window end - 1).
    pub timers: TimerService<K, ()>,
    pub late_dropped: Option<LongCounter>,
}

impl<K, T, O, C> PaneWindowOperator<K, T, O, C>
where
    K: StateKey + Hash,
    T: Clone + Send + 'static,
    O: Send + 'static,
    C: WindowContents<K, T, O>,
{
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        op: OperatorInfo,
        key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
        size: i64,
        slide: i64,
        offset: i64,
        late_tag: Option<OutputTag<T>>,
        contents: C,
        next: BoxOutput<O>,
        side: SideOutputs,
    ) -> Self {
        PaneWindowOperator {
            name: op.name,
            operator_id: op.id,
            key_selector,
            size,
            slide,
            offset,
            late_tag,
            contents,
            next,
            side,
            out: Batch::new(),
            state: None,
            checkpoints: None,
            timers: TimerService::default(),
            late_dropped: None,
        }
    }

    fn pane(&self) -> i64 {
        gcd(self.size, self.slide)
    }

    /// Fires the window ending at `end` for `key`: merges its panes, emits, drops the panes no
    /// later window needs.
    fn fire(&mut self, key: &K, end: i64) -> anyhow::Result<()> {
        let pane = self.pane();
        let start = end - self.size;
        let Some(state) = self.state.as_mut() else {
            return Ok(());
        };
        let key_group = state.key_group_of(key);
        let state_error = |e: crate::state::StateError| anyhow::anyhow!("{e}");
        let mut merged: Option<C::Acc> = None;
        let mut p = start;
        while p < end {
            let pane_acc = state
                .get(
                    PANES,
                    key,
                    key_group,
                    &p,
                    |slot: Option<&Option<C::Acc>>| slot.cloned().flatten(),
                )
                .map_err(state_error)?;
            if let Some(acc) = pane_acc {
                merged = Some(match merged {
                    Some(m) => self.contents.merge(m, acc)?,
                    None => acc,
                });
            }
            p += pane;
        }
        // Panes before the next window's start are no longer needed.
        let mut p = start;
        while p < start + self.slide {
            state
                .put::<_, Option<C::Acc>>(PANES, key, key_group, &p, None)
                .map_err(state_error)?;
            p += pane;
        }
        if let Some(mut acc) = merged {
            let window = TimeWindow::new(start, end);
            let watermark = self.timers.current_watermark();
            let mut access = WindowStateRef {
                state: &mut *state,
                key,
                key_group,
                window,
            };
            let mut ctx = WindowContext::new(&window, watermark, processing_time_now());
            ctx.state = Some(&mut access);
            let mut collector = Collector::new(&mut self.out);
            collector.timestamp = Some(window.max_timestamp());
            self.contents
                .emit(key, &mut ctx, &mut acc, &mut collector)?;
            // A pane window fires once: its per-window state ends with it.
            state
                .put::<_, UserStateTable>(WINDOW_USER_STATE_NAME, key, key_group, &window, None)
                .map_err(state_error)?;
        }
        Ok(())
    }
}

impl<K, T, O, C> Output<T> for PaneWindowOperator<K, T, O, C>
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
        let (size, slide, offset, pane) = (self.size, self.slide, self.offset, self.pane());
        let Self {
            name,
            key_selector,
            late_tag,
            contents,
            side,
            state,
            timers,
            late_dropped,
            ..
        } = self;
        let Some(state) = state.as_mut() else {
            return Err(TaskError::operator(
                name,
                "records arrived before the window operator was opened",
            ));
        };
        let max_parallelism = state.max_parallelism();
        guarded(name, || {
            let mut panes = state.state::<i64, Option<C::Acc>>(PANES)?;
            for (record, timestamp) in batch.drain() {
                let ts = timestamp.ok_or_else(|| anyhow::anyhow!("a record has no timestamp, but '{name}' uses event-time windows: did you forget assign_timestamps_and_watermarks?"))?;
                let watermark = timers.current_watermark();
                // The last window holding the element ends at its slide-aligned start + size.
                let last_end = TimeWindow::start_with_offset(ts, offset, slide) + size;
                if last_end - 1 <= watermark {
                    handle_late(late_tag.as_ref(), side, late_dropped.as_ref(), record, ts)?;
                    continue;
                }
                let key = key_selector(&record);
                let key_group = assign_to_key_group(&key, max_parallelism);
                let pane_start = TimeWindow::start_with_offset(ts, offset, pane);
                let new_pane = panes
                    .update(
                        &key,
                        key_group,
                        &pane_start,
                        |slot: &mut Option<Option<C::Acc>>| {
                            let acc = slot.take().flatten();
                            let new_pane = acc.is_none();
                            *slot = Some(Some(contents.add(acc, record, ts)?));
                            anyhow::Ok(new_pane)
                        },
                    )
                    .map_err(|e| anyhow::anyhow!("{e}"))??;
                if new_pane {
                    // Every window covering this pane gets a timer at its end: windows start at
                    // slide-aligned times s with s <= pane < s + size.
                    let mut start = TimeWindow::start_with_offset(pane_start, offset, slide);
                    while start + size > pane_start {
                        let end = start + size;
                        if end - 1 > watermark {
                            timers.register_event_time_timer(key.clone(), (), end - 1);
                        }
                        start -= slide;
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
        if let ChainEvent::Watermark(wm) = event {
            self.timers.advance_watermark(wm);
            while let Some((time, key, ())) = self.timers.pop_event_timer() {
                let name = self.name.clone();
                guarded(&name, || self.fire(&key, time + 1))?;
            }
            if !self.out.is_empty() {
                self.next.push(&mut self.out)?;
            }
        }
        if let (Some(checkpoints), Some(state)) = (&self.checkpoints, &mut self.state) {
            checkpoints
                .on_event(&event, state, Some(&self.timers))
                .map_err(|e| TaskError::operator(&self.name, e.to_string()))?;
        }
        self.side.event(&event)?;
        self.next.event(event)
    }

    fn next_deadline(&self) -> Option<i64> {
        self.next.next_deadline()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        if let Some(state) = &mut self.state {
            state.dispose();
        }
        self.side.close().and(self.next.close())
    }
}
