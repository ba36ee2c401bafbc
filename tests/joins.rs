//! Specifications of joins: window join, co-group, interval join and keyed co-processing, with
//! exact results for out-of-order input at parallelism 1 and 4 in both runtime modes.

mod support;

use std::time::Duration;

use strato::state::ValueStateDescriptor;
use strato::{
    Collector, DataStream, KeyedCoProcessFunction, KeyedContext, TumblingEventTimeWindows,
};
use support::events::*;

/// Splits the script's events into two streams: keys starting with "l" and with "r".
fn sides(s: &DataStream<Event>) -> (DataStream<Event>, DataStream<Event>) {
    (
        s.filter(|e: &Event| e.0.starts_with('l')),
        s.filter(|e: &Event| e.0.starts_with('r')),
    )
}

/// The join key: the event's value modulo 10.
fn join_key(e: &Event) -> i64 {
    e.1 % 10
}

fn script() -> Vec<Step> {
    vec![
        E("l", 1, 1),
        E("r", 11, 3),
        E("l", 2, 8),
        E("r", 21, 6),
        E("l", 3, 4),
        E("r", 3, 2),
        E("r", 2, 12),
        W(9),
        E("l", 12, 15),
        W(30),
    ]
}

#[test]
fn a_window_join_pairs_equal_keys_within_each_window() {
    let out = run(script(), |s| {
        let (l, r) = sides(&s);
        l.join(&r)
            .where_(join_key)
            .equal_to(join_key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .apply(|a: Event, b: Event| (a.1, b.1))
    });
    // Window [0,10): l1 with r11, r21 (key 1); l3 with r3 (key 3); l2@8 has no r2 in it.
    // Window [10,20): l12 with r2 (key 2).
    assert_eq!(out, vec![(1, 11), (1, 21), (3, 3), (12, 2)]);
}

#[test]
fn co_group_sees_both_sides_of_a_window_even_when_one_is_empty() {
    let out = run(script(), |s| {
        let (l, r) = sides(&s);
        l.co_group(&r)
            .where_(join_key)
            .equal_to(join_key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .apply_co_group(
                |a: &[Event], b: &[Event], out: &mut Collector<(Vec<i64>, Vec<i64>)>| {
                    let mut x: Vec<i64> = a.iter().map(|e| e.1).collect();
                    let mut y: Vec<i64> = b.iter().map(|e| e.1).collect();
                    x.sort();
                    y.sort();
                    out.collect((x, y))
                },
            )
    });
    assert_eq!(
        out,
        vec![
            (vec![1], vec![11, 21]),
            (vec![2], vec![]),
            (vec![3], vec![3]),
            (vec![12], vec![2])
        ]
    );
}

#[test]
fn an_interval_join_pairs_elements_within_the_bounds_of_each_other() {
    let out = run(script(), |s| {
        let (l, r) = sides(&s);
        l.key_by(join_key)
            .interval_join(&r.key_by(join_key))
            .between(-2, 3)
            .process(|a: Event, b: Event| (a.1, a.2, b.1, b.2))
    });
    // l1@1 matches r with key 1 and time in [-1, 4]: r11@3. l2@8: r2@12 is outside [6,11].
    // l12@15 (key 2): r2@12 in [13,18]? no. l3@4 (key 3): r3@2 in [2,7] -> yes.
    assert_eq!(out, vec![(1, 1, 11, 3), (3, 4, 3, 2)]);
}

/// Counts each key's elements from both inputs in shared state; reports them when the
/// event-time timer both inputs register fires.
#[derive(Clone)]
struct CountBoth(ValueStateDescriptor<(i64, i64)>);

impl CountBoth {
    fn add(
        &self,
        ctx: &mut KeyedContext<i64, (i64, i64, i64)>,
        left: i64,
        right: i64,
    ) -> anyhow::Result<()> {
        let mut counts = ctx.value_state(&self.0)?;
        let (l, r) = counts.value().unwrap_or((0, 0));
        counts.update((l + left, r + right));
        ctx.timer_service().register_event_time_timer(100);
        Ok(())
    }
}

impl KeyedCoProcessFunction<i64, Event, Event, (i64, i64, i64)> for CountBoth {
    fn process_element1(
        &mut self,
        _: Event,
        ctx: &mut KeyedContext<i64, (i64, i64, i64)>,
    ) -> anyhow::Result<()> {
        self.add(ctx, 1, 0)
    }
    fn process_element2(
        &mut self,
        _: Event,
        ctx: &mut KeyedContext<i64, (i64, i64, i64)>,
    ) -> anyhow::Result<()> {
        self.add(ctx, 0, 1)
    }
    fn on_timer(
        &mut self,
        _: i64,
        ctx: &mut KeyedContext<i64, (i64, i64, i64)>,
    ) -> anyhow::Result<()> {
        let key = *ctx.current_key();
        let (l, r) = ctx.value_state(&self.0)?.value().unwrap_or((0, 0));
        ctx.collect((key, l, r));
        Ok(())
    }
}

#[test]
fn a_keyed_co_process_function_shares_state_and_timers_between_both_inputs() {
    let out = run(script(), |s| {
        let (l, r) = sides(&s);
        l.connect(&r)
            .key_by(join_key, join_key)
            .process(CountBoth(ValueStateDescriptor::new("counts")))
    });
    assert_eq!(out, vec![(1, 1, 2), (2, 2, 1), (3, 1, 1)]);
}
