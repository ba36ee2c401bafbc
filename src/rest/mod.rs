//! The JobManager's REST API, with Flink's paths and JSON shapes where Flink has them, so
//! tools written against Flink's REST API keep working. Paths are also served under `/v1`.
//!
//! Strato-specific: `POST /blobs` (raw program bytes, returns `{"key": ...}`) and the JSON body
//! of `POST /jobs` (the JobGraph from the client's plan run plus the program's blob key); Flink
//! sends the same things as a multipart upload.

pub mod model;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::cluster::jobmanager::{Cluster, DispatchError, Submission};
use crate::util::ids::JobId;

type Shared = State<Arc<Cluster>>;

/// Flink's error body: `{"errors": [...]}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"errors": [message.into()]}))).into_response()
}

impl IntoResponse for DispatchError {
    fn into_response(self) -> Response {
        let status = match self {
            DispatchError::NotFound(_) => StatusCode::NOT_FOUND,
            DispatchError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DispatchError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self.to_string())
    }
}

fn job_id(text: &str) -> Result<JobId, DispatchError> {
    JobId::parse(text).map_err(DispatchError::BadRequest)
}

/// The REST routes over a cluster.
pub fn router(cluster: Arc<Cluster>) -> Router {
    let api = Router::new()
        .route("/config", get(config))
        .route("/overview", get(overview))
        .route("/jobs", get(jobs).post(submit))
        .route("/jobs/overview", get(jobs_overview))
        .route("/jobs/:id", get(job_details).patch(cancel))
        .route("/jobs/:id/plan", get(job_plan))
        .route("/jobs/:id/exceptions", get(job_exceptions))
        .route("/jobs/:id/checkpoints", get(job_checkpoints))
        .route("/taskmanagers", get(task_managers))
        .route("/taskmanagers/:id", get(task_manager))
        .route("/blobs", post(upload_blob))
        .layer(DefaultBodyLimit::max(1 << 30));
    Router::new()
        .nest("/v1", api.clone())
        .merge(api)
        .with_state(cluster)
}

/// Serves the REST API on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cluster: Arc<Cluster>,
) -> std::io::Result<()> {
    axum::serve(listener, router(cluster)).await
}

async fn config(State(cluster): Shared) -> Json<serde_json::Value> {
    let web_submit = cluster
        .configuration
        .get(&crate::config::options::WEB_SUBMIT_ENABLE)
        .unwrap_or(true);
    Json(model::dashboard_config(web_submit))
}

async fn overview(State(cluster): Shared) -> Json<serde_json::Value> {
    Json(model::overview(&cluster))
}

async fn jobs(State(cluster): Shared) -> Json<serde_json::Value> {
    Json(model::jobs(&cluster))
}

async fn jobs_overview(State(cluster): Shared) -> Json<serde_json::Value> {
    Json(model::jobs_overview(&cluster))
}

async fn job_details(State(cluster): Shared, Path(id): Path<String>) -> Response {
    let id = match job_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match model::job_details(&cluster, id) {
        Some(body) => Json(body).into_response(),
        None => DispatchError::NotFound(id.to_string()).into_response(),
    }
}

async fn job_plan(State(cluster): Shared, Path(id): Path<String>) -> Response {
    let id = match job_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match cluster.with_jobs(|jobs| jobs.get(&id).map(|j| j.plan.clone())) {
        Some(plan) => Json(json!({"plan": plan})).into_response(),
        None => DispatchError::NotFound(id.to_string()).into_response(),
    }
}

async fn job_exceptions(State(cluster): Shared, Path(id): Path<String>) -> Response {
    let id = match job_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match model::job_exceptions(&cluster, id) {
        Some(body) => Json(body).into_response(),
        None => DispatchError::NotFound(id.to_string()).into_response(),
    }
}

/// `/jobs/:id/checkpoints`: no job checkpoints yet (the checkpoint coordinator comes with the
/// state/checkpoint issue), so every count is zero and there is no latest checkpoint.
async fn job_checkpoints(State(cluster): Shared, Path(id): Path<String>) -> Response {
    let id = match job_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    if !cluster.with_jobs(|jobs| jobs.contains_key(&id)) {
        return DispatchError::NotFound(id.to_string()).into_response();
    }
    Json(model::no_checkpoints()).into_response()
}

#[derive(serde::Deserialize)]
struct CancelQuery {
    mode: Option<String>,
}

/// `PATCH /jobs/:id?mode=cancel` (Flink answers 202 with an empty body).
async fn cancel(
    State(cluster): Shared,
    Path(id): Path<String>,
    Query(q): Query<CancelQuery>,
) -> Response {
    let id = match job_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    if let Some(mode) = q.mode.filter(|m| m != "cancel") {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unsupported termination mode '{mode}' (supported: cancel)"),
        );
    }
    match cluster.cancel(id) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({}))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn submit(State(cluster): Shared, body: axum::body::Bytes) -> Response {
    let submission: Submission = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unreadable job submission: {e}"),
            )
        }
    };
    let cluster = cluster.clone();
    match tokio::task::spawn_blocking(move || cluster.submit(submission)).await {
        Ok(Ok(id)) => (
            StatusCode::ACCEPTED,
            Json(json!({"jobUrl": format!("/jobs/{id}")})),
        )
            .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("submission failed: {e}"),
        ),
    }
}

async fn upload_blob(State(cluster): Shared, body: axum::body::Bytes) -> Response {
    let cluster = cluster.clone();
    match tokio::task::spawn_blocking(move || cluster.put_blob(&body)).await {
        Ok(Ok(key)) => Json(json!({"key": key})).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("upload failed: {e}"),
        ),
    }
}

async fn task_managers(State(cluster): Shared) -> Json<serde_json::Value> {
    Json(model::task_managers(&cluster))
}

async fn task_manager(State(cluster): Shared, Path(id): Path<String>) -> Response {
    match model::task_manager(&cluster, &id) {
        Some(body) => Json(body).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("TaskManager {id} not found")),
    }
}
