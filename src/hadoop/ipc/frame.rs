//! Hadoop IPC framing (`org.apache.hadoop.ipc.Client`/`Server`, protocol version 9):
//!
//! - connection preamble: `"hrpc"`, version byte 9, service class byte, auth protocol byte
//!   (0 = none/SIMPLE, -33 = SASL);
//! - every later message in either direction: a 4-byte big-endian length, then
//!   length-delimited protobuf messages (header first, then the body, if any).

use bytes::{Buf, Bytes};
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::hadoop::proto::{
    RpcRequestHeaderProto, RpcResponseHeaderProto, RPC_FINAL_PACKET, RPC_PROTOCOL_BUFFER,
};

pub const RPC_MAGIC: &[u8; 4] = b"hrpc";
/// `RpcConstants.CURRENT_VERSION`.
pub const RPC_VERSION: u8 = 9;
/// `AuthProtocol.NONE`.
pub const AUTH_PROTOCOL_NONE: u8 = 0;
/// `AuthProtocol.SASL` (-33 as a byte).
pub const AUTH_PROTOCOL_SASL: u8 = 0xDF;
/// Call id of the SASL exchange (`AuthProtocol.SASL.callId`).
pub const SASL_CALL_ID: i32 = -33;
/// `RpcConstants.CONNECTION_CONTEXT_CALL_ID`.
pub const CONNECTION_CONTEXT_CALL_ID: i32 = -3;
/// `RpcConstants.PING_CALL_ID`.
pub const PING_CALL_ID: i32 = -4;
/// `RpcConstants.INVALID_RETRY_COUNT`.
pub const INVALID_RETRY_COUNT: i32 = -1;
/// `ipc.maximum.data.length` default (128 MiB).
pub const MAX_DATA_LENGTH: usize = 128 * 1024 * 1024;

/// The 7-byte connection preamble.
pub fn preamble(service_class: u8, auth_protocol: u8) -> [u8; 7] {
    [
        b'h',
        b'r',
        b'p',
        b'c',
        RPC_VERSION,
        service_class,
        auth_protocol,
    ]
}

/// A request header as Hadoop's `ProtoUtil.makeRpcRequestHeader` builds it.
pub fn request_header(call_id: i32, retry_count: i32, client_id: &[u8]) -> RpcRequestHeaderProto {
    RpcRequestHeaderProto {
        rpc_kind: Some(RPC_PROTOCOL_BUFFER),
        rpc_op: Some(RPC_FINAL_PACKET),
        call_id,
        client_id: client_id.to_vec(),
        retry_count: Some(retry_count),
    }
}

/// One frame: the 4-byte total length, then each message length-delimited.
pub fn encode_frame(messages: &[&dyn EncodeDelimited]) -> Vec<u8> {
    let mut body = Vec::new();
    for m in messages {
        m.encode_delimited_into(&mut body);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Object-safe "write me length-delimited" so frames can mix message types.
pub trait EncodeDelimited: Sync {
    fn encode_delimited_into(&self, out: &mut Vec<u8>);
}

impl<M: Message> EncodeDelimited for M {
    fn encode_delimited_into(&self, out: &mut Vec<u8>) {
        self.encode_length_delimited(out)
            .expect("Vec<u8> grows as needed");
    }
}

/// Already-encoded message bytes, framed with their varint length.
pub struct RawMessage<'a>(pub &'a [u8]);

impl EncodeDelimited for RawMessage<'_> {
    fn encode_delimited_into(&self, out: &mut Vec<u8>) {
        prost::encoding::encode_varint(self.0.len() as u64, out);
        out.extend_from_slice(self.0);
    }
}

/// Errors reading a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("RPC data length of {0} exceeds maximum data length of {MAX_DATA_LENGTH}")]
    TooLong(usize),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed {what}: {source}")]
    Decode {
        what: &'static str,
        source: prost::DecodeError,
    },
}

