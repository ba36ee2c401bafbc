//! Specifications of the DataStream operators on the embedded executor.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use strato::{
    CoMapFunction, Collector, Error, MapFunction, ReduceFunction, RuntimeContext,
    RuntimeExecutionMode, StreamExecutionEnvironment,
};

fn local_env(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn map_flat_map_and_filter_transform_every_record() {
    for p in [1, 3] {
        let env = local_env(p);
        let out = env
            .from_sequence(1, 1000)
            .map(|x: i64| x * 2)
            .filter(|x: &i64| x % 3 != 0)
            .flat_map(|x: i64, out: &mut Collector<i64>| {
                out.collect(x);
                out.collect(-x);
            })
            .execute_and_collect("ops")
            .unwrap();
        let expected: Vec<i64> = (1..=1000)
            .map(|x| x * 2)
            .filter(|x| x % 3 != 0)
            .flat_map(|x| [x, -x])
            .collect();
        assert_eq!(sorted(out), sorted(expected), "parallelism {p}");
    }
}

#[derive(Clone)]
struct TagWithSubtask {
    tag: String,
    opened: bool,
}

impl MapFunction<i64, (String, usize, usize, i64)> for TagWithSubtask {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.opened = true;
        self.tag = format!("{}:{}", self.tag, ctx.task_name());
        Ok(())
    }
    fn map(&mut self, value: i64) -> anyhow::Result<(String, usize, usize, i64)> {
        anyhow::ensure!(self.opened, "map called before open");
        Ok((self.tag.clone(), 0, 0, value))
    }
}

#[test]
fn rich_functions_are_opened_with_their_runtime_context_before_the_first_record() {
    let env = local_env(2);
    let out = env
        .from_sequence(0, 9)
        .map_rich(TagWithSubtask {
            tag: "t".into(),
            opened: false,
        })
        .execute_and_collect("rich")
        .unwrap();
    assert_eq!(out.len(), 10);
    assert!(
        out.iter()
            .all(|(tag, ..)| tag.starts_with("t:Source: Sequence Source -> Map")),
        "{out:?}"
    );
}

/// Records which subtask saw each record.
#[derive(Clone, Default)]
struct WhereAmI(usize);
impl MapFunction<i64, (usize, i64)> for WhereAmI {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.0 = ctx.index_of_this_subtask();
        Ok(())
    }
    fn map(&mut self, value: i64) -> anyhow::Result<(usize, i64)> {
        Ok((self.0, value))
    }
}

fn subtask_counts(out: &[(usize, i64)]) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for (s, _) in out {
        *counts.entry(*s).or_default() += 1;
    }
    counts
}

#[test]
fn rebalance_spreads_records_round_robin_over_every_subtask() {
    let env = local_env(1);
    let out = env
        .from_sequence(0, 999)
        .rebalance()
        .map_rich(WhereAmI::default())
        .set_parallelism(4)
        .execute_and_collect("rebalance")
        .unwrap();
    let counts = subtask_counts(&out);
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|&c| c == 250), "{counts:?}");
}

#[test]
fn shuffle_reaches_every_subtask_and_loses_nothing() {
    let env = local_env(1);
    let out = env
        .from_sequence(0, 9999)
        .shuffle()
        .map_rich(WhereAmI::default())
        .set_parallelism(3)
        .execute_and_collect("shuffle")
        .unwrap();
    assert_eq!(out.len(), 10_000);
    assert_eq!(subtask_counts(&out).len(), 3);
}

#[test]
fn broadcast_sends_every_record_to_every_subtask() {
    let env = local_env(1);
    let out = env
        .from_sequence(1, 100)
        .broadcast()
        .map_rich(WhereAmI::default())
        .set_parallelism(3)
        .execute_and_collect("broadcast")
        .unwrap();
    assert_eq!(out.len(), 300);
    for s in 0..3 {
        let mine: Vec<i64> = sorted(
            out.iter()
                .filter(|(i, _)| *i == s)
                .map(|(_, v)| *v)
                .collect(),
        );
        assert_eq!(mine, (1..=100).collect::<Vec<_>>());
    }
}

#[test]
fn global_sends_everything_to_the_first_subtask() {
    let env = local_env(3);
    let out = env
        .from_sequence(1, 100)
        .global()
        .map_rich(WhereAmI::default())
        .execute_and_collect("global")
        .unwrap();
    assert_eq!(out.len(), 100);
    assert!(out.iter().all(|(s, _)| *s == 0));
}

