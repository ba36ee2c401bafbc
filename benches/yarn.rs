//! Deployment latency on the mini YARN (the targets: `yarn-session -d` to the printed
//! web interface under 3 s, a per-job word count of a small input from command to result
//! under 5 s; Flink needs tens of seconds for both on YARN).
//!
//! `cargo bench --bench yarn` (build the examples of the same profile first:
//! `cargo build --release --examples`). Prints each run and the best of three.

#[path = "../tests/yarn_support/mod.rs"]
mod yarn_support;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use yarn_support::Yarn;

const RUNS: usize = 3;

/// The word count example next to this bench's profile directory.
fn word_count() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join("word_count");
    path.is_file().then_some(path)
}

/// Starts a detached session; the time until the web interface line, and the application id.
fn session_to_web_interface(yarn: &Yarn) -> (Duration, String) {
    let started = Instant::now();
    let mut child = yarn
        .strato()
        .args(["yarn-session", "-d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("strato yarn-session");
    let stdout = child.stdout.take().expect("stdout");
    let mut elapsed = None;
    let mut app = String::new();
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        if let Some(id) = line.strip_prefix("Application ID: ") {
            app = id.trim().to_string();
        }
        if line.starts_with("JobManager Web Interface: ") {
            elapsed.get_or_insert(started.elapsed());
        }
    }
    let status = child.wait().expect("yarn-session exit");
    assert!(status.success(), "yarn-session failed");
    (elapsed.expect("no web interface printed"), app)
}

fn report(name: &str, target: Duration, runs: &[Duration]) {
    let best = runs.iter().min().copied().unwrap_or_default();
    let all: Vec<String> = runs
        .iter()
        .map(|d| format!("{} ms", d.as_millis()))
        .collect();
    println!(
        "  {name}: best {} ms (runs: {}), target < {} s",
        best.as_millis(),
        all.join(", "),
        target.as_secs()
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` only checks that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("yarn: run with `cargo bench --bench yarn`");
        return;
    }
    let Some(program) = word_count() else {
        println!("yarn: build the examples first (cargo build --release --examples)");
        return;
    };
    let yarn = Yarn::start(false);
    let mut sessions = Vec::new();
    for _ in 0..RUNS {
        let (elapsed, app) = session_to_web_interface(&yarn);
        sessions.push(elapsed);
        let stop = yarn.cli_with_stdin(&["yarn-session", "-id", &app], "stop\n");
        assert!(stop.status.success(), "stopping {app} failed");
    }

    let input = yarn.dir.path().join("words.txt");
    std::fs::write(
        &input,
        "to be or not to be\nthat is the question\n".repeat(1000),
    )
    .expect("input");
    let mut per_job = Vec::new();
    for run in 0..RUNS {
        let output = yarn.dir.path().join(format!("counts-{run}"));
        let started = Instant::now();
        let out = yarn.cli(&[
            "run",
            "-t",
            "yarn-per-job",
            program.to_str().expect("utf-8 path"),
            "--input",
            input.to_str().expect("utf-8 path"),
            "--output",
            output.to_str().expect("utf-8 path"),
        ]);
        per_job.push(started.elapsed());
        assert!(
            out.status.success(),
            "per-job word count failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("yarn (mini YARN, 2 NodeManagers, file:// staging):");
    report(
        "yarn-session -d to web interface",
        Duration::from_secs(3),
        &sessions,
    );
    report(
        "per-job word count, command to result",
        Duration::from_secs(5),
        &per_job,
    );
}
