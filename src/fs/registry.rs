//! [`FileSystems`]: picks the file system for a URI by scheme and qualifies scheme-less paths
//! with the default file system.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::hdfs::HdfsFileSystem;
use super::local::LocalFileSystem;
use super::{FileSystem, FsError, FsPath, FsResult};

/// Settings for resolving URIs. The Hadoop settings are passed in (the Hadoop XML
/// configuration is parsed elsewhere); `hdfs-native` additionally reads `core-site.xml` and
/// `hdfs-site.xml` from `hadoop_conf_dir` or, when that is `None`, from `HADOOP_CONF_DIR`.
#[derive(Clone, Debug)]
pub struct FsConfig {
    /// The file system of scheme-less paths: Strato's `fs.default-scheme` or Hadoop's
    /// `fs.defaultFS` (`file:///`, `hdfs://nn:8020`, `hdfs://nameservice`).
    pub default_fs: String,
    /// Directory with `core-site.xml` / `hdfs-site.xml` (HA nameservices and client settings).
    pub hadoop_conf_dir: Option<PathBuf>,
    /// Extra Hadoop keys, applied over the files (e.g. `dfs.client.socket-timeout`).
    pub hadoop_config: HashMap<String, String>,
    /// The Hadoop user; `None` takes `HADOOP_USER_NAME` or the login user.
    pub hadoop_user: Option<String>,
    /// How long to wait for a NameNode to accept a connection.
    pub connect_timeout: Duration,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            default_fs: "file:///".to_string(),
            hadoop_conf_dir: None,
            hadoop_config: HashMap::new(),
            hadoop_user: None,
            // Hadoop's ipc.client.connect.timeout default.
            connect_timeout: Duration::from_secs(20),
        }
    }
}

/// Hadoop keys the file system layer reads itself (hdfs-native reads the rest from the files).
const HADOOP_KEYS: [&str; 2] = ["hadoop.security.authentication", "dfs.nameservices"];

impl FsConfig {
    /// Settings from a loaded Hadoop configuration: `fs.defaultFS` (Hadoop's default
    /// `file:///`), `ipc.client.connect.timeout`, the keys this layer checks itself
    /// (`hadoop.security.authentication`, `dfs.nameservices`), and `conf_dir`, the directory
    /// the configuration came from, for `hdfs-native` to read the same files.
    pub fn from_hadoop_conf(
        conf: &crate::hadoop::conf::Configuration,
        conf_dir: Option<PathBuf>,
    ) -> FsResult<FsConfig> {
        let conf_err = |e: crate::hadoop::conf::ConfError| FsError::HadoopConf(e.to_string());
        let mut config = FsConfig {
            default_fs: conf
                .get("fs.defaultFS")
                .map_err(conf_err)?
                .unwrap_or_else(|| "file:///".to_string()),
            hadoop_conf_dir: conf_dir,
            ..FsConfig::default()
        };
        if let Some(timeout) = conf
            .get_millis("ipc.client.connect.timeout")
            .map_err(conf_err)?
        {
            config.connect_timeout = timeout;
        }
        for key in HADOOP_KEYS {
            if let Some(value) = conf.get(key).map_err(conf_err)? {
                config.hadoop_config.insert(key.to_string(), value);
            }
        }
        Ok(config)
    }

    /// The settings a process of a job uses: `fs.default-scheme` from Strato's configuration
    /// if set, else Hadoop's `fs.defaultFS` from the conf dir the environment names
    /// (`YARN_CONF_DIR`, `HADOOP_CONF_DIR`, `$HADOOP_HOME/etc/hadoop`), else `file:///`.
    pub fn for_job(config: &crate::config::Configuration) -> FsResult<FsConfig> {
        use crate::hadoop::conf::Configuration as HadoopConf;
        let conf_dir = HadoopConf::conf_dir_from_env();
        let mut fs_config = match &conf_dir {
            Some(dir) => {
                let hadoop =
                    HadoopConf::load_dir(dir).map_err(|e| FsError::HadoopConf(e.to_string()))?;
                FsConfig::from_hadoop_conf(&hadoop, Some(dir.clone()))?
            }
            None => FsConfig::default(),
        };
        let scheme = config
            .get_optional(&crate::config::options::FS_DEFAULT_SCHEME)
            .map_err(|e| FsError::HadoopConf(e.to_string()))?;
        if let Some(scheme) = scheme.filter(|s| !s.is_empty()) {
            fs_config.default_fs = scheme;
        }
        Ok(fs_config)
    }

