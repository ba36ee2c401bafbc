//! Specifications of the failover strategies (`jobmanager.execution.failover-strategy`): with
//! `region` (the default) a failed subtask restarts only its pipelined region (the subtasks it
//! exchanges records with, transitively) while the other regions keep running; with `full`
//! every subtask restarts. Either way, restored from the latest checkpoint, the exactly-once
//! file sink commits every record exactly once.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strato::connectors::datagen::DataGeneratorSource;
use strato::connectors::file::{FileSink, SimpleStringEncoder};
use strato::{DataStream, MapFunction, RuntimeContext, StreamExecutionEnvironment};

mod support;

const RECORDS: u64 = 20_000;

/// Every (subtask, attempt) that opened the function.
type Opens = Arc<Mutex<Vec<(usize, u32)>>>;

/// Passes records through; on its first attempt, subtask 0 fails after `after` records.
/// Logs every open, so a test sees which subtasks restarted.
#[derive(Clone)]
struct FailFirstSubtaskOnce {
    after: u64,
    opens: Opens,
    seen: u64,
    failing: bool,
}

impl FailFirstSubtaskOnce {
    fn new(after: u64, opens: &Opens) -> Self {
        FailFirstSubtaskOnce {
            after,
            opens: opens.clone(),
            seen: 0,
            failing: false,
        }
    }
}

impl MapFunction<(u64, u64), (u64, u64)> for FailFirstSubtaskOnce {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        let (subtask, attempt) = (ctx.index_of_this_subtask(), ctx.attempt_number());
        self.opens.lock().unwrap().push((subtask, attempt));
        self.failing = subtask == 0 && attempt == 0;
        self.seen = 0;
        Ok(())
    }

    fn map(&mut self, value: (u64, u64)) -> anyhow::Result<(u64, u64)> {
        self.seen += 1;
        if self.failing && self.seen == self.after {
            anyhow::bail!("injected failure after {} records", self.seen);
        }
        Ok(value)
    }
}

/// Runs generator -> failing map -> [shape] -> exactly-once file sink at parallelism 2 with
/// checkpoints every 100 ms; returns the opens and the committed lines, sorted.
fn run(
    dir: &Path,
    failover: &str,
    shape: impl FnOnce(DataStream<(u64, u64)>) -> DataStream<(u64, u64)>,
) -> (Vec<(usize, u32)>, Vec<String>) {
    let out = dir.join("out");
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(2);
    env.enable_checkpointing(Duration::from_millis(100));
    env.set_config(
        "state.checkpoints.dir",
        &format!("file://{}", dir.join("checkpoints").display()),
    );
    env.set_config("jobmanager.execution.failover-strategy", failover);
    support::restart_fixed_delay(&env, 3, "50 ms");
    let opens = Opens::default();
    let records = env
        .from_source(
            DataGeneratorSource::new(|i| (i % 10, i), Some(RECORDS)).with_rows_per_second(10_000.0),
        )
        .uid("generator")
        .map_rich(FailFirstSubtaskOnce::new(RECORDS / 2 / 4, &opens))
        .uid("fail-once");
    shape(records)
        .sink_to(FileSink::for_row_format(
            &format!("file://{}", out.display()),
            SimpleStringEncoder::new(),
        ))
        .uid("files");
    env.execute("failover").unwrap();
    let mut opens = opens.lock().unwrap().clone();
    opens.sort();
    (opens, support::committed_lines(&out))
}

fn every_record_once() -> Vec<String> {
    let mut lines: Vec<String> = (0..RECORDS).map(|i| format!("({},{i})", i % 10)).collect();
    lines.sort();
    lines
}

#[test]
fn a_failed_subtask_restarts_only_its_pipelined_region() {
    let dir = tempfile::tempdir().unwrap();
    // Forward edges only: each parallel pipeline is a region of its own.
    let (opens, lines) = run(dir.path(), "region", |s| s);
    assert_eq!(
        opens,
        vec![(0, 0), (0, 1), (1, 0)],
        "subtask 0 restarted as attempt 1; subtask 1 ran on untouched"
    );
    assert!(lines == every_record_once(), "{} lines", lines.len());
}

#[test]
fn with_failover_strategy_full_a_failure_restarts_every_subtask() {
    let dir = tempfile::tempdir().unwrap();
    let (opens, lines) = run(dir.path(), "full", |s| s);
    assert_eq!(opens, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert!(lines == every_record_once(), "{} lines", lines.len());
}

#[test]
fn an_all_to_all_exchange_puts_every_subtask_in_one_region() {
    let dir = tempfile::tempdir().unwrap();
    let (opens, lines) = run(dir.path(), "region", |s| s.rebalance());
    assert_eq!(opens, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert!(lines == every_record_once(), "{} lines", lines.len());
}
