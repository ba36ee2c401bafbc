//! YARN token identifiers (`AMRMTokenIdentifier`, `NMTokenIdentifier`,
//! `ContainerTokenIdentifier`): Hadoop writes each as the raw bytes of its protobuf message,
//! and the user a token authenticates is the application attempt id.

use prost::Message;

use super::ids::{ApplicationAttemptId, ContainerId, NodeId};
use super::proto::{
    AmrmTokenIdentifierProto, ContainerTokenIdentifierProto, NmTokenIdentifierProto, PriorityProto,
    ResourceProto,
};
use crate::hadoop::security::{create_password, Token};

/// `AMRMTokenIdentifier.KIND_NAME`.
pub const AMRM_TOKEN_KIND: &str = "YARN_AM_RM_TOKEN";
/// `NMTokenIdentifier.KIND`.
pub const NM_TOKEN_KIND: &str = "NMToken";
/// `ContainerTokenIdentifier.KIND`.
pub const CONTAINER_TOKEN_KIND: &str = "ContainerToken";

#[derive(Debug, thiserror::Error)]
#[error("malformed {kind} identifier: {source}")]
pub struct TokenDecodeError {
    pub kind: &'static str,
    pub source: prost::DecodeError,
}

/// Identifies the attempt an AMRMToken was issued to, and the master key generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmrmTokenIdentifier {
    pub attempt: ApplicationAttemptId,
    pub key_id: i32,
}

