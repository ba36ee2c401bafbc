//! Process operators: `process(ProcessFunction)` on a stream and `process(KeyedProcessFunction)`
//! on a keyed stream, with keyed state and timers for the latter.

use std::hash::Hash;
use std::sync::Arc;

use super::side::SideOutputs;
use crate::api::functions::RuntimeContext;
use crate::api::process::{
    Emitter, KeyedContext, KeyedProcessFunction, ProcessFunction, TimeDomain,
};
use crate::graph::stream_graph::OperatorInfo;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, Output, TaskError};
use crate::state::operator::KeyedCheckpoints;
use crate::state::{KeyedStateBackend, StateKey, TimerService};

pub struct ProcessOperator<I, O, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<O>,
    pub side: SideOutputs,
    pub out: Batch<O>,
    pub watermark: i64,
    pub _in: std::marker::PhantomData<fn(I)>,
}

impl<I, O: Send + 'static, F: ProcessFunction<I, O>> Output<I> for ProcessOperator<I, O, F> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.next.open(ctx)?;
        self.side.open(ctx)?;
        guarded(&self.name, || self.f.open(ctx))
    }
    fn push(&mut self, batch: &mut Batch<I>) -> Result<(), TaskError> {
        let (f, out, side, watermark) =
            (&mut self.f, &mut self.out, &mut self.side, self.watermark);
        guarded(&self.name, || {
            for (record, timestamp) in batch.drain() {
                f.process_element(
                    record,
                    &mut Emitter {
                        out: &mut *out,
                        side: &mut *side,
                        timestamp,
                        watermark,
                    },
                )?;
            }
            Ok(())
        })?;
        self.next.push(&mut self.out)
    }
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        if let ChainEvent::Watermark(wm) = event {
            self.watermark = wm;
        }
        self.side.event(&event)?;
        self.next.event(event)
    }
    fn next_deadline(&self) -> Option<i64> {
        self.next.next_deadline()
    }
    fn close(&mut self) -> Result<(), TaskError> {
        let own = guarded(&self.name, || self.f.close());
        own.and(self.side.close()).and(self.next.close())
    }
}

pub struct KeyedProcessOperator<K, I, O, F> {
    pub name: String,
    /// Stable operator id: the key of this operator's state in snapshots.
    pub operator_id: String,
    pub key_selector: Arc<dyn Fn(&I) -> K + Send + Sync>,
    pub f: F,
    pub next: BoxOutput<O>,
    pub side: SideOutputs,
    pub out: Batch<O>,
    pub state: Option<KeyedStateBackend<K>>,
    pub timers: TimerService<K, ()>,
    pub checkpoints: Option<KeyedCheckpoints>,
}

impl<K: StateKey, I, O, F> KeyedProcessOperator<K, I, O, F> {
    pub fn new(
        op: OperatorInfo,
        key_selector: Arc<dyn Fn(&I) -> K + Send + Sync>,
        f: F,
        next: BoxOutput<O>,
        side: SideOutputs,
    ) -> Self {
        KeyedProcessOperator {
            name: op.name,
            operator_id: op.id,
            key_selector,
            f,
            next,
            side,
            out: Batch::new(),
            state: None,
            timers: TimerService::default(),
            checkpoints: None,
        }
    }
}

