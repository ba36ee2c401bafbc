//! The keyed state backends as a specification, one suite run against both `hashmap` and
//! `rocksdb`: every user state type and TTL, snapshot/restore round trips through the
//! canonical format at other parallelisms (2 -> 3 -> 1), savepoints moving between backends,
//! incremental RocksDB checkpoints sharing SST files, and clear errors for damaged state.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strato::checkpoint::{
    CheckpointMetadata, CheckpointStorage, CompletedCheckpointStore, KeyedStateHandle,
    OperatorSnapshot, SnapshotKind, SnapshotLocation, StateHandle, StateReader, SubtaskSnapshot,
};
use strato::config::options::StateBackendType;
use strato::runtime::keygroup::{assign_key_to_operator, KeyGroupRange};
use strato::state::rocksdb::RocksDbInstance;
use strato::state::{
    AggregatingStateDescriptor, KeyedStateBackend, ListStateDescriptor, MapStateDescriptor,
    ReducingStateDescriptor, StateAccess, StateBackendSettings, StateTtlConfig, StateVisibility,
    UpdateType, ValueStateDescriptor,
};
use strato::util::ids::JobId;
use strato::AggregateFunction;

const MAX_PARALLELISM: usize = 128;

thread_local! {
    /// The RocksDB write cache the scenario on this thread runs with.
    static WRITE_CACHE_BYTES: std::cell::Cell<usize> =
        const { std::cell::Cell::new(strato::state::manager::DEFAULT_ROCKSDB_WRITE_CACHE_BYTES) };
}

fn settings(kind: StateBackendType, dir: &Path, incremental: bool) -> StateBackendSettings {
    StateBackendSettings {
        kind,
        incremental,
        local_dirs: vec![dir.to_path_buf()],
        rocksdb_write_cache_bytes: WRITE_CACHE_BYTES.get(),
    }
}

/// Subtask `index` of `parallelism` of a keyed operator, restored from `restore`.
fn subtask(
    settings: &StateBackendSettings,
    parallelism: usize,
    index: usize,
    restore: Option<(&StateReader, &[KeyedStateHandle])>,
) -> KeyedStateBackend<String> {
    KeyedStateBackend::create(
        settings,
        |dir| RocksDbInstance::new(dir, "test", "op", index),
        KeyGroupRange::for_operator_index(MAX_PARALLELISM, parallelism, index),
        MAX_PARALLELISM,
        restore,
    )
    .unwrap()
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i}")).collect()
}

fn owner(key: &String, parallelism: usize) -> usize {
    assign_key_to_operator(key, MAX_PARALLELISM, parallelism)
}

/// Where snapshots into directory `dir` are written, and how they are read back.
fn snapshot_dir(dir: &Path) -> (SnapshotLocation, StateReader) {
    let dir = dir.to_str().unwrap();
    (
        SnapshotLocation::in_directory(dir).unwrap(),
        StateReader::new(dir),
    )
}

/// Writes `backend`'s snapshot `id` to `location` (a savepoint when `savepoint`).
fn snapshot(
    backend: &mut KeyedStateBackend<String>,
    id: u64,
    savepoint: bool,
    location: &SnapshotLocation,
    name: &str,
) -> Vec<KeyedStateHandle> {
    backend
        .snapshot(id, savepoint)
        .unwrap()
        .write(location, name)
        .unwrap()
}

#[derive(Clone)]
struct Average;

