//! JSON bodies in Flink's REST shapes (field names as Flink's `JobDetailsInfo`,
//! `MultipleJobsDetails`, `ClusterOverviewWithVersion`, `TaskManagersInfo`, ...).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cluster::jobmanager::{now_ms, Cluster, JobEntry, TaskManagerEntry};
use crate::runtime::job_master::JobStatus;
use crate::runtime::task::ExecutionState;
use crate::util::ids::JobId;

const VERSION: &str = env!("CARGO_PKG_VERSION");

const EXECUTION_STATES: [ExecutionState; 8] = [
    ExecutionState::Created,
    ExecutionState::Scheduled,
    ExecutionState::Deploying,
    ExecutionState::Running,
    ExecutionState::Finished,
    ExecutionState::Canceling,
    ExecutionState::Canceled,
    ExecutionState::Failed,
];

/// `RUNNING`, `CANCELED`, ... as Flink spells job states.
pub fn job_state_name(status: JobStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{status:?}").to_uppercase())
}

fn execution_state_name(state: ExecutionState) -> String {
    format!("{state:?}").to_uppercase()
}

/// Subtask counts per state, with every state present (as Flink's `tasks` objects).
fn state_counts<'a>(states: impl Iterator<Item = &'a ExecutionState>) -> Value {
    let mut counts: BTreeMap<String, usize> = EXECUTION_STATES
        .iter()
        .map(|s| (execution_state_name(*s).to_lowercase(), 0))
        .collect();
    counts.insert("reconciling".into(), 0);
    counts.insert("initializing".into(), 0);
    for s in states {
        *counts
            .entry(execution_state_name(*s).to_lowercase())
            .or_insert(0) += 1;
    }
    json!(counts)
}

/// A vertex's state from its subtasks' (Flink's `ExecutionJobVertex#getAggregateState`).
fn aggregate_state(states: &[ExecutionState]) -> ExecutionState {
    use ExecutionState::*;
    for s in [
        Failed, Canceling, Canceled, Running, Deploying, Scheduled, Created,
    ] {
        if states.contains(&s) {
            return s;
        }
    }
    if states.is_empty() {
        Created
    } else {
        Finished
    }
}

fn end_time(job: &JobEntry) -> i64 {
    job.end_time.unwrap_or(-1)
}

fn duration(job: &JobEntry) -> i64 {
    job.end_time.unwrap_or_else(now_ms) - job.start_time
}

fn subtask_states(job: &JobEntry) -> Vec<Vec<ExecutionState>> {
    let states = job.states.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if states.is_empty() {
        job.job
            .vertices
            .iter()
            .map(|v| vec![ExecutionState::Created; v.parallelism])
            .collect()
    } else {
        states
    }
}

/// Flink's 32-hex vertex id; ours is derived from the job id and the vertex index.
fn vertex_id(job: JobId, vertex: usize) -> String {
    format!(
        "{:032x}",
        job.0 ^ (crate::util::hash::stable_hash(&vertex) as u128)
    )
}

/// `/config`: the dashboard configuration.
pub fn dashboard_config(web_submit: bool) -> Value {
    json!({
        "refresh-interval": 3000,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": VERSION,
        "flink-revision": format!("strato {VERSION}"),
        "features": {
            "web-submit": web_submit,
            "web-cancel": true,
            "web-rescale": false,
            "web-history": false
        }
    })
}

/// `/overview`.
pub fn overview(cluster: &Cluster) -> Value {
    let (tms, total, free) = cluster.with_task_managers(|tms| {
        (
            tms.len(),
            tms.values().map(|t| t.slots.len()).sum::<usize>(),
            tms.values()
                .map(TaskManagerEntry::free_slots)
                .sum::<usize>(),
        )
    });
    let count = |wanted: &[JobStatus]| {
        cluster.with_jobs(|jobs| {
            jobs.values()
                .filter(|j| wanted.contains(&j.status()))
                .count()
        })
    };
    let running = cluster.with_jobs(|jobs| {
        jobs.values()
            .filter(|j| !j.status().is_globally_terminal())
            .count()
    });
    json!({
        "taskmanagers": tms,
        "slots-total": total,
        "slots-available": free,
        "jobs-running": running,
        "jobs-finished": count(&[JobStatus::Finished]),
        "jobs-cancelled": count(&[JobStatus::Canceled]),
        "jobs-failed": count(&[JobStatus::Failed]),
        "flink-version": VERSION,
        "flink-commit": format!("strato {VERSION}"),
    })
}

/// `/jobs`: ids and states.
pub fn jobs(cluster: &Cluster) -> Value {
    cluster.with_jobs(|jobs| {
        json!({"jobs": jobs.iter().map(|(id, j)| json!({
            "id": id.to_string(),
            "status": job_state_name(j.status()),
        })).collect::<Vec<_>>()})
    })
}

