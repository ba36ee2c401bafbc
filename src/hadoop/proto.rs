//! Hadoop Common's protobuf messages, written by hand with the field numbers of Hadoop's
//! `RpcHeader.proto`, `IpcConnectionContext.proto`, `ProtobufRpcEngine.proto` and
//! `Security.proto` (packages `hadoop.common`). Only the fields Strato reads or writes are
//! declared; prost skips unknown fields, as protobuf requires.

/// `RpcKindProto.RPC_PROTOCOL_BUFFER`: every YARN call uses the protobuf engine.
pub const RPC_PROTOCOL_BUFFER: i32 = 2;
/// `RpcRequestHeaderProto.OperationProto.RPC_FINAL_PACKET`.
pub const RPC_FINAL_PACKET: i32 = 0;
/// `RpcRequestHeaderProto.OperationProto.RPC_CLOSE_CONNECTION`.
pub const RPC_CLOSE_CONNECTION: i32 = 2;

/// `hadoop.common.RpcRequestHeaderProto`: precedes every frame a client sends.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcRequestHeaderProto {
    #[prost(int32, optional, tag = "1")]
    pub rpc_kind: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub rpc_op: Option<i32>,
    /// `sint32` since Hadoop 2.1: the special negative ids (-3, -4, -33) stay small.
    #[prost(sint32, required, tag = "3")]
    pub call_id: i32,
    #[prost(bytes = "vec", required, tag = "4")]
    pub client_id: Vec<u8>,
    #[prost(sint32, optional, tag = "5")]
    pub retry_count: Option<i32>,
}

/// `RpcResponseHeaderProto.RpcStatusProto`.
pub mod rpc_status {
    pub const SUCCESS: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const FATAL: i32 = 2;
}

/// `RpcResponseHeaderProto.RpcErrorCodeProto`.
pub mod rpc_error_code {
    pub const ERROR_APPLICATION: i32 = 1;
    pub const ERROR_NO_SUCH_METHOD: i32 = 2;
    pub const ERROR_NO_SUCH_PROTOCOL: i32 = 3;
    pub const ERROR_RPC_SERVER: i32 = 4;
    pub const FATAL_UNKNOWN: i32 = 10;
    pub const FATAL_INVALID_RPC_HEADER: i32 = 12;
    pub const FATAL_DESERIALIZING_REQUEST: i32 = 13;
    pub const FATAL_VERSION_MISMATCH: i32 = 14;
    pub const FATAL_UNAUTHORIZED: i32 = 15;
}

/// `hadoop.common.RpcResponseHeaderProto`: precedes every frame a server sends.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcResponseHeaderProto {
    /// `uint32` on the wire: the SASL call id -33 travels as 4294967263.
    #[prost(uint32, required, tag = "1")]
    pub call_id: u32,
    #[prost(int32, required, tag = "2")]
    pub status: i32,
    #[prost(uint32, optional, tag = "3")]
    pub server_ipc_version_num: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub exception_class_name: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub error_msg: Option<String>,
    #[prost(int32, optional, tag = "6")]
    pub error_detail: Option<i32>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub client_id: Option<Vec<u8>>,
    #[prost(sint32, optional, tag = "8")]
    pub retry_count: Option<i32>,
}

/// `RpcSaslProto.SaslState`.
pub mod sasl_state {
    pub const SUCCESS: i32 = 0;
    pub const NEGOTIATE: i32 = 1;
    pub const INITIATE: i32 = 2;
    pub const CHALLENGE: i32 = 3;
    pub const RESPONSE: i32 = 4;
}

/// `hadoop.common.RpcSaslProto`: the SASL exchange, sent with call id -33.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcSaslProto {
    #[prost(uint32, optional, tag = "1")]
    pub version: Option<u32>,
    #[prost(int32, required, tag = "2")]
    pub state: i32,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub token: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "4")]
    pub auths: Vec<SaslAuth>,
}

/// `hadoop.common.RpcSaslProto.SaslAuth`: one authentication method a server offers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SaslAuth {
    #[prost(string, required, tag = "1")]
    pub method: String,
    #[prost(string, required, tag = "2")]
    pub mechanism: String,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub server_id: Option<String>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub challenge: Option<Vec<u8>>,
}

/// `hadoop.common.UserInformationProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserInformationProto {
    #[prost(string, optional, tag = "1")]
    pub effective_user: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub real_user: Option<String>,
}

/// `hadoop.common.IpcConnectionContextProto`, sent once with call id -3.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpcConnectionContextProto {
    #[prost(message, optional, tag = "2")]
    pub user_info: Option<UserInformationProto>,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
}

/// `hadoop.common.RequestHeaderProto` of `ProtobufRpcEngine.proto`: names the method.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestHeaderProto {
    #[prost(string, required, tag = "1")]
    pub method_name: String,
    #[prost(string, required, tag = "2")]
    pub declaring_class_protocol_name: String,
    #[prost(uint64, required, tag = "3")]
    pub client_protocol_version: u64,
}

/// `hadoop.common.TokenProto` of `Security.proto`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TokenProto {
    #[prost(bytes = "vec", required, tag = "1")]
    pub identifier: Vec<u8>,
    #[prost(bytes = "vec", required, tag = "2")]
    pub password: Vec<u8>,
    #[prost(string, required, tag = "3")]
    pub kind: String,
    #[prost(string, required, tag = "4")]
    pub service: String,
}

/// `hadoop.common.CredentialsKVProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialsKvProto {
    #[prost(string, required, tag = "1")]
    pub alias: String,
    #[prost(message, optional, tag = "2")]
    pub token: Option<TokenProto>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub secret: Option<Vec<u8>>,
}

/// `hadoop.common.CredentialsProto`: the body of a version-1 token storage file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialsProto {
    #[prost(message, repeated, tag = "1")]
    pub tokens: Vec<CredentialsKvProto>,
    #[prost(message, repeated, tag = "2")]
    pub secrets: Vec<CredentialsKvProto>,
}
