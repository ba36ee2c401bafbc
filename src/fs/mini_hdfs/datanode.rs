//! The mini DataNode: DataTransferProtocol (version 28) `WRITE_BLOCK` with a pipeline of
//! packets carrying CRC32C (or CRC32) checksums per 512-byte chunk, and `READ_BLOCK` with the
//! stored checksums, on connections the client may reuse for several operations.
//!
//! Replicas live under `<dir>/data/current/<block pool>/current/` like a real DataNode's:
//! `rbw/blk_<id>` while being written, then `finalized/blk_<id>` plus `blk_<id>_<gs>.meta`
//! (a 7-byte header: version 1, checksum type, bytes per checksum; then one checksum per chunk).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use prost::Message;

use super::proto::*;

/// `DataTransferProtocol.DATA_TRANSFER_VERSION`.
const DATA_TRANSFER_VERSION: u16 = 28;
const OP_WRITE_BLOCK: u8 = 80;
const OP_READ_BLOCK: u8 = 81;
const HEARTBEAT_SEQNO: i64 = -1;
const CHECKSUM_SIZE: usize = 4;
/// Data per packet on reads, like `BlockSender`'s 64 KiB `io.file.buffer.size`-based packets.
const READ_PACKET_DATA: usize = 64 * 1024;
/// Packets bigger than this are a protocol error (`PacketReceiver.MAX_PACKET_SIZE`).
const MAX_PACKET_SIZE: usize = 16 * 1024 * 1024;
const META_VERSION: u16 = 1;
const META_HEADER_LEN: u64 = 7;
/// How much written data may wait in the page cache before the DataNode starts writing it back.
const SYNC_BEHIND_BYTES: u64 = 8 * 1024 * 1024;
/// Acks that may wait for the next send while the client keeps streaming.
const MAX_UNFLUSHED_ACKS: usize = 16;

const CRC32: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISO_HDLC);

/// The chunk checksum of `kind`: CRC32C (Hadoop's default, with the CPU's CRC32C instruction
/// where there is one) or CRC32.
fn checksum(kind: i32, data: &[u8]) -> u32 {
    if kind == CHECKSUM_CRC32 {
        CRC32.checksum(data)
    } else {
        crc32c::crc32c(data)
    }
}

#[derive(Clone, Copy, Debug)]
struct Replica {
    generation_stamp: u64,
    len: u64,
}

/// A replica still being written (RBW): readers may see the bytes acknowledged so far.
#[derive(Clone, Copy, Debug)]
struct BeingWritten {
    generation_stamp: u64,
    visible_len: u64,
    checksum: i32,
    bytes_per_checksum: u64,
}

/// Where a read finds a replica's bytes and checksums.
struct StoredReplica {
    data: PathBuf,
    /// The meta file positioned after its header; `None` while the replica is being written.
    meta: Option<File>,
    len: u64,
    checksum: i32,
    bytes_per_checksum: u64,
}

/// One DataNode with one DISK storage.
pub(crate) struct DataNode {
    uuid: String,
    storage_id: String,
    block_pool_id: String,
    current: PathBuf,
    addr: OnceLock<SocketAddr>,
    replicas: Mutex<HashMap<u64, Replica>>,
    being_written: Mutex<HashMap<u64, BeingWritten>>,
}

