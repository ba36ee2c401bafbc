//! Memory sizes and durations written the way Flink users write them (`1024m`, `1 gb`, `10 s`,
//! `5 min`), so configuration files carried over from Flink keep their meaning.

use std::fmt;
use std::time::Duration;

/// A number of bytes. Parses Flink's size syntax: a non-negative integer optionally followed
/// (with or without a space) by a unit: `b`/`bytes`, `k`/`kb`/`kibibytes`, `m`/`mb`/`mebibytes`,
/// `g`/`gb`/`gibibytes`, `t`/`tb`/`tebibytes` (case-insensitive, all powers of 1024).
/// A bare number means bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MemorySize(pub u64);

/// Units in ascending order: (bytes per unit, accepted spellings; the second is the display name).
const MEMORY_UNITS: &[(u64, &[&str])] = &[
    (1, &["b", "bytes"]),
    (1 << 10, &["k", "kb", "kibibytes"]),
    (1 << 20, &["m", "mb", "mebibytes"]),
    (1 << 30, &["g", "gb", "gibibytes"]),
    (1 << 40, &["t", "tb", "tebibytes"]),
];

/// What a memory size must look like; used in error messages.
pub const MEMORY_SIZE_EXPECTED: &str =
    "a memory size such as '1024m', '64 mb' or '1 gb' (units b, k/kb, m/mb, g/gb, t/tb)";

/// What a duration must look like; used in error messages.
pub const DURATION_EXPECTED: &str =
    "a duration such as '100 ms', '10 s', '5 min', '1 h' or '2 d' (a bare number means milliseconds)";

impl MemorySize {
    pub const fn from_bytes(bytes: u64) -> Self {
        MemorySize(bytes)
    }

    pub const fn from_mebibytes(mebibytes: u64) -> Self {
        MemorySize(mebibytes << 20)
    }

    pub const fn bytes(self) -> u64 {
        self.0
    }

    pub const fn mebibytes(self) -> u64 {
        self.0 >> 20
    }

    /// Parses Flink's size syntax; a bare number means bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_memory(text, 1)
    }

    /// Parses a size where a bare number means mebibytes, as for the `-jm`/`-tm`/`-yjm`/`-ytm`
    /// command-line flags ("default unit MB").
    pub fn parse_default_mebibytes(text: &str) -> Result<Self, String> {
        parse_memory(text, 1 << 20)
    }
}

fn parse_memory(text: &str, bare_multiplier: u64) -> Result<MemorySize, String> {
    let (number, multiplier) = split_quantity(text, MEMORY_UNITS, bare_multiplier)
        .ok_or_else(|| MEMORY_SIZE_EXPECTED.to_string())?;
    number
        .checked_mul(multiplier)
        .map(MemorySize)
        .ok_or_else(|| format!("{MEMORY_SIZE_EXPECTED} that fits into 2^64 bytes"))
}

/// Flink's rendering: the largest unit that divides the size exactly, e.g. `1600 mb`, `0 bytes`.
impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (multiplier, names) = MEMORY_UNITS
            .iter()
            .rev()
            .find(|(multiplier, _)| self.0.is_multiple_of(*multiplier) && self.0 != 0)
            .unwrap_or(&MEMORY_UNITS[0]);
        write!(f, "{} {}", self.0 / multiplier, names[1])
    }
}

/// Duration units: (nanoseconds per unit, accepted spellings). Flink's `TimeUtils` labels,
/// singular and plural.
const DURATION_UNITS: &[(u64, &[&str])] = &[
    (1, &["ns", "nano", "nanos", "nanosecond", "nanoseconds"]),
    (
        1_000,
        &["µs", "us", "micro", "micros", "microsecond", "microseconds"],
    ),
    (
        1_000_000,
        &["ms", "milli", "millis", "millisecond", "milliseconds"],
    ),
    (1_000_000_000, &["s", "sec", "secs", "second", "seconds"]),
    (60_000_000_000, &["m", "min", "mins", "minute", "minutes"]),
    (3_600_000_000_000, &["h", "hour", "hours"]),
    (86_400_000_000_000, &["d", "day", "days"]),
];

/// Parses Flink's duration syntax: a non-negative integer followed (with or without a space) by
/// a unit (`ms`, `s`, `min`, `h`, `d`, ... case-insensitive); a bare number means milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, nanos_per_unit) = split_quantity(text, DURATION_UNITS, 1_000_000)
        .ok_or_else(|| DURATION_EXPECTED.to_string())?;
    let nanos = u128::from(number) * u128::from(nanos_per_unit);
    let secs = u64::try_from(nanos / 1_000_000_000)
        .map_err(|_| format!("{DURATION_EXPECTED} that is not absurdly long"))?;
    // The remainder is below 10^9, so it always fits into u32.
    let subsec = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, subsec))
}

