//! The active resource manager of a JobManager running as a YARN application master: it turns
//! the slots jobs wait for ([`Cluster::pending_slot_demand`]) into container requests on the
//! ApplicationMasterProtocol, starts `strato taskmanager` in every allocated container through
//! the NodeManagers, replaces containers that die (their exit diagnostics, e.g. the -103/-104
//! memory kills, become the lost TaskManager's failure cause), and releases TaskManagers that
//! stayed idle for `resourcemanager.taskmanager-timeout`.
//!
//! A TaskManager started here registers with its container id as resource id, which is how
//! containers and registered TaskManagers are matched.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::jobmanager::Cluster;
use crate::yarn::amrm::{resource_request, AllocateRequest, AmRmClient};
use crate::yarn::ids::{ContainerId, NodeId};
use crate::yarn::nm::NmClient;
use crate::yarn::proto::{ContainerLaunchContextProto, ContainerProto, ContainerStatusProto};
use crate::yarn::RemoteExceptionKind;

/// YARN's `ContainerExitStatus.KILLED_EXCEEDED_VMEM`.
pub const EXIT_KILLED_EXCEEDED_VMEM: i32 = -103;
/// YARN's `ContainerExitStatus.KILLED_EXCEEDED_PMEM`.
pub const EXIT_KILLED_EXCEEDED_PMEM: i32 = -104;

/// How TaskManager containers are sized and how often the RM is talked to.
#[derive(Clone, Debug)]
pub struct YarnResourceManagerSettings {
    /// `taskmanager.memory.process.size` in MB.
    pub container_memory_mb: i64,
    /// `yarn.containers.vcores`, or the slots when that is -1.
    pub container_vcores: i32,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots_per_task_manager: usize,
    /// `yarn.heartbeat.interval`.
    pub heartbeat_interval: Duration,
    /// `yarn.heartbeat.container-request-interval`: while containers are requested or starting.
    pub request_heartbeat_interval: Duration,
    /// `resourcemanager.taskmanager-timeout`.
    pub idle_timeout: Duration,
    /// `yarn.application.node-label` for TaskManager containers.
    pub node_label: Option<String>,
}

/// Builds the launch context of a TaskManager container.
pub type TaskManagerLaunch = Box<dyn Fn(&ContainerId) -> ContainerLaunchContextProto + Send + Sync>;

/// Priority of TaskManager container requests.
const TASK_MANAGER_PRIORITY: i32 = 1;
/// How often demand and registrations are looked at (no RM traffic unless something changed).
const TICK: Duration = Duration::from_millis(20);

/// A container this resource manager holds.
struct Held {
    node: NodeId,
    /// The TaskManager in it registered (it is no longer "starting").
    registered: bool,
    idle_since: Option<Instant>,
}

/// The YARN resource manager of one application master.
pub struct YarnResourceManager {
    cluster: Arc<Cluster>,
    amrm: Arc<AmRmClient>,
    nm: NmClient,
    settings: YarnResourceManagerSettings,
    launch: TaskManagerLaunch,
    /// Diagnostics of containers that ended abnormally, newest last (for the final status).
    abnormal_exits: Arc<Mutex<Vec<String>>>,
    /// Containers whose TaskManager registered and whose end YARN has not reported yet.
    registered: Arc<Mutex<HashSet<String>>>,
}

/// Tells how many lost TaskManagers YARN has not reported on yet: while there are any, the
/// reason for a failure (e.g. a memory kill) is still to come.
///
/// Computed when asked, from the TaskManagers the cluster still has, so a job that fails the
/// instant its TaskManager is lost already sees the loss.
pub struct LossWatch {
    cluster: Arc<Cluster>,
    registered: Arc<Mutex<HashSet<String>>>,
}

impl LossWatch {
    pub fn unreported(&self) -> usize {
        let registered = self.registered.lock().unwrap_or_else(|e| e.into_inner());
        self.cluster.with_task_managers(|tms| {
            registered
                .iter()
                .filter(|id| !tms.contains_key(*id))
                .count()
        })
    }
}

/// Text of a completed container, as Flink reports it.
pub fn describe_exit(status: &ContainerStatusProto) -> String {
    let id = status
        .container_id
        .as_ref()
        .map(|c| ContainerId::from_proto(c).to_string())
        .unwrap_or_default();
    let code = status.exit_status.unwrap_or(-1000);
    let kind = match code {
        EXIT_KILLED_EXCEEDED_PMEM => " (killed for exceeding its physical memory limit)",
        EXIT_KILLED_EXCEEDED_VMEM => " (killed for exceeding its virtual memory limit)",
        _ => "",
    };
    format!(
        "Container {id} completed with exit code {code}{kind}. Diagnostics: {}",
        status.diagnostics.as_deref().unwrap_or("").trim()
    )
}

