//! Command-line actions and flags, named as in Flink's `bin/flink`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use std::path::Path;

use super::program::{self, ProgramError};
use super::remote;
use super::yarn;
use crate::config::{options, Configuration};

#[derive(Parser, Debug)]
#[command(
    name = "strato",
    version,
    about = "Strato: Flink's dataflow engine in Rust",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Compiles and runs a program.
    Run(RunArgs),
    /// Shows the optimized execution plan of the program (JSON).
    Info(InfoArgs),
    /// Lists running and scheduled jobs (all jobs with -a).
    List(ListArgs),
    /// Cancels a running job.
    Cancel(CancelArgs),
    /// Stops a running job with a savepoint (stop-with-savepoint).
    Stop(StopArgs),
    /// Triggers a savepoint of a running job, or disposes one (-d).
    Savepoint(SavepointArgs),
    /// Runs a session cluster's JobManager in the foreground.
    Jobmanager(DaemonArgs),
    /// Runs a TaskManager in the foreground.
    Taskmanager(DaemonArgs),
    /// Runs a JobManager in application mode for one program (standalone-job.sh).
    #[command(name = "standalone-job")]
    StandaloneJob(StandaloneJobArgs),
    /// Starts a long-running Strato session cluster on YARN (or attaches to one with -id)
    #[command(name = "yarn-session")]
    YarnSession(YarnSessionArgs),
    /// Runs an application in application mode: main runs in the cluster
    #[command(name = "run-application")]
    RunApplication(RunApplicationArgs),
}

/// Flink's multi-letter single-dash flags, spelled as clap long options.
const MULTI_LETTER_FLAGS: &[(&str, &str)] = &[
    ("-jm", "--jobManagerMemory"),
    ("-tm", "--taskManagerMemory"),
    ("-nm", "--name"),
    ("-qu", "--queue"),
    ("-at", "--applicationType"),
    ("-nl", "--nodeLabel"),
    ("-id", "--applicationId"),
    ("-yjm", "--yarnjobManagerMemory"),
    ("-ytm", "--yarntaskManagerMemory"),
    ("-ys", "--yarnslots"),
    ("-ynm", "--yarnname"),
    ("-yqu", "--yarnqueue"),
    ("-yt", "--yarnship"),
    ("-yid", "--yarnapplicationId"),
    ("-sae", "--shutdownOnAttachedExit"),
];

/// Rewrites `-yjm 1024`-style flags (and `-yDkey=value`) into forms clap parses. Stops at the
/// program (the first existing file or URI after the action) so its own arguments stay as
/// given.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        if passthrough || i < 2 {
            out.push(arg);
            continue;
        }
        if arg == "--"
            || (!arg.starts_with('-')
                && (Path::new(&arg).is_file() || (arg.contains("://") && !arg.contains('='))))
        {
            passthrough = true;
            out.push(arg);
        } else if let Some((_, long)) = MULTI_LETTER_FLAGS.iter().find(|(short, _)| *short == arg) {
            out.push(long.to_string());
        } else if let Some(property) = arg.strip_prefix("-yD") {
            out.push("--yD".into());
            if !property.is_empty() {
                out.push(property.to_string());
            }
        } else {
            out.push(arg);
        }
    }
    out
}

/// A memory flag with Flink's default unit MB (`-jm 1024` = `1024m`).
fn memory_flag(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        format!("{value}m")
    } else {
        value.to_string()
    }
}

