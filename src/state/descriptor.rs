//! State descriptors: the name and type of a piece of keyed state (Flink's
//! `ValueStateDescriptor`, `ListStateDescriptor`, `MapStateDescriptor`). Descriptors are plain
//! data; a function keeps them in its fields and asks its context for the state they describe.

use std::marker::PhantomData;

/// Describes a single value per key.
pub struct ValueStateDescriptor<V> {
    pub(crate) name: String,
    pub(crate) default: Option<V>,
}

impl<V> ValueStateDescriptor<V> {
    pub fn new(name: &str) -> Self {
        ValueStateDescriptor {
            name: name.to_string(),
            default: None,
        }
    }
    /// The value `value()` returns for a key that has none.
    pub fn with_default(mut self, default: V) -> Self {
        self.default = Some(default);
        self
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<V: Clone> Clone for ValueStateDescriptor<V> {
    fn clone(&self) -> Self {
        ValueStateDescriptor {
            name: self.name.clone(),
            default: self.default.clone(),
        }
    }
}

/// Describes a list of values per key.
pub struct ListStateDescriptor<V> {
    pub(crate) name: String,
    _type: PhantomData<fn() -> V>,
}

impl<V> ListStateDescriptor<V> {
    pub fn new(name: &str) -> Self {
        ListStateDescriptor {
            name: name.to_string(),
            _type: PhantomData,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<V> Clone for ListStateDescriptor<V> {
    fn clone(&self) -> Self {
        Self::new(&self.name)
    }
}

/// Describes a map per key.
pub struct MapStateDescriptor<UK, UV> {
    pub(crate) name: String,
    _type: PhantomData<fn() -> (UK, UV)>,
}

impl<UK, UV> MapStateDescriptor<UK, UV> {
    pub fn new(name: &str) -> Self {
        MapStateDescriptor {
            name: name.to_string(),
            _type: PhantomData,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<UK, UV> Clone for MapStateDescriptor<UK, UV> {
    fn clone(&self) -> Self {
        Self::new(&self.name)
    }
}
