//! Keyed rolling aggregation: `reduce`, `sum`, `min`, `max`, `min_by`, `max_by` on a
//! KeyedStream. In STREAMING mode every input record emits the key's updated value (Flink's
//! `StreamGroupedReduceOperator`); in BATCH mode each key's final value is emitted once at the
//! end of input.

use std::hash::Hash;
use std::sync::Arc;

use super::BATCH_SIZE;
use crate::api::functions::{ReduceFunction, RuntimeContext};
use crate::config::RuntimeExecutionMode;
use crate::graph::stream_graph::OperatorInfo;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, Output, TaskError};
use crate::util::hash::StableHashMap;

pub struct KeyedReduceOperator<T, K, R> {
    pub name: String,
    /// Stable operator id: the key of this operator's state in snapshots.
    pub operator_id: String,
    pub key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub f: R,
    pub next: BoxOutput<T>,
    pub out: Batch<T>,
    /// Per key: the accumulated value (taken out while the reduce function runs).
    pub state: StableHashMap<K, Option<T>>,
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
            state: Default::default(),
            emit_every_update: true,
        }
    }
}

impl<T, K, R> Output<T> for KeyedReduceOperator<T, K, R>
where
    T: Clone + Send + 'static,
    K: Hash + Eq + Send + 'static,
    R: ReduceFunction<T>,
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.emit_every_update = ctx.runtime_mode() != RuntimeExecutionMode::Batch;
        self.next.open(ctx)
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        let (f, out, state, selector) = (
            &mut self.f,
            &mut self.out,
            &mut self.state,
            &self.key_selector,
        );
        let emit = self.emit_every_update;
        guarded(&self.name, || {
            for (record, timestamp) in batch.drain() {
                let slot = state.entry(selector(&record)).or_insert(None);
                let value = match slot.take() {
                    Some(acc) => f.reduce(acc, record)?,
                    None => record,
                };
                if emit {
                    out.push(value.clone(), timestamp);
                }
                *slot = Some(value);
            }
            Ok(())
        })?;
        if !self.out.is_empty() {
            self.next.push(&mut self.out)?;
        }
        Ok(())
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        if event == ChainEvent::EndOfInput && !self.emit_every_update {
            for value in self.state.drain().filter_map(|(_, v)| v) {
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
        self.next.close()
    }
}
