//! Command-line actions and flags, named as in Flink's `bin/flink`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::program::{self, ProgramError};
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
    /// The deployment target for the job (only `local` is available so far)
    #[arg(short = 't', long = "target", value_name = "target", value_parser = ["local"])]
    pub target: Option<String>,
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
    crate::util::logging::init();
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
    let result = match cli.action {
        Action::Run(args) => {
            resolve_configuration(&args.config, args.parallelism).and_then(|config| {
                program::run_local(&args.program, &args.args, &config, args.detached)
            })
        }
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
