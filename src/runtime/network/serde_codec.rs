//! Record (de)serialisation across task boundaries: serde + bincode 2, records concatenated in a
//! buffer (each record is self-delimiting).

use serde::{de::DeserializeOwned, Serialize};

use crate::runtime::chain::TaskError;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Appends one record to `buffer`.
#[inline]
pub fn encode_into<T: Serialize>(record: &T, buffer: &mut Vec<u8>) -> Result<(), String> {
    bincode::serde::encode_into_std_write(record, buffer, config())
        .map(|_| ())
        .map_err(|e| {
            format!(
                "could not serialise a record of type {}: {e}",
                std::any::type_name::<T>()
            )
        })
}

/// Decodes every record in `buffer`, appending them to `out`.
pub fn decode_all<T: DeserializeOwned>(buffer: &[u8], out: &mut Vec<T>) -> Result<(), TaskError> {
    let mut pos = 0;
    while pos < buffer.len() {
        let (record, used) = bincode::serde::decode_from_slice::<T, _>(&buffer[pos..], config())
            .map_err(|e| {
                TaskError::operator(
                    "network input",
                    format!(
                        "could not deserialise a record of type {} at byte {pos} of a {}-byte buffer: {e}",
                        std::any::type_name::<T>(),
                        buffer.len()
                    ),
                )
            })?;
        out.push(record);
        pos += used;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_a_buffer() {
        let records = vec![("hello".to_string(), 1i64), ("world".to_string(), -7)];
        let mut buf = Vec::new();
        for r in &records {
            encode_into(r, &mut buf).unwrap();
        }
        let mut out: Vec<(String, i64)> = Vec::new();
        decode_all(&buf, &mut out).unwrap();
        assert_eq!(out, records);
    }

    #[test]
    fn a_truncated_buffer_is_an_error_not_a_lost_record() {
        let mut buf = Vec::new();
        encode_into(&("hello".to_string(), 1i64), &mut buf).unwrap();
        buf.truncate(buf.len() - 2);
        let mut out: Vec<(String, i64)> = Vec::new();
        let err = decode_all(&buf, &mut out).unwrap_err();
        assert!(
            matches!(err, TaskError::Operator { message, .. } if message.contains("could not deserialise"))
        );
    }
}
