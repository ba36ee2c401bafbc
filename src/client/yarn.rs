//! The YARN deployment targets of the command line: `yarn-session` (start, attach, stop,
//! query), `run -t yarn-per-job` / `-m yarn-cluster`, `run-application -t yarn-application`,
//! and finding a session's JobManager (by `yarn.application.id` / `-yid`, or through the YARN
//! properties file a session writes) for `run`, `list` and `cancel`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::program::{self, ProgramError};
use crate::cluster::jobmanager::Submission;
use crate::config::{options, Configuration};
use crate::yarn::appmaster::DeploymentMode;
use crate::yarn::descriptor::{hadoop_user, DeploySpec, YarnClusterDescriptor};
use crate::yarn::rest::{FinalApplicationStatus, YarnApplicationState};

/// Key of the application id in the YARN properties file (Flink's).
const PROPERTIES_APPLICATION_ID: &str = "applicationID";

fn error(e: impl std::fmt::Display) -> ProgramError {
    ProgramError::Program(e.to_string())
}

fn anyhow_error(e: anyhow::Error) -> ProgramError {
    ProgramError::Program(format!("{e:#}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, ProgramError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| error(format!("could not start the YARN client: {e}")))
}

/// `<yarn.properties-file.location or the temp dir>/.yarn-properties-<user>`.
pub fn properties_file(config: &Configuration) -> Result<PathBuf, ProgramError> {
    let dir = config
        .get_optional(&options::YARN_PROPERTIES_FILE_LOCATION)?
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    Ok(dir.join(format!(".yarn-properties-{}", hadoop_user())))
}

/// The session application id in the properties file, if there is one.
fn application_id_from_properties(config: &Configuration) -> Result<Option<String>, ProgramError> {
    let path = properties_file(config)?;
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let id = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == PROPERTIES_APPLICATION_ID)
        .map(|(_, v)| v.trim().to_string());
    if let Some(id) = &id {
        eprintln!("Found Yarn properties file under {}.", path.display());
        tracing::info!("YARN properties file {} names {id}", path.display());
    }
    Ok(id)
}

fn write_properties(config: &Configuration, app_id: &str) -> Result<(), ProgramError> {
    let path = properties_file(config)?;
    let text = format!(
        "#Generated YARN properties file\n{PROPERTIES_APPLICATION_ID}={app_id}\ndynamicPropertiesString=\n"
    );
    std::fs::write(&path, text).map_err(|e| {
        error(format!(
            "could not write the YARN properties file {}: {e}",
            path.display()
        ))
    })?;
    eprintln!("Wrote the YARN properties file {}", path.display());
    Ok(())
}

/// Removes the properties file if it names `app_id`.
fn remove_properties(config: &Configuration, app_id: &str) -> Result<(), ProgramError> {
    if application_id_from_properties(config)?.as_deref() == Some(app_id) {
        let _ = std::fs::remove_file(properties_file(config)?);
    }
    Ok(())
}

/// The application id `-yid` / `-Dyarn.application.id` names.
fn configured_application_id(config: &Configuration) -> Result<Option<String>, ProgramError> {
    Ok(config
        .get_optional(&options::YARN_APPLICATION_ID)?
        .filter(|id| !id.is_empty()))
}

/// The REST address (`host:port`) of a running YARN cluster's JobManager.
pub fn jobmanager_address(config: &Configuration, app_id: &str) -> Result<String, ProgramError> {
    let descriptor = YarnClusterDescriptor::new(config).map_err(anyhow_error)?;
    let url = runtime()?
        .block_on(descriptor.web_interface(app_id))
        .map_err(anyhow_error)?;
    Ok(url.trim_start_matches("http://").to_string())
}

/// The session to submit to when `run` names no JobManager: `-yid` / `yarn.application.id`,
/// else the one in the properties file.
pub fn session_from_config_or_properties(
    config: &Configuration,
) -> Result<Option<String>, ProgramError> {
    match configured_application_id(config)? {
        Some(id) => Ok(Some(id)),
        None => application_id_from_properties(config),
    }
}

/// The JobManager of the YARN cluster `-t yarn-*` with `yarn.application.id` addresses.
pub fn addressed_jobmanager(config: &Configuration) -> Result<String, ProgramError> {
    let Some(app_id) = session_from_config_or_properties(config)? else {
        return Err(ProgramError::Usage(
            "No YARN application given: use -Dyarn.application.id=<id> (or -yid <id>)".into(),
        ));
    };
    jobmanager_address(config, &app_id)
}

fn print_deployed(app_id: &str, web: &str) {
    println!("YARN application has been deployed successfully.");
    println!(
        "Found Web Interface {} of application '{app_id}'.",
        web.trim_start_matches("http://")
    );
    println!("Application ID: {app_id}");
    println!("JobManager Web Interface: {web}");
}

/// Options of `strato yarn-session` that change the configuration.
#[derive(Debug, Default, Clone)]
pub struct SessionOptions {
    pub detached: bool,
    pub ship: Vec<PathBuf>,
    pub application_id: Option<String>,
    pub query: bool,
}

/// `strato yarn-session`: starts a session (or attaches with `-id`, or queries with `-q`).
pub fn yarn_session(config: &Configuration, opts: &SessionOptions) -> Result<(), ProgramError> {
    let descriptor = YarnClusterDescriptor::new(config).map_err(anyhow_error)?;
    let rt = runtime()?;
    if opts.query {
        return rt.block_on(query(&descriptor));
    }
    let (app_id, web) = match &opts.application_id {
        Some(app_id) => {
            let web = rt
                .block_on(descriptor.web_interface(app_id))
                .map_err(anyhow_error)?;
            println!("Attached to the YARN session {app_id}");
            println!("JobManager Web Interface: {web}");
            (app_id.clone(), web)
        }
        None => {
            let spec = DeploySpec {
                mode: DeploymentMode::Session,
                program: None,
                program_args: Vec::new(),
                job_submission: None,
                ship: opts.ship.clone(),
            };
            let cluster = rt
                .block_on(descriptor.deploy(&spec))
                .map_err(anyhow_error)?;
            print_deployed(&cluster.application_id, &cluster.web_interface);
            write_properties(config, &cluster.application_id)?;
            (cluster.application_id, cluster.web_interface)
        }
    };
    if opts.detached && opts.application_id.is_none() {
        println!("The Strato YARN session cluster has been started in detached mode. In order to stop Strato gracefully, use the following command:");
        println!("$ echo \"stop\" | strato yarn-session -id {app_id}");
        println!("If this should not be possible, then you can also kill Strato via YARN's web interface or via:");
        println!("$ yarn application -kill {app_id}");
        println!(
            "Note that killing Strato might not clean up all job artifacts and temporary files."
        );
        return Ok(());
    }
    println!("Type 'stop' or 'quit' (or press Ctrl-C) to stop the YARN session.");
    rt.block_on(attached(&descriptor, config, &app_id, &web))
}

/// `-q`: the cluster's NodeManagers and free resources.
async fn query(descriptor: &YarnClusterDescriptor) -> Result<(), ProgramError> {
    let metrics = descriptor
        .rest()
        .cluster_metrics()
        .await
        .map_err(|e| error(format!("Could not query the YARN cluster: {e}")))?;
    let nodes = descriptor
        .rest()
        .nodes()
        .await
        .map_err(|e| error(format!("Could not query the YARN nodes: {e}")))?;
    println!("NodeManagers in the ClusterClient {}", nodes.len());
    println!("|Property         |Value          |");
    println!("+---------------------------------------+");
    println!("|Total Memory     |{} MB", metrics.total_mb);
    println!("|Available Memory |{} MB", metrics.available_mb);
    println!("|Total vcores     |{}", metrics.total_virtual_cores);
    println!("|Available vcores |{}", metrics.available_virtual_cores);
    println!("|Active nodes     |{}", metrics.active_nodes);
    println!("+---------------------------------------+");
    Ok(())
}

/// Attached: waits for `stop`/`quit` on stdin or Ctrl-C, then stops the cluster; returns
/// early if the application ends on its own.
async fn attached(
    descriptor: &YarnClusterDescriptor,
    config: &Configuration,
    app_id: &str,
    web: &str,
) -> Result<(), ProgramError> {
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut stdin_open = true;
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            line = lines.recv(), if stdin_open => match line {
                Some(l) if matches!(l.trim(), "stop" | "quit") => break,
                Some(_) => println!("Unknown command. Type 'stop' or 'quit' to stop the YARN session."),
                None => stdin_open = false,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = poll.tick() => {
                if let Ok(report) = descriptor.rest().application(app_id).await {
                    if report.state.is_final() {
                        println!("The YARN application {app_id} ended {} ({:?}): {}", report.state.name(), report.final_status, report.diagnostics);
                        let _ = descriptor.remove_staging(app_id).await;
                        return remove_properties(config, app_id);
                    }
                }
            }
        }
    }
    stop_session(descriptor, config, app_id, web).await
}

