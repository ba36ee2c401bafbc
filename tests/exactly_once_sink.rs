//! The exactly-once file sink, driven directly with checkpoint events as the task delivers
//! them: part files stay hidden until the checkpoint that made them pending completes, and a
//! restore commits what the checkpoint holds exactly once and discards what the failed attempt
//! wrote after it. On the local file system and on the mini HDFS.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use strato::api::functions::RuntimeContext;
use strato::checkpoint::{
    CheckpointBarrier, OperatorStateMode, OperatorStateSnapshot, SnapshotType,
};
use strato::connectors::datagen::DataGeneratorSource;
use strato::connectors::file::{
    BasePathBucketAssigner, DateTimeBucketAssigner, DefaultRollingPolicy, FileSink,
    OnCheckpointRollingPolicy, OutputFileConfig, SimpleStringEncoder,
};
use strato::connectors::text_file::list_input_files;
use strato::fs::mini_hdfs::{MiniHdfs, MiniHdfsConfig};
use strato::fs::{FileSystem, FsPath};
use strato::graph::stream_graph::OperatorInfo;
use strato::runtime::batch::Batch;
use strato::runtime::chain::{ChainEvent, Output};
use strato::runtime::operators::two_phase::TwoPhaseCommitSinkOperator;
use strato::state::{RestoredOperatorState, StateBackendSettings, TaskRestore, TaskStateManager};
use strato::StreamExecutionEnvironment;
use support::FailAfter;

mod support;

type Sink = FileSink<u64, SimpleStringEncoder, BasePathBucketAssigner>;
type Operator = TwoPhaseCommitSinkOperator<Sink, u64>;

fn sink(base: &str) -> Sink {
    FileSink::for_row_format(base, SimpleStringEncoder::new())
        .with_bucket_assigner(BasePathBucketAssigner)
        .with_rolling_policy(OnCheckpointRollingPolicy)
}

/// A running sink subtask and the state manager its snapshots go to.
struct Subtask {
    op: Operator,
    state: Arc<TaskStateManager>,
}

