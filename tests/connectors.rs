//! Specifications of the built-in sources and sinks.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use strato::connectors::datagen::{random_for_index, DataGeneratorSource};
use strato::{StreamExecutionEnvironment, WriteMode};

fn local_env(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env
}

#[test]
fn the_socket_source_splits_text_at_the_delimiter_and_ends_when_the_connection_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"hello\nworld\r\npartial ").unwrap();
        std::thread::sleep(Duration::from_millis(150));
        conn.write_all(b"line\nlast").unwrap();
    });
    let lines = local_env(1)
        .socket_text_stream("127.0.0.1", port, "\n", 0)
        .execute_and_collect("socket")
        .unwrap();
    server.join().unwrap();
    assert_eq!(lines, vec!["hello", "world", "partial line", "last"]);
}

#[test]
fn the_socket_source_reconnects_up_to_max_retry_times() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for text in [&b"a;b;"[..], b"c;"] {
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(text).unwrap();
        }
    });
    let records = local_env(1)
        .socket_text_stream("127.0.0.1", port, ";", 1)
        .execute_and_collect("socket retry")
        .unwrap();
    server.join().unwrap();
    assert_eq!(records, vec!["a", "b", "c"]);
}

#[test]
fn an_unreachable_socket_without_retries_fails_the_job_naming_the_address() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = local_env(1)
        .socket_text_stream("127.0.0.1", port, "\n", 0)
        .execute_and_collect("no server")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("could not connect to socket 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn the_data_generator_produces_each_index_once_across_subtasks() {
    let out = local_env(3)
        .from_source(DataGeneratorSource::new(|i| i * 2, Some(1000)))
        .execute_and_collect("datagen")
        .unwrap();
    let mut sorted = out.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).map(|i| i * 2).collect::<Vec<u64>>());
}

#[test]
fn random_generated_records_are_reproducible_by_index() {
    let run = || {
        let mut out = local_env(2)
            .from_source(DataGeneratorSource::new(
                |i| (i, random_for_index(i, 7).below(100)),
                Some(500),
            ))
            .execute_and_collect("random")
            .unwrap();
        out.sort();
        out
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert!(
        a.iter()
            .map(|(_, v)| *v)
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 50
    );
}

#[test]
fn the_data_generator_respects_its_rate_limit() {
    let started = Instant::now();
    let out = local_env(2)
        .from_source(DataGeneratorSource::new(|i| i, Some(300)).with_rows_per_second(1000.0))
        .execute_and_collect("rate")
        .unwrap();
    assert_eq!(out.len(), 300);
    // 300 rows at 1000 rows/s cannot take much less than 0.3 s.
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn from_sequence_is_inclusive() {
    let mut out = local_env(2)
        .from_sequence(-2, 2)
        .execute_and_collect("seq")
        .unwrap();
    out.sort();
    assert_eq!(out, vec![-2, -1, 0, 1, 2]);
}

#[test]
fn write_as_text_writes_one_file_at_parallelism_one_and_a_file_per_subtask_above() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single.txt");
    let env = local_env(1);
    env.from_elements(vec![("a".to_string(), 1i64), ("b".to_string(), 2)])
        .write_as_text(&single, WriteMode::NoOverwrite);
    env.execute("single").unwrap();
    assert_eq!(std::fs::read_to_string(&single).unwrap(), "(a,1)\n(b,2)\n");

    let parallel = dir.path().join("parallel");
    let env = local_env(3);
    env.from_sequence(1, 30)
        .write_as_text(&parallel, WriteMode::Overwrite);
    env.execute("parallel").unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&parallel)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["1", "2", "3"]);
    let mut all: Vec<i64> = names
        .iter()
        .flat_map(|n| {
            std::fs::read_to_string(parallel.join(n))
                .unwrap()
                .lines()
                .map(|l| l.parse().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    assert_eq!(all, (1..=30).collect::<Vec<_>>());

    // Overwriting at a lower parallelism leaves no stale subtask files behind.
    let env = local_env(2);
    env.from_sequence(1, 4)
        .write_as_text(&parallel, WriteMode::Overwrite);
    env.execute("fewer").unwrap();
    assert_eq!(std::fs::read_dir(&parallel).unwrap().count(), 2);
}

#[test]
fn no_overwrite_mode_refuses_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exists.txt");
    std::fs::write(&path, "precious\n").unwrap();
    let env = local_env(1);
    env.from_sequence(1, 3)
        .write_as_text(&path, WriteMode::NoOverwrite);
    let err = env.execute("no overwrite").unwrap_err().to_string();
    assert!(
        err.contains("already exists") && err.contains("exists.txt"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious\n");
}

#[test]
fn write_as_csv_joins_fields_with_commas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let env = local_env(1);
    env.from_elements(vec![
        ("x".to_string(), 1i64, 2.5f64),
        ("y".to_string(), 2, 0.0),
    ])
    .write_as_csv(&path, WriteMode::Overwrite);
    env.execute("csv").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "x,1,2.5\ny,2,0.0\n"
    );
}

#[test]
fn read_text_file_reads_every_line_of_a_file_in_parallel_splits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.txt");
    let lines: Vec<String> = (0..50_000).map(|i| format!("line number {i}")).collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let mut out = local_env(3)
        .read_text_file(&path)
        .execute_and_collect("read")
        .unwrap();
    out.sort();
    let mut expected = lines.clone();
    expected.sort();
    assert_eq!(out, expected);
}
