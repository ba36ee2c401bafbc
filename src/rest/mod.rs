//! The JobManager's REST API, with Flink's paths and JSON shapes where Flink has them, so
//! tools written against Flink's REST API keep working. Paths are also served under `/v1`.
//!
//! `/jars` (upload, list, run, delete) exists only with `web.submit.enable: true` (the default).
//!
//! Strato-specific: `POST /blobs` (raw program bytes, returns `{"key": ...}`) and the JSON body
//! of `POST /jobs` (the JobGraph from the client's plan run plus the program's blob key); Flink
//! sends the same things as a multipart upload.

pub mod jars;
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
        .route("/jobs/:id/savepoints", post(trigger_savepoint))
        .route("/jobs/:id/savepoints/:trigger", get(savepoint_status))
        .route("/jobs/:id/stop", post(stop_with_savepoint))
        .route("/savepoint-disposal", post(dispose_savepoint))
        .route("/savepoint-disposal/:trigger", get(disposal_status))
        .route("/taskmanagers", get(task_managers))
        .route("/taskmanagers/:id", get(task_manager))
        .route("/blobs", post(upload_blob));
    // Flink registers the jar handlers only when web submission is enabled.
    let submit_enabled = cluster
        .configuration
        .get(&crate::config::options::WEB_SUBMIT_ENABLE)
        .unwrap_or(true);
    let api = if submit_enabled {
        api.route("/jars", get(jars::list))
            .route("/jars/upload", post(jars::upload))
            .route("/jars/:jarid", axum::routing::delete(jars::delete))
            .route("/jars/:jarid/run", post(jars::run))
    } else {
        api
    }
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

/// `/jobs/:id/checkpoints`: Flink's `CheckpointingStatistics`.
async fn job_checkpoints(State(cluster): Shared, Path(id): Path<String>) -> Response {
    let id = match job_id(&id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match cluster.with_jobs(|jobs| jobs.get(&id).map(|j| j.checkpoints.clone())) {
        Some(stats) => {
            let stats = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Json(model::checkpoints(&stats)).into_response()
        }
        None => DispatchError::NotFound(id.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct SavepointRequest {
    #[serde(rename = "target-directory")]
    target_directory: Option<String>,
    #[serde(rename = "cancel-job", default)]
    cancel_job: bool,
}

#[derive(serde::Deserialize)]
struct StopRequest {
    #[serde(rename = "targetDirectory")]
    target_directory: Option<String>,
    #[serde(default)]
    drain: bool,
}

#[derive(serde::Deserialize)]
struct DisposalRequest {
    #[serde(rename = "savepoint-path")]
    savepoint_path: String,
}

fn triggered(result: Result<String, DispatchError>) -> Response {
    match result {
        Ok(trigger) => {
            (StatusCode::ACCEPTED, Json(json!({ "request-id": trigger }))).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /jobs/:id/savepoints` (`{"target-directory", "cancel-job"}`).
async fn trigger_savepoint(
    State(cluster): Shared,
    Path(id): Path<String>,
    Json(request): Json<SavepointRequest>,
) -> Response {
    triggered(job_id(&id).and_then(|id| {
        cluster.trigger_savepoint(id, request.target_directory, None, request.cancel_job)
    }))
}

/// `POST /jobs/:id/stop` (`{"targetDirectory", "drain"}`): stop-with-savepoint.
async fn stop_with_savepoint(
    State(cluster): Shared,
    Path(id): Path<String>,
    Json(request): Json<StopRequest>,
) -> Response {
    triggered(job_id(&id).and_then(|id| {
        cluster.trigger_savepoint(id, request.target_directory, Some(request.drain), false)
    }))
}

fn operation_status(cluster: &Cluster, trigger: &str) -> Response {
    match cluster.operations.status(trigger) {
        Some(status) => Json(status.to_json()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("There is no savepoint operation with triggerId={trigger}"),
        ),
    }
}

/// `GET /jobs/:id/savepoints/:trigger`.
async fn savepoint_status(
    State(cluster): Shared,
    Path((_id, trigger)): Path<(String, String)>,
) -> Response {
    operation_status(&cluster, &trigger)
}

/// `POST /savepoint-disposal` (`{"savepoint-path"}`).
async fn dispose_savepoint(
    State(cluster): Shared,
    Json(request): Json<DisposalRequest>,
) -> Response {
    let trigger = cluster.operations.start();
    let status = match tokio::task::spawn_blocking(move || {
        crate::checkpoint::storage::dispose_savepoint(&request.savepoint_path)
    })
    .await
    {
        Ok(Ok(())) => crate::cluster::savepoints::OperationStatus::Completed(String::new()),
        Ok(Err(e)) => crate::cluster::savepoints::OperationStatus::Failed(e.to_string()),
        Err(e) => crate::cluster::savepoints::OperationStatus::Failed(e.to_string()),
    };
    cluster.operations.finish(&trigger, status);
    (StatusCode::ACCEPTED, Json(json!({ "request-id": trigger }))).into_response()
}

/// `GET /savepoint-disposal/:trigger`.
async fn disposal_status(State(cluster): Shared, Path(trigger): Path<String>) -> Response {
    operation_status(&cluster, &trigger)
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
