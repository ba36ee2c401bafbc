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
use crate::hadoop::ipc::{ConnectionConfig, RpcClient, RpcError};
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
    /// The current AMRMToken (replaced on roll-over).
    token: Token,
    response_id: i32,
}

impl AmRmClient {
    /// Connects to the scheduler endpoint with an AMRMToken.
    pub async fn connect(
        addr: SocketAddr,
        token: Token,
        connect_timeout: Duration,
    ) -> Result<AmRmClient, YarnError> {
        Self::connect_any(&[addr], token, connect_timeout).await
    }

    /// Connects to the first reachable scheduler of an RM HA setup (the addresses of
    /// `yarn.resourcemanager.scheduler.address.<rm-id>`, in order), as Hadoop's
    /// `ConfiguredRMFailoverProxyProvider` does at connect time.
    pub async fn connect_any(
        addrs: &[SocketAddr],
        token: Token,
        connect_timeout: Duration,
    ) -> Result<AmRmClient, YarnError> {
        let mut template = ConnectionConfig::new(APPLICATION_MASTER_PROTOCOL, String::new())
            .with_token(token.clone());
        template.connect_timeout = connect_timeout;
        let mut last_err = None;
        for &addr in addrs {
            match RpcClient::connect(addr, template.clone()).await {
                Ok(rpc) => {
                    return Ok(AmRmClient {
                        addr,
                        template,
                        state: Mutex::new(State {
                            rpc,
                            token,
                            response_id: 0,
                        }),
                    })
                }
                // An unreachable RM: try the next one. Authentication failures are final.
                Err(e @ (RpcError::Connect { .. } | RpcError::ConnectTimeout { .. })) => {
                    last_err = Some(e)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(match last_err {
            Some(e) => e.into(),
            None => YarnError::Resolve {
                addr: String::new(),
                message: "no scheduler address configured".into(),
            },
        })
    }

    async fn reconnect(&self, token: &Token) -> Result<RpcClient, YarnError> {
        let mut cfg = self.template.clone();
        cfg.token = Some(token.clone());
        Ok(RpcClient::connect(self.addr, cfg).await?)
    }

    /// One call; if the connection was closed under it (idle connections are reaped by
    /// Hadoop servers), reconnects and tries once more, as Hadoop's `Client` opens a new
    /// connection for the next call. Allocate is safe to repeat: the RM answers a repeated
    /// `response_id` with its last response.
    async fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        st: &mut State,
        method: &str,
        req: &Req,
    ) -> Result<Resp, YarnError> {
        match st.rpc.call(method, req).await {
            Err(RpcError::Closed { .. }) => {
                st.rpc = self.reconnect(&st.token).await?;
                Ok(st.rpc.call(method, req).await?)
            }
            other => Ok(other?),
        }
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
        let mut st = self.state.lock().await;
        self.call(&mut st, "registerApplicationMaster", &req).await
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
        let resp: AllocateResponseProto = self.call(&mut st, "allocate", &proto).await?;
        st.response_id = resp.response_id.unwrap_or(st.response_id + 1);
        if let Some(new_token) = &resp.am_rm_token {
            st.token = Token::from_proto(new_token);
            st.rpc = self.reconnect(&st.token).await?;
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
        let mut st = self.state.lock().await;
        loop {
            let resp: FinishApplicationMasterResponseProto =
                self.call(&mut st, "finishApplicationMaster", &req).await?;
            if resp.is_unregistered.unwrap_or(false) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
