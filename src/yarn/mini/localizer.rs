//! Localization of a container's local resources, as the NodeManager's `FSDownload` does it:
//! copy from the source file system into the application's file cache, refuse a resource
//! whose size or modification time differs from what the submitter declared, unpack ARCHIVE
//! resources into a directory. All source reads go through [`fetch_resource`], which uses the
//! project's file system trait, so resources can live on `file://` or `hdfs://`.

use std::path::{Path, PathBuf};

use crate::fs::{FileStatus, FileSystem};
#[cfg(test)]
use crate::yarn::launch::{file_status, url_from_string};
use crate::yarn::proto::{
    local_resource_type, local_resource_visibility, LocalResourceProto, UrlProto,
};

/// Why a resource could not be localized; the text follows Hadoop's `FSDownload`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LocalizationError(pub String);

/// The URI a `URLProto` names (`scheme://host:port/file`, or a plain path).
pub fn source_uri(url: &UrlProto) -> String {
    let file = url.file.clone().unwrap_or_default();
    match url.scheme.as_deref().unwrap_or("") {
        "" => file,
        scheme => {
            let host = url.host.clone().unwrap_or_default();
            let port = url
                .port
                .filter(|p| *p > 0)
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            format!("{scheme}://{host}{port}{file}")
        }
    }
}

/// The one place the mini NodeManager reads a resource's source, through the project's file
/// system trait (`file://`, `hdfs://`): checks the declared size and modification time the
/// way Hadoop's `FSDownload` does, then copies it to `dest`. Blocking: call it off the async
/// runtime.
pub fn fetch_resource(resource: &LocalResourceProto, dest: &Path) -> Result<(), LocalizationError> {
    let uri = source_uri(&resource.resource.clone().unwrap_or_default());
    let (fs, path) = <dyn FileSystem>::for_uri(&uri).map_err(|e| {
        LocalizationError(format!("java.io.IOException: No FileSystem for {uri}: {e}"))
    })?;
    let status = fs.status(&path).map_err(|e| {
        LocalizationError(format!(
            "java.io.FileNotFoundException: File {uri} does not exist ({e})"
        ))
    })?;
    let expected_ts = resource.timestamp.unwrap_or(0);
    let actual_ts = status.modification_time as i64;
    if actual_ts != expected_ts {
        return Err(LocalizationError(format!(
            "java.io.IOException: Resource {uri} changed on src filesystem - expected: \"{expected_ts}\", was: \"{actual_ts}\""
        )));
    }
    let expected_size = resource.size.unwrap_or(-1);
    if !status.is_dir && expected_size >= 0 && status.len as i64 != expected_size {
        return Err(LocalizationError(format!(
            "java.io.IOException: Resource {uri} changed on src filesystem - expected size: {expected_size}, was: {}",
            status.len
        )));
    }
    // FSDownload's permissions: the localized copy is readable and executable by the
    // container's user (and everyone for PUBLIC resources), whatever the source kept.
    let public = resource.visibility == Some(local_resource_visibility::PUBLIC);
    let perms = if public {
        Perms {
            file: 0o555,
            dir: 0o755,
        }
    } else {
        Perms {
            file: 0o500,
            dir: 0o700,
        }
    };
    copy_tree(fs.as_ref(), &status, dest, perms).map_err(|e| {
        LocalizationError(format!(
            "java.io.IOException: copying {uri} to {}: {e}",
            dest.display()
        ))
    })
}

/// Permission bits of localized files and directories.
#[derive(Clone, Copy)]
struct Perms {
    file: u32,
    dir: u32,
}

/// Copies a file or directory from any file system to a local path.
fn copy_tree(
    fs: &dyn FileSystem,
    status: &FileStatus,
    dest: &Path,
    perms: Perms,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if status.is_dir {
        std::fs::create_dir_all(dest)?;
        for child in fs.list(&status.path).map_err(std::io::Error::other)? {
            let name = child.path.file_name().unwrap_or_default().to_string();
            copy_tree(fs, &child, &dest.join(name), perms)?;
        }
        return std::fs::set_permissions(dest, std::fs::Permissions::from_mode(perms.dir));
    }
    let mut reader = fs.open(&status.path).map_err(std::io::Error::other)?;
    let mut file = std::fs::File::create(dest)?;
    std::io::copy(&mut reader, &mut file)?;
    file.sync_all()?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(perms.file))
}