impl DataNode {
    /// Opens (or creates) the storage under `<dir>/data` and loads its finalized replicas.
    pub(crate) fn open(dir: &Path, block_pool_id: &str) -> io::Result<DataNode> {
        let current = dir
            .join("data")
            .join("current")
            .join(block_pool_id)
            .join("current");
        fs::create_dir_all(current.join("finalized"))?;
        fs::create_dir_all(current.join("rbw"))?;
        let id_file = dir.join("data").join("datanode-uuid");
        let uuid = match fs::read_to_string(&id_file) {
            Ok(uuid) => uuid.trim().to_string(),
            Err(_) => {
                let uuid = format!("{:032x}", rand::random::<u128>());
                fs::write(&id_file, &uuid)?;
                uuid
            }
        };
        let mut replicas = HashMap::new();
        for entry in fs::read_dir(current.join("finalized"))? {
            let name = entry?.file_name().to_string_lossy().to_string();
            let Some(rest) = name
                .strip_prefix("blk_")
                .and_then(|r| r.strip_suffix(".meta"))
            else {
                continue;
            };
            let Some((id, gs)) = rest.split_once('_') else {
                continue;
            };
            let (Ok(id), Ok(generation_stamp)) = (id.parse::<u64>(), gs.parse::<u64>()) else {
                continue;
            };
            if let Ok(meta) = fs::metadata(current.join("finalized").join(format!("blk_{id}"))) {
                replicas.insert(
                    id,
                    Replica {
                        generation_stamp,
                        len: meta.len(),
                    },
                );
            }
        }
        Ok(DataNode {
            storage_id: format!("DS-{uuid}"),
            uuid,
            block_pool_id: block_pool_id.to_string(),
            current,
            addr: OnceLock::new(),
            replicas: Mutex::new(replicas),
            being_written: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn set_addr(&self, addr: SocketAddr) {
        let _ = self.addr.set(addr);
    }

    pub(crate) fn storage_id(&self) -> String {
        self.storage_id.clone()
    }

    /// How the NameNode describes this DataNode in located blocks.
    pub(crate) fn info(&self) -> DatanodeInfoProto {
        let port = self.addr.get().map(|a| a.port()).unwrap_or(0);
        DatanodeInfoProto {
            id: DatanodeIdProto {
                ip_addr: "127.0.0.1".to_string(),
                host_name: "localhost".to_string(),
                datanode_uuid: self.uuid.clone(),
                xfer_port: u32::from(port),
                info_port: 0,
                ipc_port: 0,
            },
            capacity: None,
            dfs_used: None,
            remaining: None,
            last_update: None,
            location: Some("/default-rack".to_string()),
            admin_state: Some(0),
        }
    }

    /// The length of a finalized replica with this generation stamp, if there is one.
    pub(crate) fn finalized_length(&self, block_id: u64, generation_stamp: u64) -> Option<u64> {
        let replicas = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
        replicas
            .get(&block_id)
            .filter(|r| r.generation_stamp == generation_stamp)
            .map(|r| r.len)
    }

    /// Forgets replicas the NameNode no longer needs at once and deletes their files in the
    /// background, as a DataNode's async disk service does: unlinking a large file whose
    /// pages are still being written back can take a while.
    pub(crate) fn invalidate(&self, blocks: &[u64]) {
        let mut doomed = Vec::new();
        {
            let mut replicas = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
            let mut being_written = self.being_written.lock().unwrap_or_else(|p| p.into_inner());
            for id in blocks {
                being_written.remove(id);
                if let Some(replica) = replicas.remove(id) {
                    let (data, meta) = self.finalized_paths(*id, replica.generation_stamp);
                    doomed.extend([data, meta]);
                }
                doomed.push(self.current.join("rbw").join(format!("blk_{id}")));
            }
        }
        let deleter = std::thread::Builder::new()
            .name("mini-datanode-delete".to_string())
            .spawn(move || {
                for path in doomed {
                    let _ = fs::remove_file(path);
                }
            });
        if let Err(e) = deleter {
            tracing::warn!("mini DataNode: cannot start deleting invalidated replicas: {e}");
        }
    }

    /// The replica a read can use: finalized (with its meta file) or being written (up to
    /// what has been acknowledged), with matching block pool and generation stamp.
    fn stored(&self, block: &ExtendedBlockProto) -> Option<StoredReplica> {
        if block.pool_id != self.block_pool_id {
            return None;
        }
        let finalized = self
            .replicas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&block.block_id)
            .copied();
        if let Some(replica) = finalized.filter(|r| r.generation_stamp == block.generation_stamp) {
            let (data, meta_path) = self.finalized_paths(block.block_id, replica.generation_stamp);
            let mut meta = File::open(meta_path).ok()?;
            let mut header = [0u8; META_HEADER_LEN as usize];
            meta.read_exact(&mut header).ok()?;
            let bytes_per_checksum = u64::from(u32::from_be_bytes([
                header[3], header[4], header[5], header[6],
            ]));
            return (bytes_per_checksum > 0).then_some(StoredReplica {
                data,
                meta: Some(meta),
                len: replica.len,
                checksum: i32::from(header[2]),
                bytes_per_checksum,
            });
        }
        let being_written = self
            .being_written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&block.block_id)
            .copied()?;
        (being_written.generation_stamp == block.generation_stamp).then(|| StoredReplica {
            data: self
                .current
                .join("rbw")
                .join(format!("blk_{}", block.block_id)),
            meta: None,
            len: being_written.visible_len,
            checksum: being_written.checksum,
            bytes_per_checksum: being_written.bytes_per_checksum,
        })
    }

    /// Records how much of a replica being written readers may see (what has been acked).
    fn set_visible(
        &self,
        block: &ExtendedBlockProto,
        checksum: i32,
        bytes_per_checksum: u64,
        len: u64,
    ) {
        let mut being_written = self.being_written.lock().unwrap_or_else(|p| p.into_inner());
        being_written.insert(
            block.block_id,
            BeingWritten {
                generation_stamp: block.generation_stamp,
                visible_len: len,
                checksum,
                bytes_per_checksum,
            },
        );
    }

    fn finalized_paths(&self, id: u64, generation_stamp: u64) -> (PathBuf, PathBuf) {
        let dir = self.current.join("finalized");
        (
            dir.join(format!("blk_{id}")),
            dir.join(format!("blk_{id}_{generation_stamp}.meta")),
        )
    }

    fn block_name(&self, block: &ExtendedBlockProto) -> String {
        format!(
            "{}:blk_{}_{}",
            self.block_pool_id, block.block_id, block.generation_stamp
        )
    }

    /// Serves one connection: operations one after another until the client closes it.
    pub(crate) fn serve_connection(&self, stream: TcpStream) {
        let result = (|| -> io::Result<()> {
            // Small buffers: packet bodies (64 KiB) are read straight into the packet buffer
            // and small messages still take one syscall.
            let mut reader = BufReader::with_capacity(16 * 1024, stream.try_clone()?);
            let mut writer = BufWriter::with_capacity(16 * 1024, stream);
            loop {
                let mut version = [0u8; 2];
                match reader.read_exact(&mut version) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    other => other?,
                }
                let version = u16::from_be_bytes(version);
                let mut op = [0u8; 1];
                reader.read_exact(&mut op)?;
                if version != DATA_TRANSFER_VERSION {
                    let message = format!(
                        "Version Mismatch (Expected: {DATA_TRANSFER_VERSION}, Received: {version} )"
                    );
                    respond(&mut writer, STATUS_ERROR, None, &message)?;
                    return Ok(());
                }
                match op[0] {
                    OP_WRITE_BLOCK => self.write_block(&mut reader, &mut writer)?,
                    OP_READ_BLOCK => self.read_block(&mut reader, &mut writer)?,
                    other => {
                        let message = format!("Unsupported data transfer op {other}");
                        respond(&mut writer, STATUS_ERROR_UNSUPPORTED, None, &message)?;
                        return Ok(());
                    }
                }
            }
        })();
        if let Err(e) = result {
            tracing::debug!("DataNode connection ended: {e}");
        }
    }

