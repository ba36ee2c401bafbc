//! `hdfs://` through the `hdfs-native` client (pure Rust Hadoop RPC and DataTransferProtocol).
//!
//! The NameNode comes from the URI's authority (`host:port`, or an HA nameservice id that
//! `hdfs-site.xml` under `HADOOP_CONF_DIR` defines); the Hadoop user from `HADOOP_USER_NAME` or
//! the login user (both read by `hdfs-native`). Kerberos is not supported yet: a secure cluster
//! gives [`FsError::KerberosUnsupported`] instead of an obscure SASL failure.

use std::io::{self, Read, Seek, Write};
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hdfs_native::sync::{Client, ClientBuilder, FileReadStream, FileReader, FileWriter};
use hdfs_native::{HdfsError, WriteOptions};

use prost::Message;

use crate::hadoop::ipc::{frame, ConnectionConfig, RpcClient, RpcError};
use crate::hadoop::proto::RpcResponseHeaderProto;

use super::{
    CreateOptions, FileStatus, FileSystem, FsConfig, FsError, FsPath, FsReader, FsResult, FsWriter,
    COPY_BUFFER_SIZE,
};

/// Hadoop's default NameNode RPC port, used when the authority has no port.
pub const DEFAULT_NAMENODE_PORT: u16 = 8020;

const SECURITY_AUTHENTICATION: &str = "hadoop.security.authentication";
const FAILOVER_MAX_ATTEMPTS: &str = "dfs.client.failover.max.attempts";
const NAMESERVICES: &str = "dfs.nameservices";
const CLIENT_PROTOCOL: &str = "org.apache.hadoop.hdfs.protocol.ClientProtocol";

/// The user SIMPLE authentication names: configured, `HADOOP_USER_NAME`, or the login user.
fn hadoop_user(config: &FsConfig) -> String {
    config
        .hadoop_user
        .clone()
        .or_else(|| std::env::var("HADOOP_USER_NAME").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "strato".to_string())
}

/// One HDFS namespace (one NameNode or one HA nameservice).
pub struct HdfsFileSystem {
    uri: FsPath,
    client: OffRuntimeDrop<Client>,
    chunks: ChunkPool,
}

/// Holds a value that owns a tokio runtime (the blocking `hdfs-native` client) and, when it is
/// dropped inside an async context, where dropping a runtime panics, drops it on a thread of
/// its own instead.
struct OffRuntimeDrop<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> std::ops::Deref for OffRuntimeDrop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("only taken when dropped"))
    }
}

impl<T: Send + 'static> Drop for OffRuntimeDrop<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("hdfs-client-drop".to_string())
                    .spawn(move || drop(value));
            }
        }
    }
}

impl std::fmt::Debug for HdfsFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HdfsFileSystem")
            .field("uri", &self.uri.to_string())
            .finish()
    }
}

impl HdfsFileSystem {
    /// Connects to the NameNode (or HA nameservice) named by `authority`.
    ///
    /// A single NameNode (not an HA nameservice) is probed first with one RPC bounded by
    /// `config.connect_timeout` (see `probe_namenode`), so a NameNode that is not running is
    /// reported at once as [`FsError::Unreachable`] instead of after the client's retries.
    pub fn connect(authority: &str, config: &FsConfig) -> FsResult<Self> {
        let uri = FsPath::parse(&format!("hdfs://{authority}/"))?;
        if let Some(mode) = config.hadoop_config.get(SECURITY_AUTHENTICATION) {
            if mode != "simple" {
                return Err(FsError::KerberosUnsupported {
                    uri: uri.to_string(),
                    mode: mode.clone(),
                });
            }
        }
        let mut hadoop_config = config.hadoop_config.clone();
        if let Some(address) = single_namenode(authority, config) {
            probe_namenode(&uri, &address, &hadoop_user(config), config.connect_timeout)?;
            // A single NameNode has nobody to fail over to: retrying only delays the error.
            hadoop_config
                .entry(FAILOVER_MAX_ATTEMPTS.to_string())
                .or_insert_with(|| "1".to_string());
        }
        let mut builder = ClientBuilder::new()
            .with_url(uri.to_string())
            .with_config(hadoop_config);
        if let Some(dir) = &config.hadoop_conf_dir {
            builder = builder.with_config_dir(dir.display().to_string());
        }
        if let Some(user) = &config.hadoop_user {
            builder = builder.with_user(user.clone());
        }
        let client = builder
            .build()
            .map_err(|e| map_error("connect", uri.to_string(), e))?;
        Ok(HdfsFileSystem {
            uri,
            client: OffRuntimeDrop(Some(client)),
            chunks: ChunkPool::default(),
        })
    }

