//! A protocol-faithful mini YARN cluster, like Hadoop's `MiniYARNCluster`: one
//! ResourceManager (REST API, scheduler RPC with AMRMToken SASL) and N NodeManagers
//! (ContainerManagement RPC with NMToken SASL, real child processes), all on 127.0.0.1
//! ephemeral ports, plus a `yarn-site.xml` / `core-site.xml` for clients. Library code:
//! tests start it with [`MiniYarnCluster::start`], people with the `strato-mini-yarn` binary.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use strato::yarn::mini::{MiniYarnCluster, MiniYarnConfig};
//! let cluster = MiniYarnCluster::start(MiniYarnConfig {
//!     num_node_managers: 2,
//!     node_memory_mb: 2048,
//!     ..Default::default()
//! })
//! .await?;
//! // Clients read the generated conf dir (YARN_CONF_DIR) or use the handles directly:
//! let conf = cluster.configuration()?;
//! let rest = cluster.rest_client(Some("alice"))?;
//! let app = rest.new_application().await?;
//! # let _ = (conf, app);
//! # Ok(()) }
//! ```
//!
//! What it enforces as Hadoop does: TOKEN-only SASL on the scheduler and NodeManager
//! endpoints, AMRMToken/NMToken/container-token checks, maximum allocation, per-node
//! capacity, strict locality, queue existence, node labels (none exist), response ids,
//! registration before allocate, AM liveness expiry, max attempts within the failure
//! validity interval, localization size/timestamp checks, the physical-memory limit.
//! Not modelled: ClientRMProtocol RPC (port 8032; clients use REST), the NM web UI, log
//! aggregation, preemption, reservations, opportunistic containers, security with Kerberos.

pub mod localizer;
pub mod nm;
mod procfs;
pub mod rest;
pub mod rm;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::hadoop::conf::Configuration;
use crate::yarn::ids::ApplicationId;
use crate::yarn::rest::{ResourceInfo, RmRestClient};
use nm::NodeManager;
use rm::{ResourceManager, RmConfig};

/// Size and behaviour of a mini cluster.
#[derive(Clone, Debug)]
pub struct MiniYarnConfig {
    pub num_node_managers: usize,
    /// `yarn.nodemanager.resource.memory-mb` of each NodeManager.
    pub node_memory_mb: i64,
    /// `yarn.nodemanager.resource.cpu-vcores` of each NodeManager.
    pub node_vcores: i32,
    /// `yarn.scheduler.minimum-allocation-mb` (requests round up to multiples of it).
    pub min_allocation_mb: i64,
    /// `yarn.scheduler.maximum-allocation-*`; defaults to one node's capacity.
    pub max_allocation: Option<ResourceInfo>,
    /// `yarn.resourcemanager.am.max-attempts`.
    pub max_attempts: i32,
    /// `yarn.nodemanager.container-monitor.interval-ms`.
    pub memory_check_interval: Duration,
    /// `yarn.am.liveness-monitor.expiry-interval-ms`: an AM silent this long fails.
    pub am_liveness_expiry: Duration,
    /// Where NodeManager directories and the conf dir go; a temporary directory (removed on
    /// drop) if `None`.
    pub work_dir: Option<PathBuf>,
}

impl Default for MiniYarnConfig {
    fn default() -> Self {
        MiniYarnConfig {
            num_node_managers: 2,
            node_memory_mb: 4096,
            node_vcores: 4,
            min_allocation_mb: 128,
            max_allocation: None,
            max_attempts: 2,
            memory_check_interval: Duration::from_millis(500),
            am_liveness_expiry: Duration::from_secs(600),
            work_dir: None,
        }
    }
}

/// A running mini YARN cluster. Dropping it stops the servers and kills all containers.
pub struct MiniYarnCluster {
    pub rm: Arc<ResourceManager>,
    pub node_managers: Vec<Arc<NodeManager>>,
    webapp_addr: SocketAddr,
    scheduler_addr: SocketAddr,
    conf_dir: PathBuf,
    web_task: tokio::task::JoinHandle<()>,
    _tmp: Option<tempfile::TempDir>,
}

