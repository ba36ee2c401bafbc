//! The blob service (Flink's BlobServer / BlobCache): programs kept by content key (SHA-1) in
//! the JobManager's blob directory, and fetched by TaskManagers over the control port.
//!
//! A program is a whole binary, hundreds of MB in a debug build. It travels as a stream, file
//! to socket to file, never whole in memory: a JobManager in a 1 GB YARN container that held a
//! copy per TaskManager used to be killed for exceeding its memory limit.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::rpc::{self, Hello};

/// The JobManager's answer to a fetch, before the bytes.
#[derive(Debug, Serialize, Deserialize)]
pub enum BlobResponse {
    /// `size` raw bytes follow.
    Found { size: u64 },
    /// Why there is nothing to send.
    Missing(String),
}

/// Whether `key` can name a blob (hex digits only, so it never escapes the blob directory).
pub fn is_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The content-addressed store in one directory.
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BlobStore { dir: dir.into() }
    }

    /// Stores `bytes`; returns their key.
    pub fn put(&self, bytes: &[u8]) -> io::Result<String> {
        self.put_from(&mut &bytes[..])
    }

    /// Stores the file at `path` (streamed); returns its key.
    pub fn put_file(&self, path: &Path) -> io::Result<String> {
        let mut file = File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("'{}': {e}", path.display())))?;
        self.put_from(&mut file)
    }

    fn put_from(&self, source: &mut impl Read) -> io::Result<String> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        let mut hashing = HashingWriter::new(BufWriter::new(tmp.as_file()));
        io::copy(source, &mut hashing)?;
        let (mut writer, key) = hashing.finish();
        writer.flush()?;
        drop(writer);
        let path = self.dir.join(&key);
        if !path.exists() {
            tmp.persist(&path).map_err(|e| e.error)?;
        }
        Ok(key)
    }

    /// The file of a stored blob; the error says what is wrong with the key.
    pub fn path(&self, key: &str) -> Result<PathBuf, String> {
        if !is_key(key) {
            return Err(format!("'{key}' is not a blob key"));
        }
        let path = self.dir.join(key);
        if !path.is_file() {
            return Err(format!("no uploaded program with key '{key}'"));
        }
        Ok(path)
    }

    /// Answers one fetch on `stream`: the header, then the blob's bytes.
    pub fn serve(&self, key: &str, stream: &mut impl Write) -> io::Result<()> {
        let opened = self
            .path(key)
            .and_then(|p| File::open(&p).map_err(|e| format!("'{}': {e}", p.display())))
            .and_then(|f| {
                let size = f.metadata().map_err(|e| e.to_string())?.len();
                Ok((f, size))
            });
        match opened {
            Ok((file, size)) => {
                rpc::send(stream, &BlobResponse::Found { size })?;
                io::copy(&mut BufReader::new(file).take(size), stream)?;
                stream.flush()
            }
            Err(why) => rpc::send(stream, &BlobResponse::Missing(why)),
        }
    }
}

/// Fetches blob `key` from the JobManager at `jobmanager` into the executable file `dest`
/// (atomically: a partial download never takes its place), checking its content against the key.
pub fn fetch(jobmanager: &str, key: &str, dest: &Path) -> anyhow::Result<()> {
    if !is_key(key) {
        bail!("'{key}' is not a blob key");
    }
    let mut stream = TcpStream::connect(jobmanager)
        .with_context(|| format!("could not connect to the blob server at {jobmanager}"))?;
    rpc::send(
        &mut stream,
        &Hello::BlobFetch {
            key: key.to_string(),
        },
    )?;
    let mut reader = BufReader::new(stream);
    let size = match rpc::receive::<BlobResponse>(&mut reader)? {
        Some(BlobResponse::Found { size }) => size,
        Some(BlobResponse::Missing(why)) => bail!("the JobManager has no blob {key}: {why}"),
        None => bail!("the JobManager closed the connection before sending blob {key}"),
    };
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("could not create a file in '{}'", dir.display()))?;
    let mut hashing = HashingWriter::new(BufWriter::new(tmp.as_file()));
    let copied = io::copy(&mut (&mut reader).take(size), &mut hashing)
        .with_context(|| format!("receiving blob {key}"))?;
    if copied != size {
        bail!("blob {key} ended after {copied} of {size} bytes");
    }
    let (mut writer, actual) = hashing.finish();
    writer
        .flush()
        .with_context(|| format!("writing blob {key} to '{}'", dir.display()))?;
    drop(writer);
    if !actual.eq_ignore_ascii_case(key) {
        bail!("blob {key} arrived corrupted (its content hashes to {actual})");
    }
    // Blobs are programs: executable before they take their name, so no one runs them first.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("could not make blob {key} executable"))?;
    tmp.persist(dest)
        .with_context(|| format!("could not store blob {key} at '{}'", dest.display()))?;
    Ok(())
}

/// Hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hash: Sha1,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hash: Sha1::new(),
        }
    }

    /// The writer back, and the hex SHA-1 of everything written.
    fn finish(self) -> (W, String) {
        let key = self
            .hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (self.inner, key)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_program_is_keyed_by_its_content_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let key = store.put(b"program bytes").unwrap();
        let expected: String = Sha1::digest(b"program bytes")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key, expected);
        let source = dir.path().join("program");
        std::fs::write(&source, b"program bytes").unwrap();
        assert_eq!(store.put_file(&source).unwrap(), key);
        assert_eq!(
            std::fs::read(store.path(&key).unwrap()).unwrap(),
            b"program bytes"
        );
    }

    #[test]
    fn keys_that_could_leave_the_blob_directory_are_refused() {
        let store = BlobStore::new("/nonexistent");
        assert_eq!(
            store.path("../etc").unwrap_err(),
            "'../etc' is not a blob key"
        );
        assert!(store
            .path("abc")
            .unwrap_err()
            .contains("no uploaded program"));
    }

    #[test]
    fn a_fetched_blob_arrives_whole_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(BlobStore::new(dir.path().join("server")));
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let key = store.put(&content).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = store.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(2) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if let Some(Hello::BlobFetch { key }) = rpc::receive(&mut reader).unwrap() {
                    server.serve(&key, &mut stream).unwrap();
                }
            }
        });
        let dest = dir.path().join("fetched");
        fetch(&address, &key, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), content);
        let missing = fetch(&address, "abcdef", &dir.path().join("other")).unwrap_err();
        assert!(
            format!("{missing:#}").contains("no uploaded program with key 'abcdef'"),
            "{missing:#}"
        );
        assert!(!dir.path().join("other").exists());
    }
}