    fn err(&self, op: &'static str, path: &FsPath, e: HdfsError) -> FsError {
        map_error(op, self.qualify(path).to_string(), e)
    }

    fn status_from(&self, status: hdfs_native::client::FileStatus) -> FileStatus {
        FileStatus {
            path: self.uri.with_path(&status.path),
            len: status.length as u64,
            modification_time: status.modification_time,
            permission: u32::from(status.permission),
            is_dir: status.isdir,
        }
    }
}

/// The NameNode address when `authority` names one NameNode rather than an HA nameservice:
/// `host:port`, or a host without port (Hadoop's default port) that is not a nameservice in
/// `dfs.nameservices` and resolves in DNS (a nameservice id normally does not).
fn single_namenode(authority: &str, config: &FsConfig) -> Option<String> {
    if authority.contains(':') {
        return Some(authority.to_string());
    }
    let nameservices = config
        .hadoop_config
        .get(NAMESERVICES)
        .map(String::as_str)
        .unwrap_or("");
    if nameservices.split(',').any(|ns| ns.trim() == authority) {
        return None;
    }
    let address = format!("{authority}:{DEFAULT_NAMENODE_PORT}");
    address
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.next().is_some())
        .then_some(address)
}

/// Checks that a NameNode answers at `address` within `timeout`: a Hadoop RPC connection
/// with SIMPLE authentication and a `getServerDefaults` call. A NameNode that is down or
/// silent gives [`FsError::Unreachable`] at once (the client itself would retry for long), and
/// one that refuses SIMPLE authentication (a Kerberos cluster) [`FsError::KerberosUnsupported`]
/// (the client itself only sees the connection close).
fn probe_namenode(uri: &FsPath, address: &str, user: &str, timeout: Duration) -> FsResult<()> {
    let unreachable = |source: io::Error| FsError::Unreachable {
        op: "connect",
        uri: uri.to_string(),
        address: address.to_string(),
        timeout,
        source,
    };
    let addr = address
        .to_socket_addrs()
        .map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput => FsError::InvalidUri {
                uri: uri.to_string(),
                reason: format!("'{address}' is not host:port"),
            },
            _ => unreachable(e),
        })?
        .next()
        .ok_or_else(|| {
            unreachable(io::Error::new(
                io::ErrorKind::NotFound,
                "the host name has no address",
            ))
        })?;
    let mut rpc = ConnectionConfig::new(CLIENT_PROTOCOL, user);
    rpc.connect_timeout = timeout;
    rpc.rpc_timeout = Some(timeout);
    // A runtime on a thread of its own, so that callers inside an async runtime can connect.
    let answer = std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<Result<bytes::Bytes, RpcError>> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(async {
                    let answer = async {
                        let client = RpcClient::connect(addr, rpc).await?;
                        client.call_raw("getServerDefaults", &[]).await
                    };
                    match answer.await {
                        // A NameNode that refuses SIMPLE answers the preamble with a fatal
                        // error and hangs up, which can reach a client still sending its
                        // connection context as a closed connection: ask it again, preamble only.
                        Err(closed @ RpcError::Closed { .. }) => {
                            Err(refusal_of_simple_auth(addr, timeout)
                                .await
                                .unwrap_or(closed))
                        }
                        other => other,
                    }
                }))
            })
            .join()
    })
    .map_err(|_| unreachable(io::Error::other("the NameNode probe panicked")))?
    .map_err(&unreachable)?;
    match answer {
        Ok(_) => Ok(()),
        Err(RpcError::Remote { message, .. })
            if message.contains("authentication is not enabled") =>
        {
            Err(FsError::KerberosUnsupported {
                uri: uri.to_string(),
                mode: format!("kerberos (the NameNode says: {message})"),
            })
        }
        // Any other answer means a NameNode is there; the client reports its errors.
        Err(RpcError::Remote { .. }) => Ok(()),
        Err(e) => Err(unreachable(io::Error::other(e.to_string()))),
    }
}

