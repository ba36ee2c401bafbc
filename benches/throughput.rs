//! Throughput benchmarks: records/s and peak resident memory for Strato's embedded executor.
//!
//! ```text
//! cargo bench --bench throughput                 # every scenario
//! cargo bench --bench throughput -- word_count   # one scenario
//! STRATO_BENCH_MB=50 cargo bench --bench throughput -- word_count
//! ```
//! Each scenario runs in a child process of this binary so its peak RSS is its own. The word
//! count corpus (~200 MB, 12 words per line, Zipf(1) over 50,000 words) is generated once into
//! `target/bench-data/` by `strato::util::textgen` and reused.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use strato::connectors::datagen::DataGeneratorSource;
use strato::util::textgen::ensure_corpus;
use strato::{
    AggregateFunction, Collector, RuntimeExecutionMode, SlidingEventTimeWindows,
    StreamExecutionEnvironment, TumblingEventTimeWindows, WatermarkStrategy, WriteMode,
};

#[path = "common/mod.rs"]
mod common;
use common::CountingSink;

const SCENARIOS: &[&str] = &[
    "word_count",
    "keyed_rolling_sum",
    "map_filter_chain",
    "tumbling_window_sum",
    "sliding_window_count",
];
const PARALLELISM: usize = 2;

/// Lines of a file, read in chunks (the corpus must not inflate the measured peak RSS).
fn count_lines(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Event `i` of the window benchmarks: key = a 64-bit mix of `i mod 10,000`, value `i mod
/// 1000`, event time `i` microseconds (1 M events per event-time second), in ms.
fn window_event(i: u64) -> (u64, i64, i64) {
    let mut k = (i % 10_000).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    k ^= k >> 31;
    (k, (i % 1000) as i64, (i / 1000) as i64)
}

/// Counts the elements of a window.
#[derive(Clone)]
struct Count;

impl AggregateFunction<(u64, i64, i64), u64, u64> for Count {
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, _: (u64, i64, i64), acc: u64) -> u64 {
        acc + 1
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench-data")
}

fn env() -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(PARALLELISM);
    env
}

/// Runs one scenario in this process; returns (records processed, what they were).
fn run_scenario(name: &str) -> anyhow::Result<(u64, &'static str, f64)> {
    match name {
        "word_count" => {
            let mb: u64 = std::env::var("STRATO_BENCH_MB")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(200);
            let corpus = bench_dir().join(format!("corpus-{mb}mb.txt"));
            ensure_corpus(&corpus, mb << 20, 42)?;
            let words = std::fs::metadata(&corpus)?.len();
            let env = env();
            env.set_runtime_mode(RuntimeExecutionMode::Batch);
            let started = Instant::now();
            env.read_text_file(&corpus)
                .flat_map(|line: String, out: &mut Collector<(String, i64)>| {
                    for w in line.split_ascii_whitespace() {
                        out.collect((w.to_string(), 1));
                    }
                })
                .key_by(|(w, _): &(String, i64)| w.clone())
                .sum(|t: &mut (String, i64)| &mut t.1)
                .write_as_text(bench_dir().join("word_count_out"), WriteMode::Overwrite);
            env.execute("bench word count")?;
            let secs = started.elapsed().as_secs_f64();
            // 12 words per line of the corpus.
            let lines = count_lines(&corpus)?;
            eprintln!("  ({} MB corpus)", words >> 20);
            Ok((lines * 12, "words", secs))
        }
        "keyed_rolling_sum" => {
            let n = 20_000_000u64;
            let env = env();
            env.from_source(DataGeneratorSource::new(
                |i| ((i % 10_000) as i64, i as i64 % 1000),
                Some(n),
            ))
            .key_by(|(k, _): &(i64, i64)| *k)
            .sum(|t: &mut (i64, i64)| &mut t.1)
            .add_sink_rich(CountingSink::default());
            let result = env.execute("bench keyed rolling sum")?;
            anyhow::ensure!(
                result.get_accumulator_result("records") == Some(n as i64),
                "lost records"
            );
            Ok((n, "events", result.net_runtime.as_secs_f64()))
        }
        "map_filter_chain" => {
            let n = 100_000_000u64;
            let env = env();
            env.from_source(DataGeneratorSource::new(|i| i as i64, Some(n)))
                .map(|x: i64| x.wrapping_mul(31) ^ 7)
                .filter(|x: &i64| x % 3 != 0)
                .map(|x: i64| (x, x & 1 == 0))
                .add_sink_rich(CountingSink::default());
            let result = env.execute("bench map filter chain")?;
            Ok((n, "records", result.net_runtime.as_secs_f64()))
        }
        "tumbling_window_sum" | "sliding_window_count" => {
            let n: u64 = std::env::var("STRATO_BENCH_EVENTS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20_000_000);
            let env = env();
            let events = env
                .from_source(DataGeneratorSource::new(window_event, Some(n)))
                .assign_timestamps_and_watermarks(
                    WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(100))
                        .with_timestamp_assigner(|e: &(u64, i64, i64), _| e.2),
                )
                .key_by(|e: &(u64, i64, i64)| e.0);
            if name == "tumbling_window_sum" {
                events
                    .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
                    .reduce(|a: (u64, i64, i64), b: (u64, i64, i64)| (a.0, a.1 + b.1, a.2))
                    .add_sink_rich(CountingSink::default());
            } else {
                events
                    .window(SlidingEventTimeWindows::of(
                        Duration::from_secs(10),
                        Duration::from_secs(1),
                    ))
                    .aggregate(Count)
                    .add_sink_rich(CountingSink::default());
            }
            let result = env.execute(name)?;
            Ok((n, "events", result.net_runtime.as_secs_f64()))
        }
        other => anyhow::bail!(
            "unknown scenario '{other}' (known: {})",
            SCENARIOS.join(", ")
        ),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Some(pos) = std::env::args().position(|a| a == "--child") {
        let name = std::env::args().nth(pos + 1).unwrap_or_default();
        let (records, unit, secs) = run_scenario(&name)?;
        let rss = strato::util::resources::peak_rss_bytes().unwrap_or(0);
        let cpu = strato::util::resources::cpu_seconds().unwrap_or(0.0);
        println!(
            "{name}: {records} {unit} in {secs:.2} s = {:.2} M {unit}/s, peak RSS {} MB, process CPU {cpu:.2} s ({:.0} ns of CPU per {})",
            records as f64 / secs / 1e6,
            rss >> 20,
            cpu * 1e9 / records as f64,
            unit.trim_end_matches('s')
        );
        return Ok(());
    }
    // `cargo bench` passes --bench; `cargo test --benches` only checks that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: run with `cargo bench --bench throughput`");
        return Ok(());
    }
    let selected: Vec<&str> = if args.is_empty() {
        SCENARIOS.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let exe = std::env::current_exe()?;
    println!(
        "Strato throughput benchmarks (parallelism {PARALLELISM}, {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for name in selected {
        let status = Command::new(&exe).args(["--child", name]).status()?;
        anyhow::ensure!(status.success(), "scenario {name} failed");
    }
    Ok(())
}