impl MiniYarnCluster {
    /// Starts the cluster on the current tokio runtime.
    pub async fn start(config: MiniYarnConfig) -> std::io::Result<MiniYarnCluster> {
        let (tmp, root) = match &config.work_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("strato-mini-yarn-")
                    .tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&root)?;
        let keys = rm::new_cluster_keys();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut nms = Vec::new();
        for i in 0..config.num_node_managers {
            nms.push(
                NodeManager::start(
                    root.join(format!("nm-{i}")),
                    keys.clone(),
                    config.memory_check_interval,
                    tx.clone(),
                )
                .await?,
            );
        }
        let node_capacity = ResourceInfo {
            memory: config.node_memory_mb,
            vcores: config.node_vcores,
        };
        let rm_config = RmConfig {
            min_allocation_mb: config.min_allocation_mb,
            min_allocation_vcores: 1,
            max_allocation: config.max_allocation.unwrap_or(node_capacity),
            max_attempts: config.max_attempts,
            node_capacity,
            am_expiry: config.am_liveness_expiry,
        };
        let rm = ResourceManager::new(rm_config.clone(), nms.clone(), keys);
        let scheduler_addr = rm.start_scheduler(rx).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let webapp_addr = listener.local_addr()?;
        rm.set_webapp_address(webapp_addr.to_string());
        let app = rest::router(rm.clone());
        let web_task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let conf_dir = root.join("conf");
        std::fs::create_dir_all(&conf_dir)?;
        let yarn_site = vec![
            (
                "yarn.resourcemanager.hostname".to_string(),
                "127.0.0.1".to_string(),
            ),
            (
                "yarn.resourcemanager.scheduler.address".into(),
                scheduler_addr.to_string(),
            ),
            (
                "yarn.resourcemanager.webapp.address".into(),
                webapp_addr.to_string(),
            ),
            (
                "yarn.scheduler.minimum-allocation-mb".into(),
                rm_config.min_allocation_mb.to_string(),
            ),
            (
                "yarn.scheduler.maximum-allocation-mb".into(),
                rm_config.max_allocation.memory.to_string(),
            ),
            (
                "yarn.scheduler.maximum-allocation-vcores".into(),
                rm_config.max_allocation.vcores.to_string(),
            ),
            (
                "yarn.nodemanager.resource.memory-mb".into(),
                config.node_memory_mb.to_string(),
            ),
            (
                "yarn.nodemanager.resource.cpu-vcores".into(),
                config.node_vcores.to_string(),
            ),
            (
                "yarn.resourcemanager.am.max-attempts".into(),
                config.max_attempts.to_string(),
            ),
            (
                "yarn.am.liveness-monitor.expiry-interval-ms".into(),
                config.am_liveness_expiry.as_millis().to_string(),
            ),
        ];
        std::fs::write(
            conf_dir.join("yarn-site.xml"),
            Configuration::to_site_xml(&yarn_site),
        )?;
        let core_site = vec![
            ("fs.defaultFS".to_string(), "file:///".to_string()),
            ("hadoop.security.authentication".into(), "simple".into()),
        ];
        std::fs::write(
            conf_dir.join("core-site.xml"),
            Configuration::to_site_xml(&core_site),
        )?;
        Ok(MiniYarnCluster {
            rm,
            node_managers: nms,
            webapp_addr,
            scheduler_addr,
            conf_dir,
            web_task,
            _tmp: tmp,
        })
    }

    /// The directory holding the cluster's `yarn-site.xml` and `core-site.xml`; point
    /// `YARN_CONF_DIR` at it.
    pub fn conf_dir(&self) -> &Path {
        &self.conf_dir
    }

    /// `http://127.0.0.1:<port>` of the RM web services.
    pub fn webapp_url(&self) -> String {
        format!("http://{}", self.webapp_addr)
    }

    /// The scheduler (ApplicationMasterProtocol) endpoint.
    pub fn scheduler_address(&self) -> SocketAddr {
        self.scheduler_addr
    }

    /// The cluster's client configuration.
    pub fn configuration(&self) -> Result<Configuration, crate::hadoop::conf::ConfError> {
        Configuration::load_dir(&self.conf_dir)
    }

    /// A REST client for the cluster.
    pub fn rest_client(
        &self,
        user: Option<&str>,
    ) -> Result<RmRestClient, crate::yarn::rest::RestError> {
        RmRestClient::new(
            vec![self.webapp_url()],
            user.map(str::to_string),
            Duration::from_secs(5),
        )
    }

    /// Simulates an AM crash: SIGKILL to the current AM container's processes, without any
    /// stop request (the NodeManager reports exit code 137).
    pub fn crash_am(&self, app: ApplicationId) -> bool {
        match self.rm.am_container(app) {
            Some((cid, nm)) => nm.crash(cid),
            None => false,
        }
    }

    /// The credentials YARN wrote for the current AM container (`container_tokens`, holding
    /// the AMRMToken), once it exists: lets a test act as the AM of an application.
    pub fn am_credentials(
        &self,
        app: ApplicationId,
    ) -> Option<crate::hadoop::security::Credentials> {
        let (cid, nm) = self.rm.am_container(app)?;
        let file = nm.work_dir(cid)?.join("container_tokens");
        crate::hadoop::security::Credentials::read_token_storage_file(&file).ok()
    }

    pub fn shutdown(&self) {
        self.web_task.abort();
        self.rm.shutdown();
        for nm in &self.node_managers {
            nm.shutdown();
        }
    }
}

impl Drop for MiniYarnCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
