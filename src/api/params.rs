//! `ParameterTool`: program arguments in both `--key value` and `-key value` styles, as
//! Flink's examples read them.

use std::collections::BTreeMap;

/// Parsed `--key value` / `-key value` arguments; a key without a value (followed by another
/// key or at the end) is a flag.
#[derive(Debug, Clone, Default)]
pub struct ParameterTool {
    values: BTreeMap<String, Option<String>>,
}

impl ParameterTool {
    /// Parses this process's arguments (without the program name).
    pub fn from_args() -> Result<Self, String> {
        Self::from_arg_list(std::env::args().skip(1))
    }

    /// Parses the given arguments.
    pub fn from_arg_list<I: IntoIterator<Item = S>, S: Into<String>>(
        args: I,
    ) -> Result<Self, String> {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let mut values = BTreeMap::new();
        let mut i = 0;
        while i < args.len() {
            let key = key_of(&args[i]).ok_or_else(|| {
                format!(
                    "Error parsing arguments '{}' on '{}'. Please prefix keys with -- or -.",
                    args.join(" "),
                    args[i]
                )
            })?;
            let value = match args.get(i + 1) {
                Some(next) if key_of(next).is_none() || next.parse::<f64>().is_ok() => {
                    i += 1;
                    Some(next.clone())
                }
                _ => None,
            };
            values.insert(key.to_string(), value);
            i += 1;
        }
        Ok(ParameterTool { values })
    }

    /// The value of `key`, if given with a value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(|v| v.as_deref())
    }

    /// The value of `key`; an error naming the key if it was not given (Flink's `getRequired`).
    pub fn get_required(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("No data for required key '{key}' (pass --{key} <value>)"))
    }

    /// True if `key` was given (with or without a value).
    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The value of `key` parsed as `T`, or `default` if absent; an unparsable value is an
    /// error naming the key and the value.
    pub fn get_parsed<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("invalid value '{v}' for argument '--{key}'")),
        }
    }
}

fn key_of(arg: &str) -> Option<&str> {
    let key = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    (!key.is_empty() && !key.starts_with('-')).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_single_and_double_dash_styles() {
        let p = ParameterTool::from_arg_list([
            "--input",
            "a.txt",
            "-output",
            "out",
            "--verbose",
            "-port",
            "-1",
        ])
        .unwrap();
        assert_eq!(p.get("input"), Some("a.txt"));
        assert_eq!(p.get("output"), Some("out"));
        assert!(p.has("verbose"));
        assert_eq!(p.get("verbose"), None);
        assert_eq!(p.get_parsed("port", 0i32), Ok(-1));
    }

    #[test]
    fn rejects_a_value_without_a_key_and_a_bad_number() {
        assert!(ParameterTool::from_arg_list(["input.txt"])
            .unwrap_err()
            .contains("input.txt"));
        let p = ParameterTool::from_arg_list(["--port", "abc"]).unwrap();
        assert_eq!(
            p.get_parsed("port", 0u16),
            Err("invalid value 'abc' for argument '--port'".to_string())
        );
    }
}