impl AggregateFunction<i64, (i64, i64), f64> for Average {
    fn create_accumulator(&self) -> (i64, i64) {
        (0, 0)
    }
    fn add(&self, value: i64, (sum, n): (i64, i64)) -> (i64, i64) {
        (sum + value, n + 1)
    }
    fn get_result(&self, (sum, n): &(i64, i64)) -> f64 {
        *sum as f64 / *n as f64
    }
    fn merge(&self, a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

fn every_state_type_keeps_its_values_per_key_and_namespace(kind: StateBackendType) {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = subtask(&settings(kind, dir.path(), false), 1, 0, None);
    let count = ValueStateDescriptor::<i64>::new("count").with_default(0);
    let seen = ListStateDescriptor::<String>::new("seen");
    let tags = MapStateDescriptor::<String, u32>::new("tags");
    let total = ReducingStateDescriptor::<i64>::new("total", |a, b| a + b);
    let average = AggregatingStateDescriptor::new("average", Average);
    let (a, b) = ("a".to_string(), "b".to_string());
    for (key, ns, n) in [(&a, 1u8, 3), (&b, 1u8, 5), (&a, 2u8, 7)] {
        let mut s = StateAccess::new(&mut backend, key, &ns);
        for i in 1..=n {
            let c = s.value_state(&count).unwrap().value().unwrap();
            s.value_state(&count).unwrap().update(c + 1);
            s.list_state(&seen).unwrap().add(format!("{key}{i}"));
            s.map_state(&tags)
                .unwrap()
                .put(format!("t{}", i % 2), i as u32);
            s.reducing_state(&total).unwrap().add(i);
            s.aggregating_state(&average).unwrap().add(i);
        }
    }
    let mut s = StateAccess::new(&mut backend, &a, &1u8);
    assert_eq!(s.value_state(&count).unwrap().value(), Some(3));
    assert_eq!(s.list_state(&seen).unwrap().get(), &["a1", "a2", "a3"]);
    assert_eq!(s.map_state(&tags).unwrap().get(&"t1".into()), Some(&3));
    assert_eq!(s.map_state(&tags).unwrap().entries().count(), 2);
    assert_eq!(s.reducing_state(&total).unwrap().get(), Some(6));
    assert_eq!(s.aggregating_state(&average).unwrap().get(), Some(2.0));
    assert_eq!(s.map_state(&tags).unwrap().remove(&"t0".into()), Some(2));
    assert!(!s.map_state(&tags).unwrap().contains(&"t0".into()));
    assert_eq!(s.list_state(&seen).unwrap().take().len(), 3);
    assert!(s.list_state(&seen).unwrap().get().is_empty());
    s.value_state(&count).unwrap().clear();
    assert_eq!(
        s.value_state(&count).unwrap().value(),
        Some(0),
        "the default"
    );
    s.reducing_state(&total).unwrap().clear();
    assert_eq!(s.reducing_state(&total).unwrap().get(), None);

    let mut s = StateAccess::new(&mut backend, &a, &2u8);
    assert_eq!(s.value_state(&count).unwrap().value(), Some(7));
    assert_eq!(s.reducing_state(&total).unwrap().get(), Some(28));
    let mut s = StateAccess::new(&mut backend, &b, &1u8);
    assert_eq!(s.value_state(&count).unwrap().value(), Some(5));
    assert_eq!(s.aggregating_state(&average).unwrap().get(), Some(3.0));
    let err = s
        .value_state(&ValueStateDescriptor::<String>::new("count"))
        .map(|v| v.value())
        .expect_err("a state read as another type");
    assert!(err.to_string().contains("count"), "{err}");
}

fn ttl_expires_values_by_update_type_and_visibility(kind: StateBackendType) {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = subtask(&settings(kind, dir.path(), false), 1, 0, None);
    let now = Arc::new(AtomicI64::new(0));
    let clock = now.clone();
    let ttl = StateTtlConfig::new(Duration::from_millis(100))
        .with_clock(move || clock.load(Ordering::SeqCst));
    let at = |t: i64| now.store(t, Ordering::SeqCst);
    let on_write = ValueStateDescriptor::<i64>::new("on-write").enable_time_to_live(ttl.clone());
    let on_read = ListStateDescriptor::<i64>::new("on-read")
        .enable_time_to_live(ttl.clone().update_type(UpdateType::OnReadAndWrite));
    let stale = ValueStateDescriptor::<i64>::new("stale").enable_time_to_live(
        ttl.clone()
            .state_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp),
    );
    let key = "k".to_string();
    let mut s = StateAccess::new(&mut backend, &key, &());
    at(0);
    s.value_state(&on_write).unwrap().update(1);
    s.list_state(&on_read).unwrap().add(1);
    s.value_state(&stale).unwrap().update(1);
    at(80);
    assert_eq!(s.value_state(&on_write).unwrap().value(), Some(1));
    assert_eq!(
        s.list_state(&on_read).unwrap().get(),
        &[1],
        "refreshed at 80"
    );
    at(150);
    assert_eq!(
        s.value_state(&on_write).unwrap().value(),
        None,
        "written at 0"
    );
    assert_eq!(s.list_state(&on_read).unwrap().get(), &[1], "read at 80");
    assert_eq!(
        s.value_state(&stale).unwrap().value(),
        Some(1),
        "expired but not cleaned up yet"
    );
    assert_eq!(
        s.value_state(&stale).unwrap().value(),
        None,
        "cleaned up by the read"
    );
    at(151);
    s.value_state(&on_write).unwrap().update(2);
    at(250);
    assert_eq!(
        s.value_state(&on_write).unwrap().value(),
        Some(2),
        "rewritten at 151"
    );
    assert!(
        s.list_state(&on_read).unwrap().get().is_empty(),
        "read at 150"
    );
}

fn snapshots_restore_every_key_once_when_rescaling_2_to_3_to_1(kind: StateBackendType) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(kind, dir.path(), false);
    let (location, reader) = snapshot_dir(&dir.path().join("chk"));
    let count = ValueStateDescriptor::<i64>::new("count");
    let seen = ListStateDescriptor::<String>::new("seen");
    let keys = keys(2000);
    let mut two: Vec<_> = (0..2).map(|i| subtask(&settings, 2, i, None)).collect();
    for (i, key) in keys.iter().enumerate() {
        let mut s = StateAccess::new(&mut two[owner(key, 2)], key, &());
        s.value_state(&count).unwrap().update(i as i64);
        s.list_state(&seen).unwrap().add(format!("v{i}"));
    }
    let mut handles: Vec<KeyedStateHandle> = two
        .iter_mut()
        .enumerate()
        .flat_map(|(i, b)| snapshot(b, 1, false, &location, &format!("two-{i}")))
        .collect();
    assert!(
        handles
            .iter()
            .all(|h| matches!(h, KeyedStateHandle::KeyGroups { .. })),
        "full checkpoints use the canonical format"
    );
    for (round, parallelism) in [3usize, 1].into_iter().enumerate() {
        let mut restored: Vec<_> = (0..parallelism)
            .map(|i| subtask(&settings, parallelism, i, Some((&reader, &handles))))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            let mut s = StateAccess::new(&mut restored[owner(key, parallelism)], key, &());
            assert_eq!(
                s.value_state(&count).unwrap().value(),
                Some(i as i64),
                "{key}"
            );
            assert_eq!(s.list_state(&seen).unwrap().get(), &[format!("v{i}")]);
        }
        // Each key is restored in exactly one subtask: its owner.
        let mut restored_keys = 0;
        for (index, b) in restored.iter_mut().enumerate() {
            let entries = b.drain::<(), i64>("count").unwrap();
            for (key, (), value) in &entries {
                assert_eq!(
                    owner(key, parallelism),
                    index,
                    "{key} restored in subtask {index}"
                );
                let key_group = b.key_group_of(key);
                b.put("count", key, key_group, &(), Some(*value)).unwrap();
            }
            restored_keys += entries.len();
        }
        assert_eq!(restored_keys, keys.len());
        handles = restored
            .iter_mut()
            .enumerate()
            .flat_map(|(i, b)| {
                snapshot(
                    b,
                    2 + round as u64,
                    false,
                    &location,
                    &format!("r{round}-{i}"),
                )
            })
            .collect();
    }
}

