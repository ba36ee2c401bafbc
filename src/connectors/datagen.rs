//! The data generator source (Flink's `DataGeneratorSource`): records made by a function of
//! their index, optionally rate-limited, bounded (a count) or unbounded.
//!
//! Each subtask generates a contiguous range of indices, so a record depends only on its index:
//! output is reproducible. The position at a checkpoint is the range still to generate (next
//! index, end); after a restore at any parallelism each range is resumed by exactly one
//! subtask, and the rate limit (shared by the current subtasks) starts counting anew.
//! `from_sequence` is this source with the identity generator.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::split::{decode_splits, encode_split};
use crate::api::functions::RuntimeContext;
use crate::api::source::{Boundedness, InputStatus, Source, SourceOutput, SourceReader};
use crate::util::textgen::SplitMix64;

type Generator<T> = dyn Fn(u64) -> T + Send + Sync;

pub struct DataGeneratorSource<T> {
    generator: Arc<Generator<T>>,
    /// Number of records; `None` is unbounded.
    count: Option<u64>,
    /// Total rows per second over all subtasks; `None` is as fast as possible.
    rows_per_second: Option<f64>,
    name: String,
}

impl<T: Send + 'static> DataGeneratorSource<T> {
    /// `count` records (`None`: unbounded), record `i` being `generator(i)`.
    pub fn new(generator: impl Fn(u64) -> T + Send + Sync + 'static, count: Option<u64>) -> Self {
        DataGeneratorSource {
            generator: Arc::new(generator),
            count,
            rows_per_second: None,
            name: "Data Generator".into(),
        }
    }

    /// Limits the total rate over all subtasks.
    pub fn with_rows_per_second(mut self, rows_per_second: f64) -> Self {
        self.rows_per_second = (rows_per_second > 0.0).then_some(rows_per_second);
        self
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }
}

impl DataGeneratorSource<i64> {
    /// The numbers `from..=to` (Flink's `fromSequence`).
    pub fn sequence(from: i64, to: i64) -> Self {
        let count = if to >= from {
            (to as i128 - from as i128 + 1) as u64
        } else {
            0
        };
        DataGeneratorSource::new(move |i| from.wrapping_add(i as i64), Some(count))
            .with_name("Sequence Source")
    }
}

/// A random number generator for record `index`: the same index always gives the same values,
/// so "random" generated data is still replayable.
pub fn random_for_index(index: u64, seed: u64) -> SplitMix64 {
    SplitMix64::new(index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed)
}

impl<T: Send + 'static> Source<T> for DataGeneratorSource<T> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn boundedness(&self) -> Boundedness {
        if self.count.is_some() {
            Boundedness::Bounded
        } else {
            Boundedness::ContinuousUnbounded
        }
    }
    fn create_reader(&self, ctx: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<T>>> {
        let (i, p) = (
            ctx.index_of_this_subtask() as u128,
            ctx.number_of_parallel_subtasks() as u128,
        );
        let total = self.count.map(u128::from).unwrap_or(u64::MAX as u128);
        let (start, end) = ((i * total / p) as u64, ((i + 1) * total / p) as u64);
        Ok(self.reader(ctx, vec![SequenceSplit { next: start, end }]))
    }

    /// Resumes from the remaining index ranges this subtask was dealt (none: nothing left).
    fn restore_reader(
        &self,
        ctx: &RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> anyhow::Result<Box<dyn SourceReader<T>>> {
        let splits = decode_splits(&self.name, splits)?;
        Ok(self.reader(ctx, splits))
    }
}

impl<T: Send + 'static> DataGeneratorSource<T> {
    /// A reader of `splits`; the rate limit is shared evenly by the current subtasks and
    /// starts counting when the reader first polls (also after a restore).
    fn reader(&self, ctx: &RuntimeContext, splits: Vec<SequenceSplit>) -> Box<dyn SourceReader<T>> {
        let p = ctx.number_of_parallel_subtasks().max(1) as f64;
        Box::new(GeneratorReader {
            generator: self.generator.clone(),
            splits: splits.into(),
            rate: self.rows_per_second.map(|r| r / p),
            started: None,
            emitted: 0,
        })
    }
}

/// A range of record indices still to generate: the data generator's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SequenceSplit {
    /// The next index to generate.
    next: u64,
    /// One past the last index.
    end: u64,
}

struct GeneratorReader<T> {
    generator: Arc<Generator<T>>,
    /// Ranges still to generate, the current one first.
    splits: VecDeque<SequenceSplit>,
    /// Rows per second for this subtask.
    rate: Option<f64>,
    started: Option<Instant>,
    emitted: u64,
}

impl<T> GeneratorReader<T> {
    /// Records that may be emitted now under the rate limit (`u64::MAX` without one).
    fn budget(&mut self) -> u64 {
        let Some(rate) = self.rate else {
            return u64::MAX;
        };
        let started = *self.started.get_or_insert_with(Instant::now);
        let allowed = (started.elapsed().as_secs_f64() * rate) as u64 + 1;
        allowed.saturating_sub(self.emitted)
    }
}

impl<T: Send> SourceReader<T> for GeneratorReader<T> {
    fn poll_next(&mut self, output: &mut SourceOutput<T>) -> anyhow::Result<InputStatus> {
        let mut budget = self.budget();
        if budget == 0 {
            if let (Some(rate), Some(started)) = (self.rate, self.started) {
                // Sleep until the next record is due, at most 100 ms.
                let due = (self.emitted as f64 / rate) - started.elapsed().as_secs_f64();
                std::thread::sleep(Duration::from_secs_f64(due.clamp(0.0, 0.1)));
            }
            budget = self.budget();
            if budget == 0 {
                return Ok(InputStatus::NothingAvailable);
            }
        }
        while budget > 0 && !output.is_full() {
            let Some(split) = self.splits.front_mut() else {
                break;
            };
            if split.next >= split.end {
                self.splits.pop_front();
                continue;
            }
            output.collect((self.generator)(split.next));
            split.next += 1;
            self.emitted += 1;
            budget -= 1;
        }
        while self.splits.front().is_some_and(|s| s.next >= s.end) {
            self.splits.pop_front();
        }
        Ok(if self.splits.is_empty() {
            InputStatus::EndOfInput
        } else if budget == 0 {
            // Rate-limited: let the task flush what was just emitted before waiting.
            InputStatus::NothingAvailable
        } else {
            InputStatus::MoreAvailable
        })
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        self.splits
            .iter()
            .filter(|s| s.next < s.end)
            .map(encode_split)
            .collect()
    }
}
