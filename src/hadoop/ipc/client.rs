//! Hadoop RPC client: one TCP connection per (server, protocol, user), SASL negotiation,
//! connection context, then concurrent calls matched to responses by call id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::digest::{DigestClient, SASL_DEFAULT_REALM};
use super::frame::{
    self, encode_frame, read_frame, request_header, response_call_id, take_delimited,
    take_delimited_raw, FrameError, RawMessage, AUTH_PROTOCOL_NONE, AUTH_PROTOCOL_SASL,
    CONNECTION_CONTEXT_CALL_ID, INVALID_RETRY_COUNT, PING_CALL_ID, SASL_CALL_ID,
};
use super::{sasl, AuthMethod};
use crate::hadoop::proto::{
    rpc_status, sasl_state, IpcConnectionContextProto, RequestHeaderProto, RpcResponseHeaderProto,
    RpcSaslProto, UserInformationProto,
};
use crate::hadoop::security::Token;

/// What a client needs to open a connection.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// `declaringClassProtocolName`, e.g. `org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB`.
    pub protocol: String,
    /// `clientProtocolVersion` (1 for every YARN protocol).
    pub protocol_version: u64,
    /// The user named in the connection context for SIMPLE authentication.
    pub user: String,
    /// A token to authenticate with (TOKEN/DIGEST-MD5). Without one the client uses SIMPLE,
    /// as Hadoop does when no token selector matches.
    pub token: Option<Token>,
    /// `ipc.client.connect.timeout` (Hadoop default 20 s).
    pub connect_timeout: Duration,
    /// `ipc.client.rpc-timeout.ms`; `None` waits as long as the connection lives.
    pub rpc_timeout: Option<Duration>,
    /// `ipc.ping.interval` (Hadoop default 60 s): an idle connection sends a ping frame.
    pub ping_interval: Duration,
}

impl ConnectionConfig {
    pub fn new(protocol: impl Into<String>, user: impl Into<String>) -> Self {
        ConnectionConfig {
            protocol: protocol.into(),
            protocol_version: 1,
            user: user.into(),
            token: None,
            connect_timeout: Duration::from_secs(20),
            rpc_timeout: None,
            ping_interval: Duration::from_secs(60),
        }
    }

    /// Timeouts from Hadoop configuration: `ipc.client.connect.timeout`,
    /// `ipc.client.rpc-timeout.ms` (0 = none) and `ipc.ping.interval`.
    pub fn from_conf(
        conf: &crate::hadoop::conf::Configuration,
        protocol: impl Into<String>,
        user: impl Into<String>,
    ) -> Result<Self, crate::hadoop::conf::ConfError> {
        use crate::hadoop::conf::{IPC_CONNECT_TIMEOUT, IPC_PING_INTERVAL, IPC_RPC_TIMEOUT};
        let mut c = ConnectionConfig::new(protocol, user);
        if let Some(t) = conf.get_millis(IPC_CONNECT_TIMEOUT)? {
            c.connect_timeout = t;
        }
        c.rpc_timeout = conf.get_millis(IPC_RPC_TIMEOUT)?.filter(|t| !t.is_zero());
        if let Some(t) = conf.get_millis(IPC_PING_INTERVAL)?.filter(|t| !t.is_zero()) {
            c.ping_interval = t;
        }
        Ok(c)
    }

    pub fn with_token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }
}

/// Errors of the RPC client. Each names the server address.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("connecting to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("connecting to {addr}: no connection within the connect timeout of {timeout:?}")]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error("{addr}: remote exception {class_name}: {message}")]
    Remote {
        addr: String,
        class_name: String,
        message: String,
        /// `RpcErrorCodeProto` if the server sent one.
        error_detail: Option<i32>,
        /// The server closed the connection after this error.
        fatal: bool,
    },
    #[error("{addr}: SASL negotiation failed: {message}")]
    Sasl { addr: String, message: String },
    #[error("{addr}: call {method} got no response within {timeout:?}")]
    Timeout {
        addr: String,
        method: String,
        timeout: Duration,
    },
    #[error("{addr}: connection closed: {reason}")]
    Closed { addr: String, reason: String },
    #[error("{addr}: malformed response to {what}: {message}")]
    Protocol {
        addr: String,
        what: String,
        message: String,
    },
}

impl RpcError {
    /// The Java exception class of a remote error (`RemoteException.getClassName`).
    pub fn remote_class(&self) -> Option<&str> {
        match self {
            RpcError::Remote { class_name, .. } => Some(class_name),
            _ => None,
        }
    }

