//! Part files: their names, the in-progress file being written, the pending file waiting for
//! its checkpoint, and the commit (an atomic rename) that publishes it.
//!
//! Names follow Flink 1.x's `FileSink`: a committed part file is
//! `<prefix>-<uid>-<counter><suffix>` (`part-81fc4980-a6af-41c8-9937-9939408a734b-0`), where
//! `uid` is a random id of the writing subtask instance and `counter` counts the subtask's part
//! files; while being written or waiting for its checkpoint the file is hidden as
//! `.<committed name>.inprogress.<random uuid>` in the same bucket directory. Readers skip
//! names starting with `.` (Hadoop and Flink input formats do), so they see committed files
//! only.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::rolling::PartFileInfo;
use crate::fs::{CreateOptions, FileSystem, FsPath, FsWriter};

/// Prefix and suffix of part file names (Flink's `OutputFileConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFileConfig {
    pub part_prefix: String,
    pub part_suffix: String,
}

impl Default for OutputFileConfig {
    /// Flink's defaults: prefix `part`, no suffix.
    fn default() -> Self {
        OutputFileConfig {
            part_prefix: "part".into(),
            part_suffix: String::new(),
        }
    }
}

impl OutputFileConfig {
    pub fn builder() -> Self {
        Self::default()
    }
    pub fn with_part_prefix(mut self, prefix: &str) -> Self {
        self.part_prefix = prefix.to_string();
        self
    }
    pub fn with_part_suffix(mut self, suffix: &str) -> Self {
        self.part_suffix = suffix.to_string();
        self
    }
    pub fn build(self) -> Self {
        self
    }

    /// The committed name of part file `counter` of writer `uid`.
    pub fn part_name(&self, uid: &str, counter: u64) -> String {
        format!("{}-{uid}-{counter}{}", self.part_prefix, self.part_suffix)
    }

    /// The counter of a hidden in-progress file of writer `uid`, if `name` is one.
    pub fn in_progress_counter(&self, uid: &str, name: &str) -> Option<u64> {
        let (part, _) = name.strip_prefix('.')?.split_once(IN_PROGRESS)?;
        let rest = part.strip_prefix(&self.part_prefix)?.strip_prefix('-')?;
        let rest = rest.strip_prefix(uid)?.strip_prefix('-')?;
        rest.strip_suffix(self.part_suffix.as_str())?.parse().ok()
    }
}

/// Marks hidden files still being written or waiting for their checkpoint.
const IN_PROGRESS: &str = ".inprogress.";

/// The hidden name a part file has until it is committed.
pub fn in_progress_name(committed: &str) -> String {
    format!(".{committed}{IN_PROGRESS}{}", uuid::Uuid::new_v4())
}

/// A closed part file waiting for its checkpoint to complete: committing renames
/// `in_progress` to `committed`. Both are full URIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFile {
    pub in_progress: String,
    pub committed: String,
}

fn parse(uri: &str) -> anyhow::Result<FsPath> {
    FsPath::parse(uri).with_context(|| format!("the part file path '{uri}' is not valid"))
}

impl PendingFile {
    /// Publishes the file. Idempotent: a file already renamed by an earlier attempt (whose
    /// success never reached the checkpoint) counts as committed.
    pub fn commit(&self, fs: &dyn FileSystem) -> anyhow::Result<()> {
        let (src, dst) = (parse(&self.in_progress)?, parse(&self.committed)?);
        let renamed = match fs.rename(&src, &dst) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let src_exists = fs
            .exists(&src)
            .with_context(|| format!("could not check the pending part file '{src}'"))?;
        let dst_exists = fs
            .exists(&dst)
            .with_context(|| format!("could not check the part file '{dst}'"))?;
        match (src_exists, dst_exists) {
            (false, true) => Ok(()),
            (false, false) => anyhow::bail!(
                "the pending part file '{src}' is gone and was never committed to '{dst}'"
            ),
            _ => Err(anyhow::Error::new(renamed)
                .context(format!("could not commit the part file '{src}' to '{dst}'"))),
        }
    }

    /// Deletes the uncommitted file (aborting its transaction).
    pub fn discard(&self, fs: &dyn FileSystem) -> anyhow::Result<()> {
        let src = parse(&self.in_progress)?;
        fs.delete(&src, false)
            .with_context(|| format!("could not delete the aborted part file '{src}'"))?;
        Ok(())
    }
}

