//! Bounded input with checkpointing (Flink's FLIP-147): a task whose data ended waits for a
//! final checkpoint before it finishes, so a two-phase-commit sink publishes its last records
//! through a checkpoint like all others. A failure anywhere in the job after some input ended
//! then repeats nothing that was already published.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use strato::connectors::datagen::DataGeneratorSource;
use strato::connectors::file::{FileSink, SimpleStringEncoder};
use strato::{
    JobExecutionResult, StreamExecutionEnvironment, TumblingEventTimeWindows, WatermarkStrategy,
};
use support::{committed_lines, FailAfter};

mod support;

fn file_sink(dir: &Path) -> FileSink<u64, SimpleStringEncoder> {
    FileSink::for_row_format(
        &format!("file://{}", dir.display()),
        SimpleStringEncoder::new(),
    )
}

fn checkpointed_env(dir: &Path, interval: Duration) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(1);
    env.enable_checkpointing(interval);
    env.set_config(
        "state.checkpoints.dir",
        &format!("file://{}", dir.join("checkpoints").display()),
    );
    support::restart_fixed_delay(&env, 3, "50 ms");
    env
}

/// Runs `env`'s job on another thread, failing the test instead of hanging when it does not
/// finish within a minute.
fn execute_within_a_minute(env: StreamExecutionEnvironment, name: &str) -> JobExecutionResult {
    let (done, result) = std::sync::mpsc::channel();
    let name = name.to_string();
    std::thread::spawn(move || {
        let _ = done.send(env.execute(&name).map_err(|e| e.to_string()));
    });
    result
        .recv_timeout(Duration::from_secs(60))
        .expect("the job did not finish within a minute")
        .expect("the job failed")
}

fn numbers(n: u64) -> Vec<String> {
    let mut lines: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    lines.sort();
    lines
}

#[test]
fn a_pipeline_whose_input_ended_publishes_its_output_once_despite_a_later_failure_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let env = checkpointed_env(dir.path(), Duration::from_millis(100));
    // Every failure restarts the whole job, including the pipeline that is already done.
    env.set_config("jobmanager.execution.failover-strategy", "full");
    env.from_source(DataGeneratorSource::new(|i| i, Some(200)))
        .uid("short")
        .sink_to(file_sink(&dir.path().join("short")))
        .uid("short-files");
    let fail = FailAfter::new(3_000, 1);
    let injected = fail.injected.clone();
    env.from_source(DataGeneratorSource::new(|i| i, Some(6_000)).with_rows_per_second(4_000.0))
        .uid("long")
        .map_rich(fail)
        .uid("fail-after")
        .sink_to(file_sink(&dir.path().join("long")))
        .uid("long-files");
    execute_within_a_minute(env, "two pipelines, one ends early");
    assert_eq!(
        injected.load(Ordering::SeqCst),
        1,
        "the long pipeline failed once, long after the short one's input ended"
    );
    assert_eq!(
        committed_lines(&dir.path().join("short")),
        numbers(200),
        "the short pipeline's records, each exactly once"
    );
    assert_eq!(committed_lines(&dir.path().join("long")), numbers(6_000));
}

#[test]
fn a_bounded_job_takes_its_final_checkpoint_at_once_instead_of_waiting_for_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let env = checkpointed_env(dir.path(), Duration::from_secs(3_600));
    env.from_source(DataGeneratorSource::new(|i| i, Some(1_000)))
        .sink_to(file_sink(&dir.path().join("out")));
    let result = execute_within_a_minute(env, "bounded with an hourly checkpoint");
    assert_eq!(committed_lines(&dir.path().join("out")), numbers(1_000));
    let latest = result
        .checkpoints
        .latest_completed
        .clone()
        .expect("the final checkpoint completed");
    assert_eq!(latest.status, "COMPLETED");
    assert!(
        result.checkpoints.completed >= 1 && result.checkpoints.failed == 0,
        "{:?}",
        result.checkpoints
    );
}

#[test]
fn without_checkpoints_after_tasks_finish_a_bounded_job_still_publishes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let env = checkpointed_env(dir.path(), Duration::from_secs(3_600));
    env.set_config(
        "execution.checkpointing.checkpoints-after-tasks-finish.enabled",
        "false",
    );
    env.from_source(DataGeneratorSource::new(|i| i, Some(1_000)))
        .sink_to(file_sink(&dir.path().join("out")));
    execute_within_a_minute(env, "bounded, committing at the end of input");
    assert_eq!(committed_lines(&dir.path().join("out")), numbers(1_000));
}

/// Counts numbers arriving at 2 000 a second per one-hour event-time window (each number is
/// its own timestamp in ms) into the file sink: no window fires before the final watermark.
fn hourly_count(env: &StreamExecutionEnvironment, out: &Path) {
    env.from_source(DataGeneratorSource::new(|i| (i, 1u64), None).with_rows_per_second(2_000.0))
        .uid("numbers")
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|(i, _): &(u64, u64), _| *i as i64),
        )
        .key_by(|_: &(u64, u64)| 0u8)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(3_600)))
        .reduce(|a, b| (a.0, a.1 + b.1))
        .uid("hourly")
        .map(|(_, count): (u64, u64)| count)
        .sink_to(file_sink(out))
        .uid("files");
}

/// Runs [`hourly_count`] for a while, stops it with a savepoint (`drain` or not) and returns
/// what was committed.
fn stop_hourly_count(drain: bool) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let env = checkpointed_env(dir.path(), Duration::from_millis(100));
    hourly_count(&env, &out);
    let client = env.execute_async("hourly counts").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let target = format!("file://{}", dir.path().join("savepoints").display());
    let path = client.stop_with_savepoint(drain, Some(&target)).unwrap();
    client.get_job_execution_result().unwrap();
    assert!(Path::new(path.trim_start_matches("file://"))
        .join("_metadata")
        .is_file());
    committed_lines(&out)
}

#[test]
fn stop_with_drain_ends_the_data_before_the_savepoint_which_commits_what_the_drain_fired() {
    let committed = stop_hourly_count(true);
    assert_eq!(
        committed.len(),
        1,
        "the open window fired once: {committed:?}"
    );
    let count: u64 = committed[0].parse().unwrap();
    assert!(count > 0, "it counted the numbers read before the stop");
}

#[test]
fn stop_without_drain_fires_no_window() {
    assert_eq!(stop_hourly_count(false), Vec::<String>::new());
}
