//! The RocksDB state backend (Flink's `EmbeddedRocksDBStateBackend`): state as bytes in one
//! RocksDB instance per operator subtask, on local disk, one column family per state.
//!
//! A RocksDB key is the 2-byte big-endian key group, then the serialized key, then the
//! serialized namespace, so one key group (or a range of them) is a contiguous key range that
//! can be copied out or cut away (`delete_range`) when rescaling. Values are the serialized
//! state values, the same bytes the canonical format carries. The write-ahead log is off:
//! durability comes from checkpoints.
//!
//! Snapshots: the synchronous part writes the cached writes into RocksDB (as sorted SST files
//! when there are many) and takes a RocksDB checkpoint (hard links to the immutable SST
//! files) into a local directory; the asynchronous part either writes the canonical format
//! from it (full checkpoints, savepoints) or, with `state.backend.incremental`, uploads only
//! the SST files no *confirmed* checkpoint uploaded before and references the rest
//! ([`KeyedStateHandle::Incremental`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::{
    checkpoint::Checkpoint, Direction, IngestExternalFileOptions, IteratorMode, Options,
    SstFileWriter, WriteOptions, DB,
};

use super::canonical::{self, CanonicalWriter};
use super::heap::StateError;
use super::write_cache::{Cached, WriteCache};
use super::{KeyedSnapshotWriter, StateKey, StateValue};
use crate::checkpoint::{
    CheckpointError, KeyedStateHandle, SnapshotLocation, StateHandle, StateReader,
};
use crate::runtime::keygroup::{assign_to_key_group, KeyGroupRange};

/// Where a backend instance lives and what it is called.
#[derive(Debug, Clone)]
pub struct RocksDbInstance {
    /// `<local dir>/strato-rocksdb/job_<job>_op_<operator id>_<subtask>_uuid_<random>`.
    pub dir: PathBuf,
    /// Unique per instance; prefixes the names of the SST files it uploads.
    pub backend_id: String,
}

impl RocksDbInstance {
    pub fn new(local_dir: &Path, job: &str, operator_id: &str, subtask: usize) -> Self {
        let uuid = format!("{:032x}", rand::random::<u128>());
        let name = format!("job_{job}_op_{operator_id}_{subtask}_uuid_{uuid}");
        RocksDbInstance {
            dir: local_dir.join("strato-rocksdb").join(&name),
            backend_id: uuid,
        }
    }
}

/// SST files uploaded by checkpoints: those of the latest confirmed checkpoint may be reused.
#[derive(Default)]
struct UploadedFiles {
    confirmed: BTreeMap<String, StateHandle>,
    /// Per checkpoint not confirmed yet: the SST files it references.
    pending: BTreeMap<u64, BTreeMap<String, StateHandle>>,
}

/// The keyed state of one operator subtask in RocksDB.
pub struct RocksDbKeyedStateBackend<K> {
    db: Option<DB>,
    instance: RocksDbInstance,
    range: KeyGroupRange,
    max_parallelism: usize,
    incremental: bool,
    write_options: WriteOptions,
    /// Reused buffer for RocksDB keys.
    key_buffer: Vec<u8>,
    /// The column families (states) created so far.
    states: Vec<String>,
    /// Recent writes not yet in RocksDB (by index into `states`).
    cache: WriteCache,
    uploaded: Arc<Mutex<UploadedFiles>>,
    pub(crate) failure: Option<StateError>,
    _key: std::marker::PhantomData<fn() -> K>,
}

/// From this many cached writes on, a flush writes sorted files instead of a write batch.
const INGEST_THRESHOLD: usize = 4096;

fn db_options() -> Options {
    let mut options = column_family_options();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_max_background_jobs(2);
    options
}

/// Options for keyed state, which is read-modify-write by point lookups: bloom filters (in
/// SST files and the memtable) answer most lookups of absent keys without a disk read, and
/// larger memtables keep recent keys in memory longer.
///
/// Updates overwrite a key's memtable entry in place when the new value is no larger (a
/// running count or sum always is), instead of adding a version per update that every later
/// lookup must skip. RocksDB then gives no point-in-time view under concurrent writes; there
/// are none: one task thread owns the instance, and snapshots flush from that thread.
fn column_family_options() -> Options {
    let mut options = Options::default();
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(64 << 20));
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    options.set_block_based_table_factory(&table);
    options.set_write_buffer_size(64 << 20);
    options.set_max_write_buffer_number(4);
    options.set_memtable_whole_key_filtering(true);
    options.set_memtable_prefix_bloom_ratio(0.1);
    options.set_level_compaction_dynamic_level_bytes(true);
    options.set_allow_concurrent_memtable_write(false);
    options.set_inplace_update_support(true);
    options
}

