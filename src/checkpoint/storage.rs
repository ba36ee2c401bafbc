//! Checkpoint storage on any file system (`file://`, `hdfs://`), in Flink's layout:
//! `<state.checkpoints.dir>/<job-id>/chk-<n>/` for a checkpoint's own files and `_metadata`,
//! `shared/` for files several checkpoints share (incremental), `taskowned/` for state the
//! tasks own. The `_metadata` is written last, to a temporary name, then renamed: a checkpoint
//! directory without `_metadata` was never completed and is never restored from.

use std::io::{Read, Write};
use std::sync::Arc;

use super::metadata::{CheckpointMetadata, StateHandle};
use crate::fs::FsWriter;
use crate::fs::{CreateOptions, FileSystem, FsError, FsPath};
use crate::util::ids::JobId;

/// The metadata file of a checkpoint or savepoint directory.
pub const METADATA_FILE: &str = "_metadata";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("could not {operation} checkpoint storage at '{path}': {source}")]
    Storage {
        operation: &'static str,
        path: String,
        source: Box<FsError>,
    },
    #[error(
        "no checkpoint metadata at '{path}': the checkpoint does not exist or was never completed"
    )]
    MissingMetadata { path: String },
    #[error("the checkpoint metadata '{path}' is corrupt: {reason}")]
    CorruptMetadata { path: String, reason: String },
    #[error("could not encode checkpoint metadata for '{path}': {reason}")]
    Encode { path: String, reason: String },
    #[error("the savepoint directory '{path}' already exists")]
    SavepointExists { path: String },
}

fn storage_error<'a>(
    operation: &'static str,
    path: &'a FsPath,
) -> impl FnOnce(FsError) -> CheckpointError + 'a {
    move |source| CheckpointError::Storage {
        operation,
        path: path.to_string(),
        source: Box::new(source),
    }
}

/// State smaller than this is inlined into `_metadata` instead of getting a file of its own
/// (Flink's `state.storage.fs.memory-threshold`, 20 KB).
pub const INLINE_THRESHOLD: usize = 20 * 1024;

/// The checkpoint directory of one job.
pub struct CheckpointStorage {
    fs: Arc<dyn FileSystem>,
    job_dir: FsPath,
}

impl CheckpointStorage {
    /// Storage under `<checkpoints_dir>/<job id>/`, creating `shared/` and `taskowned/`.
    pub fn for_job(checkpoints_dir: &str, job_id: JobId) -> Result<Self, CheckpointError> {
        let (fs, base) = resolve(checkpoints_dir)?;
        let storage = CheckpointStorage {
            fs,
            job_dir: base.child(&job_id.to_string()),
        };
        for dir in [storage.shared_dir(), storage.task_owned_dir()] {
            storage
                .fs
                .mkdirs(&dir)
                .map_err(storage_error("create", &dir))?;
        }
        Ok(storage)
    }

    pub fn job_dir(&self) -> &FsPath {
        &self.job_dir
    }
    pub fn checkpoint_dir(&self, checkpoint_id: u64) -> FsPath {
        self.job_dir.child(&format!("chk-{checkpoint_id}"))
    }
    pub fn shared_dir(&self) -> FsPath {
        self.job_dir.child("shared")
    }
    pub fn task_owned_dir(&self) -> FsPath {
        self.job_dir.child("taskowned")
    }

    /// Where the tasks write the state files of checkpoint `checkpoint_id`.
    pub fn checkpoint_location(&self, checkpoint_id: u64) -> SnapshotLocation {
        SnapshotLocation {
            fs: self.fs.clone(),
            dir: self.checkpoint_dir(checkpoint_id),
            shared: Some(self.shared_dir()),
            relative: false,
            inline_threshold: INLINE_THRESHOLD,
        }
    }

    /// Writes a state file that belongs to one checkpoint (`chk-<n>/<name>`).
    pub fn write_state(
        &self,
        checkpoint_id: u64,
        name: &str,
        bytes: &[u8],
    ) -> Result<StateHandle, CheckpointError> {
        write_file(
            &*self.fs,
            &self.checkpoint_dir(checkpoint_id).child(name),
            bytes,
        )
    }

