//! Specifications of windows: exact outputs for out-of-order input, for every assigner,
//! trigger, evictor and lateness case, identical at parallelism 1 and 4 and in STREAMING and
//! BATCH mode (order-insensitive).

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::events::*;

use strato::{
    AggregateFunction, Collector, ContinuousEventTimeTrigger, CountEvictor, CountTrigger,
    DeltaEvictor, EventTimeSessionWindows, GlobalWindows, OutputTag, PurgingTrigger,
    SlidingEventTimeWindows, StreamExecutionEnvironment, TimeEvictor, TumblingEventTimeWindows,
    WindowContext,
};

fn key(e: &Event) -> String {
    e.0.clone()
}

fn sum_values(a: Event, b: Event) -> Event {
    (a.0, a.1 + b.1, a.2.max(b.2))
}

/// (key, window start, window end, sum)
#[allow(clippy::ptr_arg)] // window functions receive the key as the key type
fn with_window(
    key: &String,
    ctx: &mut WindowContext,
    elements: &[Event],
    out: &mut Collector<(String, i64, i64, i64)>,
) {
    out.collect((
        key.clone(),
        ctx.window.start,
        ctx.window.end,
        elements.iter().map(|e| e.1).sum(),
    ));
}

fn out_of_order() -> Vec<Step> {
    vec![
        E("a", 1, 1),
        E("a", 2, 7),
        E("b", 10, 3),
        E("a", 4, 12),
        E("a", 8, 5),
        W(9),
        E("b", 20, 14),
        E("a", 16, 11),
        W(19),
        E("b", 40, 25),
    ]
}