fn decode_value<S: StateValue>(name: &str, bytes: &[u8]) -> Result<S, StateError> {
    canonical::decode::<S>(bytes, "a value")
        .map(|(v, _)| v)
        .map_err(|reason| StateError::Restore {
            name: name.to_string(),
            reason,
        })
}

fn rocks_error(dir: &Path) -> impl Fn(rocksdb::Error) -> StateError + '_ {
    move |e| StateError::Backend {
        path: dir.display().to_string(),
        reason: e.to_string(),
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |e| StateError::Backend {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn restore_error(e: CheckpointError) -> StateError {
    StateError::RestoreFiles(e.to_string())
}

/// The length of the serialized key at the start of `bytes` (the rest is the namespace).
fn key_len<K: StateKey>(bytes: &[u8]) -> Result<usize, String> {
    canonical::decode::<K>(bytes, "a key").map(|(_, len)| len)
}

/// The column families of a database directory, except RocksDB's own `default`.
fn state_names(dir: &Path) -> Result<Vec<String>, StateError> {
    let mut names = DB::list_cf(&Options::default(), dir).map_err(rocks_error(dir))?;
    names.retain(|n| n != "default");
    names.sort();
    Ok(names)
}

/// Opens a database directory (a downloaded snapshot) read-only.
fn open_read_only(dir: &Path) -> Result<(DB, Vec<String>), StateError> {
    let names = state_names(dir)?;
    let db = DB::open_cf_for_read_only(&Options::default(), dir, &names, false)
        .map_err(rocks_error(dir))?;
    Ok((db, names))
}

/// Calls `f(state, key_group, rocksdb key, value)` for every entry of `db` in key groups `range`,
/// key group by key group, states by name.
fn for_each_in_range(
    db: &DB,
    names: &[String],
    range: KeyGroupRange,
    dir: &Path,
    f: &mut dyn FnMut(&str, usize, &[u8], &[u8]) -> Result<(), StateError>,
) -> Result<(), StateError> {
    for key_group in range.start..=range.end {
        let prefix = (key_group as u16).to_be_bytes();
        for name in names {
            let Some(cf) = db.cf_handle(name) else {
                continue;
            };
            let iter = db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward));
            for item in iter {
                let (key, value) = item.map_err(rocks_error(dir))?;
                if !key.starts_with(&prefix) {
                    break;
                }
                f(name, key_group, &key, &value)?;
            }
        }
    }
    Ok(())
}

impl<K: StateKey> RocksDbKeyedStateBackend<K> {
    /// Opens a fresh instance in `instance.dir`; with `restore`, builds it from the handles
    /// (canonical or incremental, any parallelism) first.
    pub fn open(
        instance: RocksDbInstance,
        range: KeyGroupRange,
        max_parallelism: usize,
        incremental: bool,
        write_cache_bytes: usize,
        restore: Option<(&StateReader, &[KeyedStateHandle])>,
    ) -> Result<Self, StateError> {
        let dir = instance.dir.clone();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let mut uploaded = UploadedFiles::default();
        let handles = restore.map_or(&[][..], |(_, h)| h);
        // One incremental snapshot of exactly this range: its files become this instance.
        let direct = match handles {
            [h @ KeyedStateHandle::Incremental { range: r, .. }] if *r == range => Some(h),
            _ => None,
        };
        if let (Some(handle), Some((reader, _))) = (direct, restore) {
            uploaded.confirmed = download_incremental(reader, handle, &dir)?;
        }
        let names = if direct.is_some() {
            state_names(&dir)?
        } else {
            Vec::new()
        };
        let db = DB::open_cf(&db_options(), &dir, &names).map_err(rocks_error(&dir))?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        let mut backend = RocksDbKeyedStateBackend {
            db: Some(db),
            instance,
            range,
            max_parallelism,
            incremental,
            write_options,
            key_buffer: Vec::new(),
            states: names,
            cache: WriteCache::new(write_cache_bytes),
            uploaded: Arc::new(Mutex::new(uploaded)),
            failure: None,
            _key: std::marker::PhantomData,
        };
        if let (None, Some((reader, handles))) = (direct, restore) {
            backend.restore_from(reader, handles)?;
        }
        Ok(backend)
    }

