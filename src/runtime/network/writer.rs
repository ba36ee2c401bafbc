//! The record writer: the tail of a chain that serialises records into per-channel buffers and
//! hands full buffers to the channels (Flink's `RecordWriter` over a `ResultPartition`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender};
use serde::Serialize;

use super::partitioner::{ChannelSelector, Target};
use super::serde_codec::{encode_into, is_timestamped, start_buffer};
use super::{NetworkEvent, BUFFER_SIZE};
use crate::api::functions::RuntimeContext;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{ChainEvent, Output, TaskError};

/// The sending side of one channel, with the task's cancellation flag so a blocked send (a
/// backpressured producer) still notices cancellation.
pub struct ChannelSender {
    sender: Sender<NetworkEvent>,
    cancelled: Arc<AtomicBool>,
}

impl ChannelSender {
    pub fn new(sender: Sender<NetworkEvent>, cancelled: Arc<AtomicBool>) -> Self {
        ChannelSender { sender, cancelled }
    }

    /// Sends, blocking while the channel is full (backpressure).
    pub fn send(&self, mut event: NetworkEvent) -> Result<(), TaskError> {
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(TaskError::Cancelled);
            }
            match self.sender.send_timeout(event, Duration::from_millis(100)) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(back)) => event = back,
                // The consumer is gone: it failed or was cancelled, and the job is going down.
                Err(SendTimeoutError::Disconnected(_)) => return Err(TaskError::Cancelled),
            }
        }
    }
}

/// Serialises records to the channels chosen by the selector `S`.
pub struct RecordWriter<T, S> {
    name: String,
    channels: Vec<ChannelSender>,
    /// One buffer per channel; empty means not started.
    buffers: Vec<Vec<u8>>,
    selector: S,
    _record: std::marker::PhantomData<fn(T)>,
}

impl<T, S> RecordWriter<T, S> {
    pub fn new(name: String, channels: Vec<ChannelSender>, selector: S) -> Self {
        let buffers = channels.iter().map(|_| Vec::new()).collect();
        RecordWriter {
            name,
            channels,
            buffers,
            selector,
            _record: std::marker::PhantomData,
        }
    }

    fn send_buffer(&mut self, channel: usize) -> Result<(), TaskError> {
        let full = std::mem::replace(
            &mut self.buffers[channel],
            Vec::with_capacity(BUFFER_SIZE + 256),
        );
        self.channels[channel].send(NetworkEvent::Records(full))
    }

    /// Makes sure `channel`'s buffer is started and can hold a record with or without a
    /// timestamp (a plain buffer is sent before the first timestamped record).
    fn prepare(&mut self, channel: usize, timestamped: bool) -> Result<(), TaskError> {
        let buffer = &self.buffers[channel];
        if !buffer.is_empty() && timestamped && !is_timestamped(buffer) {
            self.send_buffer(channel)?;
        }
        if self.buffers[channel].is_empty() {
            start_buffer(&mut self.buffers[channel], timestamped);
        }
        Ok(())
    }

    fn write(&mut self, channel: usize, encoded: &[u8]) -> Result<(), TaskError> {
        self.buffers[channel].extend_from_slice(encoded);
        if self.buffers[channel].len() >= BUFFER_SIZE {
            self.send_buffer(channel)?;
        }
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), TaskError> {
        for channel in 0..self.channels.len() {
            if !self.buffers[channel].is_empty() {
                self.send_buffer(channel)?;
            }
        }
        Ok(())
    }

    fn broadcast_event(&mut self, event: NetworkEvent) -> Result<(), TaskError> {
        self.flush_all()?;
        self.channels.iter().try_for_each(|c| c.send(event.clone()))
    }
}

impl<T: Serialize + Send, S: ChannelSelector<T>> Output<T> for RecordWriter<T, S> {
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), TaskError> {
        Ok(())
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        let n = self.channels.len();
        let timestamped = batch.has_timestamps();
        let mut scratch = Vec::new();
        for (record, timestamp) in batch.drain() {
            match self.selector.select(&record, n) {
                Target::One(channel) => {
                    if channel >= n {
                        return Err(TaskError::operator(&self.name, format!("partitioner chose channel {channel}, but there are only {n} channels")));
                    }
                    self.prepare(channel, timestamped)?;
                    encode_into(&record, timestamp, &mut self.buffers[channel])
                        .map_err(|m| TaskError::operator(&self.name, m))?;
                    if self.buffers[channel].len() >= BUFFER_SIZE {
                        self.send_buffer(channel)?;
                    }
                }
                Target::All => {
                    // Serialise once, copy the bytes to every channel.
                    start_buffer(&mut scratch, timestamped);
                    encode_into(&record, timestamp, &mut scratch)
                        .map_err(|m| TaskError::operator(&self.name, m))?;
                    for channel in 0..n {
                        self.prepare(channel, timestamped)?;
                        if is_timestamped(&self.buffers[channel]) == timestamped {
                            self.write(channel, &scratch[1..])?;
                        } else {
                            // A timestamped buffer receiving a plain record: re-encode with NO_TIMESTAMP.
                            encode_into(&record, None, &mut self.buffers[channel])
                                .map_err(|m| TaskError::operator(&self.name, m))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        match event {
            ChainEvent::Watermark(wm) => self.broadcast_event(NetworkEvent::Watermark(wm)),
            ChainEvent::WatermarkStatus { idle } => {
                self.broadcast_event(NetworkEvent::WatermarkStatus { idle })
            }
            ChainEvent::EndOfInput => self.broadcast_event(NetworkEvent::EndOfData),
            ChainEvent::EndOfPartition => self.broadcast_event(NetworkEvent::EndOfPartition),
            ChainEvent::Flush => self.flush_all(),
            // Buffered records go first: they belong before the barrier.
            ChainEvent::Barrier(barrier) => self.broadcast_event(NetworkEvent::Barrier(barrier)),
            ChainEvent::ProcessingTime(_)
            | ChainEvent::CheckpointComplete(_)
            | ChainEvent::CheckpointAborted(_) => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}
