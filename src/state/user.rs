//! The state types user functions get for the current key (Flink's `ValueState`, `ListState`,
//! `MapState`, `ReducingState`, `AggregatingState`), on either backend, with optional TTL.
//!
//! A handle reads its value once, when the function asks the context for it. On the heap
//! without TTL it borrows the object in place; otherwise (RocksDB, or TTL) it holds a copy and
//! writes every change through to the backend. A write the backend refuses (a RocksDB I/O
//! error) is kept in the backend and fails the operator after the function returns.

use std::hash::Hash;

use super::backend::{KeyedStateBackend, Namespace};
use super::descriptor::{
    AggregatingStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
    ValueStateDescriptor,
};
use super::heap::{StateError, StateTable};
use super::ttl::{StateTtlConfig, StateVisibility, TtlValue, UpdateType};
use super::{StateKey, StateValue};
use crate::util::hash::StableHashMap;

/// Where a handle's value lives.
enum Slot<'a, K, N, S> {
    /// Heap backend without TTL: the object in place.
    Heap {
        table: &'a mut StateTable<K, N, S>,
        key: &'a K,
        key_group: usize,
        namespace: &'a N,
    },
    /// A copy, written through on every change.
    Copy {
        backend: &'a mut KeyedStateBackend<K>,
        name: &'a str,
        key: &'a K,
        key_group: usize,
        namespace: &'a N,
        ttl: Option<&'a StateTtlConfig>,
        value: Option<S>,
    },
}

impl<'a, K: StateKey, N: Namespace, S: StateValue + Clone> Slot<'a, K, N, S> {
    fn open(
        backend: &'a mut KeyedStateBackend<K>,
        name: &'a str,
        key: &'a K,
        key_group: usize,
        namespace: &'a N,
        ttl: Option<&'a StateTtlConfig>,
    ) -> Result<Self, StateError> {
        if ttl.is_none() {
            if let KeyedStateBackend::Heap(heap) = backend {
                return Ok(Slot::Heap {
                    table: heap.table::<N, S>(name)?,
                    key,
                    key_group,
                    namespace,
                });
            }
        }
        let value = match ttl {
            None => backend.get(name, key, key_group, namespace, |v: Option<&S>| v.cloned())?,
            Some(ttl) => {
                let now = ttl.now();
                backend.update(name, key, key_group, namespace, |slot| {
                    ttl_read(ttl, now, slot)
                })?
            }
        };
        Ok(Slot::Copy {
            backend,
            name,
            key,
            key_group,
            namespace,
            ttl,
            value,
        })
    }

    fn get(&self) -> Option<&S> {
        match self {
            Slot::Heap {
                table,
                key,
                key_group,
                namespace,
            } => table.get(*key_group, key, namespace),
            Slot::Copy { value, .. } => value.as_ref(),
        }
    }

    fn modify<R>(&mut self, f: impl FnOnce(&mut Option<S>) -> R) -> R {
        match self {
            Slot::Heap {
                table,
                key,
                key_group,
                namespace,
            } => table.update(*key_group, key, namespace, f),
            Slot::Copy {
                backend,
                name,
                key,
                key_group,
                namespace,
                ttl,
                value,
            } => {
                let result = f(value);
                let written = match ttl {
                    None => backend.put(name, key, *key_group, *namespace, value.clone()),
                    Some(ttl) => {
                        let stored = value.clone().map(|value| TtlValue {
                            value,
                            last_access: ttl.now(),
                        });
                        backend.put(name, key, *key_group, *namespace, stored)
                    }
                };
                if let Err(e) = written {
                    backend.record_failure(e);
                }
                result
            }
        }
    }
}

/// Reads a TTL value: removes it when expired (returning it once if the visibility allows),
/// refreshes its time on `OnReadAndWrite`.
fn ttl_read<S: Clone>(ttl: &StateTtlConfig, now: i64, slot: &mut Option<TtlValue<S>>) -> Option<S> {
    let stored = slot.as_mut()?;
    if ttl.is_expired(stored.last_access, now) {
        let expired = slot.take().map(|v| v.value);
        return match ttl.visibility {
            StateVisibility::NeverReturnExpired => None,
            StateVisibility::ReturnExpiredIfNotCleanedUp => expired,
        };
    }
    if ttl.update_type == UpdateType::OnReadAndWrite {
        stored.last_access = now;
    }
    Some(stored.value.clone())
}

/// One value for the current key (Flink's `ValueState`).
pub struct ValueState<'a, K, N, V> {
    slot: Slot<'a, K, N, V>,
    default: Option<&'a V>,
}

