//! Specifications of event time: timestamps, watermarks (minimum over inputs, idleness, never
//! backwards), keyed process functions with timers and state, and side outputs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strato::state::MapStateDescriptor;
use strato::{
    Boundedness, Emitter, InputStatus, KeyedContext, KeyedProcessFunction, OutputTag,
    ProcessFunction, RuntimeContext, RuntimeExecutionMode, Source, SourceOutput, SourceReader,
    StreamExecutionEnvironment, WatermarkStrategy,
};

fn local_env(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env
}

/// Counts events per key and 10 ms bucket, and emits (key, bucket end, count) when the
/// event-time timer at the bucket's end fires.
#[derive(Clone)]
struct BucketCounter {
    count: MapStateDescriptor<i64, i64>,
}

impl KeyedProcessFunction<String, (String, i64), (String, i64, i64)> for BucketCounter {
    fn process_element(
        &mut self,
        event: (String, i64),
        ctx: &mut KeyedContext<String, (String, i64, i64)>,
    ) -> anyhow::Result<()> {
        let bucket_end = (event.1 / 10 + 1) * 10;
        ctx.timer_service()
            .register_event_time_timer(bucket_end - 1);
        let mut counts = ctx.map_state(&self.count)?;
        let n = counts.get(&bucket_end).copied().unwrap_or(0);
        counts.put(bucket_end, n + 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        ctx: &mut KeyedContext<String, (String, i64, i64)>,
    ) -> anyhow::Result<()> {
        let key = ctx.current_key().clone();
        let n = ctx
            .map_state(&self.count)?
            .remove(&(timestamp + 1))
            .unwrap_or(0);
        assert_eq!(
            ctx.timestamp(),
            Some(timestamp),
            "event-time timers carry their time as timestamp"
        );
        ctx.collect((key, timestamp + 1, n));
        Ok(())
    }
}

fn out_of_order_events() -> Vec<(String, i64)> {
    // Timestamps shuffled within 5 ms of order; keys a, b, c.
    let mut events = Vec::new();
    for i in 0..300i64 {
        let jitter = [3, -2, 0, 4, -4, 1][(i % 6) as usize];
        events.push((
            ["a", "b", "c"][(i % 3) as usize].to_string(),
            (i + jitter).max(0),
        ));
    }
    events
}

fn run_bucket_counts(parallelism: usize, mode: RuntimeExecutionMode) -> Vec<(String, i64, i64)> {
    let env = local_env(parallelism);
    env.set_runtime_mode(mode);
    let mut out = env
        .from_collection(out_of_order_events())
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(5))
                .with_timestamp_assigner(|e: &(String, i64), _| e.1),
        )
        .key_by(|e: &(String, i64)| e.0.clone())
        .process(BucketCounter {
            count: MapStateDescriptor::new("count"),
        })
        .execute_and_collect("bucket counts")
        .unwrap();
    out.sort();
    out
}

#[test]
fn keyed_timers_fire_per_key_in_event_time_with_identical_results_at_any_parallelism_and_mode() {
    let expected = {
        let mut counts = std::collections::BTreeMap::new();
        for (k, ts) in out_of_order_events() {
            *counts.entry((k, (ts / 10 + 1) * 10)).or_insert(0i64) += 1;
        }
        counts
            .into_iter()
            .map(|((k, end), n)| (k, end, n))
            .collect::<Vec<_>>()
    };
    for p in [1, 4] {
        for mode in [RuntimeExecutionMode::Streaming, RuntimeExecutionMode::Batch] {
            assert_eq!(
                run_bucket_counts(p, mode),
                expected,
                "parallelism {p}, {mode:?}"
            );
        }
    }
}

/// A source that emits timestamped records and watermarks itself, in lockstep with flags.
#[derive(Clone)]
struct Scripted {
    steps: Arc<Vec<Step>>,
}

#[derive(Clone)]
enum Step {
    Record(i64),
    Watermark(i64),
    Idle,
    WaitFor(Arc<AtomicBool>),
    Set(Arc<AtomicBool>),
    Pause(u64),
}

struct ScriptedReader {
    steps: Arc<Vec<Step>>,
    position: usize,
}

impl Source<i64> for Scripted {
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn is_parallel(&self) -> bool {
        false
    }
    fn create_reader(&self, _: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<i64>>> {
        Ok(Box::new(ScriptedReader {
            steps: self.steps.clone(),
            position: 0,
        }))
    }
}

impl SourceReader<i64> for ScriptedReader {
    fn poll_next(&mut self, output: &mut SourceOutput<i64>) -> anyhow::Result<InputStatus> {
        let Some(step) = self.steps.get(self.position) else {
            return Ok(InputStatus::EndOfInput);
        };
        match step {
            Step::Record(ts) => output.collect_with_timestamp(*ts, *ts),
            Step::Watermark(wm) => output.emit_watermark(*wm),
            Step::Idle => output.mark_idle(true),
            Step::WaitFor(flag) => {
                if !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(2));
                    return Ok(InputStatus::NothingAvailable);
                }
            }
            Step::Set(flag) => flag.store(true, Ordering::SeqCst),
            Step::Pause(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
        self.position += 1;
        Ok(InputStatus::MoreAvailable)
    }
}

/// Records, for every element, the watermark the operator had seen before it.
#[derive(Clone)]
struct SeenWatermarks(Arc<Mutex<Vec<(i64, i64)>>>);

impl ProcessFunction<i64, i64> for SeenWatermarks {
    fn process_element(&mut self, value: i64, ctx: &mut Emitter<i64>) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push((value, ctx.current_watermark()));
        ctx.collect(value);
        Ok(())
    }
}

