//! Hadoop RPC server for one protocol, as `org.apache.hadoop.ipc.Server` behaves: reads the
//! preamble, refuses SIMPLE when it is not enabled (`SIMPLE authentication is not enabled.
//! Available:[TOKEN]`), runs the SASL exchange (challenge sent inside NEGOTIATE, as Hadoop
//! accelerates it), checks the connection context, then serves calls concurrently.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::digest::DigestServer;
use super::frame::{
    encode_frame, read_frame, take_delimited, take_delimited_raw, FrameError, RawMessage,
    AUTH_PROTOCOL_NONE, AUTH_PROTOCOL_SASL, CONNECTION_CONTEXT_CALL_ID, INVALID_RETRY_COUNT,
    PING_CALL_ID, RPC_MAGIC, RPC_VERSION, SASL_CALL_ID,
};
use super::{
    sasl, AuthMethod, BoxFuture, RpcException, IPC_EXCEPTION, NO_SUCH_METHOD, NO_SUCH_PROTOCOL,
    SASL_EXCEPTION, VERSION_MISMATCH,
};
use crate::hadoop::proto::{
    rpc_error_code, rpc_status, sasl_state, IpcConnectionContextProto, RequestHeaderProto,
    RpcRequestHeaderProto, RpcResponseHeaderProto, RpcSaslProto, RPC_CLOSE_CONNECTION,
};

/// `Server.RECEIVED_HTTP_REQ_RESPONSE`.
const HTTP_ON_IPC_PORT: &str = "HTTP/1.1 404 Not Found\r\nContent-type: text/plain\r\n\r\nIt looks like you are making an HTTP request to a Hadoop IPC port. This is not the correct port for the web interface on this daemon.\r\n";

/// Who is calling: established by authentication, handed to every call.
#[derive(Clone, Debug)]
pub struct Caller {
    /// SIMPLE: the connection context's effective user. TOKEN: the token's user
    /// (`TokenIdentifier.getUser()`, for YARN tokens the application attempt id).
    pub user: String,
    pub auth: AuthMethod,
    /// The token identifier bytes a TOKEN connection authenticated with.
    pub token_identifier: Option<Vec<u8>>,
    pub remote: SocketAddr,
}

/// Server side of token authentication (`SecretManager`).
pub trait TokenSecretManager: Send + Sync + 'static {
    /// `retrievePassword`: the password for these identifier bytes, or `InvalidToken`.
    fn retrieve_password(&self, identifier: &[u8]) -> Result<Vec<u8>, RpcException>;
    /// The user a valid identifier authenticates (`TokenIdentifier.getUser()`).
    fn user_of(&self, identifier: &[u8]) -> Result<String, RpcException>;
}

/// Which authentication methods the server enables (`Server.enabledAuthMethods`).
#[derive(Clone)]
pub struct AuthConfig {
    /// SIMPLE allowed (clusters without Kerberos for most protocols; YARN turns it off for
    /// the scheduler and container management endpoints).
    pub simple: bool,
    /// TOKEN allowed, with the secret manager that checks tokens.
    pub tokens: Option<Arc<dyn TokenSecretManager>>,
}

impl AuthConfig {
    /// Only TOKEN, as YARN's ApplicationMasterService and ContainerManagerImpl configure.
    pub fn token_only(tokens: Arc<dyn TokenSecretManager>) -> Self {
        AuthConfig {
            simple: false,
            tokens: Some(tokens),
        }
    }

    pub fn simple_only() -> Self {
        AuthConfig {
            simple: true,
            tokens: None,
        }
    }

    fn methods(&self) -> Vec<AuthMethod> {
        let mut m = Vec::new();
        if self.tokens.is_some() {
            m.push(AuthMethod::Token);
        }
        if self.simple {
            m.push(AuthMethod::Simple);
        }
        m
    }

