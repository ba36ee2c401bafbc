//! Specifications of job management on a real-process session cluster beyond submission:
//! programs uploaded and run over REST (`/jars`, behind `web.submit.enable`).

mod cluster_support;
mod support;

use std::io::{Read, Write};
use std::time::Duration;

use cluster_support::*;
use support::*;

/// One raw HTTP/1.1 request; the status code and the body.
fn request(address: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    // A server that refuses the request may close before reading all of a large body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).to_string();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Uploads `file` as the multipart field `jarfile`, as Flink's web UI does.
fn upload_jar(address: &str, file: &std::path::Path) -> (u16, String) {
    let boundary = "strato-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"{}\"\r\nContent-Type: application/x-java-archive\r\n\r\n",
        file.file_name().unwrap().to_string_lossy()
    )
    .into_bytes();
    body.extend(std::fs::read(file).unwrap());
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let head = format!(
        "POST /jars/upload HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    request(address, &head, &body)
}

#[test]
fn an_uploaded_program_runs_through_the_rest_api_with_the_same_counts() {
    let cluster = LocalCluster::start(2, 1, &[]);
    let input = cluster.dir.path().join("corpus.txt");
    let text = write_corpus(&input, 200_000);
    let (status, body) = upload_jar(&cluster.rest, &example("word_count"));
    assert_eq!(status, 200, "{body}");
    let uploaded: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(uploaded["status"], "success");
    let jars = cluster.get("/jars");
    let files = jars["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{jars}");
    assert_eq!(files[0]["name"], "word_count");
    let jar_id = files[0]["id"].as_str().unwrap().to_string();

    let output = cluster.dir.path().join("out");
    let run = serde_json::json!({
        "programArgsList": ["--input", input.to_str().unwrap(), "--output", output.to_str().unwrap(),
                            "--execution-mode", "BATCH"],
        "parallelism": 2,
    });
    let answer = http(
        &cluster.rest,
        "POST",
        &format!("/jars/{jar_id}/run"),
        run.to_string().as_bytes(),
    );
    let job_id = answer["jobid"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while cluster.job_state(&job_id) != "FINISHED" {
        assert!(
            std::time::Instant::now() < deadline,
            "job {job_id} did not finish: {}\n{}",
            cluster.get(&format!("/jobs/{job_id}")),
            cluster.jobmanager_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(read_counts(&output), reference_word_count(&text));

    let (status, _) = request(
        &cluster.rest,
        &format!("DELETE /jars/{jar_id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(cluster.get("/jars")["files"].as_array().unwrap().len(), 0);
    let (status, body) = request(
        &cluster.rest,
        "POST /jars/no_such.jar/run HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        &[],
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no_such.jar"), "{body}");
}

#[test]
fn with_web_submission_disabled_the_jar_endpoints_do_not_exist() {
    let cluster = LocalCluster::start(1, 1, &["web.submit.enable=false"]);
    let (status, _) = upload_jar(&cluster.rest, &example("word_count"));
    assert_eq!(status, 404);
    let (status, _) = request(
        &cluster.rest,
        "GET /jars HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        &[],
    );
    assert_eq!(status, 404);
    // The rest of the API is still there.
    assert!(cluster.get("/overview")["taskmanagers"].is_number());
}

/// Polls (up to `secs`) until `ready` holds.
fn eventually(
    cluster: &LocalCluster,
    secs: u64,
    what: &str,
    ready: impl Fn(&LocalCluster) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !ready(cluster) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen; jobs {}\n{}",
            cluster.get("/jobs/overview"),
            cluster.jobmanager_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn completed_checkpoints(cluster: &LocalCluster, id: &str) -> u64 {
    cluster.get(&format!("/jobs/{id}/checkpoints"))["counts"]["completed"]
        .as_u64()
        .unwrap_or(0)
}

/// Submits the exactly-once pipeline (detached) with CLI options `extra` and program
/// arguments `program_extra`; returns its job id.
fn submit_pipeline(
    cluster: &LocalCluster,
    extra: &[&str],
    output: &std::path::Path,
    count: u64,
    program_extra: &[&str],
) -> String {
    let program = example("exactly_once_pipeline");
    let checkpoints = format!(
        "file://{}",
        cluster.dir.path().join("checkpoints").display()
    );
    let count = count.to_string();
    let mut args: Vec<&str> = vec!["-d"];
    args.extend_from_slice(extra);
    args.extend([
        program.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--count",
        &count,
        "--keys",
        "20",
        "--rate",
        "4000",
        "--checkpoint-interval",
        "200",
        "--checkpoint-dir",
        &checkpoints,
    ]);
    args.extend_from_slice(program_extra);
    let out = cluster.cli("run", &args);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    cluster_support::submitted_job_id(&out)
}

/// Compares committed output without printing thousands of lines: sizes and the first
/// differences.
fn assert_same_lines(actual: &[String], expected: &[String]) {
    if actual == expected {
        return;
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|l| !actual.contains(l))
        .take(5)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let doubled: Vec<&String> = actual.iter().filter(|l| !seen.insert(*l)).take(5).collect();
    panic!(
        "committed {} lines, a failure-free run commits {}; missing e.g. {missing:?}; duplicated e.g. {doubled:?}",
        actual.len(),
        expected.len()
    );
}

/// What a failure-free run of the pipeline commits: `(k,1)` .. `(k,n_k)` for each key.
fn expected_lines(count: u64, keys: u64) -> Vec<String> {
    let mut lines: Vec<String> = (0..keys)
        .flat_map(|k| {
            let n = (count + keys - 1 - k) / keys;
            (1..=n).map(move |c| format!("({k},{c})"))
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_killed_task_manager_recovers_from_the_latest_checkpoint_with_exactly_once_output() {
    let mut cluster = LocalCluster::start(
        2,
        1,
        &[
            "heartbeat.interval=200 ms",
            "heartbeat.timeout=3 s",
            "slot.request.timeout=60 s",
            "restart-strategy.fixed-delay.delay=200 ms",
        ],
    );
    let output = cluster.dir.path().join("out");
    let count = 24_000;
    let id = submit_pipeline(&cluster, &["-p", "2"], &output, count, &[]);
    eventually(&cluster, 60, "two completed checkpoints", |c| {
        completed_checkpoints(c, &id) >= 2
    });

    // kill -9 one TaskManager and its worker, as a crashed machine would.
    let tm = cluster.task_managers[0].id();
    for worker in children(tm) {
        unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    }
    unsafe { libc::kill(tm as i32, libc::SIGKILL) };
    cluster.add_task_manager();
    eventually(&cluster, 120, "the job to finish", |c| {
        c.job_state(&id) == "FINISHED"
    });
    let job = cluster.get(&format!("/jobs/{id}"));
    assert!(
        job["timestamps"]["RESTARTING"].as_i64().unwrap_or(0) > 0,
        "{job}"
    );
    let restored = cluster.get(&format!("/jobs/{id}/checkpoints"))["counts"]["restored"].as_u64();
    assert!(restored >= Some(1), "restored from a checkpoint");
    assert_same_lines(&committed_lines(&output), &expected_lines(count, 20));
}

/// What is killed in the region failover tests.
enum Kill {
    /// The job's worker process on the first TaskManager: the region restarts in its slot.
    Worker,
    /// The first TaskManager and its worker: the region restarts in a replacement's slot.
    TaskManager,
}

/// Runs the forward-only pipeline at parallelism 2 on two TaskManagers (subtask 0 and 1 are
/// two regions, one per TaskManager), kills per `kill`, and checks that only the hit region
/// restarted and the output is exactly-once.
fn region_failover_after(kill: Kill) {
    let mut cluster = LocalCluster::start(
        2,
        1,
        &[
            "heartbeat.interval=200 ms",
            "heartbeat.timeout=3 s",
            "restart-strategy.fixed-delay.delay=200 ms",
        ],
    );
    let output = cluster.dir.path().join("out");
    let count = 24_000;
    let id = submit_pipeline(&cluster, &["-p", "2"], &output, count, &["--forward"]);
    eventually(&cluster, 60, "two completed checkpoints", |c| {
        completed_checkpoints(c, &id) >= 2
    });
    let workers: Vec<Vec<u32>> = cluster
        .task_managers
        .iter()
        .map(|tm| children(tm.id()))
        .collect();
    assert!(
        workers.iter().all(|w| w.len() == 1),
        "one worker per TaskManager: {workers:?}"
    );
    let (killed, survivor) = (workers[0][0], workers[1][0]);
    unsafe { libc::kill(killed as i32, libc::SIGKILL) };
    if let Kill::TaskManager = kill {
        unsafe { libc::kill(cluster.task_managers[0].id() as i32, libc::SIGKILL) };
        cluster.add_task_manager();
    }
    eventually(&cluster, 60, "a restore from a checkpoint", |c| {
        c.get(&format!("/jobs/{id}/checkpoints"))["counts"]["restored"].as_u64() >= Some(1)
    });
    assert!(
        is_alive(survivor),
        "the worker running the other region was left alone"
    );
    eventually(&cluster, 120, "the job to finish", |c| {
        c.job_state(&id) == "FINISHED"
    });
    let job = cluster.get(&format!("/jobs/{id}"));
    assert!(
        job["timestamps"]["RESTARTING"].as_i64().unwrap_or(0) == 0,
        "a region restart keeps the job RUNNING: {job}"
    );
    let mut expected: Vec<String> = (0..count).map(|i| format!("({},{i})", i % 20)).collect();
    expected.sort();
    assert_same_lines(&committed_lines(&output), &expected);
}

#[test]
fn a_killed_worker_restarts_only_its_pipelined_region_and_the_output_stays_exactly_once() {
    region_failover_after(Kill::Worker);
}

#[test]
fn a_killed_task_manager_restarts_only_its_regions_in_a_replacement_slot() {
    region_failover_after(Kill::TaskManager);
}

#[test]
fn stop_with_drain_on_workers_publishes_every_record_read_before_the_stop_exactly_once() {
    let cluster = LocalCluster::start(2, 2, &[]);
    let output = cluster.dir.path().join("out");
    let id = submit_pipeline(&cluster, &["-p", "2"], &output, 1_000_000, &[]);
    eventually(&cluster, 60, "a completed checkpoint", |c| {
        completed_checkpoints(c, &id) >= 1
    });
    let target = cluster.dir.path().join("savepoints");
    let out = cluster.cli("stop", &["-d", "-p", target.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Savepoint completed. Path: "),
        "{}",
        stdout(&out)
    );
    eventually(&cluster, 60, "the stopped job to finish", |c| {
        c.job_state(&id) == "FINISHED"
    });
    // Every key's running count is committed once per value, from 1 without a gap: all the
    // records read before the stop, none twice, none lost at the end.
    let mut counts: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for line in committed_lines(&output) {
        let (k, c) = line
            .trim_matches(|ch| ch == '(' || ch == ')')
            .split_once(',')
            .unwrap();
        counts
            .entry(k.parse().unwrap())
            .or_default()
            .push(c.parse().unwrap());
    }
    assert_eq!(counts.len(), 20, "every key was read before the stop");
    let mut total = 0;
    for (k, mut values) in counts {
        values.sort_unstable();
        let n = values.len() as u64;
        assert_eq!(values, (1..=n).collect::<Vec<_>>(), "key {k}");
        total += n;
    }
    assert!(
        total < 1_000_000,
        "the stop came before the end of the input"
    );
}

#[test]
fn a_savepoint_taken_with_the_cli_resumes_at_another_parallelism_with_its_state() {
    let cluster = LocalCluster::start(2, 2, &[]);
    let first_output = cluster.dir.path().join("first");
    let count = 40_000;
    let id = submit_pipeline(&cluster, &["-p", "2"], &first_output, count, &[]);
    eventually(&cluster, 60, "a completed checkpoint", |c| {
        completed_checkpoints(c, &id) >= 1
    });
    let target = cluster.dir.path().join("savepoints");
    let out = cluster.cli("savepoint", &[&id, target.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains(&format!("Triggering savepoint for job {id}.")),
        "{text}"
    );
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("Savepoint completed. Path: "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    let out = cluster.cli("cancel", &[&id]);
    assert!(out.status.success(), "{}", stderr(&out));

    let second_output = cluster.dir.path().join("second");
    let id2 = submit_pipeline(
        &cluster,
        &["-p", "3", "-s", &path],
        &second_output,
        count,
        &[],
    );
    eventually(&cluster, 120, "the restored job to finish", |c| {
        c.job_state(&id2) == "FINISHED"
    });
    assert_eq!(
        cluster.get(&format!("/jobs/{id2}"))["vertices"][0]["parallelism"],
        3
    );
    // The counts go on from the savepoint: no key starts again at 1, and each ends at its total.
    let mut last: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    for line in committed_lines(&second_output) {
        let (k, c) = line
            .trim_matches(|ch| ch == '(' || ch == ')')
            .split_once(',')
            .unwrap();
        let (k, c): (u64, u64) = (k.parse().unwrap(), c.parse().unwrap());
        let e = last.entry(k).or_insert((c, c));
        e.0 = e.0.min(c);
        e.1 = e.1.max(c);
    }
    assert_eq!(last.len(), 20, "{last:?}");
    for (k, (first, final_count)) in last {
        assert!(first > 1, "key {k} started over at {first}");
        assert_eq!(final_count, (count + 19 - k) / 20, "key {k}");
    }
}
