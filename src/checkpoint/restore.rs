//! Assigning a snapshot's state to the tasks of a (possibly changed) job (Flink's
//! `StateAssignmentOperation`): state maps to operators by operator id (from the `uid`);
//! keyed state goes to the subtask whose key-group range covers it, whatever the old
//! parallelism was (rescaling); operator list state is split evenly over the new subtasks,
//! union state goes to all, broadcast state is copied to each.

use std::collections::HashMap;

use super::metadata::{CheckpointMetadata, OperatorStateMode, OperatorStateSnapshot};
use super::storage::StateReader;
use crate::graph::JobGraph;
use crate::runtime::keygroup::KeyGroupRange;
use crate::state::manager::handles_for_range;
use crate::state::{RestoredOperatorState, TaskRestore};

/// Per (vertex, subtask): what the task restores from.
pub type RestorePlan = HashMap<(usize, usize), TaskRestore>;

/// Assigns `metadata` (read from the `_metadata` in `base`) to the tasks of `job`.
pub fn assign_state(
    job: &JobGraph,
    metadata: &CheckpointMetadata,
    base: &str,
    allow_non_restored_state: bool,
) -> Result<RestorePlan, String> {
    let reader = StateReader::new(base);
    let mut plan: RestorePlan = job
        .subtasks()
        .map(|task| {
            let restore = TaskRestore {
                checkpoint_id: metadata.checkpoint_id,
                base: base.to_string(),
                ..Default::default()
            };
            (task, restore)
        })
        .collect();
    for snapshot in &metadata.operators {
        let placed = job.vertices.iter().find_map(|v| {
            v.operators
                .iter()
                .any(|o| o.operator_id == snapshot.operator_id)
                .then_some(v)
        });
        let Some(vertex) = placed else {
            if allow_non_restored_state {
                tracing::info!(
                    "Skipping savepoint state for operator {} ({}).",
                    snapshot.operator_id,
                    snapshot.name
                );
                continue;
            }
            return Err(format!(
                "Failed to rollback to checkpoint/savepoint {base}. Cannot map checkpoint/savepoint state for operator {}{} to the new program, because the operator is not available in the new program. If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI.",
                snapshot.operator_id,
                snapshot
                    .uid
                    .as_ref()
                    .map(|u| format!(" (uid '{u}', '{}')", snapshot.name))
                    .unwrap_or_else(|| format!(" ('{}')", snapshot.name)),
            ));
        };
        let has_keyed = snapshot
            .subtasks
            .iter()
            .any(|s| !s.keyed.is_empty() || !s.raw_keyed.is_empty());
        if has_keyed && snapshot.max_parallelism != vertex.max_parallelism {
            return Err(format!(
                "The maximum parallelism ({}) with which the latest checkpoint of the execution job vertex '{}' was created is not equal to the new maximum parallelism ({}): keyed state cannot be redistributed. Set the max parallelism of the operator back to {}.",
                snapshot.max_parallelism, vertex.name, vertex.max_parallelism, snapshot.max_parallelism
            ));
        }
        let operator_states = snapshot
            .subtasks
            .iter()
            .map(|s| match &s.operator {
                Some(handle) => {
                    let bytes = reader.read(handle).map_err(|e| e.to_string())?;
                    bincode::serde::decode_from_slice::<OperatorStateSnapshot, _>(
                        &bytes,
                        bincode::config::standard(),
                    )
                    .map(|(state, _)| state)
                    .map_err(|e| {
                        format!(
                            "the operator state of '{}' in {base} is damaged: {e}",
                            snapshot.name
                        )
                    })
                }
                None => Ok(OperatorStateSnapshot::default()),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let operator_shares = redistribute(&operator_states, vertex.parallelism);
        let keyed: Vec<_> = snapshot
            .subtasks
            .iter()
            .flat_map(|s| s.keyed.clone())
            .collect();
        let raw: Vec<_> = snapshot
            .subtasks
            .iter()
            .flat_map(|s| s.raw_keyed.clone())
            .collect();
        for (subtask, operator) in operator_shares.into_iter().enumerate() {
            let range = KeyGroupRange::for_operator_index(
                vertex.max_parallelism,
                vertex.parallelism,
                subtask,
            );
            if let Some(task) = plan.get_mut(&(vertex.id, subtask)) {
                task.operators.insert(
                    snapshot.operator_id.clone(),
                    RestoredOperatorState {
                        keyed: handles_for_range(keyed.iter().cloned(), range),
                        raw_keyed: handles_for_range(raw.iter().cloned(), range),
                        operator,
                    },
                );
            }
        }
    }
    Ok(plan)
}

/// Operator state of `old` subtasks spread over `parallelism` new ones. Unchanged parallelism
/// keeps every subtask's own state; otherwise split lists are cut into even contiguous parts.
pub fn redistribute(
    old: &[OperatorStateSnapshot],
    parallelism: usize,
) -> Vec<OperatorStateSnapshot> {
    let mut shares = vec![OperatorStateSnapshot::default(); parallelism];
    if old.len() == parallelism {
        return old.to_vec();
    }
    let mut names: Vec<(String, OperatorStateMode)> = Vec::new();
    for state in old {
        for (name, mode, _) in &state.states {
            if !names.iter().any(|(n, _)| n == name) {
                names.push((name.clone(), *mode));
            }
        }
    }
    for (name, mode) in names {
        let per_subtask: Vec<Vec<serde_bytes::ByteBuf>> = old
            .iter()
            .map(|s| {
                s.states
                    .iter()
                    .filter(|(n, _, _)| *n == name)
                    .flat_map(|(_, _, elements)| elements.iter().cloned())
                    .collect()
            })
            .collect();
        for (i, share) in shares.iter_mut().enumerate() {
            let elements = match mode {
                OperatorStateMode::Split => {
                    let all: Vec<_> = per_subtask.iter().flatten().cloned().collect();
                    let (start, end) = (
                        i * all.len() / parallelism,
                        (i + 1) * all.len() / parallelism,
                    );
                    all[start..end].to_vec()
                }
                OperatorStateMode::Union => per_subtask.iter().flatten().cloned().collect(),
                OperatorStateMode::Broadcast => per_subtask.first().cloned().unwrap_or_default(),
            };
            share.states.push((name.clone(), mode, elements));
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_bytes::ByteBuf;

    fn state(mode: OperatorStateMode, elements: &[u8]) -> OperatorStateSnapshot {
        OperatorStateSnapshot {
            states: vec![(
                "s".into(),
                mode,
                elements.iter().map(|e| ByteBuf::from(vec![*e])).collect(),
            )],
        }
    }

    fn elements(s: &OperatorStateSnapshot) -> Vec<u8> {
        s.states
            .iter()
            .flat_map(|(_, _, e)| e.iter().map(|b| b[0]))
            .collect()
    }

    #[test]
    fn split_state_is_spread_evenly_and_nothing_is_lost_or_doubled() {
        let old = [
            state(OperatorStateMode::Split, &[1, 2, 3]),
            state(OperatorStateMode::Split, &[4, 5]),
        ];
        let new = redistribute(&old, 3);
        let mut all: Vec<u8> = new.iter().flat_map(elements).collect();
        all.sort();
        assert_eq!(all, vec![1, 2, 3, 4, 5]);
        assert!(new.iter().all(|s| (1..=2).contains(&elements(s).len())));
        let back = redistribute(&new, 1);
        assert_eq!(elements(&back[0]).len(), 5);
    }

    #[test]
    fn union_state_goes_to_everyone_and_broadcast_state_is_copied_once() {
        let old = [
            state(OperatorStateMode::Union, &[1]),
            state(OperatorStateMode::Union, &[2]),
        ];
        for share in redistribute(&old, 3) {
            assert_eq!(elements(&share), vec![1, 2]);
        }
        let old = [
            state(OperatorStateMode::Broadcast, &[7, 8]),
            state(OperatorStateMode::Broadcast, &[7, 8]),
        ];
        for share in redistribute(&old, 3) {
            assert_eq!(elements(&share), vec![7, 8]);
        }
    }

    #[test]
    fn unchanged_parallelism_keeps_each_subtasks_own_state() {
        let old = [
            state(OperatorStateMode::Split, &[1, 2, 3]),
            state(OperatorStateMode::Split, &[4]),
        ];
        let new = redistribute(&old, 2);
        assert_eq!(elements(&new[0]), vec![1, 2, 3]);
        assert_eq!(elements(&new[1]), vec![4]);
    }
}