impl<'a, K: StateKey, N: Namespace, V: Clone + StateValue> ValueState<'a, K, N, V> {
    pub(crate) fn open(
        backend: &'a mut KeyedStateBackend<K>,
        key: &'a K,
        key_group: usize,
        descriptor: &'a ValueStateDescriptor<V>,
        namespace: &'a N,
    ) -> Result<Self, StateError> {
        Ok(ValueState {
            slot: Slot::open(
                backend,
                &descriptor.name,
                key,
                key_group,
                namespace,
                descriptor.ttl.as_ref(),
            )?,
            default: descriptor.default.as_ref(),
        })
    }

    /// The value, or the descriptor's default, or `None`.
    pub fn value(&self) -> Option<V> {
        self.slot.get().or(self.default).cloned()
    }
    pub fn update(&mut self, value: V) {
        self.slot.modify(|slot| *slot = Some(value));
    }
    pub fn clear(&mut self) {
        self.slot.modify(|slot| *slot = None);
    }
}

/// A list of values for the current key (Flink's `ListState`).
pub struct ListState<'a, K, N, V> {
    slot: Slot<'a, K, N, Vec<V>>,
}

impl<'a, K: StateKey, N: Namespace, V: Clone + StateValue> ListState<'a, K, N, V> {
    pub(crate) fn open(
        backend: &'a mut KeyedStateBackend<K>,
        key: &'a K,
        key_group: usize,
        descriptor: &'a ListStateDescriptor<V>,
        namespace: &'a N,
    ) -> Result<Self, StateError> {
        let ttl = descriptor.ttl.as_ref();
        Ok(ListState {
            slot: Slot::open(backend, &descriptor.name, key, key_group, namespace, ttl)?,
        })
    }

    /// The values, in the order they were added (empty if none).
    pub fn get(&self) -> &[V] {
        self.slot.get().map(Vec::as_slice).unwrap_or(&[])
    }
    pub fn add(&mut self, value: V) {
        self.slot
            .modify(|slot| slot.get_or_insert_with(Vec::new).push(value));
    }
    pub fn update(&mut self, values: Vec<V>) {
        self.slot
            .modify(|slot| *slot = (!values.is_empty()).then_some(values));
    }
    /// Removes and returns the values.
    pub fn take(&mut self) -> Vec<V> {
        self.slot.modify(|slot| slot.take()).unwrap_or_default()
    }
    pub fn clear(&mut self) {
        self.slot.modify(|slot| *slot = None);
    }
}

/// A map for the current key (Flink's `MapState`). With TTL, the map expires as a whole.
pub struct MapState<'a, K, N, UK, UV> {
    slot: Slot<'a, K, N, StableHashMap<UK, UV>>,
}

impl<'a, K: StateKey, N: Namespace, UK, UV> MapState<'a, K, N, UK, UV>
where
    UK: Hash + Eq + Clone + StateValue,
    UV: Clone + StateValue,
{
    pub(crate) fn open(
        backend: &'a mut KeyedStateBackend<K>,
        key: &'a K,
        key_group: usize,
        descriptor: &'a MapStateDescriptor<UK, UV>,
        namespace: &'a N,
    ) -> Result<Self, StateError> {
        let ttl = descriptor.ttl.as_ref();
        Ok(MapState {
            slot: Slot::open(backend, &descriptor.name, key, key_group, namespace, ttl)?,
        })
    }

    pub fn get(&self, user_key: &UK) -> Option<&UV> {
        self.slot.get().and_then(|m| m.get(user_key))
    }
    pub fn put(&mut self, user_key: UK, value: UV) {
        self.slot.modify(|slot| {
            slot.get_or_insert_with(StableHashMap::default)
                .insert(user_key, value);
        });
    }
    pub fn remove(&mut self, user_key: &UK) -> Option<UV> {
        self.slot.get()?.get(user_key)?;
        self.slot.modify(|slot| {
            let map = slot.as_mut()?;
            let removed = map.remove(user_key);
            if map.is_empty() {
                *slot = None;
            }
            removed
        })
    }
    pub fn contains(&self, user_key: &UK) -> bool {
        self.get(user_key).is_some()
    }
    pub fn entries(&self) -> impl Iterator<Item = (&UK, &UV)> {
        self.slot.get().into_iter().flat_map(|m| m.iter())
    }
    pub fn clear(&mut self) {
        self.slot.modify(|slot| *slot = None);
    }
}

/// A value every added value is reduced into (Flink's `ReducingState`).
pub struct ReducingState<'a, K, N, V> {
    slot: Slot<'a, K, N, V>,
    descriptor: &'a ReducingStateDescriptor<V>,
}

impl<'a, K: StateKey, N: Namespace, V: Clone + StateValue> ReducingState<'a, K, N, V> {
    pub(crate) fn open(
        backend: &'a mut KeyedStateBackend<K>,
        key: &'a K,
        key_group: usize,
        descriptor: &'a ReducingStateDescriptor<V>,
        namespace: &'a N,
    ) -> Result<Self, StateError> {
        let ttl = descriptor.ttl.as_ref();
        Ok(ReducingState {
            slot: Slot::open(backend, &descriptor.name, key, key_group, namespace, ttl)?,
            descriptor,
        })
    }

