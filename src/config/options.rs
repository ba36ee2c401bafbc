//! Every configuration option Strato knows, with Flink's key names and defaults.
//!
//! The options declared here (plus the prefixes in [`KNOWN_PREFIXES`]) are the "known keys":
//! anything else in a configuration file is reported as unknown.

use std::time::Duration;

use super::option::{config_enum, ConfigOption, PortRange};
use super::units::MemorySize;
use super::{ConfigError, Configuration};

config_enum! {
    /// `execution.runtime-mode`.
    pub enum RuntimeExecutionMode {
        Streaming => ["STREAMING"],
        Batch => ["BATCH"],
        /// Batch when every source is bounded, else streaming.
        Automatic => ["AUTOMATIC"],
    }
}

config_enum! {
    /// `execution.checkpointing.mode`: whether barriers are aligned.
    pub enum CheckpointingMode {
        ExactlyOnce => ["EXACTLY_ONCE"],
        AtLeastOnce => ["AT_LEAST_ONCE"],
    }
}

config_enum! {
    /// `execution.checkpointing.externalized-checkpoint-retention`.
    pub enum ExternalizedCheckpointRetention {
        DeleteOnCancellation => ["DELETE_ON_CANCELLATION"],
        RetainOnCancellation => ["RETAIN_ON_CANCELLATION"],
        NoExternalizedCheckpoints => ["NO_EXTERNALIZED_CHECKPOINTS"],
    }
}

config_enum! {
    /// `restart-strategy`: Flink's names and their accepted spellings.
    pub enum RestartStrategyType {
        None => ["none", "off", "disable"],
        FixedDelay => ["fixed-delay", "fixeddelay"],
        FailureRate => ["failure-rate", "failurerate"],
        ExponentialDelay => ["exponential-delay", "exponentialdelay"],
    }
}

config_enum! {
    /// `high-availability`.
    pub enum HighAvailabilityMode {
        None => ["NONE"],
        Zookeeper => ["ZOOKEEPER"],
    }
}

config_enum! {
    /// `jobmanager.execution.failover-strategy`.
    pub enum FailoverStrategy {
        /// Restart the failed task's pipelined region and the regions downstream of it.
        Region => ["region"],
        /// Restart every task of the job.
        Full => ["full"],
    }
}

config_enum! {
    /// `state.backend`; `jobmanager` and `filesystem` are Flink's legacy names for `hashmap`.
    pub enum StateBackendType {
        HashMap => ["hashmap", "jobmanager", "filesystem"],
        RocksDb => ["rocksdb"],
    }
}

/// Key prefixes under which every key is known (pluggable reporters, SSL and Kerberos settings
/// whose exact keys depend on the plugin).
pub const KNOWN_PREFIXES: &[&str] = &[
    "metrics.reporter.",
    "security.ssl.",
    "security.kerberos.login.",
];

/// Whether `key` is declared here, as a key, a fallback key, or under a known prefix.
pub fn is_known_key(key: &str) -> bool {
    KNOWN_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
        || ALL
            .iter()
            .any(|option| option.key == key || option.fallback_keys.contains(&key))
}

/// The declared option with this key (or fallback key).
pub fn find(key: &str) -> Option<&'static OptionDescriptor> {
    ALL.iter()
        .find(|option| option.key == key || option.fallback_keys.contains(&key))
}

/// An option with its value type erased, so all options can be listed and validated together.
#[derive(Debug, Clone, Copy)]
pub struct OptionDescriptor {
    pub key: &'static str,
    pub fallback_keys: &'static [&'static str],
    pub default: Option<&'static str>,
    pub description: &'static str,
    /// The Rust type the value parses to, e.g. `Duration`.
    pub value_type: &'static str,
    /// Reads the option from a configuration (value or default), reporting an invalid value.
    pub check: fn(&Configuration) -> Result<(), ConfigError>,
}

