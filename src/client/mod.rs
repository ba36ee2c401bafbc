//! The `strato` command line: parses actions and flags ([`cli`]), resolves the configuration
//! (conf file, `-D`, `-p`), and launches job programs ([`program`]) in local or plan mode.

pub mod cli;
pub mod program;
