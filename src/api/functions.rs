//! The user-function traits (Flink's `MapFunction`, `RichFlatMapFunction`, `ReduceFunction`,
//! `SinkFunction`, `CoMapFunction`, ...) and the runtime context rich functions receive.
//!
//! Closures implement the plain traits automatically. A struct implementing a trait can also
//! override `open`/`close` to set up per-subtask resources: that is Flink's "rich function".
//! Each parallel subtask gets its own clone of the function.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::RuntimeExecutionMode;
use crate::runtime::batch::Batch;
use crate::util::ids::JobId;

/// What a running function can learn about where it runs (Flink's `RuntimeContext`).
#[derive(Clone)]
pub struct RuntimeContext {
    pub(crate) job_id: JobId,
    pub(crate) task_name: String,
    pub(crate) subtask_index: usize,
    pub(crate) parallelism: usize,
    pub(crate) max_parallelism: usize,
    pub(crate) attempt_number: u32,
    pub(crate) runtime_mode: RuntimeExecutionMode,
    /// The job checkpoints, and a final checkpoint follows the end of the input.
    pub(crate) final_checkpoint: bool,
    pub(crate) auto_watermark_interval: std::time::Duration,
    pub(crate) accumulators: Accumulators,
    /// The task's restored state and the snapshots its operators take.
    pub(crate) state: std::sync::Arc<crate::state::TaskStateManager>,
}

impl RuntimeContext {
    /// A context for running functions outside a job (tests of user functions).
    pub fn for_test(subtask_index: usize, parallelism: usize) -> Self {
        RuntimeContext {
            job_id: JobId(0),
            task_name: "test".into(),
            subtask_index,
            parallelism,
            max_parallelism: crate::runtime::keygroup::default_max_parallelism(parallelism),
            attempt_number: 0,
            runtime_mode: RuntimeExecutionMode::Streaming,
            final_checkpoint: false,
            auto_watermark_interval: std::time::Duration::from_millis(200),
            accumulators: Accumulators::default(),
            state: Default::default(),
        }
    }

    /// The task's state manager: what operators restore from and where snapshots go.
    pub(crate) fn state_manager(&self) -> &std::sync::Arc<crate::state::TaskStateManager> {
        &self.state
    }

    pub fn job_id(&self) -> JobId {
        self.job_id
    }
    /// The task's name with its chain, e.g. `Source: Text File -> Flat Map`.
    pub fn task_name(&self) -> &str {
        &self.task_name
    }
    /// 0-based index of this parallel subtask.
    pub fn index_of_this_subtask(&self) -> usize {
        self.subtask_index
    }
    pub fn number_of_parallel_subtasks(&self) -> usize {
        self.parallelism
    }
    pub fn max_number_of_parallel_subtasks(&self) -> usize {
        self.max_parallelism
    }
    /// How many times this task was restarted before (0 on the first attempt).
    pub fn attempt_number(&self) -> u32 {
        self.attempt_number
    }
    /// Whether a final checkpoint follows the end of this task's input (streaming with
    /// checkpointing): two-phase-commit sinks then commit their last data with it.
    pub(crate) fn final_checkpoint_follows(&self) -> bool {
        self.final_checkpoint
    }
    /// STREAMING or BATCH: how the job runs (never AUTOMATIC at runtime).
    pub fn runtime_mode(&self) -> RuntimeExecutionMode {
        self.runtime_mode
    }
    /// How often periodic watermarks are generated (`pipeline.auto-watermark-interval`).
    pub fn auto_watermark_interval(&self) -> std::time::Duration {
        self.auto_watermark_interval
    }
    /// `Task name (i/p)` as Flink prints it in logs.
    pub fn task_name_with_subtasks(&self) -> String {
        format!(
            "{} ({}/{})",
            self.task_name,
            self.subtask_index + 1,
            self.parallelism
        )
    }
    /// A counter that is summed over all subtasks into the job result's accumulators.
    pub fn long_counter(&self, name: &str) -> LongCounter {
        self.accumulators.counter(name)
    }
}

/// A summed `i64` accumulator (Flink's `LongCounter`), cheap to clone and to add to.
#[derive(Clone, Default)]
pub struct LongCounter(Arc<AtomicI64>);

impl LongCounter {
    pub fn add(&self, value: i64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The accumulators one task registered, by name.
#[derive(Clone, Default)]
pub struct Accumulators(Arc<Mutex<BTreeMap<String, LongCounter>>>);

impl Accumulators {
    fn counter(&self, name: &str) -> LongCounter {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string()).or_default().clone()
    }

    /// Current values, to merge into the job result.
    pub fn snapshot(&self) -> BTreeMap<String, i64> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.get())).collect()
    }
}

/// Where a function emits records (Flink's `Collector`). Emitted records carry the timestamp
/// of the record being processed.
pub struct Collector<'a, T> {
    pub(crate) out: &'a mut Batch<T>,
    pub(crate) timestamp: Option<i64>,
}

impl<'a, T> Collector<'a, T> {
    pub(crate) fn new(out: &'a mut Batch<T>) -> Self {
        Collector {
            out,
            timestamp: None,
        }
    }

    /// Emits one record.
    #[inline]
    pub fn collect(&mut self, record: T) {
        self.out.push(record, self.timestamp);
    }
}

macro_rules! lifecycle {
    () => {
        /// Called once per subtask before the first record.
        fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
            Ok(())
        }
        /// Called once per subtask after the last record, or when the task stops.
        fn close(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
    };
}