    /// The remote error's message.
    pub fn remote_message(&self) -> Option<&str> {
        match self {
            RpcError::Remote { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Calls waiting for their response, and why the connection ended once it has. One lock
/// for both, so a call is either registered before the reader gives up (and then failed by
/// it) or sees the reason the connection is gone.
#[derive(Default)]
struct Calls {
    waiting: HashMap<i32, oneshot::Sender<Result<Bytes, RpcError>>>,
    closed: Option<RpcError>,
}

type Pending = Arc<Mutex<Calls>>;

/// A connected Hadoop RPC client. Clone freely: clones share the connection.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    config: ConnectionConfig,
    client_id: [u8; 16],
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_call_id: AtomicI32,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl RpcClient {
    /// Connects, authenticates and sends the connection context.
    pub async fn connect(
        addr: SocketAddr,
        config: ConnectionConfig,
    ) -> Result<RpcClient, RpcError> {
        let addr_s = addr.to_string();
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Err(_) => {
                    return Err(RpcError::ConnectTimeout {
                        addr: addr_s,
                        timeout: config.connect_timeout,
                    })
                }
                Ok(Err(e)) => {
                    return Err(RpcError::Connect {
                        addr: addr_s,
                        message: e.to_string(),
                    })
                }
                Ok(Ok(s)) => s,
            };
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let client_id = *uuid_bytes();
        let io_err = |e: std::io::Error| RpcError::Closed {
            addr: addr_s.clone(),
            reason: e.to_string(),
        };

        let auth = match &config.token {
            Some(token) => {
                writer
                    .write_all(&frame::preamble(0, AUTH_PROTOCOL_SASL))
                    .await
                    .map_err(io_err)?;
                tokio::time::timeout(
                    config.connect_timeout,
                    sasl_connect(&addr_s, &mut reader, &mut writer, token),
                )
                .await
                .map_err(|_| RpcError::Sasl {
                    addr: addr_s.clone(),
                    message: format!("no SASL answer within {:?}", config.connect_timeout),
                })??
            }
            None => {
                writer
                    .write_all(&frame::preamble(0, AUTH_PROTOCOL_NONE))
                    .await
                    .map_err(io_err)?;
                AuthMethod::Simple
            }
        };

        let ctx = connection_context(&config.protocol, &config.user, auth);
        let header = request_header(CONNECTION_CONTEXT_CALL_ID, INVALID_RETRY_COUNT, &client_id);
        writer
            .write_all(&encode_frame(&[&header, &ctx]))
            .await
            .map_err(io_err)?;

        let pending: Pending = Arc::new(Mutex::new(Calls::default()));
        let reader_task = tokio::spawn(read_loop(addr_s.clone(), reader, pending.clone()));
        let mut inner = Inner {
            addr: addr_s,
            config,
            client_id,
            writer: tokio::sync::Mutex::new(writer),
            pending,
            next_call_id: AtomicI32::new(0),
            tasks: vec![reader_task.abort_handle()],
        };
        let ping_interval = inner.config.ping_interval;
        let inner_arc = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            let ping = tokio::spawn(async move {
                let mut tick = tokio::time::interval(ping_interval);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.send_ping().await.is_err() {
                        return;
                    }
                }
            });
            inner.tasks.push(ping.abort_handle());
            inner
        });
        Ok(RpcClient { inner: inner_arc })
    }

