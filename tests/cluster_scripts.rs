//! The standalone cluster scripts: `start-cluster.sh` starts a JobManager and the TaskManagers
//! of `conf/workers` with pid files and logs named as Flink names them; `stop-cluster.sh`
//! stops them all and leaves no process behind.

#[path = "cluster_support/mod.rs"]
mod cluster_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cluster_support::{children, free_port, http_get, is_alive};
use support::{example, stderr, stdout};

/// A standalone installation in a temp dir; dropping it kills whatever its pid files name.
struct Installation {
    dir: tempfile::TempDir,
}

impl Installation {
    fn new(workers: &[&str], rest_port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(
            conf.join("strato-conf.yaml"),
            format!(
                "jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: {}\nrest.address: 127.0.0.1\nrest.port: {rest_port}\ntaskmanager.host: 127.0.0.1\nio.tmp.dirs: {}\n",
                free_port(),
                dir.path().join("tmp").display()
            ),
        )
        .unwrap();
        std::fs::write(conf.join("workers"), workers.join("\n") + "\n").unwrap();
        Installation { dir }
    }

    fn script(&self, name: &str) -> Output {
        self.script_with(name, &[])
    }

    fn script_with(&self, name: &str, args: &[&str]) -> Output {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
        Command::new(scripts.join(name))
            .args(args)
            .env("STRATO_BIN", env!("CARGO_BIN_EXE_strato"))
            .env("STRATO_CONF_DIR", self.dir.path().join("conf"))
            .env("STRATO_LOG_DIR", self.dir.path().join("log"))
            .env("STRATO_PID_DIR", self.dir.path().join("pids"))
            .env("USER", "tester")
            .output()
            .unwrap()
    }

    fn pid_file(&self, daemon: &str) -> PathBuf {
        self.dir
            .path()
            .join("pids")
            .join(format!("strato-tester-{daemon}.pid"))
    }

    fn pids(&self, daemon: &str) -> Vec<u32> {
        std::fs::read_to_string(self.pid_file(daemon))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Installation {
    fn drop(&mut self) {
        for pid in self
            .pids("taskexecutor")
            .into_iter()
            .chain(self.pids("standalonesession"))
            .chain(self.pids("standalonejob"))
        {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

fn hostname() -> String {
    String::from_utf8(Command::new("hostname").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn start_cluster_then_stop_cluster_leaves_no_process_behind() {
    let rest_port = free_port();
    let install = Installation::new(&["localhost", "localhost"], rest_port);
    let host = hostname();
    let rest = format!("127.0.0.1:{rest_port}");

    let started = install.script("start-cluster.sh");
    assert!(started.status.success(), "{}", stderr(&started));
    let out = stdout(&started);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Starting cluster.");
    assert_eq!(
        lines[1],
        format!("Starting standalonesession daemon on host {host}.")
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == format!("Starting taskexecutor daemon on host {host}."))
            .count(),
        2,
        "{out}"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    while http_get(&rest, "/overview")["taskmanagers"] != 2 {
        assert!(
            Instant::now() < deadline,
            "the cluster did not come up: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let jobmanager = install.pids("standalonesession");
    let task_managers = install.pids("taskexecutor");
    assert_eq!((jobmanager.len(), task_managers.len()), (1, 2));
    let log_dir = install.dir.path().join("log");
    let jm_log = std::fs::read_to_string(
        log_dir.join(format!("strato-tester-standalonesession-0-{host}.log")),
    )
    .unwrap();
    assert!(jm_log.contains("Rest endpoint listening at"), "{jm_log}");
    for n in 0..2 {
        assert!(log_dir
            .join(format!("strato-tester-taskexecutor-{n}-{host}.log"))
            .exists());
        assert!(log_dir
            .join(format!("strato-tester-taskexecutor-{n}-{host}.out"))
            .exists());
    }

    // A job runs on it, and its print output lands in the TaskManagers' .out files.
    let job = support::strato()
        .args(["run", "-m", &rest, "-p", "2"])
        .arg(example("word_count"))
        .output()
        .unwrap();
    assert!(job.status.success(), "{}\n{}", stdout(&job), stderr(&job));
    let printed: String = (0..2)
        .map(|n| {
            std::fs::read_to_string(
                log_dir.join(format!("strato-tester-taskexecutor-{n}-{host}.out")),
            )
            .unwrap()
        })
        .collect();
    assert!(printed.contains("(question,1)"), "{printed}");
    // A second job keeps its workers alive while the cluster is stopped under it.
    let (_server, port) = cluster_support::silent_socket_server();
    let running = support::strato()
        .args(["run", "-d", "-m", &rest, "-p", "2"])
        .arg(example("streaming_word_count"))
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(running.status.success(), "{}", stderr(&running));
    let deadline = Instant::now() + Duration::from_secs(15);
    while task_managers
        .iter()
        .map(|&tm| children(tm).len())
        .sum::<usize>()
        < 2
    {
        assert!(Instant::now() < deadline, "no workers started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let workers: Vec<u32> = task_managers.iter().flat_map(|&tm| children(tm)).collect();

    let stopped = install.script("stop-cluster.sh");
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    let out = stdout(&stopped);
    for pid in &task_managers {
        assert!(
            out.contains(&format!(
                "Stopping taskexecutor daemon (pid: {pid}) on host {host}."
            )),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!(
            "Stopping standalonesession daemon (pid: {}) on host {host}.",
            jobmanager[0]
        )),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in jobmanager.iter().chain(&task_managers).chain(&workers) {
        while is_alive(*pid) {
            assert!(Instant::now() < deadline, "process {pid} is still running");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(!install.pid_file("taskexecutor").exists());
    assert!(!install.pid_file("standalonesession").exists());
    // The daemons removed their temporary directories.
    assert_eq!(
        std::fs::read_dir(install.dir.path().join("tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn standalone_job_runs_every_job_of_its_program_on_the_task_managers_and_ends_with_it() {
    let rest_port = free_port();
    let install = Installation::new(&["localhost"], rest_port);
    let host = hostname();
    let input = install.dir.path().join("in.txt");
    let text = support::write_corpus(&input, 100_000);
    let output = install.dir.path().join("out");
    let started = install.script_with(
        "standalone-job.sh",
        &[
            "start",
            "--program",
            example("word_count_pipeline").to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
    );
    assert!(started.status.success(), "{}", stderr(&started));
    assert_eq!(
        stdout(&started).trim(),
        format!("Starting standalonejob daemon on host {host}.")
    );
    let jobmanager = install.pids("standalonejob");
    assert_eq!(jobmanager.len(), 1);
    let tm = install.script_with("taskmanager.sh", &["start"]);
    assert!(tm.status.success(), "{}", stderr(&tm));

    // The application ends with its job: the JobManager process exits by itself.
    let deadline = Instant::now() + Duration::from_secs(120);
    while is_alive(jobmanager[0]) {
        let log = std::fs::read_to_string(
            install
                .dir
                .path()
                .join("log")
                .join(format!("strato-tester-standalonejob-0-{host}.out")),
        )
        .unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "the application did not end:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two jobs ran, the second from what the first wrote.
    support::assert_word_count_pipeline_output(&output, &text);
    let stopped = install.script_with("taskmanager.sh", &["stop"]);
    assert!(stopped.status.success(), "{}", stderr(&stopped));
}