/// Localizes one resource into `cache_dir` and returns the path the container's link points
/// to: the copied file, or for ARCHIVE the directory it was unpacked into.
pub fn localize(
    resource: &LocalResourceProto,
    cache_dir: &Path,
) -> Result<PathBuf, LocalizationError> {
    let url = resource.resource.clone().unwrap_or_default();
    let file = url.file.clone().unwrap_or_default();
    let name = Path::new(&file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "resource".into());
    std::fs::create_dir_all(cache_dir).map_err(|e| {
        LocalizationError(format!(
            "java.io.IOException: creating {}: {e}",
            cache_dir.display()
        ))
    })?;
    let copied = cache_dir.join(&name);
    fetch_resource(resource, &copied)?;
    match resource.r#type.unwrap_or(local_resource_type::FILE) {
        local_resource_type::ARCHIVE | local_resource_type::PATTERN => {
            let out = cache_dir.join(format!("{name}.unpacked"));
            unpack(&copied, &out)?;
            Ok(out)
        }
        _ => Ok(copied),
    }
}

/// `FileUtil.unZip` / `unTar` by extension; other files are just placed in the directory,
/// as Hadoop does for an ARCHIVE it cannot recognise.
fn unpack(archive: &Path, out: &Path) -> Result<(), LocalizationError> {
    std::fs::create_dir_all(out)
        .map_err(|e| LocalizationError(format!("java.io.IOException: {e}")))?;
    let lower = archive.to_string_lossy().to_lowercase();
    let status = if lower.ends_with(".zip") || lower.ends_with(".jar") {
        std::process::Command::new("unzip")
            .arg("-q")
            .arg("-o")
            .arg(archive)
            .arg("-d")
            .arg(out)
            .status()
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") || lower.ends_with(".tar") {
        std::process::Command::new("tar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(out)
            .status()
    } else {
        let target = out.join(archive.file_name().unwrap_or_default());
        return std::fs::copy(archive, target)
            .map(|_| ())
            .map_err(|e| LocalizationError(format!("java.io.IOException: {e}")));
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(LocalizationError(format!(
            "java.io.IOException: unpacking {} failed with {s}",
            archive.display()
        ))),
        Err(e) => Err(LocalizationError(format!(
            "java.io.IOException: unpacking {}: {e}",
            archive.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource_for(path: &Path, kind: i32) -> LocalResourceProto {
        let (ts, size) = file_status(path).unwrap();
        LocalResourceProto {
            resource: Some(url_from_string(&format!("file://{}", path.display()))),
            size: Some(size),
            timestamp: Some(ts),
            r#type: Some(kind),
            visibility: Some(crate::yarn::proto::local_resource_visibility::APPLICATION),
            pattern: None,
        }
    }

    #[test]
    fn changed_resources_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.txt");
        std::fs::write(&src, b"hello").unwrap();
        let mut r = resource_for(&src, local_resource_type::FILE);
        let cache = dir.path().join("cache");
        let out = localize(&r, &cache).unwrap();
        assert_eq!(std::fs::read(out).unwrap(), b"hello");

        r.timestamp = Some(r.timestamp.unwrap() - 1000);
        let e = localize(&r, &cache).unwrap_err();
        assert!(e.0.contains("changed on src filesystem"), "{e}");

        let mut r = resource_for(&src, local_resource_type::FILE);
        r.size = Some(4);
        let e = localize(&r, &cache).unwrap_err();
        assert!(e.0.contains("expected size: 4, was: 5"), "{e}");
    }

    #[test]
    fn archives_are_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let content = dir.path().join("content");
        std::fs::create_dir(&content).unwrap();
        std::fs::write(content.join("inner.txt"), b"x").unwrap();
        let tgz = dir.path().join("bundle.tar.gz");
        let ok = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&tgz)
            .arg("-C")
            .arg(&content)
            .arg("inner.txt")
            .status()
            .unwrap();
        assert!(ok.success());
        let r = resource_for(&tgz, local_resource_type::ARCHIVE);
        let out = localize(&r, &dir.path().join("cache")).unwrap();
        assert_eq!(std::fs::read(out.join("inner.txt")).unwrap(), b"x");
    }
}
