//! Launching job programs. A job is its own binary: `run` starts it with the resolved
//! configuration (it runs the job on its embedded executor and reports job events back), `info`
//! starts it in plan mode (it writes its JobGraph and plan, then exits).

use std::io::BufRead;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::api::launch::{PlanFile, ENV_CLIENT_CONFIG, ENV_CLIENT_REPORT, ENV_PLAN_OUTPUT};
use crate::config::{ConfigError, Configuration};

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Program(String),
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> ProgramError {
    ProgramError::Program(format!("could not {what} '{}': {e}", path.display()))
}

/// Checks that the program exists and can be executed.
pub(crate) fn check_program(program: &Path) -> Result<PathBuf, ProgramError> {
    let meta = std::fs::metadata(program).map_err(|_| {
        ProgramError::Program(format!(
            "The program '{}' does not exist.",
            program.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(ProgramError::Program(format!(
            "The program '{}' is not a file.",
            program.display()
        )));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(ProgramError::Program(format!(
            "The program '{}' is not executable.",
            program.display()
        )));
    }
    // Run it by an explicit path, never through PATH lookup.
    Ok(
        if program.is_absolute() || program.components().count() > 1 {
            program.to_path_buf()
        } else {
            Path::new(".").join(program)
        },
    )
}

/// A private working directory for one launch, removed afterwards.
pub(crate) fn launch_dir(config: &Configuration) -> Result<tempfile::TempDir, ProgramError> {
    let dir = tempfile::Builder::new()
        .prefix("strato-client-")
        .tempdir()
        .map_err(|e| {
            ProgramError::Program(format!("could not create a temporary directory: {e}"))
        })?;
    let path = dir.path().join("strato-conf.yaml");
    std::fs::write(&path, config.to_yaml_string()).map_err(|e| io_error("write", &path, e))?;
    Ok(dir)
}

const NO_JOB: &str = "The program didn't contain a Strato job. Perhaps you forgot to call execute() on the execution environment.";

/// Job events the program reported.
#[derive(Debug, Default)]
struct Report {
    submitted: Vec<String>,
    finished: Vec<(String, u64)>,
    failed: Vec<(String, String)>,
}

fn read_report(path: &Path) -> Report {
    let mut report = Report::default();
    let Ok(file) = std::fs::File::open(path) else {
        return report;
    };
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let id = event["job_id"].as_str().unwrap_or_default().to_string();
        match event["event"].as_str() {
            Some("submitted") => report.submitted.push(id),
            Some("finished") => report
                .finished
                .push((id, event["runtime_ms"].as_u64().unwrap_or(0))),
            Some("failed") => report.failed.push((
                id,
                event["cause"]
                    .as_str()
                    .unwrap_or("unknown cause")
                    .to_string(),
            )),
            _ => {}
        }
    }
    report
}

/// `strato run` with target `local`: the program runs its job on its embedded executor.
pub fn run_local(
    program: &Path,
    args: &[String],
    config: &Configuration,
    detached: bool,
) -> Result<(), ProgramError> {
    let program = check_program(program)?;
    let dir = launch_dir(config)?;
    let report_path = dir.path().join("report.jsonl");
    let mut child = Command::new(&program)
        .args(args)
        .env(ENV_CLIENT_CONFIG, dir.path().join("strato-conf.yaml"))
        .env(ENV_CLIENT_REPORT, &report_path)
        .env_remove(ENV_PLAN_OUTPUT)
        .spawn()
        .map_err(|e| io_error("start the program", &program, e))?;

    if detached {
        // Return once the job is submitted (or the program ended without submitting one).
        loop {
            if !read_report(&report_path).submitted.is_empty() {
                hand_over(dir, &mut child);
                return Ok(());
            }
            if let Some(status) = child
                .try_wait()
                .map_err(|e| io_error("wait for", &program, e))?
            {
                return finish(status, &read_report(&report_path));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let status = child
        .wait()
        .map_err(|e| io_error("wait for", &program, e))?;
    finish(status, &read_report(&report_path))
}

/// A detached launch leaves the program running with the launch directory (it reports into
/// it, and reads the configuration again for each job): the program removes the directory
/// when it exits ([`crate::api::launch::LAUNCH_DIR_HANDED_OVER`]), or we do, should it have
/// exited already.
fn hand_over(dir: tempfile::TempDir, child: &mut std::process::Child) {
    let dir = dir.keep();
    let _ = std::fs::write(dir.join(crate::api::launch::LAUNCH_DIR_HANDED_OVER), b"");
    if matches!(child.try_wait(), Ok(Some(_))) {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn finish(status: std::process::ExitStatus, report: &Report) -> Result<(), ProgramError> {
    if let Some((_, cause)) = report.failed.first() {
        return Err(ProgramError::Program(cause.clone()));
    }
    if !status.success() {
        return Err(ProgramError::Program(format!(
            "The program ended with an error ({status}); see its output above."
        )));
    }
    if report.submitted.is_empty() {
        return Err(ProgramError::Program(NO_JOB.into()));
    }
    for (id, runtime) in &report.finished {
        println!("Program execution finished");
        println!("Job with JobID {id} has finished.");
        println!("Job Runtime: {runtime} ms");
    }
    Ok(())
}

/// Runs the program in plan mode and returns what it wrote.
pub fn plan(
    program: &Path,
    args: &[String],
    config: &Configuration,
) -> Result<PlanFile, ProgramError> {
    let program = check_program(program)?;
    let dir = launch_dir(config)?;
    let plan_path = dir.path().join("plan.json");
    // The program's own stdout must not mix with the plan we print.
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| {
            ProgramError::Program(format!("could not set up the program's output: {e}"))
        })?;
    let status = Command::new(&program)
        .args(args)
        .env(ENV_CLIENT_CONFIG, dir.path().join("strato-conf.yaml"))
        .env(ENV_PLAN_OUTPUT, &plan_path)
        .env_remove(ENV_CLIENT_REPORT)
        .stdout(Stdio::from(stdout))
        .status()
        .map_err(|e| io_error("start the program", &program, e))?;
    match std::fs::read(&plan_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ProgramError::Program(format!("the program wrote an unreadable plan to '{}': {e}", plan_path.display()))),
        Err(_) if !status.success() => Err(ProgramError::Program(format!("The program ended with an error ({status}) before building a job; see its output above."))),
        Err(_) => Err(ProgramError::Program(NO_JOB.into())),
    }
}

/// `strato info`: prints the execution plan as Flink does.
pub fn info(program: &Path, args: &[String], config: &Configuration) -> Result<(), ProgramError> {
    let plan = plan(program, args, config)?;
    let json = serde_json::to_string_pretty(&plan.plan)
        .map_err(|e| ProgramError::Program(format!("could not print the plan: {e}")))?;
    println!("----------------------- Execution Plan -----------------------");
    println!("{json}");
    println!("--------------------------------------------------------------");
    Ok(())
}