/// One record in, one record out.
pub trait MapFunction<I, O>: Clone + Send + 'static {
    fn map(&mut self, value: I) -> anyhow::Result<O>;
    lifecycle!();
}

/// One record in, any number out.
pub trait FlatMapFunction<I, O>: Clone + Send + 'static {
    fn flat_map(&mut self, value: I, out: &mut Collector<O>) -> anyhow::Result<()>;
    lifecycle!();
}

/// Keeps the records for which it returns true.
pub trait FilterFunction<T>: Clone + Send + 'static {
    fn filter(&mut self, value: &T) -> anyhow::Result<bool>;
    lifecycle!();
}

/// Combines two values of one key into one (Flink's `ReduceFunction`).
pub trait ReduceFunction<T>: Clone + Send + 'static {
    fn reduce(&mut self, accumulated: T, value: T) -> anyhow::Result<T>;
}

/// Receives the records of a stream at its end (Flink's `SinkFunction`).
pub trait SinkFunction<T>: Clone + Send + 'static {
    fn invoke(&mut self, value: T) -> anyhow::Result<()>;
    /// Called with whole batches; override to write a batch at once.
    fn invoke_batch(&mut self, batch: &mut Vec<T>) -> anyhow::Result<()> {
        for value in batch.drain(..) {
            self.invoke(value)?;
        }
        Ok(())
    }
    /// All input has arrived: flush what is buffered.
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    lifecycle!();
}

/// Maps the records of two connected streams to one output type.
pub trait CoMapFunction<A, B, O>: Clone + Send + 'static {
    fn map1(&mut self, value: A) -> anyhow::Result<O>;
    fn map2(&mut self, value: B) -> anyhow::Result<O>;
    lifecycle!();
}

/// Flat-maps the records of two connected streams to one output type.
pub trait CoFlatMapFunction<A, B, O>: Clone + Send + 'static {
    fn flat_map1(&mut self, value: A, out: &mut Collector<O>) -> anyhow::Result<()>;
    fn flat_map2(&mut self, value: B, out: &mut Collector<O>) -> anyhow::Result<()>;
    lifecycle!();
}

/// Picks the one target subtask of a record's key (Flink's `Partitioner`).
pub trait Partitioner<K>: Clone + Send + 'static {
    fn partition(&mut self, key: &K, num_partitions: usize) -> usize;
}

// ---- closures -------------------------------------------------------------------------------

/// Adapts a plain closure to a function trait.
#[derive(Clone)]
pub struct Closure<F>(pub F);

impl<I, O, F> MapFunction<I, O> for Closure<F>
where
    F: FnMut(I) -> O + Clone + Send + 'static,
{
    #[inline]
    fn map(&mut self, value: I) -> anyhow::Result<O> {
        Ok((self.0)(value))
    }
}

impl<I, O, F> FlatMapFunction<I, O> for Closure<F>
where
    F: FnMut(I, &mut Collector<O>) + Clone + Send + 'static,
{
    #[inline]
    fn flat_map(&mut self, value: I, out: &mut Collector<O>) -> anyhow::Result<()> {
        (self.0)(value, out);
        Ok(())
    }
}

impl<T, F> FilterFunction<T> for Closure<F>
where
    F: FnMut(&T) -> bool + Clone + Send + 'static,
{
    #[inline]
    fn filter(&mut self, value: &T) -> anyhow::Result<bool> {
        Ok((self.0)(value))
    }
}

impl<T, F> ReduceFunction<T> for Closure<F>
where
    F: FnMut(T, T) -> T + Clone + Send + 'static,
{
    #[inline]
    fn reduce(&mut self, accumulated: T, value: T) -> anyhow::Result<T> {
        Ok((self.0)(accumulated, value))
    }
}

impl<T, F> SinkFunction<T> for Closure<F>
where
    F: FnMut(T) + Clone + Send + 'static,
{
    #[inline]
    fn invoke(&mut self, value: T) -> anyhow::Result<()> {
        (self.0)(value);
        Ok(())
    }
}

impl<K, F> Partitioner<K> for Closure<F>
where
    F: FnMut(&K, usize) -> usize + Clone + Send + 'static,
{
    #[inline]
    fn partition(&mut self, key: &K, num_partitions: usize) -> usize {
        (self.0)(key, num_partitions)
    }
}

/// Two closures, one per input of a connected stream.
#[derive(Clone)]
pub struct CoClosures<F1, F2>(pub F1, pub F2);

impl<A, B, O, F1, F2> CoMapFunction<A, B, O> for CoClosures<F1, F2>
where
    F1: FnMut(A) -> O + Clone + Send + 'static,
    F2: FnMut(B) -> O + Clone + Send + 'static,
{
    fn map1(&mut self, value: A) -> anyhow::Result<O> {
        Ok((self.0)(value))
    }
    fn map2(&mut self, value: B) -> anyhow::Result<O> {
        Ok((self.1)(value))
    }
}

impl<A, B, O, F1, F2> CoFlatMapFunction<A, B, O> for CoClosures<F1, F2>
where
    F1: FnMut(A, &mut Collector<O>) + Clone + Send + 'static,
    F2: FnMut(B, &mut Collector<O>) + Clone + Send + 'static,
{
    fn flat_map1(&mut self, value: A, out: &mut Collector<O>) -> anyhow::Result<()> {
        (self.0)(value, out);
        Ok(())
    }
    fn flat_map2(&mut self, value: B, out: &mut Collector<O>) -> anyhow::Result<()> {
        (self.1)(value, out);
        Ok(())
    }
}
