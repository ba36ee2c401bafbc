//! Mini ResourceManager: application and attempt state machines, a FIFO scheduler with
//! per-node capacity accounting, Hadoop's validation of resource requests, AM launch with the
//! AMRMToken in the container's credentials, AM restart up to max attempts, and the
//! ApplicationMasterProtocol endpoint, which (like `ApplicationMasterService`) enables only
//! TOKEN authentication.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use base64::Engine;
use bytes::Bytes;
use prost::Message;

use super::localizer::url_from_string;
use super::nm::{exit_status, ClusterKeys, ContainerCompleted, ContainerStart, NodeManager};
use crate::hadoop::ipc::server::unknown_method;
use crate::hadoop::ipc::{
    AuthConfig, BoxFuture, Caller, RpcException, RpcServer, RpcService, TokenSecretManager,
};
use crate::hadoop::security::{create_password, Credentials, Token};
use crate::yarn::amrm::{final_status_from_code, ANY};
use crate::yarn::ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
use crate::yarn::proto::{
    container_state, AllocateRequestProto, AllocateResponseProto, ApplicationAclMapProto,
    ContainerLaunchContextProto, ContainerProto, ContainerStatusProto,
    FinishApplicationMasterRequestProto, FinishApplicationMasterResponseProto, LocalResourceProto,
    NmTokenProto, PriorityProto, RegisterApplicationMasterRequestProto,
    RegisterApplicationMasterResponseProto, ResourceProto, ResourceRequestProto,
    StringLocalResourceMapProto, StringStringMapProto,
};
use crate::yarn::rest::model::*;
use crate::yarn::tokens::{AmrmTokenIdentifier, ContainerTokenIdentifier, NmTokenIdentifier};
use crate::yarn::APPLICATION_MASTER_PROTOCOL;

const YARN_EXCEPTIONS: &str = "org.apache.hadoop.yarn.exceptions.";
/// Container token lifetime (`yarn.resourcemanager.rm.container-allocation.expiry-interval-ms`).
const CONTAINER_TOKEN_EXPIRY_MS: i64 = 600_000;