    /// The default settings with another default file system.
    pub fn with_default_fs(default_fs: impl Into<String>) -> Self {
        FsConfig {
            default_fs: default_fs.into(),
            ..Self::default()
        }
    }
}

/// Resolves URIs to file systems. HDFS clients are created once per authority and shared, so
/// keep one `FileSystems` per process (or per cluster configuration) and reuse it.
#[derive(Debug)]
pub struct FileSystems {
    config: FsConfig,
    default_fs: FsPath,
    local: Arc<LocalFileSystem>,
    hdfs: Mutex<HashMap<String, Arc<HdfsFileSystem>>>,
}

impl FileSystems {
    /// A resolver with the given settings; fails when `default_fs` is not a URI.
    pub fn new(config: FsConfig) -> FsResult<Self> {
        let default_fs = FsPath::parse(&config.default_fs)?;
        if default_fs.scheme().is_none() {
            return Err(FsError::InvalidUri {
                uri: config.default_fs.clone(),
                reason: "the default file system needs a scheme (file:/// or hdfs://host:port)"
                    .to_string(),
            });
        }
        Ok(FileSystems {
            config,
            default_fs,
            local: Arc::new(LocalFileSystem::new()),
            hdfs: Mutex::new(HashMap::new()),
        })
    }

    /// The settings this resolver was built with.
    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    /// The file system for `uri` and the path qualified with its scheme and authority.
    pub fn resolve(&self, uri: &str) -> FsResult<(Arc<dyn FileSystem>, FsPath)> {
        let path = FsPath::parse(uri)?.qualified(&self.default_fs);
        let fs = self.get(&path)?;
        Ok((fs, path))
    }

    /// The file system for a qualified path.
    pub fn get(&self, path: &FsPath) -> FsResult<Arc<dyn FileSystem>> {
        let path = path.qualified(&self.default_fs);
        match path.scheme() {
            Some("file") => Ok(self.local.clone()),
            Some("hdfs") => {
                let Some(authority) = path.authority() else {
                    return Err(FsError::InvalidUri {
                        uri: path.to_string(),
                        reason: format!(
                            "no NameNode in the URI and the default file system {} is not HDFS",
                            self.default_fs
                        ),
                    });
                };
                let cached =
                    |cache: &HashMap<String, Arc<HdfsFileSystem>>| cache.get(authority).cloned();
                if let Some(fs) = cached(&self.hdfs.lock().unwrap_or_else(|p| p.into_inner())) {
                    return Ok(fs);
                }
                // Connect without the lock: a NameNode that is slow to answer must not hold up
                // paths on other NameNodes.
                let fs = Arc::new(HdfsFileSystem::connect(authority, &self.config)?);
                let mut cache = self.hdfs.lock().unwrap_or_else(|p| p.into_inner());
                Ok(cached(&cache).unwrap_or_else(|| {
                    cache.insert(authority.to_string(), fs.clone());
                    fs
                }))
            }
            Some(other) => Err(FsError::UnsupportedScheme {
                scheme: other.to_string(),
                uri: path.to_string(),
            }),
            None => unreachable!("qualified with a default file system that has a scheme"),
        }
    }
}

static GLOBAL: OnceLock<FileSystems> = OnceLock::new();

impl FileSystems {
    /// Configures the process-wide resolver behind `<dyn FileSystem>::for_uri` (call once at
    /// startup, e.g. with the cluster's `fs.defaultFS`). Returns false when it was already in
    /// use or configured, in which case the earlier settings stay.
    pub fn init_global(config: FsConfig) -> FsResult<bool> {
        let systems = FileSystems::new(config)?;
        Ok(GLOBAL.set(systems).is_ok())
    }
}

/// The process-wide resolver behind `<dyn FileSystem>::for_uri`: default `file:///` unless
/// [`FileSystems::init_global`] configured another.
pub(super) fn global() -> &'static FileSystems {
    GLOBAL.get_or_init(|| {
        FileSystems::new(FsConfig::default())
            .unwrap_or_else(|_| unreachable!("the built-in default file system parses"))
    })
}
