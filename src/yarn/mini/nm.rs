//! Mini NodeManager: the ContainerManagement RPC endpoint (TOKEN-only, NMTokens checked as
//! `NMTokenSecretManagerInNM` does, container tokens as `ContainerManagerImpl` does),
//! localization, the environment YARN sets, `launch_container.sh`, real child processes in
//! their own process group, exit codes and diagnostics worded like Hadoop's, and the
//! physical-memory check that kills a container with exit status -104.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::sync::mpsc;

use super::localizer;
use super::procfs;
use crate::hadoop::ipc::server::{decode_request, unknown_method};
use crate::hadoop::ipc::{
    AuthConfig, BoxFuture, Caller, RpcException, RpcServer, RpcService, TokenSecretManager,
};
use crate::hadoop::security::{create_password, Credentials};
use crate::yarn::ids::{ApplicationId, ContainerId, NodeId};
use crate::yarn::proto::{
    container_state, ContainerExceptionMapProto, ContainerIdProto, ContainerLaunchContextProto,
    ContainerStatusProto, GetContainerStatusesRequestProto, GetContainerStatusesResponseProto,
    ResourceProto, SerializedExceptionProto, StartContainersRequestProto,
    StartContainersResponseProto, StopContainersRequestProto, StopContainersResponseProto,
};
use crate::yarn::tokens::{ContainerTokenIdentifier, NmTokenIdentifier};
use crate::yarn::CONTAINER_MANAGEMENT_PROTOCOL;

/// `ContainerExitStatus` values.
pub mod exit_status {
    pub const SUCCESS: i32 = 0;
    pub const INVALID: i32 = -1000;
    pub const ABORTED: i32 = -100;
    pub const KILLED_EXCEEDED_PMEM: i32 = -104;
    pub const KILLED_BY_APPMASTER: i32 = -105;
    pub const KILLED_BY_RESOURCEMANAGER: i32 = -106;
    pub const KILLED_AFTER_APP_COMPLETION: i32 = -107;
}

const YARN_EXCEPTION: &str = "org.apache.hadoop.yarn.exceptions.YarnException";
/// `yarn.nodemanager.sleep-delay-before-sigkill.ms` default.
const SIGKILL_DELAY: Duration = Duration::from_millis(250);
/// `yarn.nodemanager.vmem-pmem-ratio` default.
const VMEM_PMEM_RATIO: f64 = 2.1;

/// A container reached a final state; the RM turns it into a completed container status.
#[derive(Debug, Clone)]
pub struct ContainerCompleted {
    pub node: NodeId,
    pub status: ContainerStatusProto,
}

/// Secrets shared by the RM and its NodeManagers.
#[derive(Clone)]
pub struct ClusterKeys {
    pub nm_token_key: Vec<u8>,
    pub nm_token_key_id: i32,
    pub container_token_key: Vec<u8>,
    pub container_token_key_id: i32,
}

/// What the NM needs to start a container (after its token was checked).
pub struct ContainerStart {
    pub token: ContainerTokenIdentifier,
    pub launch_context: ContainerLaunchContextProto,
}

struct NmContainer {
    app: ApplicationId,
    memory_mb: i64,
    vcores: i32,
    state: i32,
    exit_status: i32,
    diagnostics: String,
    pgid: Option<i32>,
    kill: Option<(i32, String)>,
    work_dir: Option<PathBuf>,
}

/// One NodeManager.
pub struct NodeManager {
    pub node_id: NodeId,
    pub http_port: u16,
    root: PathBuf,
    keys: ClusterKeys,
    monitor_interval: Duration,
    containers: Mutex<HashMap<ContainerId, NmContainer>>,
    events: mpsc::UnboundedSender<ContainerCompleted>,
    servers: Mutex<Vec<RpcServer>>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    cache_seq: AtomicU64,
}

