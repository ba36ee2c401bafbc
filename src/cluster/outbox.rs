//! A peer's outgoing message queue: callers never block on a slow or stopped peer (which could
//! otherwise stall the JobManager while it holds its state lock); a writer thread drains it.

use std::io::BufWriter;
use std::net::TcpStream;

use crossbeam_channel::{unbounded, Sender};
use serde::Serialize;

use super::rpc;

/// Sends frames to one peer from any thread.
#[derive(Clone)]
pub struct Outbox {
    frames: Sender<Vec<u8>>,
    stream: std::sync::Arc<TcpStream>,
}

impl Outbox {
    /// Starts the writer thread for `stream`.
    pub fn new(stream: TcpStream, peer: &str) -> std::io::Result<Self> {
        let (frames, queue) = unbounded::<Vec<u8>>();
        let mut writer = BufWriter::new(stream.try_clone()?);
        let name = peer.to_string();
        std::thread::Builder::new()
            .name(format!("rpc-out {peer}"))
            .spawn(move || {
                for frame in queue {
                    if let Err(e) = rpc::write_frame(&mut writer, &frame) {
                        tracing::info!("connection to {name} closed: {e}");
                        return;
                    }
                }
            })?;
        Ok(Outbox {
            frames,
            stream: std::sync::Arc::new(stream),
        })
    }

    /// Queues a message; false if it cannot be encoded or the peer's writer is gone.
    pub fn send<T: Serialize>(&self, message: &T) -> bool {
        match bincode::serde::encode_to_vec(message, bincode::config::standard()) {
            Ok(bytes) => self.frames.send(bytes).is_ok(),
            Err(e) => {
                tracing::error!("could not encode a control message: {e}");
                false
            }
        }
    }

    /// Closes the connection both ways (the peer sees the end of the stream).
    pub fn close(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