fn yarn_exception(simple: &str, message: impl Into<String>) -> RpcException {
    RpcException::new(format!("{YARN_EXCEPTIONS}{simple}"), message)
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Scheduler limits (`yarn.scheduler.*`, `yarn.resourcemanager.am.max-attempts`).
#[derive(Clone, Debug)]
pub struct RmConfig {
    pub min_allocation_mb: i64,
    pub min_allocation_vcores: i32,
    pub max_allocation: ResourceInfo,
    pub max_attempts: i32,
    pub node_capacity: ResourceInfo,
}

/// An error the REST layer renders as Hadoop's `RemoteException` JSON.
#[derive(Debug, Clone)]
pub struct WebError {
    pub status: u16,
    pub java_class_name: String,
    pub message: String,
}

impl WebError {
    /// `BadRequestException(String)`: Jersey reports the wrapped `java.lang.Exception`.
    pub fn bad_request(msg: impl std::fmt::Display) -> Self {
        WebError {
            status: 400,
            java_class_name: "org.apache.hadoop.yarn.webapp.BadRequestException".into(),
            message: format!("java.lang.Exception: {msg}"),
        }
    }
    pub fn not_found(msg: impl std::fmt::Display) -> Self {
        WebError {
            status: 404,
            java_class_name: "org.apache.hadoop.yarn.webapp.NotFoundException".into(),
            message: format!("java.lang.Exception: {msg}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttemptState {
    Scheduled,
    Launched,
    Running,
    Finishing,
    Finished,
    Failed,
    Killed,
}

impl AttemptState {
    fn name(self) -> &'static str {
        match self {
            AttemptState::Scheduled => "SCHEDULED",
            AttemptState::Launched => "LAUNCHED",
            AttemptState::Running => "RUNNING",
            AttemptState::Finishing => "FINISHING",
            AttemptState::Finished => "FINISHED",
            AttemptState::Failed => "FAILED",
            AttemptState::Killed => "KILLED",
        }
    }
    fn is_final(self) -> bool {
        matches!(
            self,
            AttemptState::Finished | AttemptState::Failed | AttemptState::Killed
        )
    }
}

type AskKey = (i32, i64, String, i64, i32);

struct Attempt {
    id: ApplicationAttemptId,
    state: AttemptState,
    am_container: Option<(ContainerId, usize)>,
    registered: bool,
    host: String,
    rpc_port: i32,
    tracking_url: String,
    start_time: i64,
    finish_time: i64,
    last_response: Option<AllocateResponseProto>,
    asks: BTreeMap<AskKey, ResourceRequestProto>,
    completed: Vec<ContainerStatusProto>,
    nm_tokens_sent: HashSet<usize>,
    blacklist: HashSet<String>,
    next_container: i64,
    amrm_key_id: i32,
    progress: f32,
}

struct App {
    id: ApplicationId,
    user: String,
    ctx: ApplicationSubmissionContextInfo,
    queue: String,
    app_type: String,
    max_attempts: i32,
    state: YarnApplicationState,
    final_status: FinalApplicationStatus,
    diagnostics: String,
    attempts: Vec<Attempt>,
    submit_time: i64,
    launch_time: i64,
    finish_time: i64,
    /// Credentials from the submission, handed to every AM attempt.
    credentials: Credentials,
}

impl App {
    fn current(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
    fn current_mut(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut()
    }
}

struct LiveContainer {
    node: usize,
    resource: ResourceInfo,
    attempt: ApplicationAttemptId,
}

struct State {
    next_app_id: i32,
    apps: BTreeMap<ApplicationId, App>,
    node_used: Vec<ResourceInfo>,
    containers: HashMap<ContainerId, LiveContainer>,
    amrm_keys: HashMap<i32, Vec<u8>>,
    amrm_key_id: i32,
    containers_allocated: i64,
}

/// The mini ResourceManager.
pub struct ResourceManager {
    pub cluster_timestamp: i64,
    pub config: RmConfig,
    nodes: Vec<Arc<NodeManager>>,
    keys: ClusterKeys,
    state: Mutex<State>,
    scheduler_addr: Mutex<Option<SocketAddr>>,
    webapp_addr: Mutex<String>,
    servers: Mutex<Vec<RpcServer>>,
}

fn random_key() -> Vec<u8> {
    use rand::RngCore;
    let mut k = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    k
}

/// Generates the cluster's shared secrets.
pub fn new_cluster_keys() -> ClusterKeys {
    ClusterKeys {
        nm_token_key: random_key(),
        nm_token_key_id: 1,
        container_token_key: random_key(),
        container_token_key_id: 1,
    }
}

impl ResourceManager {
    pub fn new(
        config: RmConfig,
        nodes: Vec<Arc<NodeManager>>,
        keys: ClusterKeys,
    ) -> Arc<ResourceManager> {
        let n = nodes.len();
        let mut amrm_keys = HashMap::new();
        amrm_keys.insert(1, random_key());
        Arc::new(ResourceManager {
            cluster_timestamp: now_millis(),
            config,
            nodes,
            keys,
            state: Mutex::new(State {
                next_app_id: 1,
                apps: BTreeMap::new(),
                node_used: vec![ResourceInfo::default(); n],
                containers: HashMap::new(),
                amrm_keys,
                amrm_key_id: 1,
                containers_allocated: 0,
            }),
            scheduler_addr: Mutex::new(None),
            webapp_addr: Mutex::new(String::new()),
            servers: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock is a bug in the mini RM; keep serving the rest.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the scheduler RPC endpoint on 127.0.0.1 and the NodeManager event loop.
    pub async fn start_scheduler(
        self: &Arc<Self>,
        mut events: tokio::sync::mpsc::UnboundedReceiver<ContainerCompleted>,
    ) -> std::io::Result<SocketAddr> {
        let secrets = Arc::new(AmrmSecrets {
            rm: Arc::downgrade(self),
        });
        let server = RpcServer::start(
            "127.0.0.1:0".parse().expect("literal address"),
            AuthConfig::token_only(secrets),
            Arc::new(SchedulerService {
                rm: Arc::downgrade(self),
            }),
        )
        .await?;
        let addr = server.local_addr();
        *self.scheduler_addr.lock().expect("lock") = Some(addr);
        self.servers.lock().expect("lock").push(server);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                let Some(rm) = weak.upgrade() else { return };
                rm.on_container_completed(ev);
            }
        });
        Ok(addr)
    }

    pub fn set_webapp_address(&self, addr: String) {
        *self.webapp_addr.lock().expect("lock") = addr;
    }

    fn scheduler_service(&self) -> String {
        self.scheduler_addr
            .lock()
            .expect("lock")
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    pub fn shutdown(&self) {
        self.servers.lock().expect("lock").clear();
    }

    /// Rolls the AMRMToken master key (`AMRMTokenSecretManager.rollMasterKey`): running AMs
    /// get a new token on their next allocate; the old key stays valid for them until then.
    pub fn roll_amrm_master_key(&self) {
        let mut st = self.lock();
        st.amrm_key_id += 1;
        let id = st.amrm_key_id;
        st.amrm_keys.insert(id, random_key());
    }

    /// `maximumAllocation` as the scheduler reports it.
    pub fn maximum_allocation(&self) -> ResourceInfo {
        self.config.max_allocation
    }

    // ---- client-facing operations (REST) ----

    pub fn new_application(&self) -> NewApplication {
        let mut st = self.lock();
        let id = ApplicationId {
            cluster_timestamp: self.cluster_timestamp,
            id: st.next_app_id,
        };
        st.next_app_id += 1;
        NewApplication {
            application_id: id.to_string(),
            maximum_resource_capability: self.config.max_allocation,
        }
    }

    /// `SchedulerUtils.normalizeAndValidateRequest` for memory and vcores.
    fn validate(&self, r: ResourceInfo) -> Result<ResourceInfo, String> {
        let max = self.config.max_allocation;
        let bad = if r.memory < 0 || r.memory > max.memory {
            Some("memory-mb")
        } else if r.vcores < 0 || r.vcores > max.vcores {
            Some("vcores")
        } else {
            None
        };
        if let Some(kind) = bad {
            return Err(format!(
                "Invalid resource request, requested resource type=[{kind}] < 0 or greater than maximum allowed allocation. Requested resource={r}, maximum allowed allocation={max}, please note that maximum allowed allocation is calculated by scheduler based on maximum resource of registered NodeManagers, which might be less than configured maximum allocation={max}"
            ));
        }
        let step = self.config.min_allocation_mb.max(1);
        let memory = ((r.memory.max(step) + step - 1) / step) * step;
        Ok(ResourceInfo {
            memory: memory.min(max.memory),
            vcores: r.vcores.max(self.config.min_allocation_vcores),
        })
    }

    /// POST `/ws/v1/cluster/apps`.
    pub fn submit(
        &self,
        ctx: ApplicationSubmissionContextInfo,
        user: &str,
    ) -> Result<(), WebError> {
        let id: ApplicationId = ctx.application_id.parse().map_err(|_| {
            WebError::bad_request(format!("Invalid ApplicationId: {}", ctx.application_id))
        })?;
        if ctx.unmanaged_am {
            return Err(WebError::bad_request(
                "unmanaged AMs are not supported by the mini ResourceManager",
            ));
        }
        self.validate(ctx.resource).map_err(WebError::bad_request)?;
        let mut credentials = Credentials::new();
        for (alias, value) in ctx.am_container_spec.credentials.tokens.iter() {
            let token = Token::decode_from_url_string(alias, value)
                .map_err(|e| WebError::bad_request(format!("Could not parse credentials: {e}")))?;
            credentials.add_token(alias, token);
        }
        for (alias, value) in ctx.am_container_spec.credentials.secrets.iter() {
            let secret = base64::engine::general_purpose::STANDARD
                .decode(value)
                .or_else(|_| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(value.trim_end_matches('='))
                })
                .map_err(|e| {
                    WebError::bad_request(format!(
                        "Could not parse credentials: secret {alias}: {e}"
                    ))
                })?;
            credentials.secrets.insert(alias.to_string(), secret);
        }
        let mut st = self.lock();
        if st.apps.contains_key(&id) {
            // ClientRMService treats a repeated submission as idempotent.
            return Ok(());
        }
        let queue = ctx.queue.clone().unwrap_or_else(|| "default".into());
        let max_attempts = match ctx.max_app_attempts {
            Some(n) if n > 0 && n <= self.config.max_attempts => n,
            _ => self.config.max_attempts,
        };
        let now = now_millis();
        let mut app = App {
            id,
            user: user.to_string(),
            queue: queue.clone(),
            app_type: ctx
                .application_type
                .clone()
                .unwrap_or_else(|| "YARN".into()),
            max_attempts,
            state: YarnApplicationState::ACCEPTED,
            final_status: FinalApplicationStatus::UNDEFINED,
            diagnostics: String::new(),
            attempts: Vec::new(),
            submit_time: now,
            launch_time: 0,
            finish_time: 0,
            credentials,
            ctx,
        };
        if queue != "default" && queue != "root.default" {
            app.state = YarnApplicationState::FAILED;
            app.final_status = FinalApplicationStatus::FAILED;
            app.finish_time = now;
            app.diagnostics =
                format!("Application {id} submitted by user {user} to unknown queue: {queue}");
            st.apps.insert(id, app);
            return Ok(());
        }
        let key_id = st.amrm_key_id;
        app.attempts.push(new_attempt(id, 1, key_id));
        st.apps.insert(id, app);
        self.schedule_ams(&mut st);
        Ok(())
    }

    /// PUT `.../state` with KILLED: returns the state after the kill.
    pub fn kill(&self, id: ApplicationId, user: &str) -> Result<YarnApplicationState, WebError> {
        let mut st = self.lock();
        let app = st
            .apps
            .get_mut(&id)
            .ok_or_else(|| WebError::not_found(format!("app with id: {id} not found")))?;
        if app.state.is_final() {
            return Ok(app.state);
        }
        app.state = YarnApplicationState::KILLED;
        app.final_status = FinalApplicationStatus::KILLED;
        app.finish_time = now_millis();
        app.diagnostics =
            format!("Application killed by user.\nKill application {id} received from {user}");
        if let Some(a) = app.current_mut() {
            a.state = AttemptState::Killed;
            a.finish_time = now_millis();
        }
        self.kill_app_containers(
            &mut st,
            id,
            None,
            exit_status::KILLED_BY_RESOURCEMANAGER,
            "Container killed by the ResourceManager.",
        );
        self.schedule_ams(&mut st);
        Ok(YarnApplicationState::KILLED)
    }

    pub fn app_info(&self, id: ApplicationId) -> Result<AppInfo, WebError> {
        let st = self.lock();
        let app = st
            .apps
            .get(&id)
            .ok_or_else(|| WebError::not_found(format!("app with id: {id} not found")))?;
        Ok(self.render_app(&st, app))
    }

    pub fn apps(
        &self,
        states: &[String],
        types: &[String],
        queue: Option<&str>,
        user: Option<&str>,
    ) -> Vec<AppInfo> {
        let st = self.lock();
        st.apps
            .values()
            .filter(|a| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(a.state.name()))
            })
            .filter(|a| {
                types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(&a.app_type))
            })
            .filter(|a| queue.is_none_or(|q| q == a.queue))
            .filter(|a| user.is_none_or(|u| u == a.user))
            .map(|a| self.render_app(&st, a))
            .collect()
    }

    pub fn attempts(&self, id: ApplicationId) -> Result<Vec<AppAttemptInfo>, WebError> {
        let st = self.lock();
        let app = st
            .apps
            .get(&id)
            .ok_or_else(|| WebError::not_found(format!("app with id: {id} not found")))?;
        Ok(app
            .attempts
            .iter()
            .map(|a| {
                let (cid, node) = match a.am_container {
                    Some((c, n)) => (c.to_string(), Some(&self.nodes[n])),
                    None => (String::new(), None),
                };
                AppAttemptInfo {
                    id: a.id.attempt_id,
                    start_time: a.start_time,
                    finished_time: a.finish_time,
                    logs_link: node
                        .map(|n| {
                            format!(
                                "http://{}/node/containerlogs/{cid}/{}",
                                n.http_address(),
                                app.user
                            )
                        })
                        .unwrap_or_default(),
                    container_id: cid,
                    node_http_address: node.map(|n| n.http_address()).unwrap_or_default(),
                    node_id: node.map(|n| n.node_id.to_string()).unwrap_or_default(),
                    blacklisted_nodes: String::new(),
                    app_attempt_id: Some(a.id.to_string()),
                    app_attempt_state: Some(a.state.name().into()),
                }
            })
            .collect())
    }

    fn render_app(&self, st: &State, app: &App) -> AppInfo {
        let web = self.webapp_addr.lock().expect("lock").clone();
        let cur = app.current();
        let am_node = cur
            .and_then(|a| a.am_container)
            .map(|(c, n)| (c, &self.nodes[n]));
        let live: Vec<&LiveContainer> = st
            .containers
            .values()
            .filter(|c| c.attempt.application_id == app.id)
            .collect();
        let finished = app.state.is_final();
        let tracking_url = if finished {
            format!("http://{web}/cluster/app/{}", app.id)
        } else if cur.is_some_and(|a| a.registered) {
            format!("http://{web}/proxy/{}/", app.id)
        } else {
            format!("http://{web}/cluster/app/{}", app.id)
        };
        let end = if app.finish_time > 0 {
            app.finish_time
        } else {
            now_millis()
        };
        AppInfo {
            id: app.id.to_string(),
            user: app.user.clone(),
            name: app.ctx.application_name.clone(),
            queue: app.queue.clone(),
            state: app.state,
            final_status: app.final_status,
            progress: if finished {
                100.0
            } else {
                cur.map(|a| a.progress * 100.0).unwrap_or(0.0)
            },
            tracking_ui: if finished {
                "History".into()
            } else if cur.is_some_and(|a| a.registered) {
                "ApplicationMaster".into()
            } else {
                "UNASSIGNED".into()
            },
            tracking_url: Some(tracking_url),
            diagnostics: app.diagnostics.clone(),
            cluster_id: self.cluster_timestamp,
            application_type: app.app_type.clone(),
            application_tags: app
                .ctx
                .application_tags
                .as_ref()
                .map(|t| t.tag.join(","))
                .unwrap_or_default(),
            priority: app.ctx.priority.unwrap_or(0),
            started_time: app.submit_time,
            launch_time: app.launch_time,
            finished_time: app.finish_time,
            elapsed_time: end - app.submit_time,
            am_container_logs: am_node.map(|(c, n)| {
                format!(
                    "http://{}/node/containerlogs/{c}/{}",
                    n.http_address(),
                    app.user
                )
            }),
            am_host_http_address: am_node.map(|(_, n)| n.http_address()),
            am_rpc_address: cur
                .filter(|a| a.registered)
                .map(|a| format!("{}:{}", a.host, a.rpc_port)),
            allocated_mb: live.iter().map(|c| c.resource.memory).sum(),
            allocated_vcores: live.iter().map(|c| c.resource.vcores as i64).sum(),
            running_containers: live.len() as i64,
            memory_seconds: 0,
            vcore_seconds: 0,
            unmanaged_application: false,
        }
    }

    pub fn metrics(&self) -> ClusterMetrics {
        let st = self.lock();
        let count =
            |s: YarnApplicationState| st.apps.values().filter(|a| a.state == s).count() as i64;
        let cap = self.config.node_capacity;
        let n = self.nodes.len() as i64;
        let used_mb: i64 = st.node_used.iter().map(|u| u.memory).sum();
        let used_vc: i64 = st.node_used.iter().map(|u| u.vcores as i64).sum();
        ClusterMetrics {
            apps_submitted: st.apps.len() as i64,
            apps_completed: count(YarnApplicationState::FINISHED)
                + count(YarnApplicationState::FAILED)
                + count(YarnApplicationState::KILLED),
            apps_pending: count(YarnApplicationState::ACCEPTED),
            apps_running: count(YarnApplicationState::RUNNING),
            apps_failed: count(YarnApplicationState::FAILED),
            apps_killed: count(YarnApplicationState::KILLED),
            reserved_mb: 0,
            available_mb: cap.memory * n - used_mb,
            allocated_mb: used_mb,
            total_mb: cap.memory * n,
            available_virtual_cores: cap.vcores as i64 * n - used_vc,
            allocated_virtual_cores: used_vc,
            total_virtual_cores: cap.vcores as i64 * n,
            containers_allocated: st.containers.len() as i64,
            total_nodes: n,
            active_nodes: n,
            lost_nodes: 0,
            unhealthy_nodes: 0,
        }
    }

    /// CapacityScheduler-shaped scheduler info with the single `default` queue.
    pub fn scheduler_json(&self) -> serde_json::Value {
        let m = self.metrics();
        let used = if m.total_mb > 0 {
            100.0 * m.allocated_mb as f64 / m.total_mb as f64
        } else {
            0.0
        };
        let st = self.lock();
        let active = st.apps.values().filter(|a| !a.state.is_final()).count();
        serde_json::json!({"scheduler": {"schedulerInfo": {
            "type": "capacityScheduler", "capacity": 100.0, "usedCapacity": used, "maxCapacity": 100.0,
            "queueName": "root",
            "queues": {"queue": [{
                "type": "capacitySchedulerLeafQueueInfo", "queuePath": "root.default",
                "capacity": 100.0, "usedCapacity": used, "maxCapacity": 100.0,
                "absoluteCapacity": 100.0, "absoluteMaxCapacity": 100.0, "absoluteUsedCapacity": used,
                "numApplications": active, "queueName": "default", "state": "RUNNING",
                "numContainers": st.containers.len(), "maxApplications": 10000, "userLimitFactor": 1.0
            }]}
        }}})
    }

    // ---- scheduling ----

    fn find_node(&self, st: &State, r: ResourceInfo, blacklist: &HashSet<String>) -> Option<usize> {
        let cap = self.config.node_capacity;
        (0..self.nodes.len()).find(|&i| {
            let u = st.node_used[i];
            !blacklist.contains(&self.nodes[i].node_id.host)
                && !blacklist.contains(&self.nodes[i].node_id.to_string())
                && u.memory + r.memory <= cap.memory
                && u.vcores + r.vcores <= cap.vcores
        })
    }

    fn container_token(
        &self,
        app: &App,
        id: ContainerId,
        node: usize,
        r: ResourceInfo,
        priority: i32,
        is_am: bool,
        alloc_id: i64,
    ) -> (ContainerTokenIdentifier, Token) {
        let now = now_millis();
        let ident = ContainerTokenIdentifier {
            container_id: id,
            nm_host_addr: self.nodes[node].node_id.to_string(),
            app_submitter: app.user.clone(),
            memory_mb: r.memory,
            vcores: r.vcores,
            expiry_time_stamp: now + CONTAINER_TOKEN_EXPIRY_MS,
            master_key_id: self.keys.container_token_key_id,
            rm_identifier: self.cluster_timestamp,
            priority,
            creation_time: now,
            container_type: if is_am {
                crate::yarn::proto::container_type::APPLICATION_MASTER
            } else {
                crate::yarn::proto::container_type::TASK
            },
            allocation_request_id: alloc_id,
        };
        let token = ident.token(&self.keys.container_token_key);
        (ident, token)
    }

    /// Places every waiting AM whose resource fits somewhere, and launches it.
    fn schedule_ams(&self, st: &mut State) {
        let waiting: Vec<ApplicationId> = st
            .apps
            .values()
            .filter(|a| {
                !a.state.is_final()
                    && a.current()
                        .is_some_and(|t| t.state == AttemptState::Scheduled)
            })
            .map(|a| a.id)
            .collect();
        let service = self.scheduler_service();
        for app_id in waiting {
            let Some(r) = st
                .apps
                .get(&app_id)
                .and_then(|a| self.validate(a.ctx.resource).ok())
            else {
                continue;
            };
            let Some(node) = self.find_node(st, r, &HashSet::new()) else {
                continue;
            };
            let amrm_key = {
                let key_id = st.amrm_key_id;
                (
                    key_id,
                    st.amrm_keys.get(&key_id).cloned().unwrap_or_default(),
                )
            };
            let app = st.apps.get_mut(&app_id).expect("listed above");
            let attempt = app.current_mut().expect("listed above");
            let cid = ContainerId {
                attempt: attempt.id,
                id: attempt.next_container,
            };
            attempt.next_container += 1;
            attempt.state = AttemptState::Launched;
            attempt.am_container = Some((cid, node));
            attempt.amrm_key_id = amrm_key.0;
            let attempt_id = attempt.id;
            app.launch_time = now_millis();
            let (ident, _) = self.container_token(app, cid, node, r, 0, true, -1);
            let amrm = AmrmTokenIdentifier {
                attempt: attempt_id,
                key_id: amrm_key.0,
            }
            .token(&amrm_key.1, &service);
            let launch_context = self.am_launch_context(app, amrm);
            st.node_used[node].memory += r.memory;
            st.node_used[node].vcores += r.vcores;
            st.containers.insert(
                cid,
                LiveContainer {
                    node,
                    resource: r,
                    attempt: attempt_id,
                },
            );
            st.containers_allocated += 1;
            self.nodes[node].launch(ContainerStart {
                token: ident,
                launch_context,
            });
        }
    }

    /// `AMLauncher.createAMContainerLaunchContext` + `setupTokens`.
    fn am_launch_context(&self, app: &App, amrm: Token) -> ContainerLaunchContextProto {
        let spec = &app.ctx.am_container_spec;
        let mut creds = app.credentials.clone();
        creds.add_token(amrm.service.clone(), amrm);
        let mut env: Vec<StringStringMapProto> = spec
            .environment
            .iter()
            .map(|(k, v)| StringStringMapProto {
                key: Some(k.to_string()),
                value: Some(v.clone()),
            })
            .collect();
        for (k, v) in [
            ("APPLICATION_WEB_PROXY_BASE", format!("/proxy/{}", app.id)),
            ("APP_SUBMIT_TIME_ENV", app.submit_time.to_string()),
            ("MAX_APP_ATTEMPTS", app.max_attempts.to_string()),
        ] {
            env.push(StringStringMapProto {
                key: Some(k.into()),
                value: Some(v),
            });
        }
        ContainerLaunchContextProto {
            local_resources: spec
                .local_resources
                .iter()
                .map(|(k, r)| StringLocalResourceMapProto {
                    key: Some(k.to_string()),
                    value: Some(local_resource_proto(r)),
                })
                .collect(),
            tokens: Some(creds.to_bytes()),
            service_data: Vec::new(),
            environment: env,
            command: spec.commands.command.clone(),
            application_acls: spec
                .application_acls
                .iter()
                .map(|(k, v)| ApplicationAclMapProto {
                    access_type: Some(if k == "MODIFY_APP" { 2 } else { 1 }),
                    acl: Some(v.clone()),
                })
                .collect(),
        }
    }

    /// Kills live containers of an application (of one attempt if given) and frees them.
    fn kill_app_containers(
        &self,
        st: &mut State,
        app: ApplicationId,
        attempt: Option<ApplicationAttemptId>,
        code: i32,
        diag: &str,
    ) {
        let ids: Vec<ContainerId> = st
            .containers
            .iter()
            .filter(|(_, c)| {
                c.attempt.application_id == app && attempt.is_none_or(|a| a == c.attempt)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(c) = st.containers.remove(&id) {
                st.node_used[c.node].memory -= c.resource.memory;
                st.node_used[c.node].vcores -= c.resource.vcores;
                self.nodes[c.node].kill(id, code, diag);
            }
        }
    }

    /// A NodeManager reports a finished container.
    fn on_container_completed(&self, ev: ContainerCompleted) {
        let Some(cid_proto) = ev.status.container_id.clone() else {
            return;
        };
        let cid = ContainerId::from_proto(&cid_proto);
        let mut st = self.lock();
        let Some(live) = st.containers.remove(&cid) else {
            return; // already released or cleaned up by the RM
        };
        st.node_used[live.node].memory -= live.resource.memory;
        st.node_used[live.node].vcores -= live.resource.vcores;
        let app_id = cid.attempt.application_id;
        let key_id = st.amrm_key_id;
        let mut cleanup: Option<(Option<ApplicationAttemptId>, i32, &str)> = None;
        if let Some(app) = st.apps.get_mut(&app_id) {
            let max = app.max_attempts;
            let keep = app.ctx.keep_containers_across_application_attempts;
            let n_attempts = app.attempts.len() as i32;
            let tracking = format!(
                "http://{}/cluster/app/{app_id}",
                self.webapp_addr.lock().expect("lock")
            );
            let Some(attempt) = app
                .attempts
                .iter_mut()
                .find(|a| a.am_container.map(|x| x.0) == Some(cid))
            else {
                // A task container: report it to the current attempt.
                if let Some(cur) = app.current_mut() {
                    cur.completed.push(ev.status);
                }
                drop(st);
                self.schedule_ams(&mut self.lock());
                return;
            };
            let code = ev.status.exit_status.unwrap_or(exit_status::INVALID);
            match attempt.state {
                AttemptState::Finishing => {
                    attempt.state = AttemptState::Finished;
                    attempt.finish_time = now_millis();
                    cleanup = Some((
                        None,
                        exit_status::KILLED_AFTER_APP_COMPLETION,
                        "Container killed by the ResourceManager after the application completed.",
                    ));
                }
                AttemptState::Launched | AttemptState::Running => {
                    attempt.state = AttemptState::Failed;
                    attempt.finish_time = now_millis();
                    let diag = format!(
                        "AM Container for {} exited with  exitCode: {code}\nFailing this attempt.Diagnostics: {}For more detailed output, check the application tracking page: {tracking} Then click on links to logs of each attempt.\n",
                        attempt.id,
                        ev.status.diagnostics.clone().unwrap_or_default()
                    );
                    let failed_attempt = attempt.id;
                    if n_attempts < max {
                        app.state = YarnApplicationState::ACCEPTED;
                        app.diagnostics = diag;
                        app.attempts
                            .push(new_attempt(app_id, n_attempts + 1, key_id));
                        if !keep {
                            cleanup = Some((
                                Some(failed_attempt),
                                exit_status::KILLED_BY_RESOURCEMANAGER,
                                "Container of a completed attempt killed by the ResourceManager.",
                            ));
                        } else {
                            // Containers move to the new attempt.
                            let new_id = app.current().map(|a| a.id);
                            for c in st
                                .containers
                                .values_mut()
                                .filter(|c| c.attempt == failed_attempt)
                            {
                                if let Some(n) = new_id {
                                    c.attempt = n;
                                }
                            }
                        }
                    } else {
                        app.state = YarnApplicationState::FAILED;
                        app.final_status = FinalApplicationStatus::FAILED;
                        app.finish_time = now_millis();
                        app.diagnostics = format!("Application {app_id} failed {max} times due to {diag}. Failing the application.");
                        cleanup = Some((
                            None,
                            exit_status::KILLED_BY_RESOURCEMANAGER,
                            "Container killed by the ResourceManager.",
                        ));
                    }
                }
                _ => {}
            }
        }
        if let Some((attempt, code, diag)) = cleanup {
            self.kill_app_containers(&mut st, app_id, attempt, code, diag);
        }
        self.schedule_ams(&mut st);
    }

    // ---- ApplicationMasterProtocol ----

    fn caller_attempt(caller: &Caller) -> Result<ApplicationAttemptId, RpcException> {
        let id = caller.token_identifier.as_deref().ok_or_else(|| {
            RpcException::access_control(format!("No AMRMToken found for user {}", caller.user))
        })?;
        Ok(AmrmTokenIdentifier::decode(id)
            .map_err(|e| RpcException::invalid_token(e.to_string()))?
            .attempt)
    }

    fn with_attempt<T>(
        &self,
        attempt_id: ApplicationAttemptId,
        f: impl FnOnce(&ResourceManager, &mut State, ApplicationId) -> Result<T, RpcException>,
    ) -> Result<T, RpcException> {
        let mut st = self.lock();
        let app = st.apps.get(&attempt_id.application_id);
        let live = app
            .and_then(|a| a.current())
            .is_some_and(|a| a.id == attempt_id && !a.state.is_final());
        if !live {
            return Err(yarn_exception(
                "ApplicationAttemptNotFoundException",
                format!("Application attempt {attempt_id} doesn't exist in ApplicationMasterService cache."),
            ));
        }
        f(self, &mut st, attempt_id.application_id)
    }

    fn register(
        &self,
        attempt_id: ApplicationAttemptId,
        req: RegisterApplicationMasterRequestProto,
    ) -> Result<RegisterApplicationMasterResponseProto, RpcException> {
        self.with_attempt(attempt_id, |rm, st, app_id| {
            let app = st.apps.get_mut(&app_id).expect("checked");
            let queue = app.queue.clone();
            let attempt = app.current_mut().expect("checked");
            if attempt.registered {
                return Err(yarn_exception(
                    "InvalidApplicationMasterRequestException",
                    format!("Application Master is already registered : {app_id}"),
                ));
            }
            attempt.registered = true;
            attempt.state = AttemptState::Running;
            attempt.host = req.host.unwrap_or_default();
            attempt.rpc_port = req.rpc_port.unwrap_or(-1);
            attempt.tracking_url = req.tracking_url.unwrap_or_default();
            attempt.last_response = Some(AllocateResponseProto {
                response_id: Some(0),
                ..Default::default()
            });
            app.state = YarnApplicationState::RUNNING;
            let max = rm.config.max_allocation;
            Ok(RegisterApplicationMasterResponseProto {
                maximum_capability: Some(ResourceProto {
                    memory: Some(max.memory),
                    virtual_cores: Some(max.vcores),
                }),
                client_to_am_token_master_key: None,
                application_acls: Vec::new(),
                containers_from_previous_attempts: Vec::new(),
                queue: Some(queue),
                nm_tokens_from_previous_attempts: Vec::new(),
            })
        })
    }

    fn allocate(
        &self,
        attempt_id: ApplicationAttemptId,
        req: AllocateRequestProto,
    ) -> Result<AllocateResponseProto, RpcException> {
        self.with_attempt(attempt_id, |rm, st, app_id| {
            {
                let attempt = st.apps.get(&app_id).and_then(App::current).expect("checked");
                if !attempt.registered {
                    return Err(yarn_exception(
                        "ApplicationMasterNotRegisteredException",
                        format!("AM is not registered for known application attempt: {attempt_id} or RM had restarted after AM registered. AM should re-register."),
                    ));
                }
                let last = attempt.last_response.clone().unwrap_or_default();
                let last_id = last.response_id.unwrap_or(0);
                let got = req.response_id.unwrap_or(0);
                if got.wrapping_add(1) == last_id {
                    return Ok(last);
                }
                if got != last_id {
                    return Err(yarn_exception(
                        "InvalidApplicationMasterRequestException",
                        format!("Invalid responseId in AllocateRequest from application attempt: {attempt_id}, expect responseId to be {last_id}, but get {got}"),
                    ));
                }
            }
            // Validate every ask before changing anything (ApplicationMasterService does).
            let mut normalized = Vec::new();
            for ask in &req.ask {
                let cap = ask.capability.unwrap_or_default();
                let r = ResourceInfo { memory: cap.memory.unwrap_or(0), vcores: cap.virtual_cores.unwrap_or(0) };
                let n = rm.validate(r).map_err(|m| yarn_exception("InvalidResourceRequestException", m))?;
                if ask.num_containers.unwrap_or(0) < 0 {
                    return Err(yarn_exception("InvalidResourceRequestException", format!("Invalid resource request, number of containers is negative: {}", ask.num_containers.unwrap_or(0))));
                }
                normalized.push((ask.clone(), n));
            }
            let service_nodes: Vec<NodeId> = rm.nodes.iter().map(|n| n.node_id.clone()).collect();
            // Releases.
            let mut released = Vec::new();
            for cid_p in &req.release {
                let cid = ContainerId::from_proto(cid_p);
                let owned = st.containers.get(&cid).is_some_and(|c| c.attempt.application_id == app_id);
                if owned {
                    if let Some(c) = st.containers.remove(&cid) {
                        st.node_used[c.node].memory -= c.resource.memory;
                        st.node_used[c.node].vcores -= c.resource.vcores;
                        rm.nodes[c.node].kill(cid, exit_status::ABORTED, "Container released by application");
                    }
                    released.push(ContainerStatusProto {
                        container_id: Some(cid_p.clone()),
                        state: Some(container_state::C_COMPLETE),
                        diagnostics: Some("Container released by application".into()),
                        exit_status: Some(exit_status::ABORTED),
                        capability: None,
                        execution_type: None,
                    });
                }
            }
            let app = st.apps.get_mut(&app_id).expect("checked");
            let user = app.user.clone();
            let attempt = app.current_mut().expect("checked");
            attempt.progress = req.progress.unwrap_or(0.0).clamp(0.0, 1.0);
            if let Some(b) = &req.blacklist_request {
                for h in &b.blacklist_additions {
                    attempt.blacklist.insert(h.clone());
                }
                for h in &b.blacklist_removals {
                    attempt.blacklist.remove(h);
                }
            }
            for (ask, n) in normalized {
                let key = (
                    ask.priority.and_then(|p| p.priority).unwrap_or(0),
                    ask.allocation_request_id.unwrap_or(0),
                    ask.resource_name.clone().unwrap_or_else(|| ANY.into()),
                    n.memory,
                    n.vcores,
                );
                let mut stored = ask.clone();
                stored.capability = Some(ResourceProto { memory: Some(n.memory), virtual_cores: Some(n.vcores) });
                attempt.asks.insert(key, stored);
            }
            let mut completed = std::mem::take(&mut attempt.completed);
            completed.extend(released);
            let blacklist = attempt.blacklist.clone();
            let asks: Vec<(AskKey, i32)> = attempt
                .asks
                .iter()
                .filter(|(k, r)| k.2 == ANY && r.num_containers.unwrap_or(0) > 0)
                .map(|(k, r)| (k.clone(), r.num_containers.unwrap_or(0)))
                .collect();
            // Allocation against node capacity, highest priority (lowest number) first.
            let mut allocated = Vec::new();
            let mut nm_tokens = Vec::new();
            for (key, want) in asks {
                let r = ResourceInfo { memory: key.3, vcores: key.4 };
                let mut placed = 0;
                while placed < want {
                    let Some(node) = rm.find_node(st, r, &blacklist) else { break };
                    let app = st.apps.get_mut(&app_id).expect("checked");
                    let attempt = app.current_mut().expect("checked");
                    let cid = ContainerId { attempt: attempt.id, id: attempt.next_container };
                    attempt.next_container += 1;
                    let send_nm_token = attempt.nm_tokens_sent.insert(node);
                    let app_ref = st.apps.get(&app_id).expect("checked");
                    let (_, token) = rm.container_token(app_ref, cid, node, r, key.0, false, key.1);
                    st.node_used[node].memory += r.memory;
                    st.node_used[node].vcores += r.vcores;
                    st.containers.insert(cid, LiveContainer { node, resource: r, attempt: attempt_id });
                    st.containers_allocated += 1;
                    if send_nm_token {
                        let nm_id = NmTokenIdentifier {
                            attempt: attempt_id,
                            node_id: service_nodes[node].clone(),
                            app_submitter: user.clone(),
                            key_id: rm.keys.nm_token_key_id,
                        };
                        nm_tokens.push(NmTokenProto {
                            node_id: Some(service_nodes[node].to_proto()),
                            token: Some(nm_id.token(&rm.keys.nm_token_key).to_proto()),
                        });
                    }
                    allocated.push(ContainerProto {
                        id: Some(cid.to_proto()),
                        node_id: Some(service_nodes[node].to_proto()),
                        node_http_address: Some(rm.nodes[node].http_address()),
                        resource: Some(ResourceProto { memory: Some(r.memory), virtual_cores: Some(r.vcores) }),
                        priority: Some(PriorityProto { priority: Some(key.0) }),
                        container_token: Some(token.to_proto()),
                        execution_type: Some(crate::yarn::proto::EXECUTION_TYPE_GUARANTEED),
                        allocation_request_id: Some(key.1),
                        version: Some(0),
                    });
                    placed += 1;
                }
                let app = st.apps.get_mut(&app_id).expect("checked");
                let attempt = app.current_mut().expect("checked");
                if let Some(ask) = attempt.asks.get_mut(&key) {
                    ask.num_containers = Some(want - placed);
                }
            }
            // AMRMToken roll-over.
            let current_key = st.amrm_key_id;
            let key_bytes = st.amrm_keys.get(&current_key).cloned().unwrap_or_default();
            let service = rm.scheduler_service();
            let cap = rm.config.node_capacity;
            let n_nodes = rm.nodes.len();
            let avail = st.node_used.iter().fold((0i64, 0i64), |acc, u| (acc.0 + cap.memory - u.memory, acc.1 + (cap.vcores - u.vcores) as i64));
            let app = st.apps.get_mut(&app_id).expect("checked");
            let attempt = app.current_mut().expect("checked");
            let am_rm_token = (attempt.amrm_key_id != current_key).then(|| {
                attempt.amrm_key_id = current_key;
                AmrmTokenIdentifier { attempt: attempt_id, key_id: current_key }.token(&key_bytes, &service).to_proto()
            });
            let last_id = attempt.last_response.as_ref().and_then(|r| r.response_id).unwrap_or(0);
            let resp = AllocateResponseProto {
                a_m_command: None,
                response_id: Some(last_id.wrapping_add(1)),
                allocated_containers: allocated,
                completed_container_statuses: completed,
                limit: Some(ResourceProto { memory: Some(avail.0), virtual_cores: Some(avail.1 as i32) }),
                num_cluster_nodes: Some(n_nodes as i32),
                nm_tokens,
                am_rm_token,
            };
            attempt.last_response = Some(resp.clone());
            Ok(resp)
        })
    }

    fn finish(
        &self,
        attempt_id: ApplicationAttemptId,
        req: FinishApplicationMasterRequestProto,
    ) -> Result<FinishApplicationMasterResponseProto, RpcException> {
        self.with_attempt(attempt_id, |_, st, app_id| {
            let app = st.apps.get_mut(&app_id).expect("checked");
            let attempt = app.current_mut().expect("checked");
            if !attempt.registered {
                return Err(yarn_exception(
                    "ApplicationMasterNotRegisteredException",
                    format!("Application Master is trying to unregister before registering for: {attempt_id}"),
                ));
            }
            attempt.state = AttemptState::Finishing;
            if let Some(u) = req.tracking_url.filter(|u| !u.is_empty()) {
                attempt.tracking_url = u;
            }
            app.state = YarnApplicationState::FINISHED;
            app.final_status = final_status_from_code(req.final_application_status.unwrap_or(0));
            app.diagnostics = req.diagnostics.unwrap_or_default();
            app.finish_time = now_millis();
            Ok(FinishApplicationMasterResponseProto { is_unregistered: Some(true) })
        })
    }

    /// The AM container of an application's current attempt and its NodeManager.
    pub fn am_container(&self, app: ApplicationId) -> Option<(ContainerId, Arc<NodeManager>)> {
        let st = self.lock();
        let (cid, node) = st.apps.get(&app)?.current()?.am_container?;
        Some((cid, self.nodes[node].clone()))
    }
}

fn new_attempt(app: ApplicationId, n: i32, key_id: i32) -> Attempt {
    Attempt {
        id: ApplicationAttemptId {
            application_id: app,
            attempt_id: n,
        },
        state: AttemptState::Scheduled,
        am_container: None,
        registered: false,
        host: String::new(),
        rpc_port: -1,
        tracking_url: String::new(),
        start_time: now_millis(),
        finish_time: 0,
        last_response: None,
        asks: BTreeMap::new(),
        completed: Vec::new(),
        nm_tokens_sent: HashSet::new(),
        blacklist: HashSet::new(),
        next_container: 1,
        amrm_key_id: key_id,
        progress: 0.0,
    }
}

fn local_resource_proto(r: &LocalResourceInfo) -> LocalResourceProto {
    use crate::yarn::proto::{local_resource_type as t, local_resource_visibility as v};
    LocalResourceProto {
        resource: Some(url_from_string(&r.resource)),
        size: Some(r.size),
        timestamp: Some(r.timestamp),
        r#type: Some(match r.kind {
            LocalResourceType::Archive => t::ARCHIVE,
            LocalResourceType::File => t::FILE,
            LocalResourceType::Pattern => t::PATTERN,
        }),
        visibility: Some(match r.visibility {
            LocalResourceVisibility::Public => v::PUBLIC,
            LocalResourceVisibility::Private => v::PRIVATE,
            LocalResourceVisibility::Application => v::APPLICATION,
        }),
        pattern: r.pattern.clone(),
    }
}

