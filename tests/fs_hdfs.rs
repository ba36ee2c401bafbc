//! The shared file system specification against the mini HDFS through `hdfs-native`, plus
//! the HDFS-specific behaviour: Hadoop's exceptions, block layout, persistence across restarts.

mod fs_common;

use std::io::Write;
use std::sync::Arc;

use fs_common::{pattern, read_file, write_file, Fixture};
use strato::fs::mini_hdfs::{MiniHdfs, MiniHdfsConfig};
use strato::fs::{CreateOptions, FileSystem, FileSystems, FsConfig, FsError, FsPath};

/// Hadoop's smallest allowed block size (dfs.namenode.fs-limits.min-block-size).
const BLOCK: u64 = 1024 * 1024;

struct Cluster {
    _hdfs: MiniHdfs,
    _dir: tempfile::TempDir,
}

fn start() -> (MiniHdfs, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let hdfs = MiniHdfs::start(dir.path(), MiniHdfsConfig::default()).unwrap();
    (hdfs, dir)
}

fn resolver(hdfs: &MiniHdfs) -> FileSystems {
    let mut config = FsConfig::with_default_fs(hdfs.uri());
    config.hadoop_user = Some("strato".to_string());
    FileSystems::new(config).unwrap()
}

fn hdfs_fixture() -> Fixture {
    let (hdfs, dir) = start();
    let (fs, base) = resolver(&hdfs).resolve("/test").unwrap();
    Fixture {
        fs,
        base,
        block_size: Some(BLOCK),
        _guard: Box::new(Cluster {
            _hdfs: hdfs,
            _dir: dir,
        }),
    }
}

fs_suite!(hdfs_fixture);

#[test]
fn scheme_less_paths_resolve_to_the_default_hdfs_and_keep_its_authority() {
    let (hdfs, _dir) = start();
    let systems = resolver(&hdfs);
    let (fs, path) = systems.resolve("/a/b").unwrap();
    assert_eq!(path.to_string(), format!("{}/a/b", hdfs.uri()));
    let (_, same) = systems.resolve("hdfs:///a/b").unwrap();
    assert_eq!(same, path);
    assert_eq!(fs.uri().to_string(), format!("{}/", hdfs.uri()));
    let (local, _) = systems.resolve("file:///tmp").unwrap();
    assert_eq!(local.uri().scheme(), Some("file"));
}

#[test]
fn hadoop_exceptions_come_back_with_their_messages() {
    let (hdfs, _dir) = start();
    let (fs, base) = resolver(&hdfs).resolve("/x").unwrap();
    write_file_at(&*fs, &base.child("f"), b"1");
    let err = fs
        .create(&base.child("f"), &CreateOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(&err, FsError::AlreadyExists { detail, .. }
            if detail.contains("/x/f for client 127.0.0.1 already exists")),
        "{err}"
    );
    let err = fs.create(&base, &CreateOptions::overwrite()).err().unwrap();
    assert!(
        err.to_string().contains("/x already exists as a directory"),
        "{err}"
    );
    let err = fs.delete(&base, false).unwrap_err();
    assert!(
        matches!(&err, FsError::DirectoryNotEmpty { detail, .. } if detail.contains("/x is non empty")),
        "{err}"
    );
    let err = fs
        .rename(&base.child("nope"), &base.child("n2"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("rename source /x/nope is not found."),
        "{err}"
    );
    let err = fs
        .rename(&base.child("f"), &base.child("no/such/dir/f"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("rename destination parent /x/no/such/dir/f not found."),
        "{err}"
    );
    let small = CreateOptions {
        block_size: Some(4096),
        ..CreateOptions::default()
    };
    let err = fs.create(&base.child("tiny"), &small).err().unwrap();
    assert!(err.to_string().contains("min-block-size"), "{err}");
}

fn write_file_at(fs: &dyn FileSystem, path: &FsPath, data: &[u8]) {
    let mut w = fs.create(path, &CreateOptions::default()).unwrap();
    w.write_all(data).unwrap();
    w.close().unwrap();
}

#[test]
fn a_file_of_several_blocks_is_stored_as_block_files_with_crc32c_meta() {
    let (hdfs, dir) = start();
    let (fs, base) = resolver(&hdfs).resolve("/blocks").unwrap();
    let f = Fixture {
        fs,
        base: base.clone(),
        block_size: Some(BLOCK),
        _guard: Box::new(()),
    };
    let data = pattern(2 * BLOCK as usize + 1000, 9);
    let options = CreateOptions {
        block_size: Some(BLOCK),
        ..CreateOptions::default()
    };
    write_file(&f, &base.child("three-blocks"), &data, &options);
    let mut block_files: Vec<(String, u64)> = walk(dir.path())
        .into_iter()
        .filter(|(p, _)| p.contains("/finalized/blk_"))
        .collect();
    block_files.sort();
    let data_lens: Vec<u64> = block_files
        .iter()
        .filter(|(p, _)| !p.ends_with(".meta"))
        .map(|(_, len)| *len)
        .collect();
    assert_eq!(data_lens, vec![BLOCK, BLOCK, 1000]);
    let meta_lens: Vec<u64> = block_files
        .iter()
        .filter(|(p, _)| p.ends_with(".meta"))
        .map(|(_, len)| *len)
        .collect();
    // 7-byte header + one 4-byte CRC per 512-byte chunk.
    assert_eq!(meta_lens, vec![7 + 2048 * 4, 7 + 2048 * 4, 7 + 2 * 4]);
    let status = f.fs.status(&base.child("three-blocks")).unwrap();
    assert_eq!(status.len, data.len() as u64);

    assert!(f.fs.delete(&base, true).unwrap());
    // Like a real DataNode, the mini one deletes invalidated replicas in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = walk(dir.path())
            .into_iter()
            .filter(|(p, _)| p.contains("/finalized/blk_"))
            .count();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} replica files of deleted files are still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn walk(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        // A DataNode may finalize (rename) or delete a replica file while we look.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push((entry.path().display().to_string(), meta.len()));
        }
    }
    out
}

