//! Configuration: `conf/strato-conf.yaml`, typed options with defaults, units.
//!
//! A [`Configuration`] is a flat map from Flink key names to value text, filled from the YAML
//! file, `-D key=value` arguments and code. Values stay text until read through a typed
//! [`ConfigOption`] (declared in [`options`]), so an invalid value is reported against its key
//! at the point it matters, and defaults live in one place.

mod option;
pub mod options;
pub mod units;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use option::{ConfigOption, ConfigValue, Constraint, PortRange};
pub use options::{
    CheckpointingMode, ExternalizedCheckpointRetention, FailoverStrategy, HighAvailabilityMode,
    RestartStrategyType, RuntimeExecutionMode, StateBackendType,
};
pub use units::MemorySize;

/// File name of the configuration inside a configuration directory.
pub const CONFIG_FILE_NAME: &str = "strato-conf.yaml";

/// Environment variable naming the configuration directory.
pub const ENV_CONF_DIR: &str = "STRATO_CONF_DIR";

/// Errors of reading configuration; each names the key, value, argument or file involved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value '{value}' for key '{key}': expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
    },

    #[error("no value for key '{key}', and the option has no default")]
    MissingValue { key: String },

    #[error("configuration directory '{}' does not exist", path.display())]
    DirNotFound { path: PathBuf },

    #[error("configuration file '{}' does not exist", path.display())]
    FileNotFound { path: PathBuf },

    #[error("cannot read configuration file '{}': {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("malformed YAML in '{origin}'{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Yaml {
        origin: String,
        /// 1-based line of the error, when the parser knows it.
        line: Option<usize>,
        message: String,
    },

    #[error("unsupported structure in '{origin}' at key '{key}': {message}")]
    Structure {
        origin: String,
        key: String,
        message: String,
    },

    #[error("invalid dynamic property '{arg}': expected key=value with a non-empty key")]
    InvalidDynamicProperty { arg: String },

    #[error("{var} (set to '{}'): {source}", dir.display())]
    FromEnv {
        var: &'static str,
        dir: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },
}

/// Flink-style configuration: key names to value text, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    entries: BTreeMap<String, String>,
}

impl Configuration {
    /// An empty configuration; every typed read falls back to the option's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `<dir>/strato-conf.yaml` (flat `key: value` lines and/or nested maps). Unknown keys
    /// are logged as warnings, not refused, so files shared with newer versions still load.
    pub fn load_from_dir(dir: &Path) -> Result<Self, ConfigError> {
        if !dir.is_dir() {
            return Err(ConfigError::DirNotFound {
                path: dir.to_path_buf(),
            });
        }
        let path = dir.join(CONFIG_FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::FileNotFound { path: path.clone() }
            } else {
                ConfigError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let conf = Self::from_yaml_str(&text, &path.display().to_string())?;
        for key in conf.unknown_keys() {
            tracing::warn!(key = %key, file = %path.display(), "unknown configuration key '{key}'");
        }
        Ok(conf)
    }

    /// `$STRATO_CONF_DIR/strato-conf.yaml` if the variable is set (missing directory or file is
    /// an error), else `./conf/strato-conf.yaml` if present, else an empty configuration.
    pub fn load_default() -> Result<Self, ConfigError> {
        match std::env::var_os(ENV_CONF_DIR) {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                Self::load_from_dir(&dir).map_err(|source| ConfigError::FromEnv {
                    var: ENV_CONF_DIR,
                    dir,
                    source: Box::new(source),
                })
            }
            None => {
                let dir = Path::new("conf");
                if dir.join(CONFIG_FILE_NAME).is_file() {
                    Self::load_from_dir(dir)
                } else {
                    Ok(Self::new())
                }
            }
        }
    }