    /// The reduced value, `None` before the first `add`.
    pub fn get(&self) -> Option<V> {
        self.slot.get().cloned()
    }
    pub fn add(&mut self, value: V) {
        let reduce = &self.descriptor.reduce;
        self.slot.modify(|slot| {
            *slot = Some(match slot.take() {
                Some(acc) => reduce(acc, value),
                None => value,
            })
        });
    }
    pub fn clear(&mut self) {
        self.slot.modify(|slot| *slot = None);
    }
}

/// An accumulator added values are aggregated into (Flink's `AggregatingState`).
pub struct AggregatingState<'a, K, N, IN, ACC, OUT> {
    slot: Slot<'a, K, N, ACC>,
    descriptor: &'a AggregatingStateDescriptor<IN, ACC, OUT>,
}

impl<'a, K, N, IN, ACC, OUT> AggregatingState<'a, K, N, IN, ACC, OUT>
where
    K: StateKey,
    N: Namespace,
    ACC: Clone + StateValue,
{
    pub(crate) fn open(
        backend: &'a mut KeyedStateBackend<K>,
        key: &'a K,
        key_group: usize,
        descriptor: &'a AggregatingStateDescriptor<IN, ACC, OUT>,
        namespace: &'a N,
    ) -> Result<Self, StateError> {
        let ttl = descriptor.ttl.as_ref();
        Ok(AggregatingState {
            slot: Slot::open(backend, &descriptor.name, key, key_group, namespace, ttl)?,
            descriptor,
        })
    }

    /// The aggregate's result, `None` before the first `add`.
    pub fn get(&self) -> Option<OUT> {
        self.slot.get().map(|acc| (self.descriptor.result)(acc))
    }
    pub fn add(&mut self, value: IN) {
        let (create, add) = (&self.descriptor.create, &self.descriptor.add);
        self.slot.modify(|slot| {
            let acc = slot.take().unwrap_or_else(|| create());
            *slot = Some(add(value, acc));
        });
    }
    pub fn clear(&mut self) {
        self.slot.modify(|slot| *slot = None);
    }
}

/// Opens the user state types of one (key, namespace) of a backend: what keyed and window
/// contexts hand to user functions.
pub struct StateAccess<'a, K, N> {
    pub(crate) backend: &'a mut KeyedStateBackend<K>,
    pub(crate) key: &'a K,
    pub(crate) key_group: usize,
    pub(crate) namespace: &'a N,
}

impl<'a, K: StateKey, N: Namespace> StateAccess<'a, K, N> {
    /// Binds `backend` to `key` (in its key group) and `namespace`.
    pub fn new(backend: &'a mut KeyedStateBackend<K>, key: &'a K, namespace: &'a N) -> Self {
        let key_group = backend.key_group_of(key);
        StateAccess {
            backend,
            key,
            key_group,
            namespace,
        }
    }

    pub fn value_state<'s, V: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s ValueStateDescriptor<V>,
    ) -> Result<ValueState<'s, K, N, V>, StateError> {
        ValueState::open(
            self.backend,
            self.key,
            self.key_group,
            descriptor,
            self.namespace,
        )
    }
    pub fn list_state<'s, V: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s ListStateDescriptor<V>,
    ) -> Result<ListState<'s, K, N, V>, StateError> {
        ListState::open(
            self.backend,
            self.key,
            self.key_group,
            descriptor,
            self.namespace,
        )
    }
    pub fn map_state<'s, UK: Hash + Eq + Clone + StateValue, UV: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s MapStateDescriptor<UK, UV>,
    ) -> Result<MapState<'s, K, N, UK, UV>, StateError> {
        MapState::open(
            self.backend,
            self.key,
            self.key_group,
            descriptor,
            self.namespace,
        )
    }
    pub fn reducing_state<'s, V: Clone + StateValue>(
        &'s mut self,
        descriptor: &'s ReducingStateDescriptor<V>,
    ) -> Result<ReducingState<'s, K, N, V>, StateError> {
        ReducingState::open(
            self.backend,
            self.key,
            self.key_group,
            descriptor,
            self.namespace,
        )
    }
    pub fn aggregating_state<'s, IN, ACC: Clone + StateValue, OUT>(
        &'s mut self,
        descriptor: &'s AggregatingStateDescriptor<IN, ACC, OUT>,
    ) -> Result<AggregatingState<'s, K, N, IN, ACC, OUT>, StateError> {
        AggregatingState::open(
            self.backend,
            self.key,
            self.key_group,
            descriptor,
            self.namespace,
        )
    }
}
