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

use super::nm::{exit_status, ClusterKeys, ContainerCompleted, ContainerStart, NodeManager};
use crate::hadoop::ipc::server::{decode_request, unknown_method};
use crate::hadoop::ipc::{
    AuthConfig, BoxFuture, Caller, RpcException, RpcServer, RpcService, TokenSecretManager,
};
use crate::hadoop::security::{create_password, Credentials, Token};
use crate::yarn::amrm::{final_status_from_code, ANY};
use crate::yarn::ids::{ApplicationAttemptId, ApplicationId, ContainerId};
use crate::yarn::launch::launch_context;
use crate::yarn::proto::{
    container_state, AllocateRequestProto, AllocateResponseProto, ApplicationAclMapProto,
    ContainerLaunchContextProto, ContainerProto, ContainerStatusProto,
    FinishApplicationMasterRequestProto, FinishApplicationMasterResponseProto, NmTokenProto,
    PriorityProto, RegisterApplicationMasterRequestProto, RegisterApplicationMasterResponseProto,
    ResourceProto, ResourceRequestProto,
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

/// The start time that names this ResourceManager's applications and containers: distinct
/// for every mini cluster of the process (tests start several within one millisecond, and
/// equal timestamps would give two clusters the same container ids).
fn unique_cluster_timestamp() -> i64 {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = now_millis();
    let previous = LAST
        .fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |last| Some(now.max(last + 1)),
        )
        .unwrap_or(now);
    now.max(previous + 1)
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
    /// `yarn.am.liveness-monitor.expiry-interval-ms`.
    pub am_expiry: std::time::Duration,
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
    /// Launch, register and every allocate ping the liveness monitor.
    last_heartbeat: i64,
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

/// One container the scheduler hands out.
struct Grant {
    id: ContainerId,
    node: usize,
    resource: ResourceInfo,
    priority: i32,
    is_am: bool,
    allocation_request_id: i64,
}

struct LiveContainer {
    node: usize,
    resource: ResourceInfo,
    attempt: ApplicationAttemptId,
    priority: i32,
    allocation_request_id: i64,
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

impl State {
    /// Books a container on its node.
    fn take(&mut self, id: ContainerId, c: LiveContainer) {
        self.node_used[c.node].memory += c.resource.memory;
        self.node_used[c.node].vcores += c.resource.vcores;
        self.containers.insert(id, c);
        self.containers_allocated += 1;
    }

    /// Frees a container's node capacity; `None` if it was already gone.
    fn free(&mut self, id: &ContainerId) -> Option<LiveContainer> {
        let c = self.containers.remove(id)?;
        self.node_used[c.node].memory -= c.resource.memory;
        self.node_used[c.node].vcores -= c.resource.vcores;
        Some(c)
    }
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
            cluster_timestamp: unique_cluster_timestamp(),
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
        *self
            .scheduler_addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(addr);
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(server);
        let weak = Arc::downgrade(self);
        let expiry = self.config.am_expiry;
        let check = (expiry / 3).clamp(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_secs(1),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(check);
            loop {
                tick.tick().await;
                let Some(rm) = weak.upgrade() else { return };
                rm.expire_silent_ams(expiry);
            }
        });
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
        *self
            .webapp_addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = addr;
    }

    fn scheduler_service(&self) -> String {
        self.scheduler_addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    pub fn shutdown(&self) {
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
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
        for label in [
            &ctx.app_node_label_expression,
            &ctx.am_container_node_label_expression,
        ] {
            if let Some(l) = label.as_deref().filter(|l| !l.trim().is_empty()) {
                return Err(WebError::bad_request(unknown_label(l)));
            }
        }
        let mut credentials = Credentials::new();
        for (alias, value) in ctx.am_container_spec.credentials.tokens.iter() {
            let token = Token::decode_from_url_string(alias, value).map_err(|e| {
                WebError::bad_request(format!(
                    "Could not parse credentials data; exception message = {e}"
                ))
            })?;
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
                        "Could not parse credentials data; exception message = secret {alias}: {e}"
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
        app.diagnostics = "Application killed by user.".to_string();
        tracing::info!("Kill application {id} received from {user}");
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
                    blacklisted_nodes: a.blacklist.iter().cloned().collect::<Vec<_>>().join(","),
                    nodes_blacklisted_by_system: String::new(),
                    export_ports: None,
                    app_attempt_id: Some(a.id.to_string()),
                    app_attempt_state: Some(a.state.name().into()),
                }
            })
            .collect())
    }

    fn render_app(&self, st: &State, app: &App) -> AppInfo {
        let web = self
            .webapp_addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
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

    /// Node reports (`/ws/v1/cluster/nodes`).
    pub fn nodes_info(&self) -> Vec<NodeInfo> {
        let st = self.lock();
        let cap = self.config.node_capacity;
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, nm)| {
                let used = st.node_used[i];
                NodeInfo {
                    id: nm.node_id.to_string(),
                    rack: "/default-rack".into(),
                    state: "RUNNING".into(),
                    node_host_name: nm.node_id.host.clone(),
                    node_http_address: nm.http_address(),
                    last_health_update: now_millis(),
                    health_report: String::new(),
                    num_containers: st.containers.values().filter(|c| c.node == i).count() as i64,
                    used_memory_mb: used.memory,
                    avail_memory_mb: cap.memory - used.memory,
                    used_virtual_cores: used.vcores as i64,
                    available_virtual_cores: (cap.vcores - used.vcores) as i64,
                }
            })
            .collect()
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

    /// First node with room for `r`: among `preferred` first, then (unless `strict`) any
    /// other node not blacklisted.
    fn find_node(
        &self,
        st: &State,
        r: ResourceInfo,
        blacklist: &HashSet<String>,
        preferred: &HashSet<usize>,
        strict: bool,
    ) -> Option<usize> {
        let cap = self.config.node_capacity;
        let fits = |i: usize| {
            let u = st.node_used[i];
            !blacklist.contains(&self.nodes[i].node_id.host)
                && !blacklist.contains(&self.nodes[i].node_id.to_string())
                && u.memory + r.memory <= cap.memory
                && u.vcores + r.vcores <= cap.vcores
        };
        let mut order: Vec<usize> = (0..self.nodes.len())
            .filter(|i| preferred.contains(i))
            .collect();
        if !strict {
            order.extend((0..self.nodes.len()).filter(|i| !preferred.contains(i)));
        }
        order.into_iter().find(|&i| fits(i))
    }

    /// Whether an ask's resource name names node `i` (host, or host:port since mini
    /// NodeManagers share one host).
    fn names_node(&self, name: &str, i: usize) -> bool {
        let id = &self.nodes[i].node_id;
        name == id.host || name == id.to_string()
    }

    /// Nodes named by node-level asks matching an ANY ask (same priority, allocation id and
    /// capability) that still want containers.
    fn local_nodes(
        &self,
        asks: &BTreeMap<AskKey, ResourceRequestProto>,
        any: &AskKey,
    ) -> HashSet<usize> {
        let mut out = HashSet::new();
        for (k, r) in asks {
            let same = k.0 == any.0 && k.1 == any.1 && k.3 == any.3 && k.4 == any.4;
            if same && k.2 != ANY && r.num_containers.unwrap_or(0) > 0 {
                out.extend((0..self.nodes.len()).filter(|&i| self.names_node(&k.2, i)));
            }
        }
        out
    }

    /// The NMToken that lets an attempt talk to node `node`.
    fn nm_token(&self, attempt: ApplicationAttemptId, node: usize, user: &str) -> NmTokenProto {
        let node_id = self.nodes[node].node_id.clone();
        let id = NmTokenIdentifier {
            attempt,
            node_id: node_id.clone(),
            app_submitter: user.to_string(),
            key_id: self.keys.nm_token_key_id,
        };
        NmTokenProto {
            node_id: Some(node_id.to_proto()),
            token: Some(id.token(&self.keys.nm_token_key).to_proto()),
        }
    }

    /// The `Container` record an AM receives.
    fn container_record(
        &self,
        id: ContainerId,
        node: usize,
        r: ResourceInfo,
        priority: i32,
        allocation_request_id: i64,
        token: Option<crate::hadoop::proto::TokenProto>,
    ) -> ContainerProto {
        ContainerProto {
            id: Some(id.to_proto()),
            node_id: Some(self.nodes[node].node_id.to_proto()),
            node_http_address: Some(self.nodes[node].http_address()),
            resource: Some(ResourceProto {
                memory: Some(r.memory),
                virtual_cores: Some(r.vcores),
            }),
            priority: Some(PriorityProto {
                priority: Some(priority),
            }),
            container_token: token,
            execution_type: Some(crate::yarn::proto::EXECUTION_TYPE_GUARANTEED),
            allocation_request_id: Some(allocation_request_id),
            version: Some(0),
        }
    }

    /// The container token for a grant (`RMContainerTokenSecretManager.createContainerToken`).
    fn container_token(&self, user: &str, g: &Grant) -> (ContainerTokenIdentifier, Token) {
        let (id, node, r, priority, is_am, alloc_id) = (
            g.id,
            g.node,
            g.resource,
            g.priority,
            g.is_am,
            g.allocation_request_id,
        );
        let now = now_millis();
        let ident = ContainerTokenIdentifier {
            container_id: id,
            nm_host_addr: self.nodes[node].node_id.to_string(),
            app_submitter: user.to_string(),
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
            let Some(node) = self.find_node(st, r, &HashSet::new(), &HashSet::new(), false) else {
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
            attempt.last_heartbeat = now_millis();
            attempt.am_container = Some((cid, node));
            attempt.amrm_key_id = amrm_key.0;
            let attempt_id = attempt.id;
            app.launch_time = now_millis();
            let grant = Grant {
                id: cid,
                node,
                resource: r,
                priority: 0,
                is_am: true,
                allocation_request_id: -1,
            };
            let (ident, _) = self.container_token(&app.user, &grant);
            let amrm = AmrmTokenIdentifier {
                attempt: attempt_id,
                key_id: amrm_key.0,
            }
            .token(&amrm_key.1, &service);
            let launch_context = self.am_launch_context(app, amrm);
            st.take(
                cid,
                LiveContainer {
                    node,
                    resource: r,
                    attempt: attempt_id,
                    priority: 0,
                    allocation_request_id: -1,
                },
            );
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
        let extra = [
            ("APPLICATION_WEB_PROXY_BASE", format!("/proxy/{}", app.id)),
            ("APP_SUBMIT_TIME_ENV", app.submit_time.to_string()),
            ("MAX_APP_ATTEMPTS", app.max_attempts.to_string()),
        ];
        let env = spec
            .environment
            .iter()
            .map(|(k, v)| (k, v.as_str()))
            .chain(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let mut ctx = launch_context(
            spec.commands.command.clone(),
            env,
            spec.local_resources.iter(),
            Some(&creds),
        );
        ctx.application_acls = spec
            .application_acls
            .iter()
            .map(|(k, v)| ApplicationAclMapProto {
                access_type: Some(if k == "MODIFY_APP" { 2 } else { 1 }),
                acl: Some(v.clone()),
            })
            .collect();
        ctx
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
            if let Some(c) = st.free(&id) {
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
        if st.free(&cid).is_none() {
            return; // already released or cleaned up by the RM
        }
        let app_id = cid.attempt.application_id;
        let tracking = format!(
            "http://{}/cluster/app/{app_id}",
            self.webapp_addr
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        );
        let Some(app) = st.apps.get_mut(&app_id) else {
            return;
        };
        let am_of = app
            .attempts
            .iter_mut()
            .find(|a| a.am_container.map(|x| x.0) == Some(cid));
        match am_of {
            None => {
                // A task container: report it to the current attempt.
                if let Some(cur) = app.current_mut() {
                    cur.completed.push(ev.status);
                }
            }
            Some(attempt) if attempt.state == AttemptState::Finishing => {
                attempt.state = AttemptState::Finished;
                attempt.finish_time = now_millis();
                self.kill_app_containers(
                    &mut st,
                    app_id,
                    None,
                    exit_status::KILLED_AFTER_APP_COMPLETION,
                    "Container killed by the ResourceManager after the application completed.",
                );
            }
            Some(attempt)
                if matches!(
                    attempt.state,
                    AttemptState::Launched | AttemptState::Running
                ) =>
            {
                let code = ev.status.exit_status.unwrap_or(exit_status::INVALID);
                let diag = format!(
                    "AM Container for {} exited with  exitCode: {code}\nFailing this attempt.Diagnostics: {}For more detailed output, check application tracking page: {tracking} Then, click on links to logs of each attempt.\n",
                    attempt.id,
                    ev.status.diagnostics.clone().unwrap_or_default()
                );
                let attempt_id = attempt.id;
                self.fail_attempt(&mut st, attempt_id, diag);
            }
            Some(_) => {}
        }
        self.schedule_ams(&mut st);
    }

    /// `RMAppAttemptImpl` failure: the attempt FAILED; a new attempt if the failures inside
    /// attempt-failures-validity-interval stay below max attempts, else the application
    /// FAILED (`Application X failed N times due to ...`).
    fn fail_attempt(&self, st: &mut State, attempt_id: ApplicationAttemptId, diag: String) {
        let app_id = attempt_id.application_id;
        let key_id = st.amrm_key_id;
        let Some(app) = st.apps.get_mut(&app_id) else {
            return;
        };
        let Some(attempt) = app.attempts.iter_mut().find(|a| a.id == attempt_id) else {
            return;
        };
        attempt.state = AttemptState::Failed;
        attempt.finish_time = now_millis();
        let max = app.max_attempts;
        let window = app.ctx.attempt_failures_validity_interval.unwrap_or(-1);
        let now = now_millis();
        let failures = app
            .attempts
            .iter()
            .filter(|a| a.state == AttemptState::Failed)
            .filter(|a| window <= 0 || a.finish_time > now - window)
            .count() as i32;
        let cleanup = if failures < max {
            app.state = YarnApplicationState::ACCEPTED;
            app.diagnostics = diag;
            let next = new_attempt(app_id, app.attempts.len() as i32 + 1, key_id);
            let next_id = next.id;
            app.attempts.push(next);
            if app.ctx.keep_containers_across_application_attempts {
                // Task containers move to the new attempt; the old AM container goes.
                let am = app
                    .attempts
                    .iter()
                    .find(|a| a.id == attempt_id)
                    .and_then(|a| a.am_container);
                for (id, c) in st.containers.iter_mut() {
                    if c.attempt == attempt_id && am.map(|a| a.0) != Some(*id) {
                        c.attempt = next_id;
                    }
                }
            }
            (
                Some(attempt_id),
                "Container of a completed attempt killed by the ResourceManager.",
            )
        } else {
            app.state = YarnApplicationState::FAILED;
            app.final_status = FinalApplicationStatus::FAILED;
            app.finish_time = now_millis();
            app.diagnostics = format!(
                "Application {app_id} failed {max} times due to {diag}. Failing the application."
            );
            (None, "Container killed by the ResourceManager.")
        };
        self.kill_app_containers(
            st,
            app_id,
            cleanup.0,
            exit_status::KILLED_BY_RESOURCEMANAGER,
            cleanup.1,
        );
    }

    /// `AMLivelinessMonitor`: an attempt whose AM has not heartbeated (registered or
    /// allocated) within the expiry interval fails.
    pub fn expire_silent_ams(&self, expiry: std::time::Duration) {
        let mut st = self.lock();
        let deadline = now_millis() - expiry.as_millis() as i64;
        let expired: Vec<ApplicationAttemptId> = st
            .apps
            .values()
            .filter_map(|a| a.current())
            .filter(|a| matches!(a.state, AttemptState::Launched | AttemptState::Running))
            .filter(|a| a.last_heartbeat < deadline)
            .map(|a| a.id)
            .collect();
        for id in expired {
            self.fail_attempt(
                &mut st,
                id,
                format!("ApplicationMaster for attempt {id} timed out"),
            );
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
            attempt.last_heartbeat = now_millis();
            attempt.host = req.host.unwrap_or_default();
            attempt.rpc_port = req.rpc_port.unwrap_or(-1);
            attempt.tracking_url = req.tracking_url.unwrap_or_default();
            attempt.last_response = Some(AllocateResponseProto {
                response_id: Some(0),
                ..Default::default()
            });
            app.state = YarnApplicationState::RUNNING;
            let user = app.user.clone();
            // keep-containers-across-application-attempts: running containers of earlier
            // attempts (moved to this one on failure) and NMTokens for their nodes.
            let mut previous = Vec::new();
            let mut nodes = std::collections::BTreeSet::new();
            for (cid, c) in &st.containers {
                let from_earlier_attempt = cid.attempt != attempt_id;
                if c.attempt == attempt_id && from_earlier_attempt {
                    previous.push(rm.container_record(
                        *cid,
                        c.node,
                        c.resource,
                        c.priority,
                        c.allocation_request_id,
                        None,
                    ));
                    nodes.insert(c.node);
                }
            }
            let nm_tokens: Vec<NmTokenProto> = nodes
                .iter()
                .map(|&n| rm.nm_token(attempt_id, n, &user))
                .collect();
            if let Some(a) = st.apps.get_mut(&app_id).and_then(App::current_mut) {
                a.nm_tokens_sent.extend(nodes);
            }
            let max = rm.config.max_allocation;
            Ok(RegisterApplicationMasterResponseProto {
                maximum_capability: Some(ResourceProto {
                    memory: Some(max.memory),
                    virtual_cores: Some(max.vcores),
                }),
                client_to_am_token_master_key: None,
                application_acls: Vec::new(),
                containers_from_previous_attempts: previous,
                queue: Some(queue),
                nm_tokens_from_previous_attempts: nm_tokens,
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
                if let Some(label) = ask.node_label_expression.as_deref().filter(|l| !l.trim().is_empty()) {
                    return Err(yarn_exception("InvalidLabelResourceRequestException", unknown_label(label)));
                }
                if ask.num_containers.unwrap_or(0) < 0 {
                    return Err(yarn_exception("InvalidResourceRequestException", format!("Invalid resource request, number of containers is negative: {}", ask.num_containers.unwrap_or(0))));
                }
                normalized.push((ask.clone(), n));
            }
            // Releases.
            let mut released = Vec::new();
            for cid_p in &req.release {
                let cid = ContainerId::from_proto(cid_p);
                let owned = st.containers.get(&cid).is_some_and(|c| c.attempt.application_id == app_id);
                if owned {
                    if let Some(c) = st.free(&cid) {
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
            attempt.last_heartbeat = now_millis();
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
            // With relax_locality false on the ANY ask, only nodes named by node-level asks
            // qualify (Hadoop's strict locality); otherwise they are merely preferred.
            let asks: Vec<(AskKey, i32, HashSet<usize>, bool)> = attempt
                .asks
                .iter()
                .filter(|(k, r)| k.2 == ANY && r.num_containers.unwrap_or(0) > 0)
                .map(|(k, r)| {
                    let strict = r.relax_locality == Some(false);
                    (k.clone(), r.num_containers.unwrap_or(0), rm.local_nodes(&attempt.asks, k), strict)
                })
                .collect();
            // Allocation against node capacity, highest priority (lowest number) first.
            let mut allocated = Vec::new();
            let mut nm_tokens = Vec::new();
            for (key, want, preferred, strict) in asks {
                let r = ResourceInfo { memory: key.3, vcores: key.4 };
                let mut placed = 0;
                while placed < want {
                    let Some(node) = rm.find_node(st, r, &blacklist, &preferred, strict) else { break };
                    let app = st.apps.get_mut(&app_id).expect("checked");
                    let attempt = app.current_mut().expect("checked");
                    // The node-level ask this container satisfies, if any, wants one fewer.
                    let node_ask = attempt.asks.iter_mut().find(|(k, a)| {
                        k.0 == key.0 && k.1 == key.1 && k.3 == key.3 && k.4 == key.4
                            && k.2 != ANY
                            && a.num_containers.unwrap_or(0) > 0
                            && rm.names_node(&k.2, node)
                    });
                    if let Some((_, a)) = node_ask {
                        a.num_containers = Some(a.num_containers.unwrap_or(0) - 1);
                    }
                    let cid = ContainerId { attempt: attempt.id, id: attempt.next_container };
                    attempt.next_container += 1;
                    let send_nm_token = attempt.nm_tokens_sent.insert(node);
                    let app_ref = st.apps.get(&app_id).expect("checked");
                    let grant = Grant {
                        id: cid,
                        node,
                        resource: r,
                        priority: key.0,
                        is_am: false,
                        allocation_request_id: key.1,
                    };
                    let (_, token) = rm.container_token(&app_ref.user, &grant);
                    st.take(
                        cid,
                        LiveContainer {
                            node,
                            resource: r,
                            attempt: attempt_id,
                            priority: key.0,
                            allocation_request_id: key.1,
                        },
                    );
                    if send_nm_token {
                        nm_tokens.push(rm.nm_token(attempt_id, node, &user));
                    }
                    allocated.push(rm.container_record(cid, node, r, key.0, key.1, Some(token.to_proto())));
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

/// The mini cluster has no node labels; Hadoop's message for a label it does not know.
fn unknown_label(label: &str) -> String {
    format!("Invalid label resource request, cluster do not contain , label= {label}")
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
        last_heartbeat: now_millis(),
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
                "registerApplicationMaster" => Ok(rm
                    .register(attempt, decode_request(request)?)?
                    .encode_to_vec()),
                "allocate" => Ok(rm
                    .allocate(attempt, decode_request(request)?)?
                    .encode_to_vec()),
                "finishApplicationMaster" => Ok(rm
                    .finish(attempt, decode_request(request)?)?
                    .encode_to_vec()),
                m => Err(unknown_method(m, APPLICATION_MASTER_PROTOCOL)),
            }
        })
    }
}