    fn write_block(
        &self,
        reader: &mut BufReader<TcpStream>,
        writer: &mut impl Write,
    ) -> io::Result<()> {
        let op: OpWriteBlockProto = read_delimited(reader)?;
        let block = op.header.base_header.block.clone();
        let name = self.block_name(&block);
        if op.stage != STAGE_PIPELINE_SETUP_CREATE {
            let message = format!(
                "{name}: pipeline stage {} (append or recovery) is not supported by the mini DataNode",
                op.stage
            );
            return respond(writer, STATUS_ERROR_UNSUPPORTED, None, &message);
        }
        if !op.targets.is_empty() {
            let target = &op.targets[0].id;
            let link = format!("{}:{}", target.ip_addr, target.xfer_port);
            return respond_bad_link(writer, &link);
        }
        let kind = op.requested_checksum.r#type;
        let bytes_per_checksum = op.requested_checksum.bytes_per_checksum as usize;
        if !(kind == CHECKSUM_CRC32C || kind == CHECKSUM_CRC32) || bytes_per_checksum == 0 {
            let message = format!("{name}: unsupported checksum {:?}", op.requested_checksum);
            return respond(writer, STATUS_ERROR_INVALID, None, &message);
        }
        if block.pool_id != self.block_pool_id {
            let message = format!(
                "{name}: unknown block pool (this DataNode serves {})",
                self.block_pool_id
            );
            return respond(writer, STATUS_ERROR_INVALID, None, &message);
        }
        let rbw = self
            .current
            .join("rbw")
            .join(format!("blk_{}", block.block_id));
        // Packets are large enough to go to the file as they come, without another copy.
        let mut out = File::create(&rbw)?;
        self.set_visible(&block, kind, bytes_per_checksum as u64, 0);
        respond(writer, STATUS_SUCCESS, Some(String::new()), "")?;

        let mut chunks = ChunkSums::new(kind, bytes_per_checksum);
        let mut received: u64 = 0;
        let mut written_back: u64 = 0;
        let mut unflushed_acks = 0;
        let mut buf = Vec::new();
        loop {
            let packet = read_packet(reader, &mut buf)?;
            let header = packet.header;
            if header.seqno == HEARTBEAT_SEQNO {
                send_ack(writer, HEARTBEAT_SEQNO, STATUS_SUCCESS)?;
                continue;
            }
            let data = &buf[packet.data.clone()];
            let sums = &buf[packet.checksums.clone()];
            if header.offset_in_block != received as i64
                || sums.len() != data.len().div_ceil(bytes_per_checksum) * CHECKSUM_SIZE
            {
                send_ack(writer, header.seqno, STATUS_ERROR)?;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{name}: packet {} at offset {} does not follow the {received} bytes received",
                        header.seqno, header.offset_in_block
                    ),
                ));
            }
            let verified = data
                .chunks(bytes_per_checksum)
                .zip(sums.chunks(CHECKSUM_SIZE))
                .all(|(chunk, sum)| checksum(kind, chunk).to_be_bytes() == sum);
            if !verified {
                send_ack(writer, header.seqno, STATUS_ERROR_CHECKSUM)?;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{name}: checksum error in packet {} from the client",
                        header.seqno
                    ),
                ));
            }
            out.write_all(data)?;
            chunks.add(data, sums);
            received += data.len() as u64;
            if received - written_back >= SYNC_BEHIND_BYTES {
                start_writeback(&out, written_back, received - written_back);
                written_back = received;
            }
            let sync = header.sync_block.unwrap_or(false);
            if header.last_packet_in_block {
                if sync {
                    out.sync_all()?;
                }
                drop(out);
                self.finalize(&block, &rbw, received, &chunks.finish(), sync)?;
                send_ack(writer, header.seqno, STATUS_SUCCESS)?;
                return Ok(());
            }
            if sync {
                out.sync_data()?;
            }
            self.set_visible(&block, kind, bytes_per_checksum as u64, received);
            queue_ack(writer, header.seqno, STATUS_SUCCESS)?;
            unflushed_acks += 1;
            // Acks go out as soon as the client would otherwise wait for them; while its next
            // packets are already here they share one send.
            if sync || unflushed_acks >= MAX_UNFLUSHED_ACKS || !input_pending(reader) {
                writer.flush()?;
                unflushed_acks = 0;
            }
        }
    }

    /// Writes the meta file, moves the replica from `rbw` to `finalized` and reports it to the
    /// NameNode (the in-process stand-in for `blockReceivedAndDeleted`).
    fn finalize(
        &self,
        block: &ExtendedBlockProto,
        rbw: &Path,
        len: u64,
        meta: &[u8],
        sync: bool,
    ) -> io::Result<()> {
        let (data_path, meta_path) = self.finalized_paths(block.block_id, block.generation_stamp);
        let mut meta_file = File::create(&meta_path)?;
        meta_file.write_all(meta)?;
        if sync {
            meta_file.sync_all()?;
        }
        fs::rename(rbw, &data_path)?;
        let mut replicas = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
        replicas.insert(
            block.block_id,
            Replica {
                generation_stamp: block.generation_stamp,
                len,
            },
        );
        drop(replicas);
        let mut being_written = self.being_written.lock().unwrap_or_else(|p| p.into_inner());
        being_written.remove(&block.block_id);
        Ok(())
    }

    fn read_block(&self, reader: &mut impl Read, writer: &mut impl Write) -> io::Result<()> {
        let op: OpReadBlockProto = read_delimited(reader)?;
        let block = op.header.base_header.block.clone();
        let name = self.block_name(&block);
        let Some(stored) = self.stored(&block) else {
            return respond(
                writer,
                STATUS_ERROR,
                None,
                &format!("Replica not found for {name}"),
            );
        };
        let end = op.offset.saturating_add(op.len);
        if op.offset > stored.len || end > stored.len {
            let message = format!(
                "Offset {} and length {} don't match block {name} ( blockLen {} )",
                op.offset, op.len, stored.len
            );
            return respond(writer, STATUS_ERROR, None, &message);
        }
        let (kind, bytes_per_checksum) = (stored.checksum, stored.bytes_per_checksum);
        let send_checksums = op.send_checksums.unwrap_or(true);
        // Reads start at a chunk boundary so the client can verify whole chunks.
        let start = op.offset - op.offset % bytes_per_checksum;
        let stop = end
            .div_ceil(bytes_per_checksum)
            .saturating_mul(bytes_per_checksum)
            .min(stored.len);
        let info = ReadOpChecksumInfoProto {
            checksum: ChecksumProto {
                r#type: if send_checksums { kind } else { 0 },
                bytes_per_checksum: bytes_per_checksum as u32,
            },
            chunk_offset: start,
        };
        let response = BlockOpResponseProto {
            status: STATUS_SUCCESS,
            first_bad_link: None,
            read_op_checksum_info: Some(info),
            message: None,
        };
        writer.write_all(&response.encode_length_delimited_to_vec())?;

        let mut data_file = File::open(&stored.data)?;
        data_file.seek(SeekFrom::Start(start))?;
        let mut meta = stored.meta;
        if let Some(meta) = meta.as_mut() {
            meta.seek(SeekFrom::Start(
                META_HEADER_LEN + start / bytes_per_checksum * CHECKSUM_SIZE as u64,
            ))?;
        }
        let packet_data = READ_PACKET_DATA - READ_PACKET_DATA % bytes_per_checksum as usize;
        let mut data = vec![0u8; packet_data.max(bytes_per_checksum as usize)];
        let mut sums =
            vec![0u8; data.len() / bytes_per_checksum as usize * CHECKSUM_SIZE + CHECKSUM_SIZE];
        let mut offset = start;
        let mut seqno = 0i64;
        while offset < stop {
            let n = ((stop - offset) as usize).min(data.len());
            data_file.read_exact(&mut data[..n])?;
            let sum_len = if send_checksums {
                let len = n.div_ceil(bytes_per_checksum as usize) * CHECKSUM_SIZE;
                match meta.as_mut() {
                    Some(meta) => meta.read_exact(&mut sums[..len])?,
                    // A replica being written has no meta file yet: sum what is sent.
                    None => {
                        let chunks = data[..n].chunks(bytes_per_checksum as usize);
                        for (sum, chunk) in sums.chunks_mut(CHECKSUM_SIZE).zip(chunks) {
                            sum.copy_from_slice(&checksum(kind, chunk).to_be_bytes());
                        }
                    }
                }
                len
            } else {
                0
            };
            let header = PacketHeaderProto {
                offset_in_block: offset as i64,
                seqno,
                last_packet_in_block: false,
                data_len: n as i32,
                sync_block: Some(false),
            };
            write_packet(writer, &header, &sums[..sum_len], &data[..n])?;
            offset += n as u64;
            seqno += 1;
        }
        let last = PacketHeaderProto {
            offset_in_block: offset as i64,
            seqno,
            last_packet_in_block: true,
            data_len: 0,
            sync_block: Some(false),
        };
        write_packet(writer, &last, &[], &[])?;
        writer.flush()?;
        // The client confirms with CHECKSUM_OK (or SUCCESS) before reusing the connection.
        let _status: ClientReadStatusProto = read_delimited(reader)?;
        Ok(())
    }
}

