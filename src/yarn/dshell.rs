//! Distributed shell: a Strato-free YARN application in the spirit of Hadoop's
//! DistributedShell, and the end-to-end proof of the protocol layer. The client submits the
//! running binary itself as the AM through the RM REST API and waits for the final state;
//! the AM registers, asks for N containers, runs the shell command in each through the
//! NodeManagers, collects exit statuses and finishes SUCCEEDED or FAILED.
//!
//! Works against a real Hadoop 3 cluster given its conf dir: with an `hdfs://` default file
//! system the client uploads its own binary to `/user/<user>/.dshell/<application id>/` and
//! registers it as the AM's local resource (size and time from the file status). With a
//! `file://` default (the mini YARN) the binary's own path is used. `--am-resource` (with its
//! size and modification time) names an already uploaded binary instead.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;

use super::amrm::{resource_request, AllocateRequest, AmRmClient};
use super::ids::ContainerId;
use super::launch::{launch_context, local_file_resource};
use super::nm::NmClient;
use super::rest::*;
use crate::hadoop::conf::{self, Configuration};

/// Environment variable carrying the shell command (base64, so no shell quoting is lost
/// through `launch_container.sh`).
const COMMAND_ENV: &str = "DS_SHELL_COMMAND_B64";
/// Key of the AM binary in the AM container's working directory.
const AM_RESOURCE_KEY: &str = "AppMaster";

/// Client options (`Client` of Hadoop's DistributedShell).
#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// Shell command each container runs.
    #[arg(long)]
    pub shell_command: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub num_containers: i32,
    #[arg(long, default_value_t = 128)]
    pub container_memory: i64,
    #[arg(long, default_value_t = 1)]
    pub container_vcores: i32,
    #[arg(long, default_value_t = 128)]
    pub master_memory: i64,
    #[arg(long, default_value_t = 1)]
    pub master_vcores: i32,
    #[arg(long, default_value_t = 2)]
    pub max_app_attempts: i32,
    #[arg(long, default_value = "default")]
    pub queue: String,
    #[arg(long, default_value = "DistributedShell")]
    pub appname: String,
    /// User for the RM's simple authentication (`user.name`); `$USER` by default.
    #[arg(long)]
    pub user: Option<String>,
    /// AM/RM heartbeat interval of the AM, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// The AM binary: a local path (uploaded to the default file system when that is not
    /// `file://`), or the URI of an already uploaded one with its size and timestamp.
    /// Default: this binary.
    #[arg(long)]
    pub am_resource: Option<String>,
    /// Size in bytes of `--am-resource`.
    #[arg(long)]
    pub am_resource_size: Option<i64>,
    /// Modification time (ms since the epoch) of `--am-resource`.
    #[arg(long)]
    pub am_resource_timestamp: Option<i64>,
}

/// AM options, passed on the AM's command line by the client.
#[derive(clap::Args, Clone, Debug)]
pub struct AmArgs {
    #[arg(long)]
    pub num_containers: i32,
    #[arg(long)]
    pub container_memory: i64,
    #[arg(long)]
    pub container_vcores: i32,
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,
}

#[derive(clap::Subcommand, Clone, Debug)]
pub enum DshellCommand {
    /// Run as the ApplicationMaster (started by YARN, not by hand).
    Am(AmArgs),
}

