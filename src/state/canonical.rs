//! The canonical keyed-state format: what every backend writes for savepoints (and the heap
//! backend and timers for every checkpoint) and what every backend reads at any parallelism.
//!
//! A snapshot is one [`KeyedStateHandle::KeyGroups`]: the data holds, for each key group of
//! its range in order, that group's entries back to back; `offsets[i]` is where key group
//! `range.start + i` starts, so a restoring subtask reads only the byte ranges of its own key
//! groups (`StateReader::read_range`). An entry is the bincode (2, standard config) encoding
//! of `(state name, serialized key, serialized namespace, serialized value)`, each serialized
//! part itself bincode-encoded. Both backends store exactly these key, namespace and value
//! bytes, so a savepoint taken with one restores into the other.

use serde_bytes::Bytes;

use crate::checkpoint::{CheckpointError, KeyedStateHandle, SnapshotLocation, StateReader};
use crate::runtime::keygroup::KeyGroupRange;
use crate::state::heap::StateError;
use crate::state::KeyedSnapshotWriter;

/// The bincode configuration of every serialized key, namespace, value and entry.
pub fn codec() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Serializes a key, namespace or value.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, codec())
        .map_err(|e| format!("could not serialize {what}: {e}"))
}

/// Appends a serialized key, namespace or value to `out`.
pub fn encode_into<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    what: &str,
) -> Result<(), String> {
    bincode::serde::encode_into_std_write(value, out, codec())
        .map(|_| ())
        .map_err(|e| format!("could not serialize {what}: {e}"))
}

/// Deserializes a key, namespace or value, returning it and the bytes it took.
pub fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<(T, usize), String> {
    bincode::serde::decode_from_slice(bytes, codec()).map_err(|e| {
        format!(
            "could not deserialize {what} as {}: {e}",
            std::any::type_name::<T>()
        )
    })
}

/// Appends one canonical entry to `out`.
pub fn write_entry(
    out: &mut Vec<u8>,
    state: &str,
    key: &[u8],
    namespace: &[u8],
    value: &[u8],
) -> Result<(), String> {
    let entry = (
        state,
        Bytes::new(key),
        Bytes::new(namespace),
        Bytes::new(value),
    );
    encode_into(&entry, out, "a state entry")
}

/// One entry as read back, borrowing from the key group's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub key_group: usize,
    pub state: &'a str,
    pub key: &'a [u8],
    pub namespace: &'a [u8],
    pub value: &'a [u8],
}

/// Calls `f` for every entry of one key group's bytes.
pub fn for_each_entry<'a>(
    key_group: usize,
    mut bytes: &'a [u8],
    f: &mut dyn FnMut(Entry<'a>) -> Result<(), String>,
) -> Result<(), String> {
    while !bytes.is_empty() {
        let ((state, key, namespace, value), used): ((&str, &Bytes, &Bytes, &Bytes), usize) =
            bincode::serde::borrow_decode_from_slice(bytes, codec())
                .map_err(|e| format!("damaged state entry in key group {key_group}: {e}"))?;
        f(Entry {
            key_group,
            state,
            key,
            namespace,
            value,
        })?;
        bytes = &bytes[used..];
    }
    Ok(())
}

/// A snapshot already copied out of the backend (the synchronous part): each key group's
/// encoded entries. Writing it out is the asynchronous part.
pub struct KeyGroupsSnapshot {
    pub range: KeyGroupRange,
    /// One buffer per key group of `range`, in order.
    pub groups: Vec<Vec<u8>>,
}

impl KeyGroupsSnapshot {
    pub fn new(range: KeyGroupRange) -> Self {
        KeyGroupsSnapshot {
            range,
            groups: vec![Vec::new(); range.len()],
        }
    }

    /// The buffer of `key_group`.
    pub fn group(&mut self, key_group: usize) -> &mut Vec<u8> {
        &mut self.groups[key_group - self.range.start]
    }

    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(Vec::is_empty)
    }
}

impl KeyedSnapshotWriter for KeyGroupsSnapshot {
    fn write(
        self: Box<Self>,
        location: &SnapshotLocation,
        name: &str,
    ) -> Result<Vec<KeyedStateHandle>, CheckpointError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let range = self.range;
        let mut writer = CanonicalWriter::new(range);
        for group in &self.groups {
            writer.start_group();
            writer.buffer.extend_from_slice(group);
        }
        writer.finish(location, name).map(|h| vec![h])
    }
}

