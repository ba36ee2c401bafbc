//! Rolling policies: when an in-progress part file is closed and a new one started (Flink's
//! `RollingPolicy`). Whatever the policy, every part file is also closed at each checkpoint
//! barrier (see the module doc of [`super`]).

use std::time::Duration;

/// What a rolling policy sees of an in-progress part file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFileInfo {
    pub bucket_id: String,
    /// Processing time (ms) the file was opened at.
    pub creation_time: i64,
    /// Processing time (ms) of the last record written.
    pub last_update_time: i64,
    /// Bytes written so far.
    pub size: u64,
}

/// Decides when part files roll.
pub trait RollingPolicy: std::fmt::Debug + Send + Sync + 'static {
    /// Checked before a record is written into the file.
    fn should_roll_on_event(&self, part: &PartFileInfo) -> bool;
    /// Checked when processing time advances.
    fn should_roll_on_processing_time(&self, part: &PartFileInfo, now: i64) -> bool;
    /// The processing time (ms) at which `part` rolls unless something happens before.
    fn roll_deadline(&self, part: &PartFileInfo) -> Option<i64>;
}

/// Flink's `DefaultRollingPolicy`: rolls a part file when it exceeds the part size, when it
/// has been open for the rollover interval, or when nothing was written to it for the
/// inactivity interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRollingPolicy {
    pub part_size: u64,
    pub rollover_interval: Duration,
    pub inactivity_interval: Duration,
}

impl DefaultRollingPolicy {
    /// Flink's defaults: 128 MB, 60 s, 60 s.
    pub const DEFAULT_PART_SIZE: u64 = 128 * 1024 * 1024;
    pub const DEFAULT_ROLLOVER_INTERVAL: Duration = Duration::from_secs(60);
    pub const DEFAULT_INACTIVITY_INTERVAL: Duration = Duration::from_secs(60);

    pub fn builder() -> DefaultRollingPolicyBuilder {
        DefaultRollingPolicyBuilder {
            policy: DefaultRollingPolicy::default(),
        }
    }
}

impl Default for DefaultRollingPolicy {
    fn default() -> Self {
        DefaultRollingPolicy {
            part_size: Self::DEFAULT_PART_SIZE,
            rollover_interval: Self::DEFAULT_ROLLOVER_INTERVAL,
            inactivity_interval: Self::DEFAULT_INACTIVITY_INTERVAL,
        }
    }
}

/// Builds a [`DefaultRollingPolicy`] (Flink's `DefaultRollingPolicy.builder()`).
#[derive(Debug, Clone)]
pub struct DefaultRollingPolicyBuilder {
    policy: DefaultRollingPolicy,
}

impl DefaultRollingPolicyBuilder {
    /// Maximum part file size in bytes.
    pub fn with_max_part_size(mut self, bytes: u64) -> Self {
        self.policy.part_size = bytes;
        self
    }
    /// Longest time a part file stays open.
    pub fn with_rollover_interval(mut self, interval: Duration) -> Self {
        self.policy.rollover_interval = interval;
        self
    }
    /// Longest time a part file stays open without receiving records.
    pub fn with_inactivity_interval(mut self, interval: Duration) -> Self {
        self.policy.inactivity_interval = interval;
        self
    }
    pub fn build(self) -> DefaultRollingPolicy {
        self.policy
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RollingPolicy for DefaultRollingPolicy {
    fn should_roll_on_event(&self, part: &PartFileInfo) -> bool {
        part.size > self.part_size
    }
    fn should_roll_on_processing_time(&self, part: &PartFileInfo, now: i64) -> bool {
        self.roll_deadline(part)
            .is_some_and(|deadline| now >= deadline)
    }
    fn roll_deadline(&self, part: &PartFileInfo) -> Option<i64> {
        let rollover = part
            .creation_time
            .saturating_add(millis(self.rollover_interval));
        let inactive = part
            .last_update_time
            .saturating_add(millis(self.inactivity_interval));
        Some(rollover.min(inactive))
    }
}

/// Flink's `OnCheckpointRollingPolicy`: part files roll only at checkpoints (and at the end
/// of the input).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnCheckpointRollingPolicy;

impl RollingPolicy for OnCheckpointRollingPolicy {
    fn should_roll_on_event(&self, _part: &PartFileInfo) -> bool {
        false
    }
    fn should_roll_on_processing_time(&self, _part: &PartFileInfo, _now: i64) -> bool {
        false
    }
    fn roll_deadline(&self, _part: &PartFileInfo) -> Option<i64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(size: u64, created: i64, updated: i64) -> PartFileInfo {
        PartFileInfo {
            bucket_id: String::new(),
            creation_time: created,
            last_update_time: updated,
            size,
        }
    }

    #[test]
    fn the_default_policy_rolls_on_size_age_and_inactivity() {
        let policy = DefaultRollingPolicy::builder()
            .with_max_part_size(100)
            .with_rollover_interval(Duration::from_secs(10))
            .with_inactivity_interval(Duration::from_secs(3))
            .build();
        assert!(!policy.should_roll_on_event(&part(100, 0, 0)));
        assert!(policy.should_roll_on_event(&part(101, 0, 0)));
        assert!(!policy.should_roll_on_processing_time(&part(1, 0, 8_000), 9_999));
        assert!(policy.should_roll_on_processing_time(&part(1, 0, 8_000), 10_000));
        assert!(policy.should_roll_on_processing_time(&part(1, 5_000, 5_000), 8_000));
        assert_eq!(policy.roll_deadline(&part(1, 5_000, 6_000)), Some(9_000));
        let defaults = DefaultRollingPolicy::default();
        assert_eq!(defaults.part_size, 128 * 1024 * 1024);
        assert_eq!(defaults.rollover_interval, Duration::from_secs(60));
        assert_eq!(defaults.inactivity_interval, Duration::from_secs(60));
        assert!(!OnCheckpointRollingPolicy.should_roll_on_event(&part(u64::MAX, 0, 0)));
    }
}