    /// Writes a file later checkpoints may share (`shared/<name>`).
    pub fn write_shared(&self, name: &str, bytes: &[u8]) -> Result<StateHandle, CheckpointError> {
        write_file(&*self.fs, &self.shared_dir().child(name), bytes)
    }

    /// Completes a checkpoint: writes `_metadata` under a temporary name, then renames it, so
    /// a crash in between leaves an incomplete (ignored) checkpoint, never a broken one.
    pub fn commit_metadata(
        &self,
        metadata: &CheckpointMetadata,
    ) -> Result<FsPath, CheckpointError> {
        commit_metadata(
            &*self.fs,
            &self.checkpoint_dir(metadata.checkpoint_id),
            metadata,
        )
    }

    /// Deletes a checkpoint's own directory (not the shared files it used).
    pub fn discard(&self, checkpoint_id: u64) -> Result<(), CheckpointError> {
        let dir = self.checkpoint_dir(checkpoint_id);
        self.fs
            .delete(&dir, true)
            .map_err(storage_error("delete", &dir))?;
        Ok(())
    }

    /// Deletes the whole job directory (temporary checkpoint storage).
    pub fn delete_job_dir(&self) -> Result<(), CheckpointError> {
        self.fs
            .delete(&self.job_dir, true)
            .map_err(storage_error("delete", &self.job_dir))?;
        Ok(())
    }

    /// Deletes one shared file.
    pub fn discard_shared(&self, path: &str) -> Result<(), CheckpointError> {
        let path = FsPath::parse(path).map_err(|source| CheckpointError::Storage {
            operation: "delete",
            path: path.to_string(),
            source: Box::new(source),
        })?;
        self.fs
            .delete(&path, false)
            .map_err(storage_error("delete", &path))?;
        Ok(())
    }
}

fn resolve(uri: &str) -> Result<(Arc<dyn FileSystem>, FsPath), CheckpointError> {
    <dyn FileSystem>::for_uri(uri).map_err(|source| CheckpointError::Storage {
        operation: "use",
        path: uri.to_string(),
        source: Box::new(source),
    })
}

fn write_file(
    fs: &dyn FileSystem,
    path: &FsPath,
    bytes: &[u8],
) -> Result<StateHandle, CheckpointError> {
    let mut writer = fs
        .create(path, &CreateOptions::overwrite())
        .map_err(storage_error("create", path))?;
    writer
        .write_all(bytes)
        .map_err(|e| io_error("write", path, e))?;
    writer.close().map_err(storage_error("close", path))?;
    Ok(StateHandle::File {
        path: path.to_string(),
        size: bytes.len() as u64,
    })
}

fn io_error(operation: &'static str, path: &FsPath, e: std::io::Error) -> CheckpointError {
    CheckpointError::Storage {
        operation,
        path: path.to_string(),
        source: Box::new(FsError::Io {
            op: operation,
            uri: path.to_string(),
            source: e,
        }),
    }
}

fn commit_metadata(
    fs: &dyn FileSystem,
    dir: &FsPath,
    metadata: &CheckpointMetadata,
) -> Result<FsPath, CheckpointError> {
    let target = dir.child(METADATA_FILE);
    let bytes = metadata
        .to_bytes()
        .map_err(|reason| CheckpointError::Encode {
            path: target.to_string(),
            reason,
        })?;
    let temporary = dir.child(&format!("{METADATA_FILE}.inprogress"));
    write_file(fs, &temporary, &bytes)?;
    fs.rename(&temporary, &target)
        .map_err(storage_error("commit", &target))?;
    Ok(target)
}

/// A savepoint directory: `<state.savepoints.dir>/savepoint-<6 hex of the job id>-<12 hex>`.
/// Self-contained: every state file lives inside it and is referenced by a relative name, so
/// the directory can be moved or copied elsewhere and still be restored from.
pub struct SavepointStorage {
    fs: Arc<dyn FileSystem>,
    dir: FsPath,
}

