//! Source positions: the built-in sources report where each reader is at a checkpoint, and
//! readers restored from those positions, at the same or another parallelism, read every
//! remaining element exactly once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strato::api::functions::RuntimeContext;
use strato::api::source::{InputStatus, Source};
use strato::connectors::collection::CollectionSource;
use strato::connectors::datagen::DataGeneratorSource;
use strato::connectors::text_file::TextFileSource;
use strato::graph::stream_graph::{OperatorInfo, SourceDriver};
use strato::runtime::batch::Batch;
use strato::runtime::chain::{ChainEvent, Output, TaskError};
use strato::runtime::operators::source::ReaderDriver;

/// The end of a test chain: keeps every record.
struct Collect<T>(Arc<Mutex<Vec<T>>>);

impl<T: Send> Output<T> for Collect<T> {
    fn open(&mut self, _: &RuntimeContext) -> Result<(), TaskError> {
        Ok(())
    }
    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        self.0.lock().unwrap().append(&mut batch.records);
        batch.clear();
        Ok(())
    }
    fn event(&mut self, _: ChainEvent) -> Result<(), TaskError> {
        Ok(())
    }
    fn close(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}

/// One running reader with what it emitted.
struct Subtask<T> {
    driver: ReaderDriver<T>,
    out: Arc<Mutex<Vec<T>>>,
    ended: bool,
}

impl<T: Send + 'static> Subtask<T> {
    fn start(
        source: &dyn Source<T>,
        index: usize,
        parallelism: usize,
        splits: Option<Vec<Vec<u8>>>,
    ) -> Self {
        let ctx = RuntimeContext::for_test(index, parallelism);
        let reader = match splits {
            Some(splits) => source.restore_reader(&ctx, splits).unwrap(),
            None => source.create_reader(&ctx).unwrap(),
        };
        let out = Arc::new(Mutex::new(Vec::new()));
        let op = OperatorInfo {
            name: "Source: test".into(),
            id: "source".into(),
        };
        let mut driver = ReaderDriver::new(op, reader, Box::new(Collect(out.clone())));
        driver.open(&ctx).unwrap();
        Subtask {
            driver,
            out,
            ended: false,
        }
    }

    fn poll(&mut self, times: usize) {
        for _ in 0..times {
            if self.ended {
                return;
            }
            self.ended = self.driver.poll().unwrap() == InputStatus::EndOfInput;
        }
    }

    fn run_to_end(&mut self) {
        while !self.ended {
            self.poll(1);
        }
    }

    fn snapshot(&mut self) -> Vec<Vec<u8>> {
        self.driver.reader.snapshot_state(1).unwrap()
    }

    fn output(&self) -> Vec<T> {
        std::mem::take(&mut *self.out.lock().unwrap())
    }
}

/// Runs `parallelism` readers a different number of polls each, snapshots them, deals the
/// splits to `new_parallelism` restored readers (as the operator state's Split mode does) and
/// reads to the end. Returns everything emitted before and after the restore.
fn read_with_restore<T: Send + Ord + Clone + 'static>(
    source: &dyn Source<T>,
    parallelism: usize,
    new_parallelism: usize,
) -> Vec<T> {
    let mut emitted = Vec::new();
    let mut splits = Vec::new();
    for i in 0..parallelism {
        let mut subtask = Subtask::start(source, i, parallelism, None);
        subtask.poll(1 + i);
        splits.extend(subtask.snapshot());
        // What the failed attempt emitted after the checkpoint is replayed, not kept.
        emitted.extend(subtask.output());
        subtask.poll(2);
    }
    let mut shares = vec![Vec::new(); new_parallelism];
    for (i, split) in splits.into_iter().enumerate() {
        shares[i % new_parallelism].push(split);
    }
    for (j, share) in shares.into_iter().enumerate() {
        let mut subtask = Subtask::start(source, j, new_parallelism, Some(share));
        subtask.run_to_end();
        emitted.extend(subtask.output());
    }
    emitted.sort();
    emitted
}

#[test]
fn a_sequence_resumes_every_remaining_number_exactly_once_at_any_parallelism() {
    let source = DataGeneratorSource::sequence(1, 20_000);
    let all: Vec<i64> = (1..=20_000).collect();
    for (from, to) in [(2, 2), (2, 3), (3, 1), (1, 4)] {
        assert_eq!(read_with_restore(&source, from, to), all, "{from} -> {to}");
    }
}

#[test]
fn a_restored_reader_without_splits_has_nothing_left_to_read() {
    let source = DataGeneratorSource::sequence(0, 99);
    let mut subtask = Subtask::start(&source, 3, 4, Some(Vec::new()));
    subtask.run_to_end();
    assert!(subtask.output().is_empty());
}

#[test]
fn the_data_generator_resumes_its_sequence_position() {
    let source = DataGeneratorSource::new(|i| format!("record-{i:06}"), Some(5_000));
    let mut all: Vec<String> = (0..5_000).map(|i| format!("record-{i:06}")).collect();
    all.sort();
    assert_eq!(read_with_restore(&source, 2, 3), all);
}

#[test]
fn the_rate_limit_keeps_working_after_a_restore() {
    let source = DataGeneratorSource::new(|i| i, None).with_rows_per_second(1_000.0);
    let mut first = Subtask::start(&source, 0, 1, None);
    first.poll(3);
    let before = first.output();
    let splits = first.snapshot();
    let mut restored = Subtask::start(&source, 0, 1, Some(splits));
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        restored.poll(1);
    }
    let after = restored.output();
    // 1000 rows/s for ~0.3 s: a few hundred, not an unthrottled flood.
    assert!(
        (100..=600).contains(&after.len()),
        "{} records in 300 ms",
        after.len()
    );
    // And it continues right after the checkpointed position.
    assert_eq!(after[0], *before.last().unwrap() + 1);
}

#[test]
fn a_collection_resumes_at_its_index() {
    let elements: Vec<u32> = (0..3_000).collect();
    let source = CollectionSource::new(elements.clone());
    assert_eq!(read_with_restore(&source, 1, 1), elements);
}

#[test]
fn a_text_file_resumes_each_split_at_its_next_line_at_any_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    // Two files, one spanning several splits (splits are at least 1 MB), lines of varying
    // length and a CRLF now and then.
    let mut all = Vec::new();
    for (name, lines) in [("a.txt", 250_000), ("b.txt", 40_000)] {
        let mut text = String::new();
        for i in 0..lines {
            let line = format!("{name}-{i}-{}", "y".repeat(i % 23));
            text.push_str(&line);
            text.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
            all.push(line);
        }
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    all.sort();
    let source = TextFileSource::new(dir.path());
    for (from, to) in [(2, 2), (2, 3), (3, 1)] {
        assert_eq!(read_with_restore(&source, from, to), all, "{from} -> {to}");
    }
}
