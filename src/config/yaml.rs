//! Reading and writing `strato-conf.yaml`.
//!
//! Flink users write both the legacy flat style (`taskmanager.numberOfTaskSlots: 2`) and the
//! nested style of Flink 1.19's `config.yaml` (`taskmanager: {numberOfTaskSlots: 2}`); both
//! flatten to the same dotted keys. Values are kept as text: typed parsing happens on read, so
//! a bad value is reported against the key that uses it.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::ConfigError;

/// Flattens a YAML document into `(dotted key, value text)` pairs in document order.
/// Scalars keep their YAML string form, lists become `;`-separated text (Flink's list syntax),
/// and `key:` with no value becomes the empty string.
pub(crate) fn flatten(text: &str, origin: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let document: Value = serde_yaml::from_str(text).map_err(|err| ConfigError::Yaml {
        origin: origin.to_string(),
        line: err.location().map(|location| location.line()),
        message: err.to_string(),
    })?;
    let mut entries = Vec::new();
    match document {
        Value::Null => {}
        Value::Mapping(mapping) => flatten_mapping(&mapping, "", origin, &mut entries)?,
        _ => {
            return Err(ConfigError::Structure {
                origin: origin.to_string(),
                key: String::new(),
                message: "the document must be a mapping of keys to values".to_string(),
            })
        }
    }
    Ok(entries)
}

fn flatten_mapping(
    mapping: &serde_yaml::Mapping,
    prefix: &str,
    origin: &str,
    entries: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    for (key, value) in mapping {
        let structure_error = |key: &str, message: &str| ConfigError::Structure {
            origin: origin.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        };
        let key = scalar_text(key).ok_or_else(|| {
            structure_error(prefix, "a key must be a plain scalar, not a list or a map")
        })?;
        let full_key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Mapping(nested) => flatten_mapping(nested, &full_key, origin, entries)?,
            Value::Sequence(items) => {
                let texts = items
                    .iter()
                    .map(scalar_text)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| structure_error(&full_key, "list entries must be scalars"))?;
                entries.push((full_key, texts.join(";")));
            }
            other => {
                let text = scalar_text(other)
                    .ok_or_else(|| structure_error(&full_key, "tagged values are not supported"))?;
                entries.push((full_key, text));
            }
        }
    }
    Ok(())
}

/// The text of a scalar; `None` for collections and tagged values.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}

/// Writes a flat YAML document, one `key: value` line per entry; every value is a YAML string
/// (quoted where needed), so `flatten` reads back exactly the same text.
pub(crate) fn to_flat_yaml(entries: &BTreeMap<String, String>) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for (key, value) in entries {
        out.push_str(&quote_scalar(key));
        out.push_str(": ");
        out.push_str(&quote_scalar(value));
        out.push('\n');
    }
    out
}

/// A YAML scalar that parses back as exactly `text`, as a string: plain when that is safe,
/// otherwise single-quoted (`'` doubled), or double-quoted with escapes for control characters.
fn quote_scalar(text: &str) -> String {
    let plain_is_safe = !text.is_empty()
        && matches!(serde_yaml::from_str::<Value>(text), Ok(Value::String(ref s)) if s == text)
        && !text.contains([
            '#', ':', '\n', '\'', '"', '{', '}', '[', ']', ',', '&', '*', '!', '|', '>', '%', '@',
            '`',
        ])
        && text.trim() == text
        && !text.starts_with(['-', '?']);
    if plain_is_safe {
        text.to_string()
    } else if text.chars().any(char::is_control) {
        // Rust's debug escapes (`\n`, `\t`, `\u{1b}`) are YAML double-quoted escapes except
        // `\u{..}`, which YAML writes as `\uXXXX`; control characters are all below U+10000.
        let mut quoted = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
                c => quoted.push(c),
            }
        }
        quoted.push('"');
        quoted
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_flatten_with_dots_in_document_order() {
        let entries = flatten(
            "taskmanager:\n  numberOfTaskSlots: 2\n  memory:\n    process.size: 1728m\nrest.port: 8081\n",
            "test",
        )
        .unwrap();
        assert_eq!(
            entries,
            vec![
                ("taskmanager.numberOfTaskSlots".into(), "2".into()),
                ("taskmanager.memory.process.size".into(), "1728m".into()),
                ("rest.port".into(), "8081".into()),
            ]
        );
    }

    #[test]
    fn scalars_keep_their_text_and_lists_join_with_semicolons() {
        let entries = flatten(
            "a: true\nb: 0.4\nc: -1\nd:\ne: [/tmp/x, /tmp/y]\nf: 'quoted: yes'\n",
            "test",
        )
        .unwrap();
        let values: Vec<&str> = entries.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            ["true", "0.4", "-1", "", "/tmp/x;/tmp/y", "quoted: yes"]
        );
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_refused() {
        let err = flatten("- a\n- b\n", "conf.yaml").unwrap_err();
        assert!(err.to_string().contains("conf.yaml"), "{err}");
    }

    #[test]
    fn awkward_values_are_quoted_so_they_read_back_as_the_same_text() {
        let awkward = [
            "",
            "1",
            "0.40",
            "true",
            "null",
            "~",
            "a: b",
            "x # y",
            "'q'",
            "\"d\"",
            " pad ",
            "- item",
            "line\nbreak",
            "tab\there",
            "[1]",
            "{a: 1}",
            "*ref",
            "1728m",
            "plain text",
            "ütf-8 ✓",
        ];
        let map: BTreeMap<String, String> = awkward
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("k{i}"), v.to_string()))
            .collect();
        let text = to_flat_yaml(&map);
        let back: BTreeMap<String, String> =
            flatten(&text, "round trip").unwrap().into_iter().collect();
        assert_eq!(back, map, "document was:\n{text}");
    }
}