/// Sends only the RPC preamble with SIMPLE authentication and returns the server's fatal
/// reply if it refuses SIMPLE (`SIMPLE authentication is not enabled.  Available:[...]`).
async fn refusal_of_simple_auth(addr: std::net::SocketAddr, timeout: Duration) -> Option<RpcError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut preamble = frame::RPC_MAGIC.to_vec();
        preamble.extend([frame::RPC_VERSION, 0, frame::AUTH_PROTOCOL_NONE]);
        stream.write_all(&preamble).await.ok()?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).min(1 << 20)];
        stream.read_exact(&mut body).await.ok()?;
        let header = RpcResponseHeaderProto::decode_length_delimited(body.as_slice()).ok()?;
        let message = header.error_msg.unwrap_or_default();
        message
            .contains("authentication is not enabled")
            .then(|| RpcError::Remote {
                addr: addr.to_string(),
                class_name: header.exception_class_name.unwrap_or_default(),
                message,
                error_detail: header.error_detail,
                fatal: true,
            })
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

/// Maps `hdfs-native` errors (including the NameNode's Java exception class names) to ours.
fn map_error(op: &'static str, uri: String, e: HdfsError) -> FsError {
    let detail = |m: &str| m.lines().next().unwrap_or("").to_string();
    match e {
        HdfsError::FileNotFound(m) => FsError::NotFound {
            op,
            uri,
            detail: detail(&m),
        },
        HdfsError::AlreadyExists(m) => FsError::AlreadyExists {
            op,
            uri,
            detail: detail(&m),
        },
        HdfsError::IOError(source) => FsError::io(op, uri, source),
        HdfsError::RPCError(class, m) | HdfsError::FatalRPCError(class, m) => {
            match class.rsplit('.').next().unwrap_or("") {
                "FileNotFoundException" => FsError::NotFound {
                    op,
                    uri,
                    detail: detail(&m),
                },
                "FileAlreadyExistsException" => FsError::AlreadyExists {
                    op,
                    uri,
                    detail: detail(&m),
                },
                "PathIsNotEmptyDirectoryException" => FsError::DirectoryNotEmpty {
                    op,
                    uri,
                    detail: detail(&m),
                },
                _ if m.contains("authentication is not enabled") => FsError::KerberosUnsupported {
                    uri,
                    mode: "kerberos".to_string(),
                },
                _ => FsError::Remote {
                    op,
                    uri,
                    message: format!("{class}: {}", detail(&m)),
                },
            }
        }
        HdfsError::OperationFailed(m) if m.contains("libgssapi") => FsError::KerberosUnsupported {
            uri,
            mode: "kerberos".to_string(),
        },
        HdfsError::SASLError(_) | HdfsError::NoSASLMechanism | HdfsError::GSSAPIError(..) => {
            FsError::KerberosUnsupported {
                uri,
                mode: "kerberos".to_string(),
            }
        }
        other => FsError::Remote {
            op,
            uri,
            message: other.to_string(),
        },
    }
}

