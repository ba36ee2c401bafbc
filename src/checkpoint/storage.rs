//! Checkpoint storage on any file system (`file://`, `hdfs://`), in Flink's layout:
//! `<state.checkpoints.dir>/<job-id>/chk-<n>/` for a checkpoint's own files and `_metadata`,
//! `shared/` for files several checkpoints share (incremental), `taskowned/` for state the
//! tasks own. The `_metadata` is written last, to a temporary name, then renamed: a checkpoint
//! directory without `_metadata` was never completed and is never restored from.

use std::io::{Read, Write};
use std::sync::Arc;

use super::metadata::{CheckpointMetadata, StateHandle};
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

/// The checkpoint directory of one job.
pub struct CheckpointStorage {
    fs: Arc<dyn FileSystem>,
    job_dir: FsPath,
}

impl CheckpointStorage {
    /// Storage under `<checkpoints_dir>/<job id>/`, creating `shared/` and `taskowned/`.
    pub fn for_job(checkpoints_dir: &str, job_id: JobId) -> Result<Self, CheckpointError> {
        let (fs, base) = <dyn FileSystem>::for_uri(checkpoints_dir).map_err(|source| {
            CheckpointError::Storage {
                operation: "use",
                path: checkpoints_dir.to_string(),
                source: Box::new(source),
            }
        })?;
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

    fn write(&self, path: &FsPath, bytes: &[u8]) -> Result<StateHandle, CheckpointError> {
        let mut writer = self
            .fs
            .create(path, &CreateOptions::overwrite())
            .map_err(storage_error("create", path))?;
        writer
            .write_all(bytes)
            .map_err(|e| CheckpointError::Storage {
                operation: "write",
                path: path.to_string(),
                source: Box::new(FsError::Io {
                    op: "write",
                    uri: path.to_string(),
                    source: e,
                }),
            })?;
        writer.close().map_err(storage_error("close", path))?;
        Ok(StateHandle {
            path: path.to_string(),
            size: bytes.len() as u64,
        })
    }

    /// Writes a state file that belongs to one checkpoint (`chk-<n>/<name>`).
    pub fn write_state(
        &self,
        checkpoint_id: u64,
        name: &str,
        bytes: &[u8],
    ) -> Result<StateHandle, CheckpointError> {
        self.write(&self.checkpoint_dir(checkpoint_id).child(name), bytes)
    }

    /// Writes a file later checkpoints may share (`shared/<name>`).
    pub fn write_shared(&self, name: &str, bytes: &[u8]) -> Result<StateHandle, CheckpointError> {
        self.write(&self.shared_dir().child(name), bytes)
    }

    /// Completes a checkpoint: writes `_metadata` under a temporary name, then renames it, so
    /// a crash in between leaves an incomplete (ignored) checkpoint, never a broken one.
    pub fn commit_metadata(
        &self,
        metadata: &CheckpointMetadata,
    ) -> Result<FsPath, CheckpointError> {
        let dir = self.checkpoint_dir(metadata.checkpoint_id);
        let target = dir.child(METADATA_FILE);
        let bytes = metadata
            .to_bytes()
            .map_err(|reason| CheckpointError::Encode {
                path: target.to_string(),
                reason,
            })?;
        let temporary = dir.child(&format!("{METADATA_FILE}.inprogress"));
        self.write(&temporary, &bytes)?;
        self.fs
            .rename(&temporary, &target)
            .map_err(storage_error("commit", &target))?;
        Ok(target)
    }

    /// Deletes a checkpoint's own directory (not the shared files it used).
    pub fn discard(&self, checkpoint_id: u64) -> Result<(), CheckpointError> {
        let dir = self.checkpoint_dir(checkpoint_id);
        self.fs
            .delete(&dir, true)
            .map_err(storage_error("delete", &dir))?;
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
            operators: vec![OperatorSnapshot {
                operator_id: "op".into(),
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
        assert_eq!(handle.size, 5);
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
