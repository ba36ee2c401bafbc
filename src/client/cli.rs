//! Command-line actions and flags, named as in Flink's `bin/flink`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::program::{self, ProgramError};
use super::remote;
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
    /// Runs a session cluster's JobManager in the foreground.
    Jobmanager(DaemonArgs),
    /// Runs a TaskManager in the foreground.
    Taskmanager(DaemonArgs),
}

/// How to reach a running JobManager.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Address (host:port) of the JobManager's REST endpoint to connect to
    #[arg(short = 'm', long = "jobmanager", value_name = "host:port")]
    pub jobmanager: Option<String>,
    /// The deployment target (`remote` for a standalone cluster)
    #[arg(short = 't', long = "target", value_name = "target", value_parser = ["remote"])]
    pub target: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
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
    /// The deployment target for the job: `local` (embedded executor) or `remote` (a running
    /// session cluster, see -m)
    #[arg(short = 't', long = "target", value_name = "target", value_parser = ["local", "remote"])]
    pub target: Option<String>,
    /// Address (host:port) of the JobManager's REST endpoint to submit to (implies -t remote)
    #[arg(short = 'm', long = "jobmanager", value_name = "host:port")]
    pub jobmanager: Option<String>,
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

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
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
        Action::Jobmanager(_) | Action::Taskmanager(_) => {
            crate::cluster::entrypoint::init_logging()
        }
        _ => crate::util::logging::init(),
    }
    let result = match cli.action {
        Action::Run(args) => {
            resolve_configuration(&args.config, args.parallelism).and_then(|config| {
                let remote = args.jobmanager.is_some() || args.target.as_deref() == Some("remote");
                if remote {
                    remote::run(
                        &args.program,
                        &args.args,
                        &config,
                        args.jobmanager.as_deref(),
                        args.detached,
                    )
                } else {
                    program::run_local(&args.program, &args.args, &config, args.detached)
                }
            })
        }
        Action::List(args) => {
            resolve_configuration(&args.cluster.config, None).and_then(|config| {
                let any = args.running || args.scheduled || args.all;
                let show = remote::ListSelection {
                    running: !any || args.running || args.all,
                    scheduled: !any || args.scheduled || args.all,
                    terminated: args.all,
                };
                remote::list(&config, args.cluster.jobmanager.as_deref(), show)
            })
        }
        Action::Cancel(args) => {
            resolve_configuration(&args.cluster.config, None).and_then(|config| {
                remote::cancel(&config, args.cluster.jobmanager.as_deref(), &args.job_id)
            })
        }
        Action::Jobmanager(args) => resolve_configuration(&args.config, None).and_then(|config| {
            // Started by YARN as an application master?
            match crate::yarn::appmaster::DeploymentMode::from_env() {
                Some(Ok(mode)) => crate::yarn::appmaster::run(config, mode),
                Some(Err(e)) => Err(anyhow::anyhow!(e)),
                None => crate::cluster::entrypoint::run_jobmanager(config),
            }
            .map_err(|e| ProgramError::Program(format!("{e:#}")))
        }),
        Action::Taskmanager(args) => resolve_configuration(&args.config, None).and_then(|config| {
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
