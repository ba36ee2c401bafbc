//! What every keyed operator does with its state at the checkpoint contracts' points: at
//! `open` it builds its backend and timers from what the task restored for its operator id
//! (only its own key groups, from handles of any parallelism); at a barrier it takes the
//! synchronous part of the keyed snapshot (backend) and of the raw keyed one (timers,
//! canonical) and registers both with the task; on completion it tells the backend.

use std::sync::Arc;

use super::canonical;
use super::{KeyedStateBackend, Namespace, OperatorSnapshotFutures, StateError, StateKey};
use super::{TaskStateManager, TimerService};
use crate::api::functions::RuntimeContext;
use crate::runtime::chain::ChainEvent;

/// A keyed operator's link to its task's checkpoints.
pub struct KeyedCheckpoints {
    manager: Arc<TaskStateManager>,
    operator_id: String,
}

impl KeyedCheckpoints {
    /// Opens operator `operator_id`'s backend for the subtask `ctx` runs and restores its
    /// timers (when it has any).
    pub fn open<K: StateKey, N: Namespace>(
        ctx: &RuntimeContext,
        operator_id: &str,
        timers: Option<&mut TimerService<K, N>>,
    ) -> Result<(Self, KeyedStateBackend<K>), StateError> {
        let backend = KeyedStateBackend::for_operator(ctx, operator_id)?;
        let manager = ctx.state_manager().clone();
        if let (Some(timers), Some(reader), Some(restored)) =
            (timers, manager.reader(), manager.restored(operator_id))
        {
            let range = backend.key_group_range();
            canonical::read_key_groups(reader, &restored.raw_keyed, range, &mut |e| {
                timers.restore_entry(e)
            })?;
        }
        let checkpoints = KeyedCheckpoints {
            manager,
            operator_id: operator_id.to_string(),
        };
        Ok((checkpoints, backend))
    }

