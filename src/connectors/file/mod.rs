//! The exactly-once file sink (Flink's `FileSink.forRowFormat(path, encoder)`), built on the
//! [`TwoPhaseCommitSink`] operator, on any [`FileSystem`] (`file://`, `hdfs://`).
//!
//! Records are written into *buckets* (subdirectories of the base path, [`bucket`]), each
//! holding part files ([`part`]). A part file's life:
//! 1. **in-progress**: being written, under a hidden name `.<name>.inprogress.<uuid>`;
//! 2. **pending**: closed (flushed, synced, complete) by the rolling policy ([`rolling`]) or
//!    at a checkpoint barrier, still hidden, recorded in the checkpoint;
//! 3. **committed**: renamed to `<prefix>-<uid>-<counter><suffix>` when the checkpoint that
//!    made it pending completes (a rename is atomic on local disks and HDFS).
//!
//! Unlike Flink, which keeps a row-format file open across checkpoints with a resumable
//! writer (truncating it back on recovery), every in-progress file is closed at every barrier:
//! the file system trait has no truncate, and a closed file is all recovery needs. So part
//! files are at most one checkpoint interval long whatever the rolling policy, which decides
//! only the extra rolls in between (size, age, inactivity).
//!
//! Recovery from checkpoint *n* commits the files pending in it (a file already renamed
//! counts as committed) and deletes the in-progress and pending files the failed attempt wrote
//! after barrier *n* (they are recognised by the writer uid and part counter stored with the
//! transaction open at *n*). Part counters are kept as union operator state, so after a
//! restore, at any parallelism, each subtask continues above the largest counter of all.
//! Files of an attempt that failed before completing any checkpoint of its own stay hidden
//! (as in Flink): they are never published.
//!
//! Without checkpointing, files are committed only when a bounded input ends.
//!
//! ```no_run
//! use std::time::Duration;
//! use strato::connectors::datagen::DataGeneratorSource;
//! use strato::connectors::file::{DefaultRollingPolicy, FileSink, SimpleStringEncoder};
//! use strato::StreamExecutionEnvironment;
//!
//! # fn main() -> strato::Result<()> {
//! let env = StreamExecutionEnvironment::create_local_environment();
//! // With checkpointing on, files are published at every completed checkpoint.
//! env.from_source(DataGeneratorSource::new(|i| (i % 10, i), None).with_rows_per_second(1000.0))
//!     .sink_to(
//!         FileSink::for_row_format("hdfs://namenode:8020/out", SimpleStringEncoder::new())
//!             .with_rolling_policy(
//!                 DefaultRollingPolicy::builder()
//!                     .with_max_part_size(64 * 1024 * 1024)
//!                     .with_rollover_interval(Duration::from_secs(300))
//!                     .build(),
//!             ),
//!     )
//!     .uid("file-sink");
//! env.execute("exactly-once files")?;
//! # Ok(()) }
//! ```

pub mod bucket;
pub mod encoder;
pub mod part;
pub mod rolling;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use bucket::{BasePathBucketAssigner, BucketAssigner, DateTimeBucketAssigner};
pub use encoder::{Encoder, FnEncoder, SimpleStringEncoder};
pub use part::{OutputFileConfig, PendingFile};
pub use rolling::{DefaultRollingPolicy, OnCheckpointRollingPolicy, PartFileInfo, RollingPolicy};

use crate::api::functions::RuntimeContext;
use crate::checkpoint::{OperatorStateMode, OperatorStateSnapshot};
use crate::fs::{FileSystem, FsPath};
use crate::runtime::chain::processing_time_now;
use crate::runtime::operators::two_phase::{ExtraState, TwoPhaseCommitSink};
use part::{clean_in_progress, InProgressPart};

/// The union operator state with each subtask's next part counter (Flink's
/// `max-part-counter`).
pub const PART_COUNTER_STATE: &str = "max-part-counter";

/// One transaction of the file sink: the part files one subtask closed between two barriers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSinkTransaction {
    /// The random id of the subtask instance that writes it (part of every file name).
    pub writer_uid: String,
    /// The first part counter this transaction may use: on recovery, in-progress files of
    /// this writer from this counter on belong to the failed attempt.
    pub first_counter: u64,
    /// Closed part files, waiting for the commit.
    pub pending: Vec<PendingFile>,
}

/// The exactly-once file sink. Build with [`FileSink::for_row_format`], add with
/// `stream.sink_to(sink)`.
pub struct FileSink<T, E, B = DateTimeBucketAssigner> {
    /// The base path: a plain path or a URI (`file://`, `hdfs://nn:8020/out`).
    base: String,
    encoder: E,
    assigner: B,
    rolling: Arc<dyn RollingPolicy>,
    output: OutputFileConfig,
    /// The running subtask's writer; only its thread uses it (through `get_mut`, without
    /// locking): the mutex makes the unopened prototype shareable between threads.
    writer: Mutex<Option<Writer>>,
    _records: PhantomData<fn(T)>,
}