impl AmrmTokenIdentifier {
    pub fn encode(&self) -> Vec<u8> {
        AmrmTokenIdentifierProto {
            app_attempt_id: Some(self.attempt.to_proto()),
            key_id: Some(self.key_id),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, TokenDecodeError> {
        let p = AmrmTokenIdentifierProto::decode(bytes).map_err(|source| TokenDecodeError {
            kind: AMRM_TOKEN_KIND,
            source,
        })?;
        Ok(AmrmTokenIdentifier {
            attempt: ApplicationAttemptId::from_proto(&p.app_attempt_id.unwrap_or_default()),
            key_id: p.key_id.unwrap_or(-1),
        })
    }

    /// The token, its password derived from `master_key` like `AMRMTokenSecretManager`.
    pub fn token(&self, master_key: &[u8], service: &str) -> Token {
        let identifier = self.encode();
        Token {
            password: create_password(&identifier, master_key),
            identifier,
            kind: AMRM_TOKEN_KIND.into(),
            service: service.into(),
        }
    }
}

/// Lets one application attempt talk to one NodeManager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NmTokenIdentifier {
    pub attempt: ApplicationAttemptId,
    pub node_id: NodeId,
    pub app_submitter: String,
    pub key_id: i32,
}

impl NmTokenIdentifier {
    pub fn encode(&self) -> Vec<u8> {
        NmTokenIdentifierProto {
            app_attempt_id: Some(self.attempt.to_proto()),
            node_id: Some(self.node_id.to_proto()),
            app_submitter: Some(self.app_submitter.clone()),
            key_id: Some(self.key_id),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, TokenDecodeError> {
        let p = NmTokenIdentifierProto::decode(bytes).map_err(|source| TokenDecodeError {
            kind: NM_TOKEN_KIND,
            source,
        })?;
        Ok(NmTokenIdentifier {
            attempt: ApplicationAttemptId::from_proto(&p.app_attempt_id.unwrap_or_default()),
            node_id: NodeId::from_proto(&p.node_id.unwrap_or_default()),
            app_submitter: p.app_submitter.unwrap_or_default(),
            key_id: p.key_id.unwrap_or(-1),
        })
    }

    pub fn token(&self, master_key: &[u8]) -> Token {
        let identifier = self.encode();
        Token {
            password: create_password(&identifier, master_key),
            identifier,
            kind: NM_TOKEN_KIND.into(),
            service: self.node_id.to_string(),
        }
    }
}

/// Authorises starting one container of a given size on one NodeManager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerTokenIdentifier {
    pub container_id: ContainerId,
    /// `host:port` of the NodeManager.
    pub nm_host_addr: String,
    pub app_submitter: String,
    pub memory_mb: i64,
    pub vcores: i32,
    pub expiry_time_stamp: i64,
    pub master_key_id: i32,
    pub rm_identifier: i64,
    pub priority: i32,
    pub creation_time: i64,
    /// `ContainerTypeProto`: APPLICATION_MASTER (1) or TASK (2).
    pub container_type: i32,
    pub allocation_request_id: i64,
}

impl ContainerTokenIdentifier {
    pub fn encode(&self) -> Vec<u8> {
        ContainerTokenIdentifierProto {
            container_id: Some(self.container_id.to_proto()),
            nm_host_addr: Some(self.nm_host_addr.clone()),
            app_submitter: Some(self.app_submitter.clone()),
            resource: Some(ResourceProto {
                memory: Some(self.memory_mb),
                virtual_cores: Some(self.vcores),
            }),
            expiry_time_stamp: Some(self.expiry_time_stamp),
            master_key_id: Some(self.master_key_id),
            rm_identifier: Some(self.rm_identifier),
            priority: Some(PriorityProto {
                priority: Some(self.priority),
            }),
            creation_time: Some(self.creation_time),
            container_type: Some(self.container_type),
            execution_type: Some(super::proto::EXECUTION_TYPE_GUARANTEED),
            version: Some(0),
            allocation_request_id: Some(self.allocation_request_id),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, TokenDecodeError> {
        let p =
            ContainerTokenIdentifierProto::decode(bytes).map_err(|source| TokenDecodeError {
                kind: CONTAINER_TOKEN_KIND,
                source,
            })?;
        let r = p.resource.unwrap_or_default();
        Ok(ContainerTokenIdentifier {
            container_id: ContainerId::from_proto(&p.container_id.unwrap_or_default()),
            nm_host_addr: p.nm_host_addr.unwrap_or_default(),
            app_submitter: p.app_submitter.unwrap_or_default(),
            memory_mb: r.memory.unwrap_or(0),
            vcores: r.virtual_cores.unwrap_or(0),
            expiry_time_stamp: p.expiry_time_stamp.unwrap_or(0),
            master_key_id: p.master_key_id.unwrap_or(-1),
            rm_identifier: p.rm_identifier.unwrap_or(0),
            priority: p.priority.and_then(|p| p.priority).unwrap_or(0),
            creation_time: p.creation_time.unwrap_or(0),
            container_type: p
                .container_type
                .unwrap_or(super::proto::container_type::TASK),
            allocation_request_id: p.allocation_request_id.unwrap_or(-1),
        })
    }

    pub fn token(&self, master_key: &[u8]) -> Token {
        let identifier = self.encode();
        Token {
            password: create_password(&identifier, master_key),
            identifier,
            kind: CONTAINER_TOKEN_KIND.into(),
            service: self.nm_host_addr.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yarn::ids::ApplicationId;

    fn attempt() -> ApplicationAttemptId {
        ApplicationAttemptId {
            application_id: ApplicationId {
                cluster_timestamp: 1,
                id: 2,
            },
            attempt_id: 3,
        }
    }

    #[test]
    fn amrm_identifier_bytes_follow_the_proto() {
        let id = AmrmTokenIdentifier {
            attempt: attempt(),
            key_id: 5,
        };
        // appAttemptId (1, LEN 8) { application_id (1, LEN 4) { id 2, cluster_timestamp 1 }, attemptId 3 }, keyId 5
        assert_eq!(
            id.encode(),
            vec![0x0a, 0x08, 0x0a, 0x04, 0x08, 0x02, 0x10, 0x01, 0x10, 0x03, 0x10, 0x05]
        );
        assert_eq!(AmrmTokenIdentifier::decode(&id.encode()).unwrap(), id);
        let t = id.token(b"k", "127.0.0.1:8030");
        assert_eq!(t.kind, "YARN_AM_RM_TOKEN");
        assert_eq!(t.password.len(), 20);
    }

    #[test]
    fn nm_token_identifier_round_trips() {
        let id = NmTokenIdentifier {
            attempt: attempt(),
            node_id: NodeId {
                host: "127.0.0.1".into(),
                port: 4545,
            },
            app_submitter: "alice".into(),
            key_id: 9,
        };
        let bytes = id.encode();
        assert_eq!(&bytes[..2], &[0x0a, 0x08]);
        assert_eq!(NmTokenIdentifier::decode(&bytes).unwrap(), id);
        assert_eq!(id.token(b"k").service, "127.0.0.1:4545");
    }
}
