//! YARN identifiers with Hadoop's string forms (`application_<ts>_<nnnn>`,
//! `appattempt_<ts>_<nnnn>_<nnnnnn>`, `container_[e<epoch>_]<ts>_<nnnn>_<nn>_<nnnnnn>`,
//! `host:port`) and their protobuf messages.

use std::fmt;
use std::str::FromStr;

use super::proto::{ApplicationAttemptIdProto, ApplicationIdProto, ContainerIdProto, NodeIdProto};

#[derive(Debug, thiserror::Error)]
#[error("invalid {kind} {value:?}")]
pub struct IdParseError {
    pub kind: &'static str,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplicationId {
    pub cluster_timestamp: i64,
    pub id: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplicationAttemptId {
    pub application_id: ApplicationId,
    pub attempt_id: i32,
}

/// `ContainerId.getContainerId()`: sequence in the low 40 bits, RM epoch above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId {
    pub attempt: ApplicationAttemptId,
    pub id: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub host: String,
    pub port: i32,
}

impl fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "application_{}_{:04}", self.cluster_timestamp, self.id)
    }
}

impl fmt::Display for ApplicationAttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.application_id;
        write!(
            f,
            "appattempt_{}_{:04}_{:06}",
            a.cluster_timestamp, a.id, self.attempt_id
        )
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = self.attempt.application_id;
        let epoch = self.id >> 40;
        let seq = self.id & ((1i64 << 40) - 1);
        write!(f, "container_")?;
        if epoch > 0 {
            write!(f, "e{epoch:02}_")?;
        }
        write!(
            f,
            "{}_{:04}_{:02}_{:06}",
            app.cluster_timestamp, app.id, self.attempt.attempt_id, seq
        )
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

fn num<T: FromStr>(s: Option<&str>, kind: &'static str, value: &str) -> Result<T, IdParseError> {
    s.and_then(|s| s.parse().ok()).ok_or_else(|| IdParseError {
        kind,
        value: value.to_string(),
    })
}

impl FromStr for ApplicationId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, IdParseError> {
        let mut p = s.split('_');
        if p.next() != Some("application") {
            return Err(IdParseError {
                kind: "application id",
                value: s.into(),
            });
        }
        let id = ApplicationId {
            cluster_timestamp: num(p.next(), "application id", s)?,
            id: num(p.next(), "application id", s)?,
        };
        if p.next().is_some() {
            return Err(IdParseError {
                kind: "application id",
                value: s.into(),
            });
        }
        Ok(id)
    }
}

impl FromStr for ApplicationAttemptId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, IdParseError> {
        let k = "application attempt id";
        let mut p = s.split('_');
        if p.next() != Some("appattempt") {
            return Err(IdParseError {
                kind: k,
                value: s.into(),
            });
        }
        Ok(ApplicationAttemptId {
            application_id: ApplicationId {
                cluster_timestamp: num(p.next(), k, s)?,
                id: num(p.next(), k, s)?,
            },
            attempt_id: num(p.next(), k, s)?,
        })
    }
}

impl FromStr for ContainerId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, IdParseError> {
        let k = "container id";
        let mut p = s.split('_').peekable();
        if p.next() != Some("container") {
            return Err(IdParseError {
                kind: k,
                value: s.into(),
            });
        }
        let mut epoch = 0i64;
        if let Some(e) = p.peek().and_then(|x| x.strip_prefix('e')) {
            epoch = num(Some(e), k, s)?;
            p.next();
        }
        let ts = num(p.next(), k, s)?;
        let app = num(p.next(), k, s)?;
        let attempt = num(p.next(), k, s)?;
        let seq: i64 = num(p.next(), k, s)?;
        Ok(ContainerId {
            attempt: ApplicationAttemptId {
                application_id: ApplicationId {
                    cluster_timestamp: ts,
                    id: app,
                },
                attempt_id: attempt,
            },
            id: (epoch << 40) | seq,
        })
    }
}

impl ApplicationId {
    pub fn to_proto(self) -> ApplicationIdProto {
        ApplicationIdProto {
            id: Some(self.id),
            cluster_timestamp: Some(self.cluster_timestamp),
        }
    }
    pub fn from_proto(p: &ApplicationIdProto) -> Self {
        ApplicationId {
            cluster_timestamp: p.cluster_timestamp.unwrap_or(0),
            id: p.id.unwrap_or(0),
        }
    }
}

impl ApplicationAttemptId {
    pub fn to_proto(self) -> ApplicationAttemptIdProto {
        ApplicationAttemptIdProto {
            application_id: Some(self.application_id.to_proto()),
            attempt_id: Some(self.attempt_id),
        }
    }
    pub fn from_proto(p: &ApplicationAttemptIdProto) -> Self {
        ApplicationAttemptId {
            application_id: ApplicationId::from_proto(
                &p.application_id.clone().unwrap_or_default(),
            ),
            attempt_id: p.attempt_id.unwrap_or(0),
        }
    }
}

impl ContainerId {
    /// Hadoop fills both `app_id` and `app_attempt_id`.
    pub fn to_proto(self) -> ContainerIdProto {
        ContainerIdProto {
            app_id: Some(self.attempt.application_id.to_proto()),
            app_attempt_id: Some(self.attempt.to_proto()),
            id: Some(self.id),
        }
    }
    pub fn from_proto(p: &ContainerIdProto) -> Self {
        ContainerId {
            attempt: ApplicationAttemptId::from_proto(
                &p.app_attempt_id.clone().unwrap_or_default(),
            ),
            id: p.id.unwrap_or(0),
        }
    }
}

impl NodeId {
    pub fn to_proto(&self) -> NodeIdProto {
        NodeIdProto {
            host: Some(self.host.clone()),
            port: Some(self.port),
        }
    }
    pub fn from_proto(p: &NodeIdProto) -> Self {
        NodeId {
            host: p.host.clone().unwrap_or_default(),
            port: p.port.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse_like_hadoop() {
        let app = ApplicationId {
            cluster_timestamp: 1404203615263,
            id: 1,
        };
        assert_eq!(app.to_string(), "application_1404203615263_0001");
        let att = ApplicationAttemptId {
            application_id: app,
            attempt_id: 2,
        };
        assert_eq!(att.to_string(), "appattempt_1404203615263_0001_000002");
        let c = ContainerId {
            attempt: att,
            id: 5,
        };
        assert_eq!(c.to_string(), "container_1404203615263_0001_02_000005");
        let e = ContainerId {
            attempt: att,
            id: (3 << 40) | 7,
        };
        assert_eq!(e.to_string(), "container_e03_1404203615263_0001_02_000007");
        let s = "application_1_12345";
        assert_eq!(s.parse::<ApplicationId>().unwrap().to_string(), s);
        assert_eq!(
            att.to_string().parse::<ApplicationAttemptId>().unwrap(),
            att
        );
        assert_eq!(c.to_string().parse::<ContainerId>().unwrap(), c);
        assert_eq!(e.to_string().parse::<ContainerId>().unwrap(), e);
        assert!("app_1_2".parse::<ApplicationId>().is_err());
    }
}
