//! The shared file system specification against `file://` and plain local paths.

mod fs_common;

use fs_common::Fixture;
use strato::fs::{FileSystem, FileSystems, FsConfig};

fn local_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (fs, base) =
        <dyn FileSystem>::for_uri(&format!("file://{}", dir.path().display())).unwrap();
    Fixture {
        fs,
        base,
        block_size: None,
        _guard: Box::new(dir),
    }
}

fs_suite!(local_fixture);

#[test]
fn plain_paths_resolve_to_the_default_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("f").display().to_string();
    let (fs, path) = <dyn FileSystem>::for_uri(&plain).unwrap();
    assert_eq!(path.to_string(), format!("file://{plain}"));
    assert_eq!(fs.uri().scheme(), Some("file"));
    fs_common::write_file(
        &Fixture {
            fs: fs.clone(),
            base: path.clone(),
            block_size: None,
            _guard: Box::new(()),
        },
        &path,
        b"x",
        &Default::default(),
    );
    assert!(std::path::Path::new(&plain).exists());
}

#[test]
fn unknown_schemes_and_bad_default_file_systems_are_refused_by_name() {
    let err = <dyn FileSystem>::for_uri("s3://bucket/key").err().unwrap();
    assert!(err.to_string().contains("s3://bucket/key"), "{err}");
    let err = FileSystems::new(FsConfig::with_default_fs("/no/scheme")).unwrap_err();
    assert!(err.to_string().contains("/no/scheme"), "{err}");
    let systems = FileSystems::new(FsConfig::default()).unwrap();
    let err = systems.resolve("hdfs:///data").err().unwrap();
    assert!(err.to_string().contains("hdfs:///data"), "{err}");
}

#[test]
fn a_namenode_that_is_not_running_is_reported_within_the_connect_timeout() {
    // Bind then drop to get a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = FsConfig::with_default_fs(format!("hdfs://127.0.0.1:{port}"));
    config.connect_timeout = std::time::Duration::from_secs(2);
    let systems = FileSystems::new(config).unwrap();
    let started = std::time::Instant::now();
    let err = systems.resolve("/data").expect_err("nothing listens there");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("NameNode"),
        "{msg}"
    );
}

#[test]
fn a_namenode_that_accepts_but_never_answers_is_reported_within_the_connect_timeout() {
    // The kernel completes the handshake into the backlog; nobody ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let mut config = FsConfig::with_default_fs(format!("hdfs://{address}"));
    config.connect_timeout = std::time::Duration::from_secs(1);
    let started = std::time::Instant::now();
    let err = FileSystems::new(config)
        .unwrap()
        .resolve("/data")
        .expect_err("nobody answers");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert!(
        matches!(err, strato::fs::FsError::Unreachable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&address.to_string()), "{err}");
}