    /// Handles the checkpoint events: snapshots at a barrier, bookkeeping on completion.
    pub fn on_event<K: StateKey, N: Namespace>(
        &self,
        event: &ChainEvent,
        backend: &mut KeyedStateBackend<K>,
        timers: Option<&TimerService<K, N>>,
    ) -> Result<(), StateError> {
        match event {
            ChainEvent::Barrier(barrier) => {
                let keyed = backend.snapshot(barrier.id, barrier.kind.is_savepoint())?;
                let raw_keyed = match timers {
                    Some(timers) => {
                        let range = backend.key_group_range();
                        let snapshot = timers
                            .snapshot_canonical(range, |k| backend.key_group_of(k))
                            .map_err(|reason| StateError::Snapshot {
                                name: "timers".into(),
                                reason,
                            })?;
                        Some(Box::new(snapshot) as Box<dyn super::KeyedSnapshotWriter>)
                    }
                    None => None,
                };
                self.manager.add_snapshot(
                    &self.operator_id,
                    OperatorSnapshotFutures {
                        keyed: Some(keyed),
                        raw_keyed,
                        operator: Default::default(),
                    },
                );
            }
            ChainEvent::CheckpointComplete(id) => backend.notify_checkpoint_complete(*id),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::api::functions::Closure;
    use crate::api::process::{KeyedContext, KeyedProcessFunction};
    use crate::checkpoint::KeyedStateHandle;
    use crate::checkpoint::{CheckpointBarrier, SnapshotLocation, SnapshotType, SubtaskSnapshot};
    use crate::config::options::StateBackendType;
    use crate::graph::stream_graph::OperatorInfo;
    use crate::runtime::batch::Batch;
    use crate::runtime::chain::{Output, TaskError};
    use crate::runtime::keygroup::assign_key_to_operator;
    use crate::runtime::operators::keyed::KeyedReduceOperator;
    use crate::runtime::operators::process::KeyedProcessOperator;
    use crate::runtime::operators::side::SideOutputs;
    use crate::state::manager::handles_for_range;
    use crate::state::{
        RestoredOperatorState, StateBackendSettings, TaskRestore, ValueStateDescriptor,
    };

    /// Collects what an operator emits.
    struct Collect<T>(Arc<Mutex<Vec<T>>>);

    impl<T: Send> Output<T> for Collect<T> {
        fn open(&mut self, _: &RuntimeContext) -> Result<(), TaskError> {
            Ok(())
        }
        fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
            let mut out = self.0.lock().unwrap();
            out.extend(batch.drain().map(|(r, _)| r));
            Ok(())
        }
        fn event(&mut self, _: ChainEvent) -> Result<(), TaskError> {
            Ok(())
        }
        fn close(&mut self) -> Result<(), TaskError> {
            Ok(())
        }
    }

    fn settings(kind: StateBackendType, dir: &std::path::Path) -> StateBackendSettings {
        StateBackendSettings {
            kind,
            incremental: false,
            local_dirs: vec![dir.to_path_buf()],
            ..Default::default()
        }
    }

    /// A context of subtask `index` of `parallelism` (max parallelism 128) restored from
    /// `restore`.
    fn context(
        index: usize,
        parallelism: usize,
        settings: StateBackendSettings,
        restore: Option<TaskRestore>,
    ) -> RuntimeContext {
        let mut ctx = RuntimeContext::for_test(index, parallelism);
        ctx.max_parallelism = 128;
        ctx.state = Arc::new(TaskStateManager::new(restore, settings));
        ctx
    }

    fn barrier(id: u64) -> ChainEvent {
        ChainEvent::Barrier(CheckpointBarrier {
            id,
            timestamp: 0,
            kind: SnapshotType::Savepoint,
            target: None,
        })
    }

    /// Writes the snapshots an operator registered in `ctx` at a barrier.
    fn written(ctx: &RuntimeContext, location: &SnapshotLocation, name: &str) -> SubtaskSnapshot {
        let mut taken = ctx.state_manager().take_snapshots();
        assert_eq!(taken.len(), 1, "one snapshot per operator and barrier");
        let (_, futures) = taken.remove(0);
        futures.write(location, name).unwrap()
    }

    /// What subtask `index` of `parallelism` restores of `snapshots` (the job master's part).
    fn restore_for(
        base: &str,
        snapshots: &[SubtaskSnapshot],
        index: usize,
        parallelism: usize,
    ) -> TaskRestore {
        let range =
            crate::runtime::keygroup::KeyGroupRange::for_operator_index(128, parallelism, index);
        let all = |f: fn(&SubtaskSnapshot) -> &Vec<KeyedStateHandle>| {
            handles_for_range(snapshots.iter().flat_map(|s| f(s).clone()), range)
        };
        let mut operators = std::collections::BTreeMap::new();
        operators.insert(
            "op".to_string(),
            RestoredOperatorState {
                keyed: all(|s| &s.keyed),
                raw_keyed: all(|s| &s.raw_keyed),
                operator: Default::default(),
            },
        );
        TaskRestore {
            checkpoint_id: 1,
            base: base.to_string(),
            operators,
            finished_on_restore: false,
        }
    }

    fn op() -> OperatorInfo {
        OperatorInfo {
            name: "op".into(),
            id: "op".into(),
        }
    }

    fn reduce_operator(out: &Arc<Mutex<Vec<(u32, i64)>>>) -> impl Output<(u32, i64)> {
        KeyedReduceOperator::new(
            op(),
            Arc::new(|r: &(u32, i64)| r.0),
            Closure(|a: (u32, i64), b: (u32, i64)| (a.0, a.1 + b.1)),
            Box::new(Collect(out.clone())),
        )
    }

    /// The rolling reduce keeps counting after a restore at another parallelism, on either
    /// backend, from a savepoint taken with the other one.
    #[test]
    fn keyed_reduce_state_survives_rescaling_and_a_backend_change() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("sp");
        let location = SnapshotLocation::in_directory(base.to_str().unwrap()).unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut snapshots = Vec::new();
        for index in 0..2 {
            let ctx = context(
                index,
                2,
                settings(StateBackendType::HashMap, dir.path()),
                None,
            );
            let mut operator = reduce_operator(&out);
            operator.open(&ctx).unwrap();
            let mut batch = Batch::new();
            for key in (0..100u32).filter(|k| assign_key_to_operator(k, 128, 2) == index) {
                batch.push((key, key as i64), None);
                batch.push((key, 1), None);
            }
            operator.push(&mut batch).unwrap();
            operator.event(barrier(1)).unwrap();
            snapshots.push(written(&ctx, &location, &format!("op-{index}")));
            operator.close().unwrap();
        }
        out.lock().unwrap().clear();
        for index in 0..3 {
            let restore = restore_for(base.to_str().unwrap(), &snapshots, index, 3);
            let ctx = context(
                index,
                3,
                settings(StateBackendType::RocksDb, dir.path()),
                Some(restore),
            );
            let mut operator = reduce_operator(&out);
            operator.open(&ctx).unwrap();
            let mut batch = Batch::new();
            for key in (0..100u32).filter(|k| assign_key_to_operator(k, 128, 3) == index) {
                batch.push((key, 1000), None);
            }
            operator.push(&mut batch).unwrap();
            operator.close().unwrap();
        }
        let mut sums = out.lock().unwrap().clone();
        sums.sort();
        let expected: Vec<(u32, i64)> = (0..100u32).map(|k| (k, k as i64 + 1 + 1000)).collect();
        assert_eq!(sums, expected);
    }

