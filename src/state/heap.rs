//! The heap state backend (Flink's `HashMapStateBackend`): state objects in per-key-group hash
//! maps keyed by (key, namespace).

use std::any::Any;
use std::hash::{Hash, Hasher};

use hashbrown::{Equivalent, HashMap};

use super::descriptor::{ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor};
use super::{StateKey, StateValue};
use crate::runtime::keygroup::{assign_to_key_group, KeyGroupRange};
use crate::util::hash::{BuildStableHasher, StableHashMap};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("could not snapshot state '{name}': {reason}")]
    Snapshot { name: String, reason: String },
    #[error("could not restore state '{name}': {reason}")]
    Restore { name: String, reason: String },
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

    pub fn remove(&mut self, key_group: usize, key: &K, namespace: &N) -> Option<S> {
        self.group(key_group).remove(&KeyRef(key, namespace))
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

/// Encodes one key group of a table: `(key, namespace, value)` entries.
type SnapshotFn = fn(&dyn Any, usize) -> Result<Vec<u8>, String>;

struct RegisteredState {
    name: String,
    type_name: &'static str,
    table: Box<dyn Any + Send>,
    snapshot: SnapshotFn,
}

fn codec() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn snapshot_group<K: StateKey, N: Hash + Eq + Clone + StateValue, S: StateValue>(
    table: &dyn Any,
    key_group: usize,
) -> Result<Vec<u8>, String> {
    let table = table
        .downcast_ref::<StateTable<K, N, S>>()
        .ok_or("internal error: state table of another type")?;
    let entries: Vec<(&K, &N, &S)> = table.groups[key_group - table.first_key_group]
        .iter()
        .map(|((k, n), v)| (k, n, v))
        .collect();
    bincode::serde::encode_to_vec(&entries, codec())
        .map_err(|e| format!("could not serialise state: {e}"))
}

fn restore_group<K: StateKey, N: Hash + Eq + Clone + StateValue, S: StateValue>(
    table: &mut StateTable<K, N, S>,
    key_group: usize,
    bytes: &[u8],
) -> Result<(), String> {
    let (entries, _): (Vec<(K, N, S)>, usize) =
        bincode::serde::decode_from_slice(bytes, codec())
            .map_err(|e| format!("could not deserialise state of key group {key_group}: {e}"))?;
    let group = table.group(key_group);
    for (k, n, v) in entries {
        group.insert((k, n), v);
    }
    Ok(())
}

fn find_or_register<'a, K: StateKey, N: Hash + Eq + Clone + StateValue, S: StateValue>(
    states: &'a mut Vec<RegisteredState>,
    pending: &mut HashMap<String, Vec<KeyGroupBytes>, BuildStableHasher>,
    range: KeyGroupRange,
    name: &str,
) -> Result<&'a mut StateTable<K, N, S>, StateError> {
    let requested = std::any::type_name::<StateTable<K, N, S>>();
    let index = match states.iter().position(|s| s.name == name) {
        Some(i) => i,
        None => {
            let mut table = StateTable::<K, N, S>::new(range);
            // State restored from a snapshot becomes readable once its types are known.
            for (key_group, bytes) in pending.remove(name).unwrap_or_default() {
                if range.contains(key_group) {
                    restore_group(&mut table, key_group, &bytes).map_err(|reason| {
                        StateError::Restore {
                            name: name.to_string(),
                            reason,
                        }
                    })?;
                }
            }
            states.push(RegisteredState {
                name: name.to_string(),
                type_name: requested,
                table: Box::new(table),
                snapshot: snapshot_group::<K, N, S>,
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

/// One key group's encoded entries of one state.
pub type KeyGroupBytes = (usize, Vec<u8>);

/// A keyed state backend's state, per state name and key group, ready to be written to a
/// checkpoint and restored at any parallelism (key groups are redistributed by range).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyedStateSnapshot {
    pub key_groups: KeyGroupRange,
    /// (state name, its key groups).
    pub states: Vec<(String, Vec<KeyGroupBytes>)>,
}

/// The keyed state of one keyed operator subtask.
pub struct HeapKeyedStateBackend<K> {
    range: KeyGroupRange,
    max_parallelism: usize,
    states: Vec<RegisteredState>,
    /// Restored state of names not registered yet, by key group.
    pending: HashMap<String, Vec<KeyGroupBytes>, BuildStableHasher>,
    _key: std::marker::PhantomData<fn() -> K>,
}

impl<K: StateKey> HeapKeyedStateBackend<K> {
    pub fn new(range: KeyGroupRange, max_parallelism: usize) -> Self {
        HeapKeyedStateBackend {
            range,
            max_parallelism,
            states: Vec::new(),
            pending: HashMap::default(),
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

    /// Every state of this backend, per key group. Synchronous and a full copy for now; the
    /// asynchronous copy-on-write variant comes with the checkpoint coordinator.
    pub fn snapshot(&self) -> Result<KeyedStateSnapshot, StateError> {
        let mut states = Vec::new();
        for state in &self.states {
            let mut groups = Vec::new();
            for key_group in self.range.start..=self.range.end {
                let bytes =
                    (state.snapshot)(state.table.as_ref(), key_group).map_err(|reason| {
                        StateError::Snapshot {
                            name: state.name.clone(),
                            reason,
                        }
                    })?;
                groups.push((key_group, bytes));
            }
            states.push((state.name.clone(), groups));
        }
        // State restored but never touched since is still part of this subtask's state.
        for (name, groups) in &self.pending {
            states.push((name.clone(), groups.clone()));
        }
        Ok(KeyedStateSnapshot {
            key_groups: self.range,
            states,
        })
    }

    /// Takes over the key groups of this backend's range from snapshots of any parallelism
    /// (rescaling); each state becomes readable when the operator first asks for it by name.
    pub fn restore(&mut self, snapshots: &[KeyedStateSnapshot]) {
        for snapshot in snapshots {
            for (name, groups) in &snapshot.states {
                let mine = groups
                    .iter()
                    .filter(|(kg, _)| self.range.contains(*kg))
                    .cloned();
                self.pending.entry(name.clone()).or_default().extend(mine);
            }
        }
    }

    pub fn max_parallelism(&self) -> usize {
        self.max_parallelism
    }

    /// The table of state `name` holding `S` per (key, namespace), created on first use.
    pub fn table<N: Hash + Eq + Clone + StateValue, S: StateValue>(
        &mut self,
        name: &str,
    ) -> Result<&mut StateTable<K, N, S>, StateError> {
        find_or_register(&mut self.states, &mut self.pending, self.range, name)
    }

    /// `key`'s value state in namespace `ns`.
    pub fn value_state<'a, N: Hash + Eq + Clone + StateValue, V: Clone + StateValue>(
        &'a mut self,
        key: &'a K,
        key_group: usize,
        descriptor: &'a ValueStateDescriptor<V>,
        ns: &'a N,
    ) -> Result<ValueState<'a, K, N, V>, StateError> {
        let table = self.table::<N, V>(&descriptor.name)?;
        Ok(ValueState {
            table,
            key,
            key_group,
            ns,
            default: descriptor.default.as_ref(),
        })
    }

    /// `key`'s list state in namespace `ns`.
    pub fn list_state<'a, N: Hash + Eq + Clone + StateValue, V: StateValue>(
        &'a mut self,
        key: &'a K,
        key_group: usize,
        descriptor: &ListStateDescriptor<V>,
        ns: &'a N,
    ) -> Result<ListState<'a, K, N, V>, StateError> {
        let table = self.table::<N, Vec<V>>(&descriptor.name)?;
        Ok(ListState {
            table,
            key,
            key_group,
            ns,
        })
    }

    /// `key`'s map state in namespace `ns`.
    pub fn map_state<
        'a,
        N: Hash + Eq + Clone + StateValue,
        UK: Hash + Eq + StateValue,
        UV: StateValue,
    >(
        &'a mut self,
        key: &'a K,
        key_group: usize,
        descriptor: &MapStateDescriptor<UK, UV>,
        ns: &'a N,
    ) -> Result<MapState<'a, K, N, UK, UV>, StateError> {
        let table = self.table::<N, StableHashMap<UK, UV>>(&descriptor.name)?;
        Ok(MapState {
            table,
            key,
            key_group,
            ns,
        })
    }
}

