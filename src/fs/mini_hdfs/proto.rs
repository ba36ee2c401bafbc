//! Hadoop's protobuf messages that the mini HDFS reads and writes, written by hand with the
//! field numbers of `hdfs.proto`, `ClientNamenodeProtocol.proto` and `datatransfer.proto`.
//! Only the fields the server looks at or must send are declared; prost skips unknown fields
//! on decode. Enum fields are plain `int32` with the values as constants below.

use prost::Message;

/// `Security.proto`'s token message, shared with the RPC layer.
pub use crate::hadoop::proto::TokenProto;

// ---- hdfs.proto ----

#[derive(Clone, PartialEq, Message)]
pub struct ExtendedBlockProto {
    #[prost(string, required, tag = "1")]
    pub pool_id: String,
    #[prost(uint64, required, tag = "2")]
    pub block_id: u64,
    #[prost(uint64, required, tag = "3")]
    pub generation_stamp: u64,
    #[prost(uint64, optional, tag = "4")]
    pub num_bytes: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DatanodeIdProto {
    #[prost(string, required, tag = "1")]
    pub ip_addr: String,
    #[prost(string, required, tag = "2")]
    pub host_name: String,
    #[prost(string, required, tag = "3")]
    pub datanode_uuid: String,
    #[prost(uint32, required, tag = "4")]
    pub xfer_port: u32,
    #[prost(uint32, required, tag = "5")]
    pub info_port: u32,
    #[prost(uint32, required, tag = "6")]
    pub ipc_port: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct DatanodeInfoProto {
    #[prost(message, required, tag = "1")]
    pub id: DatanodeIdProto,
    #[prost(uint64, optional, tag = "2")]
    pub capacity: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub dfs_used: Option<u64>,
    #[prost(uint64, optional, tag = "4")]
    pub remaining: Option<u64>,
    #[prost(uint64, optional, tag = "6")]
    pub last_update: Option<u64>,
    #[prost(string, optional, tag = "8")]
    pub location: Option<String>,
    /// `AdminState`: NORMAL = 0.
    #[prost(int32, optional, tag = "10")]
    pub admin_state: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LocatedBlockProto {
    #[prost(message, required, tag = "1")]
    pub b: ExtendedBlockProto,
    #[prost(uint64, required, tag = "2")]
    pub offset: u64,
    #[prost(message, repeated, tag = "3")]
    pub locs: Vec<DatanodeInfoProto>,
    #[prost(bool, required, tag = "4")]
    pub corrupt: bool,
    #[prost(message, required, tag = "5")]
    pub block_token: TokenProto,
    #[prost(bool, repeated, packed = "true", tag = "6")]
    pub is_cached: Vec<bool>,
    /// `StorageTypeProto`: DISK = 1.
    #[prost(int32, repeated, packed = "false", tag = "7")]
    pub storage_types: Vec<i32>,
    #[prost(string, repeated, tag = "8")]
    pub storage_ids: Vec<String>,
}

pub const STORAGE_TYPE_DISK: i32 = 1;

#[derive(Clone, PartialEq, Message)]
pub struct LocatedBlocksProto {
    #[prost(uint64, required, tag = "1")]
    pub file_length: u64,
    #[prost(message, repeated, tag = "2")]
    pub blocks: Vec<LocatedBlockProto>,
    #[prost(bool, required, tag = "3")]
    pub under_construction: bool,
    #[prost(message, optional, tag = "4")]
    pub last_block: Option<LocatedBlockProto>,
    #[prost(bool, required, tag = "5")]
    pub is_last_block_complete: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct FsPermissionProto {
    #[prost(uint32, required, tag = "1")]
    pub perm: u32,
}

/// `HdfsFileStatusProto.FileType`.
pub const FILE_TYPE_DIR: i32 = 1;
pub const FILE_TYPE_FILE: i32 = 2;

#[derive(Clone, PartialEq, Message)]
pub struct HdfsFileStatusProto {
    #[prost(int32, required, tag = "1")]
    pub file_type: i32,
    #[prost(bytes = "vec", required, tag = "2")]
    pub path: Vec<u8>,
    #[prost(uint64, required, tag = "3")]
    pub length: u64,
    #[prost(message, required, tag = "4")]
    pub permission: FsPermissionProto,
    #[prost(string, required, tag = "5")]
    pub owner: String,
    #[prost(string, required, tag = "6")]
    pub group: String,
    #[prost(uint64, required, tag = "7")]
    pub modification_time: u64,
    #[prost(uint64, required, tag = "8")]
    pub access_time: u64,
    #[prost(uint32, optional, tag = "10")]
    pub block_replication: Option<u32>,
    #[prost(uint64, optional, tag = "11")]
    pub blocksize: Option<u64>,
    #[prost(message, optional, tag = "12")]
    pub locations: Option<LocatedBlocksProto>,
    #[prost(uint64, optional, tag = "13")]
    pub file_id: Option<u64>,
    #[prost(int32, optional, tag = "14")]
    pub children_num: Option<i32>,
    #[prost(uint32, optional, tag = "16")]
    pub storage_policy: Option<u32>,
    #[prost(uint32, optional, tag = "18")]
    pub flags: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DirectoryListingProto {
    #[prost(message, repeated, tag = "1")]
    pub partial_listing: Vec<HdfsFileStatusProto>,
    #[prost(uint32, required, tag = "2")]
    pub remaining_entries: u32,
}

/// `ChecksumTypeProto`.
pub const CHECKSUM_CRC32: i32 = 1;
pub const CHECKSUM_CRC32C: i32 = 2;

#[derive(Clone, PartialEq, Message)]
pub struct FsServerDefaultsProto {
    #[prost(uint64, required, tag = "1")]
    pub block_size: u64,
    #[prost(uint32, required, tag = "2")]
    pub bytes_per_checksum: u32,
    #[prost(uint32, required, tag = "3")]
    pub write_packet_size: u32,
    #[prost(uint32, required, tag = "4")]
    pub replication: u32,
    #[prost(uint32, required, tag = "5")]
    pub file_buffer_size: u32,
    #[prost(bool, optional, tag = "6")]
    pub encrypt_data_transfer: Option<bool>,
    #[prost(uint64, optional, tag = "7")]
    pub trash_interval: Option<u64>,
    #[prost(int32, optional, tag = "8")]
    pub checksum_type: Option<i32>,
}

// ---- ClientNamenodeProtocol.proto ----

#[derive(Clone, PartialEq, Message)]
pub struct GetFileInfoRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetFileInfoResponseProto {
    #[prost(message, optional, tag = "1")]
    pub fs: Option<HdfsFileStatusProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetListingRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(bytes = "vec", required, tag = "2")]
    pub start_after: Vec<u8>,
    #[prost(bool, required, tag = "3")]
    pub need_location: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetListingResponseProto {
    #[prost(message, optional, tag = "1")]
    pub dir_list: Option<DirectoryListingProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetBlockLocationsRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(uint64, required, tag = "2")]
    pub offset: u64,
    #[prost(uint64, required, tag = "3")]
    pub length: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetBlockLocationsResponseProto {
    #[prost(message, optional, tag = "1")]
    pub locations: Option<LocatedBlocksProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetServerDefaultsRequestProto {}

#[derive(Clone, PartialEq, Message)]
pub struct GetServerDefaultsResponseProto {
    #[prost(message, required, tag = "1")]
    pub server_defaults: FsServerDefaultsProto,
}

/// `CreateFlagProto` bits.
pub const CREATE_FLAG_CREATE: u32 = 1;
pub const CREATE_FLAG_OVERWRITE: u32 = 2;
pub const CREATE_FLAG_APPEND: u32 = 4;

#[derive(Clone, PartialEq, Message)]
pub struct CreateRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(message, required, tag = "2")]
    pub masked: FsPermissionProto,
    #[prost(string, required, tag = "3")]
    pub client_name: String,
    #[prost(uint32, required, tag = "4")]
    pub create_flag: u32,
    #[prost(bool, required, tag = "5")]
    pub create_parent: bool,
    #[prost(uint32, required, tag = "6")]
    pub replication: u32,
    #[prost(uint64, required, tag = "7")]
    pub block_size: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct CreateResponseProto {
    #[prost(message, optional, tag = "1")]
    pub fs: Option<HdfsFileStatusProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AddBlockRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(string, required, tag = "2")]
    pub client_name: String,
    #[prost(message, optional, tag = "3")]
    pub previous: Option<ExtendedBlockProto>,
    #[prost(uint64, optional, tag = "5")]
    pub file_id: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AddBlockResponseProto {
    #[prost(message, required, tag = "1")]
    pub block: LocatedBlockProto,
}

#[derive(Clone, PartialEq, Message)]
pub struct CompleteRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(string, required, tag = "2")]
    pub client_name: String,
    #[prost(message, optional, tag = "3")]
    pub last: Option<ExtendedBlockProto>,
    #[prost(uint64, optional, tag = "4")]
    pub file_id: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CompleteResponseProto {
    #[prost(bool, required, tag = "1")]
    pub result: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct MkdirsRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(message, required, tag = "2")]
    pub masked: FsPermissionProto,
    #[prost(bool, required, tag = "3")]
    pub create_parent: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct MkdirsResponseProto {
    #[prost(bool, required, tag = "1")]
    pub result: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Rename2RequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(string, required, tag = "2")]
    pub dst: String,
    #[prost(bool, required, tag = "3")]
    pub overwrite_dest: bool,
    #[prost(bool, optional, tag = "4")]
    pub move_to_trash: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Rename2ResponseProto {}

#[derive(Clone, PartialEq, Message)]
pub struct DeleteRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(bool, required, tag = "2")]
    pub recursive: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct DeleteResponseProto {
    #[prost(bool, required, tag = "1")]
    pub result: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct RenewLeaseRequestProto {
    #[prost(string, required, tag = "1")]
    pub client_name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct RenewLeaseResponseProto {}

#[derive(Clone, PartialEq, Message)]
pub struct FsyncRequestProto {
    #[prost(string, required, tag = "1")]
    pub src: String,
    #[prost(string, required, tag = "2")]
    pub client: String,
    #[prost(sint64, optional, tag = "3")]
    pub last_block_length: Option<i64>,
    #[prost(uint64, optional, tag = "4")]
    pub file_id: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FsyncResponseProto {}

// ---- datatransfer.proto ----

#[derive(Clone, PartialEq, Message)]
pub struct BaseHeaderProto {
    #[prost(message, required, tag = "1")]
    pub block: ExtendedBlockProto,
    #[prost(message, optional, tag = "2")]
    pub token: Option<TokenProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ClientOperationHeaderProto {
    #[prost(message, required, tag = "1")]
    pub base_header: BaseHeaderProto,
    #[prost(string, required, tag = "2")]
    pub client_name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ChecksumProto {
    #[prost(int32, required, tag = "1")]
    pub r#type: i32,
    #[prost(uint32, required, tag = "2")]
    pub bytes_per_checksum: u32,
}

/// `OpWriteBlockProto.BlockConstructionStage.PIPELINE_SETUP_CREATE`.
pub const STAGE_PIPELINE_SETUP_CREATE: i32 = 6;

#[derive(Clone, PartialEq, Message)]
pub struct OpWriteBlockProto {
    #[prost(message, required, tag = "1")]
    pub header: ClientOperationHeaderProto,
    #[prost(message, repeated, tag = "2")]
    pub targets: Vec<DatanodeInfoProto>,
    #[prost(int32, required, tag = "4")]
    pub stage: i32,
    #[prost(uint32, required, tag = "5")]
    pub pipeline_size: u32,
    #[prost(uint64, required, tag = "6")]
    pub min_bytes_rcvd: u64,
    #[prost(uint64, required, tag = "7")]
    pub max_bytes_rcvd: u64,
    #[prost(uint64, required, tag = "8")]
    pub latest_generation_stamp: u64,
    #[prost(message, required, tag = "9")]
    pub requested_checksum: ChecksumProto,
}

#[derive(Clone, PartialEq, Message)]
pub struct OpReadBlockProto {
    #[prost(message, required, tag = "1")]
    pub header: ClientOperationHeaderProto,
    #[prost(uint64, required, tag = "2")]
    pub offset: u64,
    #[prost(uint64, required, tag = "3")]
    pub len: u64,
    #[prost(bool, optional, tag = "4")]
    pub send_checksums: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ReadOpChecksumInfoProto {
    #[prost(message, required, tag = "1")]
    pub checksum: ChecksumProto,
    #[prost(uint64, required, tag = "2")]
    pub chunk_offset: u64,
}

/// `Status` of datatransfer.proto.
pub const STATUS_SUCCESS: i32 = 0;
pub const STATUS_ERROR: i32 = 1;
pub const STATUS_ERROR_CHECKSUM: i32 = 2;
pub const STATUS_ERROR_INVALID: i32 = 3;
pub const STATUS_ERROR_UNSUPPORTED: i32 = 7;

#[derive(Clone, PartialEq, Message)]
pub struct BlockOpResponseProto {
    #[prost(int32, required, tag = "1")]
    pub status: i32,
    #[prost(string, optional, tag = "2")]
    pub first_bad_link: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub read_op_checksum_info: Option<ReadOpChecksumInfoProto>,
    #[prost(string, optional, tag = "5")]
    pub message: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ClientReadStatusProto {
    #[prost(int32, required, tag = "1")]
    pub status: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct PacketHeaderProto {
    #[prost(sfixed64, required, tag = "1")]
    pub offset_in_block: i64,
    #[prost(sfixed64, required, tag = "2")]
    pub seqno: i64,
    #[prost(bool, required, tag = "3")]
    pub last_packet_in_block: bool,
    #[prost(sfixed32, required, tag = "4")]
    pub data_len: i32,
    #[prost(bool, optional, tag = "5")]
    pub sync_block: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PipelineAckProto {
    #[prost(sint64, required, tag = "1")]
    pub seqno: i64,
    #[prost(int32, repeated, packed = "false", tag = "2")]
    pub reply: Vec<i32>,
    #[prost(uint64, optional, tag = "3")]
    pub downstream_ack_time_nanos: Option<u64>,
    #[prost(uint32, repeated, packed = "true", tag = "4")]
    pub flag: Vec<u32>,
}