fn a_savepoint_restores_into_the_other_backend_and_back(kind: StateBackendType) {
    let other = match kind {
        StateBackendType::HashMap => StateBackendType::RocksDb,
        StateBackendType::RocksDb => StateBackendType::HashMap,
    };
    let dir = tempfile::tempdir().unwrap();
    let count = ValueStateDescriptor::<i64>::new("count");
    let per_window = MapStateDescriptor::<String, i64>::new("per-window");
    let keys = keys(300);
    let mut backend = subtask(&settings(kind, dir.path(), true), 1, 0, None);
    for (i, key) in keys.iter().enumerate() {
        StateAccess::new(&mut backend, key, &())
            .value_state(&count)
            .unwrap()
            .update(i as i64);
        StateAccess::new(&mut backend, key, &(i as i64 % 3))
            .map_state(&per_window)
            .unwrap()
            .put("n".into(), i as i64);
    }
    let mut current = backend;
    for (step, target) in [other, kind].into_iter().enumerate() {
        let sp = dir.path().join(format!("savepoint-{step}"));
        let (location, reader) = snapshot_dir(&sp);
        let handles = snapshot(&mut current, 10 + step as u64, true, &location, "sp");
        assert!(matches!(handles[0], KeyedStateHandle::KeyGroups { .. }));
        current = subtask(
            &settings(target, dir.path(), true),
            1,
            0,
            Some((&reader, &handles)),
        );
        for (i, key) in keys.iter().enumerate() {
            let v = StateAccess::new(&mut current, key, &())
                .value_state(&count)
                .unwrap()
                .value();
            assert_eq!(v, Some(i as i64), "{key} after restoring into {target:?}");
            let window = i as i64 % 3;
            let mut s = StateAccess::new(&mut current, key, &window);
            assert_eq!(
                s.map_state(&per_window).unwrap().get(&"n".into()),
                Some(&(i as i64))
            );
        }
    }
}

