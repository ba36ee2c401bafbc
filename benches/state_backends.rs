//! State backend benchmark: keyed rolling sum over the data generator with 1 M distinct keys
//! at parallelism 2, once per backend (`hashmap`, `rocksdb`), printing records/s and peak RSS.
//!
//! ```text
//! cargo bench --bench state_backends                 # both backends, with and without checkpoints
//! cargo bench --bench state_backends -- rocksdb      # one of: hashmap hashmap+checkpoints
//!                                                    #   rocksdb rocksdb+checkpoints
//! STRATO_BENCH_EVENTS=5000000 cargo bench --bench state_backends
//! ```
//! Each backend runs in a child process of this binary so its peak RSS is its own. Then, per
//! backend, two snapshots in a row of 1 M keys' value state: the synchronous part (heap: copy
//! of the tables; RocksDB: flush + local checkpoint) and the asynchronous part (canonical
//! format, or incremental upload) are timed separately.

use std::process::Command;
use std::time::Instant;

use strato::checkpoint::SnapshotLocation;
use strato::config::options::StateBackendType;
use strato::config::Configuration;
use strato::connectors::datagen::DataGeneratorSource;
use strato::runtime::keygroup::KeyGroupRange;
use strato::state::rocksdb::RocksDbInstance;
use strato::state::{KeyedStateBackend, StateAccess, StateBackendSettings, ValueStateDescriptor};
use strato::StreamExecutionEnvironment;

#[path = "common/mod.rs"]
mod common;
use common::CountingSink;

/// Backends, each also with a checkpoint every second (`+checkpoints`; RocksDB's incremental).
const SCENARIOS: &[&str] = &[
    "hashmap",
    "hashmap+checkpoints",
    "rocksdb",
    "rocksdb+checkpoints",
];
const PARALLELISM: usize = 2;
const KEYS: u64 = 1_000_000;

