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

use crate::checkpoint::{
    CheckpointError, KeyedStateHandle, SnapshotLocation, SnapshotOutput, StateReader,
};
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

/// A state name as every entry of that state starts: encoded once per snapshot.
pub struct EncodedName(Vec<u8>);

impl EncodedName {
    pub fn new(state: &str) -> Result<Self, String> {
        encode(state, "a state name").map(EncodedName)
    }
}

/// Appends one canonical entry, serializing key, namespace and value straight into `out`:
/// the same bytes as [`write_entry`] of their encodings, without three intermediate buffers
/// and a second pass over them.
pub fn write_typed_entry<K, N, V>(
    out: &mut Vec<u8>,
    state: &EncodedName,
    key: &K,
    namespace: &N,
    value: &V,
) -> Result<(), String>
where
    K: serde::Serialize + ?Sized,
    N: serde::Serialize + ?Sized,
    V: serde::Serialize + ?Sized,
{
    out.extend_from_slice(&state.0);
    encode_part(out, key, "a key")?;
    encode_part(out, namespace, "a namespace")?;
    encode_part(out, value, "a value")
}

/// Appends `value` serialized, behind its length as bincode prefixes a byte string: a
/// varint, one byte for lengths up to 250. That byte is reserved before serializing; a
/// longer part moves behind its longer prefix afterwards (rare for keys and values).
fn encode_part<T: serde::Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
    what: &str,
) -> Result<(), String> {
    const ONE_BYTE_MAX: usize = 250;
    let start = out.len();
    out.push(0);
    encode_into(value, out, what)?;
    let len = out.len() - start - 1;
    if len <= ONE_BYTE_MAX {
        out[start] = len as u8;
    } else {
        let prefix = encode(&len, "a length")?;
        out.splice(start..=start, prefix);
    }
    Ok(())
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
        let mut writer = CanonicalWriter::new(self.range, location, name);
        for group in &self.groups {
            writer.start_group()?;
            writer.buffer.extend_from_slice(group);
        }
        writer.finish().map(|h| vec![h])
    }
}

/// How much encoded state [`CanonicalWriter`] holds before writing it out.
const CHUNK_BYTES: usize = 1 << 20;

/// Builds a canonical snapshot key group by key group and streams it to its file in chunks,
/// so a large snapshot never sits in memory whole (nor faults in a buffer of its size at
/// every checkpoint); state below the location's inline threshold still ends up inline.
pub struct CanonicalWriter<'a> {
    range: KeyGroupRange,
    location: &'a SnapshotLocation,
    name: &'a str,
    /// Encoded entries not written out yet: append to it ([`write_typed_entry`]), then
    /// [`Self::spill_if_full`].
    pub(crate) buffer: Vec<u8>,
    /// The state file, created once the state outgrows one chunk.
    file: Option<SnapshotOutput>,
    offsets: Vec<u64>,
}

impl<'a> CanonicalWriter<'a> {
    /// A writer of `range`'s key groups to the state file `name` of `location`.
    pub fn new(range: KeyGroupRange, location: &'a SnapshotLocation, name: &'a str) -> Self {
        CanonicalWriter {
            range,
            location,
            name,
            buffer: Vec::new(),
            file: None,
            offsets: Vec::with_capacity(range.len()),
        }
    }

    /// Starts the next key group of the range.
    pub fn start_group(&mut self) -> Result<(), CheckpointError> {
        self.spill_if_full()?;
        let written = self.file.as_ref().map_or(0, SnapshotOutput::position);
        self.offsets.push(written + self.buffer.len() as u64);
        Ok(())
    }

    /// Appends one entry of already serialized parts.
    pub fn entry(
        &mut self,
        state: &str,
        key: &[u8],
        namespace: &[u8],
        value: &[u8],
    ) -> Result<(), String> {
        write_entry(&mut self.buffer, state, key, namespace, value)
    }

    /// Writes the buffered entries out once they fill a chunk (callers check between
    /// entries, so one key group's state need not fit in memory either).
    pub fn spill_if_full(&mut self) -> Result<(), CheckpointError> {
        if self.buffer.len() < CHUNK_BYTES {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(self.location.create(self.name)?),
        };
        file.append(&self.buffer)?;
        self.buffer.clear();
        Ok(())
    }