#[test]
fn forward_keeps_records_on_the_subtask_of_the_same_index() {
    let env = local_env(2);
    let source = env.from_sequence(0, 99).map_rich(WhereAmI::default());
    let out = source
        .forward()
        .map(|(s, v): (usize, i64)| (s, v))
        .disable_chaining()
        .execute_and_collect("forward")
        .unwrap();
    assert_eq!(out.len(), 100);
    let env = local_env(2);
    let first = env.from_sequence(0, 99).map_rich(WhereAmI::default());
    let both = first
        .forward()
        .map_rich(SecondStage::default())
        .disable_chaining()
        .execute_and_collect("forward2")
        .unwrap();
    assert!(
        both.iter().all(|(a, b, _)| a == b),
        "forward moved a record to another subtask"
    );
}

#[derive(Clone, Default)]
struct SecondStage(usize);
impl MapFunction<(usize, i64), (usize, usize, i64)> for SecondStage {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.0 = ctx.index_of_this_subtask();
        Ok(())
    }
    fn map(&mut self, (s, v): (usize, i64)) -> anyhow::Result<(usize, usize, i64)> {
        Ok((s, self.0, v))
    }
}

#[test]
fn rescale_feeds_each_consumer_from_one_local_producer() {
    let env = local_env(2);
    let out = env
        .from_sequence(0, 999)
        .map_rich(WhereAmI::default())
        .rescale()
        .map_rich(SecondStage::default())
        .set_parallelism(4)
        .execute_and_collect("rescale")
        .unwrap();
    assert_eq!(out.len(), 1000);
    // Producer 0 feeds consumers 0 and 1, producer 1 feeds consumers 2 and 3.
    for (producer, consumer, _) in &out {
        assert_eq!(
            *producer,
            consumer / 2,
            "producer {producer} reached consumer {consumer}"
        );
    }
    assert_eq!(
        subtask_counts(&out.iter().map(|(_, c, v)| (*c, *v)).collect::<Vec<_>>()).len(),
        4
    );
}

#[test]
fn partition_custom_sends_each_record_where_the_partitioner_says() {
    let env = local_env(1);
    let out = env
        .from_sequence(0, 99)
        .partition_custom(|key: &i64, n: usize| (*key as usize) % n, |v: &i64| *v)
        .map_rich(WhereAmI::default())
        .set_parallelism(3)
        .execute_and_collect("custom")
        .unwrap();
    assert_eq!(out.len(), 100);
    assert!(out.iter().all(|(s, v)| *s == (*v as usize) % 3));
}

#[test]
fn a_custom_partitioner_choosing_a_missing_channel_fails_the_job() {
    let env = local_env(1);
    let err = env
        .from_sequence(0, 9)
        .partition_custom(|_: &i64, n: usize| n + 5, |v: &i64| *v)
        .map(|v: i64| v)
        .set_parallelism(2)
        .execute_and_collect("bad custom")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("partitioner chose channel 7, but there are only 2 channels"),
        "{err}"
    );
}

#[test]
fn key_by_sends_every_key_to_exactly_one_subtask() {
    let env = local_env(3);
    let out = env
        .from_sequence(0, 2999)
        .key_by(|v: &i64| v % 17)
        .reduce(|a: i64, b: i64| a.max(b))
        .map_rich(WhereAmI::default())
        .execute_and_collect("keyed")
        .unwrap();
    let mut owner: HashMap<i64, usize> = HashMap::new();
    for (subtask, v) in out {
        let prev = owner.insert(v % 17, subtask);
        assert!(
            prev.is_none() || prev == Some(subtask),
            "key {} seen on two subtasks",
            v % 17
        );
    }
    assert_eq!(owner.len(), 17);
}