/// One value for the current key (Flink's `ValueState`).
pub struct ValueState<'a, K, N, V> {
    table: &'a mut StateTable<K, N, V>,
    key: &'a K,
    key_group: usize,
    ns: &'a N,
    default: Option<&'a V>,
}

impl<K: StateKey, N: Hash + Eq + Clone, V: Clone> ValueState<'_, K, N, V> {
    /// The value, or the descriptor's default, or `None`.
    pub fn value(&self) -> Option<V> {
        self.table
            .get(self.key_group, self.key, self.ns)
            .or(self.default)
            .cloned()
    }
    pub fn update(&mut self, value: V) {
        match self.table.get_mut(self.key_group, self.key, self.ns) {
            Some(slot) => *slot = value,
            None => self.table.insert(self.key_group, self.key, self.ns, value),
        }
    }
    pub fn clear(&mut self) {
        self.table.remove(self.key_group, self.key, self.ns);
    }
}

/// A list of values for the current key (Flink's `ListState`).
pub struct ListState<'a, K, N, V> {
    table: &'a mut StateTable<K, N, Vec<V>>,
    key: &'a K,
    key_group: usize,
    ns: &'a N,
}

impl<K: StateKey, N: Hash + Eq + Clone, V> ListState<'_, K, N, V> {
    /// The values, in the order they were added (empty if none).
    pub fn get(&self) -> &[V] {
        self.table
            .get(self.key_group, self.key, self.ns)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    pub fn add(&mut self, value: V) {
        self.table
            .get_or_insert_with(self.key_group, self.key, self.ns, Vec::new)
            .push(value);
    }
    pub fn update(&mut self, values: Vec<V>) {
        if values.is_empty() {
            self.clear();
        } else {
            self.table.insert(self.key_group, self.key, self.ns, values);
        }
    }
    /// Removes and returns the values.
    pub fn take(&mut self) -> Vec<V> {
        self.table
            .remove(self.key_group, self.key, self.ns)
            .unwrap_or_default()
    }
    pub fn clear(&mut self) {
        self.table.remove(self.key_group, self.key, self.ns);
    }
}