#[test]
fn tumbling_event_time_windows_sum_out_of_order_input() {
    let out = run(out_of_order(), |s| {
        s.key_by(key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .apply(with_window)
    });
    assert_eq!(
        out,
        vec![
            ("a".into(), 0, 10, 11),
            ("a".into(), 10, 20, 20),
            ("b".into(), 0, 10, 10),
            ("b".into(), 10, 20, 20),
            ("b".into(), 20, 30, 40)
        ]
    );
}

#[test]
fn window_reduce_emits_one_result_per_window_with_the_windows_max_timestamp() {
    let out = run(out_of_order(), |s| {
        s.key_by(key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .reduce(sum_values)
    });
    assert_eq!(
        out,
        vec![
            ("a".into(), 11, 7),
            ("a".into(), 20, 12),
            ("b".into(), 10, 3),
            ("b".into(), 20, 14),
            ("b".into(), 40, 25)
        ]
    );
}

#[test]
fn sliding_windows_count_each_element_in_size_over_slide_windows() {
    let out = run(out_of_order(), |s| {
        s.key_by(key)
            .window(SlidingEventTimeWindows::of(
                Duration::from_millis(10),
                Duration::from_millis(5),
            ))
            .apply(with_window)
    });
    let expected: Vec<(String, i64, i64, i64)> = vec![
        ("a".into(), -5, 5, 1),
        ("a".into(), 0, 10, 11),
        ("a".into(), 5, 15, 30),
        ("a".into(), 10, 20, 20),
        ("b".into(), -5, 5, 10),
        ("b".into(), 0, 10, 10),
        ("b".into(), 5, 15, 20),
        ("b".into(), 10, 20, 20),
        ("b".into(), 20, 30, 40),
        ("b".into(), 25, 35, 40),
    ];
    assert_eq!(out, expected);
}

#[test]
fn session_windows_merge_when_an_out_of_order_element_bridges_the_gap() {
    // Gap 5: a@1 and a@9 are separate sessions until a@5 arrives late and bridges them.
    let script = vec![
        E("a", 1, 1),
        E("a", 2, 9),
        E("b", 5, 2),
        W(3),
        E("a", 4, 5),
        E("a", 8, 30),
        W(40),
    ];
    let out = run(script, |s| {
        s.key_by(key)
            .window(EventTimeSessionWindows::with_gap(Duration::from_millis(5)))
            .apply(with_window)
    });
    assert_eq!(
        out,
        vec![
            ("a".into(), 1, 14, 7),
            ("a".into(), 30, 35, 8),
            ("b".into(), 2, 7, 5)
        ]
    );
}

#[test]
fn session_windows_take_a_dynamic_gap_from_each_element() {
    let script = vec![E("a", 1, 0), E("a", 100, 10), E("a", 1, 30), W(200)];
    // The value-100 element opens a 100 ms session; the others 5 ms ones.
    let out = run(script, |s| {
        s.key_by(key)
            .window(EventTimeSessionWindows::with_dynamic_gap(|e: &Event| {
                Duration::from_millis(if e.1 >= 100 { 100 } else { 5 })
            }))
            .apply(with_window)
    });
    assert_eq!(out, vec![("a".into(), 0, 5, 1), ("a".into(), 10, 110, 101)]);
}

#[test]
fn count_windows_fire_every_n_elements_per_key() {
    let script = (0..7)
        .map(|i| E("a", i, i))
        .chain((0..4).map(|i| E("b", 10 * i, i)))
        .collect::<Vec<_>>();
    let tumbling = run(script.clone(), |s| {
        s.key_by(key).count_window(3).apply(
            |k: &String,
             _: &mut WindowContext,
             els: &[Event],
             out: &mut Collector<(String, i64)>| {
                out.collect((k.clone(), els.iter().map(|e| e.1).sum()))
            },
        )
    });
    assert_eq!(
        tumbling,
        vec![("a".into(), 3), ("a".into(), 12), ("b".into(), 30)]
    );
    let sliding = run(script, |s| {
        s.key_by(key).count_window_sliding(3, 2).apply(
            |k: &String,
             _: &mut WindowContext,
             els: &[Event],
             out: &mut Collector<(String, Vec<i64>)>| {
                out.collect((k.clone(), els.iter().map(|e| e.1).collect()))
            },
        )
    });
    assert_eq!(
        sliding,
        vec![
            ("a".into(), vec![0, 1]),
            ("a".into(), vec![1, 2, 3]),
            ("a".into(), vec![3, 4, 5]),
            ("b".into(), vec![0, 10]),
            ("b".into(), vec![10, 20, 30])
        ]
    );
}

#[test]
fn a_count_trigger_fires_early_and_a_purging_trigger_empties_the_window() {
    let script = vec![
        E("a", 1, 1),
        E("a", 2, 2),
        E("a", 3, 3),
        E("a", 4, 4),
        E("a", 5, 5),
        W(100),
    ];
    let tumbling = || TumblingEventTimeWindows::of(Duration::from_millis(10));
    let counting = run(script.clone(), |s| {
        s.key_by(key)
            .window(tumbling())
            .trigger(CountTrigger::of(2))
            .apply(with_window)
    });
    // CountTrigger replaces the event-time trigger: fires at 2 and 4 elements, keeps contents.
    assert_eq!(
        counting,
        vec![("a".into(), 0, 10, 3), ("a".into(), 0, 10, 10)]
    );
    let purging = run(script, |s| {
        s.key_by(key)
            .window(tumbling())
            .trigger(PurgingTrigger::of(CountTrigger::of(2)))
            .apply(with_window)
    });
    assert_eq!(
        purging,
        vec![("a".into(), 0, 10, 3), ("a".into(), 0, 10, 7)]
    );
}

#[test]
fn a_continuous_event_time_trigger_fires_at_each_interval_and_at_the_end() {
    let script = vec![
        E("a", 1, 1),
        W(4),
        E("a", 2, 6),
        W(11),
        E("a", 4, 12),
        W(100),
    ];
    let out = run(script, |s| {
        s.key_by(key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(20)))
            .trigger(ContinuousEventTimeTrigger::of(Duration::from_millis(5)))
            .apply(with_window)
    });
    // W(11) passes the timers at 5 and 10 (both see 1 + 2); W(100) fires at 15 and at the
    // window end 19 (both see 1 + 2 + 4).
    assert_eq!(
        out,
        vec![
            ("a".into(), 0, 20, 3),
            ("a".into(), 0, 20, 3),
            ("a".into(), 0, 20, 7),
            ("a".into(), 0, 20, 7)
        ]
    );
}

#[test]
fn evictors_remove_elements_before_the_window_function() {
    let script = (1..=6)
        .map(|i| E("a", i, i))
        .chain([W(100)])
        .collect::<Vec<_>>();
    let tumbling = || TumblingEventTimeWindows::of(Duration::from_millis(10));
    let count = run(script.clone(), |s| {
        s.key_by(key)
            .window(tumbling())
            .evictor(CountEvictor::of(2))
            .apply(with_window)
    });
    assert_eq!(count, vec![("a".into(), 0, 10, 11)]);
    let time = run(script.clone(), |s| {
        s.key_by(key)
            .window(tumbling())
            .evictor(TimeEvictor::of(Duration::from_millis(3)))
            .apply(with_window)
    });
    assert_eq!(time, vec![("a".into(), 0, 10, 4 + 5 + 6)]);
    let delta = run(script.clone(), |s| {
        s.key_by(key)
            .window(tumbling())
            .evictor(DeltaEvictor::of(2.0, |a: &Event, b: &Event| {
                (a.1 - b.1).abs() as f64
            }))
            .apply(with_window)
    });
    assert_eq!(delta, vec![("a".into(), 0, 10, 5 + 6)]);
    let reduced = run(script, |s| {
        s.key_by(key)
            .window(tumbling())
            .evictor(CountEvictor::of(3))
            .reduce(sum_values)
    });
    assert_eq!(reduced, vec![("a".into(), 15, 6)]);
}

#[test]
fn late_elements_refire_within_the_allowed_lateness_and_go_to_the_side_output_after() {
    let late = OutputTag::<Event>::new("late");
    // Window [0,10) fires at W(10); a@5 (late, within 10 ms lateness) re-fires it; after W(25)
    // the window is gone and a@6 goes to the late side output.
    let script = vec![
        E("a", 1, 1),
        E("a", 2, 2),
        W(10),
        E("a", 5, 5),
        W(25),
        E("a", 6, 6),
        E("a", 7, 27),
        W(100),
    ];
    let late_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = run(script, |s| {
        let windowed = s
            .key_by(key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .allowed_lateness(Duration::from_millis(10))
            .side_output_late_data(&late)
            .apply(with_window);
        let sink = late_seen.clone();
        windowed
            .get_side_output(&late)
            .add_sink(move |e: Event| sink.lock().unwrap().push(e));
        windowed
    });
    assert_eq!(
        out,
        vec![
            ("a".into(), 0, 10, 3),
            ("a".into(), 0, 10, 8),
            ("a".into(), 20, 30, 7)
        ]
    );
    // Four runs, each sending the one too-late element to the side output.
    assert_eq!(
        late_seen.lock().unwrap().clone(),
        vec![("a".to_string(), 6, 6); 4]
    );
}

#[derive(Clone)]
struct Average;
impl AggregateFunction<Event, (i64, i64), f64> for Average {
    fn create_accumulator(&self) -> (i64, i64) {
        (0, 0)
    }
    fn add(&self, value: Event, acc: (i64, i64)) -> (i64, i64) {
        (acc.0 + value.1, acc.1 + 1)
    }
    fn get_result(&self, acc: &(i64, i64)) -> f64 {
        acc.0 as f64 / acc.1 as f64
    }
    fn merge(&self, a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

#[test]
fn aggregate_functions_combine_with_process_window_functions() {
    let out = run(out_of_order(), |s| {
        s.key_by(key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .aggregate_with(
                Average,
                strato::WindowClosure(
                    |k: &String,
                     ctx: &mut WindowContext,
                     avg: &[f64],
                     out: &mut Collector<(String, i64, String)>| {
                        out.collect((k.clone(), ctx.window.start, format!("{:.2}", avg[0])))
                    },
                ),
            )
    });
    assert_eq!(
        out,
        vec![
            ("a".into(), 0, "3.67".into()),
            ("a".into(), 10, "10.00".into()),
            ("b".into(), 0, "10.00".into()),
            ("b".into(), 10, "20.00".into()),
            ("b".into(), 20, "40.00".into())
        ]
    );
}

#[test]
fn window_all_evaluates_the_whole_stream_in_one_subtask() {
    let out = run(out_of_order(), |s| {
        s.window_all(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .apply(
                |_: &u8,
                 ctx: &mut WindowContext,
                 els: &[Event],
                 out: &mut Collector<(i64, i64)>| {
                    out.collect((ctx.window.start, els.iter().map(|e| e.1).sum()))
                },
            )
    });
    assert_eq!(out, vec![(0, 21), (10, 40), (20, 40)]);
}

#[test]
fn global_windows_without_a_trigger_never_fire() {
    let out = run(out_of_order(), |s| {
        s.key_by(key)
            .window(GlobalWindows::create())
            .apply(with_window)
    });
    assert!(out.is_empty());
}

#[test]
fn event_time_windows_reject_records_without_timestamps() {
    let env = StreamExecutionEnvironment::create_local_environment();
    let err = env
        .from_elements(vec![("a".to_string(), 1i64, 1i64)])
        .key_by(key)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .reduce(sum_values)
        .execute_and_collect("no timestamps")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("did you forget assign_timestamps_and_watermarks"),
        "{err}"
    );
}

#[test]
fn processing_time_windows_fire_on_the_wall_clock() {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(1);
    let out = env
        .from_source(
            strato::connectors::datagen::DataGeneratorSource::new(
                |i| ("k".to_string(), 1i64, i as i64),
                Some(30),
            )
            .with_rows_per_second(100.0),
        )
        .key_by(key)
        .window(strato::TumblingProcessingTimeWindows::of(
            Duration::from_millis(50),
        ))
        .reduce(sum_values)
        .execute_and_collect("processing time")
        .unwrap();
    // 30 elements over ~300 ms: several 50 ms windows fired while the job ran.
    assert!(out.len() >= 2, "{out:?}");
    assert!(out.iter().map(|e| e.1).sum::<i64>() <= 30);
}

#[test]
fn sliding_windows_on_panes_give_the_same_results_as_the_general_window_operator() {
    // Size 10, slide 4: panes of gcd(10, 4) = 2 ms. The late element goes to the side output.
    let script = vec![
        E("a", 1, 1),
        E("a", 2, 7),
        E("b", 10, 3),
        E("a", 4, 12),
        E("a", 8, 5),
        W(9),
        E("b", 20, 14),
        E("a", 3, 2),
        E("a", 16, 11),
        W(19),
        E("b", 40, 25),
        W(100),
    ];
    let late = OutputTag::<Event>::new("late");
    let sliding =
        || SlidingEventTimeWindows::of(Duration::from_millis(10), Duration::from_millis(4));
    let on_panes = run(script.clone(), |s| {
        let w = s
            .key_by(key)
            .window(sliding())
            .side_output_late_data(&late)
            .reduce(sum_values);
        w.get_side_output(&late)
            .map(|e: Event| (format!("late {}", e.0), e.1, e.2))
            .union(&w)
    });
    let general = run(script, |s| {
        let w = s
            .key_by(key)
            .window(sliding())
            .trigger(strato::EventTimeTrigger)
            .side_output_late_data(&late)
            .reduce(sum_values);
        w.get_side_output(&late)
            .map(|e: Event| (format!("late {}", e.0), e.1, e.2))
            .union(&w)
    });
    assert_eq!(on_panes, general);
    assert!(
        on_panes.contains(&("late a".to_string(), 3, 2)),
        "{on_panes:?}"
    );
}

#[test]
fn process_window_functions_keep_per_window_and_per_key_state() {
    // A count trigger fires the same window twice; per-window state counts firings of that
    // window, global state counts every firing of the key.
    let script = vec![
        E("a", 1, 1),
        E("a", 2, 2),
        E("a", 3, 3),
        E("a", 4, 4),
        E("a", 5, 15),
        E("a", 6, 16),
        W(100),
    ];
    let out = run(script, |s| {
        s.key_by(key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .trigger(CountTrigger::of(2))
            .apply(
                |k: &String,
                 ctx: &mut WindowContext,
                 els: &[Event],
                 out: &mut Collector<(String, i64, i64, i64, usize)>| {
                    let in_window = ctx.window_state::<i64>("firings").unwrap().unwrap_or(0) + 1;
                    ctx.update_window_state("firings", in_window).unwrap();
                    let for_key = ctx.global_state::<i64>("firings").unwrap().unwrap_or(0) + 1;
                    ctx.update_global_state("firings", for_key).unwrap();
                    out.collect((k.clone(), ctx.window.start, in_window, for_key, els.len()));
                },
            )
    });
    assert_eq!(
        out,
        vec![
            ("a".into(), 0, 1, 1, 2),
            ("a".into(), 0, 2, 2, 4),
            ("a".into(), 10, 1, 3, 2)
        ]
    );
}

/// A user-defined trigger: fires when an element's value exceeds 100, purging the window.
struct FireOnBigValue;

impl strato::Trigger<Event> for FireOnBigValue {
    fn on_element(
        &self,
        e: &Event,
        _: i64,
        _: &strato::TimeWindow,
        _: &mut dyn strato::TriggerContext,
    ) -> strato::TriggerResult {
        if e.1 > 100 {
            strato::TriggerResult::FireAndPurge
        } else {
            strato::TriggerResult::Continue
        }
    }
    fn on_event_time(
        &self,
        _: i64,
        _: &strato::TimeWindow,
        _: &mut dyn strato::TriggerContext,
    ) -> strato::TriggerResult {
        strato::TriggerResult::Continue
    }
    fn on_processing_time(
        &self,
        _: i64,
        _: &strato::TimeWindow,
        _: &mut dyn strato::TriggerContext,
    ) -> strato::TriggerResult {
        strato::TriggerResult::Continue
    }
    fn clear(&self, _: &strato::TimeWindow, _: &mut dyn strato::TriggerContext) {}
}

#[test]
fn a_custom_trigger_decides_when_windows_fire_and_purge() {
    let script = vec![
        E("a", 1, 1),
        E("a", 2, 2),
        E("a", 500, 3),
        E("a", 4, 4),
        E("a", 5, 5),
        W(100),
    ];
    let out = run(script, |s| {
        s.key_by(key)
            .window(TumblingEventTimeWindows::of(Duration::from_millis(10)))
            .trigger(FireOnBigValue)
            .apply(with_window)
    });
    // Fired once with 1 + 2 + 500; the rest (4 + 5) never fires: no trigger result says so.
    assert_eq!(out, vec![("a".into(), 0, 10, 503)]);
}

#[test]
fn default_trigger_event_time_windows_run_on_panes_and_others_on_the_general_operator() {
    let env = StreamExecutionEnvironment::create_local_environment();
    let s = env.from_source(Script(Arc::new(vec![])));
    s.key_by(key)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .reduce(sum_values)
        .print();
    s.key_by(key)
        .window(SlidingEventTimeWindows::of(
            Duration::from_secs(10),
            Duration::from_secs(1),
        ))
        .reduce(sum_values)
        .print();
    s.key_by(key)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .allowed_lateness(Duration::from_secs(1))
        .reduce(sum_values)
        .print();
    let names: Vec<String> = env
        .get_job_graph()
        .unwrap()
        .vertices
        .iter()
        .map(|v| v.name.clone())
        .collect();
    assert_eq!(
        names[1..],
        [
            "Window(reduce, panes) -> Sink: Print to Std. Out",
            "Window(reduce, panes) -> Sink: Print to Std. Out",
            "Window(reduce) -> Sink: Print to Std. Out"
        ]
    );
}

/// Emits bursts of records separated by pauses (processing time), then waits before ending.
#[derive(Clone)]
struct Bursts(Arc<Vec<(usize, u64)>>);

/// Steps through bursts: even steps emit a burst (returned at once, so it is flushed), odd
/// steps sleep the burst's pause.
struct BurstReader(Arc<Vec<(usize, u64)>>, usize);

impl strato::Source<Event> for Bursts {
    fn boundedness(&self) -> strato::Boundedness {
        strato::Boundedness::Bounded
    }
    fn is_parallel(&self) -> bool {
        false
    }
    fn create_reader(
        &self,
        _: &strato::RuntimeContext,
    ) -> anyhow::Result<Box<dyn strato::SourceReader<Event>>> {
        Ok(Box::new(BurstReader(self.0.clone(), 0)))
    }
}

impl strato::SourceReader<Event> for BurstReader {
    fn poll_next(
        &mut self,
        out: &mut strato::SourceOutput<Event>,
    ) -> anyhow::Result<strato::InputStatus> {
        let Some(&(records, pause_ms)) = self.0.get(self.1 / 2) else {
            return Ok(strato::InputStatus::EndOfInput);
        };
        if self.1.is_multiple_of(2) {
            for i in 0..records {
                out.collect(("k".to_string(), i as i64 + 1, 0));
            }
        } else {
            std::thread::sleep(Duration::from_millis(pause_ms));
        }
        self.1 += 1;
        Ok(strato::InputStatus::NothingAvailable)
    }
}

#[test]
fn processing_time_session_windows_close_after_a_quiet_gap() {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(2);
    // Bursts of 3 and 2 records, 600 ms apart; sessions close 150 ms after the last record.
    let out = env
        .from_source(Bursts(Arc::new(vec![(3, 600), (2, 600)])))
        .key_by(key)
        .window(strato::ProcessingTimeSessionWindows::with_gap(
            Duration::from_millis(150),
        ))
        .apply(
            |_: &String, _: &mut WindowContext, els: &[Event], out: &mut Collector<usize>| {
                out.collect(els.len())
            },
        )
        .execute_and_collect("processing-time sessions")
        .unwrap();
    assert_eq!(out, vec![3, 2]);
}

#[test]
fn a_continuous_processing_time_trigger_fires_repeatedly_while_a_window_is_open() {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(1);
    // One long processing-time window; the trigger fires every 100 ms while records trickle in.
    let out = env
        .from_source(Bursts(Arc::new(vec![(1, 250), (1, 250), (1, 250)])))
        .key_by(key)
        .window(strato::TumblingProcessingTimeWindows::of(
            Duration::from_secs(3600),
        ))
        .trigger(strato::ContinuousProcessingTimeTrigger::of(
            Duration::from_millis(100),
        ))
        .apply(
            |_: &String, _: &mut WindowContext, els: &[Event], out: &mut Collector<usize>| {
                out.collect(els.len())
            },
        )
        .execute_and_collect("continuous processing time")
        .unwrap();
    // Fires see a growing window: at least once with 1, and later with 2 or 3 elements.
    assert!(out.len() >= 3, "{out:?}");
    assert!(out.windows(2).all(|w| w[0] <= w[1]), "{out:?}");
    assert!(out.contains(&1) && out.iter().any(|&n| n >= 2), "{out:?}");
}

#[test]
fn processing_time_sliding_windows_count_each_element_in_size_over_slide_windows() {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(2);
    // Bursts of 4 elements 150 ms apart; 300 ms windows sliding by 150 ms, then a quiet 900 ms so
    // every window closes before the input ends.
    let out = env
        .from_source(Bursts(Arc::new(vec![(4, 150), (4, 150), (4, 900)])))
        .key_by(key)
        .window(strato::SlidingProcessingTimeWindows::of(
            Duration::from_millis(300),
            Duration::from_millis(150),
        ))
        .apply(
            |_: &String, _: &mut WindowContext, els: &[Event], out: &mut Collector<usize>| {
                out.collect(els.len())
            },
        )
        .execute_and_collect("processing-time sliding")
        .unwrap();
    assert_eq!(
        out.iter().sum::<usize>(),
        12 * 2,
        "each element is in size/slide = 2 windows: {out:?}"
    );
}
