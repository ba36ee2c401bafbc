//! Client against server over loopback: the authentication rules and call multiplexing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;

use super::*;
use crate::hadoop::proto::UserInformationProto;
use crate::hadoop::security::{create_password, Token};

const PROTOCOL: &str = "test.EchoProtocolPB";
const KEY: &[u8] = b"master-key";

/// Identifiers are the user name; passwords HMAC them, like every Hadoop secret manager.
struct Secrets;

impl TokenSecretManager for Secrets {
    fn retrieve_password(&self, identifier: &[u8]) -> Result<Vec<u8>, RpcException> {
        if identifier.starts_with(b"revoked") {
            return Err(RpcException::invalid_token(
                "Password not found for revoked",
            ));
        }
        Ok(create_password(identifier, KEY))
    }
    fn user_of(&self, identifier: &[u8]) -> Result<String, RpcException> {
        Ok(String::from_utf8_lossy(identifier).into_owned())
    }
}

/// Echoes `UserInformationProto.effective_user` with the caller's name appended, after an
/// optional delay (to prove concurrent calls), or fails on request.
struct Echo;

impl RpcService for Echo {
    fn protocol(&self) -> &str {
        PROTOCOL
    }
    fn call(
        &self,
        caller: Caller,
        method: String,
        request: Bytes,
    ) -> BoxFuture<Result<Vec<u8>, RpcException>> {
        Box::pin(async move {
            let req = UserInformationProto::decode(request)
                .map_err(|e| RpcException::new("java.io.IOException", e.to_string()))?;
            let text = req.effective_user.unwrap_or_default();
            match method.as_str() {
                "echo" => {
                    if let Some(ms) = req.real_user.and_then(|s| s.parse::<u64>().ok()) {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    Ok(UserInformationProto {
                        effective_user: Some(format!("{text}@{}", caller.user)),
                        real_user: Some(caller.auth.name().into()),
                    }
                    .encode_to_vec())
                }
                "fail" => Err(RpcException::new(
                    "org.apache.hadoop.yarn.exceptions.YarnException",
                    text,
                )),
                m => Err(server::unknown_method(m, PROTOCOL)),
            }
        })
    }
}

async fn start(auth: AuthConfig) -> RpcServer {
    RpcServer::start("127.0.0.1:0".parse().unwrap(), auth, Arc::new(Echo))
        .await
        .unwrap()
}

fn token(user: &str, key: &[u8]) -> Token {
    Token {
        identifier: user.as_bytes().to_vec(),
        password: create_password(user.as_bytes(), key),
        kind: "TEST".into(),
        service: String::new(),
    }
}

fn req(text: &str, delay_ms: Option<u64>) -> UserInformationProto {
    UserInformationProto {
        effective_user: Some(text.into()),
        real_user: delay_ms.map(|d| d.to_string()),
    }
}

#[tokio::test]
async fn token_client_authenticates_with_digest_md5_and_calls() {
    let server = start(AuthConfig::token_only(Arc::new(Secrets))).await;
    let cfg = ConnectionConfig::new(PROTOCOL, "ignored")
        .with_token(token("appattempt_1_0001_000001", KEY));
    let client = RpcClient::connect(server.local_addr(), cfg).await.unwrap();
    let resp: UserInformationProto = client.call("echo", &req("hi", None)).await.unwrap();
    assert_eq!(
        resp.effective_user.as_deref(),
        Some("hi@appattempt_1_0001_000001")
    );
    assert_eq!(resp.real_user.as_deref(), Some("TOKEN"));
}

#[tokio::test]
async fn concurrent_calls_share_one_connection_and_answer_out_of_order() {
    let server = start(AuthConfig::token_only(Arc::new(Secrets))).await;
    let cfg = ConnectionConfig::new(PROTOCOL, "u").with_token(token("u", KEY));
    let client = RpcClient::connect(server.local_addr(), cfg).await.unwrap();
    let slow_req = req("slow", Some(300));
    let slow = async {
        let r: UserInformationProto = client.call("echo", &slow_req).await.unwrap();
        (r, std::time::Instant::now())
    };
    let fast = async {
        let r: UserInformationProto = client.call("echo", &req("fast", None)).await.unwrap();
        (r, std::time::Instant::now())
    };
    let ((slow, slow_done), (fast, fast_done)) = tokio::join!(slow, fast);
    assert_eq!(slow.effective_user.as_deref(), Some("slow@u"));
    assert_eq!(fast.effective_user.as_deref(), Some("fast@u"));
    assert!(
        fast_done < slow_done,
        "the fast call waited for the slow one"
    );
}

#[tokio::test]
async fn client_without_token_is_refused_as_hadoop_refuses_simple() {
    let server = start(AuthConfig::token_only(Arc::new(Secrets))).await;
    let client = RpcClient::connect(server.local_addr(), ConnectionConfig::new(PROTOCOL, "bob"))
        .await
        .unwrap();
    let err = client
        .call::<_, UserInformationProto>("echo", &req("x", None))
        .await
        .unwrap_err();
    assert_eq!(err.remote_class(), Some(ACCESS_CONTROL_EXCEPTION));
    assert_eq!(
        err.remote_message(),
        Some("SIMPLE authentication is not enabled.  Available:[TOKEN]")
    );
}

#[tokio::test]
async fn wrong_token_password_fails_sasl() {
    let server = start(AuthConfig::token_only(Arc::new(Secrets))).await;
    let cfg = ConnectionConfig::new(PROTOCOL, "u").with_token(token("u", b"another-key"));
    let err = RpcClient::connect(server.local_addr(), cfg)
        .await
        .err()
        .unwrap();
    assert_eq!(err.remote_class(), Some(SASL_EXCEPTION), "{err}");
    assert!(
        err.remote_message()
            .unwrap()
            .contains("Mismatched response"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_token_is_invalid_token() {
    let server = start(AuthConfig::token_only(Arc::new(Secrets))).await;
    let cfg = ConnectionConfig::new(PROTOCOL, "u").with_token(token("revoked-1", KEY));
    let err = RpcClient::connect(server.local_addr(), cfg)
        .await
        .err()
        .unwrap();
    assert_eq!(err.remote_class(), Some(INVALID_TOKEN), "{err}");
}

#[tokio::test]
async fn simple_server_takes_the_connection_context_user() {
    let server = start(AuthConfig::simple_only()).await;
    let client = RpcClient::connect(
        server.local_addr(),
        ConnectionConfig::new(PROTOCOL, "alice"),
    )
    .await
    .unwrap();
    let resp: UserInformationProto = client.call("echo", &req("hey", None)).await.unwrap();
    assert_eq!(resp.effective_user.as_deref(), Some("hey@alice"));
    assert_eq!(resp.real_user.as_deref(), Some("SIMPLE"));
}

#[tokio::test]
async fn token_client_falls_back_to_simple_when_server_offers_only_simple() {
    let server = start(AuthConfig::simple_only()).await;
    let cfg = ConnectionConfig::new(PROTOCOL, "carol").with_token(token("carol", KEY));
    let client = RpcClient::connect(server.local_addr(), cfg).await.unwrap();
    let resp: UserInformationProto = client.call("echo", &req("a", None)).await.unwrap();
    assert_eq!(resp.effective_user.as_deref(), Some("a@carol"));
}

#[tokio::test]
async fn server_exceptions_reach_the_caller_and_keep_the_connection() {
    let server = start(AuthConfig::simple_only()).await;
    let client = RpcClient::connect(server.local_addr(), ConnectionConfig::new(PROTOCOL, "u"))
        .await
        .unwrap();
    let err = client
        .call::<_, UserInformationProto>("fail", &req("boom", None))
        .await
        .unwrap_err();
    assert_eq!(
        err.remote_class(),
        Some("org.apache.hadoop.yarn.exceptions.YarnException")
    );
    assert_eq!(err.remote_message(), Some("boom"));
    let err = client
        .call::<_, UserInformationProto>("nope", &req("", None))
        .await
        .unwrap_err();
    assert_eq!(err.remote_class(), Some(NO_SUCH_METHOD));
    let ok: UserInformationProto = client.call("echo", &req("still", None)).await.unwrap();
    assert_eq!(ok.effective_user.as_deref(), Some("still@u"));
}

#[tokio::test]
async fn wrong_protocol_name_is_no_such_protocol() {
    let server = start(AuthConfig::simple_only()).await;
    let client = RpcClient::connect(
        server.local_addr(),
        ConnectionConfig::new("other.ProtocolPB", "u"),
    )
    .await
    .unwrap();
    let err = client
        .call::<_, UserInformationProto>("echo", &req("", None))
        .await
        .unwrap_err();
    assert_eq!(err.remote_class(), Some(NO_SUCH_PROTOCOL));
    assert_eq!(
        err.remote_message(),
        Some("Unknown protocol: other.ProtocolPB")
    );
}

#[tokio::test]
async fn rpc_timeout_names_the_method() {
    let server = start(AuthConfig::simple_only()).await;
    let mut cfg = ConnectionConfig::new(PROTOCOL, "u");
    cfg.rpc_timeout = Some(Duration::from_millis(100));
    let client = RpcClient::connect(server.local_addr(), cfg).await.unwrap();
    let err = client
        .call::<_, UserInformationProto>("echo", &req("", Some(2000)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RpcError::Timeout { ref method, .. } if method == "echo"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_server_is_a_clear_connect_error() {
    // Bind then drop to get a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cfg = ConnectionConfig::new(PROTOCOL, "u");
    cfg.connect_timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = RpcClient::connect(addr, cfg).await.err().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        err.to_string()
            .contains(&format!("connecting to 127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn pings_keep_an_idle_connection_usable() {
    let server = start(AuthConfig::simple_only()).await;
    let mut cfg = ConnectionConfig::new(PROTOCOL, "u");
    cfg.ping_interval = Duration::from_millis(20);
    let client = RpcClient::connect(server.local_addr(), cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let ok: UserInformationProto = client
        .call("echo", &req("after-pings", None))
        .await
        .unwrap();
    assert_eq!(ok.effective_user.as_deref(), Some("after-pings@u"));
}

#[test]
fn connection_timeouts_come_from_hadoop_configuration() {
    let mut conf = crate::hadoop::conf::Configuration::new();
    let defaults = ConnectionConfig::from_conf(&conf, PROTOCOL, "u").unwrap();
    assert_eq!(defaults.connect_timeout, Duration::from_secs(20));
    assert_eq!(defaults.rpc_timeout, None);
    assert_eq!(defaults.ping_interval, Duration::from_secs(60));
    conf.set("ipc.client.connect.timeout", "1500");
    conf.set("ipc.client.rpc-timeout.ms", "3000");
    let c = ConnectionConfig::from_conf(&conf, PROTOCOL, "u").unwrap();
    assert_eq!(c.connect_timeout, Duration::from_millis(1500));
    assert_eq!(c.rpc_timeout, Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn an_http_request_on_the_ipc_port_gets_hadoops_hint() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(AuthConfig::simple_only()).await;
    let mut s = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 404 Not Found\r\n"), "{body}");
    assert!(body.contains("It looks like you are making an HTTP request to a Hadoop IPC port."));
}

#[tokio::test]
async fn a_second_negotiate_is_refused() {
    use crate::hadoop::ipc::frame::{preamble, read_frame, take_delimited, AUTH_PROTOCOL_SASL};
    use crate::hadoop::proto::RpcResponseHeaderProto;
    use tokio::io::AsyncWriteExt;
    let server = start(AuthConfig::token_only(Arc::new(Secrets))).await;
    let mut s = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    s.write_all(&preamble(0, AUTH_PROTOCOL_SASL)).await.unwrap();
    let negotiate = sasl::client_frame(&sasl::negotiate());
    s.write_all(&negotiate).await.unwrap();
    s.write_all(&negotiate).await.unwrap();
    let _first = read_frame(&mut s).await.unwrap();
    let mut second = read_frame(&mut s).await.unwrap();
    let h: RpcResponseHeaderProto = take_delimited(&mut second, "header").unwrap();
    assert_eq!(h.status, crate::hadoop::proto::rpc_status::FATAL);
    assert_eq!(
        h.error_msg.as_deref(),
        Some("Client already attempted negotiation")
    );
    assert_eq!(
        h.exception_class_name.as_deref(),
        Some(ACCESS_CONTROL_EXCEPTION)
    );
}

#[tokio::test]
async fn dropping_the_server_closes_its_connections() {
    let server = start(AuthConfig::simple_only()).await;
    let client = RpcClient::connect(server.local_addr(), ConnectionConfig::new(PROTOCOL, "u"))
        .await
        .unwrap();
    let ok: UserInformationProto = client.call("echo", &req("a", None)).await.unwrap();
    assert_eq!(ok.effective_user.as_deref(), Some("a@u"));
    drop(server);
    let err = tokio::time::timeout(
        Duration::from_secs(5),
        client.call::<_, UserInformationProto>("echo", &req("b", None)),
    )
    .await
    .expect("the call ends once the server is gone")
    .unwrap_err();
    assert!(matches!(err, RpcError::Closed { .. }), "{err}");
}

#[tokio::test]
async fn a_server_that_never_answers_sasl_fails_within_the_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let mut cfg = ConnectionConfig::new(PROTOCOL, "u").with_token(token("u", KEY));
    cfg.connect_timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let err = RpcClient::connect(addr, cfg).await.err().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, RpcError::Sasl { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