#[derive(Args, Debug)]
pub struct YarnSessionArgs {
    /// If present, runs the job in detached mode
    #[arg(short = 'd', long = "detached")]
    pub detached: bool,
    /// Memory for JobManager Container with optional unit (default: MB)
    #[arg(long = "jobManagerMemory", value_name = "arg")]
    pub job_manager_memory: Option<String>,
    /// Memory per TaskManager Container with optional unit (default: MB)
    #[arg(long = "taskManagerMemory", value_name = "arg")]
    pub task_manager_memory: Option<String>,
    /// Number of slots per TaskManager
    #[arg(short = 's', long = "slots", value_name = "arg")]
    pub slots: Option<u32>,
    /// Set a custom name for the application on YARN
    #[arg(long = "name", value_name = "arg")]
    pub name: Option<String>,
    /// Specify YARN queue
    #[arg(long = "queue", value_name = "arg")]
    pub queue: Option<String>,
    /// Set a custom application type for the application on YARN
    #[arg(long = "applicationType", value_name = "arg")]
    pub application_type: Option<String>,
    /// Specify YARN node label for the YARN application
    #[arg(long = "nodeLabel", value_name = "arg")]
    pub node_label: Option<String>,
    /// Ship files in the specified directory (t for transfer)
    #[arg(short = 't', long = "ship", value_name = "arg", action = clap::ArgAction::Append)]
    pub ship: Vec<PathBuf>,
    /// Attach to running YARN session
    #[arg(long = "applicationId", value_name = "arg")]
    pub application_id: Option<String>,
    /// Display available YARN resources (memory, cores)
    #[arg(short = 'q', long = "query")]
    pub query: bool,
    /// Namespace to create the Zookeeper sub-paths for high availability mode
    #[arg(short = 'z', long = "zookeeperNamespace", value_name = "arg")]
    pub zookeeper_namespace: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Args, Debug)]
pub struct RunApplicationArgs {
    /// The deployment target for the application: `yarn-application`
    #[arg(short = 't', long = "target", value_name = "target", value_parser = ["yarn-application"])]
    pub target: String,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The job binary: a local path or a file:// / hdfs:// URI
    pub program: String,
    /// Arguments for the program
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `run`'s YARN flags (`-yjm -ytm -ys -ynm -yqu -yt -yid -yD`).
#[derive(Args, Debug, Clone, Default)]
pub struct YarnRunArgs {
    /// Memory for JobManager Container with optional unit (default: MB)
    #[arg(long = "yarnjobManagerMemory", value_name = "arg")]
    pub job_manager_memory: Option<String>,
    /// Memory per TaskManager Container with optional unit (default: MB)
    #[arg(long = "yarntaskManagerMemory", value_name = "arg")]
    pub task_manager_memory: Option<String>,
    /// Number of slots per TaskManager
    #[arg(long = "yarnslots", value_name = "arg")]
    pub slots: Option<u32>,
    /// Set a custom name for the application on YARN
    #[arg(long = "yarnname", value_name = "arg")]
    pub name: Option<String>,
    /// Specify YARN queue
    #[arg(long = "yarnqueue", value_name = "arg")]
    pub queue: Option<String>,
    /// Ship files in the specified directory (t for transfer)
    #[arg(long = "yarnship", value_name = "arg", action = clap::ArgAction::Append)]
    pub ship: Vec<PathBuf>,
    /// Attach to running YARN session
    #[arg(long = "yarnapplicationId", value_name = "arg")]
    pub application_id: Option<String>,
    /// Dynamic properties for the YARN cluster (-yD key=value)
    #[arg(id = "yarn_dynamic_properties", long = "yD", value_name = "property=value", action = clap::ArgAction::Append)]
    pub dynamic_properties: Vec<String>,
}

impl YarnRunArgs {
    /// Applies the flags over the configuration.
    fn apply(&self, config: &mut Configuration) -> Result<(), ProgramError> {
        config.apply_dynamic_properties(self.dynamic_properties.iter().map(String::as_str))?;
        apply_cluster_flags(
            config,
            &ClusterFlags {
                job_manager_memory: self.job_manager_memory.as_deref(),
                task_manager_memory: self.task_manager_memory.as_deref(),
                slots: self.slots,
                name: self.name.as_deref(),
                queue: self.queue.as_deref(),
                application_type: None,
                node_label: None,
                application_id: self.application_id.as_deref(),
                zookeeper_namespace: None,
            },
        );
        Ok(())
    }
}

/// Cluster flags shared by `yarn-session` and `run -y*`.
struct ClusterFlags<'a> {
    job_manager_memory: Option<&'a str>,
    task_manager_memory: Option<&'a str>,
    slots: Option<u32>,
    name: Option<&'a str>,
    queue: Option<&'a str>,
    application_type: Option<&'a str>,
    node_label: Option<&'a str>,
    application_id: Option<&'a str>,
    zookeeper_namespace: Option<&'a str>,
}

