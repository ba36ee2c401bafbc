//! A bounded write-back cache of serialized keyed state in front of RocksDB.
//!
//! Keyed state is read-modify-write: a running count reads and writes its key on every record.
//! RocksDB answers each of those with a skip-list search, and that search is most of the cost.
//! Recent writes therefore stay here, in hash maps, until a snapshot or a full cache flushes
//! them into RocksDB (in one write batch, or as sorted files when there are many). Durability is unchanged: RocksDB runs without a WAL
//! and only checkpoints make state durable, and every snapshot flushes first. A snapshot's
//! flush keeps the entries (now clean copies), so the keys stay hot between checkpoints; a
//! full cache is emptied.

use std::collections::HashMap;

/// Per state (by index), serialized key to serialized value; `None` marks a deletion.
#[derive(Debug)]
pub struct WriteCache {
    states: Vec<HashMap<Vec<u8>, Entry>>,
    /// Approximate bytes held (keys, values and a per-entry overhead).
    bytes: usize,
    capacity: usize,
    /// Entries not yet written to RocksDB.
    dirty: usize,
}

#[derive(Debug)]
struct Entry {
    value: Option<Vec<u8>>,
    /// Not yet written to RocksDB.
    dirty: bool,
}

/// Unwritten entries of one state: key, and value or deletion (`None`).
pub type DirtyEntries<'a> = Vec<(&'a [u8], Option<&'a [u8]>)>;

/// What one entry costs besides its key and value bytes (the map slot and two vectors).
const ENTRY_OVERHEAD: usize = 64;

/// A cached lookup: the key is not cached, or its cached value (`None`: deleted).
pub enum Cached<'a> {
    Miss,
    Hit(Option<&'a [u8]>),
}

impl WriteCache {
    /// A cache of about `capacity` bytes; 0 caches nothing.
    pub fn new(capacity: usize) -> Self {
        WriteCache {
            states: Vec::new(),
            bytes: 0,
            capacity,
            dirty: 0,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    pub fn get(&self, state: usize, key: &[u8]) -> Cached<'_> {
        match self.states.get(state).and_then(|m| m.get(key)) {
            Some(entry) => Cached::Hit(entry.value.as_deref()),
            None => Cached::Miss,
        }
    }

    /// Records the new value of `key` (`None`: deleted); true when the cache is now full and
    /// should be flushed.
    pub fn put(&mut self, state: usize, key: &[u8], value: Option<Vec<u8>>) -> bool {
        if self.states.len() <= state {
            self.states.resize_with(state + 1, HashMap::new);
        }
        let added = value.as_ref().map_or(0, Vec::len);
        let map = &mut self.states[state];
        match map.get_mut(key) {
            Some(entry) => {
                let removed = entry.value.as_ref().map_or(0, Vec::len);
                if !entry.dirty {
                    self.dirty += 1;
                }
                *entry = Entry { value, dirty: true };
                self.bytes = (self.bytes + added).saturating_sub(removed);
            }
            None => {
                map.insert(key.to_vec(), Entry { value, dirty: true });
                self.bytes += key.len() + added + ENTRY_OVERHEAD;
                self.dirty += 1;
            }
        }
        self.bytes >= self.capacity
    }

    /// Hands every entry not yet written to `write` (state index, key, value or deletion);
    /// they count as written once all are handed over. The caller writes them in one batch.
    pub fn write_dirty<E>(
        &mut self,
        mut write: impl FnMut(usize, &[u8], Option<&[u8]>) -> Result<(), E>,
    ) -> Result<(), E> {
        for (state, map) in self.states.iter().enumerate() {
            for (key, entry) in map.iter().filter(|(_, e)| e.dirty) {
                write(state, key, entry.value.as_deref())?;
            }
        }
        self.mark_written();
        Ok(())
    }

    /// The entries not yet written, per state index, sorted by key (to write sorted files);
    /// [`Self::mark_written`] once they are.
    pub fn dirty_sorted(&self) -> Vec<DirtyEntries<'_>> {
        self.states
            .iter()
            .map(|map| {
                let mut entries: Vec<_> = map
                    .iter()
                    .filter(|(_, e)| e.dirty)
                    .map(|(key, e)| (key.as_slice(), e.value.as_deref()))
                    .collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                entries
            })
            .collect()
    }

    /// Every entry now counts as written.
    pub fn mark_written(&mut self) {
        for entry in self.states.iter_mut().flat_map(|m| m.values_mut()) {
            entry.dirty = false;
        }
        self.dirty = 0;
    }

    /// How many entries are not yet written.
    pub fn dirty_count(&self) -> usize {
        self.dirty
    }

    /// Forgets every entry (all must have been written).
    pub fn clear(&mut self) {
        for map in &mut self.states {
            map.clear();
        }
        self.bytes = 0;
        self.dirty = 0;
    }

    /// Visits the entries of one state (in no particular order).
    pub fn for_each(&self, state: usize, mut visit: impl FnMut(&[u8], Option<&[u8]>)) {
        for (key, entry) in self.states.get(state).into_iter().flatten() {
            visit(key, entry.value.as_deref());
        }
    }

    /// Whether some entry is not yet written.
    pub fn has_dirty(&self) -> bool {
        self.dirty > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_write_of_a_key_is_read_back_and_a_deletion_is_remembered() {
        let mut cache = WriteCache::new(1 << 20);
        assert!(matches!(cache.get(0, b"k"), Cached::Miss));
        cache.put(0, b"k", Some(b"1".to_vec()));
        cache.put(0, b"k", Some(b"2".to_vec()));
        assert!(matches!(cache.get(0, b"k"), Cached::Hit(Some(v)) if v == b"2"));
        cache.put(0, b"k", None);
        assert!(matches!(cache.get(0, b"k"), Cached::Hit(None)));
        // States are separate.
        assert!(matches!(cache.get(1, b"k"), Cached::Miss));
    }

    #[test]
    fn a_full_cache_asks_to_be_flushed_and_only_unwritten_entries_are_handed_over() {
        let mut cache = WriteCache::new(200);
        assert!(!cache.put(0, b"a", Some(vec![0; 10])));
        assert!(cache.put(1, b"b", Some(vec![0; 100])));
        cache.put(1, b"c", None);
        let mut written = Vec::new();
        let mut write = |state, key: &[u8], value: Option<&[u8]>| {
            written.push((state, key.to_vec(), value.map(<[u8]>::len)));
            Ok::<_, ()>(())
        };
        cache.write_dirty(&mut write).unwrap();
        // Written entries stay readable, and are not written again.
        assert!(!cache.has_dirty());
        assert!(matches!(cache.get(0, b"a"), Cached::Hit(Some(v)) if v.len() == 10));
        cache.write_dirty(&mut write).unwrap();
        written.sort();
        assert_eq!(
            written,
            vec![
                (0, b"a".to_vec(), Some(10)),
                (1, b"b".to_vec(), Some(100)),
                (1, b"c".to_vec(), None)
            ]
        );
        cache.clear();
        assert!(matches!(cache.get(0, b"a"), Cached::Miss));
        assert!(!cache.put(0, b"a", Some(vec![0; 10])));
    }
}
