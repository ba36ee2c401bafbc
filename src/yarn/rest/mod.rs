//! ResourceManager REST client (`/ws/v1/cluster/...`), the way Strato's YARN client submits
//! and watches applications. Simple auth sends `user.name`; HA setups list several RM web
//! addresses and the client fails over to the next one when an RM is unreachable (a standby
//! RM answers with a redirect to the active one, which reqwest follows).

pub mod model;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

pub use model::*;

use crate::hadoop::conf::{ConfError, Configuration};

/// Errors of the REST client, each naming the URL.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("ResourceManager unreachable at {urls}: {message}")]
    Unreachable { urls: String, message: String },
    #[error("{method} {url} failed with HTTP {status}: {java_class_name}: {message}")]
    Remote {
        method: String,
        url: String,
        status: u16,
        exception: String,
        message: String,
        java_class_name: String,
    },
    #[error("{method} {url} failed with HTTP {status}: {body}")]
    Http {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: unexpected response body: {message}")]
    Decode { url: String, message: String },
    #[error("application {app_id} still {state} after {timeout:?}")]
    WaitTimeout {
        app_id: String,
        state: String,
        timeout: Duration,
    },
    #[error("ResourceManager configuration: {0}")]
    Conf(#[from] ConfError),
    #[error("building the HTTP client: {0}")]
    Client(String),
}

impl RestError {
    /// The `RemoteException.message` of an RM error.
    pub fn remote_message(&self) -> Option<&str> {
        match self {
            RestError::Remote { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Bound on one REST request unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Filters for listing applications.
#[derive(Clone, Debug, Default)]
pub struct AppsQuery {
    pub states: Vec<YarnApplicationState>,
    pub application_types: Vec<String>,
    pub queue: Option<String>,
    pub user: Option<String>,
}

/// Client of one ResourceManager, or of an HA pair with failover.
pub struct RmRestClient {
    http: reqwest::Client,
    bases: Vec<String>,
    active: AtomicUsize,
    user: Option<String>,
}

impl RmRestClient {
    /// `bases` are `http://host:port` roots, tried in order. `user` goes along as
    /// `user.name` (Hadoop's pseudo authentication).
    pub fn new(
        bases: Vec<String>,
        user: Option<String>,
        connect_timeout: Duration,
    ) -> Result<Self, RestError> {
        Self::with_timeouts(bases, user, connect_timeout, DEFAULT_REQUEST_TIMEOUT)
    }

    /// Like [`RmRestClient::new`], with a bound on each whole request (a hung RM is then
    /// an error, and with HA the next RM is tried).
    pub fn with_timeouts(
        bases: Vec<String>,
        user: Option<String>,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, RestError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .build()
            .map_err(|e| RestError::Client(e.to_string()))?;
        Ok(RmRestClient {
            http,
            bases: bases
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_string())
                .collect(),
            active: AtomicUsize::new(0),
            user,
        })
    }

    /// From Hadoop configuration: RM web addresses (with HA), `ipc.client.connect.timeout`.
    pub fn from_conf(conf: &Configuration, user: Option<String>) -> Result<Self, RestError> {
        let timeout = conf
            .get_millis(crate::hadoop::conf::IPC_CONNECT_TIMEOUT)?
            .unwrap_or(Duration::from_secs(20));
        Self::new(conf.rm_webapp_urls()?, user, timeout)
    }

    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Option<T>), RestError> {
        let n = self.bases.len().max(1);
        let start = self.active.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let Some(base) = self.bases.get(idx) else {
                break;
            };
            let url = format!("{base}{path}");
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("Accept", "application/json")
                .query(query);
            if let Some(user) = &self.user {
                req = req.query(&[("user.name", user)]);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() || e.is_timeout() => {
                    failures.push(format!("{url}: {}", error_chain(&e)));
                    continue;
                }
                Err(e) => {
                    return Err(RestError::Unreachable {
                        urls: url,
                        message: error_chain(&e),
                    })
                }
            };
            self.active.store(idx, Ordering::Relaxed);
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| RestError::Unreachable {
                urls: url.clone(),
                message: error_chain(&e),
            })?;
            if !status.is_success() {
                if let Ok(w) = serde_json::from_slice::<RemoteExceptionWrapper>(&bytes) {
                    let r = w.remote_exception;
                    return Err(RestError::Remote {
                        method: method.to_string(),
                        url,
                        status: status.as_u16(),
                        exception: r.exception,
                        message: r.message,
                        java_class_name: r.java_class_name,
                    });
                }
                return Err(RestError::Http {
                    method: method.to_string(),
                    url,
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).chars().take(2000).collect(),
                });
            }
            if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok((status, None));
            }
            let parsed = serde_json::from_slice(&bytes).map_err(|e| RestError::Decode {
                url: url.clone(),
                message: format!(
                    "{e}: {}",
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(500)
                        .collect::<String>()
                ),
            })?;
            return Ok((status, Some(parsed)));
        }
        Err(RestError::Unreachable {
            urls: self.bases.join(", "),
            message: failures.join("; "),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, RestError> {
        let url = path.to_string();
        self.request(Method::GET, path, query, None)
            .await?
            .1
            .ok_or(RestError::Decode {
                url,
                message: "empty body".into(),
            })
    }

    /// GET `/ws/v1/cluster/info`.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, RestError> {
        Ok(self
            .get::<ClusterInfoWrapper>("/ws/v1/cluster/info", &[])
            .await?
            .cluster_info)
    }

    /// GET `/ws/v1/cluster/metrics`.
    pub async fn cluster_metrics(&self) -> Result<ClusterMetrics, RestError> {
        Ok(self
            .get::<ClusterMetricsWrapper>("/ws/v1/cluster/metrics", &[])
            .await?
            .cluster_metrics)
    }

    /// GET `/ws/v1/cluster/nodes`.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, RestError> {
        let w: NodesWrapper = self.get("/ws/v1/cluster/nodes", &[]).await?;
        Ok(w.nodes.map(|n| n.node).unwrap_or_default())
    }

    /// GET `/ws/v1/cluster/scheduler`: the scheduler's own JSON (its shape depends on the
    /// scheduler type), as `{"scheduler": {"schedulerInfo": ...}}`.
    pub async fn scheduler_info(&self) -> Result<serde_json::Value, RestError> {
        self.get("/ws/v1/cluster/scheduler", &[]).await
    }

    /// Names of all queues in the scheduler info, depth first.
    pub async fn queue_names(&self) -> Result<Vec<String>, RestError> {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            if let Some(name) = v.get("queueName").and_then(|n| n.as_str()) {
                out.push(name.to_string());
            }
            let children = v.get("queues").and_then(|q| q.get("queue"));
            match children {
                Some(serde_json::Value::Array(a)) => a.iter().for_each(|c| walk(c, out)),
                Some(c @ serde_json::Value::Object(_)) => walk(c, out),
                _ => {}
            }
        }
        let v = self.scheduler_info().await?;
        let mut out = Vec::new();
        walk(&v["scheduler"]["schedulerInfo"], &mut out);
        Ok(out)
    }

    /// POST `/ws/v1/cluster/apps/new-application`.
    pub async fn new_application(&self) -> Result<NewApplication, RestError> {
        let path = "/ws/v1/cluster/apps/new-application";
        self.request(Method::POST, path, &[], None)
            .await?
            .1
            .ok_or(RestError::Decode {
                url: path.into(),
                message: "empty body".into(),
            })
    }

    /// POST `/ws/v1/cluster/apps` (HTTP 202 on success).
    pub async fn submit_application(
        &self,
        ctx: &ApplicationSubmissionContextInfo,
    ) -> Result<(), RestError> {
        let body = serde_json::to_value(ctx).map_err(|e| RestError::Decode {
            url: "/ws/v1/cluster/apps".into(),
            message: e.to_string(),
        })?;
        self.request::<serde_json::Value>(Method::POST, "/ws/v1/cluster/apps", &[], Some(body))
            .await?;
        Ok(())
    }

    /// GET `/ws/v1/cluster/apps/{id}`.
    pub async fn application(&self, app_id: &str) -> Result<AppInfo, RestError> {
        Ok(self
            .get::<AppWrapper>(&format!("/ws/v1/cluster/apps/{app_id}"), &[])
            .await?
            .app)
    }

    /// GET `/ws/v1/cluster/apps/{id}/appattempts`.
    pub async fn application_attempts(
        &self,
        app_id: &str,
    ) -> Result<Vec<AppAttemptInfo>, RestError> {
        Ok(self
            .get::<AppAttemptsWrapper>(&format!("/ws/v1/cluster/apps/{app_id}/appattempts"), &[])
            .await?
            .app_attempts
            .app_attempt)
    }

    /// GET `/ws/v1/cluster/apps` with filters.
    pub async fn applications(&self, q: &AppsQuery) -> Result<Vec<AppInfo>, RestError> {
        let mut query = Vec::new();
        if !q.states.is_empty() {
            let s: Vec<&str> = q.states.iter().map(|s| s.name()).collect();
            query.push(("states", s.join(",")));
        }
        if !q.application_types.is_empty() {
            query.push(("applicationTypes", q.application_types.join(",")));
        }
        if let Some(queue) = &q.queue {
            query.push(("queue", queue.clone()));
        }
        if let Some(user) = &q.user {
            query.push(("user", user.clone()));
        }
        let w: AppsWrapper = self.get("/ws/v1/cluster/apps", &query).await?;
        Ok(w.apps.map(|a| a.app).unwrap_or_default())
    }

    /// Polls the application report every `poll` until it is in a final state (FINISHED,
    /// FAILED or KILLED).
    pub async fn wait_for_final_state(
        &self,
        app_id: &str,
        poll: Duration,
        timeout: Duration,
    ) -> Result<AppInfo, RestError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let report = self.application(app_id).await?;
            if report.state.is_final() {
                return Ok(report);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(RestError::WaitTimeout {
                    app_id: app_id.to_string(),
                    state: report.state.name().to_string(),
                    timeout,
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// PUT `/ws/v1/cluster/apps/{id}/state` with `KILLED`; returns the state the RM reports
    /// (`KILLED` once done, the current state while the kill is in progress).
    pub async fn kill_application(&self, app_id: &str) -> Result<String, RestError> {
        let path = format!("/ws/v1/cluster/apps/{app_id}/state");
        let (_, body) = self
            .request::<AppState>(
                Method::PUT,
                &path,
                &[],
                Some(serde_json::json!({"state": "KILLED"})),
            )
            .await?;
        Ok(body.map(|s| s.state).unwrap_or_default())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
