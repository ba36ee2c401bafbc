//! Hadoop security plumbing: delegation-style tokens, the token storage ("credentials") file
//! that `HADOOP_TOKEN_FILE_LOCATION` points to, and the HMAC-SHA1 passwords Hadoop's
//! `SecretManager` derives from a token identifier and a master key.
//!
//! Two storage formats exist (`Credentials.java`): version 0 (Writable: VInt counts, `Text`
//! aliases, `Token.write`) and version 1 (a length-delimited `CredentialsProto`). Both start
//! with the magic `HDTS`. Strato reads both and writes version 0 by default, the format every
//! Hadoop 2 and 3 reader accepts.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use hmac::{Hmac, Mac};
use prost::Message;

use crate::hadoop::proto::{CredentialsKvProto, CredentialsProto, TokenProto};

/// Magic bytes at the start of every token storage file.
pub const TOKEN_STORAGE_MAGIC: &[u8; 4] = b"HDTS";
/// Writable format (`OLD_TOKEN_STORAGE_VERSION`).
pub const TOKEN_STORAGE_VERSION_WRITABLE: u8 = 0;
/// Protobuf format (`TOKEN_STORAGE_VERSION`).
pub const TOKEN_STORAGE_VERSION_PROTOBUF: u8 = 1;

/// Errors reading or decoding Hadoop security data.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("token storage: bad header {found:?}, expected \"HDTS\"")]
    BadMagic { found: Vec<u8> },
    #[error("token storage: unknown version {0}")]
    UnknownVersion(u8),
    #[error("token storage truncated while reading {what} at byte {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("token storage: {what} is not valid UTF-8")]
    NotUtf8 { what: &'static str },
    #[error("token storage: negative length {len} for {what}")]
    NegativeLength { what: &'static str, len: i64 },
    #[error("token storage: protobuf body does not decode: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("token {alias:?}: not valid URL-safe base64: {source}")]
    Base64 {
        alias: String,
        source: base64::DecodeError,
    },
    #[error("reading token file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// A Hadoop token (`org.apache.hadoop.security.token.Token`): opaque identifier bytes, the
/// password the issuer derived from them, a kind (`YARN_AM_RM_TOKEN`, `NMToken`, ...) and a
/// service (usually `host:port` of the server that accepts it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Token {
    pub identifier: Vec<u8>,
    pub password: Vec<u8>,
    pub kind: String,
    pub service: String,
}

impl Token {
    pub fn to_proto(&self) -> TokenProto {
        TokenProto {
            identifier: self.identifier.clone(),
            password: self.password.clone(),
            kind: self.kind.clone(),
            service: self.service.clone(),
        }
    }

    pub fn from_proto(p: &TokenProto) -> Token {
        Token {
            identifier: p.identifier.clone(),
            password: p.password.clone(),
            kind: p.kind.clone(),
            service: p.service.clone(),
        }
    }

    /// `Token.write`: VInt-prefixed identifier and password, then kind and service as `Text`.
    pub fn write_writable(&self, out: &mut Vec<u8>) {
        write_vint(out, self.identifier.len() as i64);
        out.extend_from_slice(&self.identifier);
        write_vint(out, self.password.len() as i64);
        out.extend_from_slice(&self.password);
        write_text(out, &self.kind);
        write_text(out, &self.service);
    }

    fn read_writable(r: &mut Reader<'_>) -> Result<Token, SecurityError> {
        let identifier = r.vint_bytes("token identifier")?;
        let password = r.vint_bytes("token password")?;
        let kind = r.text("token kind")?;
        let service = r.text("token service")?;
        Ok(Token {
            identifier,
            password,
            kind,
            service,
        })
    }

    /// `Token.encodeToUrlString`: URL-safe base64 (no padding) of the Writable form. This is
    /// the form the RM REST API takes in `credentials.tokens`.
    pub fn encode_to_url_string(&self) -> String {
        let mut buf = Vec::new();
        self.write_writable(&mut buf);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }

    /// Inverse of [`Token::encode_to_url_string`]; accepts padded input too.
    pub fn decode_from_url_string(alias: &str, s: &str) -> Result<Token, SecurityError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|source| SecurityError::Base64 {
                alias: alias.to_string(),
                source,
            })?;
        Token::read_writable(&mut Reader::new(&bytes))
    }
}

/// The tokens and secrets of one UGI (`org.apache.hadoop.security.Credentials`), keyed by
/// alias. Ordered maps keep the encoding deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub tokens: BTreeMap<String, Token>,
    pub secrets: BTreeMap<String, Vec<u8>>,
}

impl Credentials {
    pub fn new() -> Credentials {
        Credentials::default()
    }

    pub fn add_token(&mut self, alias: impl Into<String>, token: Token) {
        self.tokens.insert(alias.into(), token);
    }

    /// The first token of the given kind (Hadoop's token selectors look tokens up by kind
    /// and service; YARN AMs hold one AMRMToken).
    pub fn token_of_kind(&self, kind: &str) -> Option<&Token> {
        self.tokens.values().find(|t| t.kind == kind)
    }

