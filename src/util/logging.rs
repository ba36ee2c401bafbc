//! Process-wide logging set-up: `tracing` to stderr, filtered by `RUST_LOG` (default `warn`).

/// Installs the default subscriber unless the program installed its own.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