impl SavepointStorage {
    /// Creates a new savepoint directory under `target_dir` for `job_id`.
    pub fn create(target_dir: &str, job_id: JobId) -> Result<Self, CheckpointError> {
        let (fs, base) = resolve(target_dir)?;
        let job_hex = job_id.to_string();
        let random: u64 = rand::random();
        let dir = base.child(&format!(
            "savepoint-{}-{:012x}",
            &job_hex[..6.min(job_hex.len())],
            random & 0xffff_ffff_ffff
        ));
        if fs.exists(&dir).map_err(storage_error("use", &dir))? {
            return Err(CheckpointError::SavepointExists {
                path: dir.to_string(),
            });
        }
        fs.mkdirs(&dir).map_err(storage_error("create", &dir))?;
        Ok(SavepointStorage { fs, dir })
    }

    /// The savepoint's directory (what `strato savepoint` prints and `-s` takes).
    pub fn dir(&self) -> &FsPath {
        &self.dir
    }

    pub fn location(&self) -> SnapshotLocation {
        SnapshotLocation {
            fs: self.fs.clone(),
            dir: self.dir.clone(),
            shared: None,
            relative: true,
            inline_threshold: INLINE_THRESHOLD,
        }
    }

    pub fn commit_metadata(
        &self,
        metadata: &CheckpointMetadata,
    ) -> Result<FsPath, CheckpointError> {
        commit_metadata(&*self.fs, &self.dir, metadata)
    }

    /// Removes an unfinished or unwanted savepoint.
    pub fn discard(&self) -> Result<(), CheckpointError> {
        self.fs
            .delete(&self.dir, true)
            .map_err(storage_error("delete", &self.dir))?;
        Ok(())
    }
}

/// The location the tasks write a savepoint's state to: the directory the coordinator created.
pub fn savepoint_location(dir: &str) -> Result<SnapshotLocation, CheckpointError> {
    let (fs, dir) = resolve(dir)?;
    Ok(SnapshotLocation {
        fs,
        dir,
        shared: None,
        relative: true,
        inline_threshold: INLINE_THRESHOLD,
    })
}

/// Deletes a savepoint (`strato savepoint -d <path>`), refusing a directory that is not one.
pub fn dispose_savepoint(location: &str) -> Result<(), CheckpointError> {
    read_metadata(location)?;
    let (fs, path) = resolve(location)?;
    let dir = if path.file_name() == Some(METADATA_FILE) {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    fs.delete(&dir, true)
        .map_err(storage_error("delete", &dir))?;
    Ok(())
}

/// Where one subtask writes the state files of one snapshot (a checkpoint's `chk-<n>/` and
/// `shared/`, or a savepoint directory). Cheap to clone and safe to use from the threads that
/// write snapshots asynchronously.
#[derive(Clone)]
pub struct SnapshotLocation {
    fs: Arc<dyn FileSystem>,
    dir: FsPath,
    shared: Option<FsPath>,
    relative: bool,
    inline_threshold: usize,
}

impl SnapshotLocation {
    /// A location writing into `dir` (tests and tools).
    pub fn in_directory(uri: &str) -> Result<Self, CheckpointError> {
        let (fs, dir) = resolve(uri)?;
        fs.mkdirs(&dir).map_err(storage_error("create", &dir))?;
        Ok(SnapshotLocation {
            fs,
            dir,
            shared: None,
            relative: false,
            inline_threshold: INLINE_THRESHOLD,
        })
    }

    /// True for savepoints: self-contained, nothing may be shared with other snapshots, and
    /// keyed state must be in the canonical format.
    pub fn is_savepoint(&self) -> bool {
        self.shared.is_none()
    }

    /// Writes state of this snapshot only; small state is inlined.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<StateHandle, CheckpointError> {
        if bytes.len() < self.inline_threshold {
            return Ok(StateHandle::Inline(bytes.to_vec()));
        }
        let path = self.dir.child(name);
        let handle = write_file(&*self.fs, &path, bytes)?;
        Ok(self.reference(handle, name))
    }

    /// A file of this snapshot, written as a stream (large state); finish with
    /// [`SnapshotOutput::close`].
    pub fn create(&self, name: &str) -> Result<SnapshotOutput, CheckpointError> {
        let path = self.dir.child(name);
        let writer = self
            .fs
            .create(&path, &CreateOptions::overwrite())
            .map_err(storage_error("create", &path))?;
        Ok(SnapshotOutput {
            writer,
            path,
            name: name.to_string(),
            written: 0,
            relative: self.relative,
        })
    }

    /// Uploads a local file other checkpoints may share (an SST file) as `shared/<name>`;
    /// in a savepoint, as a file of its own.
    pub fn upload(
        &self,
        name: &str,
        local: &std::path::Path,
    ) -> Result<StateHandle, CheckpointError> {
        let target = match &self.shared {
            Some(shared) => shared.child(name),
            None => self.dir.child(name),
        };
        let size = self
            .fs
            .copy_from_local(local, &target, &CreateOptions::overwrite(), &mut |_, _| {})
            .map_err(storage_error("upload to", &target))?;
        let handle = StateHandle::File {
            path: target.to_string(),
            size,
        };
        Ok(if self.shared.is_none() {
            self.reference(handle, name)
        } else {
            handle
        })
    }

    fn reference(&self, handle: StateHandle, name: &str) -> StateHandle {
        match handle {
            StateHandle::File { size, .. } if self.relative => StateHandle::File {
                path: name.to_string(),
                size,
            },
            other => other,
        }
    }
}

