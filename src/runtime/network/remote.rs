//! Channels between tasks in different processes: a TCP bridge in front of the in-process
//! channels of each side, with credit-based flow control.
//!
//! The producer's worker connects to the consumer's worker (one connection per channel) and
//! sends the channel id, then the channel's events in order, one frame each (4-byte big-endian
//! length, a tag byte, the payload; record buffers go as they are, no re-encoding). On each side
//! the task itself only sees its usual in-process queue ([`LocalChannels`]): on the producer side
//! a bridge thread drains the queue the task writes into; on the consumer side a bridge thread
//! fills the queue the task reads.
//!
//! Flow control (Flink's credit-based scheme): the consumer grants [`CHANNEL_CAPACITY`] credits
//! when the channel opens and one more each time a buffer has moved into the task's bounded
//! queue. The producer sends a buffer only against a credit, so a slow consumer stops its
//! producers and each channel holds at most `2 * CHANNEL_CAPACITY` buffers in flight, whatever
//! the speeds. Watermarks and end-of-partition (and checkpoint barriers later) take the same
//! path, so order per channel is kept.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::local::LocalChannels;
use super::{ChannelId, NetworkEvent, CHANNEL_CAPACITY};
use crate::cluster::rpc::{read_frame, receive, send};

const RECORDS: u8 = 0;
const WATERMARK: u8 = 1;
const WATERMARK_STATUS: u8 = 2;
const END_OF_PARTITION: u8 = 3;
const BARRIER: u8 = 4;
const CANCEL_CHECKPOINT: u8 = 5;
const END_OF_DATA: u8 = 6;

/// How long a producer keeps trying to reach a consumer's worker that is still starting.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// Writes one event as a frame.
pub fn write_event(w: &mut impl Write, event: &NetworkEvent) -> io::Result<()> {
    let mut small = [0u8; 9];
    let encoded;
    let (tag, payload): (u8, &[u8]) = match event {
        NetworkEvent::Barrier(barrier) => {
            encoded = bincode::serde::encode_to_vec(barrier, bincode::config::standard())
                .map_err(|e| io::Error::other(format!("could not encode a barrier: {e}")))?;
            (BARRIER, &encoded)
        }
        NetworkEvent::CancelCheckpoint(id) => {
            small[..8].copy_from_slice(&id.to_be_bytes());
            (CANCEL_CHECKPOINT, &small[..8])
        }
        NetworkEvent::Records(bytes) => (RECORDS, bytes),
        NetworkEvent::Watermark(wm) => {
            small[..8].copy_from_slice(&wm.to_be_bytes());
            (WATERMARK, &small[..8])
        }
        NetworkEvent::WatermarkStatus { idle } => {
            small[0] = u8::from(*idle);
            (WATERMARK_STATUS, &small[..1])
        }
        NetworkEvent::EndOfData => (END_OF_DATA, &[]),
        NetworkEvent::EndOfPartition => (END_OF_PARTITION, &[]),
    };
    let len = u32::try_from(payload.len() + 1)
        .map_err(|_| io::Error::other("record buffer larger than 4 GB"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&[tag])?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads one event; `None` when the connection closed.
pub fn read_event(r: &mut impl Read) -> io::Result<Option<NetworkEvent>> {
    let Some(mut frame) = read_frame(r)? else {
        return Ok(None);
    };
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let tag = *frame.first().ok_or_else(|| bad("empty data frame"))?;
    Ok(Some(match tag {
        RECORDS => {
            frame.drain(..1);
            NetworkEvent::Records(frame)
        }
        WATERMARK => {
            let bytes: [u8; 8] = frame[1..]
                .try_into()
                .map_err(|_| bad("watermark frame of the wrong size"))?;
            NetworkEvent::Watermark(i64::from_be_bytes(bytes))
        }
        WATERMARK_STATUS => NetworkEvent::WatermarkStatus {
            idle: frame.get(1).copied().unwrap_or(0) != 0,
        },
        END_OF_DATA => NetworkEvent::EndOfData,
        END_OF_PARTITION => NetworkEvent::EndOfPartition,
        BARRIER => {
            let (barrier, _) =
                bincode::serde::decode_from_slice(&frame[1..], bincode::config::standard())
                    .map_err(|e| bad(&format!("undecodable barrier frame: {e}")))?;
            NetworkEvent::Barrier(barrier)
        }
        CANCEL_CHECKPOINT => {
            let bytes: [u8; 8] = frame[1..]
                .try_into()
                .map_err(|_| bad("cancel-checkpoint frame of the wrong size"))?;
            NetworkEvent::CancelCheckpoint(u64::from_be_bytes(bytes))
        }
        other => return Err(bad(&format!("unknown data frame tag {other}"))),
    }))
}

/// Accepts data connections for the channels whose consumers run in this process.
pub struct DataServer {
    address: SocketAddr,
}

impl DataServer {
    /// Binds `host:0` and serves connections on background threads for the life of the process.
    pub fn start(host: &str, channels: Arc<LocalChannels>) -> io::Result<DataServer> {
        let listener = TcpListener::bind((host, 0))?;
        let address = listener.local_addr()?;
        std::thread::Builder::new()
            .name("data-server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let channels = channels.clone();
                    let spawned =
                        std::thread::Builder::new()
                            .name("data-in".into())
                            .spawn(move || {
                                if let Err(e) = serve_channel(stream, &channels) {
                                    tracing::warn!("incoming data channel failed: {e}");
                                }
                            });
                    if let Err(e) = spawned {
                        tracing::error!("could not start a data channel thread: {e}");
                    }
                }
            })?;
        Ok(DataServer { address })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// Consumer side of one channel: events from the socket into the task's queue, credits back.
fn serve_channel(stream: TcpStream, channels: &LocalChannels) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut credits_out = BufWriter::new(stream.try_clone()?);
    let mut input = BufReader::with_capacity(64 * 1024, stream);
    let id: ChannelId = receive(&mut input)?
        .ok_or_else(|| io::Error::other("data connection closed before naming its channel"))?;
    let queue: Sender<NetworkEvent> = channels
        .take_sender(id)
        .ok_or_else(|| io::Error::other(format!("channel {id:?} is already connected")))?;
    send_credit(&mut credits_out, CHANNEL_CAPACITY as u32)?;
    loop {
        let event = read_event(&mut input)?.ok_or_else(|| {
            io::Error::other(format!(
                "producer of channel {id:?} disconnected before the end of its partition"
            ))
        })?;
        let end = event == NetworkEvent::EndOfPartition;
        if queue.send(event).is_err() {
            // The consuming task is gone (cancelled or failed); the producer learns by EOF.
            return Ok(());
        }
        if end {
            return Ok(());
        }
        send_credit(&mut credits_out, 1)?;
    }
}

fn send_credit(w: &mut impl Write, credits: u32) -> io::Result<()> {
    w.write_all(&credits.to_be_bytes())?;
    w.flush()
}

fn read_credit(r: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    r.read_exact(&mut bytes)?;
    Ok(u32::from_be_bytes(bytes))
}

/// Producer side of one channel: starts a thread that forwards what the task writes into
/// `queue` to the consumer's worker at `address`, sending only against credits. The thread
/// ends after end-of-partition, or when either side goes away.
pub fn connect_channel(
    address: String,
    id: ChannelId,
    queue: Receiver<NetworkEvent>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!(
            "data-out {}/{}->{}",
            id.edge, id.producer, id.consumer
        ))
        .spawn(move || {
            if let Err(e) = forward_channel(&address, id, &queue) {
                tracing::warn!("outgoing data channel {id:?} to {address} failed: {e}");
            }
        })
}