/// Checks NMTokens: issued with the shared key, for this node.
struct NmTokenSecrets {
    node_id: NodeId,
    key: Vec<u8>,
}

impl TokenSecretManager for NmTokenSecrets {
    fn retrieve_password(&self, identifier: &[u8]) -> Result<Vec<u8>, RpcException> {
        let id = NmTokenIdentifier::decode(identifier)
            .map_err(|e| RpcException::invalid_token(e.to_string()))?;
        if id.node_id != self.node_id {
            return Err(RpcException::invalid_token(format!(
                "Given NMToken for application : {} is not valid for current node manager.expected : {} found : {}",
                id.attempt.application_id, self.node_id, id.node_id
            )));
        }
        Ok(create_password(identifier, &self.key))
    }

    fn user_of(&self, identifier: &[u8]) -> Result<String, RpcException> {
        let id = NmTokenIdentifier::decode(identifier)
            .map_err(|e| RpcException::invalid_token(e.to_string()))?;
        Ok(id.attempt.to_string())
    }
}

struct NmService {
    nm: Arc<NodeManager>,
}

fn failure(id: Option<ContainerIdProto>, message: String) -> ContainerExceptionMapProto {
    ContainerExceptionMapProto {
        container_id: id,
        exception: Some(SerializedExceptionProto {
            message: Some(message),
            trace: None,
            class_name: Some(YARN_EXCEPTION.into()),
            cause: None,
        }),
    }
}

impl RpcService for NmService {
    fn protocol(&self) -> &str {
        CONTAINER_MANAGEMENT_PROTOCOL
    }

