//! ContainerManagementProtocol client (`NMClient` in Hadoop): start, stop and query
//! containers on NodeManagers, one connection per NodeManager authenticated with the NMToken
//! the RM handed out for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::Mutex;

use super::ids::{ContainerId, NodeId};
use super::proto::{
    ContainerExceptionMapProto, ContainerLaunchContextProto, ContainerProto, ContainerStatusProto,
    GetContainerStatusesRequestProto, GetContainerStatusesResponseProto, NmTokenProto,
    StartContainerRequestProto, StartContainersRequestProto, StartContainersResponseProto,
    StopContainersRequestProto, StopContainersResponseProto,
};
use super::{YarnError, CONTAINER_MANAGEMENT_PROTOCOL};
use crate::hadoop::ipc::{ConnectionConfig, RpcClient, RpcError};
use crate::hadoop::security::Token;

/// Talks to every NodeManager an AM has containers on.
pub struct NmClient {
    connect_timeout: Duration,
    tokens: Mutex<HashMap<String, Token>>,
    connections: Mutex<HashMap<String, RpcClient>>,
}

/// The first per-container failure of a bulk response, as an error.
fn check_failures(failed: &[ContainerExceptionMapProto]) -> Result<(), YarnError> {
    let Some(f) = failed.first() else {
        return Ok(());
    };
    let id = f
        .container_id
        .as_ref()
        .map(|c| ContainerId::from_proto(c).to_string())
        .unwrap_or_default();
    let e = f.exception.clone().unwrap_or_default();
    Err(YarnError::Container {
        container_id: id,
        class_name: e.class_name.unwrap_or_default(),
        message: e.message.unwrap_or_default(),
    })
}

impl NmClient {
    pub fn new(connect_timeout: Duration) -> NmClient {
        NmClient {
            connect_timeout,
            tokens: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers NMTokens from allocate/register responses (newer tokens replace older).
    pub async fn add_nm_tokens(&self, tokens: &[NmTokenProto]) {
        let mut map = self.tokens.lock().await;
        let mut conns = self.connections.lock().await;
        for t in tokens {
            if let (Some(node), Some(token)) = (&t.node_id, &t.token) {
                let key = NodeId::from_proto(node).to_string();
                conns.remove(&key);
                map.insert(key, Token::from_proto(token));
            }
        }
    }

    async fn connection(&self, node: &NodeId) -> Result<RpcClient, YarnError> {
        let key = node.to_string();
        if let Some(c) = self.connections.lock().await.get(&key) {
            return Ok(c.clone());
        }
        let token =
            self.tokens
                .lock()
                .await
                .get(&key)
                .cloned()
                .ok_or_else(|| YarnError::MissingToken {
                    what: format!("NMToken for NodeManager {key}"),
                })?;
        let addr: SocketAddr = tokio::net::lookup_host((node.host.as_str(), node.port as u16))
            .await
            .map_err(|e| YarnError::Resolve {
                addr: key.clone(),
                message: e.to_string(),
            })?
            .next()
            .ok_or_else(|| YarnError::Resolve {
                addr: key.clone(),
                message: "no address".into(),
            })?;
        let mut cfg =
            ConnectionConfig::new(CONTAINER_MANAGEMENT_PROTOCOL, String::new()).with_token(token);
        cfg.connect_timeout = self.connect_timeout;
        let client = RpcClient::connect(addr, cfg).await?;
        self.connections.lock().await.insert(key, client.clone());
        Ok(client)
    }

    /// One call on a NodeManager's connection; a connection found closed is replaced
    /// once (the NodeManager may have reaped it while idle).
    async fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        node: &NodeId,
        method: &str,
        req: &Req,
    ) -> Result<Resp, YarnError> {
        let rpc = self.connection(node).await?;
        match rpc.call(method, req).await {
            Err(RpcError::Closed { .. }) => {
                self.connections.lock().await.remove(&node.to_string());
                let rpc = self.connection(node).await?;
                Ok(rpc.call(method, req).await?)
            }
            other => Ok(other?),
        }
    }

    /// `startContainers` for one allocated container.
    pub async fn start_container(
        &self,
        container: &ContainerProto,
        launch_context: ContainerLaunchContextProto,
    ) -> Result<(), YarnError> {
        let node = NodeId::from_proto(&container.node_id.clone().unwrap_or_default());
        let req = StartContainersRequestProto {
            start_container_request: vec![StartContainerRequestProto {
                container_launch_context: Some(launch_context),
                container_token: container.container_token.clone(),
            }],
        };
        let resp: StartContainersResponseProto = self.call(&node, "startContainers", &req).await?;
        check_failures(&resp.failed_requests)
    }

    /// `stopContainers` for one container.
    pub async fn stop_container(
        &self,
        container_id: ContainerId,
        node: &NodeId,
    ) -> Result<(), YarnError> {
        let req = StopContainersRequestProto {
            container_id: vec![container_id.to_proto()],
        };
        let resp: StopContainersResponseProto = self.call(node, "stopContainers", &req).await?;
        check_failures(&resp.failed_requests)
    }

    /// `getContainerStatuses` for one container.
    pub async fn container_status(
        &self,
        container_id: ContainerId,
        node: &NodeId,
    ) -> Result<ContainerStatusProto, YarnError> {
        let req = GetContainerStatusesRequestProto {
            container_id: vec![container_id.to_proto()],
        };
        let resp: GetContainerStatusesResponseProto =
            self.call(node, "getContainerStatuses", &req).await?;
        check_failures(&resp.failed_requests)?;
        resp.status
            .into_iter()
            .next()
            .ok_or_else(|| YarnError::Container {
                container_id: container_id.to_string(),
                class_name: String::new(),
                message: "NodeManager returned no status".into(),
            })
    }
}
