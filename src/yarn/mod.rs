//! YARN client side, written to Hadoop 3's wire formats, and the mini YARN cluster tests run
//! against:
//! - [`rest`]: ResourceManager REST client (new application, submit, report, kill, ...);
//! - [`amrm`]: ApplicationMasterProtocol client (register, allocate, finish);
//! - [`nm`]: ContainerManagementProtocol client (start, stop, statuses);
//! - [`launch`]: container launch contexts and local resources as YARN wants them;
//! - [`proto`], [`ids`], [`tokens`]: YARN's messages, identifiers and token identifiers;
//! - [`appmaster`]: the Strato application master (`strato jobmanager` started by YARN);
//! - [`descriptor`]: the client side: staging, submission, finding a running cluster;
//! - [`dshell`]: the distributed shell application (client + AM), the end-to-end proof;
//! - [`mini`]: a protocol-faithful ResourceManager + NodeManagers for tests and local use.

pub mod amrm;
pub mod appmaster;
pub mod descriptor;
pub mod dshell;
pub mod ids;
pub mod launch;
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

    /// The server exception as a typed kind.
    pub fn kind(&self) -> Option<RemoteExceptionKind> {
        self.remote_class().map(RemoteExceptionKind::from_class)
    }

    pub fn remote_message(&self) -> Option<&str> {
        match self {
            YarnError::Rpc(e) => e.remote_message(),
            YarnError::Container { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Server-side exceptions YARN clients act on, from their Java class names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteExceptionKind {
    /// `org.apache.hadoop.security.AccessControlException` (e.g. SIMPLE refused).
    AccessControl,
    /// `SecretManager$InvalidToken`: unknown or expired token.
    InvalidToken,
    /// `javax.security.sasl.SaslException`: wrong token password.
    Sasl,
    InvalidResourceRequest,
    ApplicationMasterNotRegistered,
    InvalidApplicationMasterRequest,
    ApplicationAttemptNotFound,
    ApplicationNotFound,
    /// `org.apache.hadoop.yarn.exceptions.YarnException` itself.
    Yarn,
    NoSuchMethod,
    NoSuchProtocol,
    Other(String),
}

impl RemoteExceptionKind {
    pub fn from_class(class: &str) -> RemoteExceptionKind {
        let simple = class.rsplit(['.', '$']).next().unwrap_or(class);
        match simple {
            "AccessControlException" => Self::AccessControl,
            "InvalidToken" => Self::InvalidToken,
            "SaslException" => Self::Sasl,
            "InvalidResourceRequestException" => Self::InvalidResourceRequest,
            "ApplicationMasterNotRegisteredException" => Self::ApplicationMasterNotRegistered,
            "InvalidApplicationMasterRequestException" => Self::InvalidApplicationMasterRequest,
            "ApplicationAttemptNotFoundException" => Self::ApplicationAttemptNotFound,
            "ApplicationNotFoundException" => Self::ApplicationNotFound,
            "YarnException" => Self::Yarn,
            "RpcNoSuchMethodException" => Self::NoSuchMethod,
            "RpcNoSuchProtocolException" => Self::NoSuchProtocol,
            _ => Self::Other(class.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RemoteExceptionKind;

    #[test]
    fn exception_kinds_come_from_java_class_names() {
        assert_eq!(
            RemoteExceptionKind::from_class(
                "org.apache.hadoop.security.token.SecretManager$InvalidToken"
            ),
            RemoteExceptionKind::InvalidToken
        );
        assert_eq!(
            RemoteExceptionKind::from_class(
                "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException"
            ),
            RemoteExceptionKind::InvalidResourceRequest
        );
        assert_eq!(
            RemoteExceptionKind::from_class("java.io.IOException"),
            RemoteExceptionKind::Other("java.io.IOException".into())
        );
    }
}