/// Bytes gathered before a write to the file system.
const WRITE_BUFFER: usize = 64 * 1024;

/// A part file being written.
pub struct InProgressPart {
    writer: Box<dyn FsWriter>,
    buffer: Vec<u8>,
    file: PendingFile,
    pub info: PartFileInfo,
}

impl InProgressPart {
    /// Creates the hidden in-progress file of part `committed` (a URI) in `fs`.
    pub fn create(
        fs: &Arc<dyn FileSystem>,
        committed: FsPath,
        bucket_id: &str,
        now: i64,
    ) -> anyhow::Result<Self> {
        let name = committed.file_name().unwrap_or_default().to_string();
        let parent = committed.parent().unwrap_or_else(|| committed.clone());
        let in_progress = parent.child(&in_progress_name(&name));
        let writer = fs
            .create(&in_progress, &CreateOptions::default())
            .with_context(|| format!("could not create the part file '{in_progress}'"))?;
        Ok(InProgressPart {
            writer,
            buffer: Vec::with_capacity(WRITE_BUFFER),
            file: PendingFile {
                in_progress: fs.qualify(&in_progress).to_string(),
                committed: fs.qualify(&committed).to_string(),
            },
            info: PartFileInfo {
                bucket_id: bucket_id.to_string(),
                creation_time: now,
                last_update_time: now,
                size: 0,
            },
        })
    }

    /// The buffer to encode the next record into; call [`InProgressPart::written`] after.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// Accounts for what was appended to the buffer since `before` bytes, at time `now`.
    pub fn written(&mut self, before: usize, now: i64) -> anyhow::Result<()> {
        self.info.size += (self.buffer.len() - before) as u64;
        self.info.last_update_time = now;
        if self.buffer.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.writer
            .write_all(&self.buffer)
            .with_context(|| format!("could not write to '{}'", self.file.in_progress))?;
        self.buffer.clear();
        Ok(())
    }

    /// Closes the file durably: it becomes pending.
    pub fn close_for_commit(mut self) -> anyhow::Result<PendingFile> {
        self.flush()?;
        let file = self.file;
        self.writer
            .close()
            .with_context(|| format!("could not close the part file '{}'", file.in_progress))?;
        Ok(file)
    }

    /// Drops the file without publishing it (abort).
    pub fn discard(self, fs: &dyn FileSystem) -> anyhow::Result<()> {
        if let Err(e) = self.writer.close() {
            tracing::debug!(
                "closing the aborted part file {}: {e}",
                self.file.in_progress
            );
        }
        self.file.discard(fs)
    }
}

/// Deletes the hidden in-progress files of writer `uid` with a counter of at least
/// `first_counter` anywhere under `base` (the output of a failed attempt after the restored
/// checkpoint). Returns how many were deleted.
pub fn clean_in_progress(
    fs: &dyn FileSystem,
    base: &FsPath,
    config: &OutputFileConfig,
    uid: &str,
    first_counter: u64,
) -> anyhow::Result<usize> {
    let mut deleted = 0;
    let mut dirs = vec![base.clone()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs.list(&dir) {
            Ok(entries) => entries,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("could not list the sink directory '{dir}'")))
            }
        };
        for entry in entries {
            if entry.is_dir {
                dirs.push(entry.path);
                continue;
            }
            let stale = entry
                .path
                .file_name()
                .and_then(|name| config.in_progress_counter(uid, name))
                .is_some_and(|counter| counter >= first_counter);
            if stale {
                fs.delete(&entry.path, false).with_context(|| {
                    format!("could not delete the stale part file '{}'", entry.path)
                })?;
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_follow_flinks_file_sink_and_in_progress_files_are_hidden() {
        let config = OutputFileConfig::builder()
            .with_part_prefix("prefix")
            .with_part_suffix(".ext")
            .build();
        let name = config.part_name("4005733d", 7);
        assert_eq!(name, "prefix-4005733d-7.ext");
        let hidden = in_progress_name(&name);
        assert!(
            hidden.starts_with(".prefix-4005733d-7.ext.inprogress."),
            "{hidden}"
        );
        assert_eq!(config.in_progress_counter("4005733d", &hidden), Some(7));
        assert_eq!(config.in_progress_counter("other", &hidden), None);
        assert_eq!(config.in_progress_counter("4005733d", &name), None);
        assert_eq!(OutputFileConfig::default().part_name("u", 0), "part-u-0");
    }
}
