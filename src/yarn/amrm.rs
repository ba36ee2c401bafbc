//! ApplicationMasterProtocol client (`AMRMClient` in Hadoop): register, allocate heartbeats
//! with a running `response_id`, AMRMToken roll-over, finish. Authenticates with the
//! AMRMToken YARN writes into the AM container's credentials file.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::sync::Mutex;

use super::proto::{
    AllocateRequestProto, AllocateResponseProto, ContainerIdProto,
    FinishApplicationMasterRequestProto, FinishApplicationMasterResponseProto, PriorityProto,
    RegisterApplicationMasterRequestProto, RegisterApplicationMasterResponseProto,
    ResourceBlacklistRequestProto, ResourceProto, ResourceRequestProto,
};
use super::tokens::AMRM_TOKEN_KIND;
use super::{YarnError, APPLICATION_MASTER_PROTOCOL};
use crate::hadoop::ipc::{ConnectionConfig, RpcClient};
use crate::hadoop::security::{Credentials, Token};
use crate::yarn::rest::FinalApplicationStatus;

/// `ResourceRequest.ANY`.
pub const ANY: &str = "*";

/// A container ask with Hadoop's defaults (`relax_locality` true, ANY location).
pub fn resource_request(
    priority: i32,
    memory_mb: i64,
    vcores: i32,
    count: i32,
    allocation_request_id: i64,
) -> ResourceRequestProto {
    ResourceRequestProto {
        priority: Some(PriorityProto {
            priority: Some(priority),
        }),
        resource_name: Some(ANY.to_string()),
        capability: Some(ResourceProto {
            memory: Some(memory_mb),
            virtual_cores: Some(vcores),
        }),
        num_containers: Some(count),
        relax_locality: Some(true),
        node_label_expression: None,
        allocation_request_id: Some(allocation_request_id),
    }
}

/// One allocate heartbeat's content.
#[derive(Clone, Debug, Default)]
pub struct AllocateRequest {
    /// Outstanding asks. YARN treats each (priority, resource name, capability, allocation
    /// request id) ask as the *total* wanted, replacing the previous one.
    pub ask: Vec<ResourceRequestProto>,
    pub release: Vec<ContainerIdProto>,
    pub blacklist_additions: Vec<String>,
    pub blacklist_removals: Vec<String>,
    pub progress: f32,
}

fn final_status_code(s: FinalApplicationStatus) -> i32 {
    use super::proto::final_status::*;
    match s {
        FinalApplicationStatus::UNDEFINED => APP_UNDEFINED,
        FinalApplicationStatus::SUCCEEDED => APP_SUCCEEDED,
        FinalApplicationStatus::FAILED => APP_FAILED,
        FinalApplicationStatus::KILLED => APP_KILLED,
        FinalApplicationStatus::ENDED => APP_ENDED,
    }
}

/// Maps a `FinalApplicationStatusProto` number back.
pub fn final_status_from_code(code: i32) -> FinalApplicationStatus {
    use super::proto::final_status::*;
    match code {
        APP_SUCCEEDED => FinalApplicationStatus::SUCCEEDED,
        APP_FAILED => FinalApplicationStatus::FAILED,
        APP_KILLED => FinalApplicationStatus::KILLED,
        APP_ENDED => FinalApplicationStatus::ENDED,
        _ => FinalApplicationStatus::UNDEFINED,
    }
}

/// The AM's connection to the ResourceManager scheduler.
pub struct AmRmClient {
    addr: SocketAddr,
    template: ConnectionConfig,
    state: Mutex<State>,
}

struct State {
    rpc: RpcClient,
    response_id: i32,
}

impl AmRmClient {
    /// Connects to the scheduler endpoint with an AMRMToken.
    pub async fn connect(
        addr: SocketAddr,
        token: Token,
        connect_timeout: Duration,
    ) -> Result<AmRmClient, YarnError> {
        let mut template =
            ConnectionConfig::new(APPLICATION_MASTER_PROTOCOL, String::new()).with_token(token);
        template.connect_timeout = connect_timeout;
        let rpc = RpcClient::connect(addr, template.clone()).await?;
        Ok(AmRmClient {
            addr,
            template,
            state: Mutex::new(State {
                rpc,
                response_id: 0,
            }),
        })
    }

    /// Reads the AMRMToken from the credentials file YARN gave the container
    /// (`HADOOP_TOKEN_FILE_LOCATION`).
    pub fn amrm_token_from_file(path: &Path) -> Result<Token, YarnError> {
        let creds = Credentials::read_token_storage_file(path)?;
        creds
            .token_of_kind(AMRM_TOKEN_KIND)
            .cloned()
            .ok_or_else(|| YarnError::MissingToken {
                what: format!("{AMRM_TOKEN_KIND} in {}", path.display()),
            })
    }

    /// `registerApplicationMaster`.
    pub async fn register(
        &self,
        host: &str,
        rpc_port: i32,
        tracking_url: &str,
    ) -> Result<RegisterApplicationMasterResponseProto, YarnError> {
        let req = RegisterApplicationMasterRequestProto {
            host: Some(host.to_string()),
            rpc_port: Some(rpc_port),
            tracking_url: Some(tracking_url.to_string()),
        };
        let st = self.state.lock().await;
        Ok(st.rpc.call("registerApplicationMaster", &req).await?)
    }

    /// One `allocate` heartbeat. Installs a rolled-over AMRMToken for later connections.
    pub async fn allocate(&self, req: AllocateRequest) -> Result<AllocateResponseProto, YarnError> {
        let mut st = self.state.lock().await;
        let blacklist = (!req.blacklist_additions.is_empty() || !req.blacklist_removals.is_empty())
            .then(|| ResourceBlacklistRequestProto {
                blacklist_additions: req.blacklist_additions.clone(),
                blacklist_removals: req.blacklist_removals.clone(),
            });
        let proto = AllocateRequestProto {
            ask: req.ask,
            release: req.release,
            blacklist_request: blacklist,
            response_id: Some(st.response_id),
            progress: Some(req.progress),
        };
        let resp: AllocateResponseProto = st.rpc.call("allocate", &proto).await?;
        st.response_id = resp.response_id.unwrap_or(st.response_id + 1);
        if let Some(new_token) = &resp.am_rm_token {
            let mut cfg = self.template.clone();
            cfg.token = Some(Token::from_proto(new_token));
            st.rpc = RpcClient::connect(self.addr, cfg).await?;
        }
        Ok(resp)
    }

    /// `finishApplicationMaster`; retries while the RM answers `isUnregistered = false`,
    /// as Hadoop's client does.
    pub async fn finish(
        &self,
        status: FinalApplicationStatus,
        diagnostics: &str,
        tracking_url: Option<&str>,
    ) -> Result<(), YarnError> {
        let req = FinishApplicationMasterRequestProto {
            diagnostics: Some(diagnostics.to_string()),
            tracking_url: tracking_url.map(str::to_string),
            final_application_status: Some(final_status_code(status)),
        };
        let st = self.state.lock().await;
        loop {
            let resp: FinishApplicationMasterResponseProto =
                st.rpc.call("finishApplicationMaster", &req).await?;
            if resp.is_unregistered.unwrap_or(false) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
