//! The text file source (`read_text_file`): one record per line of a file, or of every file in
//! a directory, read in parallel byte-range splits like Hadoop's and Flink's text input format.
//!
//! A split owns every line that *starts* inside its byte range: a reader whose split does not
//! begin at offset 0 skips the partial line it lands in, and reads past its end to finish its
//! last line. Every line is read exactly once whatever the split boundaries.
//!
//! The position at a checkpoint is, per split still owned, the byte offset of the next line
//! to read and the split's end ([`FileSplit`] with `at_line_start`); restored readers resume
//! each split at that line, whatever parallelism they run at.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::split::{decode_splits, encode_split};

use crate::api::functions::RuntimeContext;
use crate::api::source::{Boundedness, InputStatus, Source, SourceOutput, SourceReader};
use crate::fs::{FileSystem, FsPath, FsReader};

/// Below this size a file is not split further.
const MIN_SPLIT_BYTES: u64 = 1 << 20;

pub struct TextFileSource {
    /// A plain path or a URI (`file://`, `hdfs://`).
    path: String,
}

impl TextFileSource {
    pub fn new(path: &Path) -> Self {
        TextFileSource {
            path: path.to_string_lossy().into_owned(),
        }
    }
}

/// A byte range of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSplit {
    pub path: FsPath,
    pub start: u64,
    pub end: u64,
    /// `start` is known to begin a line (offset 0, or a resumed split): no partial line to
    /// skip.
    pub at_line_start: bool,
}

/// A split as stored in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SplitPosition {
    path: String,
    /// Offset of the next line when `at_line_start`, else the split's start.
    offset: u64,
    end: u64,
    at_line_start: bool,
}

impl FileSplit {
    fn position(&self) -> SplitPosition {
        SplitPosition {
            path: self.path.to_string(),
            offset: self.start,
            end: self.end,
            at_line_start: self.at_line_start,
        }
    }

    fn from_position(position: SplitPosition) -> anyhow::Result<Self> {
        Ok(FileSplit {
            path: FsPath::parse(&position.path).with_context(|| {
                format!(
                    "the restored file split path '{}' is not valid",
                    position.path
                )
            })?,
            start: position.offset,
            end: position.end,
            at_line_start: position.at_line_start,
        })
    }
}

/// An input file and its length.
pub type InputFile = (FsPath, u64);

/// The files a path stands for: itself, or the visible regular files of a directory (names
/// starting with `.` or `_` are skipped, as Flink does), sorted by name.
pub fn list_input_files(uri: &str) -> anyhow::Result<(Arc<dyn FileSystem>, Vec<InputFile>)> {
    let (fs, path) = <dyn FileSystem>::for_uri(uri)
        .with_context(|| format!("the input path '{uri}' cannot be used"))?;
    let status = fs
        .status(&path)
        .with_context(|| format!("the input path '{uri}' does not exist or cannot be read"))?;
    if !status.is_dir {
        return Ok((fs, vec![(status.path, status.len)]));
    }
    let mut files: Vec<InputFile> = fs
        .list(&path)
        .with_context(|| format!("could not list the input directory '{uri}'"))?
        .into_iter()
        .filter(|s| {
            !s.is_dir
                && s.path
                    .file_name()
                    .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
        })
        .map(|s| (s.path, s.len))
        .collect();
    files.sort_by_key(|(path, _)| path.to_string());
    Ok((fs, files))
}

/// Cuts the files into about `parallelism` splits of similar size (at least 1 MB each).
pub fn create_splits(files: &[InputFile], parallelism: usize) -> Vec<FileSplit> {
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    let target = (total / parallelism.max(1) as u64).max(MIN_SPLIT_BYTES);
    let mut splits = Vec::new();
    for (path, len) in files {
        let pieces = len.div_ceil(target).max(1);
        for i in 0..pieces {
            splits.push(FileSplit {
                path: path.clone(),
                start: len * i / pieces,
                end: len * (i + 1) / pieces,
                at_line_start: i == 0,
            });
        }
    }
    splits
}

impl Source<String> for TextFileSource {
    fn name(&self) -> String {
        format!("File Source {}", self.path)
    }
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn create_reader(&self, ctx: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<String>>> {
        let (index, parallelism) = (
            ctx.index_of_this_subtask(),
            ctx.number_of_parallel_subtasks(),
        );
        let (fs, files) = list_input_files(&self.path)?;
        let mine = create_splits(&files, parallelism)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % parallelism == index)
            .map(|(_, s)| s)
            .collect::<Vec<_>>();
        Ok(Box::new(TextFileReader::new(fs, mine)))
    }

    /// Resumes the splits this subtask was dealt, each at its next line.
    fn restore_reader(
        &self,
        _ctx: &RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> anyhow::Result<Box<dyn SourceReader<String>>> {
        let (fs, _) = <dyn FileSystem>::for_uri(&self.path)
            .with_context(|| format!("the input path '{}' cannot be used", self.path))?;
        let splits = decode_splits::<SplitPosition>(&self.name(), splits)?
            .into_iter()
            .map(FileSplit::from_position)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Box::new(TextFileReader::new(fs, splits)))
    }
}

