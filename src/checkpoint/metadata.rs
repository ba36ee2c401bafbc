//! The `_metadata` file: which state files make up a checkpoint, per operator and subtask.
//!
//! Layout: a 4-byte magic number, a format version, the bincode-encoded metadata, and a CRC32C
//! of everything before it, so a truncated or damaged file is recognised as such instead of
//! being taken for a checkpoint.

use serde::{Deserialize, Serialize};

use crate::runtime::keygroup::KeyGroupRange;
use crate::util::ids::JobId;

/// Identifies Strato checkpoint metadata (Flink uses 0x4960672d for its own).
pub const MAGIC: u32 = 0x5354_4350; // "STCP"
pub const VERSION: u32 = 1;

/// A file holding state: its path (URI) and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateHandle {
    pub path: String,
    pub size: u64,
}

/// One subtask's state: keyed state per key-group range, and operator (non-keyed) state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubtaskSnapshot {
    pub keyed: Vec<(KeyGroupRange, StateHandle)>,
    pub operator: Vec<StateHandle>,
    /// Shared (incremental) files this subtask's state uses.
    pub shared: Vec<String>,
}

/// One operator's state, by its stable operator id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    pub operator_id: String,
    pub parallelism: usize,
    pub max_parallelism: usize,
    pub subtasks: Vec<SubtaskSnapshot>,
}

/// What a completed checkpoint or savepoint consists of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    pub job_id: JobId,
    pub checkpoint_id: u64,
    /// When the checkpoint was triggered, ms since the epoch.
    pub timestamp: i64,
    pub operators: Vec<OperatorSnapshot>,
}

impl CheckpointMetadata {
    /// Every shared file any subtask of this checkpoint references.
    pub fn shared_files(&self) -> impl Iterator<Item = &str> {
        self.operators
            .iter()
            .flat_map(|o| o.subtasks.iter())
            .flat_map(|s| s.shared.iter().map(String::as_str))
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC.to_be_bytes());
        bytes.extend_from_slice(&VERSION.to_be_bytes());
        let body = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .map_err(|e| format!("could not encode checkpoint metadata: {e}"))?;
        bytes.extend_from_slice(&body);
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        Ok(bytes)
    }

    /// Parses metadata; the error says what is wrong with the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 12 {
            return Err(format!(
                "the file is too short ({} bytes) to be checkpoint metadata",
                bytes.len()
            ));
        }
        let (content, crc) = bytes.split_at(bytes.len() - 4);
        let magic = u32::from_be_bytes([content[0], content[1], content[2], content[3]]);
        if magic != MAGIC {
            return Err(format!(
                "not checkpoint metadata (magic number {magic:#010x}, expected {MAGIC:#010x})"
            ));
        }
        let version = u32::from_be_bytes([content[4], content[5], content[6], content[7]]);
        if version != VERSION {
            return Err(format!("unsupported checkpoint metadata version {version} (this Strato reads version {VERSION})"));
        }
        let expected = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32c::crc32c(content) != expected {
            return Err("checksum mismatch: the file is truncated or damaged".to_string());
        }
        let (metadata, used) = bincode::serde::decode_from_slice::<CheckpointMetadata, _>(
            &content[8..],
            bincode::config::standard(),
        )
        .map_err(|e| format!("could not decode checkpoint metadata: {e}"))?;
        if used != content.len() - 8 {
            return Err(format!(
                "{} unexpected bytes after the checkpoint metadata",
                content.len() - 8 - used
            ));
        }
        Ok(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CheckpointMetadata {
        CheckpointMetadata {
            job_id: JobId(7),
            checkpoint_id: 3,
            timestamp: 1_700_000_000_000,
            operators: vec![OperatorSnapshot {
                operator_id: "abc".into(),
                parallelism: 2,
                max_parallelism: 128,
                subtasks: vec![SubtaskSnapshot {
                    keyed: vec![(
                        KeyGroupRange { start: 0, end: 63 },
                        StateHandle {
                            path: "file:///c/chk-3/op-0".into(),
                            size: 10,
                        },
                    )],
                    operator: vec![],
                    shared: vec!["file:///c/shared/sst-1".into()],
                }],
            }],
        }
    }

    #[test]
    fn metadata_round_trips() {
        let m = sample();
        assert_eq!(
            CheckpointMetadata::from_bytes(&m.to_bytes().unwrap()).unwrap(),
            m
        );
        assert_eq!(
            m.shared_files().collect::<Vec<_>>(),
            vec!["file:///c/shared/sst-1"]
        );
    }

    #[test]
    fn truncated_damaged_or_foreign_files_are_refused() {
        let bytes = sample().to_bytes().unwrap();
        assert!(CheckpointMetadata::from_bytes(&bytes[..bytes.len() - 3])
            .unwrap_err()
            .contains("checksum mismatch"));
        let mut flipped = bytes.clone();
        flipped[12] ^= 0x40;
        assert!(CheckpointMetadata::from_bytes(&flipped)
            .unwrap_err()
            .contains("checksum mismatch"));
        assert!(CheckpointMetadata::from_bytes(b"hello world, not metadata")
            .unwrap_err()
            .contains("magic number"));
        assert!(CheckpointMetadata::from_bytes(b"abc")
            .unwrap_err()
            .contains("too short"));
    }
}