/// Command line of the distributed shell.
#[derive(clap::Parser, Clone, Debug)]
#[command(about = "YARN distributed shell: runs a shell command in N YARN containers")]
pub struct DshellCli {
    #[command(subcommand)]
    pub command: Option<DshellCommand>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Outcome seen by the client.
#[derive(Debug)]
pub struct DshellOutcome {
    pub app_id: String,
    pub report: AppInfo,
    /// Submission (POST) to the first report in a final state.
    pub submit_to_final: Duration,
}

/// Runs the client or the AM; `am_prefix` are the arguments that make this binary's
/// command line reach [`DshellCli`] again (e.g. `["dshell"]` for a subcommand). Returns the
/// process exit code.
pub async fn main_with(cli: DshellCli, am_prefix: &[&str]) -> anyhow::Result<i32> {
    match cli.command {
        Some(DshellCommand::Am(args)) => Ok(if run_application_master(&args).await? {
            0
        } else {
            1
        }),
        None => {
            let conf =
                Configuration::load_from_env().context("loading the Hadoop configuration")?;
            let outcome = run_client(&conf, &cli.client, am_prefix).await?;
            println!(
                "Application {} finished: state {}, final status {:?}, {} ms from submission",
                outcome.app_id,
                outcome.report.state.name(),
                outcome.report.final_status,
                outcome.submit_to_final.as_millis()
            );
            if !outcome.report.diagnostics.is_empty() {
                println!("Diagnostics: {}", outcome.report.diagnostics);
            }
            Ok(
                if outcome.report.final_status == FinalApplicationStatus::SUCCEEDED {
                    0
                } else {
                    1
                },
            )
        }
    }
}

/// The AM binary as a local resource every NodeManager can fetch. With a `file://` default
/// file system (the mini YARN) that is this binary's own path; otherwise (HDFS on a real
/// cluster) the binary is uploaded to `<default fs>/user/<user>/.dshell/<application id>/`.
async fn stage_am_binary(
    conf: &Configuration,
    exe: &std::path::Path,
    app_id: &str,
    user: Option<&str>,
) -> anyhow::Result<LocalResourceInfo> {
    let default_fs = conf
        .get("fs.defaultFS")?
        .unwrap_or_else(|| "file:///".to_string());
    if default_fs.starts_with("file:") {
        return local_file_resource(exe, LocalResourceType::File)
            .with_context(|| format!("reading {}", exe.display()));
    }
    let user = user
        .map(str::to_string)
        .or_else(|| std::env::var("HADOOP_USER_NAME").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "dshell".into());
    let (exe, app_id, conf_dir) = (
        exe.to_path_buf(),
        app_id.to_string(),
        Configuration::conf_dir_from_env(),
    );
    let fs_config = crate::fs::FsConfig::from_hadoop_conf(conf, conf_dir)?;
    let status = crate::fs::run_blocking(move || {
        let systems = crate::fs::FileSystems::new(fs_config)?;
        let (fs, dst) =
            systems.resolve(&format!("/user/{user}/.dshell/{app_id}/{AM_RESOURCE_KEY}"))?;
        fs.copy_from_local(
            &exe,
            &dst,
            &crate::fs::CreateOptions::overwrite(),
            &mut |_, _| {},
        )?;
        fs.status(&dst)
    })
    .await
    .with_context(|| format!("staging the AM binary on {default_fs}"))?;
    Ok(LocalResourceInfo {
        resource: status.path.to_string(),
        kind: LocalResourceType::File,
        visibility: LocalResourceVisibility::Application,
        size: status.len as i64,
        timestamp: status.modification_time as i64,
        pattern: None,
    })
}

fn shell_single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Submits the application and waits until it reaches a final state.
pub async fn run_client(
    conf: &Configuration,
    args: &ClientArgs,
    am_prefix: &[&str],
) -> anyhow::Result<DshellOutcome> {
    let Some(command) = &args.shell_command else {
        bail!("--shell-command is required");
    };
    let user = args.user.clone().or_else(|| std::env::var("USER").ok());
    let client = RmRestClient::from_conf(conf, user)?;
    let app_id = submit(conf, &client, args, command, am_prefix).await?;
    let started = Instant::now();
    let report = wait_for_final(&client, &app_id, Duration::from_secs(args.timeout_secs)).await?;
    Ok(DshellOutcome {
        app_id,
        report,
        submit_to_final: started.elapsed(),
    })
}

/// Submits the distributed shell application; returns its id.
pub async fn submit(
    conf: &Configuration,
    client: &RmRestClient,
    args: &ClientArgs,
    command: &str,
    am_prefix: &[&str],
) -> anyhow::Result<String> {
    let new_app = client.new_application().await?;
    let max = new_app.maximum_resource_capability;
    if args.master_memory > max.memory {
        tracing::warn!(
            "AM memory {} above the cluster maximum {}; the RM will refuse it",
            args.master_memory,
            max.memory
        );
    }
    let am_resource = match (
        &args.am_resource,
        args.am_resource_size,
        args.am_resource_timestamp,
    ) {
        (Some(uri), Some(size), Some(timestamp)) => LocalResourceInfo {
            resource: uri.clone(),
            kind: LocalResourceType::File,
            visibility: LocalResourceVisibility::Application,
            size,
            timestamp,
            pattern: None,
        },
        (Some(local), None, None) if !local.contains("://") => {
            // A local binary to stage like our own.
            stage_am_binary(
                conf,
                std::path::Path::new(local),
                &new_app.application_id,
                args.user.as_deref(),
            )
            .await?
        }
        (Some(_), _, _) => {
            bail!("--am-resource with a URI needs --am-resource-size and --am-resource-timestamp (or give a local path to upload)")
        }
        (None, _, _) => {
            let exe = std::env::current_exe().context("locating this binary")?;
            stage_am_binary(conf, &exe, &new_app.application_id, args.user.as_deref()).await?
        }
    };
    let mut spec = ContainerLaunchContextInfo::default();
    spec.local_resources.push(AM_RESOURCE_KEY, am_resource);
    spec.environment.push(
        COMMAND_ENV,
        base64::engine::general_purpose::STANDARD.encode(command.as_bytes()),
    );
    let mut am_cmd = format!("./{AM_RESOURCE_KEY}");
    for p in am_prefix {
        am_cmd.push(' ');
        am_cmd.push_str(&shell_single_quote(p));
    }
    am_cmd.push_str(&format!(
        " am --num-containers {} --container-memory {} --container-vcores {} --heartbeat-ms {} 1><LOG_DIR>/AppMaster.stdout 2><LOG_DIR>/AppMaster.stderr",
        args.num_containers, args.container_memory, args.container_vcores, args.heartbeat_ms
    ));
    spec.commands.command.push(am_cmd);
    let ctx = ApplicationSubmissionContextInfo {
        application_id: new_app.application_id.clone(),
        application_name: args.appname.clone(),
        queue: Some(args.queue.clone()),
        priority: Some(0),
        am_container_spec: spec,
        max_app_attempts: Some(args.max_app_attempts),
        resource: ResourceInfo {
            memory: args.master_memory,
            vcores: args.master_vcores,
        },
        application_type: Some("YARN".into()),
        application_tags: Some(Tags {
            tag: vec!["distributed-shell".into()],
        }),
        ..Default::default()
    };
    client.submit_application(&ctx).await?;
    Ok(new_app.application_id)
}

/// Polls the application report until a final state.
pub async fn wait_for_final(
    client: &RmRestClient,
    app_id: &str,
    timeout: Duration,
) -> anyhow::Result<AppInfo> {
    Ok(client
        .wait_for_final_state(app_id, Duration::from_millis(50), timeout)
        .await?)
}

/// The scheduler addresses (several with RM HA): from the conf dir the container
/// environment names, else the AMRMToken's service (the address the RM issued it for).
pub(crate) async fn scheduler_addresses(
    token_service: &str,
) -> anyhow::Result<Vec<std::net::SocketAddr>> {
    let from_conf = match Configuration::conf_dir_from_env() {
        Some(dir) if dir.join("yarn-site.xml").is_file() => {
            Configuration::load_dir(&dir)?.rm_addresses(conf::RM_SCHEDULER_ADDRESS)?
        }
        _ => Vec::new(),
    };
    let names = if from_conf.is_empty() {
        vec![token_service.to_string()]
    } else {
        from_conf
    };
    let mut out = Vec::new();
    for name in names {
        let resolved = tokio::net::lookup_host(name.as_str())
            .await
            .with_context(|| format!("resolving scheduler address {name}"))?
            .next();
        out.push(resolved.with_context(|| format!("scheduler address {name} has no IP"))?);
    }
    Ok(out)
}

/// The ApplicationMaster; returns whether every container succeeded.
pub async fn run_application_master(args: &AmArgs) -> anyhow::Result<bool> {
    let token_file = PathBuf::from(
        std::env::var("HADOOP_TOKEN_FILE_LOCATION")
            .context("HADOOP_TOKEN_FILE_LOCATION is not set")?,
    );
    let command_b64 =
        std::env::var(COMMAND_ENV).with_context(|| format!("{COMMAND_ENV} is not set"))?;
    let token = AmRmClient::amrm_token_from_file(&token_file)?;
    let addrs = scheduler_addresses(&token.service).await?;
    let amrm = AmRmClient::connect_any(&addrs, token, Duration::from_secs(20)).await?;
    let host = std::env::var("NM_HOST").unwrap_or_else(|_| "localhost".into());
    amrm.register(&host, 0, "").await?;
    let nm = NmClient::new(Duration::from_secs(20));

    let total = args.num_containers.max(0);
    let mut allocated = 0;
    let mut started: Vec<ContainerId> = Vec::new();
    let mut results: Vec<(ContainerId, i32, String)> = Vec::new();
    let mut start_failures: Vec<String> = Vec::new();
    let mut asked: Option<i32> = None;
    let heartbeat = Duration::from_millis(args.heartbeat_ms.max(1));
    while (results.len() + start_failures.len()) < total as usize {
        let outstanding = total - allocated;
        let ask = if asked != Some(outstanding) {
            asked = Some(outstanding);
            vec![resource_request(
                0,
                args.container_memory,
                args.container_vcores,
                outstanding,
                0,
            )]
        } else {
            Vec::new()
        };
        let resp = amrm
            .allocate(AllocateRequest {
                ask,
                progress: results.len() as f32 / total.max(1) as f32,
                ..Default::default()
            })
            .await?;
        nm.add_nm_tokens(&resp.nm_tokens).await;
        let mut release = Vec::new();
        for c in &resp.allocated_containers {
            let Some(cid) = c.id.as_ref().map(ContainerId::from_proto) else {
                continue;
            };
            if allocated >= total {
                release.push(cid.to_proto());
                continue;
            }
            allocated += 1;
            let command = format!(
                "echo ${COMMAND_ENV} | base64 -d > ds_command.sh && /bin/bash ds_command.sh 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr"
            );
            let env = [(COMMAND_ENV, command_b64.as_str())];
            let ctx = launch_context(vec![command], env, [], None);
            match nm.start_container(c, ctx).await {
                Ok(()) => started.push(cid),
                Err(e) => start_failures.push(format!("{cid}: start failed: {e}")),
            }
        }
        for s in &resp.completed_container_statuses {
            let Some(cid) = s.container_id.as_ref().map(ContainerId::from_proto) else {
                continue;
            };
            if started.contains(&cid) {
                results.push((
                    cid,
                    s.exit_status.unwrap_or(-1000),
                    s.diagnostics.clone().unwrap_or_default(),
                ));
            }
        }
        if !release.is_empty() {
            amrm.allocate(AllocateRequest {
                release,
                ..Default::default()
            })
            .await?;
        }
        if (results.len() + start_failures.len()) < total as usize {
            tokio::time::sleep(heartbeat).await;
        }
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, code, _)| *code != 0)
        .map(|(id, code, diag)| format!("{id} exit status {code}: {diag}"))
        .chain(start_failures.iter().cloned())
        .collect();
    let success = failed.is_empty();
    let diagnostics = if success {
        String::new()
    } else {
        format!(
            "Diagnostics., total={total}, completed={}, allocated={allocated}, failed={}\n{}",
            results.len(),
            failed.len(),
            failed.join("\n")
        )
    };
    let status = if success {
        FinalApplicationStatus::SUCCEEDED
    } else {
        FinalApplicationStatus::FAILED
    };
    amrm.finish(status, &diagnostics, None).await?;
    Ok(success)
}
