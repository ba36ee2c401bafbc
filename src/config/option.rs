//! Typed option declarations and the value types they read.
//!
//! Options are `const` items, so their defaults are stored as the text a user would write in
//! `strato-conf.yaml` and parsed by [`ConfigValue`] on read; a test reads every default.

use std::fmt;
use std::time::Duration;

use super::units::{self, MemorySize};

/// A value type an option can hold. `parse_value` returns, on failure, what was expected
/// (e.g. `"a positive integer"`), which the caller turns into an error naming key and value.
pub trait ConfigValue: Sized {
    fn parse_value(text: &str) -> Result<Self, String>;
}

/// A rule a parsed value must satisfy beyond its type (e.g. parallelism > 0).
pub struct Constraint<T: 'static> {
    pub holds: fn(&T) -> bool,
    /// What a valid value looks like, reported when `holds` is false.
    pub expected: &'static str,
}

/// One configuration key with its type, default and description. Declared as `const` in
/// [`super::options`].
pub struct ConfigOption<T: 'static> {
    /// The Flink key name, e.g. `parallelism.default`.
    pub key: &'static str,
    /// The default as configuration text; `None` for options without default.
    pub default: Option<&'static str>,
    pub description: &'static str,
    /// Older or alternative keys consulted in order when `key` is not set (Flink's fallback and
    /// deprecated keys).
    pub fallback_keys: &'static [&'static str],
    pub constraint: Option<Constraint<T>>,
}

impl<T> ConfigOption<T> {
    /// An option without default.
    pub const fn new(key: &'static str, description: &'static str) -> Self {
        ConfigOption {
            key,
            default: None,
            description,
            fallback_keys: &[],
            constraint: None,
        }
    }

    pub const fn with_default(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }

    pub const fn with_fallback_keys(mut self, keys: &'static [&'static str]) -> Self {
        self.fallback_keys = keys;
        self
    }

    pub const fn with_constraint(mut self, holds: fn(&T) -> bool, expected: &'static str) -> Self {
        self.constraint = Some(Constraint { holds, expected });
        self
    }

    /// Parses `text` as this option's value, applying the constraint; `Err` says what was
    /// expected. A constraint's description covers the whole valid set, so it is reported for
    /// type errors too ("expected a positive integer" rather than "an integer").
    pub fn parse(&self, text: &str) -> Result<T, String>
    where
        T: ConfigValue,
    {
        let value = T::parse_value(text).map_err(|expected| match &self.constraint {
            Some(constraint) => constraint.expected.to_string(),
            None => expected,
        })?;
        match &self.constraint {
            Some(constraint) if !(constraint.holds)(&value) => Err(constraint.expected.to_string()),
            _ => Ok(value),
        }
    }
}

// Manual impls: deriving would demand `T: Clone`/`T: Debug`, which `fn(&T)` does not need.
impl<T> Clone for Constraint<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Constraint<T> {}

impl<T> Clone for ConfigOption<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ConfigOption<T> {}

impl<T> fmt::Debug for ConfigOption<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigOption")
            .field("key", &self.key)
            .field("default", &self.default)
            .field("fallback_keys", &self.fallback_keys)
            .finish_non_exhaustive()
    }
}

impl ConfigValue for bool {
    fn parse_value(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("true or false".to_string()),
        }
    }
}

macro_rules! integer_config_values {
    ($($ty:ty => $expected:expr),* $(,)?) => {$(
        impl ConfigValue for $ty {
            fn parse_value(text: &str) -> Result<Self, String> {
                text.trim().parse::<$ty>().map_err(|_| $expected.to_string())
            }
        }
    )*};
}

integer_config_values! {
    u16 => "an integer between 0 and 65535",
    u32 => "a non-negative integer",
    u64 => "a non-negative integer",
    usize => "a non-negative integer",
    i32 => "an integer",
    i64 => "an integer",
}

impl ConfigValue for f64 {
    fn parse_value(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| "a number".to_string())
    }
}