impl FileSystem for HdfsFileSystem {
    fn uri(&self) -> FsPath {
        self.uri.clone()
    }

    fn status(&self, path: &FsPath) -> FsResult<FileStatus> {
        let status = self
            .client
            .get_file_info(path.path())
            .map_err(|e| self.err("status", path, e))?;
        let mut status = self.status_from(status);
        status.path = self.qualify(path);
        Ok(status)
    }

    fn list(&self, path: &FsPath) -> FsResult<Vec<FileStatus>> {
        let status = self.status(path)?;
        if !status.is_dir {
            return Ok(vec![status]);
        }
        let mut out: Vec<FileStatus> = self
            .client
            .list_status(path.path(), false)
            .map_err(|e| self.err("list", path, e))?
            .into_iter()
            .map(|s| self.status_from(s))
            .collect();
        out.sort_by(|a, b| a.path.path().cmp(b.path.path()));
        Ok(out)
    }

    fn mkdirs(&self, path: &FsPath) -> FsResult<()> {
        self.client
            .mkdirs(path.path(), 0o755, true)
            .map_err(|e| self.err("mkdirs", path, e))
    }

    fn create(&self, path: &FsPath, options: &CreateOptions) -> FsResult<Box<dyn FsWriter>> {
        let mut write_options = WriteOptions::default()
            .overwrite(options.overwrite)
            .create_parent(options.create_parent)
            .permission(options.permission);
        if let Some(block_size) = options.block_size {
            write_options = write_options.block_size(block_size);
        }
        if let Some(replication) = options.replication {
            write_options = write_options.replication(replication);
        }
        let writer = self
            .client
            .create(path.path(), write_options)
            .map_err(|e| self.err("create", path, e))?;
        Ok(Box::new(HdfsWriter::new(
            writer,
            self.chunks.clone(),
            self.qualify(path),
        )))
    }

    fn open(&self, path: &FsPath) -> FsResult<Box<dyn FsReader>> {
        let reader = self
            .client
            .read(path.path())
            .map_err(|e| self.err("open", path, e))?;
        Ok(Box::new(HdfsReader::new(reader, self.qualify(path))))
    }

    fn rename(&self, src: &FsPath, dst: &FsPath) -> FsResult<()> {
        self.client
            .rename(src.path(), dst.path(), false)
            .map_err(|e| self.err("rename", src, e))
    }

    fn delete(&self, path: &FsPath, recursive: bool) -> FsResult<bool> {
        self.client
            .delete(path.path(), recursive)
            .map_err(|e| self.err("delete", path, e))
    }
}

/// Reads sequentially through one streamed read from the current position to the end of the
/// file (one READ_BLOCK per block, packets as they come); the client's own `Read` starts a new
/// DataNode operation for every call, which small reads (a `BufReader`) would pay for dearly.
/// Seeking drops the stream; the next read starts a new one at the new position.
struct HdfsReader {
    file: FileReader,
    len: u64,
    pos: u64,
    stream: Option<FileReadStream>,
    packet: Bytes,
    uri: FsPath,
}

impl HdfsReader {
    fn new(file: FileReader, uri: FsPath) -> Self {
        HdfsReader {
            len: file.file_length() as u64,
            file,
            pos: 0,
            stream: None,
            packet: Bytes::new(),
            uri,
        }
    }
}

impl Read for HdfsReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        while self.packet.is_empty() {
            let (pos, len) = (self.pos as usize, (self.len - self.pos) as usize);
            let stream = self
                .stream
                .get_or_insert_with(|| self.file.read_range_stream(pos, len));
            match stream.next() {
                Some(Ok(packet)) => self.packet = packet,
                Some(Err(e)) => {
                    self.stream = None;
                    return Err(map_error("read", self.uri.to_string(), e).into_io());
                }
                None => {
                    self.stream = None;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{}: the file ended at {} of {} bytes",
                            self.uri, self.pos, self.len
                        ),
                    ));
                }
            }
        }
        let n = out.len().min(self.packet.len());
        out[..n].copy_from_slice(&self.packet.split_to(n));
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for HdfsReader {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = super::seek_target(&self.uri, self.pos, self.len, to)?;
        if target != self.pos {
            self.stream = None;
            self.packet = Bytes::new();
            self.pos = target;
        }
        Ok(target)
    }
}

