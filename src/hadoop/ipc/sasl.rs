//! The SASL messages of Hadoop RPC (`RpcSaslProto`, call id -33), built in one place so the
//! client and the server send exactly what `SaslRpcClient` and `Server` send.

use super::digest::SASL_DEFAULT_REALM;
use super::frame::{encode_frame, request_header, INVALID_RETRY_COUNT, RPC_VERSION, SASL_CALL_ID};
use super::AuthMethod;
use crate::hadoop::proto::{
    rpc_status, sasl_state, RpcResponseHeaderProto, RpcSaslProto, SaslAuth,
};

fn message(state: i32, token: Option<Vec<u8>>, auths: Vec<SaslAuth>) -> RpcSaslProto {
    RpcSaslProto {
        version: None,
        state,
        token,
        auths,
    }
}

/// The `SaslAuth` a server advertises for a method (`SaslRpcServer`): TOKEN is DIGEST-MD5
/// with protocol `""` and server id `default`; SIMPLE has an empty mechanism.
pub fn auth_for(method: AuthMethod, challenge: Option<Vec<u8>>) -> SaslAuth {
    let token = method == AuthMethod::Token;
    SaslAuth {
        method: method.name().into(),
        mechanism: method.mechanism().into(),
        protocol: token.then(String::new),
        server_id: token.then(|| SASL_DEFAULT_REALM.to_string()),
        challenge: if token { challenge } else { None },
    }
}

/// Client: `NEGOTIATE`, the first message after the preamble.
pub fn negotiate() -> RpcSaslProto {
    message(sasl_state::NEGOTIATE, None, vec![])
}

/// Client: `INITIATE` with the chosen auth (its challenge removed) and the first response.
pub fn initiate(mut chosen: SaslAuth, token: Option<Vec<u8>>) -> RpcSaslProto {
    chosen.challenge = None;
    message(sasl_state::INITIATE, token, vec![chosen])
}

/// Client: `RESPONSE` to a `CHALLENGE`.
pub fn response(token: Vec<u8>) -> RpcSaslProto {
    message(sasl_state::RESPONSE, Some(token), vec![])
}

/// Server: the answer to `NEGOTIATE` (`Server.buildNegotiateResponse`): a SIMPLE-only
/// server answers `SUCCESS` (the client switches to simple); otherwise `NEGOTIATE` listing
/// the methods, the TOKEN entry carrying the first DIGEST-MD5 challenge.
pub fn negotiate_response(methods: &[AuthMethod], challenge: Option<Vec<u8>>) -> RpcSaslProto {
    if methods == [AuthMethod::Simple] {
        return message(sasl_state::SUCCESS, None, vec![]);
    }
    let auths = methods
        .iter()
        .map(|m| auth_for(*m, challenge.clone()))
        .collect();
    message(sasl_state::NEGOTIATE, None, auths)
}

/// Server: `SUCCESS`, with DIGEST-MD5's `rspauth`.
pub fn success(token: Option<Vec<u8>>) -> RpcSaslProto {
    message(sasl_state::SUCCESS, token, vec![])
}

/// A client SASL frame (`ProtoUtil.makeRpcRequestHeader` with the dummy client id).
pub fn client_frame(msg: &RpcSaslProto) -> Vec<u8> {
    let header = request_header(SASL_CALL_ID, INVALID_RETRY_COUNT, &[]);
    encode_frame(&[&header, msg])
}

/// `Server.setupResponse`: every response header names the call id, status, server IPC
/// version, and echoes the call's client id and retry count.
pub fn response_header(
    call_id: i32,
    status: i32,
    client_id: &[u8],
    retry_count: i32,
) -> RpcResponseHeaderProto {
    RpcResponseHeaderProto {
        call_id: call_id as u32,
        status,
        server_ipc_version_num: Some(RPC_VERSION as u32),
        exception_class_name: None,
        error_msg: None,
        error_detail: None,
        client_id: Some(client_id.to_vec()),
        retry_count: Some(retry_count),
    }
}

/// A server SASL frame.
pub fn server_frame(msg: &RpcSaslProto) -> Vec<u8> {
    let header = response_header(SASL_CALL_ID, rpc_status::SUCCESS, &[], INVALID_RETRY_COUNT);
    encode_frame(&[&header, msg])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header of every server SASL frame: callId -33 (uint32), SUCCESS, version 9, empty
    /// client id, retryCount -1.
    const SERVER_SASL_HEADER: [u8; 14] = [
        0x08, 0xdf, 0xff, 0xff, 0xff, 0x0f, 0x10, 0x00, 0x18, 0x09, 0x3a, 0x00, 0x40, 0x01,
    ];

    fn frame(header: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let len = 1 + header.len() + 1 + body.len();
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.push(header.len() as u8);
        out.extend_from_slice(header);
        out.push(body.len() as u8);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn token_server_negotiate_response_bytes() {
        let msg = negotiate_response(&[AuthMethod::Token], Some(b"C".to_vec()));
        let body = [
            0x10, 0x01, // state NEGOTIATE
            0x22, 0x21, // auths[0], 33 bytes
            0x0a, 0x05, b'T', b'O', b'K', b'E', b'N', // method
            0x12, 0x0a, b'D', b'I', b'G', b'E', b'S', b'T', b'-', b'M', b'D',
            b'5', // mechanism
            0x1a, 0x00, // protocol ""
            0x22, 0x07, b'd', b'e', b'f', b'a', b'u', b'l', b't', // serverId
            0x2a, 0x01, b'C', // challenge
        ];
        assert_eq!(server_frame(&msg), frame(&SERVER_SASL_HEADER, &body));
    }

    #[test]
    fn simple_only_server_answers_negotiate_with_success() {
        let msg = negotiate_response(&[AuthMethod::Simple], None);
        assert_eq!(
            server_frame(&msg),
            frame(&SERVER_SASL_HEADER, &[0x10, 0x00])
        );
    }

    #[test]
    fn client_initiate_bytes_drop_the_challenge() {
        let chosen = auth_for(AuthMethod::Token, Some(b"C".to_vec()));
        let msg = initiate(chosen, Some(b"R".to_vec()));
        let client_header = [0x08, 0x02, 0x10, 0x00, 0x18, 0x41, 0x22, 0x00, 0x28, 0x01];
        let body = [
            0x10, 0x02, // state INITIATE
            0x1a, 0x01, b'R', // token
            0x22, 0x1e, // auths[0], 30 bytes (no challenge)
            0x0a, 0x05, b'T', b'O', b'K', b'E', b'N', 0x12, 0x0a, b'D', b'I', b'G', b'E', b'S',
            b'T', b'-', b'M', b'D', b'5', 0x1a, 0x00, 0x22, 0x07, b'd', b'e', b'f', b'a', b'u',
            b'l', b't',
        ];
        assert_eq!(client_frame(&msg), frame(&client_header, &body));
    }

    #[test]
    fn success_carries_rspauth() {
        let msg = success(Some(b"rspauth=ab".to_vec()));
        let mut body = vec![0x10, 0x00, 0x1a, 0x0a];
        body.extend_from_slice(b"rspauth=ab");
        assert_eq!(server_frame(&msg), frame(&SERVER_SASL_HEADER, &body));
    }
}
