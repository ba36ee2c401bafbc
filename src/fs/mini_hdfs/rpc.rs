//! The server side of Hadoop RPC as the NameNode speaks it, without SASL (simple auth):
//! the `hrpc` preamble (version 9, service class, auth protocol), length-prefixed frames of
//! varint-delimited `RpcRequestHeaderProto` + `IpcConnectionContextProto` (call id -3) or
//! `RequestHeaderProto` + request, and `RpcResponseHeaderProto` + response back.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;

use prost::Message;

use super::proto::*;

/// The only RPC version Hadoop 3 speaks.
const RPC_VERSION: u8 = 9;
/// `AuthProtocol.NONE`; SASL is -33.
const AUTH_PROTOCOL_NONE: u8 = 0;
const CONNECTION_CONTEXT_CALL_ID: i32 = -3;
const PING_CALL_ID: i32 = -4;
/// Hadoop's default `ipc.maximum.data.length`.
const MAX_FRAME_LEN: usize = 128 * 1024 * 1024;

/// An exception to send back: the Java class name and its message, as a real server would.
#[derive(Debug, Clone)]
pub(crate) struct RemoteException {
    pub class: &'static str,
    pub message: String,
}

impl RemoteException {
    pub(crate) fn new(class: &'static str, message: impl Into<String>) -> Self {
        RemoteException {
            class,
            message: message.into(),
        }
    }
}

/// Who is calling: the user from the connection context and the client's address.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: String,
    pub host: String,
}

/// One RPC protocol implementation: gets the method name and the delimited request bytes,
/// returns the delimited response bytes.
pub(crate) trait RpcService: Send + Sync {
    /// The protocol name clients put in the connection context and request headers.
    fn protocol(&self) -> &'static str;
    fn call(
        &self,
        caller: &Caller,
        method: &str,
        request: &[u8],
    ) -> Result<Vec<u8>, RemoteException>;
}

/// Decodes a delimited request or fails the call the way Hadoop does.
pub(crate) fn decode<M: Message + Default>(request: &[u8]) -> Result<M, RemoteException> {
    M::decode_length_delimited(request).map_err(|e| {
        RemoteException::new(
            "org.apache.hadoop.ipc.RpcServerException",
            format!("cannot decode the request: {e}"),
        )
    })
}

/// Encodes a delimited response.
pub(crate) fn encode<M: Message>(response: &M) -> Vec<u8> {
    response.encode_length_delimited_to_vec()
}

/// Serves one client connection until it closes.
pub(crate) fn serve_connection(stream: TcpStream, service: &dyn RpcService) {
    let host = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    if let Err(e) = serve(stream, service, host) {
        if e.kind() != io::ErrorKind::UnexpectedEof {
            tracing::debug!("RPC connection ended: {e}");
        }
    }
}