    fn call(
        &self,
        caller: Caller,
        method: String,
        request: Bytes,
    ) -> BoxFuture<Result<Vec<u8>, RpcException>> {
        let nm = self.nm.clone();
        Box::pin(async move {
            let nm_token = caller
                .token_identifier
                .as_deref()
                .map(NmTokenIdentifier::decode)
                .transpose()
                .map_err(|e| RpcException::invalid_token(e.to_string()))?
                .ok_or_else(|| RpcException::new(YARN_EXCEPTION, "No NMToken sent"))?;
            match method.as_str() {
                "startContainers" => Ok(nm
                    .start_containers(&nm_token, decode_request(request)?)
                    .encode_to_vec()),
                "stopContainers" => Ok(nm
                    .stop_containers(&nm_token, decode_request(request)?)
                    .encode_to_vec()),
                "getContainerStatuses" => Ok(nm
                    .statuses(&nm_token, decode_request(request)?)
                    .encode_to_vec()),
                m => Err(unknown_method(m, CONTAINER_MANAGEMENT_PROTOCOL)),
            }
        })
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl NodeManager {
    /// Starts the RPC and HTTP endpoints on 127.0.0.1 ephemeral ports.
    pub async fn start(
        root: PathBuf,
        keys: ClusterKeys,
        monitor_interval: Duration,
        events: mpsc::UnboundedSender<ContainerCompleted>,
    ) -> std::io::Result<Arc<NodeManager>> {
        std::fs::create_dir_all(&root)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http_port = http.local_addr()?.port();
        let node_id = NodeId {
            host: "127.0.0.1".into(),
            port: port as i32,
        };
        let nm = Arc::new(NodeManager {
            node_id: node_id.clone(),
            http_port,
            root,
            keys: keys.clone(),
            monitor_interval,
            containers: Mutex::new(HashMap::new()),
            events,
            servers: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
            cache_seq: AtomicU64::new(0),
        });
        let secrets = Arc::new(NmTokenSecrets {
            node_id: node_id.clone(),
            key: keys.nm_token_key.clone(),
        });
        let server = RpcServer::from_listener(
            listener,
            AuthConfig::token_only(secrets),
            Arc::new(NmService { nm: nm.clone() }),
        )?;
        nm.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(server);
        let info = serde_json::json!({"nodeInfo": {"id": node_id.to_string(), "nodeHostName": "127.0.0.1",
            "totalVmemAllocatedContainersMB": 0, "nodeManagerVersion": "3.3.6-strato-mini"}});
        let app = axum::Router::new().route(
            "/ws/v1/node/info",
            axum::routing::get(move || {
                let info = info.clone();
                async move { axum::Json(info) }
            }),
        );
        let http_task = tokio::spawn(async move {
            let _ = axum::serve(http, app).await;
        });
        nm.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(http_task.abort_handle());
        Ok(nm)
    }

    /// `host:port` of the NodeManager web server.
    pub fn http_address(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// Stops serving and kills every container (used when the mini cluster shuts down).
    pub fn shutdown(&self) {
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            t.abort();
        }
        let pgids: Vec<i32> = self
            .containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter_map(|c| c.pgid)
            .collect();
        for pg in pgids {
            signal_group(pg, libc::SIGKILL);
        }
    }

    /// Checks one container token as `ContainerManagerImpl.verifyAndGetContainerTokenIdentifier`
    /// and `authorizeStartAndResourceIncreaseRequest` do.
    fn authorize_start(
        &self,
        nm_token: &NmTokenIdentifier,
        token: &crate::hadoop::proto::TokenProto,
    ) -> Result<ContainerTokenIdentifier, String> {
        let mut msg = String::from("Unauthorized request to start container. ");
        let id = ContainerTokenIdentifier::decode(&token.identifier)
            .map_err(|e| format!("{msg}\n{e}"))?;
        // NMContainerTokenSecretManager.retrievePassword: the token names its NodeManager.
        if id.nm_host_addr != self.node_id.to_string() {
            return Err(format!(
                "Given Container {} identifier is not valid for current Node manager. Expected : {} Found : {}",
                id.container_id, self.node_id, id.nm_host_addr
            ));
        }
        let expected = create_password(&token.identifier, &self.keys.container_token_key);
        if expected != token.password || id.master_key_id != self.keys.container_token_key_id {
            msg.push_str(&format!(
                "\nInvalid container token used for starting container on : {}",
                self.node_id
            ));
            return Err(msg);
        }
        let mut unauthorized = false;
        if nm_token.attempt.application_id != id.container_id.attempt.application_id {
            unauthorized = true;
            msg.push_str(&format!(
                "\nNMToken for application attempt : {} was used for starting container with container token issued for application attempt : {}",
                nm_token.attempt, id.container_id.attempt
            ));
        } else if self
            .containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&id.container_id)
        {
            unauthorized = true;
            msg.push_str(&format!(
                "\n Attempt to relaunch the same container with id {}.",
                id.container_id
            ));
        } else if id.expiry_time_stamp < now_millis() {
            unauthorized = true;
            msg.push_str(&format!(
                "\nThis token is expired. current time is {} found {}\nNote: System times on machines may be out of sync. Check system time and time zones.",
                now_millis(),
                id.expiry_time_stamp
            ));
        }
        if unauthorized {
            return Err(msg);
        }
        Ok(id)
    }

    fn start_containers(
        self: &Arc<Self>,
        nm_token: &NmTokenIdentifier,
        req: StartContainersRequestProto,
    ) -> StartContainersResponseProto {
        let mut resp = StartContainersResponseProto::default();
        for r in req.start_container_request {
            let Some(token) = r.container_token else {
                resp.failed_requests.push(failure(
                    None,
                    "Unauthorized request to start container. \nNo container token".into(),
                ));
                continue;
            };
            match self.authorize_start(nm_token, &token) {
                Ok(id) => {
                    let cid = id.container_id.to_proto();
                    self.launch(ContainerStart {
                        token: id,
                        launch_context: r.container_launch_context.unwrap_or_default(),
                    });
                    resp.succeeded_requests.push(cid);
                }
                Err(msg) => {
                    let cid = ContainerTokenIdentifier::decode(&token.identifier)
                        .ok()
                        .map(|i| i.container_id.to_proto());
                    resp.failed_requests.push(failure(cid, msg));
                }
            }
        }
        resp
    }

    /// `authorizeGetAndStopContainerRequest`: an NMToken only reaches its own application's
    /// containers.
    fn check_owned(
        &self,
        nm_token: &NmTokenIdentifier,
        id: &ContainerIdProto,
    ) -> Result<ContainerId, Box<ContainerExceptionMapProto>> {
        let cid = ContainerId::from_proto(id);
        let known = self
            .containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&cid);
        if !known {
            return Err(Box::new(failure(
                Some(id.clone()),
                format!("Container {cid} is not handled by this NodeManager"),
            )));
        }
        if cid.attempt.application_id != nm_token.attempt.application_id {
            return Err(Box::new(failure(
                Some(id.clone()),
                format!(
                    "Unauthorized request to access container {cid}: NMToken is for application {}",
                    nm_token.attempt.application_id
                ),
            )));
        }
        Ok(cid)
    }

