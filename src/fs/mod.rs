//! File systems behind one trait: `file://` (and plain paths) and `hdfs://`.
//!
//! This module owns the [`FileSystem`] trait that checkpoints, sinks, sources and the YARN
//! staging code use for every path, the [`FsPath`] URI type, the local implementation
//! ([`local`]), the HDFS implementation on the `hdfs-native` client ([`hdfs`]) and a mini HDFS
//! (NameNode + DataNode speaking Hadoop's real protocols) for tests ([`mini_hdfs`]).
//!
//! Getting a file system for a URI:
//! - `<dyn FileSystem>::for_uri("hdfs://nn:8020/x")` uses a process-wide [`FileSystems`] whose
//!   default file system is `file:///` (or what [`FileSystems::init_global`] set) and whose
//!   Hadoop settings come from `HADOOP_CONF_DIR`;
//! - a [`FileSystems`] built from [`FsConfig`] (default FS URI such as Strato's
//!   `fs.default-scheme` or Hadoop's `fs.defaultFS`, Hadoop conf dir, extra Hadoop keys, user,
//!   connect timeout) resolves scheme-less paths against that default.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use strato::fs::{CreateOptions, FileSystems, FsConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let systems = FileSystems::new(FsConfig::with_default_fs("hdfs://namenode:8020"))?;
//! let (fs, path) = systems.resolve("/checkpoints/chk-1/_metadata")?; // hdfs://namenode:8020/...
//! let tmp = path.with_path(&format!("{}.inprogress", path.path()));
//! let mut out = fs.create(&tmp, &CreateOptions::overwrite())?;
//! out.write_all(b"state")?;
//! out.close()?; // durable and complete only now
//! fs.rename(&tmp, &path)?; // atomic commit
//! let mut text = String::new();
//! fs.open(&path)?.read_to_string(&mut text)?;
//! let status = fs.status(&path)?; // len, modification_time, permission, is_dir
//! # Ok(()) }
//! ```
//!
//! The trait is blocking because the engine's tasks are OS threads. Async code calls it
//! through [`run_blocking`] (a `spawn_blocking` wrapper): the HDFS implementation drives its own
//! runtime and must not be called from inside an async task directly.

mod error;
pub mod hdfs;
pub mod local;
pub mod mini_hdfs;
mod path;
mod registry;

use std::fmt::Debug;
use std::io::{self, Read, Seek, Write};

pub use error::FsError;
pub use path::FsPath;
pub use registry::{FileSystems, FsConfig};

/// Result of file system operations.
pub type FsResult<T> = Result<T, FsError>;

/// What a file system knows about one file or directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStatus {
    /// The fully qualified path (with scheme and authority).
    pub path: FsPath,
    /// Length in bytes; 0 for directories.
    pub len: u64,
    /// Last modification, in milliseconds since the Unix epoch (Hadoop's unit).
    pub modification_time: u64,
    /// Permission bits (`0o644`).
    pub permission: u32,
    /// True for a directory.
    pub is_dir: bool,
}

/// How [`FileSystem::create`] treats an existing file and missing parents.
#[derive(Clone, Debug)]
pub struct CreateOptions {
    /// Replace an existing file; otherwise creating over it fails with
    /// [`FsError::AlreadyExists`].
    pub overwrite: bool,
    /// Create missing parent directories (Hadoop's `createParent`).
    pub create_parent: bool,
    /// Block size for file systems that have blocks (HDFS); `None` takes the server default.
    pub block_size: Option<u64>,
    /// Replication for HDFS; `None` takes the server default.
    pub replication: Option<u32>,
    /// Permission bits of the new file.
    pub permission: u32,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            overwrite: false,
            create_parent: true,
            block_size: None,
            replication: None,
            permission: 0o644,
        }
    }
}

impl CreateOptions {
    /// Options that replace an existing file.
    pub fn overwrite() -> Self {
        CreateOptions {
            overwrite: true,
            ..Self::default()
        }
    }
}

/// A streaming reader: `Read + Seek` over one file, with its length.
pub trait FsReader: Read + Seek + Send {
    /// The file's length in bytes when it was opened.
    fn len(&self) -> u64;

    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A streaming writer for a new file. Data is only guaranteed to be durable and visible with
/// its full length after [`FsWriter::close`] returned `Ok`; dropping a writer without closing
/// it abandons the write (HDFS keeps the file under construction until the lease expires).
pub trait FsWriter: Write + Send {
    /// Flushes, persists and finalises the file (HDFS `complete`, local `fsync`).
    fn close(self: Box<Self>) -> FsResult<()>;

    /// Makes everything written so far durable and visible to new readers while the file
    /// stays open (HDFS `hsync`, local `fsync`): what a recoverable in-progress file needs at a
    /// checkpoint.
    fn sync(&mut self) -> FsResult<()>;

