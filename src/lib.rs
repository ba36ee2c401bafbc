//! Strato: Apache Flink's stream and batch dataflow engine, rebuilt in Rust.
//!
//! A job is an ordinary Rust program that builds a dataflow with
//! [`StreamExecutionEnvironment`] and calls `execute`. What `execute` does depends on how the
//! binary was started (embedded local executor, plan mode for the `strato` client, worker mode
//! inside a TaskManager); see `ARCHITECTURE.md`.
//!
//! Where things live:
//! - [`api`]: the DataStream API users program against (environment, streams, functions).
//! - [`graph`]: StreamGraph -> JobGraph translation, operator chaining, plan JSON.
//! - [`runtime`]: tasks, operator chains, the data plane between tasks and the job master /
//!   task executor that schedule and run them.
//! - [`connectors`]: built-in sources and sinks (collections, files, sockets, data generator, print).
//! - [`config`]: `strato-conf.yaml`, typed options, units.
//! - [`client`]: what the `strato` command line does.
//! - [`cluster`]: the JobManager and TaskManager processes, job workers and their control RPC.
//! - [`rest`]: the JobManager's REST API (Flink's paths and JSON shapes).

pub mod api;
pub mod checkpoint;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connectors;
pub mod error;
pub mod fs;
pub mod graph;
pub mod hadoop;
pub mod rest;
pub mod runtime;
pub mod state;
pub mod util;
pub mod yarn;

pub use api::*;
pub use error::{Error, Result};