    fn stop_containers(
        &self,
        nm_token: &NmTokenIdentifier,
        req: StopContainersRequestProto,
    ) -> StopContainersResponseProto {
        let mut resp = StopContainersResponseProto::default();
        for id in req.container_id {
            match self.check_owned(nm_token, &id) {
                Ok(cid) => {
                    self.kill(
                        cid,
                        exit_status::KILLED_BY_APPMASTER,
                        "Container killed by the ApplicationMaster.",
                    );
                    resp.succeeded_requests.push(id);
                }
                Err(f) => resp.failed_requests.push(*f),
            }
        }
        resp
    }

    fn statuses(
        &self,
        nm_token: &NmTokenIdentifier,
        req: GetContainerStatusesRequestProto,
    ) -> GetContainerStatusesResponseProto {
        let mut resp = GetContainerStatusesResponseProto::default();
        for id in req.container_id {
            match self.check_owned(nm_token, &id) {
                Ok(cid) => {
                    if let Some(s) = self.status_of(cid) {
                        resp.status.push(s);
                    }
                }
                Err(f) => resp.failed_requests.push(*f),
            }
        }
        resp
    }

    fn status_of(&self, cid: ContainerId) -> Option<ContainerStatusProto> {
        let map = self
            .containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = map.get(&cid)?;
        Some(ContainerStatusProto {
            container_id: Some(cid.to_proto()),
            state: Some(c.state),
            diagnostics: Some(c.diagnostics.clone()),
            exit_status: Some(c.exit_status),
            capability: Some(ResourceProto {
                memory: Some(c.memory_mb),
                virtual_cores: Some(c.vcores),
            }),
            execution_type: Some(crate::yarn::proto::EXECUTION_TYPE_GUARANTEED),
        })
    }