impl<K, I, O, F> KeyedProcessOperator<K, I, O, F>
where
    K: StateKey + Hash,
    O: Send + 'static,
    F: KeyedProcessFunction<K, I, O>,
{
    fn state(&mut self) -> Result<&mut KeyedStateBackend<K>, TaskError> {
        self.state.as_mut().ok_or_else(|| {
            TaskError::operator(
                &self.name,
                "keyed state used before the operator was opened",
            )
        })
    }

    /// Fires due timers of one domain, in time order.
    fn fire_timers(&mut self, domain: TimeDomain, now: i64) -> Result<(), TaskError> {
        self.state()?;
        let Self {
            name,
            f,
            out,
            side,
            state,
            timers,
            ..
        } = self;
        let Some(state) = state.as_mut() else {
            return Ok(());
        };
        guarded(name, || loop {
            let due = match domain {
                TimeDomain::EventTime => timers.pop_event_timer(),
                TimeDomain::ProcessingTime => timers.pop_processing_timer(now),
            };
            let Some((time, key, ())) = due else {
                return Ok(());
            };
            let key_group = state.key_group_of(&key);
            let watermark = timers.current_watermark();
            let timestamp = (domain == TimeDomain::EventTime).then_some(time);
            let mut ctx = KeyedContext {
                emit: Emitter {
                    out: &mut *out,
                    side: &mut *side,
                    timestamp,
                    watermark,
                },
                key: &key,
                key_group,
                state: &mut *state,
                timers: &mut *timers,
                time_domain: Some(domain),
            };
            f.on_timer(time, &mut ctx)?;
            fail_on_state_error(state)?;
        })?;
        if !self.out.is_empty() {
            self.next.push(&mut self.out)?;
        }
        Ok(())
    }
}

impl<K, I, O, F> Output<I> for KeyedProcessOperator<K, I, O, F>
where
    K: StateKey + Hash,
    I: Send,
    O: Send + 'static,
    F: KeyedProcessFunction<K, I, O>,
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.next.open(ctx)?;
        self.side.open(ctx)?;
        let (checkpoints, backend) =
            KeyedCheckpoints::open(ctx, &self.operator_id, Some(&mut self.timers))
                .map_err(|e| TaskError::operator(&self.name, e.to_string()))?;
        self.state = Some(backend);
        self.checkpoints = Some(checkpoints);
        guarded(&self.name, || self.f.open(ctx))
    }

    fn push(&mut self, batch: &mut Batch<I>) -> Result<(), TaskError> {
        self.state()?;
        let Self {
            name,
            key_selector,
            f,
            out,
            side,
            state,
            timers,
            ..
        } = self;
        let Some(state) = state.as_mut() else {
            return Ok(());
        };
        guarded(name, || {
            for (record, timestamp) in batch.drain() {
                let key = key_selector(&record);
                let key_group = state.key_group_of(&key);
                let watermark = timers.current_watermark();
                let mut ctx = KeyedContext {
                    emit: Emitter {
                        out: &mut *out,
                        side: &mut *side,
                        timestamp,
                        watermark,
                    },
                    key: &key,
                    key_group,
                    state: &mut *state,
                    timers: &mut *timers,
                    time_domain: None,
                };
                f.process_element(record, &mut ctx)?;
                fail_on_state_error(state)?;
            }
            Ok(())
        })?;
        self.next.push(&mut self.out)
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        match event {
            ChainEvent::Watermark(wm) => {
                self.timers.advance_watermark(wm);
                self.fire_timers(TimeDomain::EventTime, wm)?;
            }
            ChainEvent::ProcessingTime(now) => self.fire_timers(TimeDomain::ProcessingTime, now)?,
            ChainEvent::Barrier(_) | ChainEvent::CheckpointComplete(_) => {
                if let (Some(checkpoints), Some(state)) = (&self.checkpoints, &mut self.state) {
                    checkpoints
                        .on_event(&event, state, Some(&self.timers))
                        .map_err(|e| TaskError::operator(&self.name, e.to_string()))?;
                }
            }
            _ => {}
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
        let own = guarded(&self.name, || self.f.close());
        if let Some(state) = &mut self.state {
            state.dispose();
        }
        own.and(self.side.close()).and(self.next.close())
    }
}

/// Fails the operator with a state write a user state handle could not report itself.
pub(crate) fn fail_on_state_error<K: StateKey>(
    state: &mut KeyedStateBackend<K>,
) -> anyhow::Result<()> {
    match state.take_failure() {
        Some(e) => Err(anyhow::anyhow!(e)),
        None => Ok(()),
    }
}