#[test]
fn reduce_emits_every_update_in_streaming_and_one_final_value_in_batch() {
    let words = ["a", "b", "a", "c", "a", "b"];
    let streaming = local_env(2)
        .from_collection(words.iter().map(|w| (w.to_string(), 1i64)))
        .key_by(|(w, _): &(String, i64)| w.clone())
        .sum(|t: &mut (String, i64)| &mut t.1)
        .execute_and_collect("streaming")
        .unwrap();
    let expected = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("c", 1)];
    assert_eq!(
        sorted(streaming),
        expected
            .iter()
            .map(|(w, c)| (w.to_string(), *c as i64))
            .collect::<Vec<_>>()
    );

    let batch_env = local_env(2);
    batch_env.set_runtime_mode(RuntimeExecutionMode::Batch);
    let batch = batch_env
        .from_collection(words.iter().map(|w| (w.to_string(), 1i64)))
        .key_by(|(w, _): &(String, i64)| w.clone())
        .sum(|t: &mut (String, i64)| &mut t.1)
        .execute_and_collect("batch")
        .unwrap();
    assert_eq!(
        sorted(batch),
        vec![
            ("a".to_string(), 3),
            ("b".to_string(), 2),
            ("c".to_string(), 1)
        ]
    );
}

#[test]
fn min_and_max_keep_the_first_records_other_fields_while_min_by_and_max_by_keep_whole_records() {
    let readings = [
        ("k", 5, "first"),
        ("k", 3, "second"),
        ("k", 9, "third"),
        ("k", 3, "fourth"),
    ];
    let run = |op: &str| {
        let env = local_env(1);
        env.set_runtime_mode(RuntimeExecutionMode::Batch);
        let keyed = env
            .from_collection(
                readings
                    .iter()
                    .map(|(k, v, t)| (k.to_string(), *v as i64, t.to_string())),
            )
            .key_by(|r: &(String, i64, String)| r.0.clone());
        let stream = match op {
            "min" => keyed.min(|r: &mut (String, i64, String)| &mut r.1),
            "max" => keyed.max(|r: &mut (String, i64, String)| &mut r.1),
            "min_by" => keyed.min_by(|r: &(String, i64, String)| r.1),
            _ => keyed.max_by(|r: &(String, i64, String)| r.1),
        };
        let out = stream.execute_and_collect(op).unwrap();
        assert_eq!(out.len(), 1);
        (out[0].1, out[0].2.clone())
    };
    assert_eq!(run("min"), (3, "first".to_string()));
    assert_eq!(run("max"), (9, "first".to_string()));
    assert_eq!(
        run("min_by"),
        (3, "second".to_string()),
        "ties keep the earlier record"
    );
    assert_eq!(run("max_by"), (9, "third".to_string()));
}

#[derive(Clone)]
struct Concat;
impl ReduceFunction<String> for Concat {
    fn reduce(&mut self, acc: String, value: String) -> anyhow::Result<String> {
        Ok(acc + &value)
    }
}

#[test]
fn reduce_rich_accepts_a_reduce_function() {
    let env = local_env(1);
    env.set_runtime_mode(RuntimeExecutionMode::Batch);
    let out = env
        .from_collection(["x", "y", "z"].map(String::from))
        .key_by(|_: &String| 0u8)
        .reduce_rich(Concat)
        .execute_and_collect("concat")
        .unwrap();
    assert_eq!(out, vec!["xyz".to_string()]);
}

#[test]
fn union_merges_streams_of_one_type() {
    let env = local_env(2);
    let a = env.from_sequence(0, 9);
    let b = env.from_sequence(100, 109);
    let c = env.from_elements(vec![1000i64]);
    let out = a
        .union(&b)
        .union(&c)
        .map(|x: i64| x + 1)
        .execute_and_collect("union")
        .unwrap();
    let mut expected: Vec<i64> = (1..=10).chain(101..=110).collect();
    expected.push(1001);
    assert_eq!(sorted(out), sorted(expected));
}

#[derive(Clone)]
struct Describe;
impl CoMapFunction<i64, String, String> for Describe {
    fn map1(&mut self, v: i64) -> anyhow::Result<String> {
        Ok(format!("number {v}"))
    }
    fn map2(&mut self, v: String) -> anyhow::Result<String> {
        Ok(format!("word {v}"))
    }
}

