//! The control RPC between JobManager, TaskManagers and job workers: one TCP connection per
//! peer, length-delimited frames (4-byte big-endian length) holding bincode 2 (serde) messages.
//!
//! Every connection is opened by the TaskManager or worker and starts with a [`Hello`]; after
//! that each side sends its own message type. Blocking I/O on dedicated threads: the peers are
//! few and long-lived, and the tasks they drive are threads too.

use std::io::{self, Read, Write};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::runtime::task::TaskStateUpdate;
use crate::util::ids::JobId;

/// Frames above this size are refused instead of allocated (a corrupt or foreign peer).
pub const MAX_FRAME: usize = 1 << 30;

/// Writes one frame: length, then payload.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::other(format!("frame of {} bytes is too large", payload.len()))
        })?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("peer announced a frame of {len} bytes (limit {MAX_FRAME})"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some(payload))
}

/// Sends one message as a frame.
pub fn send<T: Serialize>(w: &mut impl Write, message: &T) -> io::Result<()> {
    let bytes = bincode::serde::encode_to_vec(message, bincode::config::standard())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    write_frame(w, &bytes)
}

/// Receives one message; `None` when the peer closed the connection.
pub fn receive<T: DeserializeOwned>(r: &mut impl Read) -> io::Result<Option<T>> {
    let Some(bytes) = read_frame(r)? else {
        return Ok(None);
    };
    bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
        .map(|(message, _)| Some(message))
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("undecodable control message: {e}"),
            )
        })
}

/// The first message on a connection to the JobManager: who is calling.
#[derive(Debug, Serialize, Deserialize)]
pub enum Hello {
    TaskManager(TaskManagerRegistration),
    Worker(WorkerRegistration),
    /// A TaskManager fetching a program (see [`super::blob`]); the connection carries only it.
    BlobFetch {
        key: String,
    },
}

/// A TaskManager registering with the ResourceManager.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskManagerRegistration {
    /// Flink-style resource id, `host:pid-xxxxxx`.
    pub id: String,
    pub host: String,
    pub slots: usize,
    pub cpu_cores: usize,
    pub physical_memory: u64,
}

/// What the JobManager tells a TaskManager.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToTaskManager {
    /// Registration accepted; heartbeat at this interval (ms).
    Registered { heartbeat_interval_ms: u64 },
    /// The answer to a TaskManager's heartbeat: the JobManager is alive.
    Heartbeat,
    /// Start the job's binary in worker mode for one deployment of the job.
    StartWorker(WorkerLaunch),
    /// Stop the job's worker of this deployment (if still alive) and free what it used.
    StopWorker { job_id: JobId, attempt: u32 },
}

/// Everything a TaskManager needs to start a job worker.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerLaunch {
    pub job_id: JobId,
    /// The job's deployment number: a full (re)start, or a region restart whose workers run
    /// beside those of the job's other regions. Workers are known by (job, deployment).
    pub attempt: u32,
    /// Blob key of the program: the TaskManager fetches it unless it has it cached.
    pub program_key: String,
    /// Which `execute` of `main` the job is (see `Submission::job_ordinal`).
    pub job_ordinal: usize,
    pub args: Vec<String>,
    /// The client's resolved configuration (flat YAML) the program reads at start-up.
    pub configuration: String,
    /// The JobGraph as JSON (the contract the worker checks its own graph against).
    pub job_graph: String,
}

/// What a TaskManager tells the JobManager after registering.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromTaskManager {
    Heartbeat,
    /// A worker process ended (on its own, crashed, or stopped).
    WorkerExited {
        job_id: JobId,
        attempt: u32,
        status: String,
    },
}

/// A job worker announcing itself, ready to receive its tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerRegistration {
    pub job_id: JobId,
    pub attempt: u32,
    pub task_manager: String,
    /// Where the worker accepts data connections from its peers.
    pub data_address: String,
    /// Set when the worker refuses to run the job (e.g. a fingerprint mismatch).
    pub refused: Option<String>,
}

/// Where a subtask runs: the data address of its worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskLocation {
    pub vertex: usize,
    pub subtask: usize,
    pub data_address: String,
}

/// What the JobManager tells a worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// Run these subtask attempts; `locations` places every subtask of the deployment.
    Deploy {
        tasks: Vec<crate::runtime::task::TaskAttempt>,
        locations: Vec<TaskLocation>,
        /// The state each of `tasks` starts from (absent: a fresh start).
        restore: Vec<((usize, usize), crate::state::TaskRestore)>,
    },
    /// A checkpoint trigger or notification for one subtask.
    Control {
        vertex: usize,
        subtask: usize,
        control: crate::runtime::task::TaskControl,
    },
    /// Cancel every task of the job.
    Cancel,
    /// Cancel these (vertex, subtask) tasks: their pipelined region restarts.
    CancelTasks(Vec<(usize, usize)>),
}

/// What a worker tells the JobManager.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    TaskState(TaskStateUpdate),
    Checkpoint(crate::runtime::snapshots::CheckpointAck),
    /// A task's data ended (it waits for the final checkpoint).
    EndOfData(crate::runtime::task::TaskAttempt),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_a_frame_round_trip() {
        let mut wire = Vec::new();
        send(
            &mut wire,
            &FromTaskManager::WorkerExited {
                job_id: JobId(7),
                attempt: 2,
                status: "exit status: 1".into(),
            },
        )
        .unwrap();
        let back: FromTaskManager = receive(&mut wire.as_slice()).unwrap().unwrap();
        assert!(matches!(
            back,
            FromTaskManager::WorkerExited { attempt: 2, .. }
        ));
        assert!(receive::<FromTaskManager>(&mut &[][..]).unwrap().is_none());
    }

    #[test]
    fn an_oversized_frame_is_refused_without_allocating() {
        let wire = u32::MAX.to_be_bytes();
        let err = read_frame(&mut &wire[..]).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }
}
