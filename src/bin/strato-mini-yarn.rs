//! Starts a mini YARN cluster (ResourceManager + NodeManagers on 127.0.0.1) by hand, writes
//! its `yarn-site.xml` / `core-site.xml`, and runs until Ctrl-C. `dshell` runs the
//! distributed shell against any YARN (the same code as the `yarn_distributed_shell`
//! example), so a person can try the cluster with one binary.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use strato::yarn::dshell::{main_with, DshellCli};
use strato::yarn::mini::{MiniYarnCluster, MiniYarnConfig};

#[derive(Parser)]
#[command(about = "Protocol-faithful mini YARN cluster for local use and tests")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Number of NodeManagers.
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// Memory of each NodeManager in MB.
    #[arg(long, default_value_t = 4096)]
    memory_mb: i64,
    /// Vcores of each NodeManager.
    #[arg(long, default_value_t = 4)]
    vcores: i32,
    /// `yarn.resourcemanager.am.max-attempts`.
    #[arg(long, default_value_t = 2)]
    max_attempts: i32,
    /// Directory for NodeManager state and the generated conf (default: a temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the distributed shell client (or its AM) against the YARN in YARN_CONF_DIR.
    Dshell(DshellCli),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Some(Command::Dshell(d)) = cli.command {
        match main_with(d, &["dshell"]).await {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("dshell: {e:#}");
                std::process::exit(2);
            }
        }
    }
    let config = MiniYarnConfig {
        num_node_managers: cli.nodes,
        node_memory_mb: cli.memory_mb,
        node_vcores: cli.vcores,
        max_attempts: cli.max_attempts,
        work_dir: cli.work_dir,
        memory_check_interval: Duration::from_millis(500),
        ..Default::default()
    };
    let cluster = match MiniYarnCluster::start(config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strato-mini-yarn: cannot start: {e}");
            std::process::exit(1);
        }
    };
    println!("ResourceManager web services: {}", cluster.webapp_url());
    println!(
        "Scheduler (ApplicationMasterProtocol): {}",
        cluster.scheduler_address()
    );
    for nm in &cluster.node_managers {
        println!("NodeManager {} (http {})", nm.node_id, nm.http_address());
    }
    println!(
        "Client configuration: export YARN_CONF_DIR={}",
        cluster.conf_dir().display()
    );
    // Ctrl-C or SIGTERM: stop servers and kill every container's process group.
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    cluster.shutdown();
    println!("mini YARN stopped");
}
