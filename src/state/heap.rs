//! The heap state backend (Flink's `HashMapStateBackend`): state objects in per-key-group hash
//! maps keyed by (key, namespace).

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use hashbrown::{Equivalent, HashMap};

use super::canonical::{self, CanonicalWriter, EncodedName};
use super::{StateKey, StateValue};
use crate::checkpoint::CheckpointError;
use crate::runtime::keygroup::{assign_to_key_group, KeyGroupRange};
use crate::util::hash::BuildStableHasher;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("could not snapshot state '{name}': {reason}")]
    Snapshot { name: String, reason: String },
    #[error("could not restore state '{name}': {reason}")]
    Restore { name: String, reason: String },
    #[error("state backend at '{path}' failed: {reason}")]
    Backend { path: String, reason: String },
    #[error("could not restore keyed state: {0}")]
    RestoreFiles(String),
    #[error("the state file '{path}' is damaged: {reason}")]
    Damaged { path: String, reason: String },
    #[error("state '{name}' is registered as {registered}, but was requested as {requested}")]
    TypeMismatch {
        name: String,
        registered: &'static str,
        requested: &'static str,
    },
}

/// Looks up `(K, N)` map entries from borrowed parts without cloning them.
struct KeyRef<'a, K, N>(&'a K, &'a N);

impl<K: Hash, N: Hash> Hash for KeyRef<'_, K, N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // Same order as the tuple's own Hash impl.
        self.0.hash(h);
        self.1.hash(h);
    }
}

impl<K: Eq, N: Eq> Equivalent<(K, N)> for KeyRef<'_, K, N> {
    fn equivalent(&self, key: &(K, N)) -> bool {
        *self.0 == key.0 && *self.1 == key.1
    }
}

/// One state's values: a map per key group of this subtask's range.
pub struct StateTable<K, N, S> {
    first_key_group: usize,
    groups: Vec<HashMap<(K, N), S, BuildStableHasher>>,
}

impl<K: StateKey, N: Hash + Eq + Clone, S> StateTable<K, N, S> {
    fn new(range: KeyGroupRange) -> Self {
        StateTable {
            first_key_group: range.start,
            groups: (0..range.len()).map(|_| HashMap::default()).collect(),
        }
    }

    fn group(&mut self, key_group: usize) -> &mut HashMap<(K, N), S, BuildStableHasher> {
        &mut self.groups[key_group - self.first_key_group]
    }

    pub fn get(&self, key_group: usize, key: &K, namespace: &N) -> Option<&S> {
        self.groups[key_group - self.first_key_group].get(&KeyRef(key, namespace))
    }

    pub fn get_mut(&mut self, key_group: usize, key: &K, namespace: &N) -> Option<&mut S> {
        self.group(key_group).get_mut(&KeyRef(key, namespace))
    }

    pub fn get_or_insert_with(
        &mut self,
        key_group: usize,
        key: &K,
        namespace: &N,
        init: impl FnOnce() -> S,
    ) -> &mut S {
        self.group(key_group)
            .entry_ref(&KeyRef(key, namespace))
            .or_insert_with(init)
    }

    pub fn insert(&mut self, key_group: usize, key: &K, namespace: &N, value: S) {
        self.group(key_group)
            .insert((key.clone(), namespace.clone()), value);
    }

    /// Runs `f` on the entry's slot: `None` when absent; leaving `None` removes it. One hash
    /// lookup, no copies (the heap path of `KeyedStateBackend::update`).
    pub fn update<R>(
        &mut self,
        key_group: usize,
        key: &K,
        namespace: &N,
        f: impl FnOnce(&mut Option<S>) -> R,
    ) -> R {
        use hashbrown::hash_map::EntryRef;
        match self.group(key_group).entry_ref(&KeyRef(key, namespace)) {
            EntryRef::Occupied(entry) => {
                let mut result = None;
                entry.replace_entry_with(|_, value| {
                    let mut slot = Some(value);
                    result = Some(f(&mut slot));
                    slot
                });
                match result {
                    Some(r) => r,
                    None => unreachable!("replace_entry_with always calls its closure"),
                }
            }
            EntryRef::Vacant(entry) => {
                let mut slot = None;
                let r = f(&mut slot);
                if let Some(value) = slot {
                    entry.insert(value);
                }
                r
            }
        }
    }

