//! YARN with HDFS as the default file system: the distributed shell stages its AM binary on
//! the mini HDFS, and the mini NodeManagers localize it from there.

use std::time::Duration;

use strato::fs::mini_hdfs::{MiniHdfs, MiniHdfsConfig};
use strato::fs::{FileSystem, FsPath};
use strato::yarn::dshell::{run_client, ClientArgs};
use strato::yarn::mini::{MiniYarnCluster, MiniYarnConfig};
use strato::yarn::rest::model::FinalApplicationStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_distributed_shell_stages_its_am_on_hdfs_and_containers_localize_it_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let hdfs = MiniHdfs::start(&dir.path().join("hdfs"), MiniHdfsConfig::default()).unwrap();
    let yarn = MiniYarnCluster::start(MiniYarnConfig {
        num_node_managers: 1,
        node_memory_mb: 2048,
        node_vcores: 4,
        memory_check_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .unwrap();
    // The client's Hadoop configuration: the mini YARN's, with HDFS as the default file system.
    let mut conf = yarn.configuration().unwrap();
    conf.set("fs.defaultFS", hdfs.uri());
    let args = ClientArgs {
        shell_command: Some("echo staged".into()),
        num_containers: 1,
        container_memory: 128,
        container_vcores: 1,
        master_memory: 128,
        master_vcores: 1,
        max_app_attempts: 1,
        queue: "default".into(),
        appname: "ds-hdfs".into(),
        user: Some("tester".into()),
        heartbeat_ms: 50,
        timeout_secs: 60,
        am_resource: Some(env!("CARGO_BIN_EXE_strato-mini-yarn").into()),
        am_resource_size: None,
        am_resource_timestamp: None,
    };
    let outcome = run_client(&conf, &args, &["dshell"]).await.unwrap();
    assert_eq!(
        outcome.report.final_status,
        FinalApplicationStatus::SUCCEEDED,
        "{}",
        outcome.report.diagnostics
    );
    // The binary was uploaded under the user's staging directory on HDFS.
    let staged = format!(
        "{}/user/tester/.dshell/{}/AppMaster",
        hdfs.uri(),
        outcome.app_id
    );
    let status = tokio::task::spawn_blocking(move || {
        let (fs, _) = <dyn FileSystem>::for_uri(&staged).unwrap();
        fs.status(&FsPath::parse(&staged).unwrap())
    })
    .await
    .unwrap();
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_strato-mini-yarn"))
        .unwrap()
        .len();
    assert_eq!(status.unwrap().len, size);
}
