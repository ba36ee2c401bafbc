//! YARN client side, written to Hadoop 3's wire formats, and the mini YARN cluster tests run
//! against:
//! - [`rest`]: ResourceManager REST client (new application, submit, report, kill, ...);
//! - [`amrm`]: ApplicationMasterProtocol client (register, allocate, finish);
//! - [`nm`]: ContainerManagementProtocol client (start, stop, statuses);
//! - [`proto`], [`ids`], [`tokens`]: YARN's messages, identifiers and token identifiers;
//! - [`mini`]: a protocol-faithful ResourceManager + NodeManagers for tests and local use.

pub mod amrm;
pub mod dshell;
pub mod ids;
pub mod mini;
pub mod nm;
pub mod proto;
pub mod rest;
pub mod tokens;

/// `declaringClassProtocolName` of the scheduler protocol.
pub const APPLICATION_MASTER_PROTOCOL: &str =
    "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB";
/// `declaringClassProtocolName` of the NodeManager protocol.
pub const CONTAINER_MANAGEMENT_PROTOCOL: &str =
    "org.apache.hadoop.yarn.api.ContainerManagementProtocolPB";

use crate::hadoop::ipc::RpcError;
use crate::hadoop::security::SecurityError;

/// Errors of the YARN protocol clients.
#[derive(Debug, thiserror::Error)]
pub enum YarnError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("credentials: {0}")]
    Security(#[from] SecurityError),
    #[error("no {what}")]
    MissingToken { what: String },
    #[error("resolving {addr}: {message}")]
    Resolve { addr: String, message: String },
    #[error("container {container_id}: {class_name}: {message}")]
    Container {
        container_id: String,
        class_name: String,
        message: String,
    },
}

impl YarnError {
    /// The Java class of a server-side exception, if this is one.
    pub fn remote_class(&self) -> Option<&str> {
        match self {
            YarnError::Rpc(e) => e.remote_class(),
            YarnError::Container { class_name, .. } => Some(class_name),
            _ => None,
        }
    }

    pub fn remote_message(&self) -> Option<&str> {
        match self {
            YarnError::Rpc(e) => e.remote_message(),
            YarnError::Container { message, .. } => Some(message),
            _ => None,
        }
    }
}