    /// Hadoop prints the enabled methods as a Java list: `[TOKEN]`.
    fn methods_text(&self) -> String {
        let names: Vec<&str> = self.methods().iter().map(|m| m.name()).collect();
        format!("[{}]", names.join(", "))
    }
}

/// One protocol's implementation.
pub trait RpcService: Send + Sync + 'static {
    /// The protocol name clients put in `declaringClassProtocolName`.
    fn protocol(&self) -> &str;
    /// Whether calls naming `protocol` go to this service (a Hadoop server may host several
    /// protocols on one port; override to accept more than [`RpcService::protocol`]).
    fn serves(&self, protocol: &str) -> bool {
        protocol == self.protocol()
    }
    /// Handles one call; the returned bytes are the encoded response message. Unknown
    /// methods should return [`unknown_method`].
    fn call(
        &self,
        caller: Caller,
        method: String,
        request: Bytes,
    ) -> BoxFuture<Result<Vec<u8>, RpcException>>;
}

/// Decodes a call's request message; a malformed one is the caller's `IOException`.
pub fn decode_request<M: prost::Message + Default>(body: Bytes) -> Result<M, RpcException> {
    M::decode(body)
        .map_err(|e| RpcException::new("java.io.IOException", format!("malformed request: {e}")))
}

/// Hadoop's error for a method the protocol lacks.
pub fn unknown_method(method: &str, protocol: &str) -> RpcException {
    RpcException::new(
        NO_SUCH_METHOD,
        format!("Unknown method {method} called on {protocol} protocol."),
    )
}

