//! Bucket assigners: which subdirectory of the sink's base path a record goes to (Flink's
//! `BucketAssigner`). A bucket id is a relative directory name; the empty id is the base path.

use chrono::{DateTime, Local, TimeZone, Utc};

/// Picks the bucket of each record. `now` is the current processing time (ms since the
/// epoch), which time-based assigners use. The id is borrowed from the assigner, so the
/// common case (the same bucket as the record before) allocates nothing.
pub trait BucketAssigner<T>: Clone + Send + Sync + 'static {
    fn bucket_id(&mut self, record: &T, now: i64) -> &str;
}

/// Every record goes straight into the base path (Flink's `BasePathBucketAssigner`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BasePathBucketAssigner;

impl<T> BucketAssigner<T> for BasePathBucketAssigner {
    fn bucket_id(&mut self, _record: &T, _now: i64) -> &str {
        ""
    }
}

/// The default Java pattern of [`DateTimeBucketAssigner`]: hourly buckets.
pub const DEFAULT_DATE_TIME_FORMAT: &str = "yyyy-MM-dd--HH";

/// Buckets by the processing time a record arrives at, formatted with a date pattern in the
/// system time zone or UTC (Flink's `DateTimeBucketAssigner`, default `yyyy-MM-dd--HH`:
/// one directory per hour).
#[derive(Debug, Clone)]
pub struct DateTimeBucketAssigner {
    /// The pattern as `strftime` directives.
    format: String,
    utc: bool,
    /// The second the cached bucket id was formatted for, and the id.
    cached: Option<(i64, String)>,
}

impl Default for DateTimeBucketAssigner {
    fn default() -> Self {
        Self::with_format(DEFAULT_DATE_TIME_FORMAT)
    }
}

impl DateTimeBucketAssigner {
    /// Hourly buckets in the system time zone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buckets named by a Java `SimpleDateFormat`-style pattern (`yyyy`, `MM`, `dd`, `HH`,
    /// `mm`, `ss`; other characters are copied), as Flink's constructor takes it.
    pub fn with_format(pattern: &str) -> Self {
        DateTimeBucketAssigner {
            format: java_pattern_to_strftime(pattern),
            utc: false,
            cached: None,
        }
    }

    /// Formats times in UTC instead of the system time zone.
    pub fn in_utc(mut self) -> Self {
        self.utc = true;
        self
    }

    fn format(&self, now: i64) -> String {
        fn render<Z: TimeZone>(t: DateTime<Z>, format: &str) -> String
        where
            Z::Offset: std::fmt::Display,
        {
            t.format(format).to_string()
        }
        let utc = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default();
        if self.utc {
            render(utc, &self.format)
        } else {
            render(utc.with_timezone(&Local), &self.format)
        }
    }
}

impl<T> BucketAssigner<T> for DateTimeBucketAssigner {
    fn bucket_id(&mut self, _record: &T, now: i64) -> &str {
        // Formatting is costly per record: reuse the id within the same second.
        let second = now.div_euclid(1000);
        if self
            .cached
            .as_ref()
            .is_none_or(|(cached, _)| *cached != second)
        {
            self.cached = Some((second, self.format(now)));
        }
        self.cached.as_ref().map_or("", |(_, id)| id.as_str())
    }
}

/// Translates the date letters Flink users write (`yyyy-MM-dd--HH`) into `strftime`.
fn java_pattern_to_strftime(pattern: &str) -> String {
    const LETTERS: [(&str, &str); 8] = [
        ("yyyy", "%Y"),
        ("yy", "%y"),
        ("MM", "%m"),
        ("dd", "%d"),
        ("HH", "%H"),
        ("mm", "%M"),
        ("ss", "%S"),
        ("%", "%%"),
    ];
    let mut out = String::new();
    let mut rest = pattern;
    'outer: while !rest.is_empty() {
        for (java, strftime) in LETTERS {
            if let Some(tail) = rest.strip_prefix(java) {
                out.push_str(strftime);
                rest = tail;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_buckets_use_flinks_hourly_pattern() {
        // 2021-03-04 05:06:07 UTC
        let t = 1_614_834_367_000;
        let mut hourly = DateTimeBucketAssigner::new().in_utc();
        assert_eq!(
            BucketAssigner::<u8>::bucket_id(&mut hourly, &0, t),
            "2021-03-04--05"
        );
        let mut custom = DateTimeBucketAssigner::with_format("yyyy/MM/dd/HH-mm-ss").in_utc();
        assert_eq!(
            BucketAssigner::<u8>::bucket_id(&mut custom, &0, t),
            "2021/03/04/05-06-07"
        );
        assert_eq!(
            BucketAssigner::<u8>::bucket_id(&mut BasePathBucketAssigner, &0, t),
            ""
        );
    }
}