/// Builds the replica's meta file: header, then one checksum per `bytes_per_checksum` chunk.
/// When packets end on chunk boundaries (the normal case) the client's verified checksums are
/// stored as they came; a chunk split across packets (after an hsync) is re-summed whole.
struct ChunkSums {
    kind: i32,
    bytes_per_checksum: usize,
    meta: Vec<u8>,
    partial: Vec<u8>,
}

impl ChunkSums {
    fn new(kind: i32, bytes_per_checksum: usize) -> Self {
        let mut meta = Vec::with_capacity(64 * 1024);
        meta.extend_from_slice(&META_VERSION.to_be_bytes());
        meta.push(kind as u8);
        meta.extend_from_slice(&(bytes_per_checksum as u32).to_be_bytes());
        ChunkSums {
            kind,
            bytes_per_checksum,
            meta,
            partial: Vec::new(),
        }
    }

    fn add(&mut self, data: &[u8], sums: &[u8]) {
        if self.partial.is_empty() && data.len().is_multiple_of(self.bytes_per_checksum) {
            self.meta.extend_from_slice(sums);
            return;
        }
        let mut data = data;
        if self.partial.is_empty() {
            let whole = data.len() - data.len() % self.bytes_per_checksum;
            self.meta
                .extend_from_slice(&sums[..whole / self.bytes_per_checksum * CHECKSUM_SIZE]);
            data = &data[whole..];
        }
        for byte_run in data.chunks(self.bytes_per_checksum) {
            let room = self.bytes_per_checksum - self.partial.len();
            let (fill, rest) = byte_run.split_at(room.min(byte_run.len()));
            self.partial.extend_from_slice(fill);
            if self.partial.len() == self.bytes_per_checksum {
                self.flush_partial();
            }
            self.partial.extend_from_slice(rest);
        }
    }

