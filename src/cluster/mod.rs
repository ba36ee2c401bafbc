//! The cluster runtime: the JobManager process (dispatcher, resource manager with its slot
//! manager, blob store, one job master per job, REST server), the TaskManager process (slots,
//! heartbeats, one worker process per job), the job worker (the job's own binary run by a
//! TaskManager), and the control RPC between them.
//!
//! The job master is the embedded executor's ([`crate::runtime::job_master`]); here it deploys
//! through [`jobmanager::ClusterDeployer`] to workers in other processes, whose tasks exchange
//! records over [`crate::runtime::network::remote`].

pub mod application;
pub mod blob;
pub mod entrypoint;
pub mod jobmanager;
pub mod outbox;
pub mod rpc;
pub mod savepoints;
pub mod taskmanager;
pub mod worker;
pub mod yarn_resource_manager;