/// A state file being written by a snapshot.
pub struct SnapshotOutput {
    writer: Box<dyn FsWriter>,
    path: FsPath,
    name: String,
    written: u64,
    relative: bool,
}

impl SnapshotOutput {
    /// Bytes written so far (offsets of key groups in the canonical format).
    pub fn position(&self) -> u64 {
        self.written
    }

    /// Appends `bytes`; a failure names the file.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.write_all(bytes)
            .map_err(|e| io_error("write", &self.path, e))
    }

    /// Finishes the file and returns its handle.
    pub fn close(self) -> Result<StateHandle, CheckpointError> {
        let path = self.path;
        self.writer.close().map_err(storage_error("close", &path))?;
        Ok(StateHandle::File {
            path: if self.relative {
                self.name
            } else {
                path.to_string()
            },
            size: self.written,
        })
    }
}

impl Write for SnapshotOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.writer.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Reads the state files of one checkpoint or savepoint: relative names resolve against the
/// directory of its `_metadata`.
#[derive(Clone)]
pub struct StateReader {
    base: String,
}

impl StateReader {
    /// A reader for the snapshot whose `_metadata` lives in `metadata_dir`.
    pub fn new(metadata_dir: &str) -> Self {
        StateReader {
            base: metadata_dir.trim_end_matches('/').to_string(),
        }
    }

    fn locate(&self, path: &str) -> Result<(Arc<dyn FileSystem>, FsPath), CheckpointError> {
        if path.contains("://") || path.starts_with('/') {
            resolve(path)
        } else {
            resolve(&format!("{}/{path}", self.base))
        }
    }

    /// The whole content of a state handle.
    pub fn read(&self, handle: &StateHandle) -> Result<Vec<u8>, CheckpointError> {
        match handle {
            StateHandle::Inline(bytes) => Ok(bytes.clone()),
            StateHandle::File { path, size } => {
                self.read_range(handle, 0, *size as usize).map_err(|e| {
                    tracing::debug!("reading state file {path}: {e}");
                    e
                })
            }
        }
    }