fn scripted(env: &StreamExecutionEnvironment, steps: Vec<Step>) -> strato::DataStream<i64> {
    env.from_source(Scripted {
        steps: Arc::new(steps),
    })
}

#[test]
fn with_two_inputs_at_different_speeds_the_watermark_follows_the_slower_one() {
    let env = local_env(1);
    let slow_done = Arc::new(AtomicBool::new(false));
    let fast = scripted(
        &env,
        vec![
            Step::Record(900),
            Step::Watermark(1000),
            Step::WaitFor(slow_done.clone()),
        ],
    );
    let mut slow_steps = Vec::new();
    for ts in (0..100).step_by(10) {
        slow_steps.extend([
            Step::Pause(3),
            Step::Record(ts + 1_000_000),
            Step::Watermark(ts),
        ]);
    }
    slow_steps.push(Step::Set(slow_done));
    let slow = scripted(&env, slow_steps);
    let seen = SeenWatermarks(Arc::new(Mutex::new(Vec::new())));
    fast.union(&slow)
        .process(seen.clone())
        .set_parallelism(1)
        .execute_and_collect("two speeds")
        .unwrap();
    let seen = seen.0.lock().unwrap().clone();
    for (value, watermark) in seen.iter().filter(|(v, _)| *v >= 1_000_000) {
        assert!(
            *watermark < 100,
            "record {value} saw watermark {watermark}: the fast input must not drive it"
        );
        assert!(
            *watermark <= value - 1_000_000,
            "record {value} saw watermark {watermark} from its own future"
        );
    }
    assert!(
        seen.iter().any(|(_, wm)| *wm >= 50),
        "the watermark advanced with the slow input: {seen:?}"
    );
}

#[test]
fn an_idle_input_does_not_hold_back_the_watermark_of_an_active_one() {
    let env = local_env(1);
    let active_done = Arc::new(AtomicBool::new(false));
    let idle = scripted(
        &env,
        vec![
            Step::Watermark(0),
            Step::Idle,
            Step::WaitFor(active_done.clone()),
        ],
    );
    let mut steps = vec![Step::Pause(20)];
    for ts in (10..=200).step_by(10) {
        steps.extend([Step::Record(ts), Step::Watermark(ts), Step::Pause(2)]);
    }
    steps.push(Step::Record(1));
    steps.push(Step::Set(active_done));
    let active = scripted(&env, steps);
    let seen = SeenWatermarks(Arc::new(Mutex::new(Vec::new())));
    idle.union(&active)
        .process(seen.clone())
        .set_parallelism(1)
        .execute_and_collect("idle")
        .unwrap();
    let last = *seen.0.lock().unwrap().last().unwrap();
    assert_eq!(last.0, 1);
    assert!(
        last.1 >= 190,
        "the idle input held the watermark back at {}",
        last.1
    );
}

#[test]
fn bounded_out_of_orderness_trails_the_highest_timestamp() {
    let env = local_env(1);
    let seen = SeenWatermarks(Arc::new(Mutex::new(Vec::new())));
    env.from_source(
        strato::connectors::datagen::DataGeneratorSource::new(|i| i as i64, Some(2000))
            .with_rows_per_second(4000.0),
    )
    .assign_timestamps_and_watermarks(
        WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(100))
            .with_timestamp_assigner(|v: &i64, _| *v),
    )
    .process(seen.clone())
    .execute_and_collect("periodic")
    .unwrap();
    let seen = seen.0.lock().unwrap().clone();
    let mut last = i64::MIN;
    for (value, watermark) in &seen {
        assert!(*watermark >= last, "the watermark went backwards");
        assert!(
            *watermark <= value - 100 - 1 + 100,
            "watermark {watermark} ran ahead of record {value}"
        );
        last = *watermark;
    }
    assert!(
        last > 0,
        "periodic watermarks were emitted while the source ran"
    );
}

/// Sends odd numbers to a side output.
#[derive(Clone)]
struct SplitOdd(OutputTag<String>);

impl ProcessFunction<i64, i64> for SplitOdd {
    fn process_element(&mut self, value: i64, ctx: &mut Emitter<i64>) -> anyhow::Result<()> {
        if value % 2 == 0 {
            ctx.collect(value);
        } else {
            ctx.output(&self.0, format!("odd {value}"))?;
        }
        Ok(())
    }
}

