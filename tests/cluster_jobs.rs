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