fn serve(stream: TcpStream, service: &dyn RpcService, host: String) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut preamble = [0u8; 7];
    reader.read_exact(&mut preamble)?;
    if &preamble[..4] != b"hrpc" || preamble[4] != RPC_VERSION {
        // A real server answers a bad version with a fatal header; a wrong magic is dropped.
        if &preamble[..4] == b"hrpc" {
            send_fatal(
                &mut writer,
                -1,
                "org.apache.hadoop.ipc.RPC$VersionMismatch",
                &format!(
                    "Server IPC version {RPC_VERSION} cannot communicate with client version {}",
                    preamble[4]
                ),
                6,
            )?;
        }
        return Ok(());
    }
    if preamble[6] != AUTH_PROTOCOL_NONE {
        send_fatal(
            &mut writer,
            -33,
            "org.apache.hadoop.security.AccessControlException",
            "SASL authentication is not enabled on this mini HDFS (simple authentication only)",
            RPC_FATAL_UNSUPPORTED_SERIALIZATION,
        )?;
        return Ok(());
    }
    let mut caller = Caller {
        user: String::new(),
        host,
    };
    loop {
        let frame = read_frame(&mut reader)?;
        let mut buf = frame.as_slice();
        let Ok(header) = RpcRequestHeaderProto::decode_length_delimited(&mut buf) else {
            send_fatal(
                &mut writer,
                -1,
                "org.apache.hadoop.ipc.RpcServerException",
                "cannot decode the RPC request header",
                12,
            )?;
            return Ok(());
        };
        match header.call_id {
            CONNECTION_CONTEXT_CALL_ID => {
                let context = IpcConnectionContextProto::decode_length_delimited(&mut buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                let user = context.user_info.unwrap_or_default();
                caller.user = user.effective_user.or(user.real_user).unwrap_or_default();
                if let Some(protocol) = context.protocol {
                    if protocol != service.protocol() {
                        send_fatal(
                            &mut writer,
                            -3,
                            "org.apache.hadoop.ipc.RpcNoSuchProtocolException",
                            &format!("Unknown protocol: {protocol}"),
                            RPC_ERROR_NO_SUCH_PROTOCOL,
                        )?;
                        return Ok(());
                    }
                }
            }
            PING_CALL_ID => {}
            call_id if call_id < 0 => {}
            call_id => {
                let outcome = match RequestHeaderProto::decode_length_delimited(&mut buf) {
                    Err(e) => Err((
                        RemoteException::new(
                            "org.apache.hadoop.ipc.RpcServerException",
                            format!("cannot decode the request header: {e}"),
                        ),
                        RPC_FATAL_DESERIALIZING_REQUEST,
                    )),
                    Ok(request) if request.declaring_class_protocol_name != service.protocol() => {
                        Err((
                            RemoteException::new(
                                "org.apache.hadoop.ipc.RpcNoSuchProtocolException",
                                format!(
                                    "Unknown protocol: {}",
                                    request.declaring_class_protocol_name
                                ),
                            ),
                            RPC_ERROR_NO_SUCH_PROTOCOL,
                        ))
                    }
                    Ok(request) => service
                        .call(&caller, &request.method_name, buf)
                        .map_err(|e| {
                            let code = if e.class == NO_SUCH_METHOD {
                                RPC_ERROR_NO_SUCH_METHOD
                            } else {
                                RPC_ERROR_APPLICATION
                            };
                            (e, code)
                        }),
                };
                let mut response = RpcResponseHeaderProto {
                    call_id: call_id as u32,
                    status: RPC_STATUS_SUCCESS,
                    server_ipc_version_num: Some(u32::from(RPC_VERSION)),
                    exception_class_name: None,
                    error_msg: None,
                    error_detail: None,
                    client_id: Some(header.client_id.clone()),
                    retry_count: header.retry_count,
                };
                let body = match outcome {
                    Ok(body) => body,
                    Err((exception, code)) => {
                        response.status = RPC_STATUS_ERROR;
                        response.exception_class_name = Some(exception.class.to_string());
                        response.error_msg = Some(exception.message);
                        response.error_detail = Some(code);
                        Vec::new()
                    }
                };
                write_frame(&mut writer, &response, &body)?;
            }
        }
    }
}

/// The exception class of calls to methods the server does not implement.
pub(crate) const NO_SUCH_METHOD: &str = "org.apache.hadoop.ipc.RpcNoSuchMethodException";

fn read_frame(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("RPC frame of {len} bytes is larger than {MAX_FRAME_LEN}"),
        ));
    }
    let mut frame = vec![0u8; len];
    reader.read_exact(&mut frame)?;
    Ok(frame)
}

fn write_frame(
    writer: &mut impl Write,
    header: &RpcResponseHeaderProto,
    body: &[u8],
) -> io::Result<()> {
    let header = header.encode_length_delimited_to_vec();
    writer.write_all(&((header.len() + body.len()) as u32).to_be_bytes())?;
    writer.write_all(&header)?;
    writer.write_all(body)?;
    writer.flush()
}

fn send_fatal(
    writer: &mut impl Write,
    call_id: i32,
    class: &str,
    message: &str,
    code: i32,
) -> io::Result<()> {
    let header = RpcResponseHeaderProto {
        call_id: call_id as u32,
        status: RPC_STATUS_FATAL,
        server_ipc_version_num: Some(u32::from(RPC_VERSION)),
        exception_class_name: Some(class.to_string()),
        error_msg: Some(message.to_string()),
        error_detail: Some(code),
        client_id: None,
        retry_count: None,
    };
    write_frame(writer, &header, &[])
}