    /// Copies this instance's key groups in from canonical handles and from incremental
    /// snapshots of other ranges (each opened in a scratch directory).
    fn restore_from(
        &mut self,
        reader: &StateReader,
        handles: &[KeyedStateHandle],
    ) -> Result<(), StateError> {
        let mut failure = None;
        canonical::read_key_groups(reader, handles, self.range, &mut |e| {
            let mut key = Vec::with_capacity(2 + e.key.len() + e.namespace.len());
            key.extend_from_slice(&(e.key_group as u16).to_be_bytes());
            key.extend_from_slice(e.key);
            key.extend_from_slice(e.namespace);
            self.put_raw(e.state, &key, e.value).map_err(|err| {
                let message = err.to_string();
                failure = Some(err);
                message
            })
        })
        .map_err(|e| failure.take().unwrap_or(e))?;
        for handle in handles {
            if !matches!(handle, KeyedStateHandle::Incremental { .. }) {
                continue;
            }
            let scratch = self
                .instance
                .dir
                .with_extension(format!("restore-{:016x}", rand::random::<u64>()));
            std::fs::create_dir_all(&scratch).map_err(io_error(&scratch))?;
            let copied = (|| {
                download_incremental(reader, handle, &scratch)?;
                let (db, names) = open_read_only(&scratch)?;
                let overlap = KeyGroupRange {
                    start: self.range.start.max(handle.key_group_range().start),
                    end: self.range.end.min(handle.key_group_range().end),
                };
                for_each_in_range(
                    &db,
                    &names,
                    overlap,
                    &scratch,
                    &mut |name, _, key, value| self.put_raw(name, key, value),
                )
            })();
            let _ = std::fs::remove_dir_all(&scratch);
            copied?;
        }
        Ok(())
    }

    fn db(&self) -> Result<&DB, StateError> {
        self.db.as_ref().ok_or_else(|| StateError::Backend {
            path: self.instance.dir.display().to_string(),
            reason: "the RocksDB instance is closed".into(),
        })
    }

    fn put_raw(&mut self, state: &str, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.ensure_state(state)?;
        let db = self.db()?;
        let dir = &self.instance.dir;
        let cf = db
            .cf_handle(state)
            .ok_or_else(|| missing_state(dir, state))?;
        db.put_cf_opt(cf, key, value, &self.write_options)
            .map_err(rocks_error(dir))
    }

    /// The index of state `state` (its column family), created on first use.
    fn ensure_state(&mut self, state: &str) -> Result<usize, StateError> {
        if let Some(index) = self.state_index(state) {
            return Ok(index);
        }
        let dir = &self.instance.dir;
        let db = self.db.as_mut().ok_or_else(|| missing_state(dir, state))?;
        if db.cf_handle(state).is_none() {
            db.create_cf(state, &column_family_options())
                .map_err(rocks_error(dir))?;
        }
        self.states.push(state.to_string());
        Ok(self.states.len() - 1)
    }

    pub fn key_group_of(&self, key: &K) -> usize {
        assign_to_key_group(key, self.max_parallelism)
    }

    pub fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    pub fn max_parallelism(&self) -> usize {
        self.max_parallelism
    }

    pub fn instance_dir(&self) -> &Path {
        &self.instance.dir
    }

    /// Builds the RocksDB key of (key group, key, namespace) in the reused buffer.
    fn build_key<N: StateValue>(
        &mut self,
        key_group: usize,
        key: &K,
        namespace: &N,
    ) -> Result<(), StateError> {
        let buffer = &mut self.key_buffer;
        buffer.clear();
        buffer.extend_from_slice(&(key_group as u16).to_be_bytes());
        canonical::encode_into(key, buffer, "a key")
            .and_then(|_| canonical::encode_into(namespace, buffer, "a namespace"))
            .map_err(|reason| StateError::Backend {
                path: self.instance.dir.display().to_string(),
                reason,
            })
    }

    /// Runs `f` on the value of state `name` for (key, namespace), deserialized.
    pub fn get<N: StateValue, S: StateValue, R>(
        &mut self,
        name: &str,
        key: &K,
        key_group: usize,
        namespace: &N,
        f: impl FnOnce(Option<&S>) -> R,
    ) -> Result<R, StateError> {
        self.build_key(key_group, key, namespace)?;
        let value = self.read::<S>(self.state_index(name), name)?;
        Ok(f(value.as_ref()))
    }

