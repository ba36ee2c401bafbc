//! The `strato` command line: parses actions and flags ([`cli`]), resolves the configuration
//! (conf file, `-D`, `-p`), launches job programs ([`program`]) in local or plan mode, and talks
//! to a running JobManager over REST ([`remote`]: submit, list, cancel), and deploys to YARN
//! ([`yarn`]: yarn-session, per-job, application mode).

pub mod cli;
pub mod program;
pub mod remote;
pub mod yarn;
