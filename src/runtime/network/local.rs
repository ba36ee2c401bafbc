//! In-process channels: producer and consumer tasks in one process meet here by channel id,
//! whichever of them is deployed first.

use std::collections::HashMap;
use std::sync::Mutex;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::{ChannelId, NetworkEvent, CHANNEL_CAPACITY};

#[derive(Default)]
struct Slot {
    sender: Option<Sender<NetworkEvent>>,
    receiver: Option<Receiver<NetworkEvent>>,
}

/// The channels of the jobs running in this process (Flink's `ResultPartitionManager` for
/// local input channels).
#[derive(Default)]
pub struct LocalChannels {
    slots: Mutex<HashMap<ChannelId, Slot>>,
}

impl LocalChannels {
    fn with_slot<R>(&self, id: ChannelId, take: impl FnOnce(&mut Slot) -> R) -> R {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry(id).or_insert_with(|| {
            let (s, r) = bounded(CHANNEL_CAPACITY);
            Slot {
                sender: Some(s),
                receiver: Some(r),
            }
        });
        let result = take(slot);
        if slot.sender.is_none() && slot.receiver.is_none() {
            slots.remove(&id);
        }
        result
    }

    /// The producer's end of a channel; `None` if it was already taken.
    pub fn take_sender(&self, id: ChannelId) -> Option<Sender<NetworkEvent>> {
        self.with_slot(id, |s| s.sender.take())
    }

    /// The consumer's end of a channel; `None` if it was already taken.
    pub fn take_receiver(&self, id: ChannelId) -> Option<Receiver<NetworkEvent>> {
        self.with_slot(id, |s| s.receiver.take())
    }
}
