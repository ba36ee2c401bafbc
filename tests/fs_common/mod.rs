//! The file system specification shared by every implementation: `fs_suite!(make_fixture)`
//! expands to one `#[test]` per behaviour, run against whatever `make_fixture` returns.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use strato::fs::{CreateOptions, FileSystem, FsError, FsPath};

/// A file system under test, a fresh directory on it, and whatever keeps it alive.
pub struct Fixture {
    pub fs: Arc<dyn FileSystem>,
    pub base: FsPath,
    /// Block size for "larger than one block" files (small, to get many blocks).
    pub block_size: Option<u64>,
    pub _guard: Box<dyn std::any::Any + Send + Sync>,
}

/// Deterministic bytes that differ per position, so misplaced blocks are caught.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / 977) as u8).wrapping_add(seed))
        .collect()
}

pub fn write_file(f: &Fixture, path: &FsPath, data: &[u8], options: &CreateOptions) {
    let mut w = f.fs.create(path, options).unwrap();
    w.write_all(data).unwrap();
    w.close().unwrap();
}

pub fn read_file(f: &Fixture, path: &FsPath) -> Vec<u8> {
    let mut r = f.fs.open(path).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

pub fn a_written_file_reads_back_with_its_status(f: Fixture) {
    let path = f.base.child("dir/data.bin");
    let data = pattern(100_000, 1);
    write_file(&f, &path, &data, &CreateOptions::default());
    assert_eq!(read_file(&f, &path), data);
    let status = f.fs.status(&path).unwrap();
    assert_eq!(status.len, 100_000);
    assert!(!status.is_dir);
    assert_eq!(status.path, f.fs.qualify(&path));
    assert!(status.modification_time > 1_600_000_000_000, "{status:?}");
    assert_eq!(status.permission & 0o777, 0o644);
    assert!(f.fs.status(&f.base.child("dir")).unwrap().is_dir);
    assert!(f.fs.exists(&path).unwrap());
}

pub fn an_empty_file_is_a_file_of_length_zero(f: Fixture) {
    let path = f.base.child("empty");
    write_file(&f, &path, b"", &CreateOptions::default());
    let status = f.fs.status(&path).unwrap();
    assert_eq!((status.len, status.is_dir), (0, false));
    assert!(read_file(&f, &path).is_empty());
}

pub fn creating_over_an_existing_file_fails_unless_overwrite(f: Fixture) {
    let path = f.base.child("once");
    write_file(&f, &path, b"first", &CreateOptions::default());
    let err =
        f.fs.create(&path, &CreateOptions::default())
            .err()
            .expect("second create must fail");
    assert!(err.is_already_exists(), "{err}");
    assert!(err.to_string().contains("/once"), "{err}");
    write_file(&f, &path, b"second", &CreateOptions::overwrite());
    assert_eq!(read_file(&f, &path), b"second");
}

pub fn create_without_create_parent_needs_the_parent(f: Fixture) {
    let path = f.base.child("missing/child");
    let options = CreateOptions {
        create_parent: false,
        ..CreateOptions::default()
    };
    let err = f.fs.create(&path, &options).err().expect("no parent");
    assert!(err.is_not_found(), "{err}");
    assert!(!f.fs.exists(&f.base.child("missing")).unwrap());
}

pub fn a_missing_path_is_not_found_and_the_error_names_it(f: Fixture) {
    let path = f.base.child("nope");
    let err = f.fs.status(&path).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("status") && msg.contains("/nope"), "{msg}");
    assert!(!f.fs.exists(&path).unwrap());
    let err = f.fs.open(&path).err().expect("open of a missing file");
    assert!(err.is_not_found(), "{err}");
}

pub fn listing_gives_children_sorted_with_their_types(f: Fixture) {
    f.fs.mkdirs(&f.base.child("list/sub")).unwrap();
    write_file(
        &f,
        &f.base.child("list/b"),
        b"bb",
        &CreateOptions::default(),
    );
    write_file(&f, &f.base.child("list/a"), b"a", &CreateOptions::default());
    let listing = f.fs.list(&f.base.child("list")).unwrap();
    let names: Vec<_> = listing
        .iter()
        .map(|s| (s.path.file_name().unwrap().to_string(), s.is_dir, s.len))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a".to_string(), false, 1),
            ("b".to_string(), false, 2),
            ("sub".to_string(), true, 0)
        ]
    );
    assert_eq!(listing[0].path, f.fs.qualify(&f.base.child("list/a")));
    assert!(f.fs.list(&f.base.child("list/sub")).unwrap().is_empty());
    assert!(f.fs.list(&f.base.child("gone")).unwrap_err().is_not_found());
}

