//! Specifications of checkpointing in the embedded executor: barriers flow from the sources
//! through every task, completed checkpoints are committed in Flink's layout, a failed job
//! restarts from its latest checkpoint with its sources rewound to their checkpointed
//! positions, and savepoints are self-contained directories a new run can start from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strato::api::source::{Boundedness, InputStatus, Source, SourceOutput, SourceReader};
use strato::{RuntimeContext, StreamExecutionEnvironment};

mod support;

/// Emits `0..count` split over the subtasks, a few records per poll, slowly enough that
/// checkpoints complete while it runs; its position is the next value of each split.
#[derive(Clone)]
struct SlowCounter {
    count: u64,
    per_poll: u64,
    /// Counts the checkpoints the readers were told completed.
    completed: Arc<AtomicU64>,
}

impl SlowCounter {
    fn new(count: u64, per_poll: u64) -> Self {
        SlowCounter {
            count,
            per_poll,
            completed: Arc::default(),
        }
    }
}

struct SlowCounterReader {
    /// (next, end) per split.
    splits: Vec<(u64, u64)>,
    per_poll: u64,
    completed: Arc<AtomicU64>,
}

impl Source<u64> for SlowCounter {
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn create_reader(&self, ctx: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<u64>>> {
        let (i, p) = (
            ctx.index_of_this_subtask() as u64,
            ctx.number_of_parallel_subtasks() as u64,
        );
        Ok(Box::new(SlowCounterReader {
            splits: vec![(i * self.count / p, (i + 1) * self.count / p)],
            per_poll: self.per_poll,
            completed: self.completed.clone(),
        }))
    }
    fn restore_reader(
        &self,
        _ctx: &RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> anyhow::Result<Box<dyn SourceReader<u64>>> {
        let splits = splits
            .iter()
            .map(|s| {
                let (next, end) = s.split_at(8);
                Ok((
                    u64::from_be_bytes(next.try_into()?),
                    u64::from_be_bytes(end.try_into()?),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Box::new(SlowCounterReader {
            splits,
            per_poll: self.per_poll,
            completed: self.completed.clone(),
        }))
    }
}

impl SourceReader<u64> for SlowCounterReader {
    fn poll_next(&mut self, output: &mut SourceOutput<u64>) -> anyhow::Result<InputStatus> {
        let Some(split) = self.splits.iter_mut().find(|(next, end)| next < end) else {
            return Ok(InputStatus::EndOfInput);
        };
        for _ in 0..self.per_poll {
            if split.0 < split.1 {
                output.collect(split.0);
                split.0 += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
        Ok(InputStatus::MoreAvailable)
    }
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(self
            .splits
            .iter()
            .map(|(next, end)| [next.to_be_bytes(), end.to_be_bytes()].concat())
            .collect())
    }
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> anyhow::Result<()> {
        self.completed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn checkpointed_env(parallelism: usize, checkpoints: &str) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env.enable_checkpointing(Duration::from_millis(50));
    env.get_checkpoint_config()
        .set_checkpoint_storage(checkpoints);
    support::restart_fixed_delay(&env, 3, "10 ms");
    env
}

#[test]
fn a_failed_job_restarts_from_its_latest_checkpoint_with_sources_rewound() {
    let dir = tempfile::tempdir().unwrap();
    fail_once_and_recover(&format!("file://{}", dir.path().display()));
}

#[test]
fn a_checkpointed_job_with_checkpoints_on_hdfs_recovers_from_them() {
    use strato::fs::mini_hdfs::{MiniHdfs, MiniHdfsConfig};
    use strato::fs::{FileSystem, FsPath};
    let dir = tempfile::tempdir().unwrap();
    let hdfs = MiniHdfs::start(&dir.path().join("hdfs"), MiniHdfsConfig::default()).unwrap();
    let checkpoints = format!("{}/checkpoints", hdfs.uri());
    fail_once_and_recover(&checkpoints);
    // The job's checkpoint directory was created on HDFS in Flink's layout.
    let (fs, _) = <dyn FileSystem>::for_uri(&checkpoints).unwrap();
    let jobs = fs.list(&FsPath::parse(&checkpoints).unwrap()).unwrap();
    assert_eq!(jobs.len(), 1, "one job directory");
    let layout: Vec<String> = fs
        .list(&jobs[0].path)
        .unwrap()
        .iter()
        .filter_map(|s| s.path.file_name().map(str::to_string))
        .collect();
    assert!(
        layout.contains(&"shared".to_string()) && layout.contains(&"taskowned".to_string()),
        "{layout:?}"
    );
}

fn fail_once_and_recover(checkpoints: &str) {
    let env = checkpointed_env(2, checkpoints);
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let failed = Arc::new(AtomicBool::new(false));
    let (sink_seen, fail_once) = (seen.clone(), failed.clone());
    let source = SlowCounter::new(20_000, 20);
    let completed = source.completed.clone();
    env.from_source(source)
        .uid("counter")
        .rebalance()
        .map(move |x: u64| {
            // Fail once, after checkpoints have completed.
            if completed.load(Ordering::SeqCst) >= 4 && !fail_once.swap(true, Ordering::SeqCst) {
                panic!("injected failure at {x}");
            }
            x
        })
        .add_sink(move |x: u64| sink_seen.lock().unwrap().push(x));
    env.execute("restarts from a checkpoint").unwrap();
    assert!(failed.load(Ordering::SeqCst), "the failure was injected");
    let seen = seen.lock().unwrap();
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for x in seen.iter() {
        *counts.entry(*x).or_default() += 1;
    }
    assert_eq!(counts.len(), 20_000, "every record arrives at least once");
    let replayed = counts.values().filter(|c| **c > 1).count();
    assert!(
        replayed < 10_000,
        "the sources resumed from a checkpoint instead of the beginning ({replayed} records replayed)"
    );
}

fn savepoint_env(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env
}

/// Runs the counter (uid `counter`) into a collecting sink; returns the records seen.
fn counter_job(env: &StreamExecutionEnvironment, count: u64) -> Arc<Mutex<Vec<u64>>> {
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = seen.clone();
    env.from_source(SlowCounter::new(count, 5))
        .uid("counter")
        .add_sink(move |x: u64| sink.lock().unwrap().push(x));
    seen
}

fn wait_for(seen: &Arc<Mutex<Vec<u64>>>, at_least: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "the job made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn stop_with_savepoint_then_restore_at_another_parallelism_continues_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("file://{}", dir.path().display());
    let env = savepoint_env(2);
    let first = counter_job(&env, 20_000);
    let client = env.execute_async("first run").unwrap();
    wait_for(&first, 500);
    let path = client.stop_with_savepoint(false, Some(&target)).unwrap();
    client.get_job_execution_result().unwrap();
    let name = path.rsplit('/').next().unwrap().to_string();
    let hex = client_hex(&name);
    assert_eq!(hex.0.len(), 6, "{name}");
    assert_eq!(hex.1.len(), 12, "{name}");
    assert!(dir.path().join(&name).join("_metadata").is_file());

    // The savepoint is self-contained: move it, then start from the new place with p = 3.
    let moved = dir.path().join("moved");
    std::fs::rename(dir.path().join(&name), &moved).unwrap();
    let env = savepoint_env(3);
    env.set_config("execution.savepoint.path", moved.to_str().unwrap());
    let second = counter_job(&env, 20_000);
    env.execute("second run").unwrap();

    let mut all: Vec<u64> = first.lock().unwrap().clone();
    all.extend(second.lock().unwrap().iter());
    all.sort();
    assert_eq!(
        all,
        (0..20_000).collect::<Vec<_>>(),
        "every record exactly once"
    );
}

fn client_hex(name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('-').collect();
    assert_eq!(parts.len(), 3, "{name}");
    assert_eq!(parts[0], "savepoint");
    assert!(parts[1..]
        .iter()
        .all(|p| p.chars().all(|c| c.is_ascii_hexdigit())));
    (parts[1].to_string(), parts[2].to_string())
}

#[test]
fn restoring_state_of_a_removed_operator_fails_unless_non_restored_state_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let env = savepoint_env(1);
    let seen = counter_job(&env, 1_000_000);
    let client = env.execute_async("with the counter").unwrap();
    wait_for(&seen, 100);
    let path = client
        .trigger_savepoint(Some(dir.path().to_str().unwrap()))
        .unwrap();
    client.cancel();
    let _ = client.get_job_execution_result();

    let changed = |allow: bool| {
        let env = savepoint_env(1);
        env.set_config("execution.savepoint.path", &path);
        if allow {
            env.set_config("execution.savepoint.ignore-unclaimed-state", "true");
        }
        env.from_elements(vec![1u64, 2, 3])
            .uid("something else")
            .add_sink(|_: u64| {});
        env.execute("changed program")
    };
    let err = changed(false).unwrap_err().to_string();
    assert!(
        err.contains("Cannot map checkpoint/savepoint state for operator")
            && err.contains("uid 'counter'")
            && err.contains("--allowNonRestoredState"),
        "{err}"
    );
    changed(true).unwrap();
}

#[test]
fn a_missing_or_corrupt_savepoint_is_a_clear_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let run = |path: &str| {
        let env = savepoint_env(1);
        env.set_config("execution.savepoint.path", path);
        env.from_elements(vec![1u64]).add_sink(|_: u64| {});
        env.execute("restore").unwrap_err().to_string()
    };
    let missing = dir.path().join("savepoint-000000-000000000000");
    let err = run(missing.to_str().unwrap());
    assert!(
        err.contains("no checkpoint metadata at") && err.contains("savepoint-000000-000000000000"),
        "{err}"
    );
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("_metadata"), b"not metadata at all").unwrap();
    let err = run(corrupt.to_str().unwrap());
    assert!(
        err.contains("is corrupt") && err.contains("corrupt/_metadata"),
        "{err}"
    );
}