#[test]
fn connect_applies_one_function_per_input_type() {
    let env = local_env(2);
    let numbers = env.from_sequence(1, 3);
    let words = env.from_elements(vec!["a".to_string(), "b".to_string()]);
    let mapped = numbers
        .connect(&words)
        .map(|n: i64| n.to_string(), |w: String| w.to_uppercase())
        .execute_and_collect("co-map")
        .unwrap();
    assert_eq!(sorted(mapped), vec!["1", "2", "3", "A", "B"]);

    let env = local_env(2);
    let numbers = env.from_sequence(1, 2);
    let words = env.from_elements(vec!["x".to_string()]);
    let rich = numbers
        .connect(&words)
        .map_rich(Describe)
        .execute_and_collect("co-map rich")
        .unwrap();
    assert_eq!(sorted(rich), vec!["number 1", "number 2", "word x"]);

    let env = local_env(1);
    let numbers = env.from_sequence(1, 2);
    let words = env.from_elements(vec!["hello world".to_string()]);
    let flat = numbers
        .connect(&words)
        .flat_map(
            |n: i64, out: &mut Collector<String>| {
                (0..n).for_each(|i| out.collect(format!("{n}.{i}")))
            },
            |line: String, out: &mut Collector<String>| {
                line.split(' ').for_each(|w| out.collect(w.to_string()))
            },
        )
        .execute_and_collect("co-flat-map")
        .unwrap();
    assert_eq!(sorted(flat), vec!["1.0", "2.0", "2.1", "hello", "world"]);
}

#[test]
fn accumulators_are_summed_over_subtasks_into_the_job_result() {
    #[derive(Clone, Default)]
    struct Count(Option<strato::LongCounter>);
    impl MapFunction<i64, i64> for Count {
        fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
            self.0 = Some(ctx.long_counter("seen"));
            Ok(())
        }
        fn map(&mut self, v: i64) -> anyhow::Result<i64> {
            if let Some(c) = &self.0 {
                c.add(1);
            }
            Ok(v)
        }
    }
    let env = local_env(3);
    env.from_sequence(1, 500)
        .map_rich(Count::default())
        .add_sink(|_: i64| {});
    let result = env.execute("accumulators").unwrap();
    assert_eq!(result.get_accumulator_result("seen"), Some(500));
    assert_eq!(result.job_id().to_string().len(), 32);
}

#[test]
fn a_stream_can_feed_several_operators() {
    let env = local_env(2);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let numbers = env.from_sequence(1, 5);
    let sink = seen.clone();
    numbers
        .map(|x: i64| x * 10)
        .add_sink(move |x: i64| sink.lock().unwrap().push(x));
    let out = numbers.execute_and_collect("fan-out").unwrap();
    assert_eq!(sorted(out), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        sorted(seen.lock().unwrap().clone()),
        vec![10, 20, 30, 40, 50]
    );
}

#[test]
fn a_job_without_operators_cannot_execute() {
    let err = local_env(1).execute("empty").unwrap_err();
    assert!(
        matches!(err, Error::InvalidGraph(ref m) if m.contains("No operators defined")),
        "{err}"
    );
}

/// A user-defined source: each subtask counts down from its own start.
struct Countdown {
    from: u32,
}

struct CountdownReader {
    next: u32,
    subtask: u32,
}

impl strato::Source<(u32, u32)> for Countdown {
    fn name(&self) -> String {
        "Countdown".into()
    }
    fn boundedness(&self) -> strato::Boundedness {
        strato::Boundedness::Bounded
    }
    fn create_reader(
        &self,
        ctx: &RuntimeContext,
    ) -> anyhow::Result<Box<dyn strato::SourceReader<(u32, u32)>>> {
        Ok(Box::new(CountdownReader {
            next: self.from,
            subtask: ctx.index_of_this_subtask() as u32,
        }))
    }
}

impl strato::SourceReader<(u32, u32)> for CountdownReader {
    fn poll_next(
        &mut self,
        output: &mut strato::SourceOutput<(u32, u32)>,
    ) -> anyhow::Result<strato::InputStatus> {
        while self.next > 0 && !output.is_full() {
            output.collect((self.subtask, self.next));
            self.next -= 1;
        }
        Ok(if self.next == 0 {
            strato::InputStatus::EndOfInput
        } else {
            strato::InputStatus::MoreAvailable
        })
    }
}

#[test]
fn a_user_defined_source_runs_one_reader_per_subtask() {
    let env = local_env(2);
    let out = env
        .from_source(Countdown { from: 3000 })
        .execute_and_collect("custom source")
        .unwrap();
    assert_eq!(out.len(), 6000);
    for subtask in 0..2 {
        let mine: Vec<u32> = out
            .iter()
            .filter(|(s, _)| *s == subtask)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(
            mine,
            (1..=3000).rev().collect::<Vec<_>>(),
            "each reader's records arrive in order"
        );
    }
    assert!(
        env.get_execution_plan().is_err(),
        "executing consumed the operators"
    );
}