impl Subtask {
    fn start(
        sink: Sink,
        index: usize,
        parallelism: usize,
        restore: Option<OperatorStateSnapshot>,
    ) -> Self {
        let restore = restore.map(|operator| TaskRestore {
            checkpoint_id: 1,
            base: String::new(),
            operators: [(
                "file-sink".to_string(),
                RestoredOperatorState {
                    operator,
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        });
        let state = Arc::new(TaskStateManager::new(
            restore,
            StateBackendSettings::default(),
        ));
        let mut op = TwoPhaseCommitSinkOperator::new(
            OperatorInfo {
                name: "Sink: File Sink".into(),
                id: "file-sink".into(),
            },
            sink,
        );
        op.open_with_state(&RuntimeContext::for_test(index, parallelism), state.clone())
            .unwrap();
        Subtask { op, state }
    }

    fn write(&mut self, records: impl IntoIterator<Item = u64>) {
        let mut batch = Batch::new();
        for r in records {
            batch.push(r, None);
        }
        self.op.push(&mut batch).unwrap();
    }

    /// Delivers barrier `id` and returns the operator state the sink snapshotted.
    fn barrier(&mut self, id: u64) -> OperatorStateSnapshot {
        self.op
            .event(ChainEvent::Barrier(CheckpointBarrier {
                id,
                timestamp: 0,
                kind: SnapshotType::Checkpoint,
                target: None,
            }))
            .unwrap();
        let mut snapshots = self.state.take_snapshots();
        assert_eq!(snapshots.len(), 1);
        snapshots.pop().unwrap().1.operator
    }

    fn event(&mut self, event: ChainEvent) {
        self.op.event(event).unwrap();
    }
}

/// What readers of the output see (committed files, by name) and the hidden files beside them.
fn listing(fs: &dyn FileSystem, base: &FsPath) -> (BTreeMap<String, String>, Vec<String>) {
    let mut visible = BTreeMap::new();
    let mut hidden = Vec::new();
    let mut dirs = vec![base.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs.list(&dir).unwrap() {
            let name = entry.path.path()[base.path().len() + 1..].to_string();
            if entry.is_dir {
                dirs.push(entry.path);
            } else if entry.path.file_name().unwrap().starts_with('.') {
                hidden.push(name);
            } else {
                let bytes = fs.read_range(&entry.path, 0, entry.len as usize).unwrap();
                visible.insert(name, String::from_utf8(bytes).unwrap());
            }
        }
    }
    (visible, hidden)
}

/// Every committed line, sorted numerically.
fn committed_records(fs: &dyn FileSystem, base: &FsPath) -> Vec<u64> {
    let mut records: Vec<u64> = listing(fs, base)
        .0
        .values()
        .flat_map(|text| {
            text.lines()
                .map(|l| l.parse::<u64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    records.sort();
    records
}

/// An output directory on a file system: where the sink writes (`uri`) and how to look.
struct Target {
    fs: Arc<dyn FileSystem>,
    base: FsPath,
    uri: String,
    _guard: Box<dyn std::any::Any>,
}

fn on(uri: String, guard: Box<dyn std::any::Any>) -> Target {
    let (fs, base) = <dyn FileSystem>::for_uri(&uri).unwrap();
    Target {
        fs,
        base,
        uri,
        _guard: guard,
    }
}

fn local() -> Target {
    let dir = tempfile::tempdir().unwrap();
    on(
        format!("file://{}/out", dir.path().display()),
        Box::new(dir),
    )
}

/// The whole life of part files, written against any file system.
fn files_are_published_only_when_their_checkpoint_completes(
    fs: &dyn FileSystem,
    base: &FsPath,
    uri: &str,
) {
    let mut subtask = Subtask::start(sink(uri), 0, 1, None);
    subtask.write(0..100);
    subtask.barrier(1);
    subtask.write(100..150);
    let (visible, hidden) = listing(fs, base);
    assert!(visible.is_empty(), "{visible:?}");
    assert_eq!(
        hidden.len(),
        2,
        "one pending and one in-progress file: {hidden:?}"
    );
    assert!(hidden
        .iter()
        .all(|h| h.starts_with(".part-") && h.contains(".inprogress.")));
    // Readers of the directory (Strato's and Flink's file sources skip hidden names) see none.
    assert!(list_input_files(uri).unwrap().1.is_empty());

    subtask.event(ChainEvent::CheckpointComplete(1));
    let (visible, _) = listing(fs, base);
    assert_eq!(visible.len(), 1);
    let (name, text) = visible.iter().next().unwrap();
    assert!(name.starts_with("part-") && name.ends_with("-0"), "{name}");
    assert_eq!(text.lines().count(), 100);
    assert_eq!(list_input_files(uri).unwrap().1.len(), 1);
    assert_eq!(committed_records(fs, base), (0..100).collect::<Vec<_>>());

    subtask.event(ChainEvent::EndOfInput);
    subtask.op.close().unwrap();
    assert_eq!(committed_records(fs, base), (0..150).collect::<Vec<_>>());
    assert!(listing(fs, base).1.is_empty());
}

#[test]
fn part_files_are_published_only_when_their_checkpoint_completes_on_the_local_fs() {
    let t = local();
    files_are_published_only_when_their_checkpoint_completes(&*t.fs, &t.base, &t.uri);
}

#[test]
fn an_aborted_checkpoint_keeps_its_files_pending_for_the_next_completed_one() {
    let t = local();
    let mut subtask = Subtask::start(sink(&t.uri), 0, 1, None);
    subtask.write(0..10);
    subtask.barrier(1);
    subtask.event(ChainEvent::CheckpointAborted(1));
    assert!(listing(&*t.fs, &t.base).0.is_empty());
    subtask.write(10..20);
    subtask.barrier(2);
    assert_eq!(subtask.op.pending_checkpoints(), [1, 2]);
    subtask.event(ChainEvent::CheckpointComplete(2));
    assert_eq!(
        committed_records(&*t.fs, &t.base),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(listing(&*t.fs, &t.base).0.len(), 2);
}

#[test]
fn a_failure_before_any_barrier_publishes_nothing_and_leaves_nothing() {
    let t = local();
    let mut subtask = Subtask::start(sink(&t.uri), 0, 1, None);
    subtask.write(0..1000);
    // The task fails: it is closed without end of input.
    subtask.op.close().unwrap();
    assert_eq!(listing(&*t.fs, &t.base), (BTreeMap::new(), Vec::new()));
}

/// A crash after barrier 2 was pre-committed (checkpoint 2 never completes) with more data in
/// progress; the restore from checkpoint 1's snapshot must publish checkpoint 1's files once
/// and nothing else.
fn a_restore_commits_pending_files_once_and_discards_the_rest(
    fs: &dyn FileSystem,
    base: &FsPath,
    uri: &str,
) {
    let mut subtask = Subtask::start(sink(uri), 0, 1, None);
    subtask.write(0..10);
    let checkpoint_1 = subtask.barrier(1);
    subtask.write(10..20);
    subtask.barrier(2);
    subtask.write(20..30);
    // Crash: no close, no notification; the files stay as they are.
    drop(subtask);
    assert!(listing(fs, base).0.is_empty());
    assert_eq!(listing(fs, base).1.len(), 3);

    let mut restored = Subtask::start(sink(uri), 0, 1, Some(checkpoint_1.clone()));
    assert_eq!(committed_records(fs, base), (0..10).collect::<Vec<_>>());
    assert!(listing(fs, base).1.is_empty(), "{:?}", listing(fs, base).1);

    // The sources replay from checkpoint 1; this time everything completes.
    restored.write(10..30);
    restored.barrier(2);
    restored.event(ChainEvent::CheckpointComplete(2));
    assert_eq!(committed_records(fs, base), (0..30).collect::<Vec<_>>());
    drop(restored);

    // Restoring from checkpoint 1 once more (its files are already renamed) is harmless.
    let names_before: Vec<String> = listing(fs, base).0.into_keys().collect();
    let _again = Subtask::start(sink(uri), 0, 1, Some(checkpoint_1));
    let names_after: Vec<String> = listing(fs, base).0.into_keys().collect();
    assert_eq!(names_before, names_after);
    assert_eq!(committed_records(fs, base), (0..30).collect::<Vec<_>>());
}

#[test]
fn a_restore_commits_pending_files_exactly_once_and_cleans_in_progress_ones_on_the_local_fs() {
    let t = local();
    a_restore_commits_pending_files_once_and_discards_the_rest(&*t.fs, &t.base, &t.uri);
}

#[test]
fn part_counters_continue_after_a_restore_at_another_parallelism() {
    let t = local();
    // Two subtasks; subtask 1 has used more part counters.
    let mut a = Subtask::start(sink(&t.uri), 0, 2, None);
    let mut b = Subtask::start(sink(&t.uri), 1, 2, None);
    a.write(0..5);
    for chunk in 0..4 {
        b.write(100 + chunk * 10..110 + chunk * 10);
        b.barrier(chunk + 1);
    }
    let snap_a = a.barrier(4);
    let snap_b = b.barrier(5);
    drop((a, b));
    // Rescale 2 -> 1: the single subtask gets both transaction entries (Split) and every
    // counter (Union).
    let mut merged = OperatorStateSnapshot::default();
    for snap in [snap_a, snap_b] {
        for (name, mode, elements) in snap.states {
            match merged.states.iter_mut().find(|(n, _, _)| *n == name) {
                Some((_, _, all)) => all.extend(elements),
                None => merged.states.push((name, mode, elements)),
            }
        }
    }
    let modes: Vec<_> = merged
        .states
        .iter()
        .map(|(n, m, _)| (n.clone(), *m))
        .collect();
    assert!(modes.contains(&("max-part-counter".to_string(), OperatorStateMode::Union)));
    assert!(modes.contains(&(
        "two-phase-commit-transactions".to_string(),
        OperatorStateMode::Split
    )));
    let mut restored = Subtask::start(sink(&t.uri), 0, 1, Some(merged));
    let mut expected: Vec<u64> = (0..5).chain(100..140).collect();
    assert_eq!(committed_records(&*t.fs, &t.base), expected);
    restored.write(200..201);
    restored.barrier(6);
    restored.event(ChainEvent::CheckpointComplete(6));
    expected.push(200);
    assert_eq!(committed_records(&*t.fs, &t.base), expected);
    let (visible, hidden) = listing(&*t.fs, &t.base);
    assert!(hidden.is_empty(), "{hidden:?}");
    let newest = visible
        .iter()
        .find(|(_, text)| text.as_str() == "200\n")
        .map(|(name, _)| name.clone())
        .unwrap();
    let counter: u64 = newest.rsplit('-').next().unwrap().parse().unwrap();
    assert!(counter >= 4, "{newest} reuses a part counter of subtask 1");
}

#[test]
fn the_default_rolling_policy_rolls_by_size_and_the_output_file_config_names_the_parts() {
    let t = local();
    let sink = FileSink::for_row_format(&t.uri, SimpleStringEncoder::new())
        .with_bucket_assigner(BasePathBucketAssigner)
        .with_rolling_policy(
            DefaultRollingPolicy::builder()
                .with_max_part_size(1000)
                .with_rollover_interval(Duration::from_secs(3600))
                .with_inactivity_interval(Duration::from_secs(3600))
                .build(),
        )
        .with_output_file_config(
            OutputFileConfig::builder()
                .with_part_prefix("data")
                .with_part_suffix(".txt")
                .build(),
        );
    let mut subtask = Subtask::start(sink, 0, 1, None);
    // 1000 records of 6-7 bytes: rolled past 1000 bytes each, so about 7 files.
    subtask.write(100_000..101_000);
    subtask.barrier(1);
    subtask.event(ChainEvent::CheckpointComplete(1));
    let (visible, hidden) = listing(&*t.fs, &t.base);
    assert!(hidden.is_empty());
    assert!((6..=8).contains(&visible.len()), "{:?}", visible.keys());
    for (name, text) in &visible {
        assert!(
            name.starts_with("data-") && name.ends_with(".txt"),
            "{name}"
        );
        assert!(text.len() <= 1007, "{name} has {} bytes", text.len());
    }
    assert_eq!(
        committed_records(&*t.fs, &t.base),
        (100_000..101_000).collect::<Vec<_>>()
    );
}

#[test]
fn an_inactive_part_file_rolls_on_processing_time() {
    let t = local();
    let sink = FileSink::for_row_format(&t.uri, SimpleStringEncoder::new())
        .with_bucket_assigner(BasePathBucketAssigner)
        .with_rolling_policy(
            DefaultRollingPolicy::builder()
                .with_inactivity_interval(Duration::from_millis(50))
                .build(),
        );
    let mut subtask = Subtask::start(sink, 0, 1, None);
    subtask.write(0..3);
    let deadline = subtask
        .op
        .next_deadline()
        .expect("an open part file has a deadline");
    subtask.event(ChainEvent::ProcessingTime(deadline));
    assert_eq!(subtask.op.next_deadline(), None, "the part file rolled");
    subtask.write(3..4);
    subtask.barrier(1);
    subtask.event(ChainEvent::CheckpointComplete(1));
    assert_eq!(listing(&*t.fs, &t.base).0.len(), 2);
}

#[test]
fn date_time_buckets_are_hourly_directories() {
    let t = local();
    let sink = FileSink::for_row_format(&t.uri, SimpleStringEncoder::new())
        .with_bucket_assigner(DateTimeBucketAssigner::new().in_utc());
    let before = utc_hour();
    let mut op = TwoPhaseCommitSinkOperator::new(
        OperatorInfo {
            name: "Sink: File Sink".into(),
            id: "file-sink".into(),
        },
        sink,
    );
    op.open_with_state(
        &RuntimeContext::for_test(0, 1),
        Arc::new(TaskStateManager::default()),
    )
    .unwrap();
    let mut batch = Batch::new();
    batch.push(7u64, None);
    op.push(&mut batch).unwrap();
    op.event(ChainEvent::EndOfInput).unwrap();
    op.close().unwrap();
    let after = utc_hour();
    let (visible, _) = listing(&*t.fs, &t.base);
    let name = visible.keys().next().unwrap();
    let bucket = name.split('/').next().unwrap();
    assert!(bucket == before || bucket == after, "{name}");
}

/// The current UTC hour as `yyyy-MM-dd--HH`, computed without the sink's code.
fn utc_hour() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d--%H"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_job_with_the_file_sink_commits_everything_at_the_end_of_a_bounded_input() {
    let t = local();
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(2);
    env.from_sequence(1, 5_000)
        .map(|n| n as u64)
        .sink_to(
            FileSink::for_row_format(&t.uri, SimpleStringEncoder::new())
                .with_bucket_assigner(BasePathBucketAssigner),
        )
        .uid("exactly-once-files");
    env.execute("file sink").unwrap();
    let (visible, hidden) = listing(&*t.fs, &t.base);
    assert!(hidden.is_empty(), "{hidden:?}");
    assert_eq!(
        visible.len(),
        2,
        "one part file per subtask: {:?}",
        visible.keys()
    );
    assert_eq!(
        committed_records(&*t.fs, &t.base),
        (1..=5_000).collect::<Vec<_>>()
    );
}

#[test]
fn a_checkpointed_job_that_fails_twice_commits_every_generated_record_exactly_once() {
    const RECORDS: u64 = 20_000;
    let t = local();
    let fail = FailAfter::new(RECORDS / 4, 2);
    let injected = fail.injected.clone();
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(2);
    env.enable_checkpointing(Duration::from_millis(100));
    env.set_config("state.checkpoints.dir", &format!("{}-checkpoints", t.uri));
    support::restart_fixed_delay(&env, 5, "50 ms");
    env.from_source(DataGeneratorSource::new(|i| i, Some(RECORDS)).with_rows_per_second(10_000.0))
        .uid("generator")
        .map_rich(fail)
        .uid("fail-after")
        // Across the network: the sink aligns the barriers of both upstream subtasks.
        .rebalance()
        .sink_to(
            FileSink::for_row_format(&t.uri, SimpleStringEncoder::new())
                .with_bucket_assigner(BasePathBucketAssigner),
        )
        .uid("files");
    env.execute("exactly-once files").unwrap();
    assert!(injected.load(Ordering::SeqCst) >= 2, "two attempts failed");
    assert_eq!(
        committed_records(&*t.fs, &t.base),
        (0..RECORDS).collect::<Vec<_>>()
    );
    assert!(
        listing(&*t.fs, &t.base).1.is_empty(),
        "no hidden files are left behind"
    );
}

#[test]
fn stop_with_savepoint_and_a_restore_at_another_parallelism_commit_every_record_exactly_once() {
    const RECORDS: u64 = 30_000;
    let t = local();
    let savepoints = format!("{}-savepoints", t.uri);
    let job = |parallelism: usize, savepoint: Option<&str>| {
        let env = StreamExecutionEnvironment::create_local_environment();
        env.set_parallelism(parallelism);
        env.enable_checkpointing(Duration::from_millis(100));
        env.set_config("state.checkpoints.dir", &format!("{}-checkpoints", t.uri));
        if let Some(path) = savepoint {
            env.set_config("execution.savepoint.path", path);
        }
        env.from_source(
            DataGeneratorSource::new(|i| i, Some(RECORDS)).with_rows_per_second(10_000.0),
        )
        .uid("generator")
        .sink_to(
            FileSink::for_row_format(&t.uri, SimpleStringEncoder::new())
                .with_bucket_assigner(BasePathBucketAssigner),
        )
        .uid("files");
        env
    };
    let client = job(2, None).execute_async("first run").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // (The directory appears when the sink opens.)
    while list_input_files(&t.uri).map_or(true, |(_, files)| files.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing was committed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let savepoint = client
        .stop_with_savepoint(false, Some(&savepoints))
        .unwrap();
    client.get_job_execution_result().unwrap();
    let first = committed_records(&*t.fs, &t.base);
    assert!(
        !first.is_empty() && (first.len() as u64) < RECORDS,
        "{}",
        first.len()
    );

    job(3, Some(&savepoint)).execute("second run").unwrap();
    assert_eq!(
        committed_records(&*t.fs, &t.base),
        (0..RECORDS).collect::<Vec<_>>()
    );
}

// ---- the same on the mini HDFS ---------------------------------------------------------------

fn hdfs() -> Target {
    let dir = tempfile::tempdir().unwrap();
    let hdfs = MiniHdfs::start(dir.path(), MiniHdfsConfig::default()).unwrap();
    let uri = format!("{}/out", hdfs.uri());
    // The cluster stops before its directory is removed.
    on(uri, Box::new((hdfs, dir)))
}

#[test]
fn part_files_are_published_only_when_their_checkpoint_completes_on_hdfs() {
    let t = hdfs();
    files_are_published_only_when_their_checkpoint_completes(&*t.fs, &t.base, &t.uri);
}

#[test]
fn a_restore_commits_pending_files_exactly_once_and_cleans_in_progress_ones_on_hdfs() {
    let t = hdfs();
    a_restore_commits_pending_files_once_and_discards_the_rest(&*t.fs, &t.base, &t.uri);
}
