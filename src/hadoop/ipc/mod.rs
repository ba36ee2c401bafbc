//! Hadoop RPC ("hrpc", IPC version 9) on tokio: the client YARN application masters use to
//! talk to the ResourceManager scheduler and to NodeManagers, and the server the mini YARN
//! runs, both speaking SASL (SIMPLE and TOKEN/DIGEST-MD5, qop `auth`) exactly as Hadoop does.
//!
//! - [`frame`]: preamble, length-prefixed frames of delimited protobuf messages, call ids;
//! - [`digest`]: DIGEST-MD5 client and server;
//! - [`client`]: [`RpcClient`], one connection multiplexing concurrent calls;
//! - [`server`]: [`RpcServer`], accepting connections for one protocol.

pub mod client;
pub mod digest;
pub mod frame;
pub mod sasl;
pub mod server;

pub use client::{ConnectionConfig, RpcClient, RpcError};
pub use server::{AuthConfig, Caller, RpcServer, RpcService, TokenSecretManager};

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future (object-safe async for services).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a connection authenticated (`SaslRpcServer.AuthMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Simple,
    Token,
}

impl AuthMethod {
    /// The method name on the wire and in Hadoop's messages.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Simple => "SIMPLE",
            AuthMethod::Token => "TOKEN",
        }
    }

    /// The SASL mechanism (`""` for SIMPLE).
    pub fn mechanism(self) -> &'static str {
        match self {
            AuthMethod::Simple => "",
            AuthMethod::Token => "DIGEST-MD5",
        }
    }
}

/// An exception as Hadoop RPC carries it: the Java class name and its message. Servers
/// return it from calls; clients receive it inside [`RpcError::Remote`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{class_name}: {message}")]
pub struct RpcException {
    pub class_name: String,
    pub message: String,
}

impl RpcException {
    pub fn new(class_name: impl Into<String>, message: impl Into<String>) -> Self {
        RpcException {
            class_name: class_name.into(),
            message: message.into(),
        }
    }

    /// `org.apache.hadoop.security.AccessControlException`.
    pub fn access_control(message: impl Into<String>) -> Self {
        Self::new(ACCESS_CONTROL_EXCEPTION, message)
    }

    /// `org.apache.hadoop.security.token.SecretManager$InvalidToken`.
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(INVALID_TOKEN, message)
    }
}

pub const ACCESS_CONTROL_EXCEPTION: &str = "org.apache.hadoop.security.AccessControlException";
pub const INVALID_TOKEN: &str = "org.apache.hadoop.security.token.SecretManager$InvalidToken";
pub const SASL_EXCEPTION: &str = "javax.security.sasl.SaslException";
pub const IPC_EXCEPTION: &str = "org.apache.hadoop.ipc.IpcException";
pub const NO_SUCH_PROTOCOL: &str = "org.apache.hadoop.ipc.RpcNoSuchProtocolException";
pub const NO_SUCH_METHOD: &str = "org.apache.hadoop.ipc.RpcNoSuchMethodException";
pub const VERSION_MISMATCH: &str = "org.apache.hadoop.ipc.RPC$VersionMismatch";

#[cfg(test)]
mod tests;