    fn state_index(&self, name: &str) -> Option<usize> {
        self.states.iter().position(|s| s == name)
    }

    /// The value of the key in `key_buffer` in state `name` (at `index`, if created): from the
    /// cache, else RocksDB.
    fn read<S: StateValue>(
        &self,
        index: Option<usize>,
        name: &str,
    ) -> Result<Option<S>, StateError> {
        let cached = match index {
            Some(index) => self.cache.get(index, &self.key_buffer),
            None => Cached::Miss,
        };
        match cached {
            Cached::Hit(Some(bytes)) => return decode_value(name, bytes).map(Some),
            Cached::Hit(None) => return Ok(None),
            Cached::Miss => {}
        }
        let db = self.db()?;
        let Some(cf) = db.cf_handle(name) else {
            return Ok(None);
        };
        let dir = &self.instance.dir;
        match db
            .get_pinned_cf(cf, &self.key_buffer)
            .map_err(rocks_error(dir))?
        {
            Some(bytes) => decode_value(name, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Writes the cached writes into RocksDB; `keep` leaves them cached (clean), else the
    /// cache is emptied. Many writes go in as sorted files ([`Self::ingest_dirty`]), a few
    /// in one write batch.
    fn flush_cache(&mut self, keep: bool) -> Result<(), StateError> {
        if self.cache.dirty_count() >= INGEST_THRESHOLD {
            self.ingest_dirty()?;
        } else if self.cache.has_dirty() {
            self.write_dirty_batch()?;
        }
        if !keep {
            self.cache.clear();
        }
        Ok(())
    }

    fn write_dirty_batch(&mut self) -> Result<(), StateError> {
        let db = self.db.as_ref().ok_or_else(|| StateError::Backend {
            path: self.instance.dir.display().to_string(),
            reason: "the RocksDB instance is closed".into(),
        })?;
        let dir = &self.instance.dir;
        let mut batch = rocksdb::WriteBatch::default();
        let states = &self.states;
        self.cache.write_dirty(|index, key, value| {
            let name = &states[index];
            let cf = db.cf_handle(name).ok_or_else(|| missing_state(dir, name))?;
            match value {
                Some(value) => batch.put_cf(cf, key, value),
                None => batch.delete_cf(cf, key),
            }
            Ok::<_, StateError>(())
        })?;
        db.write_opt(batch, &self.write_options)
            .map_err(rocks_error(dir))
    }

    /// Writes the cached writes as one sorted SST file per state and ingests the files.
    /// Inserting many random keys into the memtable one by one is a skip-list search each,
    /// and was most of a snapshot's synchronous time; sorting them and writing a file is a
    /// fraction of that, and the memtable flush before the RocksDB checkpoint has little
    /// left to do. Ingested entries get a newer sequence number than everything in the
    /// instance, so they replace older values as a write batch would.
    fn ingest_dirty(&mut self) -> Result<(), StateError> {
        let db = self.db()?;
        let dir = &self.instance.dir;
        let options = column_family_options();
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        for (index, entries) in self.cache.dirty_sorted().into_iter().enumerate() {
            if entries.is_empty() {
                continue;
            }
            let name = &self.states[index];
            let cf = db.cf_handle(name).ok_or_else(|| missing_state(dir, name))?;
            let path = dir.with_extension(format!("ingest-{index}.sst"));
            let written = (|| {
                let mut writer = SstFileWriter::create(&options);
                writer.open(&path)?;
                for (key, value) in entries {
                    match value {
                        Some(value) => writer.put(key, value)?,
                        None => writer.delete(key)?,
                    }
                }
                writer.finish()?;
                db.ingest_external_file_cf_opts(cf, &ingest, vec![&path])
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&path);
                return Err(rocks_error(&path)(e));
            }
        }
        self.cache.mark_written();
        Ok(())
    }

    /// Runs `f` on the slot of (key, namespace) of state `name` and writes the result back
    /// (`None` deletes the entry).
    pub fn update<N: StateValue, S: StateValue, R>(
        &mut self,
        name: &str,
        key: &K,
        key_group: usize,
        namespace: &N,
        f: impl FnOnce(&mut Option<S>) -> R,
    ) -> Result<R, StateError> {
        let index = self.ensure_state(name)?;
        self.build_key(key_group, key, namespace)?;
        let mut slot = self.read::<S>(Some(index), name)?;
        let result = f(&mut slot);
        let bytes = match &slot {
            Some(value) => Some(canonical::encode(value, "a value").map_err(|reason| {
                StateError::Snapshot {
                    name: name.to_string(),
                    reason,
                }
            })?),
            None => None,
        };
        if self.cache.is_enabled() {
            if self.cache.put(index, &self.key_buffer, bytes) {
                self.flush_cache(false)?;
            }
            return Ok(result);
        }
        let db = self.db()?;
        let dir = &self.instance.dir;
        let cf = db.cf_handle(name).ok_or_else(|| missing_state(dir, name))?;
        match bytes {
            Some(bytes) => db.put_cf_opt(cf, &self.key_buffer, bytes, &self.write_options),
            None => db.delete_cf_opt(cf, &self.key_buffer, &self.write_options),
        }
        .map_err(rocks_error(dir))?;
        Ok(result)
    }

    /// Every (key, namespace) of state `name` in this subtask (decoded), e.g. to emit all
    /// values at the end of a bounded input.
    pub fn entries<N: StateValue, S: StateValue>(
        &self,
        name: &str,
    ) -> Result<Vec<(K, N, S)>, StateError> {
        let db = self.db()?;
        let Some(cf) = db.cf_handle(name) else {
            return Ok(Vec::new());
        };
        let dir = &self.instance.dir;
        let decode_error = |reason| StateError::Restore {
            name: name.to_string(),
            reason,
        };
        // What RocksDB holds, with the cached writes on top, in key order.
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item.map_err(rocks_error(dir))?;
            merged.insert(key.into_vec(), value.into_vec());
        }
        if let Some(index) = self.state_index(name) {
            self.cache.for_each(index, |key, value| match value {
                Some(value) => {
                    merged.insert(key.to_vec(), value.to_vec());
                }
                None => {
                    merged.remove(key);
                }
            });
        }
        let mut out = Vec::new();
        for (key, value) in merged {
            let rest = key.get(2..).unwrap_or_default();
            let (k, used) = canonical::decode::<K>(rest, "a key").map_err(decode_error)?;
            let (n, _) =
                canonical::decode::<N>(&rest[used..], "a namespace").map_err(decode_error)?;
            let (s, _) = canonical::decode::<S>(&value, "a value").map_err(decode_error)?;
            out.push((k, n, s));
        }
        Ok(out)
    }

    /// The synchronous part of a snapshot: a RocksDB checkpoint into a local directory.
    pub fn snapshot(
        &mut self,
        checkpoint_id: u64,
        savepoint: bool,
    ) -> Result<RocksDbSnapshot, StateError> {
        self.flush_cache(true)?;
        let db = self.db()?;
        let local = self
            .instance
            .dir
            .with_extension(format!("chk-{checkpoint_id}-{:08x}", rand::random::<u32>()));
        let dir = &self.instance.dir;
        // With the WAL off, only flushed memtables are in the checkpoint.
        db.flush().map_err(rocks_error(dir))?;
        Checkpoint::new(db)
            .and_then(|c| c.create_checkpoint(&local))
            .map_err(rocks_error(&local))?;
        Ok(RocksDbSnapshot {
            local,
            range: self.range,
            checkpoint_id,
            backend_id: self.instance.backend_id.clone(),
            incremental: self.incremental && !savepoint,
            uploaded: self.uploaded.clone(),
            key_len: key_len::<K>,
        })
    }

    /// Compacts every state's files into new ones (Flink's manual compaction); later
    /// incremental checkpoints then share nothing with earlier ones.
    pub fn compact(&self) -> Result<(), StateError> {
        let db = self.db()?;
        for name in &self.states {
            if let Some(cf) = db.cf_handle(name) {
                db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
            }
        }
        Ok(())
    }

    /// A checkpoint completed: the SST files it uploaded may be reused by later ones.
    pub fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) {
        let mut uploaded = self.uploaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(files) = uploaded.pending.remove(&checkpoint_id) {
            uploaded.confirmed = files;
        }
        uploaded.pending.retain(|id, _| *id > checkpoint_id);
    }

    /// Closes the instance and removes its directory.
    pub fn dispose(&mut self) {
        if self.db.take().is_some() {
            if let Err(e) = std::fs::remove_dir_all(&self.instance.dir) {
                tracing::warn!(
                    "could not remove RocksDB directory {}: {e}",
                    self.instance.dir.display()
                );
            }
        }
    }
}

impl<K> Drop for RocksDbKeyedStateBackend<K> {
    fn drop(&mut self) {
        if self.db.take().is_some() {
            let _ = std::fs::remove_dir_all(&self.instance.dir);
        }
    }
}

fn missing_state(dir: &Path, state: &str) -> StateError {
    StateError::Backend {
        path: dir.display().to_string(),
        reason: format!("no column family for state '{state}'"),
    }
}

/// Downloads an incremental snapshot's files into `dir`; returns its shared SST files.
fn download_incremental(
    reader: &StateReader,
    handle: &KeyedStateHandle,
    dir: &Path,
) -> Result<BTreeMap<String, StateHandle>, StateError> {
    let KeyedStateHandle::Incremental {
        shared, private, ..
    } = handle
    else {
        return Ok(BTreeMap::new());
    };
    for (file, state) in shared.iter().chain(private) {
        reader
            .download(state, &dir.join(file))
            .map_err(restore_error)?;
    }
    Ok(shared.iter().cloned().collect())
}

/// A RocksDB checkpoint on local disk, waiting to be written out.
pub struct RocksDbSnapshot {
    local: PathBuf,
    range: KeyGroupRange,
    checkpoint_id: u64,
    backend_id: String,
    incremental: bool,
    uploaded: Arc<Mutex<UploadedFiles>>,
    key_len: fn(&[u8]) -> Result<usize, String>,
}

impl RocksDbSnapshot {
    fn canonical(
        &self,
        location: &SnapshotLocation,
        name: &str,
    ) -> Result<KeyedStateHandle, CheckpointError> {
        let failed = |e: StateError| CheckpointError::Encode {
            path: self.local.display().to_string(),
            reason: e.to_string(),
        };
        let (db, names) = open_read_only(&self.local).map_err(failed)?;
        let mut writer = CanonicalWriter::new(self.range, location, name);
        for kg in self.range.start..=self.range.end {
            writer.start_group()?;
            let group = KeyGroupRange { start: kg, end: kg };
            for_each_in_range(
                &db,
                &names,
                group,
                &self.local,
                &mut |state, _, key, value| {
                    let rest = &key[2..];
                    let written = (self.key_len)(rest)
                        .and_then(|len| writer.entry(state, &rest[..len], &rest[len..], value));
                    written.map_err(|reason| StateError::Snapshot {
                        name: state.to_string(),
                        reason,
                    })
                },
            )
            .map_err(failed)?;
        }
        drop(db);
        writer.finish()
    }

