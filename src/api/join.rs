//! Joins and keyed co-processing, built as Flink builds them: both inputs are tagged into a
//! [`TaggedUnion`], unioned and keyed; a window join / co-group then windows the union, an
//! interval join and a `KeyedCoProcessFunction` run as keyed process functions over it. The
//! operator's watermark is then the minimum of both inputs', as for any two-input operator.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::datastream::{ConnectedStreams, DataStream, KeyedStream};
use super::functions::{Collector, RuntimeContext};
use super::process::{KeyedContext, KeyedProcessFunction};
use super::window::{ProcessWindowFunction, WindowAssigner, WindowContext};
use crate::runtime::operators::factory::Record;
use crate::state::MapStateDescriptor;

/// An element of either input of a join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaggedUnion<A, B> {
    One(A),
    Two(B),
}

type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

fn tagged_union<A: Record, B: Record, K: crate::state::StateKey>(
    a: &DataStream<A>,
    b: &DataStream<B>,
    ka: KeyFn<A, K>,
    kb: KeyFn<B, K>,
) -> KeyedStream<TaggedUnion<A, B>, K> {
    let left = a.map(TaggedUnion::<A, B>::One).name("Map (join input 1)");
    let right = b.map(TaggedUnion::<A, B>::Two).name("Map (join input 2)");
    left.union(&right)
        .key_by(move |t: &TaggedUnion<A, B>| match t {
            TaggedUnion::One(a) => ka(a),
            TaggedUnion::Two(b) => kb(b),
        })
}

/// `a.join(&b)` / `a.co_group(&b)` before the keys are given.
pub struct JoinBuilder<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
    co_group: bool,
}

impl<A: Record, B: Record> JoinBuilder<A, B> {
    pub(crate) fn new(first: DataStream<A>, second: DataStream<B>, co_group: bool) -> Self {
        JoinBuilder {
            first,
            second,
            co_group,
        }
    }

    /// The key of the first input.
    pub fn where_<K, F: Fn(&A) -> K + Send + Sync + 'static>(self, key: F) -> JoinWhere<A, B, K> {
        JoinWhere {
            builder: self,
            first_key: Arc::new(key),
        }
    }
}

pub struct JoinWhere<A, B, K> {
    builder: JoinBuilder<A, B>,
    first_key: KeyFn<A, K>,
}

impl<A: Record, B: Record, K: crate::state::StateKey> JoinWhere<A, B, K> {
    /// The key of the second input; elements join when the keys are equal.
    pub fn equal_to<F: Fn(&B) -> K + Send + Sync + 'static>(self, key: F) -> JoinEqual<A, B, K> {
        JoinEqual {
            keyed: tagged_union(
                &self.builder.first,
                &self.builder.second,
                self.first_key,
                Arc::new(key),
            ),
            co_group: self.builder.co_group,
        }
    }
}

pub struct JoinEqual<A, B, K> {
    keyed: KeyedStream<TaggedUnion<A, B>, K>,
    co_group: bool,
}

impl<A: Record, B: Record, K: crate::state::StateKey> JoinEqual<A, B, K> {
    /// The windows within which elements are matched.
    pub fn window(self, assigner: WindowAssigner<TaggedUnion<A, B>>) -> JoinWindowed<A, B, K> {
        JoinWindowed {
            keyed: self.keyed,
            assigner,
            co_group: self.co_group,
        }
    }
}

pub struct JoinWindowed<A, B, K> {
    keyed: KeyedStream<TaggedUnion<A, B>, K>,
    assigner: WindowAssigner<TaggedUnion<A, B>>,
    co_group: bool,
}

impl<A: Record, B: Record, K: crate::state::StateKey> JoinWindowed<A, B, K> {
    /// Window join: `f(a, b)` for every pair of one window and key.
    pub fn apply<O: Record, F: FnMut(A, B) -> O + Clone + Send + Sync + 'static>(
        self,
        mut f: F,
    ) -> DataStream<O> {
        let name = if self.co_group { "CoGroup" } else { "Join" };
        self.keyed
            .window(self.assigner)
            .process(SplitSides(
                move |_: &K, first: Vec<A>, second: Vec<B>, out: &mut Collector<O>| {
                    for a in &first {
                        for b in &second {
                            out.collect(f(a.clone(), b.clone()));
                        }
                    }
                },
                PhantomData,
            ))
            .name(name)
    }

    /// Co-group: `f(all a, all b)` per window and key, even when one side is empty.
    pub fn apply_co_group<
        O: Record,
        F: FnMut(&[A], &[B], &mut Collector<O>) + Clone + Send + Sync + 'static,
    >(
        self,
        mut f: F,
    ) -> DataStream<O> {
        self.keyed
            .window(self.assigner)
            .process(SplitSides(
                move |_: &K, first: Vec<A>, second: Vec<B>, out: &mut Collector<O>| {
                    f(&first, &second, out)
                },
                PhantomData,
            ))
            .name("CoGroup")
    }
}

/// Splits a window's tagged elements into the two sides.
struct SplitSides<F, A, B>(F, PhantomData<fn() -> (A, B)>);

