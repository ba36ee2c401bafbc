//! A session cluster of real processes: a JobManager and TaskManagers on 127.0.0.1, jobs
//! submitted with `strato run -m`, managed with `list` and `cancel`, and watched over REST.

#[path = "cluster_support/mod.rs"]
mod cluster_support;
mod support;

use std::time::{Duration, Instant};

use cluster_support::{children, http, silent_socket_server, submitted_job_id, LocalCluster};
use support::{example, read_counts, reference_word_count, stderr, stdout, write_corpus};

#[test]
fn word_count_at_parallelism_two_across_two_task_managers_matches_the_embedded_executor() {
    let cluster = LocalCluster::start(2, 1, &[]);
    let input = cluster.dir.path().join("corpus.txt");
    let text = write_corpus(&input, 300_000);
    let run = |target: &[&str], output: &std::path::Path| {
        let out = support::strato()
            .arg("run")
            .args(target)
            .args(["-p", "2"])
            .arg(example("word_count"))
            .args([
                "--input",
                input.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
            ])
            .args(["--execution-mode", "BATCH"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        out
    };
    let remote_dir = cluster.dir.path().join("remote-out");
    let out = run(&["-m", &cluster.rest], &remote_dir);
    let id = submitted_job_id(&out);
    assert!(stdout(&out).contains(&format!("Job with JobID {id} has finished.")));
    assert!(stdout(&out).contains("Job Runtime: "));
    let local_dir = cluster.dir.path().join("local-out");
    run(&["-t", "local"], &local_dir);

    let remote = read_counts(&remote_dir);
    assert_eq!(remote, read_counts(&local_dir));
    assert_eq!(remote, reference_word_count(&text));
    // Each TaskManager had one slot: the two sink subtasks ran in different processes.
    assert_eq!(std::fs::read_dir(&remote_dir).unwrap().count(), 2);
    let job = cluster.get(&format!("/jobs/{id}"));
    assert_eq!(job["state"], "FINISHED");
    assert!(job["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["parallelism"] == 2
            && v["status"] == "FINISHED"
            && v["tasks"]["finished"] == 2));
    // Slots are free again.
    cluster.wait_for(|c| c.get("/overview")["slots-available"] == 2);
}

#[test]
fn two_jobs_run_at_once_and_cancelling_one_leaves_the_other_running() {
    let cluster = LocalCluster::start(2, 2, &[]);
    let (_server, port) = silent_socket_server();
    let submit = || submit_streaming_job(&cluster, port, &[]);
    let first = submit();
    let second = submit();
    cluster.wait_for(|c| c.job_state(&first) == "RUNNING" && c.job_state(&second) == "RUNNING");

    let overview = cluster.get("/overview");
    assert_eq!(overview["taskmanagers"], 2);
    assert_eq!(overview["slots-total"], 4);
    assert_eq!(
        overview["slots-available"],
        0,
        "{overview} {}",
        cluster.get("/jobs/overview")
    );
    assert_eq!(overview["jobs-running"], 2);
    assert_eq!(cluster.get("/v1/overview"), overview);
    assert_eq!(cluster.get("/config")["features"]["web-submit"], true);
    let tms = cluster.get("/taskmanagers");
    let tm_id = tms["taskmanagers"][0]["id"].as_str().unwrap();
    assert_eq!(tms["taskmanagers"][0]["slotsNumber"], 2);
    let tm = cluster.get(&format!("/taskmanagers/{tm_id}"));
    assert_eq!(tm["allocatedSlots"].as_array().unwrap().len(), 2);
    assert!(cluster.get(&format!("/jobs/{first}/plan"))["plan"]["nodes"].is_array());
    let checkpoints = cluster.get(&format!("/jobs/{first}/checkpoints"));
    assert_eq!(checkpoints["counts"]["completed"], 0);
    assert!(checkpoints["latest"]["completed"].is_null());
    let mut listed: Vec<(String, String)> = cluster.get("/jobs")["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().into(),
                j["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (first.clone(), "RUNNING".to_string()),
        (second.clone(), "RUNNING".to_string()),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    let jobs = cluster.get("/jobs/overview");
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(jobs["jobs"][0]["name"], "Streaming WordCount");

    let list = cluster.cli("list", &[]);
    let text = stdout(&list);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Waiting for response...");
    assert_eq!(
        lines[1],
        "------------------ Running/Restarting Jobs -------------------"
    );
    for id in [&first, &second] {
        let line = lines
            .iter()
            .find(|l| l.contains(id.as_str()))
            .unwrap_or_else(|| panic!("{id} not in {text}; {}", cluster.get("/jobs/overview")));
        // dd.MM.yyyy HH:mm:ss : <id> : <name> (RUNNING)
        let (time, rest) = line.split_once(" : ").unwrap();
        assert_eq!(time.len(), 19, "{line}");
        assert_eq!(&time[2..3], ".");
        assert_eq!(rest, format!("{id} : Streaming WordCount (RUNNING)"));
    }
    assert_eq!(
        lines[4],
        "--------------------------------------------------------------"
    );
    assert_eq!(lines[5], "No scheduled jobs.");

    let cancel = cluster.cli("cancel", &[&first]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    assert_eq!(
        stdout(&cancel),
        format!("Cancelling job {first}.\nCancelled job {first}.\n")
    );
    assert_eq!(cluster.job_state(&first), "CANCELED");
    // The other job is untouched.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cluster.job_state(&second), "RUNNING");
    let details = cluster.get(&format!("/jobs/{second}"));
    assert!(details["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["status"] == "RUNNING"));

    let running = stdout(&cluster.cli("list", &["-r"]));
    assert!(
        running.contains(&second) && !running.contains(&first),
        "{running}"
    );
    let all = stdout(&cluster.cli("list", &["-a"]));
    assert!(
        all.contains("---------------------- Terminated Jobs -----------------------"),
        "{all}"
    );
    assert!(
        all.contains(&format!("{first} : Streaming WordCount (CANCELED)")),
        "{all}"
    );
    let scheduled = stdout(&cluster.cli("list", &["-s"]));
    assert_eq!(scheduled, "Waiting for response...\nNo scheduled jobs.\n");
    cluster.cli("cancel", &[&second]);
}

#[test]
fn a_job_needing_more_slots_than_the_cluster_has_fails_after_the_slot_request_timeout() {
    let cluster = LocalCluster::start(1, 1, &["slot.request.timeout=1 s"]);
    let input = cluster.dir.path().join("in.txt");
    std::fs::write(&input, "a b c").unwrap();
    let started = Instant::now();
    let out = cluster.cli(
        "run",
        &[
            "-p",
            "2",
            example("word_count").to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("the job needs 2 slots but only 1 of 1 slots were available"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn cancelling_a_job_that_waits_for_slots_ends_it_at_once() {
    let cluster = LocalCluster::start(1, 1, &["slot.request.timeout=5 min"]);
    let (_server, port) = silent_socket_server();
    let id = submit_streaming_job(&cluster, port, &[]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cluster.job_state(&id), "CREATED");
    let started = Instant::now();
    let cancel = cluster.cli("cancel", &[&id]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    assert!(stdout(&cancel).ends_with(&format!("Cancelled job {id}.\n")));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(cluster.get("/overview")["slots-available"], 1);
}

#[test]
fn an_unreachable_job_manager_is_reported_within_the_client_timeout() {
    // Accepts connections but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let out = support::strato()
        .args(["list", "-m", &address, "-D", "client.timeout=1 s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the JobManager at http://{address} did not answer within 1000 ms"
        )),
        "{err}"
    );

    // Nothing listening at all.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let out = support::strato()
        .args(["cancel", "-m", &closed, "0123456789abcdef0123456789abcdef"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&closed), "{}", stderr(&out));
}

#[test]
fn a_silent_task_manager_is_detected_by_heartbeat_timeout_and_the_job_restarts_on_a_new_one() {
    let mut cluster = LocalCluster::start(
        2,
        1,
        &[
            "heartbeat.interval=200 ms",
            "heartbeat.timeout=3 s",
            "slot.request.timeout=20 s",
        ],
    );
    let (_server, id) = start_restartable_streaming_job(&cluster);

    // Freeze one TaskManager: its connection stays open, only its heartbeats stop.
    let frozen = cluster.task_managers[0].id() as i32;
    unsafe { libc::kill(frozen, libc::SIGSTOP) };
    let stopped_at = Instant::now();
    cluster.wait_for(|c| {
        c.get("/taskmanagers")["taskmanagers"]
            .as_array()
            .map(Vec::len)
            == Some(1)
    });
    let detected = stopped_at.elapsed();
    assert!(
        detected >= Duration::from_millis(2500),
        "detected after {detected:?}: {}",
        cluster.jobmanager_log()
    );
    assert!(
        cluster.jobmanager_log().contains("timed out"),
        "{}",
        cluster.jobmanager_log()
    );
    // The job cannot run on one slot; a new TaskManager brings the second.
    cluster.add_task_manager();
    cluster.wait_for(|c| {
        all_running(c, &id)
            && c.get(&format!("/jobs/{id}"))["timestamps"]["RESTARTING"]
                .as_i64()
                .unwrap_or(0)
                > 0
    });
    assert_eq!(cluster.get("/overview")["slots-available"], 0);
    cluster.cli("cancel", &[&id]);
}

/// Submits (detached, parallelism 2, with `options`) a streaming job that reads the socket
/// server at `port` until cancelled; returns its id.
fn submit_streaming_job(cluster: &LocalCluster, port: u16, options: &[&str]) -> String {
    let port = port.to_string();
    let program = example("streaming_word_count");
    let mut args = vec!["-d", "-p", "2"];
    args.extend_from_slice(options);
    args.extend([
        program.to_str().unwrap(),
        "--hostname",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    let out = cluster.cli("run", &args);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    submitted_job_id(&out)
}

/// Submits (detached) a streaming job that runs until cancelled and restarts on failure, and
/// waits until all its subtasks run; returns the socket server it reads and the job id.
fn start_restartable_streaming_job(cluster: &LocalCluster) -> (std::net::TcpListener, String) {
    let (server, port) = silent_socket_server();
    let id = submit_streaming_job(
        cluster,
        port,
        &[
            "-D",
            "restart-strategy=fixed-delay",
            "-D",
            "restart-strategy.fixed-delay.attempts=3",
            "-D",
            "restart-strategy.fixed-delay.delay=100 ms",
        ],
    );
    cluster.wait_for(|c| all_running(c, &id));
    (server, id)
}

fn all_running(cluster: &LocalCluster, id: &str) -> bool {
    let job = cluster.get(&format!("/jobs/{id}"));
    job["state"] == "RUNNING"
        && job["vertices"]
            .as_array()
            .is_some_and(|v| v.iter().all(|v| v["status"] == "RUNNING"))
}

#[test]
fn a_killed_worker_process_fails_its_tasks_and_the_job_restarts() {
    let cluster = LocalCluster::start(2, 1, &[]);
    let (_server, id) = start_restartable_streaming_job(&cluster);
    let tm = cluster.task_managers[1].id();
    let worker = children(tm)[0];
    unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    cluster.wait_for(|c| {
        all_running(c, &id)
            && c.get(&format!("/jobs/{id}"))["timestamps"]["RESTARTING"]
                .as_i64()
                .unwrap_or(0)
                > 0
            && children(tm).first().is_some_and(|w| *w != worker)
    });
    // The TaskManager itself survived its worker.
    assert_eq!(cluster.get("/overview")["taskmanagers"], 2);
    cluster.cli("cancel", &[&id]);
}

#[test]
fn a_worker_whose_program_builds_a_different_graph_refuses_to_run() {
    use strato::api::launch::{PlanFile, ENV_CLIENT_CONFIG, ENV_PLAN_OUTPUT};
    use strato::cluster::jobmanager::Submission;

    let cluster = LocalCluster::start(1, 1, &[]);
    let program = example("word_count");
    let plan_path = cluster.dir.path().join("plan.json");
    let configuration = "parallelism.default: 1\n";
    let conf_path = cluster.dir.path().join("client-conf.yaml");
    std::fs::write(&conf_path, configuration).unwrap();
    let planned = std::process::Command::new(&program)
        .env(ENV_PLAN_OUTPUT, &plan_path)
        .env(ENV_CLIENT_CONFIG, &conf_path)
        .output()
        .unwrap();
    assert!(planned.status.success(), "{}", stderr(&planned));
    let mut plan: PlanFile = serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    // As if main had built something else when the job was planned.
    plan.job_graph.fingerprint = "0000000000000000".into();
    let job_id = plan.job_graph.job_id.to_string();
    let blob = http(
        &cluster.rest,
        "POST",
        "/blobs",
        &std::fs::read(&program).unwrap(),
    );
    let submission = Submission {
        job_graph: plan.job_graph,
        plan: plan.plan,
        program_key: blob["key"].as_str().unwrap().to_string(),
        program_args: vec![],
        configuration: configuration.into(),
        job_ordinal: 0,
    };
    let accepted = http(
        &cluster.rest,
        "POST",
        "/jobs",
        &serde_json::to_vec(&submission).unwrap(),
    );
    assert_eq!(accepted["jobUrl"], format!("/jobs/{job_id}"));
    cluster.wait_for(|c| c.job_state(&job_id) == "FAILED");
    let cause = cluster.get(&format!("/jobs/{job_id}/exceptions"))["root-exception"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cause.contains("the program built a different dataflow in the worker"),
        "{cause}"
    );
    assert!(cause.contains("0000000000000000"), "{cause}");
}

#[test]
fn a_task_manager_that_stops_hearing_its_job_manager_kills_its_workers() {
    let cluster = LocalCluster::start(
        2,
        1,
        &["heartbeat.interval=100 ms", "heartbeat.timeout=2 s"],
    );
    let (_server, id) = start_restartable_streaming_job(&cluster);
    let tms: Vec<u32> = cluster.task_managers.iter().map(|c| c.id()).collect();
    assert!(
        tms.iter().all(|&tm| children(tm).len() == 1),
        "{id}: one worker per TaskManager"
    );
    cluster.freeze_jobmanager();
    let frozen_at = Instant::now();
    while tms.iter().any(|&tm| !children(tm).is_empty()) {
        assert!(
            frozen_at.elapsed() < Duration::from_secs(10),
            "workers still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(frozen_at.elapsed() >= Duration::from_millis(1500));
    let log = std::fs::read_to_string(cluster.dir.path().join("taskmanager-0.log")).unwrap();
    assert!(log.contains("The heartbeat of JobManager"), "{log}");
}