/// Reads one length-prefixed frame; `Closed` on a clean EOF before the length.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Bytes, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_DATA_LENGTH {
        return Err(FrameError::TooLong(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}

/// Takes one length-delimited message off the front of `buf`.
pub fn take_delimited<M: Message + Default>(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<M, FrameError> {
    M::decode_length_delimited(&mut *buf).map_err(|source| FrameError::Decode { what, source })
}

/// Takes one length-delimited body off the front of `buf` without decoding it.
pub fn take_delimited_raw(buf: &mut Bytes, what: &'static str) -> Result<Bytes, FrameError> {
    let len = prost::encoding::decode_varint(&mut *buf)
        .map_err(|source| FrameError::Decode { what, source })? as usize;
    if len > buf.remaining() {
        return Err(FrameError::Decode {
            what,
            source: prost::DecodeError::new("length exceeds frame"),
        });
    }
    Ok(buf.split_to(len))
}

/// Response header call ids are `uint32`: negative ids travel as their two's complement.
pub fn response_call_id(header: &RpcResponseHeaderProto) -> i32 {
    header.call_id as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hadoop::proto::{
        sasl_state, IpcConnectionContextProto, RpcSaslProto, UserInformationProto,
    };

    #[test]
    fn preamble_bytes_match_hadoop() {
        assert_eq!(
            preamble(0, AUTH_PROTOCOL_SASL),
            [0x68, 0x72, 0x70, 0x63, 0x09, 0x00, 0xdf]
        );
        assert_eq!(preamble(0, AUTH_PROTOCOL_NONE), *b"hrpc\x09\x00\x00");
    }

    #[test]
    fn sasl_negotiate_frame_bytes() {
        let header = request_header(SASL_CALL_ID, INVALID_RETRY_COUNT, &[]);
        let sasl = RpcSaslProto {
            version: None,
            state: sasl_state::NEGOTIATE,
            token: None,
            auths: vec![],
        };
        let frame = encode_frame(&[&header, &sasl]);
        assert_eq!(
            frame,
            vec![
                0x00, 0x00, 0x00, 0x0e, // total length 14
                0x0a, // header length 10
                0x08, 0x02, // rpcKind = RPC_PROTOCOL_BUFFER
                0x10, 0x00, // rpcOp = RPC_FINAL_PACKET
                0x18, 0x41, // callId = -33 (zigzag 65)
                0x22, 0x00, // clientId = empty
                0x28, 0x01, // retryCount = -1 (zigzag 1)
                0x02, 0x10, 0x01, // RpcSaslProto { state: NEGOTIATE }
            ]
        );
    }

    #[test]
    fn connection_context_frame_bytes() {
        let client_id = [0xabu8; 16];
        let header = request_header(CONNECTION_CONTEXT_CALL_ID, INVALID_RETRY_COUNT, &client_id);
        let ctx = IpcConnectionContextProto {
            user_info: Some(UserInformationProto {
                effective_user: Some("bob".into()),
                real_user: None,
            }),
            protocol: Some("p".into()),
        };
        let frame = encode_frame(&[&header, &ctx]);
        let mut expected_header = vec![0x08, 0x02, 0x10, 0x00, 0x18, 0x05, 0x22, 0x10];
        expected_header.extend_from_slice(&client_id);
        expected_header.extend_from_slice(&[0x28, 0x01]);
        let expected_ctx = vec![0x12, 0x05, 0x0a, 0x03, b'b', b'o', b'b', 0x1a, 0x01, b'p'];
        let mut expected = Vec::new();
        let total = 1 + expected_header.len() + 1 + expected_ctx.len();
        expected.extend_from_slice(&(total as u32).to_be_bytes());
        expected.push(expected_header.len() as u8);
        expected.extend_from_slice(&expected_header);
        expected.push(expected_ctx.len() as u8);
        expected.extend_from_slice(&expected_ctx);
        assert_eq!(frame, expected);
    }

    #[test]
    fn token_connection_context_carries_empty_user_info() {
        let ctx = crate::hadoop::ipc::client::connection_context(
            "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB",
            "ignored",
            crate::hadoop::ipc::AuthMethod::Token,
        );
        let bytes = prost::Message::encode_to_vec(&ctx);
        assert_eq!(&bytes[..4], &[0x12, 0x00, 0x1a, 54]);
        assert_eq!(
            &bytes[4..],
            b"org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB"
        );
    }

    #[test]
    fn sasl_response_call_id_is_uint32() {
        let h = RpcResponseHeaderProto {
            call_id: SASL_CALL_ID as u32,
            status: 0,
            ..Default::default()
        };
        let bytes = h.encode_to_vec();
        // field 1 varint 0xFFFFFFDF: five bytes, as protobuf-java writes a negative uint32.
        assert_eq!(&bytes[..6], &[0x08, 0xdf, 0xff, 0xff, 0xff, 0x0f]);
        let back = RpcResponseHeaderProto::decode(&bytes[..]).unwrap();
        assert_eq!(response_call_id(&back), SASL_CALL_ID);
    }
}
