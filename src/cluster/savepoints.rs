//! Asynchronous operations the REST API tracks by trigger id (Flink's `request-id`):
//! savepoints, stop-with-savepoint and savepoint disposal. The client triggers one, gets the
//! id at once, and polls its status until it is `COMPLETED` with a location or a failure.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

/// Where one triggered operation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStatus {
    InProgress,
    /// The savepoint's path (empty for a disposal).
    Completed(String),
    Failed(String),
}

impl OperationStatus {
    /// Flink's `AsynchronousOperationResult` JSON.
    pub fn to_json(&self) -> Value {
        match self {
            OperationStatus::InProgress => json!({"status": {"id": "IN_PROGRESS"}}),
            OperationStatus::Completed(location) => json!({
                "status": {"id": "COMPLETED"},
                "operation": {"location": location},
            }),
            OperationStatus::Failed(cause) => json!({
                "status": {"id": "COMPLETED"},
                "operation": {"failure-cause": {
                    "class": "org.apache.flink.runtime.checkpoint.CheckpointException",
                    "stack-trace": cause,
                    "serialized-throwable": cause,
                }},
            }),
        }
    }
}

/// The operations of a cluster, by trigger id.
#[derive(Default)]
pub struct Operations {
    operations: Mutex<HashMap<String, OperationStatus>>,
}

impl Operations {
    /// Registers a new operation and returns its trigger id.
    pub fn start(&self) -> String {
        let id = format!("{:032x}", rand::random::<u128>());
        self.lock().insert(id.clone(), OperationStatus::InProgress);
        id
    }

    pub fn finish(&self, id: &str, status: OperationStatus) {
        self.lock().insert(id.to_string(), status);
    }

    pub fn status(&self, id: &str) -> Option<OperationStatus> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OperationStatus>> {
        self.operations.lock().unwrap_or_else(|e| e.into_inner())
    }
}