/// Renders a duration in the largest unit that divides it exactly (`10 s`, `5 min`, `100 ms`),
/// the form `parse_duration` reads back.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let (per_unit, names) = DURATION_UNITS
        .iter()
        .rev()
        .find(|(per_unit, _)| nanos.is_multiple_of(u128::from(*per_unit)) && nanos != 0)
        .unwrap_or(&DURATION_UNITS[2]);
    // Minutes print as `min`, since a lone `m` reads as metres or mebibytes to humans.
    let name = if *per_unit == 60_000_000_000 {
        "min"
    } else {
        names[0]
    };
    format!("{} {}", nanos / u128::from(*per_unit), name)
}

/// Splits `"  64 mb "` into the number and its unit's multiplier from `units` (case-insensitive;
/// `bare` when there is no unit); `None` when there is no leading integer, it overflows, or the
/// unit is unknown.
fn split_quantity(text: &str, units: &[(u64, &[&str])], bare: u64) -> Option<(u64, u64)> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse::<u64>().ok()?;
    let unit = text[digits..].trim().to_lowercase();
    if unit.is_empty() {
        return Some((number, bare));
    }
    units
        .iter()
        .find(|(_, names)| names.contains(&unit.as_str()))
        .map(|(multiplier, _)| (number, *multiplier))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    #[test]
    fn memory_sizes_accept_units_with_and_without_spaces() {
        let cases = [
            ("1024m", 1024 * MB),
            ("1 gb", 1 << 30),
            ("64mb", 64 * MB),
            ("32 kb", 32 << 10),
            ("1728m", 1728 * MB),
            ("1600 MB", 1600 * MB),
            ("2 GiBiBytes", 2 << 30),
            ("1t", 1 << 40),
            ("10 b", 10),
            ("10 bytes", 10),
            ("4096", 4096),
            ("  7k  ", 7 << 10),
            ("0", 0),
        ];
        for (text, bytes) in cases {
            assert_eq!(MemorySize::parse(text), Ok(MemorySize(bytes)), "{text}");
        }
    }

    #[test]
    fn memory_sizes_reject_garbage_negative_fractions_and_overflow() {
        for text in [
            "",
            "mb",
            "-1m",
            "1.5g",
            "12 parsecs",
            "1 m b",
            "99999999999 tb",
        ] {
            let err = MemorySize::parse(text).unwrap_err();
            assert!(err.contains("memory size"), "{text}: {err}");
        }
    }

    #[test]
    fn cli_memory_flags_default_to_mebibytes() {
        assert_eq!(
            MemorySize::parse_default_mebibytes("1024"),
            Ok(MemorySize(1024 * MB))
        );
        assert_eq!(
            MemorySize::parse_default_mebibytes("2g"),
            Ok(MemorySize(2 << 30))
        );
    }

    #[test]
    fn memory_sizes_display_in_the_largest_exact_unit_like_flink() {
        assert_eq!(MemorySize(1600 * MB).to_string(), "1600 mb");
        assert_eq!(MemorySize(1 << 30).to_string(), "1 gb");
        assert_eq!(MemorySize(32 << 10).to_string(), "32 kb");
        assert_eq!(MemorySize(1000).to_string(), "1000 bytes");
        assert_eq!(MemorySize(0).to_string(), "0 bytes");
        assert_eq!(
            MemorySize::parse(&MemorySize(1728 * MB).to_string()),
            Ok(MemorySize(1728 * MB))
        );
    }

    #[test]
    fn durations_accept_flink_units_with_and_without_spaces() {
        let cases = [
            ("10 s", Duration::from_secs(10)),
            ("10s", Duration::from_secs(10)),
            ("5 min", Duration::from_secs(300)),
            ("5min", Duration::from_secs(300)),
            ("2 m", Duration::from_secs(120)),
            ("100ms", Duration::from_millis(100)),
            ("100 MS", Duration::from_millis(100)),
            ("1 h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(2 * 86_400)),
            ("3 days", Duration::from_secs(3 * 86_400)),
            ("7 seconds", Duration::from_secs(7)),
            ("15 us", Duration::from_micros(15)),
            ("42 ns", Duration::from_nanos(42)),
            ("500", Duration::from_millis(500)),
            ("0", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn durations_reject_garbage_negative_and_fractional_values() {
        for text in ["", "s", "-5 s", "1.5 s", "10 fortnights", "5 min 3 s"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("duration"), "{text}: {err}");
        }
    }

    #[test]
    fn formatted_durations_read_back() {
        for d in [
            Duration::from_millis(100),
            Duration::from_secs(10),
            Duration::from_secs(300),
            Duration::from_secs(3600),
            Duration::from_nanos(1_500),
            Duration::ZERO,
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5 min");
        assert_eq!(format_duration(Duration::from_secs(10)), "10 s");
        assert_eq!(format_duration(Duration::ZERO), "0 ms");
    }
}
