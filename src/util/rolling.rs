//! A log file that rolls over by size (Flink's log4j `RollingFileAppender` with a size
//! policy): when the file would grow past its limit it becomes `<name>.1`, older files shift
//! up to `<name>.<max backups>`, and the oldest is dropped, so a long-running daemon's logs
//! take bounded disk space.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

struct Inner {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    max_backups: u32,
}

/// A size-rolled log file, shareable between threads (a tracing `MakeWriter`).
#[derive(Clone)]
pub struct RollingFile {
    inner: Arc<Mutex<Inner>>,
}

impl RollingFile {
    /// Opens (appends to) `path`; it rolls when it would exceed `max_bytes`, keeping
    /// `max_backups` older files.
    pub fn open(path: &Path, max_bytes: u64, max_backups: u32) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RollingFile {
            inner: Arc::new(Mutex::new(Inner {
                path: path.to_path_buf(),
                file,
                written,
                max_bytes: max_bytes.max(1),
                max_backups,
            })),
        })
    }
}

fn backup(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl Inner {
    fn roll(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.max_backups == 0 {
            self.file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&self.path)?;
        } else {
            let _ = std::fs::remove_file(backup(&self.path, self.max_backups));
            for n in (1..self.max_backups).rev() {
                let from = backup(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, backup(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, backup(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.written = 0;
        Ok(())
    }
}

impl Write for RollingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.written > 0 && inner.written + buf.len() as u64 > inner.max_bytes {
            inner.roll()?;
        }
        let n = inner.file.write(buf)?;
        inner.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .file
            .flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RollingFile {
    type Writer = RollingFile;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_rolls_over_and_keeps_only_the_newest_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobmanager.log");
        let mut log = RollingFile::open(&path, 10, 2).unwrap();
        for line in ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n"] {
            log.write_all(line.as_bytes()).unwrap();
        }
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(path.clone()), "dddddddd\n");
        assert_eq!(read(backup(&path, 1)), "cccccccc\n");
        assert_eq!(read(backup(&path, 2)), "bbbbbbbb\n");
        assert!(!backup(&path, 3).exists(), "the oldest was dropped");
    }

    #[test]
    fn reopening_appends_and_counts_what_is_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tm.log");
        std::fs::write(&path, "12345678\n").unwrap();
        let mut log = RollingFile::open(&path, 12, 1).unwrap();
        log.write_all(b"next\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "next\n");
        assert_eq!(
            std::fs::read_to_string(backup(&path, 1)).unwrap(),
            "12345678\n"
        );
    }
}