    fn incremental(
        &self,
        location: &SnapshotLocation,
        name: &str,
    ) -> Result<KeyedStateHandle, CheckpointError> {
        let read_dir_error = |e: std::io::Error| CheckpointError::Encode {
            path: self.local.display().to_string(),
            reason: e.to_string(),
        };
        let confirmed = self
            .uploaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .confirmed
            .clone();
        let (mut shared, mut private) = (Vec::new(), Vec::new());
        let mut files: Vec<_> = std::fs::read_dir(&self.local)
            .map_err(read_dir_error)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        for file in files {
            let path = self.local.join(&file);
            if file.ends_with(".sst") {
                let handle = match confirmed.get(&file) {
                    Some(handle) => handle.clone(),
                    None => location.upload(&format!("{}-{file}", self.backend_id), &path)?,
                };
                shared.push((file, handle));
            } else {
                let bytes = std::fs::read(&path).map_err(read_dir_error)?;
                private.push((
                    file.clone(),
                    location.write(&format!("{name}-{file}"), &bytes)?,
                ));
            }
        }
        self.uploaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .insert(self.checkpoint_id, shared.iter().cloned().collect());
        Ok(KeyedStateHandle::Incremental {
            range: self.range,
            backend_id: self.backend_id.clone(),
            checkpoint_id: self.checkpoint_id,
            shared,
            private,
            meta: Vec::new(),
        })
    }
}

impl KeyedSnapshotWriter for RocksDbSnapshot {
    fn write(
        self: Box<Self>,
        location: &SnapshotLocation,
        name: &str,
    ) -> Result<Vec<KeyedStateHandle>, CheckpointError> {
        let result = if self.incremental && !location.is_savepoint() {
            self.incremental(location, name)
        } else {
            self.canonical(location, name)
        };
        let _ = std::fs::remove_dir_all(&self.local);
        result.map(|h| vec![h])
    }
}

impl Drop for RocksDbSnapshot {
    fn drop(&mut self) {
        // A snapshot dropped without being written (checkpoint aborted) leaves nothing behind.
        if self.local.exists() {
            let _ = std::fs::remove_dir_all(&self.local);
        }
    }
}
