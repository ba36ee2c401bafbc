//! Keyed rolling aggregation: `reduce`, `sum`, `min`, `max`, `min_by`, `max_by` on a
//! KeyedStream. In STREAMING mode every input record emits the key's updated value (Flink's
//! `StreamGroupedReduceOperator`); in BATCH mode each key's final value is emitted once at the
//! end of input. The accumulated value per key is keyed state (`_op_state`, as Flink's), so
//! it is snapshotted, restored and rescaled like any other.

use std::sync::Arc;

use super::BATCH_SIZE;
use crate::api::functions::{ReduceFunction, RuntimeContext};
use crate::config::RuntimeExecutionMode;
use crate::graph::stream_graph::OperatorInfo;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, Output, TaskError};
use crate::runtime::keygroup::assign_to_key_group;
use crate::state::operator::KeyedCheckpoints;
use crate::state::{KeyedStateBackend, StateKey};

/// Flink's name for the reduce operator's state.
const STATE: &str = "_op_state";

pub struct KeyedReduceOperator<T, K, R> {
    pub name: String,
    /// Stable operator id: the key of this operator's state in snapshots.
    pub operator_id: String,
    pub key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub f: R,
    pub next: BoxOutput<T>,
    pub out: Batch<T>,
    /// Per key: the accumulated value.
    pub state: Option<KeyedStateBackend<K>>,
    pub checkpoints: Option<KeyedCheckpoints>,
    pub emit_every_update: bool,
}

impl<T, K, R> KeyedReduceOperator<T, K, R> {
    pub fn new(
        op: OperatorInfo,
        key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
        f: R,
        next: BoxOutput<T>,
    ) -> Self {
        KeyedReduceOperator {
            name: op.name,
            operator_id: op.id,
            key_selector,
            f,
            next,
            out: Batch::new(),
            state: None,
            checkpoints: None,
            emit_every_update: true,
        }
    }
}

impl<T, K, R> KeyedReduceOperator<T, K, R> {
    fn state_error(&self, e: crate::state::StateError) -> TaskError {
        TaskError::operator(&self.name, e.to_string())
    }
}

impl<T, K, R> Output<T> for KeyedReduceOperator<T, K, R>
where
    T: Clone + crate::state::StateValue,
    K: StateKey,
    R: ReduceFunction<T>,
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.emit_every_update = ctx.runtime_mode() != RuntimeExecutionMode::Batch;
        let (checkpoints, backend) = KeyedCheckpoints::open::<K, ()>(ctx, &self.operator_id, None)
            .map_err(|e| self.state_error(e))?;
        self.state = Some(backend);
        self.checkpoints = Some(checkpoints);
        self.next.open(ctx)
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        let (f, out, selector) = (&mut self.f, &mut self.out, &self.key_selector);
        let Some(state) = self.state.as_mut() else {
            return Err(TaskError::operator(
                &self.name,
                "keyed state used before the operator was opened",
            ));
        };
        let emit = self.emit_every_update;
        let max_parallelism = state.max_parallelism();
        guarded(&self.name, || {
            let mut values = state.state::<(), T>(STATE)?;
            for (record, timestamp) in batch.drain() {
                let key = selector(&record);
                let key_group = assign_to_key_group(&key, max_parallelism);
                let updated = values.update(&key, key_group, &(), |slot: &mut Option<T>| {
                    let value = match slot.take() {
                        Some(acc) => f.reduce(acc, record)?,
                        None => record,
                    };
                    let emitted = emit.then(|| value.clone());
                    *slot = Some(value);
                    anyhow::Ok(emitted)
                })??;
                if let Some(value) = updated {
                    out.push(value, timestamp);
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
        if let (Some(checkpoints), Some(state)) = (&self.checkpoints, &mut self.state) {
            checkpoints
                .on_event::<K, ()>(&event, state, None)
                .map_err(|e| TaskError::operator(&self.name, e.to_string()))?;
        }
        if event == ChainEvent::EndOfInput && !self.emit_every_update {
            let values = match self.state.as_mut() {
                Some(state) => state
                    .drain::<(), T>(STATE)
                    .map_err(|e| TaskError::operator(&self.name, e.to_string()))?,
                None => Vec::new(),
            };
            for (_, (), value) in values {
                self.out.push(value, None);
                if self.out.len() >= BATCH_SIZE {
                    self.next.push(&mut self.out)?;
                }
            }
            self.next.push(&mut self.out)?;
        }
        self.next.event(event)
    }

    fn next_deadline(&self) -> Option<i64> {
        self.next.next_deadline()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        if let Some(state) = &mut self.state {
            state.dispose();
        }
        self.next.close()
    }
}
