//! Program upload and run over REST (Flink's `/jars` handlers, behind `web.submit.enable`):
//! a program binary uploaded as the multipart field `jarfile` is kept under the JobManager's
//! upload directory; `run` plans it on the JobManager (the binary runs in plan mode, as
//! `strato run` does on a client) and submits the resulting JobGraph.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error;
use crate::cluster::jobmanager::Cluster;
use crate::config::options;

type Shared = State<Arc<Cluster>>;

fn upload_dir(cluster: &Cluster) -> PathBuf {
    cluster.settings.blob_dir.join("web-upload")
}

/// A jar id names one uploaded file: `<uuid>_<file name>`, nothing that could leave the dir.
fn jar_path(cluster: &Cluster, id: &str) -> Result<PathBuf, Response> {
    let valid = !id.is_empty()
        && !id.contains('/')
        && !id.contains('\\')
        && id != "."
        && id != ".."
        && id.contains('_');
    let path = upload_dir(cluster).join(id);
    if !valid || !path.is_file() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("Jar file {id} does not exist"),
        ));
    }
    Ok(path)
}

/// `POST /jars/upload` (multipart field `jarfile`).
pub async fn upload(State(cluster): Shared, mut form: Multipart) -> Response {
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Exactly 1 file must be sent in the multipart field 'jarfile'",
                )
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad upload: {e}")),
        };
        if field.name() != Some("jarfile") {
            continue;
        }
        let name = field
            .file_name()
            .and_then(|n| FsPath::new(n).file_name())
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "program".to_string());
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad upload: {e}")),
        };
        let dir = upload_dir(&cluster);
        let path = dir.join(format!("{}_{name}", uuid_like()));
        let stored = tokio::task::spawn_blocking({
            let path = path.clone();
            move || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&path, &bytes)?;
                make_executable(&path)
            }
        })
        .await;
        return match stored {
            Ok(Ok(())) => Json(json!({
                "filename": path.display().to_string(),
                "status": "success",
            }))
            .into_response(),
            Ok(Err(e)) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not store the upload in '{}': {e}", path.display()),
            ),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
}

fn uuid_like() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(unix)]
fn make_executable(path: &FsPath) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &FsPath) -> std::io::Result<()> {
    Ok(())
}

/// `GET /jars`.
pub async fn list(State(cluster): Shared) -> Response {
    let dir = upload_dir(&cluster);
    let files: Vec<Value> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let id = entry.file_name().to_string_lossy().to_string();
            let (_, name) = id.split_once('_')?;
            let uploaded = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64);
            Some(json!({
                "id": id,
                "name": name,
                "uploaded": uploaded,
                "entry": [{"name": name, "description": null}],
            }))
        })
        .collect();
    let address = format!(
        "http://{}:{}",
        cluster
            .configuration
            .get(&options::REST_ADDRESS)
            .unwrap_or_else(|_| "localhost".into()),
        cluster
            .configuration
            .get(&options::REST_PORT)
            .unwrap_or(8081)
    );
    Json(json!({"address": address, "files": files})).into_response()
}

/// `DELETE /jars/:jarid`.
pub async fn delete(State(cluster): Shared, Path(id): Path<String>) -> Response {
    let path = match jar_path(&cluster, &id) {
        Ok(p) => p,
        Err(response) => return response,
    };
    match std::fs::remove_file(&path) {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not delete '{}': {e}", path.display()),
        ),
    }
}

/// Flink's `JarRunRequestBody` (the fields that apply to a program binary).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    program_args: Option<String>,
    program_args_list: Option<Vec<String>>,
    parallelism: Option<u32>,
    savepoint_path: Option<String>,
    #[serde(default)]
    allow_non_restored_state: bool,
    #[serde(default)]
    flink_configuration: std::collections::BTreeMap<String, String>,
}

/// `POST /jars/:jarid/run`.
pub async fn run(
    State(cluster): Shared,
    Path(id): Path<String>,
    body: Option<Json<RunRequest>>,
) -> Response {
    let path = match jar_path(&cluster, &id) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let cluster = cluster.clone();
    match tokio::task::spawn_blocking(move || plan_and_submit(&cluster, &path, request)).await {
        Ok(Ok(job_id)) => Json(json!({ "jobid": job_id })).into_response(),
        Ok(Err(message)) => error(StatusCode::BAD_REQUEST, message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn plan_and_submit(
    cluster: &Arc<Cluster>,
    path: &FsPath,
    request: RunRequest,
) -> Result<String, String> {
    let args: Vec<String> = match (request.program_args_list, request.program_args) {
        (Some(list), _) => list,
        (None, Some(text)) => text.split_whitespace().map(str::to_string).collect(),
        (None, None) => Vec::new(),
    };
    let mut config = cluster.configuration.clone();
    for (key, value) in &request.flink_configuration {
        config.set(key, value);
    }
    if let Some(p) = request.parallelism.filter(|p| *p > 0) {
        config.set(options::PARALLELISM_DEFAULT.key, p.to_string());
    }
    if let Some(savepoint) = &request.savepoint_path {
        config.set(options::SAVEPOINT_PATH.key, savepoint);
    }
    if request.allow_non_restored_state {
        config.set(options::SAVEPOINT_IGNORE_UNCLAIMED_STATE.key, "true");
    }
    crate::cluster::application::submit_program(cluster, path, &args, &config)
        .map(|id| id.to_string())
        .map_err(|e| format!("{e:#}"))
}
