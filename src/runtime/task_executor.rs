//! The task executor: offers slots and runs deployed tasks on their own threads (Flink's
//! `TaskExecutor`). The embedded executor has one in-process; the cluster runtime runs one per
//! TaskManager process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Sender};

use super::task::{run_task, TaskControl, TaskDeployment, TaskReport};
use crate::util::ids::JobId;

struct RunningTask {
    control: Sender<TaskControl>,
    cancelled: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RunningTask {
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        let _ = self.control.send(TaskControl::Cancel);
    }
}

/// Runs tasks; knows them by (job, vertex, subtask).
pub struct TaskExecutor {
    slots: usize,
    tasks: Mutex<HashMap<(JobId, usize, usize), RunningTask>>,
}

impl TaskExecutor {
    pub fn new(slots: usize) -> Self {
        TaskExecutor {
            slots,
            tasks: Mutex::new(HashMap::new()),
        }
    }

    pub fn number_of_slots(&self) -> usize {
        self.slots
    }

    /// Starts a task thread; its state updates go to `reports`.
    pub fn submit_task(
        &self,
        deployment: TaskDeployment,
        reports: Sender<TaskReport>,
    ) -> std::io::Result<()> {
        let key = (deployment.job_id, deployment.vertex, deployment.subtask);
        let vertex = &deployment.job.vertices[deployment.vertex];
        let thread_name = format!(
            "{} ({}/{})",
            vertex.name,
            deployment.subtask + 1,
            vertex.parallelism
        );
        let (control, control_rx) = unbounded();
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = cancelled.clone();
        // Registered before the thread starts: the task reports RUNNING at once, and a
        // checkpoint trigger sent on that report must find it.
        let replaced = self.lock().insert(
            key,
            RunningTask {
                control,
                cancelled,
                thread: None,
            },
        );
        // A region restart redeploys a subtask whose earlier attempt reported its end: that
        // thread is on its way out.
        if let Some(thread) = replaced.and_then(|mut old| old.thread.take()) {
            let _ = thread.join();
        }
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || run_task(deployment, control_rx, flag, reports));
        match spawned {
            Ok(thread) => {
                if let Some(task) = self.lock().get_mut(&key) {
                    task.thread = Some(thread);
                }
            }
            Err(e) => {
                self.lock().remove(&key);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Sends a control message to one running task; false when it is not running here.
    pub fn send_control(
        &self,
        job: JobId,
        vertex: usize,
        subtask: usize,
        control: TaskControl,
    ) -> bool {
        self.lock()
            .get(&(job, vertex, subtask))
            .is_some_and(|task| task.control.send(control).is_ok())
    }

    /// Asks every task of the job to stop (they report `Canceled`).
    pub fn cancel_job(&self, job: JobId) {
        for (_, task) in self.lock().iter().filter(|((j, _, _), _)| *j == job) {
            task.cancel();
        }
    }

    /// Asks these (vertex, subtask) tasks of the job to stop (a region restart).
    pub fn cancel_tasks(&self, job: JobId, tasks: &[(usize, usize)]) {
        let running = self.lock();
        for &(vertex, subtask) in tasks {
            if let Some(task) = running.get(&(job, vertex, subtask)) {
                task.cancel();
            }
        }
    }

    /// Waits for the job's task threads to exit and forgets them.
    pub fn release_job(&self, job: JobId) {
        let threads: Vec<_> = {
            let mut tasks = self.lock();
            let keys: Vec<_> = tasks
                .keys()
                .filter(|(j, _, _)| *j == job)
                .copied()
                .collect();
            keys.into_iter()
                .filter_map(|k| tasks.remove(&k))
                .filter_map(|mut t| t.thread.take())
                .collect()
        };
        for t in threads {
            let _ = t.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(JobId, usize, usize), RunningTask>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }
}