    /// Containers of an application still known here (finished ones included).
    pub fn containers_of(&self, app: ApplicationId) -> Vec<ContainerId> {
        self.containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, c)| c.app == app)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Starts a container whose token was already checked (the RM's AM launcher calls this
    /// directly; AMs come through `startContainers`).
    pub fn launch(self: &Arc<Self>, start: ContainerStart) {
        let id = start.token.container_id;
        self.containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                id,
                NmContainer {
                    app: id.attempt.application_id,
                    memory_mb: start.token.memory_mb,
                    vcores: start.token.vcores,
                    state: container_state::C_NEW,
                    exit_status: exit_status::INVALID,
                    diagnostics: String::new(),
                    pgid: None,
                    kill: None,
                    work_dir: None,
                },
            );
        let nm = self.clone();
        let task = tokio::spawn(async move {
            let (code, diag) = nm.run(&start).await;
            nm.complete(id, code, diag);
        });
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task.abort_handle());
    }

    /// The working directory of a container (its `PWD`), once localization began.
    pub fn work_dir(&self, id: ContainerId) -> Option<PathBuf> {
        self.containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .and_then(|c| c.work_dir.clone())
    }

    /// Kills a container's processes with SIGKILL as if they crashed (no stop request, so
    /// the exit is reported as the process's own). Returns whether a process was running.
    pub fn crash(&self, id: ContainerId) -> bool {
        let pgid = self
            .containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .and_then(|c| c.pgid);
        match pgid {
            Some(pg) => {
                signal_group(pg, libc::SIGKILL);
                true
            }
            None => false,
        }
    }

    /// Asks a container to stop: SIGTERM to its process group, SIGKILL after a grace delay.
    pub fn kill(&self, id: ContainerId, exit_status: i32, diagnostics: &str) {
        let pgid = {
            let mut map = self
                .containers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(c) = map.get_mut(&id) else { return };
            if c.state == container_state::C_COMPLETE || c.kill.is_some() {
                return;
            }
            c.kill = Some((exit_status, diagnostics.to_string()));
            c.pgid
        };
        if let Some(pg) = pgid {
            signal_group(pg, libc::SIGTERM);
            tokio::spawn(async move {
                tokio::time::sleep(SIGKILL_DELAY).await;
                signal_group(pg, libc::SIGKILL);
            });
        }
    }

    fn complete(&self, id: ContainerId, exit: i32, diagnostics: String) {
        let status = {
            let mut map = self
                .containers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(c) = map.get_mut(&id) else { return };
            c.state = container_state::C_COMPLETE;
            c.exit_status = exit;
            // Launch and localization failures are stamped here; the other paths stamp
            // each line as they compose it.
            c.diagnostics = if exit == exit_status::INVALID {
                stamp(&diagnostics)
            } else {
                diagnostics
            };
            c.pgid = None;
            drop(map);
            self.status_of(id)
        };
        if let Some(status) = status {
            let _ = self.events.send(ContainerCompleted {
                node: self.node_id.clone(),
                status,
            });
        }
    }

    fn kill_requested(&self, id: ContainerId) -> Option<(i32, String)> {
        self.containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .and_then(|c| c.kill.clone())
    }

    /// Localizes, launches and waits for one container; returns exit status and diagnostics.
    async fn run(self: &Arc<Self>, start: &ContainerStart) -> (i32, String) {
        let id = start.token.container_id;
        let app = id.attempt.application_id;
        let user = start.token.app_submitter.clone();
        let app_dir = self
            .root
            .join("local")
            .join("usercache")
            .join(&user)
            .join("appcache")
            .join(app.to_string());
        let work_dir = app_dir.join(id.to_string());
        let log_dir = self
            .root
            .join("logs")
            .join(app.to_string())
            .join(id.to_string());
        if let Some(c) = self
            .containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&id)
        {
            c.work_dir = Some(work_dir.clone());
        }
        for d in [&work_dir, &log_dir] {
            if let Err(e) = std::fs::create_dir_all(d) {
                return (
                    exit_status::INVALID,
                    format!("java.io.IOException: creating {}: {e}", d.display()),
                );
            }
        }

        // Localization (blocking file I/O off the runtime threads).
        let mut links = Vec::new();
        for entry in &start.launch_context.local_resources {
            let (Some(key), Some(res)) = (entry.key.clone(), entry.value.clone()) else {
                continue;
            };
            let cache = app_dir
                .join("filecache")
                .join(self.cache_seq.fetch_add(1, Ordering::Relaxed).to_string());
            let localized =
                tokio::task::spawn_blocking(move || localizer::localize(&res, &cache)).await;
            match localized {
                Ok(Ok(path)) => links.push((key, path)),
                Ok(Err(e)) => return (exit_status::INVALID, e.0),
                Err(e) => {
                    return (
                        exit_status::INVALID,
                        format!("localization task failed: {e}"),
                    )
                }
            }
        }
        if let Some((code, diag)) = self.kill_requested(id) {
            return (code, diag);
        }

        // Credentials file.
        let token_file = work_dir.join("container_tokens");
        let creds = match &start.launch_context.tokens {
            Some(bytes) if !bytes.is_empty() => match Credentials::from_bytes(bytes) {
                Ok(c) => c,
                Err(e) => {
                    return (
                        exit_status::INVALID,
                        format!("java.io.IOException: container tokens: {e}"),
                    )
                }
            },
            _ => Credentials::new(),
        };
        // Written aside and renamed, so readers never see a partial file.
        let tmp_file = work_dir.join(".container_tokens.tmp");
        if let Err(e) = creds.write_token_storage_file(&tmp_file) {
            return (exit_status::INVALID, e.to_string());
        }
        if let Err(e) = std::fs::rename(&tmp_file, &token_file) {
            return (exit_status::INVALID, format!("java.io.IOException: {e}"));
        }

        let env = self.container_env(start, &user, &app_dir, &work_dir, &log_dir, &token_file);
        let script = launch_script(&env, &links, &start.launch_context.command, &log_dir);
        let script_path = work_dir.join("launch_container.sh");
        if let Err(e) = std::fs::write(&script_path, script) {
            return (
                exit_status::INVALID,
                format!(
                    "java.io.IOException: writing {}: {e}",
                    script_path.display()
                ),
            );
        }

        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg(&script_path)
            .current_dir(&work_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return (
                    exit_status::INVALID,
                    format!("Exception from container-launch.\nContainer id: {id}\n{e}"),
                )
            }
        };
        let pid = child.id().map(|p| p as i32);
        {
            let mut map = self
                .containers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(c) = map.get_mut(&id) {
                c.state = container_state::C_RUNNING;
                c.pgid = pid;
            }
        }
        // A kill that raced with the spawn.
        if let (Some(_), Some(pg)) = (self.kill_requested(id), pid) {
            signal_group(pg, libc::SIGTERM);
        }

        let limit_bytes = start.token.memory_mb.max(0) as u64 * 1024 * 1024;
        let mut tick = tokio::time::interval(self.monitor_interval);
        tick.tick().await;
        let mut over_once = false;
        let mut pmem_kill: Option<String> = None;
        let status = loop {
            tokio::select! {
                s = child.wait() => break s,
                _ = tick.tick(), if pmem_kill.is_none() && limit_bytes > 0 => {
                    let Some(pg) = pid else { continue };
                    let tree = procfs::process_group(pg);
                    let rss = tree.rss_bytes();
                    if rss > 2 * limit_bytes || (rss > limit_bytes && over_once) {
                        pmem_kill = Some(pmem_message(pg, id, &tree, limit_bytes));
                        signal_group(pg, libc::SIGTERM);
                        tokio::spawn(async move {
                            tokio::time::sleep(SIGKILL_DELAY).await;
                            signal_group(pg, libc::SIGKILL);
                        });
                    }
                    over_once = rss > limit_bytes;
                }
            }
        };
        let code = match status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                s.code()
                    .or_else(|| s.signal().map(|sig| 128 + sig))
                    .unwrap_or(-1)
            }
            Err(e) => {
                return (
                    exit_status::INVALID,
                    format!("waiting for container {id}: {e}"),
                )
            }
        };
        // ContainerImpl.addDiagnostics stamps every line it adds.
        let killed_suffix = format!(
            "\n{}\n{}\n",
            stamp(&format!("Container killed on request. Exit code is {code}")),
            stamp(&format!(
                "Container exited with a non-zero exit code {code}. "
            ))
        );
        if let Some(msg) = pmem_kill {
            return (
                exit_status::KILLED_EXCEEDED_PMEM,
                format!("{}{killed_suffix}", stamp(&msg)),
            );
        }
        if let Some((kill_code, diag)) = self.kill_requested(id) {
            return (kill_code, format!("{}{killed_suffix}", stamp(&diag)));
        }
        if code == 0 {
            return (exit_status::SUCCESS, String::new());
        }
        (code, failure_diagnostics(id, code, &log_dir))
    }

    /// The variables `ContainerLaunch.sanitizeEnv` sets, over the user's environment.
    fn container_env(
        &self,
        start: &ContainerStart,
        user: &str,
        app_dir: &Path,
        work_dir: &Path,
        log_dir: &Path,
        token_file: &Path,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v));
        };
        for e in &start.launch_context.environment {
            if let Some(k) = &e.key {
                set(k, expand_vars(e.value.as_deref().unwrap_or(""), log_dir));
            }
        }
        set("CONTAINER_ID", start.token.container_id.to_string());
        set("NM_PORT", self.node_id.port.to_string());
        set("NM_HOST", self.node_id.host.clone());
        set("NM_HTTP_PORT", self.http_port.to_string());
        set("LOCAL_DIRS", app_dir.display().to_string());
        set(
            "LOCAL_USER_DIRS",
            app_dir
                .parent()
                .and_then(Path::parent)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
        set("LOG_DIRS", log_dir.display().to_string());
        set("USER", user.to_string());
        set("LOGNAME", user.to_string());
        set("HOME", "/home/".to_string());
        set("PWD", work_dir.display().to_string());
        set(
            "HADOOP_TOKEN_FILE_LOCATION",
            token_file.display().to_string(),
        );
        env
    }
}