impl ConfigValue for String {
    fn parse_value(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
}

impl ConfigValue for Duration {
    fn parse_value(text: &str) -> Result<Self, String> {
        units::parse_duration(text)
    }
}

impl ConfigValue for MemorySize {
    fn parse_value(text: &str) -> Result<Self, String> {
        MemorySize::parse(text)
    }
}

/// Lists such as `io.tmp.dirs` or `yarn.ship-files`: entries separated by `;` (Flink's list
/// separator) or `,`, trimmed; empty entries are skipped.
impl ConfigValue for Vec<String> {
    fn parse_value(text: &str) -> Result<Self, String> {
        Ok(text
            .split([';', ','])
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// A port or an inclusive port range (`6123`, `50100-50200`), for the bind ports Flink lets
/// users give as a range. `0` means "any free port".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn ports(self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl ConfigValue for PortRange {
    fn parse_value(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "a port (0-65535) or a port range such as '50100-50200'";
        let port = |s: &str| s.trim().parse::<u16>().map_err(|_| EXPECTED.to_string());
        let (start, end) = match text.split_once('-') {
            Some((start, end)) => (port(start)?, port(end)?),
            None => {
                let single = port(text)?;
                (single, single)
            }
        };
        if start > end {
            return Err(EXPECTED.to_string());
        }
        Ok(PortRange { start, end })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Declares an enum read from configuration by name, case-insensitively. The first name of each
/// variant is canonical (used by `Display` and `as_str`); further names are accepted aliases.
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => [$canonical:literal $(, $alias:literal)*] ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The canonical configuration name.
            pub const fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $canonical ),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::config::ConfigValue for $name {
            fn parse_value(text: &str) -> Result<Self, String> {
                let text = text.trim();
                $(
                    if text.eq_ignore_ascii_case($canonical)
                        $(|| text.eq_ignore_ascii_case($alias))*
                    {
                        return Ok($name::$variant);
                    }
                )+
                Err(format!("one of {}", [$($canonical),+].join(", ")))
            }
        }
    };
}
pub(crate) use config_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_true_or_false_in_any_case() {
        assert_eq!(bool::parse_value("TRUE"), Ok(true));
        assert_eq!(bool::parse_value(" false "), Ok(false));
        assert_eq!(bool::parse_value("yes"), Err("true or false".into()));
    }

    #[test]
    fn integers_and_numbers_report_what_was_expected() {
        assert_eq!(u16::parse_value("6123"), Ok(6123));
        assert!(u16::parse_value("70000").unwrap_err().contains("65535"));
        assert_eq!(i32::parse_value("-1"), Ok(-1));
        assert_eq!(u32::parse_value("-1"), Err("a non-negative integer".into()));
        assert_eq!(f64::parse_value("0.4"), Ok(0.4));
        assert_eq!(f64::parse_value("NaN"), Err("a number".into()));
    }

    #[test]
    fn lists_split_on_semicolons_and_commas() {
        assert_eq!(
            Vec::<String>::parse_value("/tmp/a; /tmp/b,/tmp/c;"),
            Ok(vec!["/tmp/a".into(), "/tmp/b".into(), "/tmp/c".into()])
        );
        assert_eq!(Vec::<String>::parse_value(""), Ok(vec![]));
    }

    #[test]
    fn port_ranges_accept_one_port_or_an_inclusive_range() {
        assert_eq!(
            PortRange::parse_value("8081"),
            Ok(PortRange {
                start: 8081,
                end: 8081
            })
        );
        assert_eq!(
            PortRange::parse_value("50100-50102").map(|r| r.ports().collect::<Vec<_>>()),
            Ok(vec![50100, 50101, 50102])
        );
        assert!(PortRange::parse_value("9-3").is_err());
        assert!(PortRange::parse_value("http").is_err());
    }

    #[test]
    fn constraints_reject_values_of_the_right_type_but_wrong_range() {
        const SLOTS: ConfigOption<u32> = ConfigOption::new("slots", "test")
            .with_default("1")
            .with_constraint(|v| *v > 0, "a positive integer");
        assert_eq!(SLOTS.parse("3"), Ok(3));
        assert_eq!(SLOTS.parse("0"), Err("a positive integer".into()));
        assert_eq!(SLOTS.parse("x"), Err("a positive integer".into()));
    }
}
