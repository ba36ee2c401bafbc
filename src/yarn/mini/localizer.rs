//! Localization of a container's local resources, as the NodeManager's `FSDownload` does it:
//! copy from the source file system into the application's file cache, refuse a resource
//! whose size or modification time differs from what the submitter declared, unpack ARCHIVE
//! resources into a directory. All file-system reads go through [`fetch_resource`] so the
//! source can later be routed through the project's file-system trait (only `file://` URIs
//! and plain paths for now).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

#[cfg(test)]
use crate::yarn::launch::{file_status, url_from_string};
use crate::yarn::proto::{local_resource_type, LocalResourceProto, UrlProto};

/// Why a resource could not be localized; the text follows Hadoop's `FSDownload`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LocalizationError(pub String);

/// The source path a `URLProto` names (`file` scheme or none; anything else is refused).
pub fn source_path(url: &UrlProto) -> Result<PathBuf, LocalizationError> {
    match url.scheme.as_deref().unwrap_or("") {
        "" | "file" => Ok(PathBuf::from(url.file.clone().unwrap_or_default())),
        other => Err(LocalizationError(format!(
            "java.io.IOException: No FileSystem for scheme \"{other}\" (the mini NodeManager localizes file:// resources only)"
        ))),
    }
}

fn mtime_millis(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The one place the mini NodeManager reads a resource's source: checks the declared size
/// and timestamp, then copies it to `dest`.
pub fn fetch_resource(resource: &LocalResourceProto, dest: &Path) -> Result<(), LocalizationError> {
    let url = resource.resource.clone().unwrap_or_default();
    let src = source_path(&url)?;
    let meta = std::fs::metadata(&src).map_err(|e| {
        LocalizationError(format!(
            "java.io.FileNotFoundException: File {} does not exist ({e})",
            src.display()
        ))
    })?;
    let expected_ts = resource.timestamp.unwrap_or(0);
    let actual_ts = mtime_millis(&meta);
    if actual_ts != expected_ts {
        return Err(LocalizationError(format!(
            "java.io.IOException: Resource {} changed on src filesystem - expected: \"{expected_ts}\", was: \"{actual_ts}\"",
            src.display()
        )));
    }
    let expected_size = resource.size.unwrap_or(-1);
    if meta.is_file() && expected_size >= 0 && meta.len() as i64 != expected_size {
        return Err(LocalizationError(format!(
            "java.io.IOException: Resource {} changed on src filesystem - expected size: {expected_size}, was: {}",
            src.display(),
            meta.len()
        )));
    }
    if meta.is_dir() {
        copy_dir(&src, dest)
    } else {
        std::fs::copy(&src, dest).map(|_| ())
    }
    .map_err(|e| {
        LocalizationError(format!(
            "java.io.IOException: copying {} to {}: {e}",
            src.display(),
            dest.display()
        ))
    })
}

fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), to)?;
        }
    }
    Ok(())
}

/// Localizes one resource into `cache_dir` and returns the path the container's link points
/// to: the copied file, or for ARCHIVE the directory it was unpacked into.
pub fn localize(
    resource: &LocalResourceProto,
    cache_dir: &Path,
) -> Result<PathBuf, LocalizationError> {
    let url = resource.resource.clone().unwrap_or_default();
    let src = source_path(&url)?;
    let name = src
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
