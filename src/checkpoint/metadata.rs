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

/// Bytes of state: a file (its URI, or for savepoints a name relative to the directory of the
/// `_metadata` so the savepoint can be moved), or small state inlined into the metadata
/// (Flink's `state.storage.fs.memory-threshold`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateHandle {
    File { path: String, size: u64 },
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl StateHandle {
    pub fn size(&self) -> u64 {
        match self {
            StateHandle::File { size, .. } => *size,
            StateHandle::Inline(bytes) => bytes.len() as u64,
        }
    }

    /// The file this handle points to, if any.
    pub fn file_path(&self) -> Option<&str> {
        match self {
            StateHandle::File { path, .. } => Some(path),
            StateHandle::Inline(_) => None,
        }
    }
}

/// Keyed state of one subtask for a range of key groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyedStateHandle {
    /// The canonical format (`crate::state::canonical`): every state's entries grouped by key
    /// group, readable by every backend at any parallelism. `offsets[i]` is where key group
    /// `range.start + i` starts in `data`.
    KeyGroups {
        range: KeyGroupRange,
        data: StateHandle,
        offsets: Vec<u64>,
    },
    /// A backend's native incremental snapshot (RocksDB): `shared` files (SST files, named by
    /// content, under `shared/`, referenced by later checkpoints too), `private` files of this
    /// checkpoint only (MANIFEST, CURRENT, OPTIONS), and the backend's own `meta` (state names
    /// and types).
    Incremental {
        range: KeyGroupRange,
        backend_id: String,
        checkpoint_id: u64,
        shared: Vec<(String, StateHandle)>,
        private: Vec<(String, StateHandle)>,
        #[serde(with = "serde_bytes")]
        meta: Vec<u8>,
    },
}

impl KeyedStateHandle {
    pub fn key_group_range(&self) -> KeyGroupRange {
        match self {
            KeyedStateHandle::KeyGroups { range, .. }
            | KeyedStateHandle::Incremental { range, .. } => *range,
        }
    }

    /// Bytes this handle holds (state size shown in checkpoint statistics).
    pub fn state_size(&self) -> u64 {
        match self {
            KeyedStateHandle::KeyGroups { data, .. } => data.size(),
            KeyedStateHandle::Incremental {
                shared,
                private,
                meta,
                ..
            } => {
                shared
                    .iter()
                    .chain(private)
                    .map(|(_, h)| h.size())
                    .sum::<u64>()
                    + meta.len() as u64
            }
        }
    }

    fn files(&self) -> Vec<&str> {
        match self {
            KeyedStateHandle::KeyGroups { data, .. } => data.file_path().into_iter().collect(),
            KeyedStateHandle::Incremental {
                shared, private, ..
            } => shared
                .iter()
                .chain(private)
                .filter_map(|(_, h)| h.file_path())
                .collect(),
        }
    }

    fn shared_files(&self) -> Vec<&str> {
        match self {
            KeyedStateHandle::KeyGroups { .. } => Vec::new(),
            KeyedStateHandle::Incremental { shared, .. } => {
                shared.iter().filter_map(|(_, h)| h.file_path()).collect()
            }
        }
    }
}

/// How operator (non-keyed) list state is redistributed when the parallelism changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorStateMode {
    /// Flink's `getListState`: the elements of all subtasks are split evenly.
    Split,
    /// Flink's `getUnionListState`: every subtask gets all elements.
    Union,
    /// Broadcast state: every subtask holds the same map; one copy is restored everywhere.
    Broadcast,
}

/// The operator state of one subtask: named lists of serialised elements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OperatorStateSnapshot {
    pub states: Vec<(String, OperatorStateMode, Vec<serde_bytes::ByteBuf>)>,
}

/// One subtask's state of one operator.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubtaskSnapshot {
    /// Keyed state from the operator's keyed state backend.
    pub keyed: Vec<KeyedStateHandle>,
    /// Keyed state the operator writes itself (timers), always in the canonical format.
    pub raw_keyed: Vec<KeyedStateHandle>,
    /// Operator state (list, union list, broadcast): a bincode `OperatorStateSnapshot`.
    pub operator: Option<StateHandle>,
}

impl SubtaskSnapshot {
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty() && self.raw_keyed.is_empty() && self.operator.is_none()
    }

    pub fn state_size(&self) -> u64 {
        self.keyed
            .iter()
            .chain(&self.raw_keyed)
            .map(KeyedStateHandle::state_size)
            .sum::<u64>()
            + self.operator.as_ref().map_or(0, StateHandle::size)
    }

    /// Every file this subtask's state uses.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.keyed
            .iter()
            .chain(&self.raw_keyed)
            .flat_map(KeyedStateHandle::files)
            .chain(self.operator.iter().filter_map(StateHandle::file_path))
    }
}

/// One operator's state, by its stable operator id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    pub operator_id: String,
    /// The operator's uid, when it has one (shown in restore errors).
    pub uid: Option<String>,
    pub name: String,
    pub parallelism: usize,
    pub max_parallelism: usize,
    /// Indexed by subtask.
    pub subtasks: Vec<SubtaskSnapshot>,
}

/// Whether a snapshot is a checkpoint (owned by the job, retained per policy) or a savepoint
/// (owned by the user, self-contained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotKind {
    Checkpoint,
    Savepoint,
}

/// What a completed checkpoint or savepoint consists of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    pub job_id: JobId,
    pub checkpoint_id: u64,
    /// When the checkpoint was triggered, ms since the epoch.
    pub timestamp: i64,
    pub kind: SnapshotKind,
    pub operators: Vec<OperatorSnapshot>,
}

impl CheckpointMetadata {
    /// Every shared file any subtask of this checkpoint references.
    pub fn shared_files(&self) -> impl Iterator<Item = &str> {
        self.subtask_states()
            .flat_map(|s| s.keyed.iter())
            .flat_map(KeyedStateHandle::shared_files)
    }

    /// Every file the checkpoint uses (exclusive and shared).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.subtask_states().flat_map(SubtaskSnapshot::files)
    }

    fn subtask_states(&self) -> impl Iterator<Item = &SubtaskSnapshot> {
        self.operators.iter().flat_map(|o| o.subtasks.iter())
    }

    /// Total bytes of state.
    pub fn state_size(&self) -> u64 {
        self.subtask_states().map(SubtaskSnapshot::state_size).sum()
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
            kind: SnapshotKind::Checkpoint,
            operators: vec![OperatorSnapshot {
                operator_id: "abc".into(),
                uid: None,
                name: "Map".into(),
                parallelism: 2,
                max_parallelism: 128,
                subtasks: vec![SubtaskSnapshot {
                    keyed: vec![KeyedStateHandle::Incremental {
                        range: KeyGroupRange { start: 0, end: 63 },
                        backend_id: "b".into(),
                        checkpoint_id: 3,
                        shared: vec![(
                            "1.sst".into(),
                            StateHandle::File {
                                path: "file:///c/shared/sst-1".into(),
                                size: 10,
                            },
                        )],
                        private: vec![],
                        meta: vec![],
                    }],
                    raw_keyed: vec![],
                    operator: Some(StateHandle::Inline(vec![1, 2])),
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