/// Builds a canonical snapshot key group by key group, then stores it.
pub struct CanonicalWriter {
    range: KeyGroupRange,
    pub(crate) buffer: Vec<u8>,
    offsets: Vec<u64>,
}

impl CanonicalWriter {
    pub fn new(range: KeyGroupRange) -> Self {
        CanonicalWriter {
            range,
            buffer: Vec::new(),
            offsets: Vec::with_capacity(range.len()),
        }
    }

    /// Starts the next key group of the range.
    pub fn start_group(&mut self) {
        self.offsets.push(self.buffer.len() as u64);
    }

    pub fn entry(
        &mut self,
        state: &str,
        key: &[u8],
        namespace: &[u8],
        value: &[u8],
    ) -> Result<(), String> {
        write_entry(&mut self.buffer, state, key, namespace, value)
    }

    /// Stores the data (inline when small) and returns its handle.
    pub fn finish(
        self,
        location: &SnapshotLocation,
        name: &str,
    ) -> Result<KeyedStateHandle, CheckpointError> {
        let data = location.write(name, &self.buffer)?;
        Ok(KeyedStateHandle::KeyGroups {
            range: self.range,
            data,
            offsets: self.offsets,
        })
    }
}

/// Reads the entries of the key groups in `mine` from canonical handles of any parallelism
/// (handles of other formats are skipped: the caller restores those itself). Errors name the
/// state file that is missing or damaged.
pub fn read_key_groups(
    reader: &StateReader,
    handles: &[KeyedStateHandle],
    mine: KeyGroupRange,
    f: &mut dyn FnMut(Entry<'_>) -> Result<(), String>,
) -> Result<(), StateError> {
    for handle in handles {
        let KeyedStateHandle::KeyGroups {
            range,
            data,
            offsets,
        } = handle
        else {
            continue;
        };
        let describe = || match data.file_path() {
            Some(path) => path.to_string(),
            None => "inline state".to_string(),
        };
        let damaged = |reason: String| StateError::Damaged {
            path: describe(),
            reason,
        };
        if offsets.len() != range.len() {
            return Err(damaged(format!(
                "{} key-group offsets for {} key groups",
                offsets.len(),
                range.len()
            )));
        }
        let first = range.start.max(mine.start);
        let last = range.end.min(mine.end);
        if first > last {
            continue;
        }
        let start = offsets[first - range.start];
        let end = offsets
            .get(last + 1 - range.start)
            .copied()
            .unwrap_or(data.size());
        if end < start {
            return Err(damaged(format!("key-group offsets {start} > {end}")));
        }
        let bytes = reader
            .read_range(data, start, (end - start) as usize)
            .map_err(|e| StateError::RestoreFiles(e.to_string()))?;
        if bytes.len() as u64 != end - start {
            return Err(damaged(format!(
                "truncated: wanted {} bytes from offset {start}, found {}",
                end - start,
                bytes.len()
            )));
        }
        for key_group in first..=last {
            let from = (offsets[key_group - range.start] - start) as usize;
            let to = offsets
                .get(key_group + 1 - range.start)
                .map_or(bytes.len(), |o| (o - start) as usize);
            let group = bytes
                .get(from..to)
                .ok_or_else(|| damaged(format!("key group {key_group} lies outside the data")))?;
            for_each_entry(key_group, group, f).map_err(damaged)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subtask_reads_only_its_key_groups() {
        let dir = tempfile::tempdir().unwrap();
        let location = SnapshotLocation::in_directory(dir.path().to_str().unwrap()).unwrap();
        let range = KeyGroupRange { start: 0, end: 3 };
        let mut snapshot = KeyGroupsSnapshot::new(range);
        for kg in 0..4usize {
            let value = vec![7u8; 10_000];
            write_entry(snapshot.group(kg), "s", &[kg as u8], &[], &value).unwrap();
        }
        let handles = Box::new(snapshot).write(&location, "x").unwrap();
        assert!(handles[0].key_group_range() == range);
        let reader = StateReader::new(dir.path().to_str().unwrap());
        let mut seen = Vec::new();
        read_key_groups(
            &reader,
            &handles,
            KeyGroupRange { start: 1, end: 2 },
            &mut |e| {
                seen.push((e.key_group, e.key.to_vec(), e.value.len()));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, vec![(1, vec![1], 10_000), (2, vec![2], 10_000)]);
    }
}