    /// Token storage stream in the Writable format (version 0).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(TOKEN_STORAGE_MAGIC);
        out.push(TOKEN_STORAGE_VERSION_WRITABLE);
        write_vint(&mut out, self.tokens.len() as i64);
        for (alias, token) in &self.tokens {
            write_text(&mut out, alias);
            token.write_writable(&mut out);
        }
        write_vint(&mut out, self.secrets.len() as i64);
        for (alias, secret) in &self.secrets {
            write_text(&mut out, alias);
            write_vint(&mut out, secret.len() as i64);
            out.extend_from_slice(secret);
        }
        out
    }

    /// Token storage stream in the protobuf format (version 1).
    pub fn to_bytes_protobuf(&self) -> Vec<u8> {
        let proto = CredentialsProto {
            tokens: self
                .tokens
                .iter()
                .map(|(alias, t)| CredentialsKvProto {
                    alias: alias.clone(),
                    token: Some(t.to_proto()),
                    secret: None,
                })
                .collect(),
            secrets: self
                .secrets
                .iter()
                .map(|(alias, s)| CredentialsKvProto {
                    alias: alias.clone(),
                    token: None,
                    secret: Some(s.clone()),
                })
                .collect(),
        };
        let mut out = Vec::new();
        out.extend_from_slice(TOKEN_STORAGE_MAGIC);
        out.push(TOKEN_STORAGE_VERSION_PROTOBUF);
        proto
            .encode_length_delimited(&mut out)
            .expect("Vec<u8> grows as needed");
        out
    }

    /// Parses a token storage stream of either version (`readTokenStorageStream`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Credentials, SecurityError> {
        if bytes.len() < 5 {
            return Err(SecurityError::Truncated {
                what: "header",
                offset: bytes.len(),
            });
        }
        if &bytes[..4] != TOKEN_STORAGE_MAGIC {
            return Err(SecurityError::BadMagic {
                found: bytes[..4].to_vec(),
            });
        }
        match bytes[4] {
            TOKEN_STORAGE_VERSION_WRITABLE => Self::read_writable(&bytes[5..]),
            TOKEN_STORAGE_VERSION_PROTOBUF => {
                let proto = CredentialsProto::decode_length_delimited(&bytes[5..])?;
                let mut c = Credentials::new();
                for kv in proto.tokens {
                    if let Some(t) = kv.token {
                        c.tokens.insert(kv.alias, Token::from_proto(&t));
                    }
                }
                for kv in proto.secrets {
                    c.secrets.insert(kv.alias, kv.secret.unwrap_or_default());
                }
                Ok(c)
            }
            v => Err(SecurityError::UnknownVersion(v)),
        }
    }

    fn read_writable(body: &[u8]) -> Result<Credentials, SecurityError> {
        let mut r = Reader::new(body);
        let mut c = Credentials::new();
        let n = r.vint_len("token count")?;
        for _ in 0..n {
            let alias = r.text("token alias")?;
            let token = Token::read_writable(&mut r)?;
            c.tokens.insert(alias, token);
        }
        let n = r.vint_len("secret count")?;
        for _ in 0..n {
            let alias = r.text("secret alias")?;
            let secret = r.vint_bytes("secret")?;
            c.secrets.insert(alias, secret);
        }
        Ok(c)
    }

    /// Reads the file `HADOOP_TOKEN_FILE_LOCATION` names.
    pub fn read_token_storage_file(path: &Path) -> Result<Credentials, SecurityError> {
        let bytes = std::fs::read(path).map_err(|source| SecurityError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Credentials::from_bytes(&bytes)
    }

    pub fn write_token_storage_file(&self, path: &Path) -> Result<(), SecurityError> {
        std::fs::write(path, self.to_bytes()).map_err(|source| SecurityError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// `SecretManager.createPassword`: HMAC-SHA1 of the identifier bytes under the master key.
pub fn create_password(identifier: &[u8], master_key: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(master_key)
        .expect("HMAC accepts keys of any length");
    mac.update(identifier);
    mac.finalize().into_bytes().to_vec()
}

/// `WritableUtils.writeVLong`: one byte for -112..=127, else a length/sign byte and the
/// big-endian magnitude (one's complement for negatives).
pub fn write_vint(out: &mut Vec<u8>, value: i64) {
    if (-112..=127).contains(&value) {
        out.push(value as i8 as u8);
        return;
    }
    let (mut len, v) = if value < 0 {
        (-120i64, !value)
    } else {
        (-112i64, value)
    };
    let mut tmp = v;
    while tmp != 0 {
        tmp >>= 8;
        len -= 1;
    }
    out.push(len as i8 as u8);
    let n = if len < -120 {
        -(len + 120)
    } else {
        -(len + 112)
    };
    for idx in (0..n).rev() {
        out.push(((v >> (idx * 8)) & 0xff) as u8);
    }
}

/// `Text.write`: VInt byte length, then UTF-8.
pub fn write_text(out: &mut Vec<u8>, s: &str) {
    write_vint(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

/// Cursor over Writable-encoded bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, SecurityError> {
        let b = *self.buf.get(self.pos).ok_or(SecurityError::Truncated {
            what,
            offset: self.pos,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn vint(&mut self, what: &'static str) -> Result<i64, SecurityError> {
        let first = self.byte(what)? as i8 as i64;
        if first >= -112 {
            return Ok(first);
        }
        let negative = first < -120;
        let n = if negative {
            -(first + 120)
        } else {
            -(first + 112)
        };
        let mut v: i64 = 0;
        for _ in 0..n {
            v = (v << 8) | self.byte(what)? as i64;
        }
        Ok(if negative { !v } else { v })
    }

    fn vint_len(&mut self, what: &'static str) -> Result<usize, SecurityError> {
        let len = self.vint(what)?;
        if len < 0 {
            return Err(SecurityError::NegativeLength { what, len });
        }
        Ok(len as usize)
    }

    fn vint_bytes(&mut self, what: &'static str) -> Result<Vec<u8>, SecurityError> {
        let len = self.vint_len(what)?;
        let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len());
        let end = end.ok_or(SecurityError::Truncated {
            what,
            offset: self.pos,
        })?;
        let out = self.buf[self.pos..end].to_vec();
        self.pos = end;
        Ok(out)
    }

    fn text(&mut self, what: &'static str) -> Result<String, SecurityError> {
        String::from_utf8(self.vint_bytes(what)?).map_err(|_| SecurityError::NotUtf8 { what })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_token() -> Token {
        Token {
            identifier: vec![0x0a, 0x01, 0x02],
            password: vec![0xff; 3],
            kind: "YARN_AM_RM_TOKEN".into(),
            service: "127.0.0.1:8030".into(),
        }
    }

    #[test]
    fn vints_match_hadoop_writable_utils() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (-112, &[0x90]),
            (128, &[0x8f, 0x80]),
            (255, &[0x8f, 0xff]),
            (256, &[0x8e, 0x01, 0x00]),
            (-113, &[0x87, 0x70]),
            (65536, &[0x8d, 0x01, 0x00, 0x00]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            write_vint(&mut out, *v);
            assert_eq!(&out[..], *bytes, "encoding {v}");
            assert_eq!(Reader::new(bytes).vint("x").unwrap(), *v, "decoding {v}");
        }
    }

    #[test]
    fn writable_credentials_file_has_hadoop_layout() {
        let mut c = Credentials::new();
        c.add_token("amrm", sample_token());
        c.secrets.insert("k".into(), vec![7, 8]);
        let bytes = c.to_bytes();
        let mut expected = b"HDTS\x00".to_vec();
        expected.push(1); // one token
        expected.extend_from_slice(b"\x04amrm");
        expected.extend_from_slice(&[3, 0x0a, 0x01, 0x02, 3, 0xff, 0xff, 0xff]);
        expected.push(16);
        expected.extend_from_slice(b"YARN_AM_RM_TOKEN");
        expected.push(14);
        expected.extend_from_slice(b"127.0.0.1:8030");
        expected.push(1); // one secret
        expected.extend_from_slice(&[1, b'k', 2, 7, 8]);
        assert_eq!(bytes, expected);
        assert_eq!(Credentials::from_bytes(&bytes).unwrap(), c);
    }

    #[test]
    fn protobuf_credentials_file_has_hadoop_layout() {
        let mut c = Credentials::new();
        c.add_token("a", sample_token());
        let bytes = c.to_bytes_protobuf();
        assert_eq!(&bytes[..5], b"HDTS\x01");
        // Delimited CredentialsProto: tokens (field 1, LEN) -> CredentialsKVProto whose
        // alias is field 1 and token field 2.
        assert_eq!(bytes[6], 0x0a);
        assert_eq!(&bytes[8..11], &[0x0a, 0x01, b'a']);
        assert_eq!(bytes[11], 0x12);
        assert_eq!(Credentials::from_bytes(&bytes).unwrap(), c);
    }

    #[test]
    fn bad_magic_and_truncation_are_named() {
        let err = Credentials::from_bytes(b"XXXX\x00").unwrap_err();
        assert!(err.to_string().contains("bad header"), "{err}");
        let mut c = Credentials::new();
        c.add_token("amrm", sample_token());
        let bytes = c.to_bytes();
        let err = Credentials::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(matches!(err, SecurityError::Truncated { .. }), "{err}");
        let err = Credentials::from_bytes(b"HDTS\x07").unwrap_err();
        assert!(err.to_string().contains("unknown version 7"), "{err}");
    }

    #[test]
    fn url_string_round_trips_token() {
        let t = sample_token();
        let s = t.encode_to_url_string();
        assert!(!s.contains('+') && !s.contains('/') && !s.contains('='));
        assert_eq!(Token::decode_from_url_string("a", &s).unwrap(), t);
    }

    #[test]
    fn password_is_hmac_sha1() {
        // RFC 2202 test case 2.
        let p = create_password(b"what do ya want for nothing?", b"Jefe");
        let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }
}