/// Sends a signal to a whole process group.
fn signal_group(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// `<LOG_DIR>`, `{{VAR}}` -> `$VAR` and `<CPS>` -> `:`, as the NodeManager expands commands
/// and environment values on Linux.
pub fn expand_vars(s: &str, log_dir: &Path) -> String {
    let mut out = s
        .replace("<LOG_DIR>", &log_dir.display().to_string())
        .replace("<CPS>", ":");
    while let Some(start) = out.find("{{") {
        let Some(len) = out[start + 2..].find("}}") else {
            break;
        };
        let var = out[start + 2..start + 2 + len].to_string();
        out = format!("{}${}{}", &out[..start], var, &out[start + 4 + len..]);
    }
    out
}

fn shell_quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('`', "\\`")
    )
}

/// `launch_container.sh` in the shape of Hadoop 3's: prelaunch redirects, exports, resource
/// links named by their keys, then `exec /bin/bash -c "<command>"`.
pub fn launch_script(
    env: &[(String, String)],
    links: &[(String, PathBuf)],
    commands: &[String],
    log_dir: &Path,
) -> String {
    let log = log_dir.display();
    let mut s = String::from("#!/bin/bash\n\nset -o pipefail -e\n");
    s.push_str(&format!(
        "export PRELAUNCH_OUT=\"{log}/prelaunch.out\"\nexec >\"${{PRELAUNCH_OUT}}\"\n"
    ));
    s.push_str(&format!(
        "export PRELAUNCH_ERR=\"{log}/prelaunch.err\"\nexec 2>\"${{PRELAUNCH_ERR}}\"\n"
    ));
    s.push_str("echo \"Setting up env variables\"\n");
    for (k, v) in env {
        // Values may reference other variables ($HOME, $PWD): keep `$` live, quote the rest.
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('`', "\\`");
        s.push_str(&format!("export {k}=\"{v}\"\n"));
    }
    s.push_str("echo \"Setting up job resources\"\n");
    for (key, path) in links {
        if let Some(parent) = Path::new(key)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            s.push_str(&format!(
                "mkdir -p {}\n",
                shell_quote(&parent.display().to_string())
            ));
        }
        s.push_str(&format!(
            "ln -sf -- {} {}\n",
            shell_quote(&path.display().to_string()),
            shell_quote(key)
        ));
    }
    s.push_str("echo \"Launching container\"\n");
    let command = expand_vars(&commands.join(" "), log_dir);
    let escaped = command.replace('\\', "\\\\").replace('"', "\\\"");
    s.push_str(&format!("exec /bin/bash -c \"{escaped}\"\n"));
    s
}