/// A running server; dropping it stops accepting connections.
pub struct RpcServer {
    local_addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    /// Dropping it tells every open connection to close.
    _shutdown: tokio::sync::watch::Sender<()>,
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl RpcServer {
    /// Binds `addr` (use port 0 for an ephemeral port) and serves `service`.
    pub async fn start(
        addr: SocketAddr,
        auth: AuthConfig,
        service: Arc<dyn RpcService>,
    ) -> std::io::Result<RpcServer> {
        let listener = TcpListener::bind(addr).await?;
        Self::from_listener(listener, auth, service)
    }

    /// Serves on an already bound listener (lets a caller learn its port before building
    /// the service, as a NodeManager must to know its own node id).
    pub fn from_listener(
        listener: TcpListener,
        auth: AuthConfig,
        service: Arc<dyn RpcService>,
    ) -> std::io::Result<RpcServer> {
        let local_addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(());
        let accept = tokio::spawn(async move {
            loop {
                let (stream, remote) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("rpc server {local_addr}: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let auth = auth.clone();
                let service = service.clone();
                let mut stop = shutdown_rx.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        r = serve_connection(stream, remote, auth, service) => {
                            if let Err(e) = r {
                                tracing::debug!("rpc connection from {remote} ended: {e}");
                            }
                        }
                        _ = stop.changed() => {}
                    }
                });
            }
        });
        Ok(RpcServer {
            local_addr,
            accept,
            _shutdown: shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// An error response (`Server.setupResponse` with an exception); `client_id` and
/// `retry_count` echo the failed call (empty and -1 outside calls).
fn error_header(
    call_id: i32,
    status: i32,
    detail: i32,
    e: &RpcException,
    client_id: &[u8],
    retry_count: i32,
) -> RpcResponseHeaderProto {
    let mut h = sasl::response_header(call_id, status, client_id, retry_count);
    h.exception_class_name = Some(e.class_name.clone());
    h.error_msg = Some(e.message.clone());
    h.error_detail = Some(detail);
    h
}

/// A fatal reply ends the connection (`Server.Connection.doSaslReply(Exception)` and
/// `FatalRpcServerException`).
async fn fatal(
    stream: &mut TcpStream,
    call_id: i32,
    detail: i32,
    e: RpcException,
) -> std::io::Error {
    let h = error_header(
        call_id,
        rpc_status::FATAL,
        detail,
        &e,
        &[],
        INVALID_RETRY_COUNT,
    );
    // Best effort: the client may already be gone.
    let _ = stream.write_all(&encode_frame(&[&h])).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
    // Lingering close: read what the client already sent (its connection context and
    // first call), so closing does not reset the connection and destroy the reply above.
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), drain).await;
    std::io::Error::other(e.to_string())
}

fn frame_io(e: FrameError) -> std::io::Error {
    match e {
        FrameError::Io(e) => e,
        e => std::io::Error::other(e.to_string()),
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    remote: SocketAddr,
    auth: AuthConfig,
    service: Arc<dyn RpcService>,
) -> std::io::Result<()> {
    let mut pre = [0u8; 7];
    stream.read_exact(&mut pre).await?;
    if &pre[..4] == b"GET " {
        // Hadoop answers a browser pointed at an IPC port in plain HTTP.
        let _ = stream.write_all(HTTP_ON_IPC_PORT.as_bytes()).await;
        let _ = stream.shutdown().await;
        return Ok(());
    }
    if &pre[..4] != RPC_MAGIC {
        return Err(std::io::Error::other(format!(
            "{remote}: not a Hadoop RPC preamble: {:?}",
            &pre[..4]
        )));
    }
    if pre[4] != RPC_VERSION {
        let e = RpcException::new(
            VERSION_MISMATCH,
            format!(
                "Server IPC version {RPC_VERSION} cannot communicate with client version {}",
                pre[4]
            ),
        );
        return Err(fatal(&mut stream, -1, rpc_error_code::FATAL_VERSION_MISMATCH, e).await);
    }
    let (caller_auth, token_identifier) = match pre[6] {
        AUTH_PROTOCOL_NONE => {
            if !auth.simple {
                let e = RpcException::access_control(format!(
                    "SIMPLE authentication is not enabled.  Available:{}",
                    auth.methods_text()
                ));
                return Err(fatal(
                    &mut stream,
                    SASL_CALL_ID,
                    rpc_error_code::FATAL_UNAUTHORIZED,
                    e,
                )
                .await);
            }
            (AuthMethod::Simple, None)
        }
        AUTH_PROTOCOL_SASL => sasl_exchange(&mut stream, &auth).await?,
        other => {
            let e = RpcException::new(
                IPC_EXCEPTION,
                format!("Unknown auth protocol:{}", other as i8),
            );
            return Err(fatal(
                &mut stream,
                SASL_CALL_ID,
                rpc_error_code::FATAL_UNAUTHORIZED,
                e,
            )
            .await);
        }
    };

    // Connection context.
    let mut buf = read_frame(&mut stream).await.map_err(frame_io)?;
    let header: RpcRequestHeaderProto =
        take_delimited(&mut buf, "RpcRequestHeaderProto").map_err(frame_io)?;
    if header.call_id != CONNECTION_CONTEXT_CALL_ID {
        let e = RpcException::new(
            IPC_EXCEPTION,
            format!(
                "Connection context not established; got call id {}",
                header.call_id
            ),
        );
        return Err(fatal(
            &mut stream,
            header.call_id,
            rpc_error_code::FATAL_INVALID_RPC_HEADER,
            e,
        )
        .await);
    }
    let ctx: IpcConnectionContextProto =
        take_delimited(&mut buf, "IpcConnectionContextProto").map_err(frame_io)?;
    let claimed = ctx.user_info.and_then(|u| u.effective_user);
    let user = match (&caller_auth, &token_identifier) {
        (AuthMethod::Token, Some(id)) => {
            let looked_up = auth
                .tokens
                .as_ref()
                .ok_or_else(|| {
                    RpcException::new(SASL_EXCEPTION, "Server is not configured to do TOKEN auth.")
                })
                .and_then(|t| t.user_of(id));
            let token_user = match looked_up {
                Ok(u) => u,
                Err(e) => {
                    let code = rpc_error_code::FATAL_UNAUTHORIZED;
                    return Err(fatal(&mut stream, CONNECTION_CONTEXT_CALL_ID, code, e).await);
                }
            };
            if let Some(c) = claimed.filter(|c| *c != token_user) {
                let e = RpcException::access_control(format!(
                    "Authenticated user ({token_user}) doesn't match what the client claims to be ({c})"
                ));
                return Err(fatal(
                    &mut stream,
                    CONNECTION_CONTEXT_CALL_ID,
                    rpc_error_code::FATAL_UNAUTHORIZED,
                    e,
                )
                .await);
            }
            token_user
        }
        _ => match claimed {
            Some(u) if !u.is_empty() => u,
            _ => {
                let e =
                    RpcException::access_control("Connection context carries no user".to_string());
                return Err(fatal(
                    &mut stream,
                    CONNECTION_CONTEXT_CALL_ID,
                    rpc_error_code::FATAL_UNAUTHORIZED,
                    e,
                )
                .await);
            }
        },
    };
    let caller = Caller {
        user,
        auth: caller_auth,
        token_identifier,
        remote,
    };

    let (reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer_task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let result = serve_calls(reader, caller, service, tx).await;
    // Let queued responses drain; the writer ends when all senders are gone.
    let _ = writer_task.await;
    result
}

async fn serve_calls(
    mut reader: OwnedReadHalf,
    caller: Caller,
    service: Arc<dyn RpcService>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
) -> std::io::Result<()> {
    loop {
        let mut buf = match read_frame(&mut reader).await {
            Ok(b) => b,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(frame_io(e)),
        };
        let header: RpcRequestHeaderProto =
            take_delimited(&mut buf, "RpcRequestHeaderProto").map_err(frame_io)?;
        if header.call_id == PING_CALL_ID {
            continue;
        }
        if header.rpc_op == Some(RPC_CLOSE_CONNECTION) {
            return Ok(());
        }
        let call_id = header.call_id;
        let client_id = header.client_id.clone();
        let retry = header.retry_count.unwrap_or(INVALID_RETRY_COUNT);
        let error = move |status: i32, detail: i32, ex: &RpcException| {
            encode_frame(&[&error_header(
                call_id, status, detail, ex, &client_id, retry,
            )])
        };
        let req_header: RequestHeaderProto = match take_delimited(&mut buf, "RequestHeaderProto") {
            Ok(h) => h,
            Err(e) => {
                let ex =
                    RpcException::new(IPC_EXCEPTION, format!("Error decoding request header: {e}"));
                let code = rpc_error_code::FATAL_DESERIALIZING_REQUEST;
                let _ = tx.send(error(rpc_status::FATAL, code, &ex));
                return Err(std::io::Error::other(ex.to_string()));
            }
        };
        let body = take_delimited_raw(&mut buf, "request body").map_err(frame_io)?;
        if !service.serves(&req_header.declaring_class_protocol_name) {
            let ex = RpcException::new(
                NO_SUCH_PROTOCOL,
                format!(
                    "Unknown protocol: {}",
                    req_header.declaring_class_protocol_name
                ),
            );
            let code = rpc_error_code::ERROR_NO_SUCH_PROTOCOL;
            let _ = tx.send(error(rpc_status::ERROR, code, &ex));
            continue;
        }
        let fut = service.call(caller.clone(), req_header.method_name.clone(), body);
        let tx = tx.clone();
        let success = sasl::response_header(call_id, rpc_status::SUCCESS, &header.client_id, retry);
        tokio::spawn(async move {
            let frame = match fut.await {
                Ok(resp) => encode_frame(&[&success, &RawMessage(&resp)]),
                Err(ex) => {
                    let detail = if ex.class_name == NO_SUCH_METHOD {
                        rpc_error_code::ERROR_NO_SUCH_METHOD
                    } else {
                        rpc_error_code::ERROR_APPLICATION
                    };
                    error(rpc_status::ERROR, detail, &ex)
                }
            };
            let _ = tx.send(frame);
        });
    }
}

/// The server half of `SaslRpcClient.saslConnect`.
async fn sasl_exchange(
    stream: &mut TcpStream,
    auth: &AuthConfig,
) -> std::io::Result<(AuthMethod, Option<Vec<u8>>)> {
    let unauthorized = rpc_error_code::FATAL_UNAUTHORIZED;
    let mut digest: Option<DigestServer> = None;
    let mut sent_negotiate = false;
    loop {
        let mut buf = read_frame(stream).await.map_err(frame_io)?;
        let header: RpcRequestHeaderProto =
            take_delimited(&mut buf, "RpcRequestHeaderProto").map_err(frame_io)?;
        if header.call_id != SASL_CALL_ID {
            let e = RpcException::access_control(format!(
                "SASL negotiation expected, got call id {}",
                header.call_id
            ));
            return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await);
        }
        let msg: RpcSaslProto = take_delimited(&mut buf, "RpcSaslProto").map_err(frame_io)?;
        let methods = auth.methods();
        let state = msg.state;
        if state == sasl_state::NEGOTIATE || state == sasl_state::INITIATE {
            if state == sasl_state::NEGOTIATE && sent_negotiate {
                let e = RpcException::access_control("Client already attempted negotiation");
                return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await);
            }
            // INITIATE must name exactly one advertised SaslAuth (all fields compared).
            let advertised: Vec<_> = methods.iter().map(|m| sasl::auth_for(*m, None)).collect();
            let chosen = (state == sasl_state::INITIATE).then(|| msg.auths.clone());
            match chosen.as_deref() {
                Some([one]) if advertised.contains(one) => {
                    if one.method == AuthMethod::Simple.name() {
                        return Ok((AuthMethod::Simple, None));
                    }
                }
                Some([one]) if sent_negotiate => {
                    let e = RpcException::access_control(format!(
                        "{} authentication is not enabled.  Available:{}",
                        one.method,
                        auth.methods_text()
                    ));
                    return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await);
                }
                Some(auths) if auths.len() != 1 => {
                    let e = RpcException::new(SASL_EXCEPTION, "Client mechanism is malformed");
                    return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await);
                }
                _ => {
                    // NEGOTIATE, or an INITIATE before any: answer with what we offer.
                    let challenge = methods.contains(&AuthMethod::Token).then(|| {
                        let server = DigestServer::new();
                        let c = server.challenge();
                        digest = Some(server);
                        c
                    });
                    let answer = sasl::negotiate_response(&methods, challenge);
                    stream.write_all(&sasl::server_frame(&answer)).await?;
                    sent_negotiate = true;
                    if answer.state == sasl_state::SUCCESS {
                        return Ok((AuthMethod::Simple, None));
                    }
                    continue;
                }
            }
        }
        match state {
            sasl_state::INITIATE | sasl_state::RESPONSE => {
                let Some(token) = msg.token.as_deref() else {
                    let e = RpcException::new(SASL_EXCEPTION, "Client did not send a token");
                    return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await);
                };
                let (Some(server), Some(secrets)) = (&digest, &auth.tokens) else {
                    let e = RpcException::new(
                        SASL_EXCEPTION,
                        "Server is not configured to do TOKEN auth.",
                    );
                    return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await);
                };
                let lookup = |id: &[u8]| secrets.retrieve_password(id);
                match server.verify(token, &lookup) {
                    Ok(outcome) => {
                        let answer = sasl::success(Some(outcome.rspauth));
                        stream.write_all(&sasl::server_frame(&answer)).await?;
                        return Ok((AuthMethod::Token, Some(outcome.identifier)));
                    }
                    Err(e) => return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await),
                }
            }
            other => {
                let e = RpcException::new(SASL_EXCEPTION, format!("Unexpected SASL state {other}"));
                return Err(fatal(stream, SASL_CALL_ID, unauthorized, e).await);
            }
        }
    }
}