fn apply_cluster_flags(config: &mut Configuration, flags: &ClusterFlags<'_>) {
    let text = |v: Option<&str>| v.map(str::to_string);
    let entries = [
        (
            options::JOBMANAGER_PROCESS_SIZE.key,
            flags.job_manager_memory.map(memory_flag),
        ),
        (
            options::TASKMANAGER_PROCESS_SIZE.key,
            flags.task_manager_memory.map(memory_flag),
        ),
        (
            options::NUM_TASK_SLOTS.key,
            flags.slots.map(|s| s.to_string()),
        ),
        (options::YARN_APPLICATION_NAME.key, text(flags.name)),
        (options::YARN_APPLICATION_QUEUE.key, text(flags.queue)),
        (
            options::YARN_APPLICATION_TYPE.key,
            text(flags.application_type),
        ),
        (
            options::YARN_APPLICATION_NODE_LABEL.key,
            text(flags.node_label),
        ),
        (options::YARN_APPLICATION_ID.key, text(flags.application_id)),
        (options::HA_CLUSTER_ID.key, text(flags.zookeeper_namespace)),
    ];
    for (key, value) in entries {
        if let Some(value) = value {
            config.set(key, value);
        }
    }
}

/// How to reach a running JobManager.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Address (host:port) of the JobManager's REST endpoint to connect to
    #[arg(short = 'm', long = "jobmanager", value_name = "host:port")]
    pub jobmanager: Option<String>,
    /// The deployment target (`remote` for a standalone cluster; `yarn-session`,
    /// `yarn-per-job`, `yarn-application` with -Dyarn.application.id or -yid)
    #[arg(short = 't', long = "target", value_name = "target", value_parser = ["remote", "yarn-session", "yarn-per-job", "yarn-application"])]
    pub target: Option<String>,
    /// The YARN application to address
    #[arg(long = "yarnapplicationId", value_name = "arg")]
    pub yarn_application_id: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

impl ClusterArgs {
    /// The JobManager REST address: `-m`, or the YARN cluster named by the target, `-yid`
    /// / `yarn.application.id`, or the YARN properties file.
    fn jobmanager(&self, config: &mut Configuration) -> Result<Option<String>, ProgramError> {
        if let Some(id) = &self.yarn_application_id {
            config.set(options::YARN_APPLICATION_ID.key, id.clone());
        }
        if self.jobmanager.is_some() || self.target.as_deref() == Some("remote") {
            return Ok(self.jobmanager.clone());
        }
        if self
            .target
            .as_deref()
            .is_some_and(|t| t.starts_with("yarn-"))
        {
            return yarn::addressed_jobmanager(config).map(Some);
        }
        match yarn::session_from_config_or_properties(config)? {
            Some(app_id) => yarn::jobmanager_address(config, &app_id).map(Some),
            None => Ok(None),
        }
    }
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Show only running programs and their JobIDs
    #[arg(short = 'r', long = "running")]
    pub running: bool,
    /// Show only scheduled programs and their JobIDs
    #[arg(short = 's', long = "scheduled")]
    pub scheduled: bool,
    /// Show all programs and their JobIDs
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Args, Debug)]
pub struct CancelArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The id of the job to cancel
    #[arg(value_name = "jobId")]
    pub job_id: String,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Path of the savepoint directory (default: state.savepoints.dir)
    #[arg(short = 'p', long = "savepointPath", value_name = "savepointPath")]
    pub savepoint_path: Option<String>,
    /// Send MAX_WATERMARK before taking the savepoint and stopping the pipeline
    #[arg(short = 'd', long = "drain")]
    pub drain: bool,
    /// The id of the job to stop
    #[arg(value_name = "jobId")]
    pub job_id: String,
}

