//! Shared helpers for integration tests: locating built binaries and reading job output.
#![allow(dead_code)]

pub mod events;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A built example binary (cargo builds examples for `cargo test`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "example binary {} not built", path.display());
    path
}

/// The `strato` CLI binary.
pub fn strato() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strato"));
    cmd.env_remove("STRATO_CONF_DIR");
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Word counts as Flink's WordCount defines words: lower-cased runs of [a-z0-9_].
pub fn reference_word_count(text: &str) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for word in text
        .to_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        if !word.is_empty() {
            *counts.entry(word.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Checks what `examples/word_count_pipeline` wrote to `output` for the input `text`: every
/// count in `counts`, and in `frequent` those of words seen at least twice.
pub fn assert_word_count_pipeline_output(output: &Path, text: &str) {
    let expected = reference_word_count(text);
    assert_eq!(read_counts(&output.join("counts")), expected);
    let frequent: HashMap<String, i64> = expected.into_iter().filter(|(_, n)| *n >= 2).collect();
    assert_eq!(read_counts(&output.join("frequent")), frequent);
}

/// Reads `(word,count)` lines from a file or a directory of subtask files; keeps each word's
/// highest count (in STREAMING mode every update is written, the last one being the total).
pub fn read_counts(path: &Path) -> HashMap<String, i64> {
    let files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let mut counts = HashMap::new();
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let inner = line
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let (word, count) = inner.rsplit_once(',').unwrap();
            let count: i64 = count.parse().unwrap();
            let slot = counts.entry(word.to_string()).or_insert(0);
            *slot = (*slot).max(count);
        }
    }
    counts
}

/// A small corpus with the shapes that trip tokenizers: punctuation, case, digits, unicode.
pub fn write_corpus(path: &Path, bytes: u64) -> String {
    let mut generated = Vec::new();
    strato::util::textgen::ZipfText::new(2000, 11)
        .write_to(&mut generated, bytes)
        .unwrap();
    let mut text = String::from_utf8(generated).unwrap();
    text.push_str(
        "Hello, HELLO hello!\nit's a_b c3po -- Ünïcode naïve café\n\n  spaced   out  \nend",
    );
    std::fs::write(path, &text).unwrap();
    text
}

/// A configuration directory with the given `strato-conf.yaml` contents.
pub fn conf_dir(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("strato-conf.yaml"), yaml).unwrap();
    dir
}

/// A pass-through map that fails its task after `after` records on attempts below
/// `failing_attempts` (failure injection for recovery tests); counts the failures it injected.
#[derive(Clone)]
pub struct FailAfter {
    pub after: u64,
    pub failing_attempts: u32,
    pub injected: std::sync::Arc<std::sync::atomic::AtomicU32>,
    seen: u64,
    attempt: u32,
}

impl FailAfter {
    pub fn new(after: u64, failing_attempts: u32) -> Self {
        FailAfter {
            after,
            failing_attempts,
            injected: Default::default(),
            seen: 0,
            attempt: 0,
        }
    }
}

impl<T: Send + 'static> strato::MapFunction<T, T> for FailAfter {
    fn open(&mut self, ctx: &strato::RuntimeContext) -> anyhow::Result<()> {
        self.attempt = ctx.attempt_number();
        self.seen = 0;
        Ok(())
    }
    fn map(&mut self, value: T) -> anyhow::Result<T> {
        self.seen += 1;
        if self.attempt < self.failing_attempts && self.seen == self.after {
            self.injected
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            anyhow::bail!(
                "injected failure on attempt {} after {} records",
                self.attempt,
                self.seen
            );
        }
        Ok(value)
    }
}

/// Lines of every visible (committed) file under `dir`, sorted: the exactly-once file sink
/// hides in-progress and pending files behind a leading dot.
pub fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                lines.extend(text.lines().map(str::to_string));
            }
        }
    }
    lines.sort();
    lines
}

/// Restarts a failed job up to `attempts` times, `delay` apart (e.g. "50 ms"): Flink's
/// fixed-delay strategy, which recovery tests use to recover quickly.
pub fn restart_fixed_delay(env: &strato::StreamExecutionEnvironment, attempts: u32, delay: &str) {
    env.set_config("restart-strategy", "fixed-delay");
    env.set_config(
        "restart-strategy.fixed-delay.attempts",
        &attempts.to_string(),
    );
    env.set_config("restart-strategy.fixed-delay.delay", delay);
}