fn tail(path: &Path, n: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let start = bytes.len().saturating_sub(n);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// `ContainerLaunch.handleContainerExitWithFailure` wording.
fn failure_diagnostics(id: ContainerId, code: i32, log_dir: &Path) -> String {
    format!(
        "{}\n{}\nLast 4096 bytes of prelaunch.err :\n{}\nLast 4096 bytes of stderr :\n{}\n\n",
        stamp(&format!(
            "Exception from container-launch.\nContainer id: {id}\nExit code: {code}\n"
        )),
        stamp(&format!(
            "Container exited with a non-zero exit code {code}. Error file: prelaunch.err."
        )),
        tail(&log_dir.join("prelaunch.err"), 4096),
        tail(&log_dir.join("stderr"), 4096)
    )
}

/// `[yyyy-MM-dd HH:mm:ss.SSS]message`.
fn stamp(msg: &str) -> String {
    format!("[{}]{msg}", chrono_like_now())
}

/// `yyyy-MM-dd HH:mm:ss.SSS` (UTC) for diagnostics.
fn chrono_like_now() -> String {
    let ms = now_millis();
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// `TraditionalBinaryPrefix.long2String(n, "", 1)`.
pub fn long2string(n: u64) -> String {
    const PREFIXES: [(&str, u32); 6] = [
        ("K", 10),
        ("M", 20),
        ("G", 30),
        ("T", 40),
        ("P", 50),
        ("E", 60),
    ];
    if n < 1024 {
        return n.to_string();
    }
    let mut idx = 0;
    while idx + 1 < PREFIXES.len() && n >= 1u64 << PREFIXES[idx + 1].1 {
        idx += 1;
    }
    let (mut sym, mut shift) = PREFIXES[idx];
    let mask = (1u64 << shift) - 1;
    if n & mask == 0 {
        return format!("{} {sym}", n >> shift);
    }
    let mut s = format!("{:.1}", n as f64 / (1u64 << shift) as f64);
    if s.starts_with("1024") && idx + 1 < PREFIXES.len() {
        (sym, shift) = PREFIXES[idx + 1];
        s = format!("{:.1}", n as f64 / (1u64 << shift) as f64);
    }
    format!("{s} {sym}")
}

/// `ContainersMonitorImpl` pmem message.
fn pmem_message(pid: i32, id: ContainerId, tree: &procfs::ProcessTree, limit: u64) -> String {
    let rss = tree.rss_bytes();
    let vmem = tree.vmem_bytes();
    let vlimit = (limit as f64 * VMEM_PMEM_RATIO) as u64;
    format!(
        "Container [pid={pid},containerID={id}] is running {}B beyond the 'PHYSICAL' memory limit. Current usage: {}B of {}B physical memory used; {}B of {}B virtual memory used. Killing container.\nDump of the process-tree for {id} :\n{}",
        rss.saturating_sub(limit),
        long2string(rss),
        long2string(limit),
        long2string(vmem),
        long2string(vlimit),
        tree.dump()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_traditional_binary_prefix() {
        assert_eq!(long2string(1 << 30), "1 G");
        assert_eq!(long2string(1_181_116_006), "1.1 G");
        assert_eq!(long2string(10 * 1024 * 1024 + 512 * 1024), "10.5 M");
        assert_eq!(long2string(512), "512");
    }

    #[test]
    fn commands_expand_log_dir_and_braced_vars() {
        let s = expand_vars(
            "{{JAVA_HOME}}/bin/java -cp a<CPS>b 1><LOG_DIR>/stdout",
            Path::new("/logs/c1"),
        );
        assert_eq!(s, "$JAVA_HOME/bin/java -cp a:b 1>/logs/c1/stdout");
    }
}
