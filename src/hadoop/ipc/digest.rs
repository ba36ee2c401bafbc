//! SASL DIGEST-MD5 (RFC 2831) as Hadoop uses it for TOKEN authentication: qop `auth` only,
//! realm and server id `default`, protocol empty (so `digest-uri` is `/default`), user name
//! = base64 of the token identifier, password = base64 of the token password, charset utf-8
//! and algorithm md5-sess. Both ends live here so the mini YARN servers check exactly what
//! a Hadoop server (Java's `DigestMD5Server`) checks.

use std::collections::HashMap;

use base64::Engine;
use md5::{Digest, Md5};

/// Hadoop's `SaslRpcServer.SASL_DEFAULT_REALM`; also the server id a token server advertises.
pub const SASL_DEFAULT_REALM: &str = "default";
/// Java's DIGEST-MD5 default `maxbuf`.
const MAX_BUF: u32 = 65536;

/// A DIGEST-MD5 step failed; the text follows Java's `SaslException` messages.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("DIGEST-MD5: {0}")]
pub struct DigestError(pub String);

fn err(msg: impl Into<String>) -> DigestError {
    DigestError(msg.into())
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Base64 (standard alphabet, padded) as Hadoop's `SaslRpcServer.encodeIdentifier` /
/// `encodePassword` produce it.
pub fn encode_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Parses `key=value,key="quoted value",...` directives.
pub fn parse_directives(input: &[u8]) -> Result<HashMap<String, String>, DigestError> {
    let s = std::str::from_utf8(input).map_err(|_| err("directives are not UTF-8"))?;
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(err(format!("directive {key:?} has no value")));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(err(format!("unterminated quoted value for {key:?}")));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Ok(out)
}

/// The values both sides hash (RFC 2831 section 2.1.2.1).
struct DigestInputs<'a> {
    user: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a str,
    cnonce: &'a str,
    nc: &'a str,
    digest_uri: &'a str,
}

impl DigestInputs<'_> {
    /// `HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2))))` with md5-sess `A1`;
    /// `A2` is `AUTHENTICATE:uri` for the client's `response`, `:uri` for `rspauth`.
    fn value(&self, a2_prefix: &str) -> String {
        let inner = md5(&[
            self.user.as_bytes(),
            b":",
            self.realm.as_bytes(),
            b":",
            self.password.as_bytes(),
        ]);
        let a1 = md5(&[
            &inner,
            b":",
            self.nonce.as_bytes(),
            b":",
            self.cnonce.as_bytes(),
        ]);
        let a2 = md5(&[a2_prefix.as_bytes(), b":", self.digest_uri.as_bytes()]);
        hex(&md5(&[
            hex(&a1).as_bytes(),
            b":",
            self.nonce.as_bytes(),
            b":",
            self.nc.as_bytes(),
            b":",
            self.cnonce.as_bytes(),
            b":auth:",
            hex(&a2).as_bytes(),
        ]))
    }

    fn response(&self) -> String {
        self.value("AUTHENTICATE")
    }

    fn rspauth(&self) -> String {
        self.value("")
    }
}

fn random_nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 15];
    rand::thread_rng().fill_bytes(&mut b);
    encode_b64(&b)
}

/// Client side: answers the server's challenge, then checks its `rspauth`.
pub struct DigestClient {
    user: String,
    password: String,
    protocol: String,
    server_id: String,
    cnonce: String,
    expected_rspauth: Option<String>,
}

impl DigestClient {
    /// `identifier` and `password` are the raw token bytes; `protocol` and `server_id` come
    /// from the server's `SaslAuth` (Hadoop sends `""` and `"default"`).
    pub fn new(identifier: &[u8], password: &[u8], protocol: &str, server_id: &str) -> Self {
        DigestClient {
            user: encode_b64(identifier),
            password: encode_b64(password),
            protocol: protocol.to_string(),
            server_id: server_id.to_string(),
            cnonce: random_nonce(),
            expected_rspauth: None,
        }
    }