impl FsReader for HdfsReader {
    fn len(&self) -> u64 {
        self.len
    }
}

/// Recycles the chunks handed to the client. A chunk comes back when the DataNode has
/// acknowledged all its packets, with its pages already mapped, so a long upload does not
/// fault in and zero fresh memory for every chunk.
#[derive(Clone, Default)]
struct ChunkPool(Arc<Mutex<Vec<Vec<u8>>>>);

/// Chunks kept for reuse: about the client's window of unacknowledged packets.
const POOLED_CHUNKS: usize = 16;

impl ChunkPool {
    fn take(&self) -> Vec<u8> {
        let pooled = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        pooled.unwrap_or_else(|| vec![0; COPY_BUFFER_SIZE])
    }

    /// The first `len` bytes of `chunk` as `Bytes` that return `chunk` here when dropped.
    fn bytes(&self, chunk: Vec<u8>, len: usize) -> Bytes {
        Bytes::from_owner(PooledChunk {
            chunk,
            len,
            pool: self.clone(),
        })
    }
}

struct PooledChunk {
    chunk: Vec<u8>,
    len: usize,
    pool: ChunkPool,
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.chunk[..self.len]
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        let chunk = std::mem::take(&mut self.chunk);
        let mut pooled = self.pool.0.lock().unwrap_or_else(|p| p.into_inner());
        if pooled.len() < POOLED_CHUNKS {
            pooled.push(chunk);
        }
    }
}

/// Collects writes into one chunk so that every hop into the client (a `block_on` on its
/// runtime) carries a full chunk, which the client slices into packets without copying.
struct HdfsWriter {
    inner: FileWriter,
    pool: ChunkPool,
    chunk: Vec<u8>,
    filled: usize,
    uri: FsPath,
}

impl HdfsWriter {
    fn new(inner: FileWriter, pool: ChunkPool, uri: FsPath) -> Self {
        HdfsWriter {
            inner,
            chunk: pool.take(),
            pool,
            filled: 0,
            uri,
        }
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, self.pool.take());
        let data = self.pool.bytes(chunk, std::mem::take(&mut self.filled));
        self.inner
            .write_bytes(data)
            .map(|_| ())
            .map_err(|e| map_error("write", self.uri.to_string(), e).into_io())
    }
}

impl Write for HdfsWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(self.chunk.len() - self.filled);
        self.chunk[self.filled..self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        if self.filled == self.chunk.len() {
            self.send_buffered()?;
        }
        Ok(n)
    }

    /// Hands buffered bytes to the client; durability comes with [`FsWriter::close`].
    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

impl FsWriter for HdfsWriter {
    fn sync(&mut self) -> FsResult<()> {
        self.send_buffered()
            .map_err(|e| FsError::io("sync", &self.uri, e))?;
        let uri = self.uri.to_string();
        self.inner.hsync().map_err(|e| map_error("sync", uri, e))
    }

    fn close(mut self: Box<Self>) -> FsResult<()> {
        self.send_buffered()
            .map_err(|e| FsError::io("close", &self.uri, e))?;
        let uri = self.uri.to_string();
        self.inner.close().map_err(|e| map_error("close", uri, e))
    }

    fn write_from(&mut self, input: &mut dyn Read) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let filled = self.filled;
            let n = match input.read(&mut self.chunk[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.filled += n;
            total += n;
            if n == 0 || self.filled == self.chunk.len() {
                self.send_buffered()?;
                return Ok(total);
            }
        }
    }
}