struct OpenSplit {
    reader: BufReader<Box<dyn FsReader>>,
    /// Offset of the next unread byte.
    position: u64,
    split: FileSplit,
}

struct TextFileReader {
    fs: Arc<dyn FileSystem>,
    /// Splits still to read, last first.
    splits: Vec<FileSplit>,
    current: Option<OpenSplit>,
    line: Vec<u8>,
}

impl TextFileReader {
    fn new(fs: Arc<dyn FileSystem>, splits: Vec<FileSplit>) -> Self {
        TextFileReader {
            fs,
            splits: splits.into_iter().rev().collect(),
            current: None,
            line: Vec::new(),
        }
    }
}

fn open_split(fs: &dyn FileSystem, split: FileSplit) -> anyhow::Result<OpenSplit> {
    let file = fs
        .open(&split.path)
        .with_context(|| format!("could not open '{}'", split.path))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut position = split.start;
    if split.at_line_start || split.start == 0 {
        reader
            .seek(SeekFrom::Start(split.start))
            .with_context(|| format!("could not seek in '{}'", split.path))?;
    } else {
        // Start one byte early: if that byte ends a line, our first line starts exactly at `start`.
        reader
            .seek(SeekFrom::Start(split.start - 1))
            .with_context(|| format!("could not seek in '{}'", split.path))?;
        let mut skipped = Vec::new();
        let n = reader
            .read_until(b'\n', &mut skipped)
            .with_context(|| format!("could not read '{}'", split.path))?;
        position = split.start - 1 + n as u64;
    }
    Ok(OpenSplit {
        reader,
        position,
        split,
    })
}

impl SourceReader<String> for TextFileReader {
    fn poll_next(&mut self, output: &mut SourceOutput<String>) -> anyhow::Result<InputStatus> {
        while !output.is_full() {
            let open = match &mut self.current {
                Some(open) => open,
                None => match self.splits.pop() {
                    Some(split) => self.current.insert(open_split(self.fs.as_ref(), split)?),
                    None => return Ok(InputStatus::EndOfInput),
                },
            };
            if open.position >= open.split.end {
                self.current = None;
                continue;
            }
            self.line.clear();
            let n = open
                .reader
                .by_ref()
                .read_until(b'\n', &mut self.line)
                .with_context(|| {
                    format!(
                        "could not read '{}' at byte {}",
                        open.split.path, open.position
                    )
                })?;
            if n == 0 {
                self.current = None;
                continue;
            }
            open.position += n as u64;
            let mut end = self.line.len();
            if end > 0 && self.line[end - 1] == b'\n' {
                end -= 1;
                if end > 0 && self.line[end - 1] == b'\r' {
                    end -= 1;
                }
            }
            let bytes = &self.line[..end];
            output.collect(match std::str::from_utf8(bytes) {
                Ok(s) => s.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            });
        }
        Ok(InputStatus::MoreAvailable)
    }

    /// The open split from its next line, then the splits not started yet.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        let open = self
            .current
            .as_ref()
            .filter(|open| open.position < open.split.end)
            .map(|open| FileSplit {
                start: open.position,
                at_line_start: true,
                ..open.split.clone()
            });
        open.iter()
            .chain(self.splits.iter().rev())
            .map(|split| encode_split(&split.position()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(path: &Path, parallelism: usize) -> Vec<String> {
        let source = TextFileSource::new(path);
        let mut lines = Vec::new();
        for i in 0..parallelism {
            let mut reader = source
                .create_reader(&RuntimeContext::for_test(i, parallelism))
                .unwrap();
            let mut batch = crate::runtime::batch::Batch::new();
            let mut events = Vec::new();
            loop {
                let status = reader
                    .poll_next(&mut SourceOutput {
                        batch: &mut batch,
                        events: &mut events,
                    })
                    .unwrap();
                lines.append(&mut batch.records);
                if status == InputStatus::EndOfInput {
                    break;
                }
            }
        }
        lines.sort();
        lines
    }

    #[test]
    fn every_line_is_read_exactly_once_whatever_the_split_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        // Lines of varying length around split boundaries, CRLF and a missing final newline.
        let mut text = String::new();
        let mut expected = Vec::new();
        for i in 0..200_000 {
            let line = "x".repeat(i % 37) + &i.to_string();
            text.push_str(&line);
            text.push_str(if i % 5 == 0 { "\r\n" } else { "\n" });
            expected.push(line);
        }
        text.push_str("last");
        expected.push("last".into());
        std::fs::write(&path, &text).unwrap();
        expected.sort();
        for p in [1, 2, 3, 4, 7] {
            assert_eq!(read_all(&path, p), expected, "parallelism {p}");
        }
    }

    #[test]
    fn a_directory_reads_its_visible_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "three\n").unwrap();
        std::fs::write(dir.path().join("_SUCCESS"), "hidden\n").unwrap();
        std::fs::write(dir.path().join(".a.txt.crc"), "hidden\n").unwrap();
        assert_eq!(read_all(dir.path(), 2), vec!["one", "three", "two"]);
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let source = TextFileSource::new(Path::new("/no/such/input.txt"));
        let err = source
            .create_reader(&RuntimeContext::for_test(0, 1))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("/no/such/input.txt"), "{err:#}");
    }
}
