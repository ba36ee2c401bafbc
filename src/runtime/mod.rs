//! The runtime: where records flow. Tasks run operator chains on their own threads
//! ([`task`], [`chain`], [`operators`]), exchange serialised batches through [`network`], and are
//! scheduled by a [`job_master`] onto a [`task_executor`]'s slots; a failure restarts the
//! failed subtask's pipelined region ([`regions`]) or the whole job. [`local`] wires these together
//! in one process: the embedded executor. Keys map to subtasks through [`keygroup`]. Tasks
//! take their part of checkpoints through [`snapshots`].

pub mod batch;
pub mod chain;
pub mod job_master;
pub mod keygroup;
pub mod local;
pub mod network;
pub mod operators;
pub mod regions;
pub mod snapshots;
pub mod task;
pub mod task_executor;