pub fn mkdirs_creates_parents_and_is_idempotent(f: Fixture) {
    let deep = f.base.child("x/y/z");
    f.fs.mkdirs(&deep).unwrap();
    f.fs.mkdirs(&deep).unwrap();
    assert!(f.fs.status(&deep).unwrap().is_dir);
    assert!(f.fs.status(&f.base.child("x/y")).unwrap().is_dir);
}

pub fn rename_moves_files_and_directories_but_never_onto_an_existing_path(f: Fixture) {
    let src = f.base.child("src.txt");
    let dst = f.base.child("dst.txt");
    write_file(&f, &src, b"payload", &CreateOptions::default());
    f.fs.rename(&src, &dst).unwrap();
    assert!(!f.fs.exists(&src).unwrap());
    assert_eq!(read_file(&f, &dst), b"payload");

    write_file(&f, &src, b"other", &CreateOptions::default());
    let err = f.fs.rename(&src, &dst).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(read_file(&f, &dst), b"payload");

    f.fs.mkdirs(&f.base.child("d1/inner")).unwrap();
    write_file(
        &f,
        &f.base.child("d1/inner/f"),
        b"f",
        &CreateOptions::default(),
    );
    f.fs.rename(&f.base.child("d1"), &f.base.child("d2"))
        .unwrap();
    assert_eq!(read_file(&f, &f.base.child("d2/inner/f")), b"f");
    assert!(!f.fs.exists(&f.base.child("d1")).unwrap());

    let err =
        f.fs.rename(&f.base.child("ghost"), &f.base.child("g2"))
            .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

pub fn delete_needs_recursive_for_a_non_empty_directory(f: Fixture) {
    let dir = f.base.child("full");
    write_file(&f, &dir.child("f"), b"x", &CreateOptions::default());
    let err = f.fs.delete(&dir, false).unwrap_err();
    assert!(matches!(err, FsError::DirectoryNotEmpty { .. }), "{err}");
    assert!(f.fs.exists(&dir.child("f")).unwrap());
    assert!(f.fs.delete(&dir, true).unwrap());
    assert!(!f.fs.exists(&dir).unwrap());
    assert!(
        !f.fs.delete(&dir, true).unwrap(),
        "deleting a missing path reports false"
    );
    f.fs.mkdirs(&dir).unwrap();
    assert!(
        f.fs.delete(&dir, false).unwrap(),
        "an empty directory needs no recursion"
    );
    write_file(&f, &dir, b"file", &CreateOptions::default());
    assert!(f.fs.delete(&dir, false).unwrap());
}

pub fn files_larger_than_one_block_round_trip_and_read_by_range(f: Fixture) {
    let block = f.block_size.unwrap_or(1 << 20) as usize;
    let len = block * 3 + block / 2 + 7;
    let data = pattern(len, 7);
    let path = f.base.child("big.bin");
    let options = CreateOptions {
        block_size: f.block_size,
        ..CreateOptions::default()
    };
    // Odd-sized writes cross packet, chunk and block boundaries at odd places.
    let mut w = f.fs.create(&path, &options).unwrap();
    for chunk in data.chunks(4093) {
        w.write_all(chunk).unwrap();
    }
    w.close().unwrap();
    assert_eq!(f.fs.status(&path).unwrap().len, len as u64);
    assert!(
        read_file(&f, &path) == data,
        "content differs after the round trip"
    );

    let offset = block - 100;
    let range = f.fs.read_range(&path, offset as u64, block + 200).unwrap();
    assert!(
        range == data[offset..offset + block + 200],
        "range across a block boundary"
    );
    let tail = f.fs.read_range(&path, (len - 10) as u64, 100).unwrap();
    assert_eq!(tail, data[len - 10..]);

    let mut r = f.fs.open(&path).unwrap();
    assert_eq!(r.len(), len as u64);
    r.seek(SeekFrom::Start((2 * block + 3) as u64)).unwrap();
    let mut buf = vec![0u8; 1000];
    r.read_exact(&mut buf).unwrap();
    assert!(buf == data[2 * block + 3..2 * block + 1003]);
}

pub fn concurrent_writers_to_different_files_do_not_interfere(f: Fixture) {
    let options = CreateOptions {
        block_size: f.block_size,
        ..CreateOptions::default()
    };
    let len = f.block_size.unwrap_or(1 << 20) as usize * 2 + 12345;
    std::thread::scope(|scope| {
        for i in 0..4u8 {
            let (f, options) = (&f, &options);
            scope.spawn(move || {
                let path = f.base.child(&format!("parallel/{i}"));
                let data = pattern(len, i);
                let mut w = f.fs.create(&path, options).unwrap();
                for chunk in data.chunks(10_000) {
                    w.write_all(chunk).unwrap();
                }
                w.close().unwrap();
            });
        }
    });
    for i in 0..4u8 {
        let got = read_file(&f, &f.base.child(&format!("parallel/{i}")));
        assert!(got == pattern(len, i), "file {i} differs");
    }
    assert_eq!(f.fs.list(&f.base.child("parallel")).unwrap().len(), 4);
}

pub fn copy_from_local_reports_progress_up_to_the_total(f: Fixture) {
    let local = tempfile::NamedTempFile::new().unwrap();
    let data = pattern(3 * 1024 * 1024 + 5, 3);
    std::fs::write(local.path(), &data).unwrap();
    let dst = f.base.child("uploaded");
    let mut reports = Vec::new();
    let copied =
        f.fs.copy_from_local(
            local.path(),
            &dst,
            &CreateOptions::default(),
            &mut |done, total| reports.push((done, total)),
        )
        .unwrap();
    assert_eq!(copied, data.len() as u64);
    assert_eq!(reports.first(), Some(&(0, data.len() as u64)));
    assert_eq!(
        reports.last(),
        Some(&(data.len() as u64, data.len() as u64))
    );
    assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(read_file(&f, &dst) == data);
}

pub fn small_reads_and_seeks_anywhere_return_the_right_bytes(f: Fixture) {
    let block = f.block_size.unwrap_or(1 << 20) as usize;
    let data = pattern(2 * block + 333, 5);
    let path = f.base.child("seek.bin");
    let options = CreateOptions {
        block_size: f.block_size,
        ..CreateOptions::default()
    };
    write_file(&f, &path, &data, &options);
    let mut r = f.fs.open(&path).unwrap();
    let mut got = Vec::new();
    let mut small = [0u8; 4093];
    loop {
        let n = r.read(&mut small).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&small[..n]);
    }
    assert!(got == data, "reading in small pieces gives the file");
    for (seek, at) in [
        (SeekFrom::End(-10), data.len() - 10),
        (SeekFrom::Start(block as u64 - 3), block - 3),
        // After reading 10 bytes at block - 3, the position is block + 7.
        (SeekFrom::Current(-100), block - 93),
        (SeekFrom::Start(0), 0),
    ] {
        assert_eq!(r.seek(seek).unwrap(), at as u64);
        let mut buf = [0u8; 10];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(buf, data[at..at + 10], "10 bytes at {at}");
    }
    assert!(r.seek(SeekFrom::End(1)).is_err(), "no seeking past the end");
    r.seek(SeekFrom::End(0)).unwrap();
    assert_eq!(r.read(&mut small).unwrap(), 0);
}