    pub fn remove(&mut self, key_group: usize, key: &K, namespace: &N) -> Option<S> {
        self.group(key_group).remove(&KeyRef(key, namespace))
    }

    /// Removes and returns every entry.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, N, S)> + '_ {
        self.groups
            .iter_mut()
            .flat_map(|g| g.drain().map(|((k, n), v)| (k, n, v)))
    }

    /// Number of (key, namespace) entries.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Lets `entry_ref` build the owned key only when it inserts.
impl<K: Clone, N: Clone> From<&KeyRef<'_, K, N>> for (K, N) {
    fn from(r: &KeyRef<'_, K, N>) -> Self {
        (r.0.clone(), r.1.clone())
    }
}

/// A state table's copy taken at the barrier, written out later on the snapshot thread.
trait TableSnapshot: Send {
    /// Appends the entries of `key_group` to `out`.
    fn write_group(
        &self,
        key_group: usize,
        out: &mut CanonicalWriter<'_>,
    ) -> Result<(), CheckpointError>;
}

/// Where a table's copy buffer (a type-erased `Vec<(K, N, S)>`) waits for the next snapshot
/// once the previous one is written out.
type CopyBuffer = Arc<Mutex<Option<Box<dyn Any + Send>>>>;
/// Copies a table (the synchronous part of a snapshot).
type CopyFn = fn(&dyn Any, &str, &CopyBuffer) -> Result<Box<dyn TableSnapshot>, String>;
/// Inserts restored canonical entries into a table.
type RestoreFn = fn(&mut dyn Any, &[RestoredEntry]) -> Result<(), String>;

struct RegisteredState {
    name: String,
    type_name: &'static str,
    table: Box<dyn Any + Send>,
    copy: CopyFn,
    copy_buffer: CopyBuffer,
}

fn lock_buffer(buffer: &CopyBuffer) -> std::sync::MutexGuard<'_, Option<Box<dyn Any + Send>>> {
    buffer.lock().unwrap_or_else(|e| e.into_inner())
}

/// A consistent copy of one state table: its entries in one flat vector, key group after key
/// group. Cheaper than cloning the hash tables (no empty buckets, no control bytes, written
/// sequentially), and the vector goes back to the table when the snapshot is written, so
/// the next checkpoint copies into memory that is already mapped instead of faulting in
/// fresh pages at the barrier.
struct TableCopy<K: StateValue, N: StateValue, S: StateValue> {
    name: String,
    encoded_name: EncodedName,
    first_key_group: usize,
    entries: Vec<(K, N, S)>,
    /// `ends[i]`: where key group `first_key_group + i` ends in `entries`.
    ends: Vec<usize>,
    buffer: CopyBuffer,
}

fn copy_table<K: StateKey, N: Hash + Eq + Clone + StateValue, S: Clone + StateValue>(
    table: &dyn Any,
    name: &str,
    buffer: &CopyBuffer,
) -> Result<Box<dyn TableSnapshot>, String> {
    let table = table
        .downcast_ref::<StateTable<K, N, S>>()
        .ok_or("internal error: state table of another type")?;
    let len = table.len();
    // The previous snapshot's vector, unless the state shrank to far less than it holds.
    let mut entries = lock_buffer(buffer)
        .take()
        .and_then(|b| b.downcast::<Vec<(K, N, S)>>().ok())
        .map(|b| *b)
        .filter(|v| v.capacity() <= 2 * len.max(1024))
        .unwrap_or_default();
    entries.clear();
    entries.reserve(len);
    let mut ends = Vec::with_capacity(table.groups.len());
    for group in &table.groups {
        entries.extend(
            group
                .iter()
                .map(|((k, n), v)| (k.clone(), n.clone(), v.clone())),
        );
        ends.push(entries.len());
    }
    Ok(Box::new(TableCopy {
        name: name.to_string(),
        encoded_name: EncodedName::new(name)?,
        first_key_group: table.first_key_group,
        entries,
        ends,
        buffer: buffer.clone(),
    }))
}