impl<F: Clone, A, B> Clone for SplitSides<F, A, B> {
    fn clone(&self) -> Self {
        SplitSides(self.0.clone(), PhantomData)
    }
}

impl<K, A: Clone + 'static, B: Clone + 'static, O, F> ProcessWindowFunction<K, TaggedUnion<A, B>, O>
    for SplitSides<F, A, B>
where
    F: FnMut(&K, Vec<A>, Vec<B>, &mut Collector<O>) + Clone + Send + Sync + 'static,
{
    fn process(
        &mut self,
        key: &K,
        _ctx: &mut WindowContext,
        elements: &[TaggedUnion<A, B>],
        out: &mut Collector<O>,
    ) -> anyhow::Result<()> {
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for e in elements {
            match e {
                TaggedUnion::One(a) => first.push(a.clone()),
                TaggedUnion::Two(b) => second.push(b.clone()),
            }
        }
        (self.0)(key, first, second, out);
        Ok(())
    }
}

/// A keyed function over two connected keyed streams (Flink's `KeyedCoProcessFunction`).
pub trait KeyedCoProcessFunction<K, A, B, O>: Clone + Send + Sync + 'static {
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
    fn process_element1(&mut self, value: A, ctx: &mut KeyedContext<K, O>) -> anyhow::Result<()>;
    fn process_element2(&mut self, value: B, ctx: &mut KeyedContext<K, O>) -> anyhow::Result<()>;
    fn on_timer(&mut self, _timestamp: i64, _ctx: &mut KeyedContext<K, O>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Runs a co-process function over the tagged union.
#[derive(Clone)]
struct CoProcessAdapter<F>(F);

impl<K, A, B, O, F: KeyedCoProcessFunction<K, A, B, O>>
    KeyedProcessFunction<K, TaggedUnion<A, B>, O> for CoProcessAdapter<F>
{
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.0.open(ctx)
    }
    fn process_element(
        &mut self,
        value: TaggedUnion<A, B>,
        ctx: &mut KeyedContext<K, O>,
    ) -> anyhow::Result<()> {
        match value {
            TaggedUnion::One(a) => self.0.process_element1(a, ctx),
            TaggedUnion::Two(b) => self.0.process_element2(b, ctx),
        }
    }
    fn on_timer(&mut self, timestamp: i64, ctx: &mut KeyedContext<K, O>) -> anyhow::Result<()> {
        self.0.on_timer(timestamp, ctx)
    }
}

/// Two connected streams keyed by one key each.
pub struct KeyedConnectedStreams<A, B, K> {
    keyed: KeyedStream<TaggedUnion<A, B>, K>,
}

impl<A: Record, B: Record> ConnectedStreams<A, B> {
    /// Keys both inputs (`connect(..).keyBy(k1, k2)`), for a keyed co-process function.
    pub fn key_by<K, F1, F2>(&self, first: F1, second: F2) -> KeyedConnectedStreams<A, B, K>
    where
        K: crate::state::StateKey,
        F1: Fn(&A) -> K + Send + Sync + 'static,
        F2: Fn(&B) -> K + Send + Sync + 'static,
    {
        let (a, b) = self.streams();
        KeyedConnectedStreams {
            keyed: tagged_union(a, b, Arc::new(first), Arc::new(second)),
        }
    }
}

impl<A: Record, B: Record, K: crate::state::StateKey> KeyedConnectedStreams<A, B, K> {
    pub fn process<O: Record, F: KeyedCoProcessFunction<K, A, B, O>>(&self, f: F) -> DataStream<O> {
        self.keyed
            .process(CoProcessAdapter(f))
            .name("KeyedCoProcess")
    }
}

/// `keyed_a.interval_join(&keyed_b)`: pairs `(a, b)` of one key with
/// `a.ts + lower <= b.ts <= a.ts + upper`.
pub struct IntervalJoin<A, B, K> {
    keyed: KeyedStream<TaggedUnion<A, B>, K>,
}

impl<A: Record, B: Record, K: crate::state::StateKey> IntervalJoin<A, B, K> {
    pub(crate) fn new(first: &KeyedStream<A, K>, second: &KeyedStream<B, K>) -> Self {
        let (ka, kb) = (first.selector(), second.selector());
        IntervalJoin {
            keyed: tagged_union(
                first.stream_ref(),
                second.stream_ref(),
                Arc::new(move |a: &A| ka(a)),
                Arc::new(move |b: &B| kb(b)),
            ),
        }
    }

    /// The interval relative to the first input's timestamps (bounds inclusive; may be negative).
    pub fn between(self, lower: i64, upper: i64) -> IntervalJoinBounded<A, B, K> {
        IntervalJoinBounded {
            keyed: self.keyed,
            lower,
            upper,
        }
    }

    /// Like `between`, with durations (`lower` may be given negative via `between`).
    pub fn between_durations(
        self,
        lower: Duration,
        upper: Duration,
    ) -> IntervalJoinBounded<A, B, K> {
        self.between(lower.as_millis() as i64, upper.as_millis() as i64)
    }
}

