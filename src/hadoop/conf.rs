//! Hadoop XML configuration (`org.apache.hadoop.conf.Configuration` as YARN clients see it):
//! `core-site.xml`, `hdfs-site.xml` and `yarn-site.xml` from `YARN_CONF_DIR`,
//! `HADOOP_CONF_DIR` or `$HADOOP_HOME/etc/hadoop`, `final` properties, `${var}` expansion
//! (other keys, `${env.NAME}`, and `user.name`), and the YARN defaults clients depend on,
//! including ResourceManager HA address resolution.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files read from a configuration directory, in Hadoop's load order.
pub const SITE_FILES: [&str; 3] = ["core-site.xml", "hdfs-site.xml", "yarn-site.xml"];
/// `Configuration.MAX_SUBST`: expansion depth limit.
const MAX_SUBST: usize = 20;

pub const RM_HOSTNAME: &str = "yarn.resourcemanager.hostname";
pub const RM_ADDRESS: &str = "yarn.resourcemanager.address";
pub const RM_SCHEDULER_ADDRESS: &str = "yarn.resourcemanager.scheduler.address";
pub const RM_WEBAPP_ADDRESS: &str = "yarn.resourcemanager.webapp.address";
pub const RM_WEBAPP_HTTPS_ADDRESS: &str = "yarn.resourcemanager.webapp.https.address";
pub const RM_HA_ENABLED: &str = "yarn.resourcemanager.ha.enabled";
pub const RM_HA_IDS: &str = "yarn.resourcemanager.ha.rm-ids";
pub const YARN_HTTP_POLICY: &str = "yarn.http.policy";
pub const IPC_CONNECT_TIMEOUT: &str = "ipc.client.connect.timeout";
pub const IPC_RPC_TIMEOUT: &str = "ipc.client.rpc-timeout.ms";
pub const IPC_PING_INTERVAL: &str = "ipc.ping.interval";

/// `yarn-default.xml` / `core-default.xml` values clients need.
const DEFAULTS: &[(&str, &str)] = &[
    (RM_HOSTNAME, "0.0.0.0"),
    (RM_ADDRESS, "${yarn.resourcemanager.hostname}:8032"),
    (
        RM_SCHEDULER_ADDRESS,
        "${yarn.resourcemanager.hostname}:8030",
    ),
    (
        "yarn.resourcemanager.resource-tracker.address",
        "${yarn.resourcemanager.hostname}:8031",
    ),
    (
        "yarn.resourcemanager.admin.address",
        "${yarn.resourcemanager.hostname}:8033",
    ),
    (RM_WEBAPP_ADDRESS, "${yarn.resourcemanager.hostname}:8088"),
    (
        RM_WEBAPP_HTTPS_ADDRESS,
        "${yarn.resourcemanager.hostname}:8090",
    ),
    (RM_HA_ENABLED, "false"),
    (YARN_HTTP_POLICY, "HTTP_ONLY"),
    ("yarn.scheduler.minimum-allocation-mb", "1024"),
    ("yarn.scheduler.maximum-allocation-mb", "8192"),
    ("yarn.scheduler.minimum-allocation-vcores", "1"),
    ("yarn.scheduler.maximum-allocation-vcores", "4"),
    ("yarn.resourcemanager.am.max-attempts", "2"),
    ("yarn.nodemanager.resource.memory-mb", "8192"),
    ("yarn.nodemanager.resource.cpu-vcores", "8"),
    (IPC_CONNECT_TIMEOUT, "20000"),
    (IPC_RPC_TIMEOUT, "0"),
    (IPC_PING_INTERVAL, "60000"),
    ("fs.defaultFS", "file:///"),
    ("hadoop.security.authentication", "simple"),
];

