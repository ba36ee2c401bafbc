//! State time-to-live (Flink's `StateTtlConfig`): a value expires `ttl` after its last write
//! (or access); expired values are removed when read. TTL is kept with the value (the last
//! access time travels with it into snapshots), so it behaves the same on every backend and
//! after a restore.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which accesses restart a value's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateType {
    /// Only creating and writing the value.
    OnCreateAndWrite,
    /// Reading it, too.
    OnReadAndWrite,
}

/// Whether an expired value that was not removed yet may still be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateVisibility {
    NeverReturnExpired,
    /// Returned once more, by the read that removes it.
    ReturnExpiredIfNotCleanedUp,
}

/// The clock TTL is measured with (processing time, ms); replaceable in tests.
pub type TtlClock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct StateTtlConfig {
    pub ttl: Duration,
    pub update_type: UpdateType,
    pub visibility: StateVisibility,
    pub(crate) clock: TtlClock,
}

impl std::fmt::Debug for StateTtlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateTtlConfig")
            .field("ttl", &self.ttl)
            .field("update_type", &self.update_type)
            .field("visibility", &self.visibility)
            .finish()
    }
}

impl StateTtlConfig {
    /// Flink's defaults: `OnCreateAndWrite`, `NeverReturnExpired`, processing time.
    pub fn new(ttl: Duration) -> Self {
        StateTtlConfig {
            ttl,
            update_type: UpdateType::OnCreateAndWrite,
            visibility: StateVisibility::NeverReturnExpired,
            clock: Arc::new(crate::runtime::chain::processing_time_now),
        }
    }
    pub fn update_type(mut self, update_type: UpdateType) -> Self {
        self.update_type = update_type;
        self
    }
    pub fn state_visibility(mut self, visibility: StateVisibility) -> Self {
        self.visibility = visibility;
        self
    }
    /// Measures time with `clock` (ms) instead of the wall clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    pub(crate) fn is_expired(&self, last_access: i64, now: i64) -> bool {
        last_access.saturating_add(self.ttl.as_millis() as i64) <= now
    }
}

/// A value with the time it was last written (or read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlValue<S> {
    pub value: S,
    pub last_access: i64,
}
