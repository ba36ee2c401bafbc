//! Text and CSV file writers (Flink's `writeAsText` / `writeAsCsv`): at parallelism 1 the path
//! is the output file; above 1 it is a directory holding one file per subtask, named by the
//! 1-based subtask index (`1`, `2`, ...).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Serialize;

use super::format::{write_csv_row, write_flink_string};
use crate::api::functions::{RuntimeContext, SinkFunction};

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
    path: PathBuf,
    mode: WriteMode,
    format: FileFormat,
    target: PathBuf,
    writer: Option<BufWriter<File>>,
    line: String,
}

impl Clone for FileSink {
    /// A clone is an unopened sink for another subtask.
    fn clone(&self) -> Self {
        FileSink::new(&self.path, self.mode, self.format)
    }
}

impl FileSink {
    pub fn new(path: &Path, mode: WriteMode, format: FileFormat) -> Self {
        FileSink {
            path: path.to_path_buf(),
            mode,
            format,
            target: PathBuf::new(),
            writer: None,
            line: String::new(),
        }
    }

    fn exists_error(&self, path: &Path) -> anyhow::Error {
        anyhow::anyhow!(
            "File or directory '{}' already exists. Existing files and directories are not overwritten in NO_OVERWRITE mode. Use OVERWRITE mode to overwrite existing files and directories.",
            path.display()
        )
    }

    /// Prepares the output directory for a parallel sink, tolerating sibling subtasks doing
    /// the same at the same time.
    fn prepare_directory(&self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        if self.path.is_file() {
            if self.mode == WriteMode::NoOverwrite {
                return Err(self.exists_error(&self.path));
            }
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| {
                        format!(
                            "could not replace the file '{}' by an output directory",
                            self.path.display()
                        )
                    })
                }
                _ => {}
            }
        }
        std::fs::create_dir_all(&self.path).with_context(|| {
            format!(
                "could not create the output directory '{}'",
                self.path.display()
            )
        })?;
        // Overwrite: the first subtask removes files of an earlier run with more subtasks.
        if self.mode == WriteMode::Overwrite && ctx.index_of_this_subtask() == 0 {
            let entries = std::fs::read_dir(&self.path)
                .with_context(|| format!("could not list '{}'", self.path.display()))?;
            for entry in entries.flatten() {
                let stale = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|i| i > ctx.number_of_parallel_subtasks());
                if stale {
                    std::fs::remove_file(entry.path()).with_context(|| {
                        format!(
                            "could not remove the stale output '{}'",
                            entry.path().display()
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    fn write_buffered(&mut self) -> anyhow::Result<()> {
        let writer = match &mut self.writer {
            Some(w) => w,
            None => bail!("the file sink for '{}' was not opened", self.path.display()),
        };
        writer
            .write_all(self.line.as_bytes())
            .with_context(|| format!("could not write to '{}'", self.target.display()))?;
        self.line.clear();
        Ok(())
    }
}

impl<T: Serialize> SinkFunction<T> for FileSink {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.target = if ctx.number_of_parallel_subtasks() > 1 {
            self.prepare_directory(ctx)?;
            self.path
                .join((ctx.index_of_this_subtask() + 1).to_string())
        } else {
            if self.path.is_dir() {
                if self.mode == WriteMode::NoOverwrite {
                    return Err(self.exists_error(&self.path));
                }
                std::fs::remove_dir_all(&self.path).with_context(|| {
                    format!(
                        "could not replace the directory '{}' by an output file",
                        self.path.display()
                    )
                })?;
            }
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("could not create the directory '{}'", parent.display())
                })?;
            }
            self.path.clone()
        };
        if self.mode == WriteMode::NoOverwrite && self.target.exists() {
            return Err(self.exists_error(&self.target));
        }
        let file = File::create(&self.target).with_context(|| {
            format!(
                "could not create the output file '{}'",
                self.target.display()
            )
        })?;
        self.writer = Some(BufWriter::with_capacity(1 << 20, file));
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
        self.write_buffered()
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(mut writer) = self.writer.take() {
            writer
                .flush()
                .with_context(|| format!("could not write to '{}'", self.target.display()))?;
            writer
                .get_ref()
                .sync_all()
                .with_context(|| format!("could not sync '{}'", self.target.display()))?;
        }
        Ok(())
    }

    fn close(&mut self) -> anyhow::Result<()> {
        // After a failure nothing more is promised; just release the file.
        if let Some(mut writer) = self.writer.take() {
            let _ = writer.flush();
        }
        Ok(())
    }
}
