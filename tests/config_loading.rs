//! Loading `strato-conf.yaml` the way users write it, and overriding it from the command line.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strato::config::options::*;
use strato::config::{ConfigError, Configuration, MemorySize};

fn conf_dir_with(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("strato-conf.yaml"), yaml).unwrap();
    dir
}

const FLAT: &str = "\
# legacy flat style
jobmanager.rpc.address: jm.example.com
taskmanager.numberOfTaskSlots: 2
taskmanager.memory.process.size: 4096m
taskmanager.memory.managed.fraction: 0.25
execution.checkpointing.interval: 30 s
io.tmp.dirs: /data1/tmp;/data2/tmp
web.submit.enable: false
";

const NESTED: &str = "\
# Flink 1.19 nested style
jobmanager:
  rpc:
    address: jm.example.com
taskmanager:
  numberOfTaskSlots: 2
  memory:
    process.size: 4096m
    managed:
      fraction: 0.25
execution.checkpointing:
  interval: 30 s
io.tmp.dirs: [/data1/tmp, /data2/tmp]
web:
  submit:
    enable: false
";

#[test]
fn flat_and_nested_yaml_give_the_same_configuration() {
    let flat = Configuration::load_from_dir(conf_dir_with(FLAT).path()).unwrap();
    let nested = Configuration::load_from_dir(conf_dir_with(NESTED).path()).unwrap();
    assert_eq!(flat, nested);

    assert_eq!(flat.get(&JOBMANAGER_RPC_ADDRESS).unwrap(), "jm.example.com");
    assert_eq!(flat.get(&NUM_TASK_SLOTS).unwrap(), 2);
    assert_eq!(
        flat.get(&TASKMANAGER_PROCESS_SIZE).unwrap(),
        MemorySize::from_mebibytes(4096)
    );
    assert_eq!(flat.get(&MANAGED_MEMORY_FRACTION).unwrap(), 0.25);
    assert_eq!(
        flat.get_optional(&CHECKPOINTING_INTERVAL).unwrap(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        flat.get(&IO_TMP_DIRS).unwrap(),
        ["/data1/tmp", "/data2/tmp"]
    );
    assert!(!flat.get(&WEB_SUBMIT_ENABLE).unwrap());
    assert_eq!(flat.get_raw("taskmanager.numberOfTaskSlots"), Some("2"));
}

#[test]
fn dynamic_properties_override_file_values() {
    let mut conf = Configuration::load_from_dir(conf_dir_with(FLAT).path()).unwrap();
    conf.apply_dynamic_properties(["taskmanager.numberOfTaskSlots=8", "rest.port=9091"])
        .unwrap();
    assert_eq!(conf.get(&NUM_TASK_SLOTS).unwrap(), 8);
    assert_eq!(conf.get(&REST_PORT).unwrap(), 9091);
    assert_eq!(conf.get(&JOBMANAGER_RPC_ADDRESS).unwrap(), "jm.example.com");
}

#[test]
fn a_bad_value_in_the_file_is_reported_with_key_and_value_on_read() {
    let conf =
        Configuration::load_from_dir(conf_dir_with("parallelism.default: abc\n").path()).unwrap();
    assert_eq!(
        conf.get(&PARALLELISM_DEFAULT).unwrap_err().to_string(),
        "invalid value 'abc' for key 'parallelism.default': expected a positive integer"
    );
    assert!(conf.validate().is_err());
}

#[test]
fn the_configuration_round_trips_through_yaml() {
    let mut conf = Configuration::load_from_dir(conf_dir_with(NESTED).path()).unwrap();
    conf.set("pipeline.name", "word count: 'daily' # v2");
    conf.set("yarn.tags", "a,b");
    conf.set("rest.bind-port", "8080-8090");
    let text = conf.to_yaml_string();
    assert_eq!(
        Configuration::from_yaml_str(&text, "round trip").unwrap(),
        conf
    );

    let dir = conf_dir_with(&text);
    assert_eq!(Configuration::load_from_dir(dir.path()).unwrap(), conf);
}

#[test]
fn a_missing_conf_dir_or_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no-such-conf");
    let err = Configuration::load_from_dir(&missing_dir).unwrap_err();
    assert!(matches!(err, ConfigError::DirNotFound { .. }));
    assert!(
        err.to_string().contains(&missing_dir.display().to_string()),
        "{err}"
    );

    let err = Configuration::load_from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ConfigError::FileNotFound { .. }));
    let file = dir.path().join("strato-conf.yaml");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
}

#[test]
fn malformed_yaml_is_an_error_naming_file_and_line() {
    let dir =
        conf_dir_with("rest.port: 8081\ntaskmanager:\n  numberOfTaskSlots: 2\n bad indent: x\n");
    let err = Configuration::load_from_dir(dir.path())
        .unwrap_err()
        .to_string();
    let file = dir.path().join("strato-conf.yaml").display().to_string();
    assert!(err.contains(&file), "{err}");
    assert!(err.contains("at line 4"), "{err}");
}

/// Collects what tracing writes, to check warnings.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn unknown_keys_load_with_a_warning_and_are_listed_by_validate() {
    let dir = conf_dir_with("taskmanager.numberOfTaskSlot: 2\nmetrics.reporter.prom.port: 9249\n");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let conf = tracing::subscriber::with_default(subscriber, || {
        Configuration::load_from_dir(dir.path()).unwrap()
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("WARN") && log.contains("taskmanager.numberOfTaskSlot"),
        "{log}"
    );
    assert!(!log.contains("metrics.reporter.prom.port"), "{log}");
    assert_eq!(conf.validate().unwrap(), ["taskmanager.numberOfTaskSlot"]);
}

#[test]
fn the_shipped_default_file_is_valid_and_sets_only_flink_defaults() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let conf = Configuration::load_from_dir(&shipped).unwrap();
    assert_eq!(conf.validate().unwrap(), Vec::<String>::new());
    assert!(conf.len() >= 5, "the file should show the common keys");
    for (key, value) in conf.iter() {
        let option = find(key).unwrap_or_else(|| panic!("{key} is not declared"));
        assert_eq!(option.default, Some(value), "{key}");
    }
    assert_eq!(
        conf.get(&JOBMANAGER_PROCESS_SIZE).unwrap(),
        MemorySize::from_mebibytes(1600)
    );
}

/// The only test in this binary that touches `STRATO_CONF_DIR`, so no other test sees it change.
#[test]
fn load_default_follows_strato_conf_dir_and_names_a_missing_one() {
    let dir = conf_dir_with("rest.port: 9999\n");
    std::env::set_var("STRATO_CONF_DIR", dir.path());
    let conf = Configuration::load_default().unwrap();
    assert_eq!(conf.get(&REST_PORT).unwrap(), 9999);

    let missing = dir.path().join("gone");
    std::env::set_var("STRATO_CONF_DIR", &missing);
    let err = Configuration::load_default().unwrap_err().to_string();
    std::env::remove_var("STRATO_CONF_DIR");
    assert!(
        err.contains("STRATO_CONF_DIR") && err.contains(&missing.display().to_string()),
        "{err}"
    );
}
