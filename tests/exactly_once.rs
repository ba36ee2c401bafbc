//! The promise users pay for: after failures, every record counted exactly once. A job counts
//! per key from a bounded, replayable source into the exactly-once file sink; a user function
//! fails after some records on its first attempts. With checkpointing and a restart strategy
//! the committed output equals a failure-free run, record for record, on both state backends,
//! in EXACTLY_ONCE mode, and in AT_LEAST_ONCE mode where no task has several input channels
//! (nothing to align, so it is exactly-once too).

use std::path::Path;
use std::time::Duration;

use strato::connectors::datagen::DataGeneratorSource;
use strato::connectors::file::{FileSink, SimpleStringEncoder};
use strato::StreamExecutionEnvironment;
use support::{committed_lines, FailAfter};

mod support;

const RECORDS: u64 = 30_000;
const KEYS: u64 = 50;

/// Runs the counting job into `out`; returns the committed lines, sorted.
fn run(
    out: &Path,
    backend: &str,
    mode: &str,
    parallelism: usize,
    failing_attempts: u32,
) -> Vec<String> {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env.enable_checkpointing(Duration::from_millis(100));
    env.set_config("execution.checkpointing.mode", mode);
    env.set_config("state.backend", backend);
    env.set_config(
        "state.checkpoints.dir",
        &format!("file://{}", out.with_extension("chk").display()),
    );
    support::restart_fixed_delay(&env, 5, "50 ms");
    env.from_source(
        DataGeneratorSource::new(|i| (i % KEYS, 1u64), Some(RECORDS))
            .with_rows_per_second(15_000.0),
    )
    .uid("generator")
    .map_rich(FailAfter::new(
        RECORDS / parallelism as u64 / 2,
        failing_attempts,
    ))
    .uid("fail-after")
    .key_by(|(k, _): &(u64, u64)| *k)
    .sum(|t: &mut (u64, u64)| &mut t.1)
    .uid("count")
    .sink_to(FileSink::for_row_format(
        &format!("file://{}", out.display()),
        SimpleStringEncoder::new(),
    ))
    .uid("files");
    env.execute("counting exactly once").unwrap();
    committed_lines(out)
}

fn check(backend: &str, mode: &str, parallelism: usize) {
    let dir = tempfile::tempdir().unwrap();
    let expected = run(&dir.path().join("reference"), backend, mode, parallelism, 0);
    assert_eq!(expected.len() as u64, RECORDS, "one update per record");
    let actual = run(
        &dir.path().join("with-failures"),
        backend,
        mode,
        parallelism,
        2,
    );
    assert_eq!(
        actual.len(),
        expected.len(),
        "{backend}/{mode}: committed records"
    );
    assert!(
        actual == expected,
        "{backend}/{mode}: committed output differs from a failure-free run"
    );
}

#[test]
fn hashmap_exactly_once_survives_failures_record_for_record() {
    check("hashmap", "EXACTLY_ONCE", 2);
}

#[test]
fn rocksdb_exactly_once_survives_failures_record_for_record() {
    check("rocksdb", "EXACTLY_ONCE", 2);
}

#[test]
fn hashmap_at_least_once_without_alignment_needs_survives_failures_record_for_record() {
    check("hashmap", "AT_LEAST_ONCE", 1);
}

#[test]
fn rocksdb_at_least_once_without_alignment_needs_survives_failures_record_for_record() {
    check("rocksdb", "AT_LEAST_ONCE", 1);
}