    #[cfg(test)]
    fn with_cnonce(mut self, cnonce: &str) -> Self {
        self.cnonce = cnonce.to_string();
        self
    }

    /// Builds the response to the server's digest challenge.
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, DigestError> {
        let d = parse_directives(challenge)?;
        let nonce = d
            .get("nonce")
            .ok_or_else(|| err("challenge has no nonce"))?
            .clone();
        if let Some(qop) = d.get("qop") {
            if !qop.split(',').any(|q| q.trim() == "auth") {
                return Err(err(format!("server offers qop {qop:?}, not \"auth\"")));
            }
        }
        let realm = d
            .get("realm")
            .cloned()
            .unwrap_or_else(|| SASL_DEFAULT_REALM.to_string());
        let digest_uri = format!("{}/{}", self.protocol, self.server_id);
        let nc = "00000001";
        let inputs = DigestInputs {
            user: &self.user,
            realm: &realm,
            password: &self.password,
            nonce: &nonce,
            cnonce: &self.cnonce,
            nc,
            digest_uri: &digest_uri,
        };
        let response = inputs.response();
        self.expected_rspauth = Some(inputs.rspauth());
        Ok(format!(
            "charset=utf-8,username=\"{}\",realm=\"{}\",nonce=\"{}\",nc={},cnonce=\"{}\",digest-uri=\"{}\",maxbuf={},response={},qop=auth",
            self.user, realm, nonce, nc, self.cnonce, digest_uri, MAX_BUF, response
        )
        .into_bytes())
    }

    /// Verifies the server's final `rspauth=...`, proving the server knew the password too.
    pub fn verify_success(&self, token: &[u8]) -> Result<(), DigestError> {
        let d = parse_directives(token)?;
        let got = d
            .get("rspauth")
            .ok_or_else(|| err("server's final message has no rspauth"))?;
        match &self.expected_rspauth {
            Some(exp) if exp == got => Ok(()),
            Some(_) => Err(err(
                "Mismatched rspauth: server does not know the token password",
            )),
            None => Err(err("rspauth before any challenge")),
        }
    }
}

/// What a server-side password lookup returns for a client's identifier.
pub type PasswordLookup<'a> =
    dyn Fn(&[u8]) -> Result<Vec<u8>, crate::hadoop::ipc::RpcException> + 'a;

/// Server side: issues the challenge, then checks the client's response.
pub struct DigestServer {
    nonce: String,
}

/// A successful DIGEST-MD5 authentication.
pub struct DigestOutcome {
    /// The token identifier the client authenticated with.
    pub identifier: Vec<u8>,
    /// `rspauth=...` for the SUCCESS message.
    pub rspauth: Vec<u8>,
}

impl DigestServer {
    pub fn new() -> Self {
        DigestServer {
            nonce: random_nonce(),
        }
    }

    pub fn challenge(&self) -> Vec<u8> {
        format!(
            "realm=\"{SASL_DEFAULT_REALM}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
            self.nonce
        )
        .into_bytes()
    }

