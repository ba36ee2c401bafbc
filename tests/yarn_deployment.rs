//! Strato on YARN end to end, against the mini YARN with real processes: a detached session
//! shared by two jobs, per-job clusters (success and failure), application mode with provided
//! lib dirs, the same with a mini HDFS as the default file system, and deployments refused
//! before anything is left behind.

#[path = "cluster_support/mod.rs"]
mod cluster_support;
mod support;
#[path = "yarn_support/mod.rs"]
mod yarn_support;

use std::path::Path;

use strato::yarn::rest::{FinalApplicationStatus, YarnApplicationState};
use support::{example, read_counts, reference_word_count, stderr, stdout, write_corpus};
use yarn_support::{line_value, Yarn};

/// `run` arguments of a BATCH word count.
fn word_count_args(input: &str, output: &str) -> Vec<String> {
    vec![
        example("word_count").display().to_string(),
        "--input".into(),
        input.into(),
        "--output".into(),
        output.into(),
        "--execution-mode".into(),
        "BATCH".into(),
    ]
}

fn run_ok(yarn: &Yarn, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = yarn.cli(&args);
    assert!(
        out.status.success(),
        "strato {args:?} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Waits for the application to end and checks it succeeded.
fn assert_succeeded(yarn: &Yarn, app: &str) {
    let report = yarn.final_report(app);
    assert_eq!(
        report.final_status,
        FinalApplicationStatus::SUCCEEDED,
        "{}",
        report.diagnostics
    );
}

/// Ids of the TaskManagers registered with the JobManager at `web` (`host:port`).
fn task_manager_ids(web: &str) -> Vec<String> {
    cluster_support::http_get(web, "/taskmanagers")["taskmanagers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `yarn-session -d` with extra flags; its application id.
fn start_session(yarn: &Yarn, flags: &[&str]) -> String {
    let args = [&["yarn-session", "-d"], flags].concat();
    let out = run_ok(
        yarn,
        &args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    let text = stdout(&out);
    assert!(
        line_value(&text, "JobManager Web Interface: ").starts_with("http://127.0.0.1:"),
        "{text}"
    );
    line_value(&text, "Application ID: ")
}

#[test]
fn a_detached_session_runs_two_jobs_lists_them_and_stops_without_leftovers() {
    let yarn = Yarn::start(false);
    let ship = yarn.dir.path().join("shipped");
    std::fs::create_dir_all(ship.join("nested")).unwrap();
    std::fs::write(ship.join("nested/lookup.txt"), "shipped data").unwrap();
    let app = start_session(
        &yarn,
        &[
            "-t",
            ship.to_str().unwrap(),
            "-nm",
            "shared-session",
            "-D",
            "resourcemanager.taskmanager-timeout=500ms",
        ],
    );
    assert_eq!(yarn.app(&app).state, YarnApplicationState::RUNNING);
    assert_eq!(yarn.app(&app).name, "shared-session");
    let staged = yarn.tree(&format!("{}/{app}", yarn.staging_root()));
    for file in [
        "strato",
        "conf/strato-conf.yaml",
        "shipped/nested/lookup.txt",
    ] {
        assert!(
            staged.contains(&file.to_string()),
            "{file} not in {staged:?}"
        );
    }
    assert_eq!(yarn.app(&app).application_type, "Strato");
    let properties = yarn
        .dir
        .path()
        .join(format!(".yarn-properties-{}", yarn_support::USER));
    assert!(std::fs::read_to_string(&properties)
        .unwrap()
        .contains(&format!("applicationID={app}")));
    assert_eq!(yarn.list(&yarn.staging_root()), vec![app.clone()]);

    let input = yarn.dir.path().join("words.txt");
    let text = write_corpus(&input, 50_000);
    let input = input.display().to_string();
    // One job finds the session through the properties file, one through its id.
    let first_out = yarn.dir.path().join("first");
    let first = run_ok(
        &yarn,
        &[
            vec!["run".into()],
            word_count_args(&input, &first_out.display().to_string()),
        ]
        .concat(),
    );
    let second_out = yarn.dir.path().join("second");
    let second = run_ok(
        &yarn,
        &[
            vec![
                "run".into(),
                "-t".into(),
                "yarn-session".into(),
                format!("-Dyarn.application.id={app}"),
            ],
            word_count_args(&input, &second_out.display().to_string()),
        ]
        .concat(),
    );
    let expected = reference_word_count(&text);
    assert_eq!(read_counts(&first_out), expected);
    assert_eq!(read_counts(&second_out), expected);
    let first_id = line_value(&stdout(&first), "Job has been submitted with JobID ");
    let second_id = line_value(&stdout(&second), "Job has been submitted with JobID ");

    let listed = run_ok(
        &yarn,
        &[
            "list".into(),
            "-a".into(),
            "-t".into(),
            "yarn-session".into(),
            "-yid".into(),
            app.clone(),
        ],
    );
    let listing = stdout(&listed);
    for id in [&first_id, &second_id] {
        assert!(
            listing.contains(&format!("{id} : WordCount (FINISHED)")),
            "{listing}"
        );
    }

    // Idle TaskManagers go back to YARN: only the application master's container stays.
    yarn.wait_for("idle TaskManagers to be released", |y| {
        y.live_containers() == 1
    });

    let stopped = yarn.cli_with_stdin(&["yarn-session", "-id", &app], "stop\n");
    assert!(
        stopped.status.success(),
        "{}\n{}",
        stdout(&stopped),
        stderr(&stopped)
    );
    let report = yarn.final_report(&app);
    assert_eq!(report.state, YarnApplicationState::FINISHED);
    assert_eq!(report.final_status, FinalApplicationStatus::SUCCEEDED);
    yarn.wait_for("the session's containers to go", |y| {
        y.live_containers() == 0
    });
    assert!(yarn.list(&yarn.staging_root()).is_empty());
    assert!(!properties.exists());
}

#[test]
fn a_per_job_cluster_runs_its_word_count_and_finishes_the_application() {
    let yarn = Yarn::start(false);
    let input = yarn.dir.path().join("words.txt");
    let text = write_corpus(&input, 50_000);
    let output = yarn.dir.path().join("counts");
    let out = run_ok(
        &yarn,
        &[
            vec![
                "run".into(),
                "-t".into(),
                "yarn-per-job".into(),
                "-ynm".into(),
                "wc-per-job".into(),
            ],
            word_count_args(&input.display().to_string(), &output.display().to_string()),
        ]
        .concat(),
    );
    let text_out = stdout(&out);
    let app = line_value(&text_out, "Application ID: ");
    let job = line_value(&text_out, "Job has been submitted with JobID ");
    assert!(
        text_out.contains(&format!("Job with JobID {job} has finished.")),
        "{text_out}"
    );
    assert_eq!(read_counts(&output), reference_word_count(&text));
    let report = yarn.app(&app);
    assert_eq!(report.name, "wc-per-job");
    assert_eq!(report.state, YarnApplicationState::FINISHED);
    assert_eq!(report.final_status, FinalApplicationStatus::SUCCEEDED);
    assert!(yarn.list(&yarn.staging_root()).is_empty());
}

#[test]
fn a_failing_per_job_job_fails_the_application_with_the_cause_in_the_client_output() {
    let yarn = Yarn::start(false);
    let missing = yarn
        .dir
        .path()
        .join("no-such-input.txt")
        .display()
        .to_string();
    let output = yarn.dir.path().join("counts").display().to_string();
    let args = [
        vec!["run".into(), "-m".into(), "yarn-cluster".into()],
        word_count_args(&missing, &output),
    ]
    .concat();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = yarn.cli(&args);
    assert!(!out.status.success());
    let app = line_value(&stdout(&out), "Application ID: ");
    let err = stderr(&out);
    assert!(err.contains("failed"), "{err}");
    assert!(
        err.contains(&missing),
        "the cause names the missing input: {err}"
    );
    let report = yarn.app(&app);
    assert_eq!(report.final_status, FinalApplicationStatus::FAILED);
    assert!(
        report.diagnostics.contains(&missing),
        "{}",
        report.diagnostics
    );
    assert!(yarn.list(&yarn.staging_root()).is_empty());
}

/// A directory standing for pre-uploaded runtime files (hard links, else copies: the file
/// status must be the file's own, as on HDFS).
fn provided_lib_dir(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let strato = std::path::PathBuf::from(env!("CARGO_BIN_EXE_strato"));
    for (source, name) in [
        (strato, "strato"),
        (example("word_count_pipeline"), "word_count_pipeline"),
    ] {
        let target = dir.join(name);
        if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target).unwrap();
        }
    }
    format!("file://{}", dir.display())
}

#[test]
fn application_mode_with_provided_lib_dirs_uploads_only_configuration_and_runs_every_job() {
    let yarn = Yarn::start(false);
    let provided = provided_lib_dir(&yarn.dir.path().join("provided"));
    let input = yarn.dir.path().join("words.txt");
    let text = write_corpus(&input, 2_000_000);
    let output = yarn.dir.path().join("out");
    let program = format!("{provided}/word_count_pipeline");
    let out = run_ok(
        &yarn,
        &[
            "run-application".into(),
            "-t".into(),
            "yarn-application".into(),
            format!("-Dyarn.provided.lib.dirs={provided}"),
            program,
            "--input".into(),
            input.display().to_string(),
            "--output".into(),
            output.display().to_string(),
        ],
    );
    let app = line_value(&stdout(&out), "Application ID: ");
    let staged = yarn.tree(&format!("{}/{app}", yarn.staging_root()));
    assert!(
        staged
            .iter()
            .all(|f| f == "conf/strato-conf.yaml" || f.starts_with("hadoop-conf/")),
        "only configuration is uploaded: {staged:?}"
    );
    assert_succeeded(&yarn, &app);
    // main ran in the application master: both of its jobs, the second after the first.
    support::assert_word_count_pipeline_output(&output, &text);
    assert!(yarn.list(&yarn.staging_root()).is_empty());
}

#[test]
fn with_hdfs_as_default_file_system_a_session_and_a_per_job_cluster_stage_and_write_there() {
    let yarn = Yarn::start(true);
    let hdfs = yarn.hdfs.as_ref().unwrap().uri();
    let local_input = yarn.dir.path().join("words.txt");
    let text = write_corpus(&local_input, 50_000);
    let input = format!("{hdfs}/in/words.txt");
    {
        let (fs, path) = strato::fs::FileSystems::new(strato::fs::FsConfig::with_default_fs(&hdfs))
            .unwrap()
            .resolve(&input)
            .unwrap();
        fs.copy_from_local(
            &local_input,
            &path,
            &strato::fs::CreateOptions::overwrite(),
            &mut |_, _| {},
        )
        .unwrap();
    }
    let expected = reference_word_count(&text);

    let app = start_session(&yarn, &[]);
    assert_eq!(yarn.list(&yarn.staging_root()), vec![app.clone()]);
    let session_out = format!("{hdfs}/out/session");
    run_ok(
        &yarn,
        &[vec!["run".into()], word_count_args(&input, &session_out)].concat(),
    );
    let local = yarn.dir.path().join("session-counts");
    yarn.fetch_dir(&session_out, &local);
    assert_eq!(read_counts(&local), expected);
    let stopped = yarn.cli_with_stdin(&["yarn-session", "-id", &app], "stop\n");
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    assert_eq!(
        yarn.final_report(&app).final_status,
        FinalApplicationStatus::SUCCEEDED
    );

    let per_job_out = format!("{hdfs}/out/per-job");
    let out = run_ok(
        &yarn,
        &[
            vec!["run".into(), "-t".into(), "yarn-per-job".into()],
            word_count_args(&input, &per_job_out),
        ]
        .concat(),
    );
    let per_job_app = line_value(&stdout(&out), "Application ID: ");
    assert_eq!(
        yarn.app(&per_job_app).final_status,
        FinalApplicationStatus::SUCCEEDED
    );
    let local = yarn.dir.path().join("per-job-counts");
    yarn.fetch_dir(&per_job_out, &local);
    assert_eq!(read_counts(&local), expected);
    assert!(yarn.list(&yarn.staging_root()).is_empty());
}

#[test]
fn bad_deployments_are_refused_before_anything_is_left_behind() {
    let yarn = Yarn::start(false);
    let program = example("word_count").display().to_string();
    let refused = |args: &[&str], expected: &str| {
        let out = yarn.cli(args);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            stdout(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err}"
        );
        assert!(
            yarn.list(&yarn.staging_root()).is_empty(),
            "{args:?} left staging files"
        );
        assert!(
            yarn.apps()
                .iter()
                .all(|a| a.state != YarnApplicationState::RUNNING),
            "{args:?} left a running application"
        );
    };
    // A staging directory that cannot be created (its parent is a file).
    let blocker = yarn.dir.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let blocked_staging = format!("-Dyarn.staging-directory={}", blocker.join("sub").display());
    let missing_lib_dir = "-Dyarn.provided.lib.dirs=file:///no/such/dir";
    let cases: [(&[&str], &str); 8] = [
        (
            &["yarn-session", "-d", "-nl", "gpu"],
            "Invalid label resource request",
        ),
        (
            &["yarn-session", "-d", "-qu", "no-such-queue"],
            "The specified queue 'no-such-queue' does not exist",
        ),
        (
            &["yarn-session", "-d", "-jm", "100000"],
            "Maximum Memory: 4096 MB Requested: 100000 MB",
        ),
        (
            &["yarn-session", "-d", "-tm", "8g"],
            "for the TaskManagers available",
        ),
        (
            &["run", "-t", "yarn-per-job", "/no/such/program"],
            "/no/such/program",
        ),
        (
            &[
                "run-application",
                "-t",
                "yarn-application",
                missing_lib_dir,
                &program,
            ],
            "yarn.provided.lib.dirs: the directory 'file:///no/such/dir'",
        ),
        (
            &[
                "run-application",
                "-t",
                "yarn-application",
                "file:///no/such/program",
            ],
            "'file:///no/such/program' does not exist",
        ),
        (
            &["yarn-session", "-d", &blocked_staging],
            "Could not upload to the staging directory",
        ),
    ];
    for (args, expected) in cases {
        refused(args, expected);
    }

    // An unreachable ResourceManager: a clear error, quickly.
    let dead = yarn.dir.path().join("dead-conf");
    std::fs::create_dir_all(&dead).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dead.join("yarn-site.xml"),
        format!("<configuration><property><name>yarn.resourcemanager.webapp.address</name><value>127.0.0.1:{port}</value></property></configuration>"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = yarn
        .strato()
        .env("YARN_CONF_DIR", &dead)
        .args(["yarn-session", "-d"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Could not reach the YARN ResourceManager"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A million distinct words: counting them needs ~200 MB of keyed state, more than a 128 MB
/// container can hold for the TaskManager and its worker.
fn write_distinct_words(path: &Path) {
    let mut text = String::new();
    for line in 0..100_000 {
        let words: Vec<String> = (0..10).map(|w| format!("w{}", line * 10 + w)).collect();
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn in_a_session_the_failure_cause_of_a_job_names_its_memory_killed_container() {
    let yarn = Yarn::start_with_memory_check(false, std::time::Duration::from_millis(100));
    let input = yarn.dir.path().join("words.txt");
    write_distinct_words(&input);
    let app = start_session(&yarn, &["-tm", "128"]);
    let output = yarn.dir.path().join("counts").display().to_string();
    let args = [
        vec!["run".to_string()],
        word_count_args(&input.display().to_string(), &output),
    ]
    .concat();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = yarn.cli(&args);
    assert!(!out.status.success());
    let job = line_value(&stdout(&out), "Job has been submitted with JobID ");
    let web = yarn.app(&app).am_rpc_address.unwrap();
    // The worker dies first; YARN's reason follows when the NodeManager reports the container.
    yarn.wait_for("the container's exit in the failure cause", |_| {
        let exceptions = cluster_support::http_get(&web, &format!("/jobs/{job}/exceptions"));
        exceptions["root-exception"].as_str().is_some_and(|cause| {
            cause.contains("exit code -104 (killed for exceeding its physical memory limit)")
        })
    });
}

#[test]
fn a_task_manager_killed_for_exceeding_its_memory_fails_the_job_with_yarns_diagnostics() {
    let yarn = Yarn::start_with_memory_check(false, std::time::Duration::from_millis(100));
    let input = yarn.dir.path().join("words.txt");
    write_distinct_words(&input);
    let output = yarn.dir.path().join("counts").display().to_string();
    let args = [
        vec![
            "run".into(),
            "-t".into(),
            "yarn-per-job".into(),
            "-ytm".into(),
            "128".into(),
        ],
        word_count_args(&input.display().to_string(), &output),
    ]
    .concat();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = yarn.cli(&args);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("exit code -104 (killed for exceeding its physical memory limit)"),
        "{err}"
    );
    assert!(err.contains("beyond the 'PHYSICAL' memory limit"), "{err}");
    let app = line_value(&stdout(&out), "Application ID: ");
    assert_eq!(yarn.app(&app).final_status, FinalApplicationStatus::FAILED);
}

#[test]
fn a_dead_task_manager_container_is_replaced_and_cancelling_the_job_ends_the_application() {
    let yarn = Yarn::start(false);
    let (_server, port) = cluster_support::silent_socket_server();
    let out = run_ok(
        &yarn,
        &[
            "run",
            "-d",
            "-t",
            "yarn-per-job",
            "-Drestart-strategy=fixed-delay",
            "-Drestart-strategy.fixed-delay.attempts=3",
            "-Drestart-strategy.fixed-delay.delay=100 ms",
            &example("streaming_word_count").display().to_string(),
            "--hostname",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ]
        .map(String::from),
    );
    let text = stdout(&out);
    let app = line_value(&text, "Application ID: ");
    let web = line_value(&text, "JobManager Web Interface: http://");
    let job = line_value(&text, "Job has been submitted with JobID ");
    let running = |_: &Yarn| {
        let details = cluster_support::http_get(&web, &format!("/jobs/{job}"));
        details["state"] == "RUNNING"
            && details["vertices"]
                .as_array()
                .is_some_and(|v| v.iter().all(|v| v["status"] == "RUNNING"))
    };
    let task_managers = || task_manager_ids(&web);
    yarn.wait_for("the job to run", running);
    let first = task_managers();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("container_"), "{first:?}");

    let pid = yarn
        .process_of_container(&first[0], "taskmanager")
        .expect("the TaskManager process");
    // SAFETY: kill(2) on a process this test's cluster started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    yarn.wait_for("a replacement TaskManager", |_| {
        let now = task_managers();
        now.len() == 1 && now[0] != first[0]
    });
    yarn.wait_for("the job to run again", running);

    let cancelled = run_ok(
        &yarn,
        &["cancel", "-t", "yarn-per-job", "-yid", &app, &job].map(String::from),
    );
    assert!(stdout(&cancelled).contains(&format!("Cancelled job {job}.")));
    let report = yarn.final_report(&app);
    assert_eq!(
        report.final_status,
        FinalApplicationStatus::KILLED,
        "{}",
        report.diagnostics
    );
    yarn.wait_for("the staging directory to go", |y| {
        y.list(&y.staging_root()).is_empty()
    });
}

#[test]
fn an_attached_session_stops_when_stop_is_typed_and_query_shows_the_cluster() {
    use std::io::{BufRead, Write};
    let yarn = Yarn::start(false);
    let query = run_ok(&yarn, &["yarn-session", "-q"].map(String::from));
    assert!(
        stdout(&query).contains("NodeManagers in the ClusterClient 2"),
        "{}",
        stdout(&query)
    );

    let mut session = yarn
        .strato()
        .arg("yarn-session")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(session.stdout.take().unwrap()).lines();
    let app = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("Application ID: ").map(str::to_string))
        .expect("the session prints its application id");
    assert_eq!(yarn.app(&app).state, YarnApplicationState::RUNNING);
    let mut stdin = session.stdin.take().unwrap();
    writeln!(stdin, "status").unwrap();
    writeln!(stdin, "stop").unwrap();
    assert!(session.wait().unwrap().success());
    let report = yarn.final_report(&app);
    assert_eq!(report.state, YarnApplicationState::FINISHED);
    assert_eq!(report.final_status, FinalApplicationStatus::SUCCEEDED);
    assert!(yarn.list(&yarn.staging_root()).is_empty());
}

/// Every visible line under `dir` (hidden in-progress/pending files skipped), sorted.
fn committed_lines(yarn: &Yarn, dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = yarn
        .tree(&dir.display().to_string())
        .into_iter()
        .filter(|f| !f.split('/').any(|part| part.starts_with('.')))
        .flat_map(|f| {
            let text = std::fs::read_to_string(dir.join(f)).unwrap();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_checkpointed_per_job_job_survives_the_kill_of_its_task_manager_container_exactly_once() {
    let yarn = Yarn::start(false);
    let output = yarn.dir.path().join("out");
    let checkpoints = format!("file://{}", yarn.dir.path().join("checkpoints").display());
    let (count, keys) = (24_000u64, 20u64);
    let out = run_ok(
        &yarn,
        &[
            "run",
            "-d",
            "-p",
            "2",
            "-t",
            "yarn-per-job",
            "-Drestart-strategy=fixed-delay",
            "-Drestart-strategy.fixed-delay.attempts=3",
            "-Drestart-strategy.fixed-delay.delay=200 ms",
            &example("exactly_once_pipeline").display().to_string(),
            "--output",
            output.to_str().unwrap(),
            "--count",
            &count.to_string(),
            "--keys",
            &keys.to_string(),
            "--rate",
            "4000",
            "--checkpoint-interval",
            "200",
            "--checkpoint-dir",
            &checkpoints,
        ]
        .map(String::from),
    );
    let text = stdout(&out);
    let app = line_value(&text, "Application ID: ");
    let web = line_value(&text, "JobManager Web Interface: http://");
    let job = line_value(&text, "Job has been submitted with JobID ");
    yarn.wait_for("two completed checkpoints", |_| {
        let stats = cluster_support::http_get(&web, &format!("/jobs/{job}/checkpoints"));
        stats["counts"]["completed"].as_u64().unwrap_or(0) >= 2
    });
    let task_managers = || task_manager_ids(&web);
    let first = task_managers();
    assert_eq!(
        first.len(),
        2,
        "one single-slot container per subtask: {first:?}"
    );

    // kill -9 the TaskManager and its worker, as a crashed machine would.
    let tm = yarn
        .process_of_container(&first[0], "taskmanager")
        .expect("the TaskManager process");
    for worker in cluster_support::children(tm) {
        // SAFETY: kill(2) on processes this test's cluster started.
        unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    }
    // SAFETY: as above.
    unsafe { libc::kill(tm as i32, libc::SIGKILL) };

    assert_succeeded(&yarn, &app);
    // Exactly once: a failure-free run's lines, `(k,1)` .. `(k,n_k)` for each key.
    let mut expected: Vec<String> = (0..keys)
        .flat_map(|k| (1..=(count + keys - 1 - k) / keys).map(move |c| format!("({k},{c})")))
        .collect();
    expected.sort();
    let committed = committed_lines(&yarn, &output);
    assert_eq!(committed.len(), expected.len());
    let missing: Vec<&String> = expected
        .iter()
        .filter(|l| !committed.contains(l))
        .take(5)
        .collect();
    let extra: Vec<&String> = committed
        .iter()
        .filter(|l| !expected.contains(l))
        .take(5)
        .collect();
    assert!(
        committed == expected,
        "the committed output differs from a failure-free run: missing {missing:?}, extra {extra:?}"
    );
    assert!(yarn.list(&yarn.staging_root()).is_empty());
}

#[test]
fn a_session_whose_application_master_crashes_comes_back_in_a_new_attempt_and_runs_jobs() {
    let yarn = Yarn::start(false);
    let app = start_session(&yarn, &["-D", "yarn.application-attempts=2"]);
    let first_address = yarn.app(&app).am_rpc_address.unwrap();
    assert!(yarn.cluster().crash_am(app.parse().unwrap()));
    yarn.wait_for("the second attempt to run", |y| {
        let report = y.app(&app);
        report.state == YarnApplicationState::RUNNING
            && report
                .am_rpc_address
                .is_some_and(|a| !a.is_empty() && a != first_address)
    });
    // The staging directory outlived the first attempt, and the session serves jobs again.
    assert_eq!(yarn.list(&yarn.staging_root()), vec![app.clone()]);
    let input = yarn.dir.path().join("words.txt");
    let text = write_corpus(&input, 20_000);
    let output = yarn.dir.path().join("counts");
    run_ok(
        &yarn,
        &[
            vec!["run".into()],
            word_count_args(&input.display().to_string(), &output.display().to_string()),
        ]
        .concat(),
    );
    assert_eq!(read_counts(&output), reference_word_count(&text));
    let stopped = yarn.cli_with_stdin(&["yarn-session", "-id", &app], "stop\n");
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    assert_succeeded(&yarn, &app);
    assert!(yarn.list(&yarn.staging_root()).is_empty());
}

#[test]
fn savepoint_and_stop_reach_a_job_in_a_yarn_session_through_the_application_id() {
    let yarn = Yarn::start(false);
    let app = start_session(&yarn, &[]);
    let output = yarn.dir.path().join("out");
    let checkpoints = format!("file://{}", yarn.dir.path().join("checkpoints").display());
    let submitted = run_ok(
        &yarn,
        &[
            "run",
            "-d",
            &example("exactly_once_pipeline").display().to_string(),
            "--output",
            output.to_str().unwrap(),
            "--count",
            "100000000",
            "--rate",
            "2000",
            "--checkpoint-interval",
            "200",
            "--checkpoint-dir",
            &checkpoints,
        ]
        .map(String::from),
    );
    let job = line_value(&stdout(&submitted), "Job has been submitted with JobID ");
    let web = yarn.app(&app).am_rpc_address.unwrap();
    yarn.wait_for("a completed checkpoint", |_| {
        let stats = cluster_support::http_get(&web, &format!("/jobs/{job}/checkpoints"));
        stats["counts"]["completed"].as_u64().unwrap_or(0) >= 1
    });
    let target = format!("file://{}", yarn.dir.path().join("savepoints").display());
    let taken = run_ok(
        &yarn,
        &[
            "savepoint",
            "-t",
            "yarn-session",
            "-yid",
            &app,
            &job,
            &target,
        ]
        .map(String::from),
    );
    let path = line_value(&stdout(&taken), "Savepoint completed. Path: ");
    assert!(path.starts_with(&target), "{path}");
    let stopped = run_ok(
        &yarn,
        &[
            "stop",
            "-t",
            "yarn-session",
            &format!("-Dyarn.application.id={app}"),
            "-p",
            &target,
            &job,
        ]
        .map(String::from),
    );
    assert!(stdout(&stopped).contains("Savepoint completed. Path: "));
    let stop = yarn.cli_with_stdin(&["yarn-session", "-id", &app], "stop\n");
    assert!(stop.status.success(), "{}", stderr(&stop));
}
