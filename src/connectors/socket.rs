//! The socket text source (`socket_text_stream`, Flink's `SocketTextStreamFunction`):
//! connects to `host:port`, splits the text at a delimiter, and reconnects when the connection
//! closes, up to `max_retry` times (`-1`: forever) with 500 ms between attempts.
//!
//! A socket has no position: what was received cannot be asked for again. The reader
//! reports none at checkpoints, so after a restore it simply reconnects and reads what the
//! server sends from then on (as Flink's socket source, it is not replayable: at most once
//! for the text received between the last checkpoint and a failure).

use std::io::{ErrorKind, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;

use crate::api::functions::RuntimeContext;
use crate::api::source::{Boundedness, InputStatus, Source, SourceOutput, SourceReader};

/// Flink's `DEFAULT_CONNECTION_RETRY_SLEEP`.
const RETRY_DELAY: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reads wake up this often so the task can flush and handle cancellation.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

pub struct SocketTextSource {
    host: String,
    port: u16,
    delimiter: String,
    max_retry: i64,
}

impl SocketTextSource {
    pub fn new(host: &str, port: u16, delimiter: &str, max_retry: i64) -> Self {
        SocketTextSource {
            host: host.to_string(),
            port,
            delimiter: if delimiter.is_empty() {
                "\n".into()
            } else {
                delimiter.to_string()
            },
            max_retry,
        }
    }
}

impl Source<String> for SocketTextSource {
    fn name(&self) -> String {
        "Socket Stream".into()
    }
    fn boundedness(&self) -> Boundedness {
        Boundedness::ContinuousUnbounded
    }
    fn is_parallel(&self) -> bool {
        false
    }
    fn create_reader(
        &self,
        _ctx: &RuntimeContext,
    ) -> anyhow::Result<Box<dyn SourceReader<String>>> {
        Ok(Box::new(SocketReader {
            address: format!("{}:{}", self.host, self.port),
            delimiter: self.delimiter.as_bytes().to_vec(),
            max_retry: self.max_retry,
            attempts: 0,
            stream: None,
            pending: Vec::new(),
        }))
    }
}

struct SocketReader {
    address: String,
    delimiter: Vec<u8>,
    max_retry: i64,
    attempts: i64,
    stream: Option<TcpStream>,
    /// Bytes received after the last delimiter.
    pending: Vec<u8>,
}

impl SocketReader {
    fn connect(&self) -> anyhow::Result<TcpStream> {
        let addr = self
            .address
            .to_socket_addrs()
            .with_context(|| format!("could not resolve the socket address '{}'", self.address))?
            .next()
            .with_context(|| {
                format!("the socket address '{}' resolved to nothing", self.address)
            })?;
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .with_context(|| format!("could not connect to socket {}", self.address))?;
        stream
            .set_read_timeout(Some(POLL_TIMEOUT))
            .context("could not set the socket read timeout")?;
        Ok(stream)
    }

    fn may_retry(&self) -> bool {
        self.max_retry < 0 || self.attempts < self.max_retry
    }

    /// Emits every complete record in `pending`.
    fn emit_records(&mut self, output: &mut SourceOutput<String>) {
        let d = &self.delimiter;
        let mut start = 0;
        let mut i = 0;
        while i + d.len() <= self.pending.len() {
            if &self.pending[i..i + d.len()] == d.as_slice() {
                output.collect(self.record(start, i));
                i += d.len();
                start = i;
            } else {
                i += 1;
            }
        }
        self.pending.drain(..start);
    }

    fn record(&self, start: usize, end: usize) -> String {
        let mut bytes = &self.pending[start..end];
        // Like Flink, a "\n" delimiter also strips a trailing "\r".
        if self.delimiter == b"\n" && bytes.last() == Some(&b'\r') {
            bytes = &bytes[..bytes.len() - 1];
        }
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl SourceReader<String> for SocketReader {
    fn poll_next(&mut self, output: &mut SourceOutput<String>) -> anyhow::Result<InputStatus> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => match self.connect() {
                Ok(s) => self.stream.insert(s),
                Err(e) if self.may_retry() => {
                    tracing::warn!("{e:#}; retrying in {} ms", RETRY_DELAY.as_millis());
                    self.attempts += 1;
                    std::thread::sleep(RETRY_DELAY);
                    return Ok(InputStatus::NothingAvailable);
                }
                Err(e) => return Err(e),
            },
        };
        let mut buf = [0u8; 64 * 1024];
        match stream.read(&mut buf) {
            Ok(0) => {
                // Connection closed: emit what is left, then reconnect or end.
                self.stream = None;
                if !self.pending.is_empty() {
                    let rest = self.record(0, self.pending.len());
                    output.collect(rest);
                    self.pending.clear();
                }
                if self.may_retry() {
                    self.attempts += 1;
                    std::thread::sleep(RETRY_DELAY);
                    Ok(InputStatus::NothingAvailable)
                } else {
                    Ok(InputStatus::EndOfInput)
                }
            }
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.emit_records(output);
                Ok(InputStatus::MoreAvailable)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(InputStatus::NothingAvailable)
            }
            Err(e) => {
                Err(e).with_context(|| format!("could not read from socket {}", self.address))
            }
        }
    }
}