fn connect_with_patience(address: &str) -> io::Result<TcpStream> {
    let started = Instant::now();
    loop {
        match TcpStream::connect(address) {
            Ok(stream) => return Ok(stream),
            Err(e) if started.elapsed() > CONNECT_PATIENCE => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("could not connect to {address}: {e}"),
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn forward_channel(address: &str, id: ChannelId, queue: &Receiver<NetworkEvent>) -> io::Result<()> {
    let stream = connect_with_patience(address)?;
    stream.set_nodelay(true)?;
    let mut credits_in = BufReader::new(stream.try_clone()?);
    let mut output = BufWriter::with_capacity(64 * 1024, stream);
    send(&mut output, &id)?;
    let mut credits = 0u32;
    // The producing task dropping its end (finished or cancelled) ends the loop.
    while let Ok(event) = queue.recv() {
        while credits == 0 {
            credits = read_credit(&mut credits_in)?;
        }
        write_event(&mut output, &event)?;
        credits -= 1;
        if event == NetworkEvent::EndOfPartition {
            break;
        }
    }
    // Closing with unread credits in our receive buffer would reset the connection and could
    // discard the last frames at the consumer: half-close, then read until the consumer closes.
    output.flush()?;
    output.get_ref().shutdown(std::net::Shutdown::Write)?;
    io::copy(&mut credits_in, &mut io::sink())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_survives_the_wire_in_order() {
        let events = vec![
            NetworkEvent::Records(vec![1, 2, 3]),
            NetworkEvent::Watermark(-5),
            NetworkEvent::WatermarkStatus { idle: true },
            NetworkEvent::Records(vec![]),
            NetworkEvent::EndOfData,
            NetworkEvent::EndOfPartition,
        ];
        let mut wire = Vec::new();
        for e in &events {
            write_event(&mut wire, e).unwrap();
        }
        let mut r = wire.as_slice();
        let mut back = Vec::new();
        while let Some(e) = read_event(&mut r).unwrap() {
            back.push(e);
        }
        assert_eq!(back, events);
    }

    #[test]
    fn a_slow_consumer_holds_back_its_producer_with_bounded_buffers() {
        let consumer_side = Arc::new(LocalChannels::default());
        let server = DataServer::start("127.0.0.1", consumer_side.clone()).unwrap();
        let id = ChannelId {
            edge: 0,
            producer: 0,
            consumer: 0,
        };
        let (task_out, bridge_in) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let bridge = connect_channel(server.address().to_string(), id, bridge_in).unwrap();
        let producer = std::thread::spawn(move || {
            let mut sent = 0;
            for i in 0..100u8 {
                if task_out
                    .send_timeout(
                        NetworkEvent::Records(vec![i; 1024]),
                        Duration::from_millis(300),
                    )
                    .is_err()
                {
                    return sent;
                }
                sent += 1;
            }
            let _ = task_out.send(NetworkEvent::EndOfPartition);
            sent
        });
        // Nobody reads: the producer gets at most its own queue, the credits and the
        // consumer's queue ahead before it blocks.
        let sent = producer.join().unwrap();
        assert!(
            sent <= 3 * CHANNEL_CAPACITY + 1,
            "producer ran ahead by {sent} buffers"
        );
        assert!(sent >= CHANNEL_CAPACITY, "nothing flowed: {sent}");
        // Reading drains everything that was sent, in order.
        let consumer = consumer_side.take_receiver(id).unwrap();
        for i in 0..sent {
            match consumer
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("buffer {i} of {sent}: {e}"))
            {
                NetworkEvent::Records(b) => assert_eq!(b[0] as usize, i),
                other => panic!("unexpected {other:?}"),
            }
        }
        drop(consumer);
        drop(bridge);
    }
}