/// Per-RM-id keys of an HA setup (`HAUtil.RM_SERVICES_ADDRESS_CONF_KEYS`) and their ports.
const HA_ADDRESS_PORTS: &[(&str, u16)] = &[
    (RM_ADDRESS, 8032),
    (RM_SCHEDULER_ADDRESS, 8030),
    (RM_WEBAPP_ADDRESS, 8088),
    (RM_WEBAPP_HTTPS_ADDRESS, 8090),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing {path}: {message}")]
    Xml { path: String, message: String },
    #[error(
        "no Hadoop configuration directory: set YARN_CONF_DIR, HADOOP_CONF_DIR or HADOOP_HOME"
    )]
    NoConfDir,
    #[error("{key} = {value:?}: {message}")]
    BadValue {
        key: String,
        value: String,
        message: String,
    },
    #[error("variable substitution depth too large: {MAX_SUBST} in {0}")]
    SubstDepth(String),
}

/// Key/value Hadoop configuration with defaults.
#[derive(Clone, Debug, Default)]
pub struct Configuration {
    props: HashMap<String, String>,
    finals: std::collections::HashSet<String>,
    /// Files the values came from, for error messages and `--conf` echo.
    pub sources: Vec<PathBuf>,
}

impl Configuration {
    /// Only defaults.
    pub fn new() -> Configuration {
        Configuration::default()
    }