fn restoring_a_missing_or_damaged_state_file_names_the_path(kind: StateBackendType) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(kind, dir.path(), false);
    let mut backend = subtask(&settings, 1, 0, None);
    let count = ValueStateDescriptor::<String>::new("payload");
    for key in keys(2000) {
        StateAccess::new(&mut backend, &key, &())
            .value_state(&count)
            .unwrap()
            .update("x".repeat(20));
    }
    let chk = dir.path().join("chk");
    let (location, reader) = snapshot_dir(&chk);
    let handles = snapshot(&mut backend, 1, false, &location, "state");
    let KeyedStateHandle::KeyGroups {
        data: StateHandle::File { path, .. },
        ..
    } = &handles[0]
    else {
        panic!("expected a state file, got {:?}", handles[0]);
    };
    let file = path.trim_start_matches("file://").to_string();
    let restore = |handles: &[KeyedStateHandle]| {
        KeyedStateBackend::<String>::create(
            &settings,
            |dir| RocksDbInstance::new(dir, "test", "op", 0),
            KeyGroupRange::for_operator_index(MAX_PARALLELISM, 1, 0),
            MAX_PARALLELISM,
            Some((&reader, handles)),
        )
        .err()
        .expect("restoring damaged state fails")
        .to_string()
    };
    std::fs::write(&file, b"\xff\xff\xff\xff not canonical state").unwrap();
    let err = restore(&handles);
    assert!(err.contains("damaged") && err.contains(&file), "{err}");
    std::fs::remove_file(&file).unwrap();
    let err = restore(&handles);
    assert!(err.contains(&file), "{err}");
}