pub fn synced_data_is_durable_and_visible_before_close(f: Fixture) {
    let path = f.base.child("in-progress");
    let first = pattern(5000, 1);
    let mut w = f.fs.create(&path, &CreateOptions::default()).unwrap();
    w.write_all(&first).unwrap();
    w.sync().unwrap();
    assert_eq!(f.fs.status(&path).unwrap().len, 5000);
    assert!(
        read_file(&f, &path) == first,
        "a new reader sees the synced bytes"
    );
    // Continues mid-checksum-chunk after the sync.
    let second = pattern(70_000, 2);
    w.write_all(&second).unwrap();
    w.sync().unwrap();
    w.write_all(b"tail").unwrap();
    w.close().unwrap();
    let mut all = first;
    all.extend_from_slice(&second);
    all.extend_from_slice(b"tail");
    assert!(
        read_file(&f, &path) == all,
        "the closed file has every byte"
    );
}

/// Expands to one test per behaviour above, each with a fresh fixture from `$make`.
#[macro_export]
macro_rules! fs_suite {
    ($make:expr) => {
        $crate::fs_suite!(@tests $make;
            a_written_file_reads_back_with_its_status,
            an_empty_file_is_a_file_of_length_zero,
            creating_over_an_existing_file_fails_unless_overwrite,
            create_without_create_parent_needs_the_parent,
            a_missing_path_is_not_found_and_the_error_names_it,
            listing_gives_children_sorted_with_their_types,
            mkdirs_creates_parents_and_is_idempotent,
            rename_moves_files_and_directories_but_never_onto_an_existing_path,
            delete_needs_recursive_for_a_non_empty_directory,
            files_larger_than_one_block_round_trip_and_read_by_range,
            concurrent_writers_to_different_files_do_not_interfere,
            copy_from_local_reports_progress_up_to_the_total,
            small_reads_and_seeks_anywhere_return_the_right_bytes,
            synced_data_is_durable_and_visible_before_close,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                fs_common::$name($make());
            }
        )*
    };
}
