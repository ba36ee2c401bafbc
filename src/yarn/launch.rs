//! Building container launch contexts the way YARN clients do: local resources described
//! by URL, size and modification time, environment, commands and credentials. Used by AMs
//! (for `startContainers`) and by the mini RM (for the AM container of a submission).

use std::path::Path;
use std::time::UNIX_EPOCH;

use super::proto::{
    local_resource_type as t, local_resource_visibility as v, ContainerLaunchContextProto,
    LocalResourceProto, StringLocalResourceMapProto, StringStringMapProto, UrlProto,
};
use super::rest::model::{LocalResourceInfo, LocalResourceType, LocalResourceVisibility};
use crate::hadoop::security::Credentials;

/// `URL.fromURI`: a resource string (`hdfs://nn:8020/x`, `file:///x`, `/x`) as Hadoop's
/// URL record.
pub fn url_from_string(resource: &str) -> UrlProto {
    let (scheme, rest) = match resource.split_once("://") {
        Some((s, r)) => (Some(s.to_string()), r),
        None => (None, resource),
    };
    let (host, file) = match (scheme.is_some(), rest.find('/')) {
        (true, Some(i)) => (&rest[..i], &rest[i..]),
        (true, None) => (rest, "/"),
        (false, _) => ("", rest),
    };
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()),
        None => (host.to_string(), None),
    };
    UrlProto {
        scheme,
        host: (!host.is_empty()).then_some(host),
        port,
        file: Some(file.to_string()),
        user_info: None,
    }
}

/// Modification time in milliseconds and size of a local file: what a `LocalResource`
/// must declare (the NodeManager refuses the resource if either changed).
pub fn file_status(path: &Path) -> std::io::Result<(i64, i64)> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Ok((mtime, meta.len() as i64))
}

/// A `file://` resource for a local file, with its current size and timestamp.
pub fn local_file_resource(
    path: &Path,
    kind: LocalResourceType,
) -> std::io::Result<LocalResourceInfo> {
    let (timestamp, size) = file_status(path)?;
    Ok(LocalResourceInfo {
        resource: format!("file://{}", path.display()),
        kind,
        visibility: LocalResourceVisibility::Application,
        size,
        timestamp,
        pattern: None,
    })
}

/// The protobuf form of a local resource.
pub fn local_resource_proto(r: &LocalResourceInfo) -> LocalResourceProto {
    LocalResourceProto {
        resource: Some(url_from_string(&r.resource)),
        size: Some(r.size),
        timestamp: Some(r.timestamp),
        r#type: Some(match r.kind {
            LocalResourceType::Archive => t::ARCHIVE,
            LocalResourceType::File => t::FILE,
            LocalResourceType::Pattern => t::PATTERN,
        }),
        visibility: Some(match r.visibility {
            LocalResourceVisibility::Public => v::PUBLIC,
            LocalResourceVisibility::Private => v::PRIVATE,
            LocalResourceVisibility::Application => v::APPLICATION,
        }),
        pattern: r.pattern.clone(),
    }
}

/// A `ContainerLaunchContext`: resources linked under their keys, environment, the command
/// line (YARN joins the parts with spaces) and credentials (a token storage stream).
pub fn launch_context<'a>(
    commands: Vec<String>,
    environment: impl IntoIterator<Item = (&'a str, &'a str)>,
    local_resources: impl IntoIterator<Item = (&'a str, &'a LocalResourceInfo)>,
    credentials: Option<&Credentials>,
) -> ContainerLaunchContextProto {
    ContainerLaunchContextProto {
        local_resources: local_resources
            .into_iter()
            .map(|(k, r)| StringLocalResourceMapProto {
                key: Some(k.to_string()),
                value: Some(local_resource_proto(r)),
            })
            .collect(),
        tokens: credentials.map(Credentials::to_bytes),
        service_data: Vec::new(),
        environment: environment
            .into_iter()
            .map(|(k, v)| StringStringMapProto {
                key: Some(k.to_string()),
                value: Some(v.to_string()),
            })
            .collect(),
        command: commands,
        application_acls: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_like_hadoop_url_records() {
        let u = url_from_string("hdfs://nn:9000/user/a.jar");
        assert_eq!(u.scheme.as_deref(), Some("hdfs"));
        assert_eq!(u.host.as_deref(), Some("nn"));
        assert_eq!(u.port, Some(9000));
        assert_eq!(u.file.as_deref(), Some("/user/a.jar"));
        let f = url_from_string("file:///tmp/x");
        assert_eq!(f.host, None);
        assert_eq!(f.file.as_deref(), Some("/tmp/x"));
        assert_eq!(url_from_string("/tmp/y").scheme, None);
    }

    #[test]
    fn launch_context_carries_resources_env_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("job.bin");
        std::fs::write(&f, b"12345").unwrap();
        let r = local_file_resource(&f, LocalResourceType::File).unwrap();
        assert_eq!(r.size, 5);
        let mut creds = Credentials::new();
        creds.secrets.insert("k".into(), vec![1]);
        let ctx = launch_context(
            vec!["./job".into()],
            [("A", "1")],
            [("job", &r)],
            Some(&creds),
        );
        let lr = ctx.local_resources[0].value.clone().unwrap();
        assert_eq!(lr.r#type, Some(t::FILE));
        assert_eq!(lr.resource.unwrap().file, Some(f.display().to_string()));
        assert_eq!(ctx.environment[0].key.as_deref(), Some("A"));
        assert_eq!(
            Credentials::from_bytes(&ctx.tokens.unwrap()).unwrap(),
            creds
        );
    }
}
