//! The local file system (`file://` and plain paths) on `std::fs`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::{
    CreateOptions, FileStatus, FileSystem, FsError, FsPath, FsReader, FsResult, FsWriter,
    COPY_BUFFER_SIZE,
};

/// The local disk. Stateless: one instance serves every `file://` path.
#[derive(Debug, Default, Clone)]
pub struct LocalFileSystem;

impl LocalFileSystem {
    /// The local file system.
    pub fn new() -> Self {
        LocalFileSystem
    }

    fn err(&self, op: &'static str, path: &FsPath, source: io::Error) -> FsError {
        FsError::io(op, self.qualify(path), source)
    }

    fn status_of(&self, path: &FsPath, meta: &fs::Metadata) -> FileStatus {
        let modification_time = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        FileStatus {
            path: self.qualify(path),
            len: if meta.is_dir() { 0 } else { meta.len() },
            modification_time,
            permission: meta.permissions().mode() & 0o7777,
            is_dir: meta.is_dir(),
        }
    }
}

fn local(path: &FsPath) -> &Path {
    Path::new(path.path())
}

impl FileSystem for LocalFileSystem {
    fn uri(&self) -> FsPath {
        FsPath::parse("file:///").unwrap_or_else(|_| unreachable!("static URI parses"))
    }

    fn status(&self, path: &FsPath) -> FsResult<FileStatus> {
        let meta = fs::metadata(local(path)).map_err(|e| self.err("status", path, e))?;
        Ok(self.status_of(path, &meta))
    }

    fn list(&self, path: &FsPath) -> FsResult<Vec<FileStatus>> {
        let status = self.status(path)?;
        if !status.is_dir {
            return Ok(vec![status]);
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(local(path)).map_err(|e| self.err("list", path, e))? {
            let entry = entry.map_err(|e| self.err("list", path, e))?;
            let child = path.child(&entry.file_name().to_string_lossy());
            match entry.metadata() {
                Ok(meta) => out.push(self.status_of(&child, &meta)),
                // Deleted between read_dir and metadata: not part of the listing any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err("list", &child, e)),
            }
        }
        out.sort_by(|a, b| a.path.path().cmp(b.path.path()));
        Ok(out)
    }

    fn mkdirs(&self, path: &FsPath) -> FsResult<()> {
        fs::create_dir_all(local(path)).map_err(|e| match fs::metadata(local(path)) {
            Ok(meta) if !meta.is_dir() => FsError::WrongType {
                op: "mkdirs",
                uri: self.qualify(path).to_string(),
                reason: "a file exists at this path",
            },
            _ => self.err("mkdirs", path, e),
        })
    }

    fn create(&self, path: &FsPath, options: &CreateOptions) -> FsResult<Box<dyn FsWriter>> {
        if let Ok(meta) = fs::metadata(local(path)) {
            if meta.is_dir() {
                return Err(FsError::WrongType {
                    op: "create",
                    uri: self.qualify(path).to_string(),
                    reason: "the path is a directory",
                });
            }
        }
        if let Some(parent) = path.parent() {
            if options.create_parent {
                self.mkdirs(&parent)?;
            } else if !local(&parent).is_dir() {
                return Err(FsError::NotFound {
                    op: "create",
                    uri: self.qualify(path).to_string(),
                    detail: format!("parent directory {} does not exist", self.qualify(&parent)),
                });
            }
        }
        let mut open = OpenOptions::new();
        open.write(true).mode(options.permission);
        if options.overwrite {
            open.create(true).truncate(true);
        } else {
            open.create_new(true);
        }
        let file = open
            .open(local(path))
            .map_err(|e| self.err("create", path, e))?;
        Ok(Box::new(LocalWriter {
            out: BufWriter::with_capacity(COPY_BUFFER_SIZE, file),
            uri: self.qualify(path),
        }))
    }

    fn open(&self, path: &FsPath) -> FsResult<Box<dyn FsReader>> {
        let file = File::open(local(path)).map_err(|e| self.err("open", path, e))?;
        let meta = file.metadata().map_err(|e| self.err("open", path, e))?;
        if meta.is_dir() {
            return Err(FsError::WrongType {
                op: "open",
                uri: self.qualify(path).to_string(),
                reason: "the path is a directory",
            });
        }
        Ok(Box::new(LocalReader {
            file,
            len: meta.len(),
            uri: self.qualify(path),
        }))
    }

    fn rename(&self, src: &FsPath, dst: &FsPath) -> FsResult<()> {
        fs::symlink_metadata(local(src)).map_err(|e| self.err("rename", src, e))?;
        let exists = || FsError::AlreadyExists {
            op: "rename",
            uri: self.qualify(dst).to_string(),
            detail: format!("cannot rename {} onto it", self.qualify(src)),
        };
        match rename_no_replace(local(src), local(dst)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists()),
            // The file system cannot refuse to replace atomically: check, then rename.
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                if fs::symlink_metadata(local(dst)).is_ok() {
                    return Err(exists());
                }
                fs::rename(local(src), local(dst)).map_err(|e| self.err("rename", dst, e))
            }
            Err(e) => Err(self.err("rename", dst, e)),
        }
    }

    fn delete(&self, path: &FsPath, recursive: bool) -> FsResult<bool> {
        let meta = match fs::symlink_metadata(local(path)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.err("delete", path, e)),
        };
        let result = if !meta.is_dir() {
            fs::remove_file(local(path))
        } else if recursive {
            fs::remove_dir_all(local(path))
        } else {
            fs::remove_dir(local(path))
        };
        result.map_err(|e| self.err("delete", path, e))?;
        Ok(true)
    }
}

/// `rename` that fails with `AlreadyExists` instead of replacing `dst`, atomically
/// (`renameat2(RENAME_NOREPLACE)`); `Unsupported` where the file system cannot do that.
#[cfg(target_os = "linux")]
fn rename_no_replace(src: &Path, dst: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
    };
    let (src, dst) = (c(src)?, c(dst)?);
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            src.as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => Err(io::ErrorKind::Unsupported.into()),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn rename_no_replace(_src: &Path, _dst: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

struct LocalReader {
    file: File,
    len: u64,
    uri: FsPath,
}

impl Read for LocalReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for LocalReader {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let pos = self.file.stream_position()?;
        let target = super::seek_target(&self.uri, pos, self.len, to)?;
        self.file.seek(io::SeekFrom::Start(target))
    }
}

impl FsReader for LocalReader {
    fn len(&self) -> u64 {
        self.len
    }
}

struct LocalWriter {
    out: BufWriter<File>,
    uri: FsPath,
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl FsWriter for LocalWriter {
    fn sync(&mut self) -> FsResult<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|e| FsError::io("sync", &self.uri, e))
    }

    fn close(mut self: Box<Self>) -> FsResult<()> {
        let uri = self.uri.clone();
        self.out
            .flush()
            .map_err(|e| FsError::io("close", &uri, e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| FsError::io("close", &uri, e))
    }
}