    /// True while nothing was written (no entry, no file).
    pub fn is_empty(&self) -> bool {
        self.file.is_none() && self.buffer.is_empty()
    }

    /// Stores the rest of the data (all of it inline when small) and returns the handle.
    pub fn finish(self) -> Result<KeyedStateHandle, CheckpointError> {
        let data = match self.file {
            None => self.location.write(self.name, &self.buffer)?,
            Some(mut file) => {
                file.append(&self.buffer)?;
                file.close()?
            }
        };
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

    #[test]
    fn a_typed_entry_has_the_bytes_of_an_entry_of_its_encoded_parts() {
        let name = EncodedName::new("state").unwrap();
        // Parts of 1-byte, 3-byte (u16) and 5-byte (u32) length prefixes.
        for len in [0usize, 10, 248, 249, 250, 251, 300, 70_000] {
            let value = "x".repeat(len);
            let (key, namespace) = (-42i64, (7u32, "window".to_string()));
            let mut typed = Vec::new();
            write_typed_entry(&mut typed, &name, &key, &namespace, &value).unwrap();
            let mut expected = Vec::new();
            write_entry(
                &mut expected,
                "state",
                &encode(&key, "k").unwrap(),
                &encode(&namespace, "n").unwrap(),
                &encode(&value, "v").unwrap(),
            )
            .unwrap();
            assert_eq!(typed, expected, "a value of {len} bytes");
        }
    }

    #[test]
    fn a_snapshot_larger_than_a_chunk_streams_to_one_file_with_exact_key_group_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let location = SnapshotLocation::in_directory(dir.path().to_str().unwrap()).unwrap();
        let range = KeyGroupRange { start: 4, end: 7 };
        let name = EncodedName::new("s").unwrap();
        let value = vec![9u8; 1000];
        // Group 5 alone spans several chunks; group 6 stays empty.
        let per_group = [10usize, 3000, 0, 700];
        let mut writer = CanonicalWriter::new(range, &location, "big");
        for (i, n) in per_group.iter().enumerate() {
            writer.start_group().unwrap();
            for j in 0..*n {
                write_typed_entry(&mut writer.buffer, &name, &(i, j), &(), &value).unwrap();
                writer.spill_if_full().unwrap();
            }
        }
        let handle = writer.finish().unwrap();
        assert!(handle.state_size() > 3 * CHUNK_BYTES as u64);
        let KeyedStateHandle::KeyGroups { data, .. } = &handle else {
            panic!("not canonical: {handle:?}");
        };
        assert!(data.file_path().is_some(), "large state goes to a file");
        let reader = StateReader::new(dir.path().to_str().unwrap());
        for (i, n) in per_group.iter().enumerate() {
            let mut seen = Vec::new();
            let only = KeyGroupRange {
                start: 4 + i,
                end: 4 + i,
            };
            read_key_groups(&reader, std::slice::from_ref(&handle), only, &mut |e| {
                let ((group, j), _): ((usize, usize), _) = decode(e.key, "k")?;
                assert_eq!((e.key_group, group, e.value.len()), (4 + i, i, 1003));
                seen.push(j);
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, (0..*n).collect::<Vec<_>>(), "key group {}", 4 + i);
        }
    }

    #[test]
    fn small_state_stays_inline() {
        let dir = tempfile::tempdir().unwrap();
        let location = SnapshotLocation::in_directory(dir.path().to_str().unwrap()).unwrap();
        let range = KeyGroupRange { start: 0, end: 1 };
        let mut writer = CanonicalWriter::new(range, &location, "small");
        writer.start_group().unwrap();
        writer.entry("s", &[1], &[], &[2]).unwrap();
        writer.start_group().unwrap();
        let handle = writer.finish().unwrap();
        assert!(
            matches!(&handle, KeyedStateHandle::KeyGroups { data, offsets, .. }
                if data.file_path().is_none() && offsets == &[0, 7]),
            "{handle:?}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