    /// Counts per key and reports the count when the key's timer fires.
    #[derive(Clone)]
    struct CountThenReport;

    impl KeyedProcessFunction<u32, u32, (u32, i64)> for CountThenReport {
        fn process_element(
            &mut self,
            _: u32,
            ctx: &mut KeyedContext<u32, (u32, i64)>,
        ) -> anyhow::Result<()> {
            let descriptor = ValueStateDescriptor::<i64>::new("count").with_default(0);
            let mut count = ctx.value_state(&descriptor)?;
            let n = count.value().unwrap_or(0) + 1;
            count.update(n);
            ctx.timer_service().register_event_time_timer(100);
            Ok(())
        }
        fn on_timer(
            &mut self,
            _: i64,
            ctx: &mut KeyedContext<u32, (u32, i64)>,
        ) -> anyhow::Result<()> {
            let descriptor = ValueStateDescriptor::<i64>::new("count");
            let n = ctx.value_state(&descriptor)?.value().unwrap_or(-1);
            let key = *ctx.current_key();
            ctx.collect((key, n));
            Ok(())
        }
    }

    /// State and timers of a keyed process function come back after a restore, both backends.
    #[test]
    fn keyed_process_state_and_timers_are_restored() {
        for kind in [StateBackendType::HashMap, StateBackendType::RocksDb] {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("chk");
            let location = SnapshotLocation::in_directory(base.to_str().unwrap()).unwrap();
            let out = Arc::new(Mutex::new(Vec::new()));
            let ctx = context(0, 1, settings(kind, dir.path()), None);
            let mut operator = KeyedProcessOperator::new(
                op(),
                Arc::new(|r: &u32| *r),
                CountThenReport,
                Box::new(Collect(out.clone())) as Box<dyn Output<(u32, i64)>>,
                SideOutputs::new(Vec::new()),
            );
            operator.open(&ctx).unwrap();
            let mut batch = Batch::new();
            for r in [1u32, 2, 1, 1] {
                batch.push(r, Some(5));
            }
            operator.push(&mut batch).unwrap();
            operator.event(barrier(1)).unwrap();
            let snapshot = written(&ctx, &location, "op-0");
            assert!(!snapshot.raw_keyed.is_empty(), "timers are raw keyed state");
            operator.close().unwrap();

            let restore = restore_for(base.to_str().unwrap(), &[snapshot], 0, 1);
            let ctx = context(0, 1, settings(kind, dir.path()), Some(restore));
            let mut restored = KeyedProcessOperator::new(
                op(),
                Arc::new(|r: &u32| *r),
                CountThenReport,
                Box::new(Collect(out.clone())) as Box<dyn Output<(u32, i64)>>,
                SideOutputs::new(Vec::new()),
            );
            restored.open(&ctx).unwrap();
            restored.event(ChainEvent::Watermark(200)).unwrap();
            let mut fired = out.lock().unwrap().clone();
            fired.sort();
            assert_eq!(fired, vec![(1u32, 3i64), (2, 1)], "{kind:?}");
            restored.close().unwrap();
        }
    }
}
