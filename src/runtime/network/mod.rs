//! The data plane between tasks: result partitions (record writers that serialise batches of
//! records into 32 KB buffers, one subpartition per consumer) and input gates (a channel per
//! producer, read in arrival order).
//!
//! Every channel is a bounded queue of buffers, so a slow consumer backpressures its producers
//! with bounded memory: the in-process form of Flink's credit-based flow control. Control events
//! (watermarks, idleness, checkpoint barriers, end of data, end of partition) travel in-band,
//! in order with the records.

pub mod barrier;
pub mod gate;
pub mod local;
pub mod partitioner;
pub mod remote;
pub mod serde_codec;
pub mod writer;

use serde::{Deserialize, Serialize};

/// Target size of one network buffer (Flink's `taskmanager.memory.segment-size`, 32 KB).
pub const BUFFER_SIZE: usize = 32 * 1024;

/// Buffers a channel holds before its producer blocks (Flink's 2 exclusive + floating buffers).
pub const CHANNEL_CAPACITY: usize = 4;

/// What flows through one channel, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NetworkEvent {
    /// Serialised records (see `serde_codec` for the layout).
    Records(Vec<u8>),
    /// Event time of this channel advanced to the watermark (ms).
    Watermark(i64),
    /// The channel went idle (it holds back no watermark) or active again.
    WatermarkStatus { idle: bool },
    /// A checkpoint barrier: everything before it belongs to the checkpoint's snapshot.
    Barrier(crate::checkpoint::CheckpointBarrier),
    /// Flink's `CancelCheckpointMarker`: the checkpoint was abandoned upstream; consumers stop
    /// aligning for it.
    CancelCheckpoint(u64),
    /// The producer's data ended (Flink's `EndOfData`): no records or watermarks follow, but
    /// the channel stays open for the barriers of the final checkpoint.
    EndOfData,
    /// The producer subtask has finished; nothing follows.
    EndOfPartition,
}

/// Identifies one channel of a job: the job edge, the producing and the consuming subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChannelId {
    pub edge: usize,
    pub producer: usize,
    pub consumer: usize,
}