    /// Parses a YAML document; `origin` (a path or a description) names it in errors. A key that
    /// appears twice (e.g. once flat, once nested) keeps the later value, with a warning.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut conf = Self::new();
        for (key, value) in yaml::flatten(text, origin)? {
            if let Some(previous) = conf.entries.get(&key) {
                tracing::warn!(key = %key, origin, "key '{key}' given twice in {origin}; '{value}' replaces '{previous}'");
            }
            conf.entries.insert(key, value);
        }
        Ok(conf)
    }

    /// A flat YAML document (`key: value` per line, sorted) that reads back identically.
    pub fn to_yaml_string(&self) -> String {
        yaml::to_flat_yaml(&self.entries)
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// The text stored under exactly `key` (no fallback keys, no default).
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    /// The option's configured value (its key, then its fallback keys), else its default.
    pub fn get<T: ConfigValue>(&self, option: &ConfigOption<T>) -> Result<T, ConfigError> {
        self.get_optional(option)?
            .ok_or_else(|| ConfigError::MissingValue {
                key: option.key.to_string(),
            })
    }

    /// Like [`get`](Self::get), but `None` when the option is neither set nor defaulted.
    pub fn get_optional<T: ConfigValue>(
        &self,
        option: &ConfigOption<T>,
    ) -> Result<Option<T>, ConfigError> {
        let configured = std::iter::once(option.key)
            .chain(option.fallback_keys.iter().copied())
            .find_map(|key| self.get_raw(key).map(|value| (key, value)));
        let Some((key, text)) = configured.or(option.default.map(|d| (option.key, d))) else {
            return Ok(None);
        };
        option
            .parse(text)
            .map(Some)
            .map_err(|expected| ConfigError::InvalidValue {
                key: key.to_string(),
                value: text.to_string(),
                expected,
            })
    }

    /// Splits one `-D` argument (`key=value`, optionally still prefixed with `-D`) at the first
    /// `=`. The key is trimmed; the value is kept as given and may contain `=`.
    pub fn parse_dynamic_property(arg: &str) -> Result<(String, String), ConfigError> {
        let property = arg.strip_prefix("-D").unwrap_or(arg);
        match property.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.to_string()))
            }
            _ => Err(ConfigError::InvalidDynamicProperty {
                arg: arg.to_string(),
            }),
        }
    }

    /// Applies `-D key=value` arguments in order (later ones win), after checking all of them,
    /// so a bad argument leaves the configuration unchanged.
    pub fn apply_dynamic_properties<'a>(
        &mut self,
        args: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ConfigError> {
        let properties = args
            .into_iter()
            .map(Self::parse_dynamic_property)
            .collect::<Result<Vec<_>, _>>()?;
        self.entries.extend(properties);
        Ok(())
    }

    /// Copies every entry of `other` into `self`; `other`'s values win.
    pub fn merge(&mut self, other: &Configuration) {
        self.entries
            .extend(other.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Entries sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads every declared option (checking set values and defaults alike) and returns the
    /// keys no option or known prefix claims; the first invalid value is the error.
    pub fn validate(&self) -> Result<Vec<String>, ConfigError> {
        for option in options::ALL {
            (option.check)(self)?;
        }
        Ok(self.unknown_keys())
    }

    fn unknown_keys(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter(|key| !options::is_known_key(key))
            .cloned()
            .collect()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Configuration {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Configuration {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::options::*;
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_invalid_value_names_key_value_and_expectation() {
        let mut conf = Configuration::new();
        conf.set("parallelism.default", "abc");
        assert_eq!(
            conf.get(&PARALLELISM_DEFAULT).unwrap_err().to_string(),
            "invalid value 'abc' for key 'parallelism.default': expected a positive integer"
        );
        conf.set("parallelism.default", "0");
        assert!(conf.get(&PARALLELISM_DEFAULT).is_err());
        conf.set("heartbeat.timeout", "soon");
        let err = conf.get(&HEARTBEAT_TIMEOUT).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid value 'soon' for key 'heartbeat.timeout': expected a duration"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_set_value_overrides_the_default_and_remove_restores_it() {
        let mut conf = Configuration::new();
        conf.set("taskmanager.numberOfTaskSlots", "4");
        assert_eq!(conf.get(&NUM_TASK_SLOTS).unwrap(), 4);
        assert_eq!(
            conf.remove("taskmanager.numberOfTaskSlots").as_deref(),
            Some("4")
        );
        assert_eq!(conf.get(&NUM_TASK_SLOTS).unwrap(), 1);
        assert!(!conf.contains("taskmanager.numberOfTaskSlots"));
    }

    #[test]
    fn an_option_without_default_is_none_when_unset_and_an_error_for_get() {
        let conf = Configuration::new();
        assert_eq!(conf.get_optional(&CHECKPOINTS_DIRECTORY).unwrap(), None);
        assert_eq!(
            conf.get(&CHECKPOINTS_DIRECTORY).unwrap_err().to_string(),
            "no value for key 'state.checkpoints.dir', and the option has no default"
        );
    }

    #[test]
    fn dynamic_properties_split_at_the_first_equals_sign() {
        assert_eq!(
            Configuration::parse_dynamic_property("env.java.opts=-Da=b").unwrap(),
            ("env.java.opts".to_string(), "-Da=b".to_string())
        );
        assert_eq!(
            Configuration::parse_dynamic_property("-Drest.port=9000").unwrap(),
            ("rest.port".to_string(), "9000".to_string())
        );
        assert_eq!(
            Configuration::parse_dynamic_property("pipeline.name=").unwrap(),
            ("pipeline.name".to_string(), String::new())
        );
        for bad in ["rest.port", "=9000", " =x"] {
            let err = Configuration::parse_dynamic_property(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn a_bad_dynamic_property_leaves_the_configuration_unchanged() {
        let mut conf = Configuration::new();
        let err = conf
            .apply_dynamic_properties(["rest.port=9000", "oops"])
            .unwrap_err();
        assert!(err.to_string().contains("'oops'"));
        assert!(conf.is_empty());
    }

    #[test]
    fn merge_lets_the_other_configuration_win() {
        let mut base: Configuration = [("rest.port", "1"), ("pipeline.name", "a")]
            .into_iter()
            .collect();
        let other: Configuration = [("rest.port", "2"), ("heartbeat.interval", "3 s")]
            .into_iter()
            .collect();
        base.merge(&other);
        assert_eq!(
            base.iter().collect::<Vec<_>>(),
            [
                ("heartbeat.interval", "3 s"),
                ("pipeline.name", "a"),
                ("rest.port", "2")
            ]
        );
        assert_eq!(
            base.get(&HEARTBEAT_INTERVAL).unwrap(),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn validate_reports_unknown_keys_and_refuses_invalid_known_ones() {
        let mut conf: Configuration = [
            ("taskmanager.numberOfTaskSlots", "2"),
            ("taskmanager.numberOfTaskSlot", "2"),
            ("metrics.reporter.prom.port", "9249"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            conf.validate().unwrap(),
            vec!["taskmanager.numberOfTaskSlot".to_string()]
        );
        conf.set("taskmanager.memory.process.size", "lots");
        let err = conf.validate().unwrap_err().to_string();
        assert!(
            err.contains("'lots'") && err.contains("'taskmanager.memory.process.size'"),
            "{err}"
        );
    }

    #[test]
    fn malformed_yaml_names_the_origin_and_line() {
        let err = Configuration::from_yaml_str("rest.port: 8081\nbad: [unclosed\n", "my.yaml")
            .unwrap_err();
        let ConfigError::Yaml { line, .. } = &err else {
            panic!("{err}")
        };
        assert!(line.is_some(), "{err}");
        assert!(
            err.to_string()
                .starts_with("malformed YAML in 'my.yaml' at line "),
            "{err}"
        );
    }
}
