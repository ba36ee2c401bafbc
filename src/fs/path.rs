//! [`FsPath`]: a file system URI (`scheme://authority/path`) or a plain path.
//!
//! Like Flink's `org.apache.flink.core.fs.Path` it keeps the scheme and authority apart from the
//! slash-separated path so that code can walk to the parent or a child without caring which file
//! system the path lives on, and so that a scheme-less path can later be qualified with the
//! default file system (`fs.default-scheme` / Hadoop's `fs.defaultFS`).

use std::fmt;

use super::FsError;

/// A parsed file system URI or plain path. The path part is always normalised: no empty
/// segments, no trailing slash (except the root `/`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FsPath {
    scheme: Option<String>,
    authority: Option<String>,
    path: String,
}

impl FsPath {
    /// Parses `file:///a/b`, `hdfs://nn:8020/a`, `hdfs:///a` (authority from the default FS) or a
    /// plain path `/a/b` / `a/b`.
    pub fn parse(uri: &str) -> Result<Self, FsError> {
        let invalid = |reason: &str| FsError::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        if uri.is_empty() {
            return Err(invalid("the path is empty"));
        }
        // Like a Hadoop Path: a scheme is what stands before the first ':' when it comes
        // before any '/'; without one this is a plain (local or default file system) path.
        let scheme_end = uri.find(':').filter(|i| !uri[..*i].contains('/'));
        let Some(i) = scheme_end else {
            return Ok(Self::from_parts(None, None, uri));
        };
        let scheme = &uri[..i];
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid_scheme {
            return Err(invalid(
                "the scheme must be letters, digits, '+', '-' or '.'",
            ));
        }
        let rest = &uri[i + 1..];
        // `scheme://authority/path`, or `scheme:/path` (the form Java's File.toURI() gives).
        let (authority, path) = match rest.strip_prefix("//") {
            Some(rest) => match rest.find('/') {
                Some(j) => (&rest[..j], &rest[j..]),
                None => (rest, "/"),
            },
            None => ("", rest),
        };
        if !path.starts_with('/') {
            return Err(invalid("a URI with a scheme needs an absolute path"));
        }
        let authority = (!authority.is_empty()).then(|| authority.to_string());
        Ok(Self::from_parts(
            Some(scheme.to_ascii_lowercase()),
            authority,
            path,
        ))
    }

    fn from_parts(scheme: Option<String>, authority: Option<String>, path: &str) -> Self {
        let absolute = path.starts_with('/');
        let segments: Vec<&str> = path
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        let mut path = segments.join("/");
        if absolute {
            path.insert(0, '/');
        }
        if path.is_empty() {
            path.push('.');
        }
        FsPath {
            scheme,
            authority,
            path,
        }
    }

    /// The scheme (`file`, `hdfs`), if the path carries one.
    pub fn scheme(&self) -> Option<&str> {
        self.scheme.as_deref()
    }

    /// The authority (`host:port` or an HA nameservice id), if the path carries one.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// The slash-separated path without scheme and authority.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// True for `/...` paths and for every path with a scheme.
    pub fn is_absolute(&self) -> bool {
        self.path.starts_with('/')
    }

    /// The last path segment; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        match self.path.rsplit_once('/') {
            Some((_, name)) if !name.is_empty() => Some(name),
            Some(_) => None,
            None if self.path == "." => None,
            None => Some(&self.path),
        }
    }

    /// The parent directory; `None` for the root (and for a single relative segment).
    pub fn parent(&self) -> Option<FsPath> {
        let (parent, _) = self.path.rsplit_once('/')?;
        if self.path == "/" {
            return None;
        }
        let parent = if parent.is_empty() { "/" } else { parent };
        Some(self.with_path(parent))
    }

    /// This path with `name` appended (`name` may itself contain slashes).
    pub fn child(&self, name: &str) -> FsPath {
        let joined = if self.path == "." {
            name.to_string()
        } else {
            format!("{}/{}", self.path, name)
        };
        self.with_path(&joined)
    }

    /// The same scheme and authority with another path.
    pub fn with_path(&self, path: &str) -> FsPath {
        Self::from_parts(self.scheme.clone(), self.authority.clone(), path)
    }

    /// Fills in a missing scheme and authority from `default_fs` (e.g. `hdfs://nn:8020` or
    /// `file:///`). A path that already has a scheme keeps it; `hdfs:///x` takes only the
    /// authority from the default when the schemes match.
    pub fn qualified(&self, default_fs: &FsPath) -> FsPath {
        match &self.scheme {
            None => FsPath {
                scheme: default_fs.scheme.clone(),
                authority: default_fs.authority.clone(),
                path: self.path.clone(),
            },
            Some(s) if self.authority.is_none() && default_fs.scheme.as_deref() == Some(s) => {
                FsPath {
                    scheme: self.scheme.clone(),
                    authority: default_fs.authority.clone(),
                    path: self.path.clone(),
                }
            }
            Some(_) => self.clone(),
        }
    }
}

impl fmt::Display for FsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://{}", self.authority.as_deref().unwrap_or(""))?;
        }
        f.write_str(&self.path)
    }
}

impl std::str::FromStr for FsPath {
    type Err = FsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FsPath {
        FsPath::parse(s).unwrap()
    }

    #[test]
    fn uris_split_into_scheme_authority_and_normalised_path() {
        let hdfs = p("hdfs://nn:8020/user//alice/");
        assert_eq!(hdfs.scheme(), Some("hdfs"));
        assert_eq!(hdfs.authority(), Some("nn:8020"));
        assert_eq!(hdfs.path(), "/user/alice");
        assert_eq!(hdfs.to_string(), "hdfs://nn:8020/user/alice");
        assert_eq!(p("file:///tmp/x").to_string(), "file:///tmp/x");
        assert_eq!(p("file:/tmp/x").to_string(), "file:///tmp/x");
        assert_eq!(p("/tmp/x").scheme(), None);
        assert_eq!(p("hdfs://nn").path(), "/");
    }

    #[test]
    fn parent_child_and_file_name_walk_the_tree() {
        let x = p("hdfs://nn/a/b");
        assert_eq!(x.file_name(), Some("b"));
        assert_eq!(x.parent().unwrap().to_string(), "hdfs://nn/a");
        assert_eq!(
            x.parent().unwrap().parent().unwrap().to_string(),
            "hdfs://nn/"
        );
        assert_eq!(p("hdfs://nn/").parent(), None);
        assert_eq!(p("hdfs://nn/").file_name(), None);
        assert_eq!(x.child("c/d").to_string(), "hdfs://nn/a/b/c/d");
        assert_eq!(p("rel").child("x").path(), "rel/x");
    }

    #[test]
    fn scheme_less_paths_take_the_default_file_system() {
        let default = p("hdfs://ns1");
        assert_eq!(
            p("/data").qualified(&default).to_string(),
            "hdfs://ns1/data"
        );
        assert_eq!(
            p("hdfs:///data").qualified(&default).to_string(),
            "hdfs://ns1/data"
        );
        assert_eq!(
            p("file:///data").qualified(&default).to_string(),
            "file:///data"
        );
    }

    #[test]
    fn malformed_uris_are_rejected_with_the_reason() {
        let err = FsPath::parse("1x://a/b").unwrap_err().to_string();
        assert!(err.contains("1x://a/b"), "{err}");
        assert!(FsPath::parse("").is_err());
        let err = FsPath::parse("hdfs:relative").unwrap_err().to_string();
        assert!(err.contains("absolute path"), "{err}");
    }
}