impl YarnResourceManager {
    pub fn new(
        cluster: Arc<Cluster>,
        amrm: Arc<AmRmClient>,
        settings: YarnResourceManagerSettings,
        launch: TaskManagerLaunch,
    ) -> Self {
        YarnResourceManager {
            cluster,
            amrm,
            nm: NmClient::new(Duration::from_secs(20)),
            settings,
            launch,
            abnormal_exits: Arc::default(),
            registered: Arc::default(),
        }
    }

    /// How many lost TaskManagers' containers YARN has not reported on yet.
    pub fn loss_watch(&self) -> LossWatch {
        LossWatch {
            cluster: self.cluster.clone(),
            registered: self.registered.clone(),
        }
    }

    /// Diagnostics of containers that ended abnormally, shared with the application master.
    pub fn abnormal_exits(&self) -> Arc<Mutex<Vec<String>>> {
        self.abnormal_exits.clone()
    }

    /// Containers needed for the slots jobs wait for.
    fn containers_for(&self, slots: usize) -> usize {
        slots.div_ceil(self.settings.slots_per_task_manager.max(1))
    }

    /// Runs until `stop` turns true; returns an error when the ResourceManager no longer knows
    /// this application attempt (it was failed or killed), when there is nothing left to do.
    pub async fn run(
        self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), crate::yarn::YarnError> {
        let mut held: HashMap<String, Held> = HashMap::new();
        let mut ask = ContainerAsk::default();
        let mut last_heartbeat = Instant::now();
        let mut release = Vec::new();
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let demand = self.cluster.pending_slot_demand();
            let task_managers: HashMap<String, bool> = self.cluster.with_task_managers(|tms| {
                tms.iter()
                    .map(|(id, tm)| (id.clone(), tm.free_slots() == tm.slots.len()))
                    .collect()
            });
            let now = Instant::now();
            for (id, h) in held.iter_mut() {
                match task_managers.get(id) {
                    Some(idle) => {
                        if !h.registered {
                            h.registered = true;
                            self.registered_set().insert(id.clone());
                        }
                        h.idle_since = if *idle {
                            Some(h.idle_since.unwrap_or(now))
                        } else {
                            None
                        };
                    }
                    None if h.registered => {
                        // Lost (e.g. its heartbeat timed out); YARN reports the container later.
                        h.idle_since = None;
                    }
                    None => {}
                }
            }
            let starting = held.values().filter(|h| !h.registered).count();
            let lost = held
                .iter()
                .filter(|(id, h)| h.registered && !task_managers.contains_key(*id))
                .count();
            // Containers the RM still owes us (asked and not yet allocated).
            let mut outstanding = self.containers_for(demand).saturating_sub(starting);

            // Idle TaskManagers go back to YARN when no job waits for slots.
            if demand == 0 {
                let idle: Vec<String> = held
                    .iter()
                    .filter(|(_, h)| {
                        h.idle_since
                            .is_some_and(|t| t.elapsed() >= self.settings.idle_timeout)
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in idle {
                    if let Some(h) = held.remove(&id) {
                        self.release_task_manager(&id, &h.node, &mut release).await;
                    }
                }
            }

            // Ask YARN often while containers come, or while a loss is unexplained.
            let busy = outstanding > 0 || starting > 0 || lost > 0;
            let interval = if busy {
                self.settings.request_heartbeat_interval
            } else {
                self.settings.heartbeat_interval
            };
            let new_ask = ask.to_send(outstanding);
            if new_ask.is_some() || !release.is_empty() || last_heartbeat.elapsed() >= interval {
                let requests = if let Some(count) = new_ask {
                    let mut r = resource_request(
                        TASK_MANAGER_PRIORITY,
                        self.settings.container_memory_mb,
                        self.settings.container_vcores,
                        count as i32,
                        0,
                    );
                    r.node_label_expression = self.settings.node_label.clone();
                    vec![r]
                } else {
                    Vec::new()
                };
                let request = AllocateRequest {
                    ask: requests,
                    release: std::mem::take(&mut release),
                    progress: 0.0,
                    ..Default::default()
                };
                last_heartbeat = Instant::now();
                match self.amrm.allocate(request).await {
                    Ok(response) => {
                        if let Some(count) = new_ask {
                            ask.sent(count);
                        }
                        self.nm.add_nm_tokens(&response.nm_tokens).await;
                        for container in &response.allocated_containers {
                            ask.allocated();
                            if outstanding == 0 {
                                if let Some(id) = &container.id {
                                    release.push(id.clone());
                                }
                                continue;
                            }
                            outstanding -= 1;
                            if let Some((id, h)) = self.start(container, &mut release).await {
                                held.insert(id, h);
                            }
                        }
                        for status in &response.completed_container_statuses {
                            self.completed(status, &mut held);
                        }
                    }
                    Err(e) if e.kind() == Some(RemoteExceptionKind::ApplicationAttemptNotFound) => {
                        return Err(e)
                    }
                    Err(e) => {
                        tracing::warn!("allocate heartbeat to the ResourceManager failed: {e}")
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Starts a TaskManager in an allocated container; a failed start releases it.
    async fn start(
        &self,
        container: &ContainerProto,
        release: &mut Vec<crate::yarn::proto::ContainerIdProto>,
    ) -> Option<(String, Held)> {
        let id_proto = container.id.clone()?;
        let id = ContainerId::from_proto(&id_proto);
        let node = NodeId::from_proto(&container.node_id.clone().unwrap_or_default());
        tracing::info!("Starting a TaskManager in container {id} on {node}");
        match self.nm.start_container(container, (self.launch)(&id)).await {
            Ok(()) => Some((
                id.to_string(),
                Held {
                    node,
                    registered: false,
                    idle_since: None,
                },
            )),
            Err(e) => {
                let text =
                    format!("Could not start a TaskManager in container {id} on {node}: {e}");
                tracing::warn!("{text}");
                self.record_abnormal(text);
                release.push(id_proto);
                None
            }
        }
    }

    /// A container ended: forget it, and fail what its TaskManager ran with YARN's reason.
    fn completed(&self, status: &ContainerStatusProto, held: &mut HashMap<String, Held>) {
        let Some(id) = status
            .container_id
            .as_ref()
            .map(|c| ContainerId::from_proto(c).to_string())
        else {
            return;
        };
        self.registered_set().remove(&id);
        if held.remove(&id).is_none() {
            return;
        }
        let text = describe_exit(status);
        tracing::warn!("{text}");
        self.record_abnormal(text.clone());
        self.cluster.task_manager_lost(&id, &text);
        self.cluster.explain_process_loss(&id, &text);
    }

    fn registered_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record_abnormal(&self, text: String) {
        self.abnormal_exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    /// Stops an idle TaskManager's container and gives it back.
    async fn release_task_manager(
        &self,
        id: &str,
        node: &NodeId,
        release: &mut Vec<crate::yarn::proto::ContainerIdProto>,
    ) {
        tracing::info!(
            "Releasing TaskManager {id}: idle for {:?} (resourcemanager.taskmanager-timeout)",
            self.settings.idle_timeout
        );
        self.registered_set().remove(id);
        self.cluster
            .task_manager_lost(id, &format!("TaskManager {id} was released (idle)."));
        let Ok(container) = id.parse::<ContainerId>() else {
            return;
        };
        if let Err(e) = self.nm.stop_container(container, node).await {
            tracing::warn!("could not stop container {id} on {node}: {e}");
        }
        release.push(container.to_proto());
    }
}

/// What the ResourceManager believes we ask for. An ask is absolute (it replaces the last one
/// for its priority), and the RM counts it down by one for every container it allocates,
/// whether or not we still want that container: our copy must follow both, or a need equal to a
/// stale count would never be asked for again.
#[derive(Debug, Default)]
struct ContainerAsk {
    at_rm: Option<usize>,
}

impl ContainerAsk {
    /// The count to send when `outstanding` containers are wanted, if it differs from the RM's.
    fn to_send(&self, outstanding: usize) -> Option<usize> {
        (self.at_rm != Some(outstanding)).then_some(outstanding)
    }

    /// The RM accepted an ask for `count` containers.
    fn sent(&mut self, count: usize) {
        self.at_rm = Some(count);
    }

    /// The RM allocated one container against the ask.
    fn allocated(&mut self) {
        self.at_rm = self.at_rm.map(|n| n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerAsk;

    #[test]
    fn an_unchanged_need_is_not_asked_again() {
        let mut ask = ContainerAsk::default();
        assert_eq!(ask.to_send(1), Some(1));
        ask.sent(1);
        assert_eq!(ask.to_send(1), None);
    }

    #[test]
    fn a_container_allocated_after_the_need_went_away_still_lowers_the_rms_count() {
        let mut ask = ContainerAsk::default();
        ask.sent(1);
        // The need vanished (slots came from elsewhere) before the container arrived: it is
        // released, but the RM has counted its ask down to zero all the same.
        ask.allocated();
        // When the need comes back, it must be asked for again.
        assert_eq!(ask.to_send(1), Some(1));
    }
}