#[derive(Args, Debug)]
pub struct SavepointArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Path of the savepoint to dispose
    #[arg(short = 'd', long = "dispose", value_name = "savepointPath")]
    pub dispose: Option<String>,
    /// The id of the job to take a savepoint of
    #[arg(value_name = "jobId", required_unless_present = "dispose")]
    pub job_id: Option<String>,
    /// Directory to write the savepoint to (default: state.savepoints.dir)
    #[arg(value_name = "targetDirectory")]
    pub target_directory: Option<String>,
}

#[derive(Args, Debug)]
pub struct StandaloneJobArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Path to a savepoint to restore the job from
    #[arg(short = 's', long = "fromSavepoint", value_name = "savepointPath")]
    pub from_savepoint: Option<String>,
    /// Allow to skip savepoint state that cannot be restored
    #[arg(short = 'n', long = "allowNonRestoredState")]
    pub allow_non_restored_state: bool,
    /// The job binary the JobManager runs
    #[arg(long = "program", value_name = "program")]
    pub program: PathBuf,
    /// Arguments for the program
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Options every action that resolves a configuration takes.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Generic configuration options for execution/deployment, e.g. -Dparallelism.default=2
    #[arg(short = 'D', value_name = "property=value", action = clap::ArgAction::Append)]
    pub dynamic_properties: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The parallelism with which to run the program; overrides parallelism.default
    #[arg(short = 'p', long = "parallelism", value_name = "parallelism")]
    pub parallelism: Option<u32>,
    /// Run the job in detached mode: return once it is submitted
    #[arg(short = 'd', long = "detached")]
    pub detached: bool,
    /// The deployment target for the job: `local` (embedded executor), `remote` (a running
    /// session cluster, see -m), `yarn-per-job` (a YARN cluster for this job) or
    /// `yarn-session` (a running YARN session, see -yid)
    #[arg(short = 't', long = "target", value_name = "target", value_parser = ["local", "remote", "yarn-per-job", "yarn-session"])]
    pub target: Option<String>,
    /// Address (host:port) of the JobManager's REST endpoint to submit to (implies -t remote);
    /// `yarn-cluster` deploys a per-job YARN cluster
    #[arg(short = 'm', long = "jobmanager", value_name = "host:port")]
    pub jobmanager: Option<String>,
    /// Path to a savepoint to restore the job from (e.g. hdfs:///flink/savepoint-1537)
    #[arg(short = 's', long = "fromSavepoint", value_name = "savepointPath")]
    pub from_savepoint: Option<String>,
    /// Allow to skip savepoint state that cannot be restored (an operator was removed)
    #[arg(short = 'n', long = "allowNonRestoredState")]
    pub allow_non_restored_state: bool,
    /// Shut the per-job cluster down when the attached client exits
    #[arg(long = "shutdownOnAttachedExit")]
    pub shutdown_on_attached_exit: bool,
    #[command(flatten)]
    pub yarn: YarnRunArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The job binary to run
    pub program: PathBuf,
    /// Arguments for the program
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The parallelism with which to plan the program; overrides parallelism.default
    #[arg(short = 'p', long = "parallelism", value_name = "parallelism")]
    pub parallelism: Option<u32>,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The job binary to plan
    pub program: PathBuf,
    /// Arguments for the program
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Conf file, then `-D`, then `-p`; validated, unknown keys warned about.
pub fn resolve_configuration(
    args: &ConfigArgs,
    parallelism: Option<u32>,
) -> Result<Configuration, ProgramError> {
    let mut config = Configuration::load_default()?;
    config.apply_dynamic_properties(args.dynamic_properties.iter().map(String::as_str))?;
    if let Some(p) = parallelism {
        if p == 0 {
            return Err(ProgramError::Usage(
                "invalid value '0' for '-p': the parallelism must be at least 1".into(),
            ));
        }
        config.set(options::PARALLELISM_DEFAULT.key, p.to_string());
    }
    for key in config.validate()? {
        tracing::warn!("Unknown configuration key '{key}' (ignored)");
        eprintln!("WARNING: unknown configuration key '{key}' (ignored)");
    }
    Ok(config)
}