fn a_snapshot_holds_the_state_at_the_barrier_not_later_updates(kind: StateBackendType) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(kind, dir.path(), false);
    let (location, reader) = snapshot_dir(&dir.path().join("chk"));
    let text = ValueStateDescriptor::<String>::new("text");
    // 5000 values of 1 KB: several MB, so the state file is written in several chunks, and
    // enough cached writes that RocksDB takes them in as sorted files (with deletions).
    let keys = keys(5000);
    fn value(round: &str, i: usize) -> String {
        format!("{round}{i:0>999}")
    }
    let mut backend = subtask(&settings, 1, 0, None);
    for (i, key) in keys.iter().enumerate() {
        let mut s = StateAccess::new(&mut backend, key, &());
        s.value_state(&text).unwrap().update(value("a", i));
    }
    // Synchronous part at the barrier, then the operator goes on before the write-out.
    let first = backend.snapshot(1, false).unwrap();
    for (i, key) in keys.iter().enumerate() {
        let mut s = StateAccess::new(&mut backend, key, &());
        if i % 3 == 0 {
            s.value_state(&text).unwrap().clear();
        } else {
            s.value_state(&text).unwrap().update(value("b", i));
        }
    }
    let first = first.write(&location, "first").unwrap();
    let second = snapshot(&mut backend, 2, false, &location, "second");
    assert!(first[0].state_size() > 2 << 20, "{}", first[0].state_size());
    for (handles, expected) in [
        (
            &first,
            (|i| Some(value("a", i))) as fn(usize) -> Option<String>,
        ),
        (&second, |i| (i % 3 != 0).then(|| value("b", i))),
    ] {
        let mut restored = subtask(&settings, 1, 0, Some((&reader, handles)));
        for (i, key) in keys.iter().enumerate() {
            let mut s = StateAccess::new(&mut restored, key, &());
            assert_eq!(s.value_state(&text).unwrap().value(), expected(i), "{key}");
        }
    }
}

/// Runs each scenario against both backends; RocksDB also with a write cache so small that
/// it flushes all the time, and without one.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod hashmap {
            $(#[test] fn $scenario() { super::$scenario(super::StateBackendType::HashMap) })*
        }
        mod rocksdb {
            $(#[test] fn $scenario() { super::$scenario(super::StateBackendType::RocksDb) })*
        }
        mod rocksdb_with_a_flushing_write_cache {
            $(#[test] fn $scenario() {
                super::WRITE_CACHE_BYTES.set(300);
                super::$scenario(super::StateBackendType::RocksDb)
            })*
        }
        mod rocksdb_without_write_cache {
            $(#[test] fn $scenario() {
                super::WRITE_CACHE_BYTES.set(0);
                super::$scenario(super::StateBackendType::RocksDb)
            })*
        }
    };
}

on_both_backends!(
    every_state_type_keeps_its_values_per_key_and_namespace,
    ttl_expires_values_by_update_type_and_visibility,
    snapshots_restore_every_key_once_when_rescaling_2_to_3_to_1,
    a_savepoint_restores_into_the_other_backend_and_back,
    restoring_a_missing_or_damaged_state_file_names_the_path,
    a_snapshot_holds_the_state_at_the_barrier_not_later_updates,
);

/// A completed checkpoint of one subtask's keyed state.
fn metadata(id: u64, keyed: Vec<KeyedStateHandle>) -> CheckpointMetadata {
    CheckpointMetadata {
        job_id: JobId(1),
        checkpoint_id: id,
        timestamp: 0,
        kind: SnapshotKind::Checkpoint,
        operators: vec![OperatorSnapshot {
            operator_id: "op".into(),
            uid: None,
            name: "op".into(),
            parallelism: 1,
            max_parallelism: MAX_PARALLELISM,
            subtasks: vec![SubtaskSnapshot {
                keyed,
                ..Default::default()
            }],
        }],
    }
}

fn shared_of(handles: &[KeyedStateHandle]) -> Vec<(String, StateHandle)> {
    match &handles[0] {
        KeyedStateHandle::Incremental { shared, .. } => shared.clone(),
        other => panic!("expected an incremental handle, got {other:?}"),
    }
}

fn exists(handle: &StateHandle) -> bool {
    Path::new(handle.file_path().unwrap().trim_start_matches("file://")).exists()
}

