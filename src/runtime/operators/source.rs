//! Drives a [`SourceReader`]: polls it and pushes each batch, and the watermarks it emitted
//! between records, into the chain.

use std::sync::Arc;

use crate::api::functions::RuntimeContext;
use crate::api::source::{InputStatus, SourceOutput, SourceReader};
use crate::checkpoint::{OperatorStateMode, OperatorStateSnapshot};
use crate::graph::stream_graph::{OperatorInfo, SourceDriver};
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, ChainEvent, TaskError};
use crate::state::{OperatorSnapshotFutures, TaskStateManager};

/// The operator state holding a source reader's splits (Flink's name).
pub const SOURCE_READER_STATE: &str = "SourceReaderState";

/// The splits a restored reader resumes from: its share of the `SourceReaderState` list.
pub fn restored_splits(state: &OperatorStateSnapshot) -> Result<Vec<Vec<u8>>, String> {
    Ok(state
        .states
        .iter()
        .filter(|(name, _, _)| name == SOURCE_READER_STATE)
        .flat_map(|(_, _, splits)| splits.iter().map(|s| s.to_vec()))
        .collect())
}

/// Flink's `Watermark.MAX_WATERMARK`: emitted when a bounded input ends, so every event-time
/// timer and window fires.
pub const MAX_WATERMARK: i64 = i64::MAX;

pub struct ReaderDriver<T> {
    pub name: String,
    pub operator_id: String,
    pub reader: Box<dyn SourceReader<T>>,
    pub next: BoxOutput<T>,
    pub batch: Batch<T>,
    pub events: Vec<(usize, ChainEvent)>,
    state: Option<Arc<TaskStateManager>>,
}

impl<T: Send + 'static> ReaderDriver<T> {
    pub fn new(op: OperatorInfo, reader: Box<dyn SourceReader<T>>, next: BoxOutput<T>) -> Self {
        ReaderDriver {
            name: op.name,
            operator_id: op.id,
            reader,
            next,
            batch: Batch::new(),
            events: Vec::new(),
            state: None,
        }
    }

    /// Snapshots the reader's splits; called between polls, so nothing is half emitted.
    fn snapshot(&mut self, checkpoint_id: u64) -> Result<(), TaskError> {
        let splits = guarded(&self.name, || self.reader.snapshot_state(checkpoint_id))?;
        if let Some(state) = &self.state {
            state.add_snapshot(
                &self.operator_id,
                OperatorSnapshotFutures {
                    operator: OperatorStateSnapshot {
                        states: vec![(
                            SOURCE_READER_STATE.to_string(),
                            OperatorStateMode::Split,
                            splits.into_iter().map(serde_bytes::ByteBuf::from).collect(),
                        )],
                    },
                    ..Default::default()
                },
            );
        }
        Ok(())
    }

    /// Pushes the polled records, interleaving the events at their positions.
    fn emit(&mut self) -> Result<(), TaskError> {
        if self.events.is_empty() {
            return if self.batch.is_empty() {
                Ok(())
            } else {
                self.next.push(&mut self.batch)
            };
        }
        let events = std::mem::take(&mut self.events);
        let mut polled = std::mem::take(&mut self.batch);
        let mut records = polled.drain();
        let mut part = Batch::new();
        let mut emitted = 0;
        for (position, event) in events {
            while emitted < position {
                let Some((record, ts)) = records.next() else {
                    break;
                };
                part.push(record, ts);
                emitted += 1;
            }
            if !part.is_empty() {
                self.next.push(&mut part)?;
            }
            self.next.event(event)?;
        }
        for (record, ts) in records {
            part.push(record, ts);
        }
        if !part.is_empty() {
            self.next.push(&mut part)?;
        }
        Ok(())
    }
}

impl<T: Send + 'static> SourceDriver for ReaderDriver<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.state = Some(ctx.state_manager().clone());
        self.next.open(ctx)?;
        guarded(&self.name, || self.reader.open(ctx))
    }

    fn poll(&mut self) -> Result<InputStatus, TaskError> {
        let (reader, batch, events) = (&mut self.reader, &mut self.batch, &mut self.events);
        let status = guarded(&self.name, || {
            reader.poll_next(&mut SourceOutput { batch, events })
        })?;
        self.emit()?;
        Ok(status)
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        match &event {
            ChainEvent::Barrier(barrier) => self.snapshot(barrier.id)?,
            ChainEvent::CheckpointComplete(id) => {
                let id = *id;
                guarded(&self.name, || self.reader.notify_checkpoint_complete(id))?
            }
            _ => {}
        }
        self.next.event(event)
    }

    fn next_deadline(&self) -> Option<i64> {
        self.next.next_deadline()
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        self.next.event(ChainEvent::Watermark(MAX_WATERMARK))?;
        self.next.event(ChainEvent::EndOfInput)
    }

    fn close(&mut self) -> Result<(), TaskError> {
        let own = guarded(&self.name, || self.reader.close());
        own.and(self.next.close())
    }
}
