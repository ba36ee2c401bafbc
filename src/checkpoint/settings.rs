//! A job's checkpointing settings (Flink's `JobCheckpointingSettings`), resolved from the
//! `execution.checkpointing.*` and `state.*` keys when the job is built and carried in its
//! JobGraph, so the job master of any cluster checkpoints the job as its program asked.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::options::{self as o, CheckpointingMode, ExternalizedCheckpointRetention};
use crate::config::{ConfigError, Configuration};

/// What happens to a job's checkpoints when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointRetention {
    /// Deleted when the job is cancelled, kept when it fails.
    DeleteOnCancellation,
    /// Kept when the job is cancelled or fails.
    RetainOnCancellation,
    /// Deleted whenever the job ends.
    NoExternalizedCheckpoints,
}

/// How and where a job takes checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointingSettings {
    pub interval: Duration,
    pub exactly_once: bool,
    pub timeout: Duration,
    pub min_pause: Duration,
    pub max_concurrent: u32,
    pub tolerable_failures: u32,
    pub retention: CheckpointRetention,
    pub num_retained: u32,
    /// `state.checkpoints.dir`, or a directory under the temp dir when unset (Flink then keeps
    /// checkpoints in the JobManager's memory: gone with the JobManager either way).
    pub checkpoints_dir: String,
    /// True when `checkpoints_dir` is that temporary stand-in: deleted when the job ends.
    pub temporary_storage: bool,
    /// `state.savepoints.dir`: the default target of savepoints.
    pub savepoints_dir: Option<String>,
    /// `execution.checkpointing.checkpoints-after-tasks-finish.enabled`: tasks whose data
    /// ended stay up for a final checkpoint (see `crate::runtime::task`).
    pub final_checkpoint: bool,
}

impl CheckpointingSettings {
    /// The settings the configuration asks for; `None` when checkpointing is off (no
    /// `execution.checkpointing.interval`).
    pub fn from_config(config: &Configuration) -> Result<Option<Self>, ConfigError> {
        let Some(interval) = config.get_optional(&o::CHECKPOINTING_INTERVAL)? else {
            return Ok(None);
        };
        if interval.is_zero() {
            return Ok(None);
        }
        let (checkpoints_dir, temporary_storage) =
            match config.get_optional(&o::CHECKPOINTS_DIRECTORY)? {
                Some(dir) if !dir.trim().is_empty() => (dir, false),
                _ => (
                    std::env::temp_dir()
                        .join("strato-checkpoints")
                        .display()
                        .to_string(),
                    true,
                ),
            };
        Ok(Some(CheckpointingSettings {
            interval,
            exactly_once: config.get(&o::CHECKPOINTING_MODE)? == CheckpointingMode::ExactlyOnce,
            timeout: config.get(&o::CHECKPOINTING_TIMEOUT)?,
            min_pause: config.get(&o::CHECKPOINTING_MIN_PAUSE)?,
            max_concurrent: config.get(&o::MAX_CONCURRENT_CHECKPOINTS)?,
            tolerable_failures: config.get(&o::TOLERABLE_FAILED_CHECKPOINTS)?,
            retention: match config.get(&o::EXTERNALIZED_CHECKPOINT_RETENTION)? {
                ExternalizedCheckpointRetention::DeleteOnCancellation => {
                    CheckpointRetention::DeleteOnCancellation
                }
                ExternalizedCheckpointRetention::RetainOnCancellation => {
                    CheckpointRetention::RetainOnCancellation
                }
                ExternalizedCheckpointRetention::NoExternalizedCheckpoints => {
                    CheckpointRetention::NoExternalizedCheckpoints
                }
            },
            num_retained: config.get(&o::CHECKPOINTS_NUM_RETAINED)?,
            checkpoints_dir,
            temporary_storage,
            savepoints_dir: config
                .get_optional(&o::SAVEPOINT_DIRECTORY)?
                .filter(|d| !d.trim().is_empty()),
            final_checkpoint: config.get(&o::CHECKPOINTS_AFTER_TASKS_FINISH)?,
        }))
    }

    pub fn mode(&self) -> CheckpointingMode {
        if self.exactly_once {
            CheckpointingMode::ExactlyOnce
        } else {
            CheckpointingMode::AtLeastOnce
        }
    }
}

/// Which savepoint (or retained checkpoint) a job starts from (`-s`, `-n`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavepointRestoreSettings {
    pub path: String,
    /// `--allowNonRestoredState`: skip state of operators the program no longer has.
    pub allow_non_restored_state: bool,
}

impl SavepointRestoreSettings {
    /// `execution.savepoint.path` and `execution.savepoint.ignore-unclaimed-state`.
    pub fn from_config(config: &Configuration) -> Result<Option<Self>, ConfigError> {
        Ok(config
            .get_optional(&o::SAVEPOINT_PATH)?
            .filter(|p| !p.trim().is_empty())
            .map(|path| -> Result<_, ConfigError> {
                Ok(SavepointRestoreSettings {
                    path,
                    allow_non_restored_state: config.get(&o::SAVEPOINT_IGNORE_UNCLAIMED_STATE)?,
                })
            })
            .transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpointing_is_off_without_an_interval_and_defaults_follow_flink() {
        let mut config = Configuration::new();
        assert_eq!(CheckpointingSettings::from_config(&config).unwrap(), None);
        config.set("execution.checkpointing.interval", "1 s");
        let s = CheckpointingSettings::from_config(&config)
            .unwrap()
            .unwrap();
        assert_eq!(s.interval, Duration::from_secs(1));
        assert!(s.exactly_once);
        assert_eq!(s.timeout, Duration::from_secs(600));
        assert_eq!(
            (s.max_concurrent, s.tolerable_failures, s.num_retained),
            (1, 0, 1)
        );
        assert_eq!(s.retention, CheckpointRetention::DeleteOnCancellation);
        assert!(s.temporary_storage);
        config.set("state.checkpoints.dir", "file:///tmp/chk");
        config.set("execution.checkpointing.mode", "AT_LEAST_ONCE");
        let s = CheckpointingSettings::from_config(&config)
            .unwrap()
            .unwrap();
        assert_eq!(s.checkpoints_dir, "file:///tmp/chk");
        assert!(!s.temporary_storage && !s.exactly_once);
    }

    #[test]
    fn savepoint_restore_comes_from_the_execution_savepoint_keys() {
        let mut config = Configuration::new();
        assert_eq!(
            SavepointRestoreSettings::from_config(&config).unwrap(),
            None
        );
        config.set("execution.savepoint.path", "/sp/savepoint-abc");
        config.set("execution.savepoint.ignore-unclaimed-state", "true");
        assert_eq!(
            SavepointRestoreSettings::from_config(&config).unwrap(),
            Some(SavepointRestoreSettings {
                path: "/sp/savepoint-abc".into(),
                allow_non_restored_state: true
            })
        );
    }
}