impl<K: StateValue, N: StateValue, S: StateValue> TableSnapshot for TableCopy<K, N, S> {
    fn write_group(
        &self,
        key_group: usize,
        out: &mut CanonicalWriter<'_>,
    ) -> Result<(), CheckpointError> {
        let i = key_group - self.first_key_group;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        for (k, n, v) in &self.entries[start..self.ends[i]] {
            canonical::write_typed_entry(&mut out.buffer, &self.encoded_name, k, n, v)
                .map_err(|reason| snapshot_failed(&self.name, reason))?;
            out.spill_if_full()?;
        }
        Ok(())
    }
}

impl<K: StateValue, N: StateValue, S: StateValue> Drop for TableCopy<K, N, S> {
    /// Hands the (emptied) vector back for the next snapshot.
    fn drop(&mut self) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        if entries.capacity() > 0 {
            *lock_buffer(&self.buffer) = Some(Box::new(entries));
        }
    }
}

fn snapshot_failed(name: &str, reason: String) -> CheckpointError {
    CheckpointError::Encode {
        path: name.to_string(),
        reason: StateError::Snapshot {
            name: name.to_string(),
            reason,
        }
        .to_string(),
    }
}

fn restore_entries<K: StateKey, N: Hash + Eq + Clone + StateValue, S: Clone + StateValue>(
    table: &mut dyn Any,
    entries: &[RestoredEntry],
) -> Result<(), String> {
    let table = table
        .downcast_mut::<StateTable<K, N, S>>()
        .ok_or("internal error: state table of another type")?;
    for e in entries {
        let (k, _) = canonical::decode::<K>(&e.key, "a key")?;
        let (n, _) = canonical::decode::<N>(&e.namespace, "a namespace")?;
        let (v, _) = canonical::decode::<S>(&e.value, "a value")?;
        table.group(e.key_group).insert((k, n), v);
    }
    Ok(())
}

/// A restored entry of a state whose types are not known yet (not registered since restore).
#[derive(Clone)]
pub(crate) struct RestoredEntry {
    key_group: usize,
    key: Vec<u8>,
    namespace: Vec<u8>,
    value: Vec<u8>,
}

fn find_or_register<'a, K: StateKey, N: Hash + Eq + Clone + StateValue, S: Clone + StateValue>(
    states: &'a mut Vec<RegisteredState>,
    pending: &mut HashMap<String, Vec<RestoredEntry>, BuildStableHasher>,
    range: KeyGroupRange,
    name: &str,
) -> Result<&'a mut StateTable<K, N, S>, StateError> {
    let requested = std::any::type_name::<StateTable<K, N, S>>();
    let index = match states.iter().position(|s| s.name == name) {
        Some(i) => i,
        None => {
            let mut table = StateTable::<K, N, S>::new(range);
            // State restored from a snapshot becomes readable once its types are known.
            let restore: RestoreFn = restore_entries::<K, N, S>;
            if let Some(entries) = pending.remove(name) {
                restore(&mut table, &entries).map_err(|reason| StateError::Restore {
                    name: name.to_string(),
                    reason,
                })?;
            }
            states.push(RegisteredState {
                name: name.to_string(),
                type_name: requested,
                table: Box::new(table),
                copy: copy_table::<K, N, S>,
                copy_buffer: CopyBuffer::default(),
            });
            states.len() - 1
        }
    };
    let state = &mut states[index];
    let registered = state.type_name;
    state
        .table
        .downcast_mut::<StateTable<K, N, S>>()
        .ok_or_else(|| StateError::TypeMismatch {
            name: name.to_string(),
            registered,
            requested,
        })
}

/// The keyed state of one keyed operator subtask, as objects in memory.
pub struct HeapKeyedStateBackend<K> {
    range: KeyGroupRange,
    max_parallelism: usize,
    states: Vec<RegisteredState>,
    /// Restored state of names not registered yet.
    pending: HashMap<String, Vec<RestoredEntry>, BuildStableHasher>,
    pub(crate) failure: Option<StateError>,
    _key: std::marker::PhantomData<fn() -> K>,
}

