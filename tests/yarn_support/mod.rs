//! A mini YARN (optionally with a mini HDFS as the default file system) and the `strato` CLI
//! pointed at it, for the YARN deployment tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use strato::fs::mini_hdfs::{MiniHdfs, MiniHdfsConfig};
use strato::fs::{FileSystem, FsPath};
use strato::yarn::mini::{MiniYarnCluster, MiniYarnConfig};
use strato::yarn::rest::{AppInfo, RmRestClient};

/// The Hadoop user the tests deploy as (names the properties file and the HDFS home).
pub const USER: &str = "tester";

/// At most this many mini clusters at once: each test stages and localizes a few hundred MB
/// of (debug) binaries and runs several processes; more at once overloads a small machine.
const MAX_CONCURRENT_CLUSTERS: usize = 3;

static RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static FREED: std::sync::Condvar = std::sync::Condvar::new();

/// A place among the clusters allowed to run at once, released on drop.
struct ClusterPermit;

impl ClusterPermit {
    fn acquire() -> ClusterPermit {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= MAX_CONCURRENT_CLUSTERS {
            running = FREED.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        ClusterPermit
    }
}

impl Drop for ClusterPermit {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        FREED.notify_one();
    }
}

pub struct Yarn {
    cluster: Option<MiniYarnCluster>,
    pub hdfs: Option<MiniHdfs>,
    rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    /// The clients' Hadoop conf dir.
    pub hadoop_conf: PathBuf,
    /// The clients' Strato conf dir.
    pub strato_conf: PathBuf,
    pub rest: RmRestClient,
    _permit: ClusterPermit,
}

impl Yarn {
    /// A mini YARN with two 4 GB NodeManagers; `with_hdfs` makes a mini HDFS the default FS
    /// (and staging goes to the user's home there), else staging is in a temp dir.
    pub fn start(with_hdfs: bool) -> Yarn {
        Self::start_with_memory_check(with_hdfs, Duration::from_millis(500))
    }