    fn flush_partial(&mut self) {
        let sum = checksum(self.kind, &self.partial);
        self.meta.extend_from_slice(&sum.to_be_bytes());
        self.partial.clear();
    }

    fn finish(mut self) -> Vec<u8> {
        if !self.partial.is_empty() {
            self.flush_partial();
        }
        self.meta
    }
}

struct Packet {
    header: PacketHeaderProto,
    checksums: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
}

/// Reads one packet (`u32` payload length including itself, `u16` header length, header,
/// checksums, data) into `buf`.
fn read_packet(reader: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Packet> {
    let mut lens = [0u8; 6];
    reader.read_exact(&mut lens)?;
    let payload_len = u32::from_be_bytes([lens[0], lens[1], lens[2], lens[3]]) as usize;
    let header_len = u16::from_be_bytes([lens[4], lens[5]]) as usize;
    if !(4..=MAX_PACKET_SIZE).contains(&payload_len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid packet payload length {payload_len}"),
        ));
    }
    let mut header = vec![0u8; header_len];
    reader.read_exact(&mut header)?;
    let header = PacketHeaderProto::decode(header.as_slice())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let body = payload_len - 4;
    let data_len = usize::try_from(header.data_len)
        .ok()
        .filter(|len| *len <= body)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "packet data length {} exceeds its payload {body}",
                    header.data_len
                ),
            )
        })?;
    buf.resize(body, 0);
    reader.read_exact(buf)?;
    Ok(Packet {
        header,
        checksums: 0..body - data_len,
        data: body - data_len..body,
    })
}

