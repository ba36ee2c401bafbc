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
            })
            .map_err(|e| StateError::RestoreFiles(e.to_string()))?;
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