#[test]
fn side_outputs_carry_records_of_another_type_to_their_own_consumers() {
    let env = local_env(2);
    let odd = OutputTag::<String>::new("odd");
    let main = env.from_sequence(1, 10).process(SplitOdd(odd.clone()));
    let side_seen = Arc::new(Mutex::new(Vec::new()));
    let sink = side_seen.clone();
    main.get_side_output(&odd)
        .key_by(|s: &String| s.len())
        .process(PassThrough)
        .add_sink(move |s: String| sink.lock().unwrap().push(s));
    let mut evens = main.execute_and_collect("side outputs").unwrap();
    evens.sort();
    assert_eq!(evens, vec![2, 4, 6, 8, 10]);
    let mut odds = side_seen.lock().unwrap().clone();
    odds.sort();
    assert_eq!(odds, vec!["odd 1", "odd 3", "odd 5", "odd 7", "odd 9"]);
}

#[derive(Clone)]
struct PassThrough;
impl KeyedProcessFunction<usize, String, String> for PassThrough {
    fn process_element(
        &mut self,
        value: String,
        ctx: &mut KeyedContext<usize, String>,
    ) -> anyhow::Result<()> {
        ctx.collect(value);
        Ok(())
    }
}

/// Emits a key's count when a processing-time timer fires.
#[derive(Clone)]
struct ProcessingTimeout;
impl KeyedProcessFunction<i64, i64, (i64, i64)> for ProcessingTimeout {
    fn process_element(
        &mut self,
        value: i64,
        ctx: &mut KeyedContext<i64, (i64, i64)>,
    ) -> anyhow::Result<()> {
        let now = ctx.timer_service().current_processing_time();
        ctx.timer_service().register_processing_time_timer(now + 20);
        ctx.collect((value, 0));
        Ok(())
    }
    fn on_timer(
        &mut self,
        _timestamp: i64,
        ctx: &mut KeyedContext<i64, (i64, i64)>,
    ) -> anyhow::Result<()> {
        assert_eq!(ctx.time_domain(), Some(strato::TimeDomain::ProcessingTime));
        let key = *ctx.current_key();
        ctx.collect((key, 1));
        Ok(())
    }
}

#[test]
fn processing_time_timers_fire_while_the_job_runs() {
    let env = local_env(1);
    let mut out = env
        .from_source(
            strato::connectors::datagen::DataGeneratorSource::new(|i| i as i64, Some(3))
                .with_rows_per_second(10.0),
        )
        .key_by(|v: &i64| *v)
        .process(ProcessingTimeout)
        .execute_and_collect("processing time")
        .unwrap();
    out.sort();
    // The first two keys' timers (20 ms) fire before the source's next record (100 ms apart).
    assert!(out.contains(&(0, 1)) && out.contains(&(1, 1)), "{out:?}");
}

/// A source whose first records come fast, then which goes quiet without ending until told.
#[derive(Clone)]
struct Stalling(Arc<AtomicBool>);

struct StallingReader(Arc<AtomicBool>, usize);

impl Source<i64> for Stalling {
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn is_parallel(&self) -> bool {
        false
    }
    fn create_reader(&self, _: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<i64>>> {
        Ok(Box::new(StallingReader(self.0.clone(), 0)))
    }
}

impl SourceReader<i64> for StallingReader {
    fn poll_next(&mut self, output: &mut SourceOutput<i64>) -> anyhow::Result<InputStatus> {
        if self.1 == 0 {
            output.collect(0);
            self.1 = 1;
            return Ok(InputStatus::MoreAvailable);
        }
        if self.0.load(Ordering::SeqCst) {
            return Ok(InputStatus::EndOfInput);
        }
        std::thread::sleep(Duration::from_millis(5));
        Ok(InputStatus::NothingAvailable)
    }
}

#[test]
fn with_idleness_marks_a_quiet_input_idle_so_the_other_drives_the_watermark() {
    let env = local_env(1);
    let done = Arc::new(AtomicBool::new(false));
    let quiet = env
        .from_source(Stalling(done.clone()))
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|v: &i64, _| *v)
                .with_idleness(Duration::from_millis(100)),
        );
    let mut steps = vec![Step::Pause(50)];
    for ts in (100..=2000).step_by(100) {
        steps.extend([Step::Record(ts), Step::Watermark(ts), Step::Pause(20)]);
    }
    steps.push(Step::Record(1));
    steps.push(Step::Set(done));
    let active = scripted(&env, steps);
    let seen = SeenWatermarks(Arc::new(Mutex::new(Vec::new())));
    quiet
        .union(&active)
        .process(seen.clone())
        .set_parallelism(1)
        .execute_and_collect("idleness")
        .unwrap();
    let last = *seen.0.lock().unwrap().last().unwrap();
    assert_eq!(last.0, 1);
    assert!(
        last.1 >= 1900,
        "the quiet input (watermark -1) still held the watermark back at {}",
        last.1
    );
}