/// `AMRMTokenSecretManager` on the RM side.
struct AmrmSecrets {
    rm: Weak<ResourceManager>,
}

impl TokenSecretManager for AmrmSecrets {
    fn retrieve_password(&self, identifier: &[u8]) -> Result<Vec<u8>, RpcException> {
        let id = AmrmTokenIdentifier::decode(identifier)
            .map_err(|e| RpcException::invalid_token(e.to_string()))?;
        let rm = self
            .rm
            .upgrade()
            .ok_or_else(|| RpcException::invalid_token("ResourceManager stopped"))?;
        let st = rm.lock();
        let live = st
            .apps
            .get(&id.attempt.application_id)
            .and_then(|a| a.current())
            .is_some_and(|a| a.id == id.attempt && !a.state.is_final());
        if !live {
            return Err(RpcException::invalid_token(format!(
                "{} not found in AMRMTokenSecretManager.",
                id.attempt
            )));
        }
        let key = st.amrm_keys.get(&id.key_id).ok_or_else(|| {
            RpcException::invalid_token(format!("Invalid AMRMToken from {}", id.attempt))
        })?;
        Ok(create_password(identifier, key))
    }

    fn user_of(&self, identifier: &[u8]) -> Result<String, RpcException> {
        Ok(AmrmTokenIdentifier::decode(identifier)
            .map_err(|e| RpcException::invalid_token(e.to_string()))?
            .attempt
            .to_string())
    }
}