/// Runs the rolling sum on `scenario` (a backend, `+checkpoints` for a checkpoint every
/// second); returns (records, seconds, checkpoint statistics).
fn run(
    scenario: &str,
) -> anyhow::Result<(u64, f64, strato::checkpoint::coordinator::CheckpointStats)> {
    let (backend, checkpointed) = match scenario.split_once('+') {
        Some((backend, _)) => (backend, true),
        None => (scenario, false),
    };
    let n: u64 = std::env::var("STRATO_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let local = tempfile::tempdir()?;
    let mut config = Configuration::new();
    config.set("state.backend", backend);
    config.set(
        "state.backend.rocksdb.localdir",
        local.path().to_string_lossy().into_owned(),
    );
    if checkpointed {
        config.set("execution.checkpointing.interval", "1 s");
        config.set(
            "state.checkpoints.dir",
            format!("file://{}", local.path().join("checkpoints").display()),
        );
        config.set("state.backend.incremental", "true");
    }
    let env = StreamExecutionEnvironment::with_configuration(config);
    env.set_parallelism(PARALLELISM);
    // A 64-bit mix of i mod 1 M: every key recurs every 1 M records, in scattered order.
    env.from_source(DataGeneratorSource::new(
        |i| {
            let k = (i % KEYS).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((k ^ (k >> 31)) as i64, i as i64 % 1000)
        },
        Some(n),
    ))
    .key_by(|(k, _): &(i64, i64)| *k)
    .sum(|t: &mut (i64, i64)| &mut t.1)
    .add_sink_rich(CountingSink::default());
    let result = env.execute(&format!("bench rolling sum on {backend}"))?;
    anyhow::ensure!(
        result.get_accumulator_result("records") == Some(n as i64),
        "lost records"
    );
    Ok((n, result.net_runtime.as_secs_f64(), result.checkpoints))
}

/// Times the two parts of a snapshot of `KEYS` keys' value state on one backend.
fn snapshot_times(backend: &str, incremental: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kind = match backend {
        "rocksdb" => StateBackendType::RocksDb,
        _ => StateBackendType::HashMap,
    };
    let settings = StateBackendSettings {
        kind,
        incremental,
        local_dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let mut state = KeyedStateBackend::<i64>::create(
        &settings,
        |d| RocksDbInstance::new(d, "bench", "op", 0),
        KeyGroupRange::for_operator_index(128, 1, 0),
        128,
        None,
    )?;
    let count = ValueStateDescriptor::<i64>::new("count");
    for key in 0..KEYS as i64 {
        StateAccess::new(&mut state, &key, &())
            .value_state(&count)?
            .update(key);
    }
    let location =
        SnapshotLocation::in_directory(dir.path().join("chk").to_str().unwrap_or("chk"))?;
    // The first snapshot, then the next one as a periodic checkpoint takes it (the heap
    // backend reuses its copy buffers from then on).
    let mut times = Vec::new();
    let mut size = 0;
    for id in 1..=2 {
        let started = Instant::now();
        let writer = state.snapshot(id, false)?;
        let sync = started.elapsed();
        let started = Instant::now();
        let handles = writer.write(&location, &format!("op-{id}"))?;
        times.push((
            sync.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3,
        ));
        size = handles.iter().map(|h| h.state_size()).sum::<u64>();
    }
    println!(
        "{backend}{}: snapshot of {KEYS} keys: synchronous part {:.1} ms (next {:.1} ms), asynchronous part {:.1} ms (next {:.1} ms), {} MB",
        if incremental { " (incremental)" } else { "" },
        times[0].0,
        times[1].0,
        times[0].1,
        times[1].1,
        size >> 20
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if let Some(pos) = std::env::args().position(|a| a == "--snapshot") {
        let backend = std::env::args().nth(pos + 1).unwrap_or_default();
        return snapshot_times(&backend, false).and_then(|_| match backend.as_str() {
            "rocksdb" => snapshot_times(&backend, true),
            _ => Ok(()),
        });
    }
    if let Some(pos) = std::env::args().position(|a| a == "--child") {
        let backend = std::env::args().nth(pos + 1).unwrap_or_default();
        let (records, secs, checkpoints) = run(&backend)?;
        let rss = strato::util::resources::peak_rss_bytes().unwrap_or(0);
        // CPU per record is steadier than wall-clock throughput on a shared machine.
        let cpu = strato::util::resources::cpu_seconds().unwrap_or(0.0);
        println!(
            "{backend}: {records} records over {KEYS} keys in {secs:.2} s = {:.2} M records/s, peak RSS {} MB, process CPU {cpu:.2} s ({:.0} ns of CPU per record)",
            records as f64 / secs / 1e6,
            rss >> 20,
            cpu * 1e9 / records as f64
        );
        let done: Vec<_> = checkpoints
            .history
            .iter()
            .filter(|c| c.status == "COMPLETED")
            .collect();
        if !done.is_empty() {
            let max = done
                .iter()
                .map(|c| c.end_to_end_duration)
                .max()
                .unwrap_or(0);
            let avg = done.iter().map(|c| c.end_to_end_duration).sum::<u64>() / done.len() as u64;
            let size = done.iter().map(|c| c.state_size).max().unwrap_or(0);
            println!(
                "  {} checkpoints completed ({} failed); last {}: duration avg {avg} ms, max {max} ms; state size up to {} MB",
                checkpoints.completed,
                checkpoints.failed,
                done.len(),
                size >> 20
            );
        }
        return Ok(());
    }
    // `cargo bench` passes --bench; `cargo test --benches` only checks that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("state_backends: run with `cargo bench --bench state_backends`");
        return Ok(());
    }
    let selected: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let exe = std::env::current_exe()?;
    println!("Keyed rolling sum, {KEYS} keys, parallelism {PARALLELISM}");
    for scenario in SCENARIOS
        .iter()
        .filter(|b| selected.is_empty() || selected.iter().any(|s| s == *b))
    {
        let status = Command::new(&exe).args(["--child", scenario]).status()?;
        anyhow::ensure!(status.success(), "the {scenario} run failed");
        if !scenario.contains('+') {
            let status = Command::new(&exe).args(["--snapshot", scenario]).status()?;
            anyhow::ensure!(status.success(), "the {scenario} snapshot failed");
        }
    }
    Ok(())
}