    /// The server address this client talks to.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// Calls `method` of the connection's protocol with a protobuf request.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, RpcError> {
        let body = self.call_raw(method, &request.encode_to_vec()).await?;
        Resp::decode(body).map_err(|e| RpcError::Protocol {
            addr: self.inner.addr.clone(),
            what: method.to_string(),
            message: e.to_string(),
        })
    }

    /// Calls `method` with already-encoded request bytes; returns the response body bytes.
    pub async fn call_raw(&self, method: &str, request: &[u8]) -> Result<Bytes, RpcError> {
        let inner = &self.inner;
        let call_id = inner.next_call_id.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
        let header = request_header(call_id, 0, &inner.client_id);
        let req_header = RequestHeaderProto {
            method_name: method.to_string(),
            declaring_class_protocol_name: inner.config.protocol.clone(),
            client_protocol_version: inner.config.protocol_version,
        };
        let frame = encode_frame(&[&header, &req_header, &RawMessage(request)]);
        let (tx, rx) = oneshot::channel();
        {
            let mut calls = inner
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(e) = calls.closed.clone() {
                return Err(e);
            }
            calls.waiting.insert(call_id, tx);
        }
        let write = async {
            let mut w = inner.writer.lock().await;
            w.write_all(&frame).await
        };
        // A failed write means the connection is going away; the reader then fails this
        // call with the server's last word (often a fatal error it sent before closing).
        let closed_err = || RpcError::Closed {
            addr: inner.addr.clone(),
            reason: "connection dropped before the response".into(),
        };
        if let Err(e) = write.await {
            let grace = inner.config.connect_timeout;
            return match tokio::time::timeout(grace, rx).await {
                Ok(r) => r.unwrap_or_else(|_| Err(closed_err())),
                Err(_) => {
                    inner
                        .pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .waiting
                        .remove(&call_id);
                    Err(RpcError::Closed {
                        addr: inner.addr.clone(),
                        reason: format!("writing call {method}: {e}"),
                    })
                }
            };
        }
        match inner.config.rpc_timeout {
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r.unwrap_or_else(|_| Err(closed_err())),
                Err(_) => {
                    inner
                        .pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .waiting
                        .remove(&call_id);
                    Err(RpcError::Timeout {
                        addr: inner.addr.clone(),
                        method: method.to_string(),
                        timeout: t,
                    })
                }
            },
            None => rx.await.unwrap_or_else(|_| Err(closed_err())),
        }
    }
}

impl Inner {
    async fn send_ping(&self) -> std::io::Result<()> {
        let header = request_header(PING_CALL_ID, INVALID_RETRY_COUNT, &self.client_id);
        let mut w = self.writer.lock().await;
        w.write_all(&encode_frame(&[&header])).await
    }
}

/// `ProtoUtil.makeIpcConnectionContext`: SIMPLE names the user; with TOKEN the
/// connection already established it, so the user info goes empty.
pub fn connection_context(
    protocol: &str,
    user: &str,
    auth: AuthMethod,
) -> IpcConnectionContextProto {
    let effective_user = match auth {
        AuthMethod::Simple => Some(user.to_string()),
        AuthMethod::Token => None,
    };
    IpcConnectionContextProto {
        user_info: Some(UserInformationProto {
            effective_user,
            real_user: None,
        }),
        protocol: Some(protocol.to_string()),
    }
}

/// Random 16-byte client id (Hadoop uses a type-4 UUID's bytes).
fn uuid_bytes() -> Box<[u8; 16]> {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Box::new(b)
}

fn remote_error(addr: &str, h: &RpcResponseHeaderProto) -> RpcError {
    RpcError::Remote {
        addr: addr.to_string(),
        class_name: h.exception_class_name.clone().unwrap_or_default(),
        message: h.error_msg.clone().unwrap_or_default(),
        error_detail: h.error_detail,
        fatal: h.status == rpc_status::FATAL,
    }
}

fn frame_err(addr: &str, what: &str, e: FrameError) -> RpcError {
    match e {
        FrameError::Closed => RpcError::Closed {
            addr: addr.to_string(),
            reason: format!("server closed the connection during {what}"),
        },
        FrameError::Io(e) => RpcError::Closed {
            addr: addr.to_string(),
            reason: format!("{what}: {e}"),
        },
        e => RpcError::Protocol {
            addr: addr.to_string(),
            what: what.to_string(),
            message: e.to_string(),
        },
    }
}

