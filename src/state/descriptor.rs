//! State descriptors: the name and type of a piece of keyed state (Flink's
//! `ValueStateDescriptor`, `ListStateDescriptor`, `MapStateDescriptor`,
//! `ReducingStateDescriptor`, `AggregatingStateDescriptor`), with an optional default and
//! time-to-live. Descriptors are plain data; a function keeps them in its fields and asks its
//! context for the state they describe.

use std::marker::PhantomData;
use std::sync::Arc;

use super::ttl::StateTtlConfig;

/// Describes a single value per key.
pub struct ValueStateDescriptor<V> {
    pub(crate) name: String,
    pub(crate) default: Option<V>,
    pub(crate) ttl: Option<StateTtlConfig>,
}

impl<V> ValueStateDescriptor<V> {
    pub fn new(name: &str) -> Self {
        ValueStateDescriptor {
            name: name.to_string(),
            default: None,
            ttl: None,
        }
    }
    /// The value `value()` returns for a key that has none.
    pub fn with_default(mut self, default: V) -> Self {
        self.default = Some(default);
        self
    }
    /// Expires values `ttl` after they were written (or read, per the config).
    pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
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
            ttl: self.ttl.clone(),
        }
    }
}

/// Declares the name, typed marker and TTL of a descriptor without a default.
macro_rules! plain_descriptor {
    ($(#[$doc:meta])* $name:ident<$($t:ident),*>) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            pub(crate) name: String,
            pub(crate) ttl: Option<StateTtlConfig>,
            _type: PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> $name<$($t),*> {
            pub fn new(name: &str) -> Self {
                $name { name: name.to_string(), ttl: None, _type: PhantomData }
            }
            /// Expires the state `ttl` after it was written (or read, per the config).
            pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
                self.ttl = Some(ttl);
                self
            }
            pub fn name(&self) -> &str {
                &self.name
            }
        }

        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                $name { name: self.name.clone(), ttl: self.ttl.clone(), _type: PhantomData }
            }
        }
    };
}

plain_descriptor!(
    /// Describes a list of values per key.
    ListStateDescriptor<V>
);
plain_descriptor!(
    /// Describes a map per key.
    MapStateDescriptor<UK, UV>
);

/// Describes a value per key that every added value is reduced into.
pub struct ReducingStateDescriptor<V> {
    pub(crate) name: String,
    pub(crate) reduce: Arc<dyn Fn(V, V) -> V + Send + Sync>,
    pub(crate) ttl: Option<StateTtlConfig>,
}

impl<V> ReducingStateDescriptor<V> {
    pub fn new(name: &str, reduce: impl Fn(V, V) -> V + Send + Sync + 'static) -> Self {
        ReducingStateDescriptor {
            name: name.to_string(),
            reduce: Arc::new(reduce),
            ttl: None,
        }
    }
    pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
        self
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<V> Clone for ReducingStateDescriptor<V> {
    fn clone(&self) -> Self {
        ReducingStateDescriptor {
            name: self.name.clone(),
            reduce: self.reduce.clone(),
            ttl: self.ttl.clone(),
        }
    }
}

/// Describes an accumulator per key that added values are aggregated into (Flink's
/// `AggregatingStateDescriptor` with an `AggregateFunction`).
pub struct AggregatingStateDescriptor<IN, ACC, OUT> {
    pub(crate) name: String,
    pub(crate) create: Arc<dyn Fn() -> ACC + Send + Sync>,
    pub(crate) add: Arc<dyn Fn(IN, ACC) -> ACC + Send + Sync>,
    pub(crate) result: Arc<dyn Fn(&ACC) -> OUT + Send + Sync>,
    pub(crate) ttl: Option<StateTtlConfig>,
}

impl<IN: 'static, ACC: 'static, OUT: 'static> AggregatingStateDescriptor<IN, ACC, OUT> {
    pub fn new(
        name: &str,
        function: impl crate::api::window::AggregateFunction<IN, ACC, OUT>,
    ) -> Self {
        let (f1, f2, f3) = (function.clone(), function.clone(), function);
        AggregatingStateDescriptor {
            name: name.to_string(),
            create: Arc::new(move || f1.create_accumulator()),
            add: Arc::new(move |value, acc| f2.add(value, acc)),
            result: Arc::new(move |acc| f3.get_result(acc)),
            ttl: None,
        }
    }
    pub fn enable_time_to_live(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
        self
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<IN, ACC, OUT> Clone for AggregatingStateDescriptor<IN, ACC, OUT> {
    fn clone(&self) -> Self {
        AggregatingStateDescriptor {
            name: self.name.clone(),
            create: self.create.clone(),
            add: self.add.clone(),
            result: self.result.clone(),
            ttl: self.ttl.clone(),
        }
    }
}
