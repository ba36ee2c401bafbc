//! YARN's protobuf messages (package `hadoop.yarn`), hand-written with the field numbers of
//! Hadoop's `yarn_protos.proto`, `yarn_service_protos.proto` and `yarn_security_token.proto`.
//! Only what the AM/NM protocols and the mini YARN use is declared.

use crate::hadoop::proto::TokenProto;

#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ApplicationIdProto {
    #[prost(int32, optional, tag = "1")]
    pub id: Option<i32>,
    #[prost(int64, optional, tag = "2")]
    pub cluster_timestamp: Option<i64>,
}

#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ApplicationAttemptIdProto {
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationIdProto>,
    #[prost(int32, optional, tag = "2")]
    pub attempt_id: Option<i32>,
}

#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ContainerIdProto {
    #[prost(message, optional, tag = "1")]
    pub app_id: Option<ApplicationIdProto>,
    #[prost(message, optional, tag = "2")]
    pub app_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(int64, optional, tag = "3")]
    pub id: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ResourceProto {
    #[prost(int64, optional, tag = "1")]
    pub memory: Option<i64>,
    #[prost(int32, optional, tag = "2")]
    pub virtual_cores: Option<i32>,
}

#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct PriorityProto {
    #[prost(int32, optional, tag = "1")]
    pub priority: Option<i32>,
}

#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct NodeIdProto {
    #[prost(string, optional, tag = "1")]
    pub host: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub port: Option<i32>,
}

/// `ContainerStateProto`.
pub mod container_state {
    pub const C_NEW: i32 = 1;
    pub const C_RUNNING: i32 = 2;
    pub const C_COMPLETE: i32 = 3;
}

/// `FinalApplicationStatusProto`.
pub mod final_status {
    pub const APP_UNDEFINED: i32 = 0;
    pub const APP_SUCCEEDED: i32 = 1;
    pub const APP_FAILED: i32 = 2;
    pub const APP_KILLED: i32 = 3;
    pub const APP_ENDED: i32 = 4;
}

/// `LocalResourceTypeProto`.
pub mod local_resource_type {
    pub const ARCHIVE: i32 = 1;
    pub const FILE: i32 = 2;
    pub const PATTERN: i32 = 3;
}

/// `LocalResourceVisibilityProto`.
pub mod local_resource_visibility {
    pub const PUBLIC: i32 = 1;
    pub const PRIVATE: i32 = 2;
    pub const APPLICATION: i32 = 3;
}

/// `AMCommandProto`.
pub mod am_command {
    pub const AM_RESYNC: i32 = 1;
    pub const AM_SHUTDOWN: i32 = 2;
}