    /// The directory clients read: `YARN_CONF_DIR`, else `HADOOP_CONF_DIR`, else
    /// `$HADOOP_HOME/etc/hadoop`.
    pub fn conf_dir_from_env() -> Option<PathBuf> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("YARN_CONF_DIR")
            .or_else(|| var("HADOOP_CONF_DIR"))
            .or_else(|| var("HADOOP_HOME").map(|h| h.join("etc").join("hadoop")))
    }

    /// Loads the site files of the directory the environment names.
    pub fn load_from_env() -> Result<Configuration, ConfError> {
        let dir = Self::conf_dir_from_env().ok_or(ConfError::NoConfDir)?;
        Self::load_dir(&dir)
    }

    /// Loads `core-site.xml`, `hdfs-site.xml`, `yarn-site.xml` from `dir` (missing files
    /// are skipped, as Hadoop skips absent default resources).
    pub fn load_dir(dir: &Path) -> Result<Configuration, ConfError> {
        let mut conf = Configuration::new();
        for f in SITE_FILES {
            let p = dir.join(f);
            if p.is_file() {
                conf.add_resource(&p)?;
            }
        }
        Ok(conf)
    }

    /// Adds one XML resource; later resources override earlier ones except `final` keys.
    pub fn add_resource(&mut self, path: &Path) -> Result<(), ConfError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.add_xml(&text, &path.display().to_string())?;
        self.sources.push(path.to_path_buf());
        Ok(())
    }

    /// Parses `<configuration><property><name/><value/><final/></property>...`.
    pub fn add_xml(&mut self, text: &str, origin: &str) -> Result<(), ConfError> {
        let doc = roxmltree::Document::parse(text).map_err(|e| ConfError::Xml {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let root = doc.root_element();
        if root.tag_name().name() != "configuration" {
            return Err(ConfError::Xml {
                path: origin.to_string(),
                message: format!(
                    "bad conf file: top-level element <{}> is not <configuration>",
                    root.tag_name().name()
                ),
            });
        }
        for prop in root.children().filter(|n| n.has_tag_name("property")) {
            let child = |name: &str| {
                prop.children()
                    .find(|n| n.has_tag_name(name))
                    .map(|n| n.text().unwrap_or("").trim().to_string())
            };
            let Some(name) = child("name") else { continue };
            let value = child("value").unwrap_or_default();
            if self.finals.contains(&name) {
                tracing::warn!("{origin}: attempt to override final parameter {name}; ignoring");
                continue;
            }
            if child("final").as_deref() == Some("true") {
                self.finals.insert(name.clone());
            }
            self.props.insert(name, value);
        }
        Ok(())
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.props.insert(key.into(), value.into());
    }

    /// The raw (unexpanded) value, falling back to the defaults.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.props
            .get(key)
            .map(String::as_str)
            .or_else(|| DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
    }

    /// The value with `${...}` expanded; unknown variables stay as written (as in Hadoop).
    pub fn get(&self, key: &str) -> Result<Option<String>, ConfError> {
        match self.get_raw(key) {
            None => Ok(None),
            Some(v) => self.expand(v).map(Some),
        }
    }

    pub fn get_or(&self, key: &str, default: &str) -> Result<String, ConfError> {
        Ok(self.get(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, ConfError> {
        match self.get(key)?.as_deref().map(str::trim) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ConfError::BadValue {
                key: key.into(),
                value: v.into(),
                message: "expected true or false".into(),
            }),
        }
    }

    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, ConfError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e: std::num::ParseIntError| ConfError::BadValue {
                    key: key.into(),
                    value: v.clone(),
                    message: e.to_string(),
                }),
        }
    }

    /// A millisecond duration key.
    pub fn get_millis(&self, key: &str) -> Result<Option<Duration>, ConfError> {
        Ok(self
            .get_i64(key)?
            .map(|ms| Duration::from_millis(ms.max(0) as u64)))
    }

    /// Comma-separated list with blanks trimmed (`getTrimmedStrings`).
    pub fn get_trimmed_strings(&self, key: &str) -> Result<Vec<String>, ConfError> {
        Ok(self
            .get(key)?
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn expand(&self, value: &str) -> Result<String, ConfError> {
        let mut cur = value.to_string();
        for _ in 0..MAX_SUBST {
            let Some(start) = cur.find("${") else {
                return Ok(cur);
            };
            let Some(len) = cur[start + 2..].find('}') else {
                return Ok(cur);
            };
            let var = &cur[start + 2..start + 2 + len];
            let replacement = if let Some(env) = var.strip_prefix("env.") {
                std::env::var(env).ok()
            } else if let Some(v) = self.get_raw(var) {
                Some(v.to_string())
            } else if var == "user.name" {
                std::env::var("USER").ok()
            } else {
                None
            };
            match replacement {
                // Hadoop leaves unresolvable variables unexpanded.
                None => return Ok(cur),
                Some(r) => cur = format!("{}{}{}", &cur[..start], r, &cur[start + 3 + len..]),
            }
        }
        Err(ConfError::SubstDepth(value.to_string()))
    }

    /// RM ids of an HA setup, or an empty list without HA.
    pub fn rm_ha_ids(&self) -> Result<Vec<String>, ConfError> {
        if !self.get_bool(RM_HA_ENABLED)? {
            return Ok(Vec::new());
        }
        let ids = self.get_trimmed_strings(RM_HA_IDS)?;
        if ids.is_empty() {
            return Err(ConfError::BadValue {
                key: RM_HA_IDS.into(),
                value: String::new(),
                message: "RM HA is enabled but no rm-ids are configured".into(),
            });
        }
        Ok(ids)
    }

    /// One RM address key, for one HA id or the plain key without HA
    /// (`HAUtil.getConfValueForRMInstance`: `key.rmId`, else `yarn.resourcemanager.hostname.rmId`
    /// with the key's default port).
    pub fn rm_address_for(&self, key: &str, rm_id: Option<&str>) -> Result<String, ConfError> {
        let port = HA_ADDRESS_PORTS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, p)| *p);
        match rm_id {
            None => Ok(self.get(key)?.unwrap_or_default()),
            Some(id) => {
                if let Some(v) = self.get(&format!("{key}.{id}"))? {
                    return Ok(v);
                }
                let host = self.get(&format!("{RM_HOSTNAME}.{id}"))?.ok_or_else(|| {
                    ConfError::BadValue {
                        key: format!("{key}.{id}"),
                        value: String::new(),
                        message: format!("neither {key}.{id} nor {RM_HOSTNAME}.{id} is set"),
                    }
                })?;
                Ok(format!("{host}:{}", port.unwrap_or(0)))
            }
        }
    }

    /// Every RM's value of `key`: one per HA id, or the single address. Failover clients try
    /// them in order.
    pub fn rm_addresses(&self, key: &str) -> Result<Vec<String>, ConfError> {
        let ids = self.rm_ha_ids()?;
        if ids.is_empty() {
            return Ok(vec![self.rm_address_for(key, None)?]);
        }
        ids.iter()
            .map(|id| self.rm_address_for(key, Some(id)))
            .collect()
    }

    /// RM web endpoints as base URLs (`http://host:port`), honouring `yarn.http.policy`.
    pub fn rm_webapp_urls(&self) -> Result<Vec<String>, ConfError> {
        let https = self.get_or(YARN_HTTP_POLICY, "HTTP_ONLY")? == "HTTPS_ONLY";
        let (key, scheme) = if https {
            (RM_WEBAPP_HTTPS_ADDRESS, "https")
        } else {
            (RM_WEBAPP_ADDRESS, "http")
        };
        Ok(self
            .rm_addresses(key)?
            .into_iter()
            .map(|a| format!("{scheme}://{a}"))
            .collect())
    }

    /// Renders properties as a Hadoop `*-site.xml` document (for the mini cluster).
    pub fn to_site_xml(entries: &[(String, String)]) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<configuration>\n");
        for (k, v) in entries {
            out.push_str(&format!(
                "  <property>\n    <name>{}</name>\n    <value>{}</value>\n  </property>\n",
                esc(k),
                esc(v)
            ));
        }
        out.push_str("</configuration>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(xml: &str) -> Configuration {
        let mut c = Configuration::new();
        c.add_xml(xml, "test.xml").unwrap();
        c
    }

    #[test]
    fn defaults_follow_yarn_default_xml() {
        let c = conf("<configuration><property><name>yarn.resourcemanager.hostname</name><value>rm.example</value></property></configuration>");
        assert_eq!(c.get(RM_ADDRESS).unwrap().unwrap(), "rm.example:8032");
        assert_eq!(
            c.get(RM_SCHEDULER_ADDRESS).unwrap().unwrap(),
            "rm.example:8030"
        );
        assert_eq!(c.rm_webapp_urls().unwrap(), vec!["http://rm.example:8088"]);
    }

    #[test]
    fn variables_expand_from_keys_and_env_and_depth_is_limited() {
        std::env::set_var("STRATO_CONF_TEST_VAR", "/data");
        let c = conf(
            "<configuration>
               <property><name>a</name><value>${b}/x</value></property>
               <property><name>b</name><value>${env.STRATO_CONF_TEST_VAR}</value></property>
               <property><name>u</name><value>${no.such}</value></property>
               <property><name>loop</name><value>${loop}</value></property>
             </configuration>",
        );
        assert_eq!(c.get("a").unwrap().unwrap(), "/data/x");
        assert_eq!(c.get("u").unwrap().unwrap(), "${no.such}");
        assert!(matches!(c.get("loop"), Err(ConfError::SubstDepth(_))));
    }

    #[test]
    fn final_properties_are_not_overridden() {
        let mut c = conf("<configuration><property><name>k</name><value>1</value><final>true</final></property></configuration>");
        c.add_xml(
            "<configuration><property><name>k</name><value>2</value></property></configuration>",
            "b.xml",
        )
        .unwrap();
        assert_eq!(c.get("k").unwrap().unwrap(), "1");
    }

    #[test]
    fn ha_addresses_come_per_rm_id() {
        let c = conf(
            "<configuration>
               <property><name>yarn.resourcemanager.ha.enabled</name><value>true</value></property>
               <property><name>yarn.resourcemanager.ha.rm-ids</name><value>rm1, rm2</value></property>
               <property><name>yarn.resourcemanager.hostname.rm1</name><value>h1</value></property>
               <property><name>yarn.resourcemanager.hostname.rm2</name><value>h2</value></property>
               <property><name>yarn.resourcemanager.webapp.address.rm2</name><value>h2:9999</value></property>
             </configuration>",
        );
        assert_eq!(
            c.rm_webapp_urls().unwrap(),
            vec!["http://h1:8088", "http://h2:9999"]
        );
        assert_eq!(
            c.rm_addresses(RM_SCHEDULER_ADDRESS).unwrap(),
            vec!["h1:8030", "h2:8030"]
        );
    }

    #[test]
    fn bad_xml_names_the_file() {
        let mut c = Configuration::new();
        let e = c
            .add_xml("<configuration><property>", "/etc/hadoop/yarn-site.xml")
            .unwrap_err();
        assert!(e.to_string().contains("/etc/hadoop/yarn-site.xml"), "{e}");
    }

    #[test]
    fn site_xml_round_trips() {
        let xml = Configuration::to_site_xml(&[("a".into(), "x<y".into())]);
        assert_eq!(conf(&xml).get("a").unwrap().unwrap(), "x<y");
    }
}
