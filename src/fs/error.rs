//! [`FsError`]: every error names the operation and the URI it was about.

use std::io;
use std::time::Duration;

/// Errors of the file system layer. Each variant carries the operation (`create`, `rename`, ...)
/// and the URI so that a message in a log is enough to find what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{op} {uri}: no such file or directory{}", detail_suffix(.detail))]
    NotFound {
        op: &'static str,
        uri: String,
        detail: String,
    },
    #[error("{op} {uri}: the path already exists{}", detail_suffix(.detail))]
    AlreadyExists {
        op: &'static str,
        uri: String,
        detail: String,
    },
    #[error("{op} {uri}: the directory is not empty (use a recursive delete){}", detail_suffix(.detail))]
    DirectoryNotEmpty {
        op: &'static str,
        uri: String,
        detail: String,
    },
    #[error("{op} {uri}: {reason}")]
    WrongType {
        op: &'static str,
        uri: String,
        reason: &'static str,
    },
    #[error(
        "{op} {uri}: cannot connect to the NameNode at {address} within {timeout:?}: {source}"
    )]
    Unreachable {
        op: &'static str,
        uri: String,
        address: String,
        timeout: Duration,
        #[source]
        source: io::Error,
    },
    #[error("{op} {uri}: {source}")]
    Io {
        op: &'static str,
        uri: String,
        #[source]
        source: io::Error,
    },
    #[error("{op} {uri}: {message}")]
    Remote {
        op: &'static str,
        uri: String,
        message: String,
    },
    #[error("Hadoop configuration: {0}")]
    HadoopConf(String),
    #[error("invalid file system URI '{uri}': {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("no file system for scheme '{scheme}' of '{uri}' (supported: file, hdfs)")]
    UnsupportedScheme { scheme: String, uri: String },
    #[error(
        "{uri}: the cluster uses hadoop.security.authentication={mode}; Strato does not support \
         Kerberos yet, so it cannot talk to a secure HDFS"
    )]
    KerberosUnsupported { uri: String, mode: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl FsError {
    /// Wraps an I/O error, turning the kinds that have their own variant into it.
    pub fn io(op: &'static str, uri: impl ToString, source: io::Error) -> Self {
        let uri = uri.to_string();
        match source.kind() {
            io::ErrorKind::NotFound => FsError::NotFound {
                op,
                uri,
                detail: String::new(),
            },
            io::ErrorKind::AlreadyExists => FsError::AlreadyExists {
                op,
                uri,
                detail: String::new(),
            },
            io::ErrorKind::DirectoryNotEmpty => FsError::DirectoryNotEmpty {
                op,
                uri,
                detail: String::new(),
            },
            _ => FsError::Io { op, uri, source },
        }
    }

    /// True when the error says the path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::NotFound { .. })
    }

    /// True when the error says the path exists already.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, FsError::AlreadyExists { .. })
    }

    /// Converts into an `io::Error` for use inside `Read`/`Write` implementations.
    pub fn into_io(self) -> io::Error {
        let kind = match &self {
            FsError::NotFound { .. } => io::ErrorKind::NotFound,
            FsError::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
            FsError::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}