    /// Like [`Yarn::start`], with the NodeManagers' memory monitor at `interval`.
    pub fn start_with_memory_check(with_hdfs: bool, interval: Duration) -> Yarn {
        let permit = ClusterPermit::acquire();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cluster = rt
            .block_on(MiniYarnCluster::start(MiniYarnConfig {
                num_node_managers: 2,
                node_memory_mb: 4096,
                node_vcores: 4,
                memory_check_interval: interval,
                ..Default::default()
            }))
            .unwrap();
        let hdfs = with_hdfs
            .then(|| MiniHdfs::start(&dir.path().join("hdfs"), MiniHdfsConfig::default()).unwrap());
        let hadoop_conf = dir.path().join("hadoop-conf");
        std::fs::create_dir_all(&hadoop_conf).unwrap();
        for entry in std::fs::read_dir(cluster.conf_dir()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), hadoop_conf.join(entry.file_name())).unwrap();
        }
        if let Some(hdfs) = &hdfs {
            std::fs::write(
                hadoop_conf.join("core-site.xml"),
                format!(
                    "<configuration><property><name>fs.defaultFS</name><value>{}</value></property></configuration>",
                    hdfs.uri()
                ),
            )
            .unwrap();
        }
        let strato_conf = dir.path().join("conf");
        std::fs::create_dir_all(&strato_conf).unwrap();
        let mut yaml = format!(
            "jobmanager.memory.process.size: 1024m\ntaskmanager.memory.process.size: 1024m\nyarn.properties-file.location: {}\nyarn.heartbeat.container-request-interval: 100 ms\n",
            dir.path().display()
        );
        if !with_hdfs {
            yaml.push_str(&format!(
                "yarn.staging-directory: {}\n",
                dir.path().join("staging").display()
            ));
        }
        std::fs::write(strato_conf.join("strato-conf.yaml"), yaml).unwrap();
        let rest = cluster.rest_client(Some(USER)).unwrap();
        Yarn {
            cluster: Some(cluster),
            hdfs,
            rt,
            dir,
            hadoop_conf,
            strato_conf,
            rest,
            _permit: permit,
        }
    }

    pub fn cluster(&self) -> &MiniYarnCluster {
        self.cluster.as_ref().unwrap()
    }

    /// The CLI with this cluster's configuration.
    pub fn strato(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strato"));
        cmd.env("YARN_CONF_DIR", &self.hadoop_conf)
            .env_remove("HADOOP_CONF_DIR")
            .env("HADOOP_USER_NAME", USER)
            .env("STRATO_CONF_DIR", &self.strato_conf)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the CLI to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.strato().args(args).output().unwrap()
    }

    /// Runs the CLI with `input` on stdin.
    pub fn cli_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .strato()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn app(&self, id: &str) -> AppInfo {
        self.rt.block_on(self.rest.application(id)).unwrap()
    }

    pub fn apps(&self) -> Vec<AppInfo> {
        self.rt
            .block_on(self.rest.applications(&Default::default()))
            .unwrap()
    }

    /// Polls `probe` every 50 ms until it holds; fails after 60 s.
    pub fn wait_for(&self, what: &str, probe: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !probe(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the application is in a final state; its report.
    pub fn final_report(&self, id: &str) -> AppInfo {
        self.wait_for(&format!("{id} to end"), |y| y.app(id).state.is_final());
        self.app(id)
    }

    /// Prints the tail of every container log, so a failed test shows what the cluster did.
    fn print_container_logs(&self) {
        let Some(root) = self.cluster.as_ref().and_then(|c| c.conf_dir().parent()) else {
            return;
        };
        if let Ok(apps) = self
            .rt
            .block_on(self.rest.applications(&Default::default()))
        {
            for app in apps {
                eprintln!(
                    "==== {} {:?}/{:?}: {}",
                    app.id, app.state, app.final_status, app.diagnostics
                );
            }
        }
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path
                    .parent()
                    .is_some_and(|p| p.to_string_lossy().contains("/logs/"))
                {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(60)..];
                    eprintln!("==== {} ====\n{}", path.display(), tail.join("\n"));
                }
            }
        }
    }

    /// The pid of the process of one of this cluster's containers whose command line
    /// contains `role` (other clusters' containers may run under equal-looking ids).
    pub fn process_of_container(&self, container: &str, role: &str) -> Option<u32> {
        let root = self.cluster().conf_dir().parent()?;
        let wanted = format!("CONTAINER_ID={container}");
        std::fs::read_dir("/proc").ok()?.find_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
            let has_env = environ.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes());
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (has_env && cwd.starts_with(root) && cmd.starts_with("./strato") && cmd.contains(role))
                .then_some(pid)
        })
    }

    /// Live containers on all NodeManagers.
    pub fn live_containers(&self) -> usize {
        self.rt
            .block_on(self.rest.nodes())
            .unwrap()
            .iter()
            .map(|n| n.num_containers as usize)
            .sum()
    }

    /// Entries of a directory on the default file system (empty when it does not exist).
    pub fn list(&self, uri: &str) -> Vec<String> {
        let (fs, path) = self.fs(uri);
        match fs.list(&path) {
            Ok(entries) => entries
                .into_iter()
                .map(|s| s.path.file_name().unwrap_or_default().to_string())
                .collect(),
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => panic!("listing {uri}: {e}"),
        }
    }

    /// Every file under `uri`, relative to it (recursively).
    pub fn tree(&self, uri: &str) -> Vec<String> {
        let (fs, root) = self.fs(uri);
        let mut out = Vec::new();
        let mut stack = vec![(root, String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let Ok(entries) = fs.list(&dir) else { continue };
            for e in entries {
                let name = format!("{prefix}{}", e.path.file_name().unwrap_or_default());
                if e.is_dir {
                    stack.push((e.path.clone(), format!("{name}/")));
                } else {
                    out.push(name);
                }
            }
        }
        out.sort();
        out
    }

    /// Copies the files of a directory on the default file system into a local directory.
    pub fn fetch_dir(&self, uri: &str, local: &Path) {
        use std::io::Read;
        let (fs, dir) = self.fs(uri);
        std::fs::create_dir_all(local).unwrap();
        let status = fs.status(&dir).unwrap();
        let files = if status.is_dir {
            fs.list(&dir).unwrap()
        } else {
            vec![status]
        };
        for f in files {
            let mut text = Vec::new();
            fs.open(&f.path).unwrap().read_to_end(&mut text).unwrap();
            std::fs::write(local.join(f.path.file_name().unwrap()), text).unwrap();
        }
    }

    fn fs(&self, uri: &str) -> (std::sync::Arc<dyn FileSystem>, FsPath) {
        let default_fs = self
            .hdfs
            .as_ref()
            .map(|h| h.uri())
            .unwrap_or_else(|| "file:///".into());
        let systems =
            strato::fs::FileSystems::new(strato::fs::FsConfig::with_default_fs(default_fs))
                .unwrap();
        systems.resolve(uri).unwrap()
    }

    /// The staging root (`.strato`) the CLI uses.
    pub fn staging_root(&self) -> String {
        match &self.hdfs {
            Some(h) => format!("{}/user/{USER}/.strato", h.uri()),
            None => format!("{}/.strato", self.dir.path().join("staging").display()),
        }
    }
}

impl Drop for Yarn {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_container_logs();
        }
        let _guard = self.rt.enter();
        if let Some(c) = self.cluster.take() {
            c.shutdown();
            drop(c);
        }
    }
}

/// The value after `prefix` on a line of the output.
pub fn line_value(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {text:?}"))
        .trim()
        .to_string()
}
