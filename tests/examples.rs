//! The examples run and print what their docs promise.

mod support;

use std::io::Write;
use std::process::Command;

use support::*;

fn run_example(name: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(example(name))
        .args(args)
        .env_remove("STRATO_CONF_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{name} failed: {}", stderr(&out));
    (stdout(&out), stderr(&out))
}

#[test]
fn session_windows_bridges_alices_sessions_with_the_late_click() {
    let (out, _) = run_example("session_windows", &[]);
    assert!(out.contains("alice: session 0..100 min, 4 clicks"), "{out}");
    assert!(out.contains("bob: session 50..80 min, 1 clicks"), "{out}");
}

#[test]
fn top_speed_windowing_reports_speeds_and_sends_the_late_reading_aside() {
    let (out, err) = run_example("top_speed_windowing", &[]);
    assert!(out.contains("car 0 top speed"), "{out}");
    assert!(
        !out.contains("250 km/h"),
        "the late reading must not reach a window: {out}"
    );
    assert!(
        err.contains(
            "LATE reading dropped from the windows: Reading { car: 1, speed_kmh: 250, time: 3000 }"
        ),
        "{err}"
    );
}

#[test]
fn interval_join_matches_shipments_within_the_interval() {
    let (out, _) = run_example("interval_join", &[]);
    let mut lines: Vec<&str> = out
        .lines()
        .map(|l| l.split_once("> ").map_or(l, |(_, r)| r))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "order 1 (book) shipped by post +60 min after ordering",
            "order 3 (desk) shipped by freight -30 min after ordering"
        ]
    );
}

#[test]
fn connected_streams_alerts_above_the_threshold() {
    let (out, _) = run_example("connected_streams", &[]);
    assert!(out.contains("ALERT: lab at 30.5 C"), "{out}");
    assert!(out.contains("ok: hall at 19.5 C"), "{out}");
}

#[test]
fn streaming_word_count_emits_rolling_counts_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::File::create(&input)
        .unwrap()
        .write_all(b"to be or not to be\n")
        .unwrap();
    let (out, _) = run_example(
        "streaming_word_count",
        &["--input", input.to_str().unwrap()],
    );
    let counts: Vec<&str> = out
        .lines()
        .map(|l| l.split_once("> ").map_or(l, |(_, r)| r))
        .collect();
    for expected in ["(to,1)", "(to,2)", "(be,2)", "(or,1)", "(not,1)"] {
        assert!(counts.contains(&expected), "{expected} missing from {out}");
    }
}

#[test]
fn socket_window_word_count_counts_words_per_window() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"hello world hello\n").unwrap();
        // Keep the connection open past one 5 s window so it fires, then close.
        std::thread::sleep(std::time::Duration::from_millis(5600));
    });
    let (out, _) = run_example(
        "socket_window_word_count",
        &["--hostname", "127.0.0.1", "--port", &port],
    );
    server.join().unwrap();
    assert!(out.contains("WordWithCount{word=hello, count=2}"), "{out}");
    assert!(out.contains("WordWithCount{word=world, count=1}"), "{out}");
}
