//! The mini ResourceManager's web services: Hadoop's `/ws/v1/cluster` paths and JSON
//! shapes, errors as `{"RemoteException": {...}}`, the caller from `user.name` (or Hadoop's
//! static web user `dr.who`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::rm::{ResourceManager, WebError};
use crate::yarn::ids::ApplicationId;
use crate::yarn::rest::model::*;

/// `hadoop.http.staticuser.user` default.
const STATIC_USER: &str = "dr.who";

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let simple = self
            .java_class_name
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        let body = RemoteExceptionWrapper {
            remote_exception: RemoteExceptionData {
                exception: simple,
                message: self.message,
                java_class_name: self.java_class_name,
            },
        };
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(body)).into_response()
    }
}

type Rm = State<Arc<ResourceManager>>;
type Q = Query<HashMap<String, String>>;

fn user(q: &HashMap<String, String>) -> String {
    q.get("user.name")
        .cloned()
        .unwrap_or_else(|| STATIC_USER.to_string())
}

fn app_id(s: &str) -> Result<ApplicationId, WebError> {
    s.parse()
        .map_err(|_| WebError::bad_request(format!("Invalid ApplicationId: {s}")))
}

fn split(q: &HashMap<String, String>, key: &str) -> Vec<String> {
    q.get(key)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub fn router(rm: Arc<ResourceManager>) -> Router {
    Router::new()
        .route("/ws/v1/cluster", get(cluster_info))
        .route("/ws/v1/cluster/info", get(cluster_info))
        .route("/ws/v1/cluster/metrics", get(metrics))
        .route("/ws/v1/cluster/scheduler", get(scheduler))
        .route("/ws/v1/cluster/nodes", get(nodes))
        .route("/ws/v1/cluster/apps/new-application", post(new_application))
        .route("/ws/v1/cluster/apps", get(list_apps).post(submit))
        .route("/ws/v1/cluster/apps/:id", get(app))
        .route("/ws/v1/cluster/apps/:id/appattempts", get(attempts))
        .route(
            "/ws/v1/cluster/apps/:id/state",
            get(app_state).put(put_state),
        )
        .with_state(rm)
}

async fn cluster_info(State(rm): Rm) -> Json<ClusterInfoWrapper> {
    Json(ClusterInfoWrapper {
        cluster_info: ClusterInfo {
            id: rm.cluster_timestamp,
            started_on: rm.cluster_timestamp,
            state: "STARTED".into(),
            ha_state: "ACTIVE".into(),
            resource_manager_version: "3.3.6-strato-mini".into(),
            hadoop_version: "3.3.6-strato-mini".into(),
        },
    })
}

async fn metrics(State(rm): Rm) -> Json<ClusterMetricsWrapper> {
    Json(ClusterMetricsWrapper {
        cluster_metrics: rm.metrics(),
    })
}

async fn scheduler(State(rm): Rm) -> Json<serde_json::Value> {
    Json(rm.scheduler_json())
}

async fn nodes(State(rm): Rm) -> Json<NodesWrapper> {
    let node = rm.nodes_info();
    Json(NodesWrapper {
        nodes: (!node.is_empty()).then_some(Nodes { node }),
    })
}

async fn new_application(State(rm): Rm) -> Json<NewApplication> {
    Json(rm.new_application())
}

async fn submit(
    State(rm): Rm,
    q: Q,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let ctx: ApplicationSubmissionContextInfo = serde_json::from_slice(&body).map_err(|e| {
        WebError::bad_request(format!(
            "Cannot parse the application submission context: {e}"
        ))
    })?;
    let id = ctx.application_id.clone();
    rm.submit(ctx, &user(&q))?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    Ok((
        StatusCode::ACCEPTED,
        [(
            header::LOCATION,
            format!("http://{host}/ws/v1/cluster/apps/{id}"),
        )],
    )
        .into_response())
}

async fn list_apps(State(rm): Rm, q: Q) -> Json<AppsWrapper> {
    let mut states = split(&q, "states");
    if let Some(s) = q.get("state") {
        states.push(s.clone());
    }
    let apps = rm.apps(
        &states,
        &split(&q, "applicationTypes"),
        q.get("queue").map(String::as_str),
        q.get("user").map(String::as_str),
    );
    Json(AppsWrapper {
        apps: (!apps.is_empty()).then_some(Apps { app: apps }),
    })
}

async fn app(State(rm): Rm, Path(id): Path<String>) -> Result<Json<AppWrapper>, WebError> {
    Ok(Json(AppWrapper {
        app: rm.app_info(app_id(&id)?)?,
    }))
}

async fn attempts(
    State(rm): Rm,
    Path(id): Path<String>,
) -> Result<Json<AppAttemptsWrapper>, WebError> {
    Ok(Json(AppAttemptsWrapper {
        app_attempts: AppAttempts {
            app_attempt: rm.attempts(app_id(&id)?)?,
        },
    }))
}

async fn app_state(State(rm): Rm, Path(id): Path<String>) -> Result<Json<AppState>, WebError> {
    let info = rm.app_info(app_id(&id)?)?;
    Ok(Json(AppState {
        state: info.state.name().into(),
    }))
}

async fn put_state(
    State(rm): Rm,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<Json<AppState>, WebError> {
    let target: AppState = serde_json::from_slice(&body)
        .map_err(|e| WebError::bad_request(format!("Cannot parse the target state: {e}")))?;
    if target.state != "KILLED" {
        return Err(WebError::bad_request(format!(
            "Only 'KILLED' is allowed as a target state, not '{}'",
            target.state
        )));
    }
    let state = rm.kill(app_id(&id)?, &user(&q))?;
    Ok(Json(AppState {
        state: state.name().into(),
    }))
}