#[test]
fn incremental_checkpoints_reuse_sst_files_and_retention_deletes_only_unreferenced_ones() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(StateBackendType::RocksDb, dir.path(), true);
    let storage =
        CheckpointStorage::for_job(dir.path().join("checkpoints").to_str().unwrap(), JobId(1))
            .unwrap();
    let mut backend = subtask(&settings, 1, 0, None);
    let count = ValueStateDescriptor::<i64>::new("count");
    let write = |backend: &mut KeyedStateBackend<String>, range: std::ops::Range<usize>, v: i64| {
        for i in range {
            let key = format!("key-{i}");
            StateAccess::new(backend, &key, &())
                .value_state(&count)
                .unwrap()
                .update(v);
        }
    };
    let checkpoint = |backend: &mut KeyedStateBackend<String>, id: u64| {
        let handles = snapshot(backend, id, false, &storage.checkpoint_location(id), "op-0");
        storage
            .commit_metadata(&metadata(id, handles.clone()))
            .unwrap();
        backend.notify_checkpoint_complete(id);
        handles
    };
    write(&mut backend, 0..1000, 1);
    let first = checkpoint(&mut backend, 1);
    write(&mut backend, 1000..2000, 2);
    let second = checkpoint(&mut backend, 2);
    let (s1, s2) = (shared_of(&first), shared_of(&second));
    assert!(!s1.is_empty());
    for file in &s1 {
        assert!(
            s2.contains(file),
            "checkpoint 2 reuses {file:?} with the same handle"
        );
    }
    assert!(s2.len() > s1.len(), "and uploads only its new SST file");

    let mut store = CompletedCheckpointStore::new(
        CheckpointStorage::for_job(dir.path().join("checkpoints").to_str().unwrap(), JobId(1))
            .unwrap(),
        1,
    );
    store.add(metadata(1, first)).unwrap();
    store.add(metadata(2, second.clone())).unwrap();
    assert!(
        s2.iter().all(|(_, h)| exists(h)),
        "checkpoint 1's files live on in checkpoint 2"
    );

    // Compaction replaces every SST file: the next checkpoint shares nothing with checkpoint 2.
    if let KeyedStateBackend::RocksDb(r) = &backend {
        r.compact().unwrap();
    }
    let third = checkpoint(&mut backend, 3);
    let s3 = shared_of(&third);
    store.add(metadata(3, third.clone())).unwrap();
    for (name, handle) in &s2 {
        assert_eq!(
            exists(handle),
            s3.iter().any(|(n, _)| n == name),
            "{name}: deleted exactly when no retained checkpoint references it"
        );
    }
    assert!(s3.iter().all(|(_, h)| exists(h)));

    // Restoring: directly (same range) and by copying key groups (another parallelism).
    let reader = StateReader::new(storage.checkpoint_dir(3).to_string().as_str());
    let mut same = subtask(&settings, 1, 0, Some((&reader, &third)));
    let mut halves: Vec<_> = (0..2)
        .map(|i| subtask(&settings, 2, i, Some((&reader, &third))))
        .collect();
    for (i, key) in keys(2000).iter().enumerate() {
        let expected = Some(if i < 1000 { 1 } else { 2 });
        assert_eq!(
            StateAccess::new(&mut same, key, &())
                .value_state(&count)
                .unwrap()
                .value(),
            expected
        );
        for (index, half) in halves.iter_mut().enumerate() {
            let v = StateAccess::new(half, key, &())
                .value_state(&count)
                .unwrap()
                .value();
            assert_eq!(
                v,
                expected.filter(|_| index == owner(key, 2)),
                "{key} in subtask {index}"
            );
        }
    }
}

#[test]
fn a_rocksdb_instance_lives_in_its_own_directory_and_is_removed_on_dispose() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = subtask(
        &settings(StateBackendType::RocksDb, dir.path(), false),
        1,
        0,
        None,
    );
    let KeyedStateBackend::RocksDb(r) = &backend else {
        panic!("expected RocksDB");
    };
    let instance = r.instance_dir().to_path_buf();
    let name = instance.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        instance.starts_with(dir.path().join("strato-rocksdb")),
        "{instance:?}"
    );
    assert!(name.starts_with("job_test_op_op_0_uuid_"), "{name}");
    assert!(instance.is_dir());
    backend.dispose();
    assert!(!instance.exists());
}
