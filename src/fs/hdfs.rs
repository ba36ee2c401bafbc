//! `hdfs://` through the `hdfs-native` client (pure Rust Hadoop RPC and DataTransferProtocol).
//!
//! The NameNode comes from the URI's authority (`host:port`, or an HA nameservice id that
//! `hdfs-site.xml` under `HADOOP_CONF_DIR` defines); the Hadoop user from `HADOOP_USER_NAME` or
//! the login user (both read by `hdfs-native`). Kerberos is not supported yet: a secure cluster
//! gives [`FsError::KerberosUnsupported`] instead of an obscure SASL failure.

use std::io::{self, Read, Seek, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hdfs_native::sync::{Client, ClientBuilder, FileReader, FileWriter};
use hdfs_native::{HdfsError, WriteOptions};

use super::{
    CreateOptions, FileStatus, FileSystem, FsConfig, FsError, FsPath, FsReader, FsResult, FsWriter,
    COPY_BUFFER_SIZE,
};

/// Hadoop's default NameNode RPC port, used when the authority has no port.
pub const DEFAULT_NAMENODE_PORT: u16 = 8020;

const SECURITY_AUTHENTICATION: &str = "hadoop.security.authentication";
const FAILOVER_MAX_ATTEMPTS: &str = "dfs.client.failover.max.attempts";

/// One HDFS namespace (one NameNode or one HA nameservice).
pub struct HdfsFileSystem {
    uri: FsPath,
    client: Client,
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
    /// An authority with a port is a single NameNode: it is probed with a TCP connect bounded
    /// by `config.connect_timeout`, so a NameNode that is not running is reported at once as
    /// [`FsError::Unreachable`] instead of after the client's failover retries.
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
        if let Some((host, port)) = authority.rsplit_once(':') {
            probe_namenode(&uri, host, port, config.connect_timeout)?;
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
        Ok(HdfsFileSystem { uri, client })
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

fn probe_namenode(uri: &FsPath, host: &str, port: &str, timeout: Duration) -> FsResult<()> {
    let unreachable = |source: io::Error| FsError::Unreachable {
        op: "connect",
        uri: uri.to_string(),
        address: format!("{host}:{port}"),
        timeout,
        source,
    };
    let port: u16 = port.parse().map_err(|_| FsError::InvalidUri {
        uri: uri.to_string(),
        reason: format!("the NameNode port '{port}' is not a number"),
    })?;
    let addrs = (host, port).to_socket_addrs().map_err(unreachable)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(unreachable(last))
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
        Ok(Box::new(HdfsWriter {
            inner: writer,
            buf: BytesMut::with_capacity(COPY_BUFFER_SIZE),
            uri: self.qualify(path),
        }))
    }

    fn open(&self, path: &FsPath) -> FsResult<Box<dyn FsReader>> {
        let reader = self
            .client
            .read(path.path())
            .map_err(|e| self.err("open", path, e))?;
        Ok(Box::new(HdfsReader(reader)))
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

struct HdfsReader(FileReader);

impl Read for HdfsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Seek for HdfsReader {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

impl FsReader for HdfsReader {
    fn len(&self) -> u64 {
        self.0.file_length() as u64
    }
}

/// Collects small writes into one owned buffer so that every hop into the client (a
/// `block_on` on its runtime) carries a full chunk, which the client then slices into packets
/// without copying.
struct HdfsWriter {
    inner: FileWriter,
    buf: BytesMut,
    uri: FsPath,
}

impl HdfsWriter {
    fn send(&mut self, chunk: Bytes) -> io::Result<()> {
        self.inner
            .write_bytes(chunk)
            .map(|_| ())
            .map_err(|e| map_error("write", self.uri.to_string(), e).into_io())
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, BytesMut::with_capacity(COPY_BUFFER_SIZE));
        self.send(full.freeze())
    }
}

impl Write for HdfsWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= COPY_BUFFER_SIZE {
            self.send_buffered()?;
        }
        Ok(data.len())
    }

    /// Hands buffered bytes to the client; durability comes with [`FsWriter::close`].
    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

impl FsWriter for HdfsWriter {
    fn close(mut self: Box<Self>) -> FsResult<()> {
        self.send_buffered()
            .map_err(|e| FsError::io("close", &self.uri, e))?;
        let uri = self.uri.to_string();
        self.inner.close().map_err(|e| map_error("close", uri, e))
    }

    fn write_chunk(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        self.send_buffered()?;
        self.send(Bytes::from(chunk))
    }
}