fn positive_u32(v: &u32) -> bool {
    *v > 0
}
fn minus_one_or_positive(v: &i32) -> bool {
    *v == -1 || *v > 0
}
fn minus_one_or_more(v: &i32) -> bool {
    *v >= -1
}
fn max_parallelism(v: &i32) -> bool {
    *v == -1 || (1..=32_768).contains(v)
}
fn fraction(v: &f64) -> bool {
    (0.0..1.0).contains(v)
}
fn at_least_one(v: &f64) -> bool {
    *v >= 1.0
}
fn unit_interval(v: &f64) -> bool {
    (0.0..=1.0).contains(v)
}
fn power_of_two_memory(v: &MemorySize) -> bool {
    v.0.is_power_of_two()
}

const POSITIVE: &str = "a positive integer";
const MINUS_ONE_OR_POSITIVE: &str = "a positive integer, or -1 for the default";
const MINUS_ONE_OR_MORE: &str = "an integer >= -1 (-1 for the default)";
const FRACTION: &str = "a number in [0, 1)";

/// Declares the options as `pub const` items and lists them all in [`ALL`].
macro_rules! options {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty = $option:expr ;)*) => {
        $( $(#[$doc])* pub const $name: ConfigOption<$ty> = $option; )*

        /// Every declared option, in declaration order.
        pub static ALL: &[OptionDescriptor] = &[$(
            OptionDescriptor {
                key: $name.key,
                fallback_keys: $name.fallback_keys,
                default: $name.default,
                description: $name.description,
                value_type: stringify!($ty),
                check: |conf: &Configuration| conf.get_optional(&$name).map(drop),
            },
        )*];
    };
}

options! {
    // ---- Execution and pipeline ----
    PARALLELISM_DEFAULT: u32 = ConfigOption::new("parallelism.default",
        "Parallelism of jobs and operators that set none themselves.")
        .with_default("1").with_constraint(positive_u32, POSITIVE);
    MAX_PARALLELISM: i32 = ConfigOption::new("pipeline.max-parallelism",
        "Number of key groups (upper bound for rescaling); -1 derives it from the parallelism.")
        .with_default("-1").with_constraint(max_parallelism, "-1 or an integer between 1 and 32768");
    RUNTIME_MODE: RuntimeExecutionMode = ConfigOption::new("execution.runtime-mode",
        "STREAMING, BATCH or AUTOMATIC.")
        .with_default("STREAMING");
    BUFFER_TIMEOUT: Duration = ConfigOption::new("execution.buffer-timeout",
        "How long a partially filled network buffer may wait before it is flushed.")
        .with_default("100 ms");
    AUTO_WATERMARK_INTERVAL: Duration = ConfigOption::new("pipeline.auto-watermark-interval",
        "Interval of periodic watermark generation; 0 disables periodic watermarks.")
        .with_default("200 ms");
    PIPELINE_NAME: String = ConfigOption::new("pipeline.name",
        "Job name used when the program does not give one.");
    OBJECT_REUSE: bool = ConfigOption::new("pipeline.object-reuse",
        "Reuse record objects between chained operators.")
        .with_default("false");
    EXECUTION_TARGET: String = ConfigOption::new("execution.target",
        "Where jobs run: local, remote, yarn-per-job, yarn-session or yarn-application.")
        .with_default("local");
    EXECUTION_ATTACHED: bool = ConfigOption::new("execution.attached",
        "Whether the client waits for the job to finish.")
        .with_default("false");
    SAVEPOINT_PATH: String = ConfigOption::new("execution.savepoint.path",
        "Savepoint to restore the job from.");
    SAVEPOINT_IGNORE_UNCLAIMED_STATE: bool = ConfigOption::new(
        "execution.savepoint.ignore-unclaimed-state",
        "Allow restoring a savepoint with state for operators that no longer exist.")
        .with_default("false");

    // ---- JobManager ----
    JOBMANAGER_RPC_ADDRESS: String = ConfigOption::new("jobmanager.rpc.address",
        "Host the JobManager is reachable at.")
        .with_default("localhost");
    JOBMANAGER_RPC_PORT: u16 = ConfigOption::new("jobmanager.rpc.port",
        "Port of the JobManager's RPC endpoint.")
        .with_default("6123");
    JOBMANAGER_PROCESS_SIZE: MemorySize = ConfigOption::new("jobmanager.memory.process.size",
        "Total memory of the JobManager process.")
        .with_default("1600m");
    FAILOVER_STRATEGY: FailoverStrategy = ConfigOption::new(
        "jobmanager.execution.failover-strategy",
        "region (restart the failed region and its consumers) or full.")
        .with_default("region");
    JOBSTORE_EXPIRATION_TIME: Duration = ConfigOption::new("jobstore.expiration-time",
        "How long finished jobs stay listed.")
        .with_default("1 h");

    // ---- REST and web UI ----
    REST_PORT: u16 = ConfigOption::new("rest.port",
        "Port clients connect to for the REST API and web UI.")
        .with_default("8081");
    REST_ADDRESS: String = ConfigOption::new("rest.address",
        "Address clients connect to for the REST API.")
        .with_fallback_keys(&["jobmanager.rpc.address"]);
    REST_BIND_ADDRESS: String = ConfigOption::new("rest.bind-address",
        "Address the REST server binds to.");
    REST_BIND_PORT: PortRange = ConfigOption::new("rest.bind-port",
        "Port or port range the REST server binds to; falls back to rest.port.")
        .with_fallback_keys(&["rest.port"]);
    WEB_SUBMIT_ENABLE: bool = ConfigOption::new("web.submit.enable",
        "Allow job submission (jar upload and run) through the web UI.")
        .with_default("true");

    // ---- TaskManager ----
    TASKMANAGER_HOST: String = ConfigOption::new("taskmanager.host",
        "Host the TaskManager advertises; derived from the network when unset.");
    TASKMANAGER_RPC_PORT: PortRange = ConfigOption::new("taskmanager.rpc.port",
        "Port or port range of the TaskManager's RPC endpoint; 0 picks a free port.")
        .with_default("0");
    TASKMANAGER_DATA_PORT: u16 = ConfigOption::new("taskmanager.data.port",
        "Port of the TaskManager's data exchange server; 0 picks a free port.")
        .with_default("0");
    NUM_TASK_SLOTS: u32 = ConfigOption::new("taskmanager.numberOfTaskSlots",
        "Number of slots per TaskManager.")
        .with_default("1").with_constraint(positive_u32, POSITIVE);
    TASKMANAGER_PROCESS_SIZE: MemorySize = ConfigOption::new("taskmanager.memory.process.size",
        "Total memory of a TaskManager process.")
        .with_default("1728m");
    MANAGED_MEMORY_FRACTION: f64 = ConfigOption::new("taskmanager.memory.managed.fraction",
        "Fraction of Flink memory used as managed memory (RocksDB, batch sorting).")
        .with_default("0.4").with_constraint(fraction, FRACTION);
    NETWORK_MEMORY_FRACTION: f64 = ConfigOption::new("taskmanager.memory.network.fraction",
        "Fraction of Flink memory used for network buffers.")
        .with_default("0.1").with_constraint(fraction, FRACTION);
    NETWORK_MEMORY_MIN: MemorySize = ConfigOption::new("taskmanager.memory.network.min",
        "Lower bound of network buffer memory.")
        .with_default("64mb");
    NETWORK_MEMORY_MAX: MemorySize = ConfigOption::new("taskmanager.memory.network.max",
        "Upper bound of network buffer memory.")
        .with_default("1gb");
    MEMORY_SEGMENT_SIZE: MemorySize = ConfigOption::new("taskmanager.memory.segment-size",
        "Size of one network buffer / memory segment.")
        .with_default("32kb").with_constraint(power_of_two_memory, "a power-of-two memory size such as '32kb'");
    IO_TMP_DIRS: Vec<String> = ConfigOption::new("io.tmp.dirs",
        "Local directories for temporary files (';'-separated); LOCAL_DIRS on YARN.");

    // ---- Cluster coordination ----
    HEARTBEAT_INTERVAL: Duration = ConfigOption::new("heartbeat.interval",
        "Interval between heartbeats.")
        .with_default("10 s");
    HEARTBEAT_TIMEOUT: Duration = ConfigOption::new("heartbeat.timeout",
        "A peer without heartbeat for this long is considered lost.")
        .with_default("50 s");
    SLOT_REQUEST_TIMEOUT: Duration = ConfigOption::new("slot.request.timeout",
        "How long a job waits for slots before failing.")
        .with_default("5 min");
    TASKMANAGER_TIMEOUT: Duration = ConfigOption::new("resourcemanager.taskmanager-timeout",
        "Idle TaskManagers are released after this long.")
        .with_default("30 s");

    // ---- State and checkpointing ----
    STATE_BACKEND: StateBackendType = ConfigOption::new("state.backend",
        "hashmap (in memory) or rocksdb (on local disk).")
        .with_default("hashmap").with_fallback_keys(&["state.backend.type"]);
    STATE_BACKEND_INCREMENTAL: bool = ConfigOption::new("state.backend.incremental",
        "Incremental checkpoints (RocksDB shares SST files between checkpoints).")
        .with_default("false");
    ROCKSDB_LOCAL_DIR: Vec<String> = ConfigOption::new("state.backend.rocksdb.localdir",
        "Local directories for RocksDB files.");
    ROCKSDB_WRITE_CACHE_SIZE: MemorySize = ConfigOption::new("state.backend.rocksdb.write-cache.size",
        "Memory per operator subtask for recent keyed-state writes in front of RocksDB, flushed at checkpoints and when full; 0 turns the cache off.")
        .with_default("64mb");
    CHECKPOINTS_DIRECTORY: String = ConfigOption::new("state.checkpoints.dir",
        "Directory (URI) checkpoints are written to.");
    SAVEPOINT_DIRECTORY: String = ConfigOption::new("state.savepoints.dir",
        "Default directory (URI) for savepoints.");
    CHECKPOINTS_NUM_RETAINED: u32 = ConfigOption::new("state.checkpoints.num-retained",
        "Number of completed checkpoints kept.")
        .with_default("1").with_constraint(positive_u32, POSITIVE);
    CHECKPOINTING_INTERVAL: Duration = ConfigOption::new("execution.checkpointing.interval",
        "Interval between checkpoints; unset disables checkpointing.");
    CHECKPOINTING_MODE: CheckpointingMode = ConfigOption::new("execution.checkpointing.mode",
        "EXACTLY_ONCE (aligned barriers) or AT_LEAST_ONCE.")
        .with_default("EXACTLY_ONCE");
    CHECKPOINTING_TIMEOUT: Duration = ConfigOption::new("execution.checkpointing.timeout",
        "A checkpoint not completed in this time is aborted.")
        .with_default("10 min");
    CHECKPOINTING_MIN_PAUSE: Duration = ConfigOption::new("execution.checkpointing.min-pause",
        "Minimum pause between the end of one checkpoint and the start of the next.")
        .with_default("0");
    MAX_CONCURRENT_CHECKPOINTS: u32 = ConfigOption::new(
        "execution.checkpointing.max-concurrent-checkpoints",
        "Checkpoints that may be in flight at once.")
        .with_default("1").with_constraint(positive_u32, POSITIVE);
    TOLERABLE_FAILED_CHECKPOINTS: u32 = ConfigOption::new(
        "execution.checkpointing.tolerable-failed-checkpoints",
        "Consecutive checkpoint failures tolerated before the job fails.")
        .with_default("0");
    CHECKPOINTS_AFTER_TASKS_FINISH: bool = ConfigOption::new(
        "execution.checkpointing.checkpoints-after-tasks-finish.enabled",
        "Tasks whose input ended wait for a final checkpoint before they finish, so two-phase \
         sinks commit their last data exactly once (FLIP-147). Off: they finish at once and \
         such sinks commit at the end of input.")
        .with_default("true");
    EXTERNALIZED_CHECKPOINT_RETENTION: ExternalizedCheckpointRetention = ConfigOption::new(
        "execution.checkpointing.externalized-checkpoint-retention",
        "Whether checkpoints are kept when the job is cancelled.")
        .with_default("DELETE_ON_CANCELLATION");

    // ---- Restart strategies ----
    RESTART_STRATEGY: RestartStrategyType = ConfigOption::new("restart-strategy",
        "none/off/disable, fixed-delay, failure-rate or exponential-delay; unset: fixed-delay \
         when checkpointing is enabled, else none.");
    FIXED_DELAY_ATTEMPTS: u32 = ConfigOption::new("restart-strategy.fixed-delay.attempts",
        "Restarts before the job fails.")
        .with_default("1");
    FIXED_DELAY_DELAY: Duration = ConfigOption::new("restart-strategy.fixed-delay.delay",
        "Delay between restarts.")
        .with_default("1 s");
    FAILURE_RATE_MAX_FAILURES: u32 = ConfigOption::new(
        "restart-strategy.failure-rate.max-failures-per-interval",
        "Failures tolerated within one interval.")
        .with_default("1").with_constraint(positive_u32, POSITIVE);
    FAILURE_RATE_INTERVAL: Duration = ConfigOption::new(
        "restart-strategy.failure-rate.failure-rate-interval",
        "Window over which failures are counted.")
        .with_default("1 min");
    FAILURE_RATE_DELAY: Duration = ConfigOption::new("restart-strategy.failure-rate.delay",
        "Delay between restarts.")
        .with_default("1 s");
    EXPONENTIAL_DELAY_INITIAL_BACKOFF: Duration = ConfigOption::new(
        "restart-strategy.exponential-delay.initial-backoff",
        "Delay before the first restart.")
        .with_default("1 s");
    EXPONENTIAL_DELAY_MAX_BACKOFF: Duration = ConfigOption::new(
        "restart-strategy.exponential-delay.max-backoff",
        "Upper bound of the delay.")
        .with_default("5 min");
    EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER: f64 = ConfigOption::new(
        "restart-strategy.exponential-delay.backoff-multiplier",
        "Factor the delay grows by after each failure.")
        .with_default("2.0").with_constraint(at_least_one, "a number >= 1.0");
    EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD: Duration = ConfigOption::new(
        "restart-strategy.exponential-delay.reset-backoff-threshold",
        "Running this long without failure resets the delay.")
        .with_default("1 h");
    EXPONENTIAL_DELAY_JITTER_FACTOR: f64 = ConfigOption::new(
        "restart-strategy.exponential-delay.jitter-factor",
        "Random spread added to the delay, as a fraction of it.")
        .with_default("0.1").with_constraint(unit_interval, "a number in [0, 1]");

    // ---- High availability ----
    HA_MODE: HighAvailabilityMode = ConfigOption::new("high-availability",
        "NONE or ZOOKEEPER.")
        .with_default("NONE").with_fallback_keys(&["high-availability.type"]);
    HA_ZOOKEEPER_QUORUM: String = ConfigOption::new("high-availability.zookeeper.quorum",
        "ZooKeeper connect string (host:port,host:port).");
    HA_ZOOKEEPER_ROOT: String = ConfigOption::new("high-availability.zookeeper.path.root",
        "Root znode of Strato's HA data.")
        .with_default("/strato");
    HA_CLUSTER_ID: String = ConfigOption::new("high-availability.cluster-id",
        "Namespace of this cluster under the root; defaults to the YARN application id on YARN.");
    HA_STORAGE_DIR: String = ConfigOption::new("high-availability.storageDir",
        "Directory (URI) for job graphs and checkpoint metadata; ZooKeeper keeps pointers.");
    HA_ZOOKEEPER_SESSION_TIMEOUT: Duration = ConfigOption::new(
        "high-availability.zookeeper.client.session-timeout",
        "ZooKeeper session timeout.")
        .with_default("60 s");
    HA_ZOOKEEPER_CONNECTION_TIMEOUT: Duration = ConfigOption::new(
        "high-availability.zookeeper.client.connection-timeout",
        "ZooKeeper connection timeout.")
        .with_default("15 s");
    HA_ZOOKEEPER_RETRY_WAIT: Duration = ConfigOption::new(
        "high-availability.zookeeper.client.retry-wait",
        "Pause between ZooKeeper connection retries.")
        .with_default("5 s");
    HA_ZOOKEEPER_MAX_RETRY_ATTEMPTS: u32 = ConfigOption::new(
        "high-availability.zookeeper.client.max-retry-attempts",
        "ZooKeeper connection retries.")
        .with_default("3");
    HA_ZOOKEEPER_ACL: String = ConfigOption::new("high-availability.zookeeper.client.acl",
        "ACL of created znodes: open or creator.")
        .with_default("open");

    // ---- Client ----
    CLIENT_TIMEOUT: Duration = ConfigOption::new("client.timeout",
        "Timeout of client requests to the cluster.")
        .with_default("60 s");
    CLIENT_RETRY_PERIOD: Duration = ConfigOption::new("client.retry-period",
        "Pause between client retries.")
        .with_default("2 s");

    // ---- YARN ----
    YARN_APPLICATION_ATTEMPTS: u32 = ConfigOption::new("yarn.application-attempts",
        "Application master attempts (HA restarts) YARN allows.")
        .with_constraint(positive_u32, POSITIVE);
    YARN_APPLICATION_NAME: String = ConfigOption::new("yarn.application.name",
        "Name of the YARN application.");
    YARN_APPLICATION_QUEUE: String = ConfigOption::new("yarn.application.queue",
        "YARN queue to submit to.");
    YARN_APPLICATION_TYPE: String = ConfigOption::new("yarn.application.type",
        "YARN application type shown by YARN.");
    YARN_APPLICATION_PRIORITY: i32 = ConfigOption::new("yarn.application.priority",
        "YARN application priority; -1 keeps YARN's default.")
        .with_default("-1").with_constraint(minus_one_or_more, MINUS_ONE_OR_MORE);
    YARN_APPLICATION_NODE_LABEL: String = ConfigOption::new("yarn.application.node-label",
        "Node label for the application's containers.");
    YARN_TAGS: Vec<String> = ConfigOption::new("yarn.tags",
        "Tags attached to the YARN application.");
    YARN_APPMASTER_VCORES: u32 = ConfigOption::new("yarn.appmaster.vcores",
        "Virtual cores of the application master container.")
        .with_default("1").with_constraint(positive_u32, POSITIVE);
    YARN_CONTAINERS_VCORES: i32 = ConfigOption::new("yarn.containers.vcores",
        "Virtual cores per TaskManager container; -1 uses the number of slots.")
        .with_default("-1").with_constraint(minus_one_or_positive, MINUS_ONE_OR_POSITIVE);
    YARN_HEARTBEAT_INTERVAL: Duration = ConfigOption::new("yarn.heartbeat.interval",
        "Heartbeat interval with the ResourceManager.")
        .with_default("5 s");
    YARN_CONTAINER_REQUEST_HEARTBEAT_INTERVAL: Duration = ConfigOption::new(
        "yarn.heartbeat.container-request-interval",
        "Heartbeat interval while container requests are pending.")
        .with_default("500 ms");
    YARN_FILE_REPLICATION: i32 = ConfigOption::new("yarn.file-replication",
        "HDFS replication of uploaded files; -1 uses the file system default.")
        .with_default("-1").with_constraint(minus_one_or_positive, MINUS_ONE_OR_POSITIVE);
    YARN_APPLICATION_MASTER_PORT: PortRange = ConfigOption::new("yarn.application-master.port",
        "Port or port range of the application master's RPC endpoint; 0 picks a free port.")
        .with_default("0");
    YARN_PROPERTIES_FILE_LOCATION: String = ConfigOption::new("yarn.properties-file.location",
        "Directory of the .yarn-properties-<user> file naming the running session.");
    YARN_STAGING_DIRECTORY: String = ConfigOption::new("yarn.staging-directory",
        "Staging directory for uploaded files; defaults to the home directory.");
    YARN_PROVIDED_LIB_DIRS: Vec<String> = ConfigOption::new("yarn.provided.lib.dirs",
        "Pre-uploaded runtime directories registered as public local resources.");
    YARN_SHIP_FILES: Vec<String> = ConfigOption::new("yarn.ship-files",
        "Files and directories shipped to every container.");
    YARN_SHIP_ARCHIVES: Vec<String> = ConfigOption::new("yarn.ship-archives",
        "Archives shipped to and extracted in every container.");
    YARN_APPLICATION_ID: String = ConfigOption::new("yarn.application.id",
        "Id of the YARN application (session) to address.");

    // ---- Environment, file systems, metrics ----
    FS_DEFAULT_SCHEME: String = ConfigOption::new("fs.default-scheme",
        "Scheme (and authority) for paths given without one.");
    ENV_LOG_DIR: String = ConfigOption::new("env.log.dir",
        "Directory for log files.");
    LOG_LEVEL: String = ConfigOption::new("log.level",
        "Log filter of the daemons, RUST_LOG syntax (e.g. 'info,strato::runtime=debug'); \
         the RUST_LOG environment variable wins.")
        .with_default("info");
    LOG_FILE_MAX_SIZE: MemorySize = ConfigOption::new("log.file.max-size",
        "A daemon's log file rolls over when it would grow past this size.")
        .with_default("100 mb");
    LOG_FILE_MAX_BACKUPS: u32 = ConfigOption::new("log.file.max-backups",
        "Rolled-over log files kept per daemon (Flink's MAX_LOG_FILE_NUMBER).")
        .with_default("10");
    ENV_PID_DIR: String = ConfigOption::new("env.pid.dir",
        "Directory for pid files of the daemons.")
        .with_default("/tmp");
    METRICS_REPORTERS: Vec<String> = ConfigOption::new("metrics.reporters",
        "Names of the reporters (configured under metrics.reporter.<name>.*) to start.");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_declared_default_parses_and_satisfies_its_constraint() {
        let empty = Configuration::new();
        for option in ALL {
            (option.check)(&empty).unwrap_or_else(|err| panic!("{}: {err}", option.key));
        }
    }

    #[test]
    fn every_key_is_declared_once() {
        let mut seen = HashSet::new();
        for option in ALL {
            assert!(seen.insert(option.key), "{} declared twice", option.key);
            assert!(
                !option.fallback_keys.contains(&option.key),
                "{}",
                option.key
            );
        }
    }

    #[test]
    fn defaults_match_flink() {
        let conf = Configuration::new();
        assert_eq!(conf.get(&PARALLELISM_DEFAULT).unwrap(), 1);
        assert_eq!(conf.get(&MAX_PARALLELISM).unwrap(), -1);
        assert_eq!(
            conf.get(&RUNTIME_MODE).unwrap(),
            RuntimeExecutionMode::Streaming
        );
        assert_eq!(
            conf.get(&BUFFER_TIMEOUT).unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(conf.get(&JOBMANAGER_RPC_PORT).unwrap(), 6123);
        assert_eq!(conf.get(&REST_PORT).unwrap(), 8081);
        assert_eq!(
            conf.get(&TASKMANAGER_PROCESS_SIZE).unwrap(),
            MemorySize::from_mebibytes(1728)
        );
        assert_eq!(
            conf.get(&MEMORY_SEGMENT_SIZE).unwrap(),
            MemorySize(32 * 1024)
        );
        assert_eq!(
            conf.get(&HEARTBEAT_TIMEOUT).unwrap(),
            Duration::from_secs(50)
        );
        assert_eq!(
            conf.get(&FAILOVER_STRATEGY).unwrap(),
            FailoverStrategy::Region
        );
        assert_eq!(conf.get(&HA_MODE).unwrap(), HighAvailabilityMode::None);
        assert_eq!(conf.get(&HA_ZOOKEEPER_ROOT).unwrap(), "/strato");
        assert_eq!(
            conf.get(&CHECKPOINTING_MODE).unwrap(),
            CheckpointingMode::ExactlyOnce
        );
        assert_eq!(conf.get_optional(&RESTART_STRATEGY).unwrap(), None);
        assert_eq!(conf.get_optional(&CHECKPOINTING_INTERVAL).unwrap(), None);
    }

    #[test]
    fn enums_read_any_case_and_their_aliases() {
        let mut conf = Configuration::new();
        conf.set("restart-strategy", "OFF");
        assert_eq!(
            conf.get(&RESTART_STRATEGY).unwrap(),
            RestartStrategyType::None
        );
        conf.set("restart-strategy", "fixeddelay");
        assert_eq!(
            conf.get(&RESTART_STRATEGY).unwrap(),
            RestartStrategyType::FixedDelay
        );
        conf.set("execution.runtime-mode", "batch");
        assert_eq!(
            conf.get(&RUNTIME_MODE).unwrap(),
            RuntimeExecutionMode::Batch
        );
        conf.set(
            "execution.checkpointing.externalized-checkpoint-retention",
            "no_externalized_checkpoints",
        );
        assert_eq!(
            conf.get(&EXTERNALIZED_CHECKPOINT_RETENTION).unwrap(),
            ExternalizedCheckpointRetention::NoExternalizedCheckpoints
        );
        conf.set("execution.checkpointing.mode", "exactly-once");
        assert_eq!(
            conf.get(&CHECKPOINTING_MODE).unwrap_err().to_string(),
            "invalid value 'exactly-once' for key 'execution.checkpointing.mode': \
             expected one of EXACTLY_ONCE, AT_LEAST_ONCE"
        );
    }

    #[test]
    fn fallback_keys_are_read_when_the_key_is_unset() {
        let mut conf = Configuration::new();
        conf.set("high-availability.type", "zookeeper");
        assert_eq!(conf.get(&HA_MODE).unwrap(), HighAvailabilityMode::Zookeeper);
        conf.set("high-availability", "NONE");
        assert_eq!(conf.get(&HA_MODE).unwrap(), HighAvailabilityMode::None);

        conf.set("rest.port", "9091");
        assert_eq!(
            conf.get_optional(&REST_BIND_PORT).unwrap(),
            Some(PortRange {
                start: 9091,
                end: 9091
            })
        );
    }

    #[test]
    fn prefixed_plugin_keys_are_known() {
        assert!(is_known_key("metrics.reporter.prom.factory.class"));
        assert!(is_known_key("metrics.reporters"));
        assert!(is_known_key("security.ssl.rest.enabled"));
        assert!(is_known_key("security.kerberos.login.keytab"));
        assert!(is_known_key("high-availability.type"));
        assert!(!is_known_key("taskmanager.numberOfTaskSlot"));
        assert_eq!(
            find("state.backend.type").map(|o| o.key),
            Some("state.backend")
        );
    }
}