    /// Reads the next chunk (up to [`COPY_BUFFER_SIZE`] bytes) from `input` and writes it;
    /// returns its length, 0 at the end of `input`. Writers with buffers of their own (HDFS)
    /// read straight into them, saving a copy.
    fn write_from(&mut self, input: &mut dyn Read) -> io::Result<usize> {
        let mut chunk = Vec::with_capacity(COPY_BUFFER_SIZE);
        let n = input
            .take(COPY_BUFFER_SIZE as u64)
            .read_to_end(&mut chunk)?;
        self.write_all(&chunk)?;
        Ok(n)
    }
}

/// Where `to` leads from `pos` in a file of `len` bytes. Both file systems refuse positions
/// before the start and past the end, where a local file alone would allow the latter.
fn seek_target(uri: &FsPath, pos: u64, len: u64, to: io::SeekFrom) -> io::Result<u64> {
    let target = match to {
        io::SeekFrom::Start(p) => Some(p),
        io::SeekFrom::End(d) => len.checked_add_signed(d),
        io::SeekFrom::Current(d) => pos.checked_add_signed(d),
    };
    target.filter(|t| *t <= len).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{uri}: cannot seek to {to:?} in a file of {len} bytes"),
        )
    })
}

/// Progress callback of [`FileSystem::copy_from_local`]: `(bytes copied, total bytes)`.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// One file system (a local disk, one HDFS namespace). Paths passed in may be qualified or
/// plain; implementations use only [`FsPath::path`]. Object safe: use `Arc<dyn FileSystem>`.
pub trait FileSystem: Send + Sync + Debug {
    /// The URI of the root of this file system (`file:///`, `hdfs://nn:8020/`).
    fn uri(&self) -> FsPath;

    /// Status of one path; [`FsError::NotFound`] when it does not exist.
    fn status(&self, path: &FsPath) -> FsResult<FileStatus>;

    /// Statuses of a directory's entries, sorted by name. Listing a file gives that file.
    fn list(&self, path: &FsPath) -> FsResult<Vec<FileStatus>>;

    /// Creates a directory and its missing parents; succeeds if it exists already.
    fn mkdirs(&self, path: &FsPath) -> FsResult<()>;

    /// Opens a new file for streaming writes.
    fn create(&self, path: &FsPath, options: &CreateOptions) -> FsResult<Box<dyn FsWriter>>;

    /// Opens a file for streaming reads.
    fn open(&self, path: &FsPath) -> FsResult<Box<dyn FsReader>>;

    /// Renames a file or directory. Fails with [`FsError::AlreadyExists`] when `dst` exists.
    /// Atomic on HDFS and on local disks (it is a single `rename`).
    fn rename(&self, src: &FsPath, dst: &FsPath) -> FsResult<()>;

    /// Deletes a path. A non-empty directory needs `recursive`. Returns false when the path
    /// did not exist.
    fn delete(&self, path: &FsPath, recursive: bool) -> FsResult<bool>;

    /// True when the path exists.
    fn exists(&self, path: &FsPath) -> FsResult<bool> {
        match self.status(path) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads `len` bytes starting at `offset` (fewer at the end of the file).
    fn read_range(&self, path: &FsPath, offset: u64, len: usize) -> FsResult<Vec<u8>> {
        let mut reader = self.open(path)?;
        let io_err = |e| FsError::io("read", self.qualify(path), e);
        reader.seek(io::SeekFrom::Start(offset)).map_err(io_err)?;
        let mut buf = Vec::with_capacity(len);
        reader
            .take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|e| FsError::io("read", self.qualify(path), e))?;
        Ok(buf)
    }

    /// Copies a local file to `dst`, calling `progress` after every chunk.
    fn copy_from_local(
        &self,
        local: &std::path::Path,
        dst: &FsPath,
        options: &CreateOptions,
        progress: Progress<'_>,
    ) -> FsResult<u64> {
        copy_stream(self, local, dst, options, progress)
    }

    /// `path` with this file system's scheme and authority (for error messages and statuses).
    fn qualify(&self, path: &FsPath) -> FsPath {
        path.qualified(&self.uri())
    }
}

/// Chunk size of copies; large enough that HDFS packets fill up and syscalls stay few.
pub const COPY_BUFFER_SIZE: usize = 1 << 20;

fn copy_stream<F: FileSystem + ?Sized>(
    fs: &F,
    local: &std::path::Path,
    dst: &FsPath,
    options: &CreateOptions,
    progress: Progress<'_>,
) -> FsResult<u64> {
    let local_uri = format!("file://{}", local.display());
    let mut input =
        std::fs::File::open(local).map_err(|e| FsError::io("copy_from_local", &local_uri, e))?;
    let total = input
        .metadata()
        .map_err(|e| FsError::io("copy_from_local", &local_uri, e))?
        .len();
    let mut out = fs.create(dst, options)?;
    let mut copied = 0u64;
    progress(0, total);
    loop {
        let n = out.write_from(&mut input).map_err(|e| {
            let uris = format!("{local_uri} to {}", fs.qualify(dst));
            FsError::io("copy_from_local", uris, e)
        })?;
        if n == 0 {
            break;
        }
        copied += n as u64;
        progress(copied, total);
    }
    out.close()?;
    Ok(copied)
}

impl dyn FileSystem {
    /// The file system for a URI or plain path, from the process-wide [`FileSystems`]
    /// (default `file:///`, Hadoop settings from `HADOOP_CONF_DIR`). Returns the file system
    /// and the qualified path.
    pub fn for_uri(uri: &str) -> FsResult<(std::sync::Arc<dyn FileSystem>, FsPath)> {
        registry::global().resolve(uri)
    }
}

/// Runs blocking file system work from async code on tokio's blocking pool.
pub async fn run_blocking<T, F>(work: F) -> FsResult<T>
where
    F: FnOnce() -> FsResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FsError::Io {
            op: "run_blocking",
            uri: String::new(),
            source: io::Error::other(e),
        })?
}
