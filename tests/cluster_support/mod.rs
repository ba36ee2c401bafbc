//! A session cluster of real processes on 127.0.0.1 for integration tests: one JobManager
//! (`strato jobmanager`) and TaskManagers (`strato taskmanager`), on ephemeral ports, with
//! every temporary file in one temp dir. Dropping the guard kills every process it started
//! (workers die with their TaskManager) and removes the directory, also when a test fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use super::support;

/// One cluster at a time per test binary: each is several processes shipping a debug build of
/// a job binary around, and the heartbeat tests need a machine that is not swamped.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct LocalCluster {
    pub dir: tempfile::TempDir,
    pub rest: String,
    pub rpc_port: u16,
    jobmanager: Child,
    pub task_managers: Vec<Child>,
    settings: Vec<String>,
    /// Released after the processes are gone (fields drop after `Drop::drop`).
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl LocalCluster {
    /// Starts a JobManager and `task_managers` TaskManagers with `slots` slots each; `settings`
    /// are extra `-D` options for every process.
    pub fn start(task_managers: usize, slots: usize, settings: &[&str]) -> Self {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let mut settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        settings.push(format!("io.tmp.dirs={}", dir.path().display()));
        settings.push(format!("taskmanager.numberOfTaskSlots={slots}"));
        let mut jm = support::strato();
        jm.arg("jobmanager")
            .args(["-D", "jobmanager.rpc.address=127.0.0.1"])
            .args(["-D", "jobmanager.rpc.port=0"])
            .args(["-D", "rest.port=0"])
            .args(["-D", "rest.address=127.0.0.1"]);
        for s in &settings {
            jm.args(["-D", s]);
        }
        let mut jobmanager = jm
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("jobmanager.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let stdout = jobmanager.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut rpc = None;
        let mut rest = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut cluster = LocalCluster {
            dir,
            rest: String::new(),
            rpc_port: 0,
            jobmanager,
            task_managers: Vec::new(),
            settings,
            _turn: turn,
        };
        while rpc.is_none() || rest.is_none() {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the JobManager did not report its ports");
            if let Some(a) = line.strip_prefix("JobManager RPC endpoint listening at ") {
                rpc = Some(a.rsplit(':').next().unwrap().parse::<u16>().unwrap());
            }
            if let Some(a) = line.strip_prefix("Rest endpoint listening at ") {
                rest = Some(a.to_string());
            }
        }
        cluster.rpc_port = rpc.unwrap();
        cluster.rest = rest.unwrap();
        for _ in 0..task_managers {
            cluster.add_task_manager();
        }
        cluster.wait_for(|c| {
            c.get("/taskmanagers")["taskmanagers"]
                .as_array()
                .unwrap()
                .len()
                == task_managers
        });
        cluster
    }

    /// Starts one more TaskManager.
    pub fn add_task_manager(&mut self) {
        let n = self.task_managers.len();
        let mut tm = support::strato();
        tm.arg("taskmanager")
            .args(["-D", "jobmanager.rpc.address=127.0.0.1"])
            .args(["-D", &format!("jobmanager.rpc.port={}", self.rpc_port)])
            .args(["-D", "taskmanager.host=127.0.0.1"]);
        for s in &self.settings {
            tm.args(["-D", s]);
        }
        let log = |suffix: &str| {
            std::fs::File::create(self.dir.path().join(format!("taskmanager-{n}.{suffix}")))
                .unwrap()
        };
        let child = tm
            .stdout(Stdio::from(log("out")))
            .stderr(Stdio::from(log("log")))
            .spawn()
            .unwrap();
        self.task_managers.push(child);
    }

    /// `strato <action> -m <rest> args...` against this cluster.
    pub fn cli(&self, action: &str, args: &[&str]) -> Output {
        support::strato()
            .arg(action)
            .args(["-m", &self.rest])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        http_get(&self.rest, path)
    }

    /// Polls until `ready` holds (10 s at most).
    pub fn wait_for(&self, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "condition not reached; jobs {}; JobManager log:\n{}",
                self.get("/jobs/overview"),
                self.jobmanager_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn job_state(&self, id: &str) -> String {
        self.get(&format!("/jobs/{id}"))["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Stops the JobManager process (SIGSTOP): its sockets stay open, it just says nothing.
    pub fn freeze_jobmanager(&self) {
        unsafe { libc::kill(self.jobmanager.id() as i32, libc::SIGSTOP) };
    }

    pub fn jobmanager_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("jobmanager.log")).unwrap_or_default()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in self
            .task_managers
            .iter_mut()
            .chain(std::iter::once(&mut self.jobmanager))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The JobID from `Job has been submitted with JobID <id>`.
pub fn submitted_job_id(out: &Output) -> String {
    let stdout = support::stdout(out);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Job has been submitted with JobID "))
        .unwrap_or_else(|| panic!("no job id in {stdout:?}; stderr {}", support::stderr(out)))
        .to_string()
}

/// A socket server that accepts connections and never sends: keeps a socket-source job running.
pub fn silent_socket_server() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in accept.incoming().map_while(Result::ok) {
            held.push(s);
        }
    });
    (listener, port)
}

/// GETs a REST path (plain HTTP/1.1 over a socket); `Null` if it cannot be read.
pub fn http_get(address: &str, path: &str) -> serde_json::Value {
    http(address, "GET", path, &[])
}

/// One HTTP/1.1 request; the JSON body of the answer, `Null` if it cannot be read.
pub fn http(address: &str, method: &str, path: &str, body: &[u8]) -> serde_json::Value {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return serde_json::Value::Null;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut response = Vec::new();
    if stream.write_all(head.as_bytes()).is_err()
        || stream.write_all(body).is_err()
        || stream.read_to_end(&mut response).is_err()
    {
        return serde_json::Value::Null;
    }
    let response = String::from_utf8_lossy(&response);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// The processes whose parent is `pid` (the workers of a TaskManager).
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A port that was free a moment ago (for configurations that cannot say 0).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True while `pid` is a live (not zombie) process.
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}