#[test]
fn files_survive_a_restart_on_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(BLOCK as usize + 17, 4);
    let mut hdfs = MiniHdfs::start(dir.path(), MiniHdfsConfig::default()).unwrap();
    {
        let (fs, path) = resolver(&hdfs).resolve("/keep/me").unwrap();
        let options = CreateOptions {
            block_size: Some(BLOCK),
            ..CreateOptions::default()
        };
        let mut w = fs.create(&path, &options).unwrap();
        w.write_all(&data).unwrap();
        w.close().unwrap();
    }
    hdfs.stop();
    drop(hdfs);
    let hdfs = MiniHdfs::start(dir.path(), MiniHdfsConfig::default()).unwrap();
    let (fs, path) = resolver(&hdfs).resolve("/keep/me").unwrap();
    let f = Fixture {
        fs: Arc::clone(&fs),
        base: path.clone(),
        block_size: None,
        _guard: Box::new(()),
    };
    assert!(read_file(&f, &path) == data);
}

#[test]
fn a_stopped_namenode_is_reported_with_its_address() {
    let (mut hdfs, _dir) = start();
    let uri = hdfs.uri();
    hdfs.stop();
    let err = resolver(&hdfs)
        .resolve("/x")
        .expect_err("the NameNode is down");
    assert!(matches!(err, FsError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(uri.trim_start_matches("hdfs://")),
        "{err}"
    );
}

#[test]
fn a_kerberos_cluster_is_refused_with_a_clear_error() {
    let (hdfs, _dir) = start();
    let mut config = FsConfig::with_default_fs(hdfs.uri());
    config
        .hadoop_config
        .insert("hadoop.security.authentication".into(), "kerberos".into());
    let err = FileSystems::new(config)
        .unwrap()
        .resolve("/x")
        .err()
        .unwrap();
    assert!(matches!(err, FsError::KerberosUnsupported { .. }), "{err}");
    assert!(err.to_string().contains("Kerberos"), "{err}");
}

#[test]
fn an_ha_nameservice_from_hadoop_conf_dir_reaches_the_namenode() {
    let (hdfs, _dir) = start();
    let conf = tempfile::tempdir().unwrap();
    let property = |name: &str, value: &str| {
        format!("<property><name>{name}</name><value>{value}</value></property>")
    };
    let site = [
        property("dfs.nameservices", "minins"),
        property("dfs.ha.namenodes.minins", "nn1"),
        property(
            "dfs.namenode.rpc-address.minins.nn1",
            &hdfs.namenode_addr().to_string(),
        ),
        property(
            "dfs.client.failover.proxy.provider.minins",
            "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider",
        ),
    ]
    .concat();
    std::fs::write(
        conf.path().join("hdfs-site.xml"),
        format!("<configuration>{site}</configuration>"),
    )
    .unwrap();
    std::fs::write(
        conf.path().join("core-site.xml"),
        "<configuration></configuration>",
    )
    .unwrap();
    let mut config = FsConfig::with_default_fs("hdfs://minins");
    config.hadoop_conf_dir = Some(conf.path().to_path_buf());
    let (fs, path) = FileSystems::new(config)
        .unwrap()
        .resolve("/ha/file")
        .unwrap();
    assert_eq!(path.to_string(), "hdfs://minins/ha/file");
    write_file_at(&*fs, &path, b"through the nameservice");
    assert_eq!(fs.read_range(&path, 8, 3).unwrap(), b"the");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_code_reaches_hdfs_through_run_blocking() {
    let (hdfs, _dir) = start();
    let (fs, path) = resolver(&hdfs).resolve("/async/file").unwrap();
    let writer_fs = fs.clone();
    let target = path.clone();
    strato::fs::run_blocking(move || {
        let mut w = writer_fs.create(&target, &CreateOptions::default())?;
        w.write_all(b"from async")
            .map_err(|e| FsError::io("write", &target, e))?;
        w.close()
    })
    .await
    .unwrap();
    let read = strato::fs::run_blocking(move || fs.read_range(&path, 5, 100))
        .await
        .unwrap();
    assert_eq!(read, b"async");
}

/// A NameNode of a secure cluster: Hadoop RPC that refuses SIMPLE authentication.
struct SecureNameNode;

impl strato::hadoop::ipc::RpcService for SecureNameNode {
    fn protocol(&self) -> &str {
        "org.apache.hadoop.hdfs.protocol.ClientProtocol"
    }

    fn call(
        &self,
        _caller: strato::hadoop::ipc::Caller,
        method: String,
        _request: bytes::Bytes,
    ) -> strato::hadoop::ipc::BoxFuture<Result<Vec<u8>, strato::hadoop::ipc::RpcException>> {
        let protocol = self.protocol().to_string();
        Box::pin(async move {
            Err(strato::hadoop::ipc::server::unknown_method(
                &method, &protocol,
            ))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namenode_that_requires_kerberos_is_refused_with_a_clear_error() {
    let auth = strato::hadoop::ipc::AuthConfig {
        simple: false,
        tokens: None,
    };
    let server = strato::hadoop::ipc::RpcServer::start(
        "127.0.0.1:0".parse().unwrap(),
        auth,
        Arc::new(SecureNameNode),
    )
    .await
    .unwrap();
    let uri = format!("hdfs://{}", server.local_addr());
    let err = strato::fs::run_blocking(move || {
        let (fs, path) = FileSystems::new(FsConfig::with_default_fs(uri))?.resolve("/x")?;
        fs.status(&path)
    })
    .await
    .expect_err("SIMPLE authentication is refused");
    assert!(matches!(err, FsError::KerberosUnsupported { .. }), "{err}");
}

#[test]
fn the_configured_hadoop_user_owns_what_it_creates() {
    let (hdfs, _dir) = start();
    let (fs, path) = resolver(&hdfs).resolve("/owned/file").unwrap();
    write_file_at(&*fs, &path, b"mine");
    let raw = hdfs_native::sync::ClientBuilder::new()
        .with_url(hdfs.uri())
        .build()
        .unwrap();
    let status = raw.get_file_info("/owned/file").unwrap();
    assert_eq!(status.owner, "strato");
    assert_eq!(status.group, "supergroup");
    assert_eq!(status.permission, 0o644);
}

#[test]
fn listings_longer_than_one_namenode_page_are_complete() {
    let (hdfs, _dir) = start();
    let (fs, base) = resolver(&hdfs).resolve("/many").unwrap();
    // dfs.ls.limit is 1000: this listing takes two getListing pages.
    for i in 0..1003 {
        fs.mkdirs(&base.child(&format!("d{i:04}"))).unwrap();
    }
    let listing = fs.list(&base).unwrap();
    assert_eq!(listing.len(), 1003);
    assert_eq!(listing[1002].path.file_name(), Some("d1002"));
}

#[test]
fn settings_come_from_a_loaded_hadoop_configuration() {
    let (hdfs, _dir) = start();
    let mut conf = strato::hadoop::conf::Configuration::new();
    conf.set("fs.defaultFS", hdfs.uri());
    conf.set("ipc.client.connect.timeout", "3000");
    conf.set("dfs.nameservices", "other");
    let config = FsConfig::from_hadoop_conf(&conf, None).unwrap();
    assert_eq!(config.default_fs, hdfs.uri());
    assert_eq!(config.connect_timeout, std::time::Duration::from_secs(3));
    assert_eq!(config.hadoop_config["dfs.nameservices"], "other");
    let (fs, path) = FileSystems::new(config)
        .unwrap()
        .resolve("/conf/f")
        .unwrap();
    assert_eq!(path.to_string(), format!("{}/conf/f", hdfs.uri()));
    write_file_at(&*fs, &path, b"ok");
    assert!(fs.exists(&path).unwrap());

    let local = FsConfig::from_hadoop_conf(&strato::hadoop::conf::Configuration::new(), None);
    assert_eq!(local.unwrap().default_fs, "file:///");
}
