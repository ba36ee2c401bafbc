//! Record (de)serialisation across task boundaries: serde + bincode 2.
//!
//! A buffer starts with one header byte saying whether its records carry timestamps; then the
//! records follow back to back, each self-delimiting, each preceded by its 8-byte little-endian
//! timestamp in timestamped buffers.

use serde::{de::DeserializeOwned, Serialize};

use crate::runtime::batch::{Batch, NO_TIMESTAMP};
use crate::runtime::chain::TaskError;

const PLAIN: u8 = 0;
const TIMESTAMPED: u8 = 1;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Starts an empty buffer in plain or timestamped mode.
pub fn start_buffer(buffer: &mut Vec<u8>, timestamped: bool) {
    buffer.clear();
    buffer.push(if timestamped { TIMESTAMPED } else { PLAIN });
}

/// Whether a started buffer holds timestamps.
pub fn is_timestamped(buffer: &[u8]) -> bool {
    buffer.first() == Some(&TIMESTAMPED)
}

/// Appends one record (and, in a timestamped buffer, its timestamp) to a started buffer.
#[inline]
pub fn encode_into<T: Serialize>(
    record: &T,
    timestamp: Option<i64>,
    buffer: &mut Vec<u8>,
) -> Result<(), String> {
    if is_timestamped(buffer) {
        buffer.extend_from_slice(&timestamp.unwrap_or(NO_TIMESTAMP).to_le_bytes());
    }
    bincode::serde::encode_into_std_write(record, buffer, config())
        .map(|_| ())
        .map_err(|e| {
            format!(
                "could not serialise a record of type {}: {e}",
                std::any::type_name::<T>()
            )
        })
}

fn corrupt(buffer: &[u8], pos: usize, what: String) -> TaskError {
    TaskError::operator(
        "network input",
        format!(
            "could not deserialise {what} at byte {pos} of a {}-byte buffer",
            buffer.len()
        ),
    )
}

/// Decodes every record of a buffer into `out`.
pub fn decode_all<T: DeserializeOwned>(buffer: &[u8], out: &mut Batch<T>) -> Result<(), TaskError> {
    let Some((&header, body)) = buffer.split_first() else {
        return Ok(());
    };
    let timestamped = match header {
        PLAIN => false,
        TIMESTAMPED => true,
        other => {
            return Err(corrupt(
                buffer,
                0,
                format!("a buffer (unknown header {other})"),
            ))
        }
    };
    let mut pos = 0;
    while pos < body.len() {
        let timestamp = if timestamped {
            let bytes: [u8; 8] = body
                .get(pos..pos + 8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt(buffer, pos + 1, "a record timestamp".into()))?;
            pos += 8;
            Some(i64::from_le_bytes(bytes)).filter(|&t| t != NO_TIMESTAMP)
        } else {
            None
        };
        let (record, used) = bincode::serde::decode_from_slice::<T, _>(&body[pos..], config())
            .map_err(|e| {
                corrupt(
                    buffer,
                    pos + 1,
                    format!("a record of type {}: {e}", std::any::type_name::<T>()),
                )
            })?;
        out.push(record, timestamp);
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
        start_buffer(&mut buf, false);
        for r in &records {
            encode_into(r, None, &mut buf).unwrap();
        }
        let mut out: Batch<(String, i64)> = Batch::new();
        decode_all(&buf, &mut out).unwrap();
        assert_eq!(out.records, records);
        assert!(!out.has_timestamps());
    }

    #[test]
    fn timestamps_round_trip_including_records_without_one() {
        let mut buf = Vec::new();
        start_buffer(&mut buf, true);
        encode_into(&1u32, Some(-5), &mut buf).unwrap();
        encode_into(&2u32, None, &mut buf).unwrap();
        let mut out = Batch::new();
        decode_all(&buf, &mut out).unwrap();
        assert_eq!(
            out.drain().collect::<Vec<_>>(),
            vec![(1u32, Some(-5)), (2, None)]
        );
    }

    #[test]
    fn a_truncated_buffer_is_an_error_not_a_lost_record() {
        let mut buf = Vec::new();
        start_buffer(&mut buf, false);
        encode_into(&("hello".to_string(), 1i64), None, &mut buf).unwrap();
        buf.truncate(buf.len() - 2);
        let mut out: Batch<(String, i64)> = Batch::new();
        let err = decode_all(&buf, &mut out).unwrap_err();
        assert!(
            matches!(err, TaskError::Operator { message, .. } if message.contains("could not deserialise"))
        );
    }
}
