//! One keyed-state abstraction over both backends (`state.backend`): [`KeyedStateBackend`]
//! is what keyed operators hold, created per operator subtask from the task's
//! [`crate::state::StateBackendSettings`] and restored from its
//! [`crate::state::RestoredOperatorState`].
//!
//! Access is typed and closure-based (`get(name, key, key group, namespace, |Option<&S>| ..)`,
//! `update(.., |&mut Option<S>| ..)`): on the heap the closure sees the object in place (one
//! hash lookup, no copies); on RocksDB it sees the deserialized value, written back after.

use std::hash::Hash;

use super::canonical;
use super::heap::{HeapKeyedStateBackend, StateError, StateTable};
use super::rocksdb::{RocksDbInstance, RocksDbKeyedStateBackend};
use super::{KeyedSnapshotWriter, StateBackendSettings, StateKey, StateValue};
use crate::checkpoint::{KeyedStateHandle, StateReader};
use crate::config::options::StateBackendType;
use crate::runtime::keygroup::KeyGroupRange;

/// Bounds of a namespace (`()` for plain keyed state, the window for window state).
pub trait Namespace: Hash + Eq + Clone + StateValue {}
impl<N: Hash + Eq + Clone + StateValue> Namespace for N {}

/// The keyed state of one keyed operator subtask.
pub enum KeyedStateBackend<K> {
    Heap(HeapKeyedStateBackend<K>),
    RocksDb(RocksDbKeyedStateBackend<K>),
}

impl<K: StateKey> KeyedStateBackend<K> {
    /// The backend `settings` ask for, covering `range`, restored from `handles` (of any
    /// parallelism: only this range's key groups are taken).
    pub fn create(
        settings: &StateBackendSettings,
        instance: impl FnOnce(&std::path::Path) -> RocksDbInstance,
        range: KeyGroupRange,
        max_parallelism: usize,
        restore: Option<(&StateReader, &[KeyedStateHandle])>,
    ) -> Result<Self, StateError> {
        match settings.kind {
            StateBackendType::HashMap => {
                let mut heap = HeapKeyedStateBackend::new(range, max_parallelism);
                if let Some((reader, handles)) = restore {
                    if let Some(h) = handles
                        .iter()
                        .find(|h| matches!(h, KeyedStateHandle::Incremental { .. }))
                    {
                        return Err(StateError::RestoreFiles(format!(
                            "the heap backend cannot restore an incremental RocksDB snapshot \
                             (key groups {}-{}); restore from a savepoint or use state.backend: rocksdb",
                            h.key_group_range().start,
                            h.key_group_range().end
                        )));
                    }
                    canonical::read_key_groups(reader, handles, range, &mut |e| {
                        heap.restore_entry(e);
                        Ok(())
                    })?;
                }
                Ok(KeyedStateBackend::Heap(heap))
            }
            StateBackendType::RocksDb => {
                let local = settings
                    .local_dirs
                    .first()
                    .cloned()
                    .unwrap_or_else(std::env::temp_dir);
                Ok(KeyedStateBackend::RocksDb(RocksDbKeyedStateBackend::open(
                    instance(&local),
                    range,
                    max_parallelism,
                    settings.incremental,
                    settings.rocksdb_write_cache_bytes,
                    restore,
                )?))
            }
        }
    }

    /// The backend of operator `operator_id` in the subtask `ctx` runs, restored from what
    /// the task state manager holds for it.
    pub fn for_operator(
        ctx: &crate::api::functions::RuntimeContext,
        operator_id: &str,
    ) -> Result<Self, StateError> {
        let (max_p, p, i) = (
            ctx.max_number_of_parallel_subtasks(),
            ctx.number_of_parallel_subtasks(),
            ctx.index_of_this_subtask(),
        );
        let manager = ctx.state_manager();
        let restored = manager.restored(operator_id);
        let restore = match (manager.reader(), restored) {
            (Some(reader), Some(state)) if !state.keyed.is_empty() => {
                Some((reader, state.keyed.as_slice()))
            }
            _ => None,
        };
        let job = ctx.job_id().to_string();
        Self::create(
            manager.backend_settings(),
            |dir| RocksDbInstance::new(dir, &job, operator_id, i),
            KeyGroupRange::for_operator_index(max_p, p, i),
            max_p,
            restore,
        )
    }

    pub fn key_group_of(&self, key: &K) -> usize {
        match self {
            KeyedStateBackend::Heap(h) => h.key_group_of(key),
            KeyedStateBackend::RocksDb(r) => r.key_group_of(key),
        }
    }

    pub fn max_parallelism(&self) -> usize {
        match self {
            KeyedStateBackend::Heap(h) => h.max_parallelism(),
            KeyedStateBackend::RocksDb(r) => r.max_parallelism(),
        }
    }

    pub fn key_group_range(&self) -> KeyGroupRange {
        match self {
            KeyedStateBackend::Heap(h) => h.key_group_range(),
            KeyedStateBackend::RocksDb(r) => r.key_group_range(),
        }
    }

    /// Runs `f` on the value of state `name` for (key, namespace).
    #[inline]
    pub fn get<N: Namespace, S: Clone + StateValue, R>(
        &mut self,
        name: &str,
        key: &K,
        key_group: usize,
        namespace: &N,
        f: impl FnOnce(Option<&S>) -> R,
    ) -> Result<R, StateError> {
        match self {
            KeyedStateBackend::Heap(h) => {
                Ok(f(h.table::<N, S>(name)?.get(key_group, key, namespace)))
            }
            KeyedStateBackend::RocksDb(r) => r.get(name, key, key_group, namespace, f),
        }
    }