fn job_summary(id: &JobId, job: &JobEntry) -> Value {
    let states = subtask_states(job);
    json!({
        "jid": id.to_string(),
        "name": job.job.job_name,
        "state": job_state_name(job.status()),
        "start-time": job.start_time,
        "end-time": end_time(job),
        "duration": duration(job),
        "last-modification": job.end_time.unwrap_or(job.start_time),
        "tasks": {
            "total": states.iter().map(Vec::len).sum::<usize>(),
            "per-state": state_counts(states.iter().flatten()),
        },
    })
}

/// `/jobs/overview`.
pub fn jobs_overview(cluster: &Cluster) -> Value {
    cluster.with_jobs(|jobs| {
        json!({"jobs": jobs.iter().map(|(id, j)| {
            let mut summary = job_summary(id, j);
            // Flink flattens the per-state counts into `tasks` next to `total`.
            let per_state = summary["tasks"]["per-state"].take();
            if let (Some(tasks), Some(counts)) = (summary["tasks"].as_object_mut(), per_state.as_object()) {
                tasks.remove("per-state");
                tasks.extend(counts.clone());
            }
            summary
        }).collect::<Vec<_>>()})
    })
}

/// `/jobs/:id`.
pub fn job_details(cluster: &Cluster, id: JobId) -> Option<Value> {
    cluster.with_jobs(|jobs| {
        let job = jobs.get(&id)?;
        let states = subtask_states(job);
        let vertices: Vec<Value> = job
            .job
            .vertices
            .iter()
            .map(|v| {
                let subtasks = states.get(v.id).cloned().unwrap_or_default();
                json!({
                    "id": vertex_id(id, v.id),
                    "name": v.name,
                    "maxParallelism": v.max_parallelism,
                    "parallelism": v.parallelism,
                    "status": execution_state_name(aggregate_state(&subtasks)),
                    "start-time": job.start_time,
                    "end-time": end_time(job),
                    "duration": duration(job),
                    "tasks": state_counts(subtasks.iter()),
                    "metrics": {
                        "read-bytes": 0, "read-bytes-complete": false,
                        "write-bytes": 0, "write-bytes-complete": false,
                        "read-records": 0, "read-records-complete": false,
                        "write-records": 0, "write-records-complete": false,
                    },
                })
            })
            .collect();
        let timestamps: BTreeMap<String, i64> = [
            JobStatus::Created,
            JobStatus::Running,
            JobStatus::Failing,
            JobStatus::Failed,
            JobStatus::Cancelling,
            JobStatus::Canceled,
            JobStatus::Finished,
            JobStatus::Restarting,
            JobStatus::Suspended,
            JobStatus::Reconciling,
        ]
        .iter()
        .map(|s| {
            let name = job_state_name(*s);
            let at = job.timestamps.get(&name).copied().unwrap_or(0);
            (name, at)
        })
        .collect();
        Some(json!({
            "jid": id.to_string(),
            "name": job.job.job_name,
            "isStoppable": false,
            "state": job_state_name(job.status()),
            "job-type": job.job.runtime_mode,
            "start-time": job.start_time,
            "end-time": end_time(job),
            "duration": duration(job),
            "maxParallelism": -1,
            "now": now_ms(),
            "timestamps": timestamps,
            "vertices": vertices,
            "status-counts": state_counts(states.iter().flatten()),
            "plan": job.plan,
        }))
    })
}

/// `/jobs/:id/exceptions`.
pub fn job_exceptions(cluster: &Cluster, id: JobId) -> Option<Value> {
    cluster.with_jobs(|jobs| {
        let job = jobs.get(&id)?;
        let entries: Vec<Value> = job
            .failure
            .iter()
            .map(|(at, text)| {
                json!({
                    "exceptionName": "org.apache.flink.runtime.JobException",
                    "stacktrace": text,
                    "timestamp": at,
                    "taskName": Value::Null,
                    "location": Value::Null,
                    "failureLabels": {},
                    "concurrentExceptions": [],
                })
            })
            .collect();
        Some(json!({
            "root-exception": job.failure.as_ref().map(|(_, t)| t.clone()),
            "timestamp": job.failure.as_ref().map(|(at, _)| *at),
            "all-exceptions": [],
            "truncated": false,
            "exceptionHistory": {"entries": entries, "truncated": false},
        }))
    })
}