/// `strato run`: local, a standalone or YARN session, or a per-job YARN cluster.
fn run(args: &RunArgs, config: &mut Configuration) -> Result<(), ProgramError> {
    let target = args.target.as_deref();
    let per_job =
        target == Some("yarn-per-job") || args.jobmanager.as_deref() == Some("yarn-cluster");
    if per_job {
        config.set(options::EXECUTION_TARGET.key, "yarn-per-job");
        return yarn::run_per_job(
            &args.program,
            &args.args,
            config,
            args.detached,
            args.shutdown_on_attached_exit,
            &args.yarn.ship,
        );
    }
    let jobmanager = match (target, &args.jobmanager) {
        (Some("local"), _) => None,
        (_, Some(m)) => Some(m.clone()),
        (Some("remote"), None) => None,
        (Some("yarn-session"), None) => Some(yarn::addressed_jobmanager(config)?),
        _ => match yarn::session_from_config_or_properties(config)? {
            Some(app_id) => Some(yarn::jobmanager_address(config, &app_id)?),
            None => None,
        },
    };
    if jobmanager.is_some() || target == Some("remote") {
        remote::run(
            &args.program,
            &args.args,
            config,
            jobmanager.as_deref(),
            args.detached,
        )
    } else {
        program::run_local(&args.program, &args.args, config, args.detached)
    }
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
        }
    };
    match &cli.action {
        // The daemons log to their (rolling) files once their configuration is known.
        Action::Jobmanager(_) | Action::Taskmanager(_) | Action::StandaloneJob(_) => {}
        _ => crate::util::logging::init(),
    }
    let result = match cli.action {
        Action::Run(args) => {
            resolve_configuration(&args.config, args.parallelism).and_then(|mut config| {
                if let Some(path) = &args.from_savepoint {
                    config.set(options::SAVEPOINT_PATH.key, path.clone());
                }
                if args.allow_non_restored_state {
                    config.set(options::SAVEPOINT_IGNORE_UNCLAIMED_STATE.key, "true");
                }
                args.yarn.apply(&mut config)?;
                run(&args, &mut config)
            })
        }
        Action::YarnSession(args) => {
            resolve_configuration(&args.config, None).and_then(|mut config| {
                apply_cluster_flags(
                    &mut config,
                    &ClusterFlags {
                        job_manager_memory: args.job_manager_memory.as_deref(),
                        task_manager_memory: args.task_manager_memory.as_deref(),
                        slots: args.slots,
                        name: args.name.as_deref(),
                        queue: args.queue.as_deref(),
                        application_type: args.application_type.as_deref(),
                        node_label: args.node_label.as_deref(),
                        application_id: None,
                        zookeeper_namespace: args.zookeeper_namespace.as_deref(),
                    },
                );
                yarn::yarn_session(
                    &config,
                    &yarn::SessionOptions {
                        detached: args.detached,
                        ship: args.ship.clone(),
                        application_id: args.application_id.clone(),
                        query: args.query,
                    },
                )
            })
        }
        Action::RunApplication(args) => resolve_configuration(&args.config, None)
            .and_then(|config| yarn::run_application(&args.program, &args.args, &config)),
        Action::List(args) => {
            resolve_configuration(&args.cluster.config, None).and_then(|config| {
                let any = args.running || args.scheduled || args.all;
                let show = remote::ListSelection {
                    running: !any || args.running || args.all,
                    scheduled: !any || args.scheduled || args.all,
                    terminated: args.all,
                };
                let mut config = config;
                let jobmanager = args.cluster.jobmanager(&mut config)?;
                remote::list(&config, jobmanager.as_deref(), show)
            })
        }
        Action::Cancel(args) => {
            resolve_configuration(&args.cluster.config, None).and_then(|mut config| {
                let jobmanager = args.cluster.jobmanager(&mut config)?;
                remote::cancel(&config, jobmanager.as_deref(), &args.job_id)
            })
        }
        Action::Stop(args) => {
            resolve_configuration(&args.cluster.config, None).and_then(|mut config| {
                let jobmanager = args.cluster.jobmanager(&mut config)?;
                remote::stop(
                    &config,
                    jobmanager.as_deref(),
                    &args.job_id,
                    args.savepoint_path.as_deref(),
                    args.drain,
                )
            })
        }
        Action::Savepoint(args) => {
            resolve_configuration(&args.cluster.config, None).and_then(|mut config| {
                match (&args.dispose, &args.job_id) {
                    (Some(path), _) => remote::dispose_savepoint(path),
                    (None, Some(job_id)) => {
                        let jobmanager = args.cluster.jobmanager(&mut config)?;
                        remote::savepoint(
                            &config,
                            jobmanager.as_deref(),
                            job_id,
                            args.target_directory.as_deref(),
                        )
                    }
                    (None, None) => Err(ProgramError::Usage(
                        "savepoint needs a job id, or -d <savepointPath> to dispose one".into(),
                    )),
                }
            })
        }
        Action::Jobmanager(args) => resolve_configuration(&args.config, None).and_then(|config| {
            crate::cluster::entrypoint::init_logging(&config);
            // Started by YARN as an application master?
            match crate::yarn::appmaster::DeploymentMode::from_env() {
                Some(Ok(mode)) => crate::yarn::appmaster::run(config, mode),
                Some(Err(e)) => Err(anyhow::anyhow!(e)),
                None => crate::cluster::entrypoint::run_jobmanager(config),
            }
            .map_err(|e| ProgramError::Program(format!("{e:#}")))
        }),
        Action::StandaloneJob(args) => {
            resolve_configuration(&args.config, None).and_then(|mut config| {
                crate::cluster::entrypoint::init_logging(&config);
                if let Some(path) = &args.from_savepoint {
                    config.set(options::SAVEPOINT_PATH.key, path.clone());
                }
                if args.allow_non_restored_state {
                    config.set(options::SAVEPOINT_IGNORE_UNCLAIMED_STATE.key, "true");
                }
                match crate::cluster::entrypoint::run_standalone_job(
                    config,
                    &args.program,
                    &args.args,
                ) {
                    Ok(crate::runtime::job_master::JobStatus::Finished) => Ok(()),
                    Ok(status) => Err(ProgramError::Program(format!(
                        "the application's job ended {status:?}"
                    ))),
                    Err(e) => Err(ProgramError::Program(format!("{e:#}"))),
                }
            })
        }
        Action::Taskmanager(args) => resolve_configuration(&args.config, None).and_then(|config| {
            crate::cluster::entrypoint::init_logging(&config);
            crate::cluster::entrypoint::run_taskmanager(config)
                .map_err(|e| ProgramError::Program(format!("{e:#}")))
        }),
        Action::Info(args) => resolve_configuration(&args.config, args.parallelism)
            .and_then(|config| program::info(&args.program, &args.args, &config)),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!();
            eprintln!("------------------------------------------------------------");
            eprintln!(" The program finished with the following exception:");
            eprintln!();
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_action_has_a_consistent_definition() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flinks_multi_letter_flags_are_rewritten_up_to_the_program() {
        let program = std::env::current_exe().unwrap().display().to_string();
        let args: Vec<String> = [
            "strato", "run", "-yjm", "1024", "-yDa=b", "-yD", "c=d", "-yid", "app_1", &program,
            "-yjm", "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let normalized = normalize_args(args);
        assert_eq!(
            normalized[2..10],
            [
                "--yarnjobManagerMemory",
                "1024",
                "--yD",
                "a=b",
                "--yD",
                "c=d",
                "--yarnapplicationId",
                "app_1"
            ]
        );
        // The program's own arguments stay as given.
        assert_eq!(normalized[11..], ["-yjm", "x"]);
        assert_eq!(memory_flag("1024"), "1024m");
        assert_eq!(memory_flag("1 gb"), "1 gb");
    }
}