impl<T, E: Clone, B: Clone> Clone for FileSink<T, E, B> {
    /// A clone is an unopened sink for another subtask.
    fn clone(&self) -> Self {
        FileSink {
            base: self.base.clone(),
            encoder: self.encoder.clone(),
            assigner: self.assigner.clone(),
            rolling: self.rolling.clone(),
            output: self.output.clone(),
            writer: Mutex::new(None),
            _records: PhantomData,
        }
    }
}

impl<T, E: Encoder<T>> FileSink<T, E, DateTimeBucketAssigner> {
    /// A sink writing rows encoded by `encoder` under `base_path`, with Flink's defaults:
    /// hourly [`DateTimeBucketAssigner`] buckets, [`DefaultRollingPolicy`], `part` prefix.
    pub fn for_row_format(base_path: &str, encoder: E) -> Self {
        FileSink {
            base: base_path.to_string(),
            encoder,
            assigner: DateTimeBucketAssigner::default(),
            rolling: Arc::new(DefaultRollingPolicy::default()),
            output: OutputFileConfig::default(),
            writer: Mutex::new(None),
            _records: PhantomData,
        }
    }
}

impl<T, E: Encoder<T>, B: BucketAssigner<T>> FileSink<T, E, B> {
    /// Buckets records with `assigner` instead.
    pub fn with_bucket_assigner<B2: BucketAssigner<T>>(self, assigner: B2) -> FileSink<T, E, B2> {
        FileSink {
            base: self.base,
            encoder: self.encoder,
            assigner,
            rolling: self.rolling,
            output: self.output,
            writer: Mutex::new(None),
            _records: PhantomData,
        }
    }

    /// Rolls part files by `policy` ([`DefaultRollingPolicy`], [`OnCheckpointRollingPolicy`]).
    pub fn with_rolling_policy(mut self, policy: impl RollingPolicy) -> Self {
        self.rolling = Arc::new(policy);
        self
    }

    /// Part file prefix and suffix.
    pub fn with_output_file_config(mut self, config: OutputFileConfig) -> Self {
        self.output = config;
        self
    }

    /// Finishes the builder (Flink's `build()`; the sink is usable without it).
    pub fn build(self) -> Self {
        self
    }

    fn writer(&mut self) -> anyhow::Result<&mut Writer> {
        opened(&mut self.writer, &self.base)
    }
}

/// The writer of an opened sink.
fn opened<'a>(writer: &'a mut Mutex<Option<Writer>>, base: &str) -> anyhow::Result<&'a mut Writer> {
    writer
        .get_mut()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
        .with_context(|| format!("the file sink for '{base}' was not opened"))
}

/// What one subtask of the sink holds while running.
struct Writer {
    fs: Arc<dyn FileSystem>,
    base: FsPath,
    /// Random per subtask instance (regenerated after a failure, as Flink's).
    uid: String,
    next_counter: u64,
    /// The in-progress part file of each bucket (of the open transaction).
    parts: BTreeMap<String, InProgressPart>,
}

impl Writer {
    /// Rolls the part file of `bucket` (or every part when `None`) into `txn`.
    fn roll(&mut self, txn: &mut FileSinkTransaction, bucket: Option<&str>) -> anyhow::Result<()> {
        let parts = match bucket {
            Some(bucket) => self.parts.remove(bucket).into_iter().collect(),
            None => std::mem::take(&mut self.parts)
                .into_values()
                .collect::<Vec<_>>(),
        };
        for part in parts {
            txn.pending.push(part.close_for_commit()?);
        }
        Ok(())
    }

    fn open_part(
        &mut self,
        bucket: &str,
        now: i64,
        output: &OutputFileConfig,
    ) -> anyhow::Result<()> {
        let dir = if bucket.is_empty() {
            self.base.clone()
        } else {
            self.base.child(bucket)
        };
        let committed = dir.child(&output.part_name(&self.uid, self.next_counter));
        self.next_counter += 1;
        let part = InProgressPart::create(&self.fs, committed, bucket, now)?;
        self.parts.insert(bucket.to_string(), part);
        Ok(())
    }
}

