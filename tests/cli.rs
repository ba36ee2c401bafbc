//! Specifications of the `strato` command line: help, bad flags, bad programs, bad
//! configuration, plans.

mod support;

use std::os::unix::fs::PermissionsExt;
use support::*;

#[test]
fn every_action_prints_help() {
    for args in [vec!["--help"], vec!["run", "-h"], vec!["info", "-h"]] {
        let out = strato().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage"), "{args:?}: {}", stdout(&out));
    }
}

#[test]
fn an_unknown_flag_is_rejected_naming_it() {
    let out = strato().args(["run", "--bogus", "prog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--bogus"), "{}", stderr(&out));
}

#[test]
fn a_bad_parallelism_is_rejected() {
    let out = strato()
        .args(["run", "-p", "zero", "prog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("zero"), "{}", stderr(&out));
    let out = strato()
        .args(["run", "-p", "0"])
        .arg(example("word_count"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid value '0' for '-p'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let out = strato().args(["run", "/no/such/job"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("The program '/no/such/job' does not exist."),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_non_executable_program_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job");
    std::fs::write(&path, "not a program").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = strato().arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not executable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_program_that_builds_no_dataflow_is_a_clear_error() {
    for action in ["run", "info"] {
        let out = strato().args([action, "/bin/true"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{action}");
        assert!(
            stderr(&out).contains("didn't contain a Strato job"),
            "{action}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_invalid_configuration_value_names_key_and_value() {
    let out = strato()
        .args(["run", "-Dparallelism.default=abc"])
        .arg(example("word_count"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid value 'abc' for key 'parallelism.default'"),
        "{}",
        stderr(&out)
    );

    let conf = conf_dir("execution.buffer-timeout: soon\n");
    let out = strato()
        .env("STRATO_CONF_DIR", conf.path())
        .arg("run")
        .arg(example("word_count"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("'soon'") && stderr(&out).contains("execution.buffer-timeout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_configuration_key_is_a_warning_not_an_error() {
    let out = strato()
        .args(["run", "-D", "no.such.key=1"])
        .arg(example("word_count"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no.such.key"), "{}", stderr(&out));
}

#[test]
fn a_failing_job_reports_its_cause_and_exits_non_zero() {
    let out = strato()
        .arg("run")
        .arg(example("word_count"))
        .args(["--input", "/no/such/input.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("The program finished with the following exception"),
        "{err}"
    );
    assert!(err.contains("/no/such/input.txt"), "{err}");
}

#[test]
fn info_prints_the_plan_without_running_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("never-written");
    let out = strato()
        .args(["info", "-p", "3"])
        .arg(example("word_count"))
        .args(["--output", output.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let json = text
        .lines()
        .filter(|l| !l.starts_with("---"))
        .collect::<Vec<_>>()
        .join("\n");
    let plan: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {text}"));
    let nodes = plan["nodes"].as_array().unwrap();
    let types: Vec<_> = nodes.iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        vec![
            "Source: Collection Source",
            "tokenizer",
            "counter",
            "file-sink"
        ]
    );
    assert_eq!(nodes[1]["parallelism"], 3);
    assert!(!output.exists(), "plan mode must not run the job");
}

#[test]
fn detached_run_returns_once_the_job_is_submitted_and_leaves_no_launch_directory_behind() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.txt");
    // The client's launch directory goes under this private temp dir.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = strato()
        .env("TMPDIR", &tmp)
        .args(["run", "-d", "-p", "1"])
        .arg(example("word_count"))
        .args(["--output", output.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Job has been submitted with JobID "),
        "{text}"
    );
    assert!(
        !text.contains("Program execution finished"),
        "detached mode must not wait for the result: {text}"
    );
    // The job goes on without the client and writes its result.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&output).is_ok_and(|t| t.contains("(question,1)")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the detached job did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    } // The program, which took the launch directory over, removes it when it exits.
    while std::fs::read_dir(&tmp).unwrap().next().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the launch directory is still there"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