    /// Checks the client's response. `lookup` maps identifier bytes to the token password
    /// (Hadoop's `SecretManager.retrievePassword`) and may refuse with `InvalidToken`.
    pub fn verify(
        &self,
        response: &[u8],
        lookup: &PasswordLookup<'_>,
    ) -> Result<DigestOutcome, crate::hadoop::ipc::RpcException> {
        use crate::hadoop::ipc::RpcException;
        let sasl = |m: String| RpcException::new("javax.security.sasl.SaslException", m);
        let d = parse_directives(response).map_err(|e| sasl(e.to_string()))?;
        let field = |k: &str| {
            d.get(k).cloned().ok_or_else(|| {
                sasl(format!(
                    "DIGEST-MD5: digest response format violation. Missing {k}."
                ))
            })
        };
        let user = field("username")?;
        let nonce = field("nonce")?;
        let cnonce = field("cnonce")?;
        let nc = field("nc")?;
        let digest_uri = field("digest-uri")?;
        let response_hex = field("response")?;
        let realm = d
            .get("realm")
            .cloned()
            .unwrap_or_else(|| SASL_DEFAULT_REALM.to_string());
        if nonce != self.nonce {
            return Err(sasl(
                "DIGEST-MD5: digest response format violation. Mismatched nonce.".into(),
            ));
        }
        if d.get("qop").map(String::as_str).unwrap_or("auth") != "auth" {
            return Err(sasl(
                "DIGEST-MD5: digest response format violation. Unsupported qop.".into(),
            ));
        }
        let expected_uri = format!("/{SASL_DEFAULT_REALM}");
        if digest_uri != expected_uri {
            return Err(sasl(format!(
                "DIGEST-MD5: digest response format violation. Mismatched URI: {digest_uri}; expecting: {expected_uri}"
            )));
        }
        let identifier = decode_b64(&user)
            .ok_or_else(|| sasl(format!("DIGEST-MD5: username {user:?} is not base64")))?;
        let password = encode_b64(&lookup(&identifier)?);
        let inputs = DigestInputs {
            user: &user,
            realm: &realm,
            password: &password,
            nonce: &nonce,
            cnonce: &cnonce,
            nc: &nc,
            digest_uri: &digest_uri,
        };
        let expected = inputs.response();
        if expected != response_hex {
            return Err(sasl(
                "DIGEST-MD5: digest response format violation. Mismatched response.".into(),
            ));
        }
        let rspauth = inputs.rspauth();
        Ok(DigestOutcome {
            identifier,
            rspauth: format!("rspauth={rspauth}").into_bytes(),
        })
    }
}

impl Default for DigestServer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2831_example_response_value() {
        // RFC 2831 section 4 example (imap/elwood.innosoft.com, chris/secret).
        let inputs = DigestInputs {
            user: "chris",
            realm: "elwood.innosoft.com",
            password: "secret",
            nonce: "OA6MG9tEQGm2hh",
            cnonce: "OA6MHXh6VqTrRk",
            nc: "00000001",
            digest_uri: "imap/elwood.innosoft.com",
        };
        assert_eq!(inputs.response(), "d388dad90d4bbd760a152321f2143af7");
        let rsp = inputs.rspauth();
        assert_eq!(rsp, "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn client_response_has_hadoop_directives() {
        let mut c = DigestClient::new(b"id", b"pw", "", "default").with_cnonce("CN");
        let r = c
            .respond(
                b"realm=\"default\",nonce=\"N1\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
            )
            .unwrap();
        let s = String::from_utf8(r).unwrap();
        let expected = DigestInputs {
            user: "aWQ=",
            realm: "default",
            password: "cHc=",
            nonce: "N1",
            cnonce: "CN",
            nc: "00000001",
            digest_uri: "/default",
        }
        .response();
        assert_eq!(
            s,
            format!("charset=utf-8,username=\"aWQ=\",realm=\"default\",nonce=\"N1\",nc=00000001,cnonce=\"CN\",digest-uri=\"/default\",maxbuf=65536,response={expected},qop=auth")
        );
    }

    #[test]
    fn server_accepts_right_password_and_refuses_wrong_one() {
        let server = DigestServer::new();
        let mut client = DigestClient::new(b"ident", b"secret", "", "default");
        let resp = client.respond(&server.challenge()).unwrap();
        let ok = server.verify(&resp, &|id| {
            assert_eq!(id, b"ident");
            Ok(b"secret".to_vec())
        });
        let outcome = ok.unwrap();
        client.verify_success(&outcome.rspauth).unwrap();

        let bad = server.verify(&resp, &|_| Ok(b"other".to_vec()));
        let e = bad.err().unwrap();
        assert_eq!(e.class_name, "javax.security.sasl.SaslException");
        assert!(e.message.contains("Mismatched response"), "{}", e.message);
    }
}