struct SchedulerService {
    rm: Weak<ResourceManager>,
}

fn decode<M: Message + Default>(b: Bytes) -> Result<M, RpcException> {
    M::decode(b)
        .map_err(|e| RpcException::new("java.io.IOException", format!("malformed request: {e}")))
}

impl RpcService for SchedulerService {
    fn protocol(&self) -> &str {
        APPLICATION_MASTER_PROTOCOL
    }

    fn call(
        &self,
        caller: Caller,
        method: String,
        request: Bytes,
    ) -> BoxFuture<Result<Vec<u8>, RpcException>> {
        let rm = self.rm.upgrade();
        Box::pin(async move {
            let rm = rm.ok_or_else(|| {
                RpcException::new("java.io.IOException", "ResourceManager stopped")
            })?;
            let attempt = ResourceManager::caller_attempt(&caller)?;
            match method.as_str() {
                "registerApplicationMaster" => {
                    Ok(rm.register(attempt, decode(request)?)?.encode_to_vec())
                }
                "allocate" => Ok(rm.allocate(attempt, decode(request)?)?.encode_to_vec()),
                "finishApplicationMaster" => {
                    Ok(rm.finish(attempt, decode(request)?)?.encode_to_vec())
                }
                m => Err(unknown_method(m, APPLICATION_MASTER_PROTOCOL)),
            }
        })
    }
}
