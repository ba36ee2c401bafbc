//! `strato-mini-hdfs`: runs the mini HDFS (one NameNode, one DataNode on 127.0.0.1) in the
//! foreground so `hdfs://` paths can be tried by hand, e.g.
//! `strato-mini-hdfs --dir /tmp/hdfs --port 8020` then `--input hdfs://127.0.0.1:8020/in`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use strato::fs::mini_hdfs::{MiniHdfs, MiniHdfsConfig, NameNodeConfig};

/// Run a mini HDFS on 127.0.0.1 until interrupted.
#[derive(Parser, Debug)]
#[command(name = "strato-mini-hdfs", version)]
struct Args {
    /// Directory for the namespace image and block files (kept across restarts).
    #[arg(long)]
    dir: PathBuf,
    /// NameNode RPC port (0 picks a free port).
    #[arg(long, default_value_t = 8020)]
    port: u16,
    /// DataNode transfer port (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    datanode_port: u16,
    /// Default block size in bytes (dfs.blocksize).
    #[arg(long, default_value_t = 128 * 1024 * 1024)]
    block_size: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let config = MiniHdfsConfig {
        namenode_port: args.port,
        datanode_port: args.datanode_port,
        namenode: NameNodeConfig {
            block_size: args.block_size,
            ..NameNodeConfig::default()
        },
    };
    let hdfs = MiniHdfs::start(&args.dir, config).context("cannot start the mini HDFS")?;
    println!("mini HDFS running: fs.defaultFS = {}", hdfs.uri());
    println!(
        "  NameNode {}  DataNode {}",
        hdfs.namenode_addr(),
        hdfs.datanode_addr()
    );
    println!("  data in {}; stop with Ctrl-C", hdfs.dir().display());
    loop {
        std::thread::park();
    }
}