impl<K: StateKey> HeapKeyedStateBackend<K> {
    pub fn new(range: KeyGroupRange, max_parallelism: usize) -> Self {
        HeapKeyedStateBackend {
            range,
            max_parallelism,
            states: Vec::new(),
            pending: HashMap::default(),
            failure: None,
            _key: std::marker::PhantomData,
        }
    }

    /// The backend of the subtask `ctx` runs: its key-group range under its max parallelism.
    pub fn for_subtask(ctx: &crate::api::functions::RuntimeContext) -> Self {
        let (max_p, p, i) = (
            ctx.max_number_of_parallel_subtasks(),
            ctx.number_of_parallel_subtasks(),
            ctx.index_of_this_subtask(),
        );
        Self::new(KeyGroupRange::for_operator_index(max_p, p, i), max_p)
    }

    /// The key group a key belongs to.
    pub fn key_group_of(&self, key: &K) -> usize {
        assign_to_key_group(key, self.max_parallelism)
    }

    pub fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    pub fn max_parallelism(&self) -> usize {
        self.max_parallelism
    }

    /// The synchronous part of a snapshot: a copy of every state table (a consistent view;
    /// encoding it in the canonical format and writing it out happen later, on another
    /// thread, in [`crate::state::KeyedSnapshotWriter::write`]).
    pub fn snapshot(&self) -> Result<HeapSnapshot, StateError> {
        let mut tables = Vec::with_capacity(self.states.len());
        for state in &self.states {
            let copy = (state.copy)(state.table.as_ref(), &state.name, &state.copy_buffer)
                .map_err(|reason| StateError::Snapshot {
                    name: state.name.clone(),
                    reason,
                })?;
            tables.push(copy);
        }
        Ok(HeapSnapshot {
            range: self.range,
            tables,
            pending: self
                .pending
                .iter()
                .map(|(name, entries)| (name.clone(), entries.clone()))
                .collect(),
        })
    }

    /// Takes over the entries of this backend's key groups from canonical snapshots of any
    /// parallelism (rescaling); each state becomes readable when first asked for by name.
    pub fn restore_entry(&mut self, entry: canonical::Entry<'_>) {
        if !self.range.contains(entry.key_group) {
            return;
        }
        self.pending
            .entry_ref(entry.state)
            .or_default()
            .push(RestoredEntry {
                key_group: entry.key_group,
                key: entry.key.to_vec(),
                namespace: entry.namespace.to_vec(),
                value: entry.value.to_vec(),
            });
    }

    /// The table of state `name` holding `S` per (key, namespace), created on first use.
    pub fn table<N: Hash + Eq + Clone + StateValue, S: Clone + StateValue>(
        &mut self,
        name: &str,
    ) -> Result<&mut StateTable<K, N, S>, StateError> {
        find_or_register(&mut self.states, &mut self.pending, self.range, name)
    }
}

/// A heap snapshot after its synchronous part: copies of the state tables.
pub struct HeapSnapshot {
    range: KeyGroupRange,
    tables: Vec<Box<dyn TableSnapshot>>,
    /// Restored state not registered since.
    pending: Vec<(String, Vec<RestoredEntry>)>,
}

impl crate::state::KeyedSnapshotWriter for HeapSnapshot {
    /// Encodes the copies in the canonical format, key group by key group, streaming them
    /// to the state file.
    fn write(
        self: Box<Self>,
        location: &crate::checkpoint::SnapshotLocation,
        name: &str,
    ) -> Result<Vec<crate::checkpoint::KeyedStateHandle>, CheckpointError> {
        let mut out = CanonicalWriter::new(self.range, location, name);
        for key_group in self.range.start..=self.range.end {
            out.start_group()?;
            for table in &self.tables {
                table.write_group(key_group, &mut out)?;
            }
            // State restored but never touched since is still part of this subtask's state.
            for (state, entries) in &self.pending {
                for e in entries.iter().filter(|e| e.key_group == key_group) {
                    out.entry(state, &e.key, &e.namespace, &e.value)
                        .map_err(|reason| snapshot_failed(state, reason))?;
                    out.spill_if_full()?;
                }
            }
        }
        if out.is_empty() {
            return Ok(Vec::new());
        }
        out.finish().map(|handle| vec![handle])
    }
}
