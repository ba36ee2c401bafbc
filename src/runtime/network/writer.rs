//! The record writer: the tail of a chain that serialises records into per-channel buffers and
//! hands full buffers to the channels (Flink's `RecordWriter` over a `ResultPartition`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender};
use serde::Serialize;

use super::partitioner::{ChannelSelector, Target};
use super::serde_codec::encode_into;
use super::{NetworkEvent, BUFFER_SIZE};
use crate::api::functions::RuntimeContext;
use crate::runtime::chain::{Output, TaskError};

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

    fn encode_error(&self, message: String) -> TaskError {
        TaskError::operator(&self.name, message)
    }
}

impl<T: Serialize + Send, S: ChannelSelector<T>> Output<T> for RecordWriter<T, S> {
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), TaskError> {
        Ok(())
    }

    fn push(&mut self, batch: &mut Vec<T>) -> Result<(), TaskError> {
        let n = self.channels.len();
        for record in batch.drain(..) {
            match self.selector.select(&record, n) {
                Target::One(channel) => {
                    if channel >= n {
                        return Err(self.encode_error(format!(
                            "partitioner chose channel {channel}, but there are only {n} channels"
                        )));
                    }
                    let buffer = &mut self.buffers[channel];
                    encode_into(&record, buffer).map_err(|m| TaskError::operator(&self.name, m))?;
                    if buffer.len() >= BUFFER_SIZE {
                        self.send_buffer(channel)?;
                    }
                }
                Target::All => {
                    // Serialise once, copy the bytes to every channel.
                    let (first, rest) = self.buffers.split_at_mut(1);
                    let start = first[0].len();
                    encode_into(&record, &mut first[0])
                        .map_err(|m| TaskError::operator(&self.name, m))?;
                    for buffer in rest {
                        buffer.extend_from_slice(&first[0][start..]);
                    }
                    for channel in 0..n {
                        if self.buffers[channel].len() >= BUFFER_SIZE {
                            self.send_buffer(channel)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        self.flush()?;
        for channel in &self.channels {
            channel.send(NetworkEvent::EndOfPartition)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        for channel in 0..self.channels.len() {
            if !self.buffers[channel].is_empty() {
                self.send_buffer(channel)?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
}