    /// `len` bytes from `offset` of a state handle.
    pub fn read_range(
        &self,
        handle: &StateHandle,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, CheckpointError> {
        match handle {
            StateHandle::Inline(bytes) => {
                let start = (offset as usize).min(bytes.len());
                let end = start.saturating_add(len).min(bytes.len());
                Ok(bytes[start..end].to_vec())
            }
            StateHandle::File { path, .. } => {
                let (fs, file) = self.locate(path)?;
                fs.read_range(&file, offset, len)
                    .map_err(storage_error("read state from", &file))
            }
        }
    }

    /// Copies a state file to a local path (RocksDB restores its SST files this way).
    pub fn download(
        &self,
        handle: &StateHandle,
        local: &std::path::Path,
    ) -> Result<(), CheckpointError> {
        let bytes = self.read(handle)?;
        std::fs::write(local, bytes).map_err(|e| CheckpointError::Storage {
            operation: "write",
            path: local.display().to_string(),
            source: Box::new(FsError::Io {
                op: "write",
                uri: local.display().to_string(),
                source: e,
            }),
        })
    }
}

/// Reads the metadata of a checkpoint or savepoint, given its directory or `_metadata` file.
pub fn read_metadata(location: &str) -> Result<CheckpointMetadata, CheckpointError> {
    let (fs, path) =
        <dyn FileSystem>::for_uri(location).map_err(|source| CheckpointError::Storage {
            operation: "use",
            path: location.to_string(),
            source: Box::new(source),
        })?;
    let file = if path.file_name() == Some(METADATA_FILE) {
        path
    } else {
        path.child(METADATA_FILE)
    };
    let missing = || CheckpointError::MissingMetadata {
        path: file.to_string(),
    };
    let mut reader = match fs.open(&file) {
        Ok(reader) => reader,
        Err(FsError::NotFound { .. }) => return Err(missing()),
        Err(source) => {
            return Err(CheckpointError::Storage {
                operation: "read",
                path: file.to_string(),
                source: Box::new(source),
            })
        }
    };
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| CheckpointError::CorruptMetadata {
            path: file.to_string(),
            reason: e.to_string(),
        })?;
    CheckpointMetadata::from_bytes(&bytes).map_err(|reason| CheckpointError::CorruptMetadata {
        path: file.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metadata::{OperatorSnapshot, SubtaskSnapshot};

    fn metadata(id: u64) -> CheckpointMetadata {
        CheckpointMetadata {
            job_id: JobId(1),
            checkpoint_id: id,
            timestamp: 0,
            kind: crate::checkpoint::metadata::SnapshotKind::Checkpoint,
            operators: vec![OperatorSnapshot {
                operator_id: "op".into(),
                uid: None,
                name: "op".into(),
                parallelism: 1,
                max_parallelism: 128,
                subtasks: vec![SubtaskSnapshot::default()],
            }],
        }
    }

    #[test]
    fn checkpoints_use_flinks_layout_and_commit_metadata_last() {
        let dir = tempfile::tempdir().unwrap();
        let storage = CheckpointStorage::for_job(dir.path().to_str().unwrap(), JobId(1)).unwrap();
        let job = dir.path().join(JobId(1).to_string());
        assert!(job.join("shared").is_dir() && job.join("taskowned").is_dir());
        let handle = storage.write_state(5, "op-0-0", b"state").unwrap();
        assert_eq!(handle.size(), 5);
        // Written but not committed: not a checkpoint yet.
        let chk = job.join("chk-5");
        let err = read_metadata(chk.to_str().unwrap()).unwrap_err();
        assert!(
            matches!(err, CheckpointError::MissingMetadata { .. })
                && err.to_string().contains("chk-5/_metadata"),
            "{err}"
        );
        storage.commit_metadata(&metadata(5)).unwrap();
        assert!(!chk.join("_metadata.inprogress").exists());
        assert_eq!(read_metadata(chk.to_str().unwrap()).unwrap(), metadata(5));
        assert_eq!(
            read_metadata(chk.join("_metadata").to_str().unwrap()).unwrap(),
            metadata(5)
        );
        storage.discard(5).unwrap();
        assert!(!chk.exists());
    }

    #[test]
    fn corrupt_or_missing_metadata_is_a_clear_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let chk = dir.path().join("chk-1");
        std::fs::create_dir_all(&chk).unwrap();
        std::fs::write(chk.join("_metadata"), b"garbage that is not metadata").unwrap();
        let err = read_metadata(chk.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is corrupt") && err.contains("chk-1/_metadata"),
            "{err}"
        );
        let err = read_metadata(dir.path().join("no-such-checkpoint").to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no checkpoint metadata at") && err.contains("no-such-checkpoint"),
            "{err}"
        );
    }
}