/// `ExecutionTypeProto.GUARANTEED`.
pub const EXECUTION_TYPE_GUARANTEED: i32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerProto {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ContainerIdProto>,
    #[prost(message, optional, tag = "2")]
    pub node_id: Option<NodeIdProto>,
    #[prost(string, optional, tag = "3")]
    pub node_http_address: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub resource: Option<ResourceProto>,
    #[prost(message, optional, tag = "5")]
    pub priority: Option<PriorityProto>,
    #[prost(message, optional, tag = "6")]
    pub container_token: Option<TokenProto>,
    #[prost(int32, optional, tag = "7")]
    pub execution_type: Option<i32>,
    #[prost(int64, optional, tag = "8")]
    pub allocation_request_id: Option<i64>,
    #[prost(int32, optional, tag = "9")]
    pub version: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UrlProto {
    #[prost(string, optional, tag = "1")]
    pub scheme: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub host: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub port: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub file: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub user_info: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LocalResourceProto {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<UrlProto>,
    #[prost(int64, optional, tag = "2")]
    pub size: Option<i64>,
    #[prost(int64, optional, tag = "3")]
    pub timestamp: Option<i64>,
    #[prost(int32, optional, tag = "4")]
    pub r#type: Option<i32>,
    #[prost(int32, optional, tag = "5")]
    pub visibility: Option<i32>,
    #[prost(string, optional, tag = "6")]
    pub pattern: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringLocalResourceMapProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub value: Option<LocalResourceProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringMapProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringBytesMapProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub value: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationAclMapProto {
    #[prost(int32, optional, tag = "1")]
    pub access_type: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub acl: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerLaunchContextProto {
    #[prost(message, repeated, tag = "1")]
    pub local_resources: Vec<StringLocalResourceMapProto>,
    /// A token storage stream (`Credentials.writeTokenStorageToStream`).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub tokens: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "3")]
    pub service_data: Vec<StringBytesMapProto>,
    #[prost(message, repeated, tag = "4")]
    pub environment: Vec<StringStringMapProto>,
    #[prost(string, repeated, tag = "5")]
    pub command: Vec<String>,
    #[prost(message, repeated, tag = "6")]
    pub application_acls: Vec<ApplicationAclMapProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStatusProto {
    #[prost(message, optional, tag = "1")]
    pub container_id: Option<ContainerIdProto>,
    #[prost(int32, optional, tag = "2")]
    pub state: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub diagnostics: Option<String>,
    #[prost(int32, optional, tag = "4")]
    pub exit_status: Option<i32>,
    #[prost(message, optional, tag = "5")]
    pub capability: Option<ResourceProto>,
    #[prost(int32, optional, tag = "6")]
    pub execution_type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceRequestProto {
    #[prost(message, optional, tag = "1")]
    pub priority: Option<PriorityProto>,
    #[prost(string, optional, tag = "2")]
    pub resource_name: Option<String>,
    #[prost(message, optional, tag = "3")]
    pub capability: Option<ResourceProto>,
    #[prost(int32, optional, tag = "4")]
    pub num_containers: Option<i32>,
    #[prost(bool, optional, tag = "5")]
    pub relax_locality: Option<bool>,
    #[prost(string, optional, tag = "6")]
    pub node_label_expression: Option<String>,
    #[prost(int64, optional, tag = "8")]
    pub allocation_request_id: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceBlacklistRequestProto {
    #[prost(string, repeated, tag = "1")]
    pub blacklist_additions: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub blacklist_removals: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterApplicationMasterRequestProto {
    #[prost(string, optional, tag = "1")]
    pub host: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub rpc_port: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub tracking_url: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterApplicationMasterResponseProto {
    #[prost(message, optional, tag = "1")]
    pub maximum_capability: Option<ResourceProto>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub client_to_am_token_master_key: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "3")]
    pub application_acls: Vec<ApplicationAclMapProto>,
    #[prost(message, repeated, tag = "4")]
    pub containers_from_previous_attempts: Vec<ContainerProto>,
    #[prost(string, optional, tag = "5")]
    pub queue: Option<String>,
    #[prost(message, repeated, tag = "6")]
    pub nm_tokens_from_previous_attempts: Vec<NmTokenProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FinishApplicationMasterRequestProto {
    #[prost(string, optional, tag = "1")]
    pub diagnostics: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub tracking_url: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub final_application_status: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FinishApplicationMasterResponseProto {
    #[prost(bool, optional, tag = "1")]
    pub is_unregistered: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub ask: Vec<ResourceRequestProto>,
    #[prost(message, repeated, tag = "2")]
    pub release: Vec<ContainerIdProto>,
    #[prost(message, optional, tag = "3")]
    pub blacklist_request: Option<ResourceBlacklistRequestProto>,
    #[prost(int32, optional, tag = "4")]
    pub response_id: Option<i32>,
    #[prost(float, optional, tag = "5")]
    pub progress: Option<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NmTokenProto {
    #[prost(message, optional, tag = "1")]
    pub node_id: Option<NodeIdProto>,
    #[prost(message, optional, tag = "2")]
    pub token: Option<TokenProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateResponseProto {
    #[prost(int32, optional, tag = "1")]
    pub a_m_command: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub response_id: Option<i32>,
    #[prost(message, repeated, tag = "3")]
    pub allocated_containers: Vec<ContainerProto>,
    #[prost(message, repeated, tag = "4")]
    pub completed_container_statuses: Vec<ContainerStatusProto>,
    #[prost(message, optional, tag = "5")]
    pub limit: Option<ResourceProto>,
    #[prost(int32, optional, tag = "7")]
    pub num_cluster_nodes: Option<i32>,
    #[prost(message, repeated, tag = "9")]
    pub nm_tokens: Vec<NmTokenProto>,
    #[prost(message, optional, tag = "12")]
    pub am_rm_token: Option<TokenProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SerializedExceptionProto {
    #[prost(string, optional, tag = "1")]
    pub message: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub trace: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub class_name: Option<String>,
    #[prost(message, optional, boxed, tag = "4")]
    pub cause: Option<Box<SerializedExceptionProto>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainerRequestProto {
    #[prost(message, optional, tag = "1")]
    pub container_launch_context: Option<ContainerLaunchContextProto>,
    #[prost(message, optional, tag = "2")]
    pub container_token: Option<TokenProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainersRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub start_container_request: Vec<StartContainerRequestProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerExceptionMapProto {
    #[prost(message, optional, tag = "1")]
    pub container_id: Option<ContainerIdProto>,
    #[prost(message, optional, tag = "2")]
    pub exception: Option<SerializedExceptionProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainersResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub services_meta_data: Vec<StringBytesMapProto>,
    #[prost(message, repeated, tag = "2")]
    pub succeeded_requests: Vec<ContainerIdProto>,
    #[prost(message, repeated, tag = "3")]
    pub failed_requests: Vec<ContainerExceptionMapProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StopContainersRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub container_id: Vec<ContainerIdProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StopContainersResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub succeeded_requests: Vec<ContainerIdProto>,
    #[prost(message, repeated, tag = "2")]
    pub failed_requests: Vec<ContainerExceptionMapProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetContainerStatusesRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub container_id: Vec<ContainerIdProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetContainerStatusesResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub status: Vec<ContainerStatusProto>,
    #[prost(message, repeated, tag = "2")]
    pub failed_requests: Vec<ContainerExceptionMapProto>,
}

/// `yarn_security_token.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AmrmTokenIdentifierProto {
    #[prost(message, optional, tag = "1")]
    pub app_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(int32, optional, tag = "2")]
    pub key_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NmTokenIdentifierProto {
    #[prost(message, optional, tag = "1")]
    pub app_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(message, optional, tag = "2")]
    pub node_id: Option<NodeIdProto>,
    #[prost(string, optional, tag = "3")]
    pub app_submitter: Option<String>,
    #[prost(int32, optional, tag = "4")]
    pub key_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerTokenIdentifierProto {
    #[prost(message, optional, tag = "1")]
    pub container_id: Option<ContainerIdProto>,
    #[prost(string, optional, tag = "2")]
    pub nm_host_addr: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub app_submitter: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub resource: Option<ResourceProto>,
    #[prost(int64, optional, tag = "5")]
    pub expiry_time_stamp: Option<i64>,
    #[prost(int32, optional, tag = "6")]
    pub master_key_id: Option<i32>,
    #[prost(int64, optional, tag = "7")]
    pub rm_identifier: Option<i64>,
    #[prost(message, optional, tag = "8")]
    pub priority: Option<PriorityProto>,
    #[prost(int64, optional, tag = "9")]
    pub creation_time: Option<i64>,
    #[prost(int32, optional, tag = "12")]
    pub container_type: Option<i32>,
    #[prost(int32, optional, tag = "13")]
    pub execution_type: Option<i32>,
    #[prost(int32, optional, tag = "14")]
    pub version: Option<i32>,
    #[prost(int64, optional, tag = "15")]
    pub allocation_request_id: Option<i64>,
}

/// `ContainerTypeProto`.
pub mod container_type {
    pub const APPLICATION_MASTER: i32 = 1;
    pub const TASK: i32 = 2;
}