/// Asks the JobManager to shut the cluster down (`DELETE /cluster`), waits for the
/// application to end and removes what it left; kills it through YARN if it does not answer.
async fn stop_session(
    descriptor: &YarnClusterDescriptor,
    config: &Configuration,
    app_id: &str,
    web: &str,
) -> Result<(), ProgramError> {
    println!("Stopping the YARN session {app_id}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(error)?;
    let asked = http
        .delete(format!("{web}/cluster"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    let ended = if asked {
        tokio::time::timeout(Duration::from_secs(60), descriptor.wait_for_end(app_id))
            .await
            .ok()
            .and_then(Result::ok)
    } else {
        None
    };
    match ended {
        Some(report) => println!(
            "The YARN application {app_id} ended {} ({:?}).",
            report.state.name(),
            report.final_status
        ),
        None => {
            eprintln!("The JobManager did not shut down; killing {app_id} through YARN.");
            descriptor.kill(app_id).await.map_err(anyhow_error)?;
        }
    }
    remove_properties(config, app_id)
}

/// `strato run -t yarn-per-job`: plans the program, deploys a cluster for its job; attached,
/// waits for the application to end and reports the job's result.
pub fn run_per_job(
    program_path: &Path,
    args: &[String],
    config: &Configuration,
    detached: bool,
    shutdown_on_attached_exit: bool,
    ship: &[PathBuf],
) -> Result<(), ProgramError> {
    let descriptor = YarnClusterDescriptor::new(config).map_err(anyhow_error)?;
    let plan = program::plan(program_path, args, config)?;
    let job_id = plan.job_graph.job_id.to_string();
    let submission = serde_json::to_vec(&Submission::planned(plan, String::new(), args, config))
        .map_err(|e| error(format!("could not encode the job submission: {e}")))?;
    let spec = DeploySpec {
        mode: DeploymentMode::PerJob,
        program: Some(program_path.display().to_string()),
        program_args: args.to_vec(),
        job_submission: Some(submission),
        ship: ship.to_vec(),
    };
    let rt = runtime()?;
    let cluster = rt
        .block_on(descriptor.deploy(&spec))
        .map_err(anyhow_error)?;
    print_deployed(&cluster.application_id, &cluster.web_interface);
    println!("Job has been submitted with JobID {job_id}");
    if detached {
        return Ok(());
    }
    let app_id = &cluster.application_id;
    let report = rt
        .block_on(async {
            tokio::select! {
                report = descriptor.wait_for_end(app_id) => report,
                _ = tokio::signal::ctrl_c(), if shutdown_on_attached_exit => {
                    eprintln!("Shutting down the cluster {app_id} (-sae)");
                    descriptor.kill(app_id).await?;
                    descriptor.wait_for_end(app_id).await
                }
            }
        })
        .map_err(anyhow_error)?;
    match (report.state, report.final_status) {
        (YarnApplicationState::FINISHED, FinalApplicationStatus::SUCCEEDED) => {
            println!("Program execution finished");
            println!("Job with JobID {job_id} has finished.");
            println!(
                "Job Runtime: {} ms",
                (report.finished_time - report.launch_time.max(report.started_time)).max(0)
            );
            Ok(())
        }
        (_, FinalApplicationStatus::KILLED) | (YarnApplicationState::KILLED, _) => Err(error(
            format!("Job {job_id} was cancelled (application {}).", report.id),
        )),
        _ => Err(error(format!(
            "Job {job_id} failed (application {} ended {} with final status {:?}).\nCaused by: {}",
            report.id,
            report.state.name(),
            report.final_status,
            report.diagnostics
        ))),
    }
}

/// `strato run-application -t yarn-application`: the program (a local path or a `file://` /
/// `hdfs://` URI) runs in the application master; returns once the application runs.
pub fn run_application(
    program: &str,
    args: &[String],
    config: &Configuration,
) -> Result<(), ProgramError> {
    let descriptor = YarnClusterDescriptor::new(config).map_err(anyhow_error)?;
    let spec = DeploySpec {
        mode: DeploymentMode::Application,
        program: Some(program.to_string()),
        program_args: args.to_vec(),
        job_submission: None,
        ship: Vec::new(),
    };
    let cluster = runtime()?
        .block_on(descriptor.deploy(&spec))
        .map_err(anyhow_error)?;
    print_deployed(&cluster.application_id, &cluster.web_interface);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_properties_file_names_the_session_until_that_session_stops() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Configuration::new();
        config.set(
            options::YARN_PROPERTIES_FILE_LOCATION.key,
            dir.path().display().to_string(),
        );
        assert_eq!(application_id_from_properties(&config).unwrap(), None);
        write_properties(&config, "application_1_0001").unwrap();
        assert_eq!(
            session_from_config_or_properties(&config)
                .unwrap()
                .as_deref(),
            Some("application_1_0001")
        );
        // An explicit id wins over the file.
        let mut explicit = config.clone();
        explicit.set(options::YARN_APPLICATION_ID.key, "application_1_0002");
        assert_eq!(
            session_from_config_or_properties(&explicit)
                .unwrap()
                .as_deref(),
            Some("application_1_0002")
        );
        // Stopping another application leaves the file; stopping the named one removes it.
        remove_properties(&config, "application_1_0002").unwrap();
        assert!(properties_file(&config).unwrap().exists());
        remove_properties(&config, "application_1_0001").unwrap();
        assert!(!properties_file(&config).unwrap().exists());
    }
}
