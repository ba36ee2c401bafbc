//! YARN distributed shell: submits itself as the ApplicationMaster through the RM REST API
//! and runs a shell command in N containers.
//!
//! ```text
//! YARN_CONF_DIR=/path/to/conf cargo run --example yarn_distributed_shell -- \
//!     --num-containers 3 --shell-command 'echo hello from $CONTAINER_ID'
//! ```
//! Against the mini YARN, start `strato-mini-yarn` first and use the conf dir it prints.

use clap::Parser;
use strato::yarn::dshell::{main_with, DshellCli};

#[tokio::main]
async fn main() {
    let cli = DshellCli::parse();
    match main_with(cli, &[]).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("yarn_distributed_shell: {e:#}");
            std::process::exit(2);
        }
    }
}