impl<T, E, B> TwoPhaseCommitSink<T> for FileSink<T, E, B>
where
    T: Send + 'static,
    E: Encoder<T>,
    B: BucketAssigner<T>,
{
    type Transaction = FileSinkTransaction;

    fn name(&self) -> String {
        "File Sink".into()
    }

    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        let (fs, base) = <dyn FileSystem>::for_uri(&self.base)
            .with_context(|| format!("the file sink path '{}' cannot be used", self.base))?;
        fs.mkdirs(&base)
            .with_context(|| format!("could not create the file sink directory '{base}'"))?;
        *self.writer.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(Writer {
            fs,
            base,
            uid: uuid::Uuid::new_v4().to_string(),
            next_counter: 0,
            parts: BTreeMap::new(),
        });
        Ok(())
    }

    /// Continues above the largest part counter of every restored subtask.
    fn initialize_state(&mut self, restored: Option<&OperatorStateSnapshot>) -> anyhow::Result<()> {
        let Some(restored) = restored else {
            return Ok(());
        };
        let mut max = 0;
        for (name, _, elements) in &restored.states {
            if name != PART_COUNTER_STATE {
                continue;
            }
            for element in elements {
                let bytes: [u8; 8] = element.as_slice().try_into().map_err(|_| {
                    anyhow::anyhow!(
                        "the restored part counter has {} bytes instead of 8",
                        element.len()
                    )
                })?;
                max = max.max(u64::from_le_bytes(bytes));
            }
        }
        let writer = self.writer()?;
        writer.next_counter = writer.next_counter.max(max);
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> anyhow::Result<ExtraState> {
        let counter = self.writer()?.next_counter;
        Ok(vec![(
            PART_COUNTER_STATE.to_string(),
            OperatorStateMode::Union,
            vec![counter.to_le_bytes().to_vec()],
        )])
    }

    fn begin_transaction(&mut self) -> anyhow::Result<FileSinkTransaction> {
        let writer = self.writer()?;
        Ok(FileSinkTransaction {
            writer_uid: writer.uid.clone(),
            first_counter: writer.next_counter,
            pending: Vec::new(),
        })
    }

    fn invoke(&mut self, txn: &mut FileSinkTransaction, value: T) -> anyhow::Result<()> {
        let now = processing_time_now();
        let FileSink {
            base,
            encoder,
            assigner,
            rolling,
            output,
            writer,
            ..
        } = self;
        let writer = opened(writer, base)?;
        let bucket = assigner.bucket_id(&value, now);
        if writer
            .parts
            .get(bucket)
            .is_some_and(|part| rolling.should_roll_on_event(&part.info))
        {
            writer.roll(txn, Some(bucket))?;
        }
        if !writer.parts.contains_key(bucket) {
            writer.open_part(bucket, now, output)?;
        }
        let part = writer
            .parts
            .get_mut(bucket)
            .context("the part file just opened is missing")?;
        let before = part.buffer().len();
        encoder.encode(&value, part.buffer())?;
        part.written(before, now)
    }

    fn pre_commit(&mut self, txn: &mut FileSinkTransaction) -> anyhow::Result<()> {
        self.writer()?.roll(txn, None)
    }

    fn commit(&mut self, txn: &FileSinkTransaction) -> anyhow::Result<()> {
        let fs = self.writer()?.fs.clone();
        txn.pending.iter().try_for_each(|file| file.commit(&*fs))
    }

    fn abort(&mut self, txn: &FileSinkTransaction) -> anyhow::Result<()> {
        let writer = self.writer()?;
        let fs = writer.fs.clone();
        for part in std::mem::take(&mut writer.parts).into_values() {
            part.discard(&*fs)?;
        }
        txn.pending.iter().try_for_each(|file| file.discard(&*fs))
    }

    /// Deletes what the failed attempt wrote after the restored checkpoint: the hidden part
    /// files of that writer from the transaction's first counter on.
    fn recover_and_abort(&mut self, txn: &FileSinkTransaction) -> anyhow::Result<()> {
        let output = self.output.clone();
        let writer = self.writer()?;
        let deleted = clean_in_progress(
            &*writer.fs,
            &writer.base,
            &output,
            &txn.writer_uid,
            txn.first_counter,
        )?;
        if deleted > 0 {
            tracing::info!(
                "deleted {deleted} uncommitted part files of writer {} under {}",
                txn.writer_uid,
                writer.base
            );
        }
        Ok(())
    }

    fn on_processing_time(
        &mut self,
        txn: &mut FileSinkTransaction,
        now: i64,
    ) -> anyhow::Result<()> {
        let rolling = self.rolling.clone();
        let writer = self.writer()?;
        let due: Vec<String> = writer
            .parts
            .iter()
            .filter(|(_, part)| rolling.should_roll_on_processing_time(&part.info, now))
            .map(|(bucket, _)| bucket.clone())
            .collect();
        for bucket in due {
            writer.roll(txn, Some(&bucket))?;
        }
        Ok(())
    }

    fn next_deadline(&self) -> Option<i64> {
        let guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()?
            .parts
            .values()
            .filter_map(|part| self.rolling.roll_deadline(&part.info))
            .min()
    }

    fn close(&mut self) -> anyhow::Result<()> {
        *self.writer.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}