fn write_packet(
    writer: &mut impl Write,
    header: &PacketHeaderProto,
    sums: &[u8],
    data: &[u8],
) -> io::Result<()> {
    let header = header.encode_to_vec();
    writer.write_all(&((4 + sums.len() + data.len()) as u32).to_be_bytes())?;
    writer.write_all(&(header.len() as u16).to_be_bytes())?;
    writer.write_all(&header)?;
    writer.write_all(sums)?;
    writer.write_all(data)
}

fn read_delimited<M: Message + Default>(reader: &mut impl Read) -> io::Result<M> {
    let mut len: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte)?;
        len |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    if len as usize > MAX_PACKET_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes is too large"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    reader.read_exact(&mut buf)?;
    M::decode(buf.as_slice()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn respond(
    writer: &mut impl Write,
    status: i32,
    first_bad_link: Option<String>,
    message: &str,
) -> io::Result<()> {
    let response = BlockOpResponseProto {
        status,
        first_bad_link,
        read_op_checksum_info: None,
        message: (!message.is_empty()).then(|| message.to_string()),
    };
    writer.write_all(&response.encode_length_delimited_to_vec())?;
    writer.flush()
}

fn respond_bad_link(writer: &mut impl Write, link: &str) -> io::Result<()> {
    let message = format!("the mini HDFS has one DataNode and cannot forward to {link}");
    respond(writer, STATUS_ERROR, Some(link.to_string()), &message)
}

/// Sends a pipeline ack right away.
fn send_ack(writer: &mut impl Write, seqno: i64, status: i32) -> io::Result<()> {
    queue_ack(writer, seqno, status)?;
    writer.flush()
}

/// True when more of the client's data is already waiting to be read.
fn input_pending(reader: &BufReader<TcpStream>) -> bool {
    !reader.buffer().is_empty() || bytes_available(reader.get_ref()) > 0
}

#[cfg(unix)]
fn bytes_available(stream: &TcpStream) -> usize {
    use std::os::fd::AsRawFd;
    let mut available: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int, the size of the socket's receive queue.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut available) };
    if rc == 0 {
        available.max(0) as usize
    } else {
        0
    }
}

#[cfg(not(unix))]
fn bytes_available(_stream: &TcpStream) -> usize {
    0
}

/// Queues a pipeline ack in the writer's buffer.
fn queue_ack(writer: &mut impl Write, seqno: i64, status: i32) -> io::Result<()> {
    let ack = PipelineAckProto {
        seqno,
        reply: vec![status],
        downstream_ack_time_nanos: Some(0),
        // PipelineAck.combineHeader(ECN.DISABLED, status): the status in the low bits.
        flag: vec![status as u32],
    };
    writer.write_all(&ack.encode_length_delimited_to_vec())
}

/// Starts writing a range of the replica to disk without waiting, like Hadoop's
/// `dfs.datanode.sync.behind.writes`, so the fsync that finalizes the block finds little left.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads the descriptor and the range. Its failure is
    // harmless: the fsync on the last packet then does all the work.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}