/// A map for the current key (Flink's `MapState`).
pub struct MapState<'a, K, N, UK, UV> {
    table: &'a mut StateTable<K, N, StableHashMap<UK, UV>>,
    key: &'a K,
    key_group: usize,
    ns: &'a N,
}

impl<K: StateKey, N: Hash + Eq + Clone, UK: Hash + Eq, UV> MapState<'_, K, N, UK, UV> {
    pub fn get(&self, user_key: &UK) -> Option<&UV> {
        self.table
            .get(self.key_group, self.key, self.ns)
            .and_then(|m| m.get(user_key))
    }
    pub fn put(&mut self, user_key: UK, value: UV) {
        self.table
            .get_or_insert_with(self.key_group, self.key, self.ns, StableHashMap::default)
            .insert(user_key, value);
    }
    pub fn remove(&mut self, user_key: &UK) -> Option<UV> {
        let map = self.table.get_mut(self.key_group, self.key, self.ns)?;
        let removed = map.remove(user_key);
        if map.is_empty() {
            self.table.remove(self.key_group, self.key, self.ns);
        }
        removed
    }
    pub fn contains(&self, user_key: &UK) -> bool {
        self.get(user_key).is_some()
    }
    pub fn entries(&self) -> impl Iterator<Item = (&UK, &UV)> {
        self.table
            .get(self.key_group, self.key, self.ns)
            .into_iter()
            .flat_map(|m| m.iter())
    }
    pub fn clear(&mut self) {
        self.table.remove(self.key_group, self.key, self.ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> HeapKeyedStateBackend<String> {
        HeapKeyedStateBackend::new(KeyGroupRange::for_operator_index(128, 1, 0), 128)
    }

    #[test]
    fn value_state_is_scoped_to_the_key_and_namespace() {
        let mut b = backend();
        let count = ValueStateDescriptor::<i64>::new("count").with_default(0);
        let (a, k) = ("a".to_string(), "b".to_string());
        let (ga, gk) = (b.key_group_of(&a), b.key_group_of(&k));
        assert_eq!(b.value_state(&a, ga, &count, &()).unwrap().value(), Some(0));
        b.value_state(&a, ga, &count, &()).unwrap().update(5);
        assert_eq!(b.value_state(&k, gk, &count, &()).unwrap().value(), Some(0));
        b.value_state(&k, gk, &count, &()).unwrap().update(7);
        assert_eq!(b.value_state(&a, ga, &count, &()).unwrap().value(), Some(5));
        b.value_state(&a, ga, &count, &()).unwrap().clear();
        assert_eq!(b.value_state(&a, ga, &count, &()).unwrap().value(), Some(0));
        assert_eq!(b.value_state(&k, gk, &count, &()).unwrap().value(), Some(7));
    }

    #[test]
    fn list_and_map_state_keep_values_per_key_and_namespace() {
        let mut b = backend();
        let list = ListStateDescriptor::<i32>::new("list");
        let map = MapStateDescriptor::<String, i32>::new("map");
        let key = "k".to_string();
        let g = b.key_group_of(&key);
        b.list_state(&key, g, &list, &1u8).unwrap().add(1);
        b.list_state(&key, g, &list, &1u8).unwrap().add(2);
        b.list_state(&key, g, &list, &2u8).unwrap().add(9);
        assert_eq!(b.list_state(&key, g, &list, &1u8).unwrap().get(), &[1, 2]);
        assert_eq!(b.list_state(&key, g, &list, &2u8).unwrap().take(), vec![9]);
        assert!(b.list_state(&key, g, &list, &2u8).unwrap().get().is_empty());
        b.map_state(&key, g, &map, &()).unwrap().put("x".into(), 1);
        assert_eq!(
            b.map_state(&key, g, &map, &()).unwrap().get(&"x".into()),
            Some(&1)
        );
        assert_eq!(
            b.map_state(&key, g, &map, &()).unwrap().remove(&"x".into()),
            Some(1)
        );
        assert_eq!(
            b.map_state(&key, g, &map, &()).unwrap().entries().count(),
            0
        );
    }

    #[test]
    fn a_state_name_used_with_two_types_is_an_error() {
        let mut b = backend();
        let key = "k".to_string();
        let g = b.key_group_of(&key);
        b.value_state(&key, g, &ValueStateDescriptor::<i64>::new("s"), &())
            .unwrap()
            .update(1);
        let err = b
            .value_state(&key, g, &ValueStateDescriptor::<String>::new("s"), &())
            .err()
            .unwrap();
        assert!(
            matches!(err, StateError::TypeMismatch { ref name, .. } if name == "s"),
            "{err}"
        );
    }

    /// One subtask's backend of a job with `parallelism` subtasks.
    fn subtask(index: usize, parallelism: usize) -> HeapKeyedStateBackend<String> {
        HeapKeyedStateBackend::new(
            KeyGroupRange::for_operator_index(128, parallelism, index),
            128,
        )
    }

    fn owner(key: &String, parallelism: usize) -> usize {
        crate::runtime::keygroup::assign_key_to_operator(key, 128, parallelism)
    }

    #[test]
    fn snapshots_restore_every_key_at_another_parallelism() {
        let counts = ValueStateDescriptor::<i64>::new("count");
        let seen = ListStateDescriptor::<String>::new("seen");
        let keys: Vec<String> = (0..500).map(|i| format!("key-{i}")).collect();
        // Parallelism 2: each key's state lives in the subtask owning its key group.
        let mut two: Vec<_> = (0..2).map(|i| subtask(i, 2)).collect();
        for (i, key) in keys.iter().enumerate() {
            let b = &mut two[owner(key, 2)];
            let g = b.key_group_of(key);
            b.value_state(key, g, &counts, &())
                .unwrap()
                .update(i as i64);
            b.list_state(key, g, &seen, &())
                .unwrap()
                .add(format!("v{i}"));
        }
        let snapshots: Vec<_> = two.iter().map(|b| b.snapshot().unwrap()).collect();
        // Rescale 2 -> 3 -> 1; every key keeps its state.
        for parallelism in [3, 1] {
            let mut restored: Vec<_> = (0..parallelism).map(|i| subtask(i, parallelism)).collect();
            for b in &mut restored {
                b.restore(&snapshots);
            }
            for (i, key) in keys.iter().enumerate() {
                let b = &mut restored[owner(key, parallelism)];
                let g = b.key_group_of(key);
                assert_eq!(
                    b.value_state(key, g, &counts, &()).unwrap().value(),
                    Some(i as i64),
                    "{key} at parallelism {parallelism}"
                );
                assert_eq!(
                    b.list_state(key, g, &seen, &()).unwrap().get(),
                    &[format!("v{i}")]
                );
            }
            // A snapshot of restored-but-unread state still contains it.
            let mut untouched = subtask(0, 1);
            untouched.restore(&snapshots);
            let again = untouched.snapshot().unwrap();
            let mut fresh = subtask(0, 1);
            fresh.restore(&[again]);
            let g = fresh.key_group_of(&keys[7]);
            assert_eq!(
                fresh
                    .value_state(&keys[7], g, &counts, &())
                    .unwrap()
                    .value(),
                Some(7)
            );
        }
    }
}