    /// Runs `f` on the slot of (key, namespace) of state `name`: `None` when absent; leaving
    /// `None` removes the entry.
    #[inline]
    pub fn update<N: Namespace, S: Clone + StateValue, R>(
        &mut self,
        name: &str,
        key: &K,
        key_group: usize,
        namespace: &N,
        f: impl FnOnce(&mut Option<S>) -> R,
    ) -> Result<R, StateError> {
        match self {
            KeyedStateBackend::Heap(h) => {
                Ok(h.table::<N, S>(name)?.update(key_group, key, namespace, f))
            }
            KeyedStateBackend::RocksDb(r) => r.update(name, key, key_group, namespace, f),
        }
    }

    /// One state, resolved once for many accesses (a batch of records): on the heap its
    /// table, so each access is a single hash lookup.
    pub fn state<N: Namespace, S: Clone + StateValue>(
        &mut self,
        name: &'static str,
    ) -> Result<StateRef<'_, K, N, S>, StateError> {
        Ok(match self {
            KeyedStateBackend::Heap(h) => StateRef::Heap(h.table::<N, S>(name)?),
            KeyedStateBackend::RocksDb(r) => StateRef::RocksDb(r, name),
        })
    }

    /// Removes and returns the value of (key, namespace) of state `name`.
    pub fn take<N: Namespace, S: Clone + StateValue>(
        &mut self,
        name: &str,
        key: &K,
        key_group: usize,
        namespace: &N,
    ) -> Result<Option<S>, StateError> {
        self.update(name, key, key_group, namespace, |slot: &mut Option<S>| {
            slot.take()
        })
    }

    /// Sets (`Some`) or removes (`None`) the value of (key, namespace) of state `name`.
    pub fn put<N: Namespace, S: Clone + StateValue>(
        &mut self,
        name: &str,
        key: &K,
        key_group: usize,
        namespace: &N,
        value: Option<S>,
    ) -> Result<(), StateError> {
        self.update(name, key, key_group, namespace, |slot: &mut Option<S>| {
            *slot = value
        })
    }

    /// Removes every entry of state `name` and returns them (BATCH mode's final emission).
    pub fn drain<N: Namespace, S: Clone + StateValue>(
        &mut self,
        name: &str,
    ) -> Result<Vec<(K, N, S)>, StateError> {
        match self {
            KeyedStateBackend::Heap(h) => Ok(h.table::<N, S>(name)?.drain().collect()),
            KeyedStateBackend::RocksDb(r) => {
                let entries = r.entries::<N, S>(name)?;
                for (k, n, _) in &entries {
                    let kg = r.key_group_of(k);
                    r.update(name, k, kg, n, |slot: &mut Option<S>| *slot = None)?;
                }
                Ok(entries)
            }
        }
    }

    /// The synchronous part of a snapshot (a consistent copy on the heap, a RocksDB
    /// checkpoint on local disk); the returned writer does the rest on another thread.
    /// Savepoints are always written in the canonical format.
    pub fn snapshot(
        &mut self,
        checkpoint_id: u64,
        savepoint: bool,
    ) -> Result<Box<dyn KeyedSnapshotWriter>, StateError> {
        Ok(match self {
            KeyedStateBackend::Heap(h) => Box::new(h.snapshot()?),
            KeyedStateBackend::RocksDb(r) => Box::new(r.snapshot(checkpoint_id, savepoint)?),
        })
    }

    /// Keeps a write that failed where the caller could not return it (a user state handle);
    /// the operator fails with it after the user function returns ([`Self::take_failure`]).
    pub fn record_failure(&mut self, error: StateError) {
        let slot = match self {
            KeyedStateBackend::Heap(h) => &mut h.failure,
            KeyedStateBackend::RocksDb(r) => &mut r.failure,
        };
        slot.get_or_insert(error);
    }

    /// The first write that failed since the last call.
    pub fn take_failure(&mut self) -> Option<StateError> {
        match self {
            KeyedStateBackend::Heap(h) => h.failure.take(),
            KeyedStateBackend::RocksDb(r) => r.failure.take(),
        }
    }

    /// Checkpoint `checkpoint_id` completed (incremental bookkeeping).
    pub fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) {
        if let KeyedStateBackend::RocksDb(r) = self {
            r.notify_checkpoint_complete(checkpoint_id);
        }
    }

    /// Releases the backend's resources (RocksDB: closes it and removes its directory).
    pub fn dispose(&mut self) {
        if let KeyedStateBackend::RocksDb(r) = self {
            r.dispose();
        }
    }
}

/// One state of a backend, resolved for repeated access ([`KeyedStateBackend::state`]).
pub enum StateRef<'a, K, N, S> {
    Heap(&'a mut StateTable<K, N, S>),
    RocksDb(&'a mut RocksDbKeyedStateBackend<K>, &'static str),
}

impl<K: StateKey, N: Namespace, S: Clone + StateValue> StateRef<'_, K, N, S> {
    /// Like [`KeyedStateBackend::update`].
    #[inline]
    pub fn update<R>(
        &mut self,
        key: &K,
        key_group: usize,
        namespace: &N,
        f: impl FnOnce(&mut Option<S>) -> R,
    ) -> Result<R, StateError> {
        match self {
            StateRef::Heap(table) => Ok(table.update(key_group, key, namespace, f)),
            StateRef::RocksDb(r, name) => r.update(name, key, key_group, namespace, f),
        }
    }
}