pub struct IntervalJoinBounded<A, B, K> {
    keyed: KeyedStream<TaggedUnion<A, B>, K>,
    lower: i64,
    upper: i64,
}

impl<A: Record, B: Record, K: crate::state::StateKey> IntervalJoinBounded<A, B, K> {
    /// `f(a, b)` for every matching pair, emitted with the larger of the two timestamps.
    pub fn process<O: Record, F: FnMut(A, B) -> O + Clone + Send + Sync + 'static>(
        self,
        f: F,
    ) -> DataStream<O> {
        if self.lower > self.upper {
            self.keyed
                .stream_ref()
                .execution_environment()
                .record_error(format!(
                    "interval join: the lower bound ({}) must not exceed the upper bound ({})",
                    self.lower, self.upper
                ));
        }
        self.keyed
            .process(IntervalJoinFunction {
                lower: self.lower,
                upper: self.upper,
                f,
                left: MapStateDescriptor::new("interval-join-left"),
                right: MapStateDescriptor::new("interval-join-right"),
            })
            .name("IntervalJoin")
    }
}

/// Buffers both sides per timestamp and emits matches as elements arrive; cleanup timers drop
/// elements that can no longer match.
struct IntervalJoinFunction<A, B, F> {
    lower: i64,
    upper: i64,
    f: F,
    left: MapStateDescriptor<i64, Vec<A>>,
    right: MapStateDescriptor<i64, Vec<B>>,
}

impl<A, B, F: Clone> Clone for IntervalJoinFunction<A, B, F> {
    fn clone(&self) -> Self {
        IntervalJoinFunction {
            lower: self.lower,
            upper: self.upper,
            f: self.f.clone(),
            left: self.left.clone(),
            right: self.right.clone(),
        }
    }
}

impl<
        K: crate::state::StateKey,
        A: Record,
        B: Record,
        O,
        F: FnMut(A, B) -> O + Clone + Send + Sync + 'static,
    > KeyedProcessFunction<K, TaggedUnion<A, B>, O> for IntervalJoinFunction<A, B, F>
{
    fn process_element(
        &mut self,
        value: TaggedUnion<A, B>,
        ctx: &mut KeyedContext<K, O>,
    ) -> anyhow::Result<()> {
        let ts = ctx.timestamp().ok_or_else(|| {
            anyhow::anyhow!(
                "interval join needs event timestamps: call assign_timestamps_and_watermarks first"
            )
        })?;
        let watermark = ctx.current_watermark();
        match value {
            TaggedUnion::One(a) => {
                if ts + self.upper < watermark {
                    return Ok(()); // late: nothing it could still match is kept
                }
                let matches: Vec<(B, i64)> = ctx
                    .map_state(&self.right)?
                    .entries()
                    .filter(|(tb, _)| **tb >= ts + self.lower && **tb <= ts + self.upper)
                    .flat_map(|(tb, bs)| bs.iter().map(move |b| (b.clone(), *tb)))
                    .collect();
                for (b, tb) in matches {
                    let out = (self.f)(a.clone(), b);
                    ctx.collect_with_timestamp(out, ts.max(tb));
                }
                let mut left = ctx.map_state(&self.left)?;
                let mut bucket = left.remove(&ts).unwrap_or_default();
                bucket.push(a);
                left.put(ts, bucket);
                ctx.timer_service()
                    .register_event_time_timer(ts + self.upper.max(0));
            }
            TaggedUnion::Two(b) => {
                if ts - self.lower < watermark {
                    return Ok(());
                }
                let matches: Vec<(A, i64)> = ctx
                    .map_state(&self.left)?
                    .entries()
                    .filter(|(ta, _)| ts >= **ta + self.lower && ts <= **ta + self.upper)
                    .flat_map(|(ta, as_)| as_.iter().map(move |a| (a.clone(), *ta)))
                    .collect();
                for (a, ta) in matches {
                    let out = (self.f)(a, b.clone());
                    ctx.collect_with_timestamp(out, ts.max(ta));
                }
                let mut right = ctx.map_state(&self.right)?;
                let mut bucket = right.remove(&ts).unwrap_or_default();
                bucket.push(b);
                right.put(ts, bucket);
                ctx.timer_service()
                    .register_event_time_timer(ts - self.lower.min(0));
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, timestamp: i64, ctx: &mut KeyedContext<K, O>) -> anyhow::Result<()> {
        let (lower, upper) = (self.lower, self.upper);
        let mut left = ctx.map_state(&self.left)?;
        let expired: Vec<i64> = left
            .entries()
            .map(|(t, _)| *t)
            .filter(|t| t + upper.max(0) <= timestamp)
            .collect();
        expired.iter().for_each(|t| {
            left.remove(t);
        });
        let mut right = ctx.map_state(&self.right)?;
        let expired: Vec<i64> = right
            .entries()
            .map(|(t, _)| *t)
            .filter(|t| t - lower.min(0) <= timestamp)
            .collect();
        expired.iter().for_each(|t| {
            right.remove(t);
        });
        Ok(())
    }
}
