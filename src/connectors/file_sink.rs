//! Text and CSV file writers (Flink's `writeAsText` / `writeAsCsv`): at parallelism 1 the path
//! is the output file; above 1 it is a directory holding one file per subtask, named by the
//! 1-based subtask index (`1`, `2`, ...).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use serde::Serialize;

use super::format::{write_csv_row, write_flink_string};
use crate::api::functions::{RuntimeContext, SinkFunction};
use crate::fs::{CreateOptions, FileSystem, FsPath, FsWriter};

/// What to do when the output exists (Flink's `FileSystem.WriteMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail if the output exists.
    NoOverwrite,
    /// Replace the output.
    Overwrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Text,
    Csv,
}

pub struct FileSink {
    /// A plain path or a URI (`file://`, `hdfs://`).
    uri: String,
    mode: WriteMode,
    format: FileFormat,
    target: Option<FsPath>,
    /// Only the subtask's thread uses it (through `get_mut`, without locking); the mutex makes
    /// the unopened prototype shareable between threads.
    writer: Option<Mutex<BufWriter<Box<dyn FsWriter>>>>,
    line: String,
}

impl Clone for FileSink {
    /// A clone is an unopened sink for another subtask.
    fn clone(&self) -> Self {
        FileSink {
            uri: self.uri.clone(),
            mode: self.mode,
            format: self.format,
            target: None,
            writer: None,
            line: String::new(),
        }
    }
}

fn exists_error(path: &FsPath) -> anyhow::Error {
    anyhow::anyhow!(
        "File or directory '{path}' already exists. Existing files and directories are not overwritten in NO_OVERWRITE mode. Use OVERWRITE mode to overwrite existing files and directories."
    )
}

impl FileSink {
    pub fn new(path: &Path, mode: WriteMode, format: FileFormat) -> Self {
        FileSink {
            uri: path.to_string_lossy().into_owned(),
            mode,
            format,
            target: None,
            writer: None,
            line: String::new(),
        }
    }

    /// Prepares the output directory for a parallel sink, tolerating sibling subtasks doing
    /// the same at the same time.
    fn prepare_directory(
        &self,
        fs: &dyn FileSystem,
        dir: &FsPath,
        ctx: &RuntimeContext,
    ) -> anyhow::Result<()> {
        if let Ok(status) = fs.status(dir) {
            if !status.is_dir {
                if self.mode == WriteMode::NoOverwrite {
                    return Err(exists_error(dir));
                }
                fs.delete(dir, false).with_context(|| {
                    format!("could not replace the file '{dir}' by an output directory")
                })?;
            }
        }
        fs.mkdirs(dir)
            .with_context(|| format!("could not create the output directory '{dir}'"))?;
        // Overwrite: the first subtask removes files of an earlier run with more subtasks.
        if self.mode == WriteMode::Overwrite && ctx.index_of_this_subtask() == 0 {
            for entry in fs
                .list(dir)
                .with_context(|| format!("could not list '{dir}'"))?
            {
                let stale = entry
                    .path
                    .file_name()
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|i| i > ctx.number_of_parallel_subtasks());
                if stale {
                    fs.delete(&entry.path, true).with_context(|| {
                        format!("could not remove the stale output '{}'", entry.path)
                    })?;
                }
            }
        }
        Ok(())
    }

    fn target(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| self.uri.clone(), |t| t.to_string())
    }
}

impl<T: Serialize> SinkFunction<T> for FileSink {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        let (fs, path): (Arc<dyn FileSystem>, FsPath) = <dyn FileSystem>::for_uri(&self.uri)
            .with_context(|| format!("the output path '{}' cannot be used", self.uri))?;
        let target = if ctx.number_of_parallel_subtasks() > 1 {
            self.prepare_directory(fs.as_ref(), &path, ctx)?;
            path.child(&(ctx.index_of_this_subtask() + 1).to_string())
        } else {
            if let Ok(status) = fs.status(&path) {
                if status.is_dir {
                    if self.mode == WriteMode::NoOverwrite {
                        return Err(exists_error(&path));
                    }
                    fs.delete(&path, true).with_context(|| {
                        format!("could not replace the directory '{path}' by an output file")
                    })?;
                }
            }
            path
        };
        let options = CreateOptions {
            overwrite: self.mode == WriteMode::Overwrite,
            ..CreateOptions::default()
        };
        let writer = fs.create(&target, &options).map_err(|e| match e {
            crate::fs::FsError::AlreadyExists { .. } => exists_error(&target),
            other => anyhow::Error::new(other)
                .context(format!("could not create the output file '{target}'")),
        })?;
        self.writer = Some(Mutex::new(BufWriter::with_capacity(1 << 20, writer)));
        self.target = Some(target);
        Ok(())
    }

    fn invoke(&mut self, value: T) -> anyhow::Result<()> {
        self.invoke_batch(&mut vec![value])
    }

    fn invoke_batch(&mut self, batch: &mut Vec<T>) -> anyhow::Result<()> {
        for value in batch.drain(..) {
            match self.format {
                FileFormat::Text => write_flink_string(&value, &mut self.line),
                FileFormat::Csv => write_csv_row(&value, &mut self.line),
            }
            self.line.push('\n');
        }
        let target = self.target();
        let Some(writer) = self
            .writer
            .as_mut()
            .map(|w| w.get_mut().unwrap_or_else(|e| e.into_inner()))
        else {
            bail!("the file sink for '{}' was not opened", self.uri);
        };
        writer
            .write_all(self.line.as_bytes())
            .with_context(|| format!("could not write to '{target}'"))?;
        self.line.clear();
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        let target = self.target();
        if let Some(writer) = self.writer.take() {
            let writer = writer.into_inner().unwrap_or_else(|e| e.into_inner());
            // Flushed, synced and closed: only then is the file complete on every file system.
            let mut inner = writer
                .into_inner()
                .map_err(|e| anyhow::anyhow!("could not write to '{target}': {}", e.error()))?;
            inner
                .sync()
                .with_context(|| format!("could not sync '{target}'"))?;
            inner
                .close()
                .with_context(|| format!("could not close '{target}'"))?;
        }
        Ok(())
    }

    fn close(&mut self) -> anyhow::Result<()> {
        // After a failure nothing more is promised; just release the file.
        if let Some(writer) = self.writer.take() {
            if let Ok(inner) = writer
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .into_inner()
            {
                let _ = inner.close();
            }
        }
        Ok(())
    }
}