fn task_manager_info(id: &str, tm: &TaskManagerEntry) -> Value {
    let heartbeat_age = tm.last_heartbeat.elapsed().as_millis() as i64;
    let r = &tm.registration;
    json!({
        "id": id,
        "path": format!("strato.tcp://{}/user/rpc/taskmanager", tm.address),
        "dataPort": -1,
        "jmxPort": -1,
        "timeSinceLastHeartbeat": now_ms() - heartbeat_age,
        "slotsNumber": tm.slots.len(),
        "freeSlots": tm.free_slots(),
        "totalResource": {"cpuCores": r.cpu_cores as f64, "taskHeapMemory": 0, "taskOffHeapMemory": 0, "managedMemory": 0, "networkMemory": 0, "extendedResources": {}},
        "freeResource": {"cpuCores": r.cpu_cores as f64, "taskHeapMemory": 0, "taskOffHeapMemory": 0, "managedMemory": 0, "networkMemory": 0, "extendedResources": {}},
        "hardware": {"cpuCores": r.cpu_cores, "physicalMemory": r.physical_memory, "freeMemory": 0, "managedMemory": 0},
        "memoryConfiguration": {},
        "blocked": false,
    })
}

/// `/taskmanagers`.
pub fn task_managers(cluster: &Cluster) -> Value {
    cluster.with_task_managers(|tms| {
        json!({"taskmanagers": tms.iter().map(|(id, tm)| task_manager_info(id, tm)).collect::<Vec<_>>()})
    })
}

/// `/taskmanagers/:id`.
pub fn task_manager(cluster: &Cluster, id: &str) -> Option<Value> {
    cluster.with_task_managers(|tms| {
        let tm = tms.get(id)?;
        let mut info = task_manager_info(id, tm);
        info["metrics"] = json!({});
        info["allocatedSlots"] = json!(tm
            .slots
            .iter()
            .flatten()
            .map(|job| json!({"jobId": job.to_string()}))
            .collect::<Vec<_>>());
        Some(info)
    })
}

/// Flink's `CheckpointingStatistics`.
pub fn checkpoints(stats: &crate::checkpoint::coordinator::CheckpointStats) -> Value {
    let completed: Vec<&crate::checkpoint::coordinator::CheckpointRecord> = stats
        .history
        .iter()
        .filter(|r| r.status == "COMPLETED")
        .collect();
    let summary = |value: fn(&crate::checkpoint::coordinator::CheckpointRecord) -> u64| {
        let mut values: Vec<u64> = completed.iter().map(|r| value(r)).collect();
        values.sort_unstable();
        let pick = |q: f64| -> u64 {
            if values.is_empty() {
                0
            } else {
                values[((values.len() - 1) as f64 * q).round() as usize]
            }
        };
        let avg = if values.is_empty() {
            0
        } else {
            values.iter().sum::<u64>() / values.len() as u64
        };
        json!({
            "min": values.first().copied().unwrap_or(0),
            "max": values.last().copied().unwrap_or(0),
            "avg": avg, "p50": pick(0.5), "p90": pick(0.9), "p95": pick(0.95),
            "p99": pick(0.99), "p999": pick(0.999),
        })
    };
    let zero =
        json!({"min": 0, "max": 0, "avg": 0, "p50": 0, "p90": 0, "p95": 0, "p99": 0, "p999": 0});
    let record = |r: &crate::checkpoint::coordinator::CheckpointRecord| {
        json!({
            "className": if r.status == "COMPLETED" { "completed" } else { "failed" },
            "id": r.id,
            "status": r.status,
            "is_savepoint": r.is_savepoint,
            "savepointFormat": if r.is_savepoint { json!("CANONICAL") } else { Value::Null },
            "checkpoint_type": if r.is_savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
            "trigger_timestamp": r.trigger_timestamp,
            "latest_ack_timestamp": r.latest_ack_timestamp,
            "state_size": r.state_size,
            "checkpointed_size": r.state_size,
            "end_to_end_duration": r.end_to_end_duration,
            "num_subtasks": r.num_subtasks,
            "num_acknowledged_subtasks": r.num_acknowledged_subtasks,
            "external_path": r.external_path,
            "discarded": false,
            "failure_message": r.failure_message,
        })
    };
    json!({
        "counts": {
            "restored": stats.restored,
            "total": stats.triggered,
            "in_progress": stats.in_progress,
            "completed": stats.completed,
            "failed": stats.failed,
        },
        "summary": {
            "checkpointed_size": summary(|r| r.state_size),
            "state_size": summary(|r| r.state_size),
            "end_to_end_duration": summary(|r| r.end_to_end_duration),
            "alignment_buffered": zero,
            "processed_data": zero,
            "persisted_data": zero,
        },
        "latest": {
            "completed": stats.latest_completed.as_ref().map(record),
            "savepoint": stats.latest_savepoint.as_ref().map(record),
            "failed": stats.latest_failed.as_ref().map(record),
            "restored": stats.latest_restored.as_ref().map(|(id, path, time)| json!({
                "id": id, "restore_timestamp": time, "is_savepoint": path.contains("savepoint-"),
                "external_path": path,
            })),
        },
        "history": stats.history.iter().map(record).collect::<Vec<_>>(),
    })
}