/// `SaslRpcClient.saslConnect`: NEGOTIATE, pick TOKEN (DIGEST-MD5) or SIMPLE, answer
/// challenges until SUCCESS.
async fn sasl_connect(
    addr: &str,
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
    token: &Token,
) -> Result<AuthMethod, RpcError> {
    let sasl_err = |m: String| RpcError::Sasl {
        addr: addr.to_string(),
        message: m,
    };
    writer
        .write_all(&sasl::client_frame(&sasl::negotiate()))
        .await
        .map_err(|e| sasl_err(e.to_string()))?;
    let mut digest: Option<DigestClient> = None;
    loop {
        let mut buf = read_frame(reader)
            .await
            .map_err(|e| frame_err(addr, "SASL negotiation", e))?;
        let header: RpcResponseHeaderProto = take_delimited(&mut buf, "SASL response header")
            .map_err(|e| frame_err(addr, "SASL negotiation", e))?;
        if header.status != rpc_status::SUCCESS {
            return Err(remote_error(addr, &header));
        }
        if response_call_id(&header) != SASL_CALL_ID {
            return Err(sasl_err(format!(
                "expected a SASL response (call id -33), got call id {}",
                response_call_id(&header)
            )));
        }
        let msg: RpcSaslProto = take_delimited(&mut buf, "RpcSaslProto")
            .map_err(|e| frame_err(addr, "SASL negotiation", e))?;
        let reply = match msg.state {
            sasl_state::NEGOTIATE => {
                let token_auth = msg
                    .auths
                    .iter()
                    .find(|a| a.method == "TOKEN" && a.mechanism == "DIGEST-MD5");
                if let Some(auth) = token_auth {
                    let mut client = DigestClient::new(
                        &token.identifier,
                        &token.password,
                        auth.protocol.as_deref().unwrap_or(""),
                        auth.server_id.as_deref().unwrap_or(SASL_DEFAULT_REALM),
                    );
                    // Hadoop servers put the first challenge into their NEGOTIATE answer.
                    let first = match &auth.challenge {
                        Some(ch) => client.respond(ch).map_err(|e| sasl_err(e.to_string()))?,
                        None => Vec::new(),
                    };
                    digest = Some(client);
                    sasl::initiate(auth.clone(), Some(first))
                } else if msg.auths.iter().any(|a| a.method == "SIMPLE") {
                    // Switching to SIMPLE: send INITIATE and do not wait for an answer.
                    let simple = sasl::auth_for(AuthMethod::Simple, None);
                    writer
                        .write_all(&sasl::client_frame(&sasl::initiate(simple, None)))
                        .await
                        .map_err(|e| sasl_err(e.to_string()))?;
                    return Ok(AuthMethod::Simple);
                } else {
                    let offered: Vec<&str> = msg.auths.iter().map(|a| a.method.as_str()).collect();
                    return Err(sasl_err(format!(
                        "Client cannot authenticate via:[{}]",
                        offered.join(", ")
                    )));
                }
            }
            sasl_state::CHALLENGE => {
                let client = digest
                    .as_mut()
                    .ok_or_else(|| sasl_err("CHALLENGE before INITIATE".into()))?;
                let answer = client
                    .respond(msg.token.as_deref().unwrap_or_default())
                    .map_err(|e| sasl_err(e.to_string()))?;
                sasl::response(answer)
            }
            sasl_state::SUCCESS => {
                return match &digest {
                    Some(client) => {
                        client
                            .verify_success(msg.token.as_deref().unwrap_or_default())
                            .map_err(|e| sasl_err(e.to_string()))?;
                        Ok(AuthMethod::Token)
                    }
                    // A SIMPLE-only server answers NEGOTIATE with SUCCESS.
                    None => Ok(AuthMethod::Simple),
                };
            }
            other => return Err(sasl_err(format!("unexpected SASL state {other}"))),
        };
        writer
            .write_all(&sasl::client_frame(&reply))
            .await
            .map_err(|e| sasl_err(e.to_string()))?;
    }
}

/// Delivers responses to waiting calls; on a fatal error or EOF fails every waiter.
async fn read_loop(addr: String, mut reader: OwnedReadHalf, pending: Pending) {
    let fail_all = |err: RpcError| {
        let waiters: Vec<_> = {
            let mut calls = pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            calls.closed = Some(err.clone());
            calls.waiting.drain().collect()
        };
        for (_, tx) in waiters {
            let _ = tx.send(Err(err.clone()));
        }
    };
    loop {
        let mut buf = match read_frame(&mut reader).await {
            Ok(b) => b,
            Err(e) => return fail_all(frame_err(&addr, "reading a response", e)),
        };
        let header: RpcResponseHeaderProto =
            match take_delimited(&mut buf, "RpcResponseHeaderProto") {
                Ok(h) => h,
                Err(e) => return fail_all(frame_err(&addr, "reading a response", e)),
            };
        let call_id = response_call_id(&header);
        if header.status == rpc_status::FATAL {
            // Fatal errors end the connection (and may carry the SASL/invalid call id).
            return fail_all(remote_error(&addr, &header));
        }
        let Some(tx) = pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .waiting
            .remove(&call_id)
        else {
            continue; // a timed-out call's late answer
        };
        let result = if header.status == rpc_status::SUCCESS {
            take_delimited_raw(&mut buf, "response body")
                .map_err(|e| frame_err(&addr, "response", e))
        } else {
            Err(remote_error(&addr, &header))
        };
        let _ = tx.send(result);
    }
}
