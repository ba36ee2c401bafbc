//! The ResourceManager REST API's JSON shapes (Hadoop's `*Info` JAXB classes as Jersey
//! renders them): maps are `{"entry":[{"key":..,"value":..}]}`, lists inside wrapper
//! objects, keys kebab-case in the submission context and camelCase in reports. Shared by
//! the client and the mini ResourceManager so both sides agree by construction.

use serde::{Deserialize, Deserializer, Serialize};

/// `ResourceInfo` (`{"memory": 1024, "vCores": 1}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceInfo {
    pub memory: i64,
    #[serde(rename = "vCores")]
    pub vcores: i32,
}

impl std::fmt::Display for ResourceInfo {
    /// Hadoop's `Resource.toString()`: `<memory:1024, vCores:1>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<memory:{}, vCores:{}>", self.memory, self.vcores)
    }
}

/// `NewApplication` (POST `/ws/v1/cluster/apps/new-application`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewApplication {
    #[serde(rename = "application-id")]
    pub application_id: String,
    #[serde(rename = "maximum-resource-capability")]
    pub maximum_resource_capability: ResourceInfo,
}

/// Jersey's rendering of a `HashMap`: `{"entry": [{"key": k, "value": v}, ...]}`; a single
/// entry may come as a bare object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>", serialize = "V: Serialize"))]
pub struct Entries<V> {
    #[serde(default, deserialize_with = "one_or_many")]
    pub entry: Vec<Entry<V>>,
}

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries { entry: Vec::new() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry<V> {
    pub key: String,
    pub value: V,
}

impl<V> Entries<V> {
    pub fn is_empty(&self) -> bool {
        self.entry.is_empty()
    }
    pub fn push(&mut self, key: impl Into<String>, value: V) {
        self.entry.push(Entry {
            key: key.into(),
            value,
        });
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entry.iter().map(|e| (e.key.as_str(), &e.value))
    }
}

impl<V> FromIterator<(String, V)> for Entries<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        Entries {
            entry: iter
                .into_iter()
                .map(|(key, value)| Entry { key, value })
                .collect(),
        }
    }
}

/// Accepts `x` or `[x, ...]` (Jersey writes one-element lists either way).
pub fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(x) => vec![x],
        OneOrMany::Null(()) => Vec::new(),
    })
}

/// `LocalResourceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LocalResourceType {
    Archive,
    File,
    Pattern,
}

/// `LocalResourceVisibility`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LocalResourceVisibility {
    Public,
    Private,
    Application,
}

/// `LocalResourceInfo`: where to fetch a file from and the size and modification time it
/// must still have when the NodeManager localizes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalResourceInfo {
    pub resource: String,
    #[serde(rename = "type")]
    pub kind: LocalResourceType,
    pub visibility: LocalResourceVisibility,
    pub size: i64,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// `{"command": "..."}`: one command line (YARN joins a list with spaces).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Commands {
    #[serde(default, deserialize_with = "one_or_many")]
    pub command: Vec<String>,
}

/// `CredentialsInfo`: tokens as `Token.encodeToUrlString()`, secrets base64.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialsInfo {
    #[serde(default)]
    pub tokens: Entries<String>,
    #[serde(default)]
    pub secrets: Entries<String>,
}

impl CredentialsInfo {
    /// Hadoop credentials in the REST form: tokens as `Token.encodeToUrlString()`, secrets
    /// URL-safe base64 (what the RM's `new Base64(0, null, true)` writes and reads).
    pub fn from_credentials(c: &crate::hadoop::security::Credentials) -> CredentialsInfo {
        use base64::Engine;
        CredentialsInfo {
            tokens: c
                .tokens
                .iter()
                .map(|(alias, t)| (alias.clone(), t.encode_to_url_string()))
                .collect(),
            secrets: c
                .secrets
                .iter()
                .map(|(alias, s)| {
                    (
                        alias.clone(),
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s),
                    )
                })
                .collect(),
        }
    }
}

/// `ContainerLaunchContextInfo` (the `am-container-spec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerLaunchContextInfo {
    #[serde(rename = "local-resources", default)]
    pub local_resources: Entries<LocalResourceInfo>,
    #[serde(default)]
    pub environment: Entries<String>,
    #[serde(default)]
    pub commands: Commands,
    #[serde(
        rename = "service-data",
        default,
        skip_serializing_if = "Entries::is_empty"
    )]
    pub service_data: Entries<String>,
    #[serde(default)]
    pub credentials: CredentialsInfo,
    /// Keys `VIEW_APP` / `MODIFY_APP`, values ACL strings.
    #[serde(rename = "application-acls", default)]
    pub application_acls: Entries<String>,
}

/// `{"tag": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tags {
    #[serde(default, deserialize_with = "one_or_many")]
    pub tag: Vec<String>,
}

/// `ApplicationSubmissionContextInfo` (POST `/ws/v1/cluster/apps`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplicationSubmissionContextInfo {
    #[serde(rename = "application-id")]
    pub application_id: String,
    #[serde(rename = "application-name", default)]
    pub application_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(rename = "am-container-spec", default)]
    pub am_container_spec: ContainerLaunchContextInfo,
    #[serde(rename = "unmanaged-AM", default)]
    pub unmanaged_am: bool,
    #[serde(
        rename = "max-app-attempts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_app_attempts: Option<i32>,
    pub resource: ResourceInfo,
    #[serde(
        rename = "application-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub application_type: Option<String>,
    #[serde(rename = "keep-containers-across-application-attempts", default)]
    pub keep_containers_across_application_attempts: bool,
    #[serde(
        rename = "application-tags",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub application_tags: Option<Tags>,
    #[serde(
        rename = "attempt-failures-validity-interval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attempt_failures_validity_interval: Option<i64>,
    #[serde(
        rename = "app-node-label-expression",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_node_label_expression: Option<String>,
    #[serde(
        rename = "am-container-node-label-expression",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub am_container_node_label_expression: Option<String>,
}

/// `YarnApplicationState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum YarnApplicationState {
    NEW,
    NEW_SAVING,
    SUBMITTED,
    ACCEPTED,
    RUNNING,
    FINISHED,
    FAILED,
    KILLED,
}

impl YarnApplicationState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::FINISHED | Self::FAILED | Self::KILLED)
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::NEW => "NEW",
            Self::NEW_SAVING => "NEW_SAVING",
            Self::SUBMITTED => "SUBMITTED",
            Self::ACCEPTED => "ACCEPTED",
            Self::RUNNING => "RUNNING",
            Self::FINISHED => "FINISHED",
            Self::FAILED => "FAILED",
            Self::KILLED => "KILLED",
        }
    }
}

/// `FinalApplicationStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FinalApplicationStatus {
    UNDEFINED,
    SUCCEEDED,
    FAILED,
    KILLED,
    ENDED,
}

/// `AppInfo` (GET `/ws/v1/cluster/apps/{id}` -> `{"app": ...}`). Fields a report may lack
/// default, so reports of every Hadoop 2.7+/3.x version parse.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub id: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub queue: String,
    pub state: YarnApplicationState,
    pub final_status: FinalApplicationStatus,
    #[serde(default)]
    pub progress: f32,
    #[serde(rename = "trackingUI", default)]
    pub tracking_ui: String,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub diagnostics: String,
    #[serde(default)]
    pub cluster_id: i64,
    #[serde(default)]
    pub application_type: String,
    #[serde(default)]
    pub application_tags: String,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub started_time: i64,
    #[serde(default)]
    pub launch_time: i64,
    #[serde(default)]
    pub finished_time: i64,
    #[serde(default)]
    pub elapsed_time: i64,
    #[serde(default)]
    pub am_container_logs: Option<String>,
    #[serde(default)]
    pub am_host_http_address: Option<String>,
    #[serde(rename = "amRPCAddress", default)]
    pub am_rpc_address: Option<String>,
    #[serde(rename = "allocatedMB", default)]
    pub allocated_mb: i64,
    #[serde(rename = "allocatedVCores", default)]
    pub allocated_vcores: i64,
    #[serde(default)]
    pub running_containers: i64,
    #[serde(default)]
    pub memory_seconds: i64,
    #[serde(default)]
    pub vcore_seconds: i64,
    #[serde(default)]
    pub unmanaged_application: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppWrapper {
    pub app: AppInfo,
}

/// `{"apps": {"app": [...]}}`, or `{"apps": null}` when empty.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppsWrapper {
    pub apps: Option<Apps>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Apps {
    #[serde(default, deserialize_with = "one_or_many")]
    pub app: Vec<AppInfo>,
}

/// `AppAttemptInfo` (GET `/ws/v1/cluster/apps/{id}/appattempts`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppAttemptInfo {
    pub id: i32,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub finished_time: i64,
    #[serde(default)]
    pub container_id: String,
    #[serde(default)]
    pub node_http_address: String,
    #[serde(default)]
    pub node_id: String,
    #[serde(default)]
    pub logs_link: String,
    #[serde(default)]
    pub blacklisted_nodes: String,
    #[serde(default)]
    pub nodes_blacklisted_by_system: String,
    #[serde(default)]
    pub app_attempt_id: Option<String>,
    #[serde(default)]
    pub export_ports: Option<String>,
    #[serde(default)]
    pub app_attempt_state: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppAttemptsWrapper {
    #[serde(rename = "appAttempts")]
    pub app_attempts: AppAttempts,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppAttempts {
    #[serde(rename = "appAttempt", default, deserialize_with = "one_or_many")]
    pub app_attempt: Vec<AppAttemptInfo>,
}

/// `AppState` (`{"state": "KILLED"}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppState {
    pub state: String,
}

/// `ClusterInfo` (GET `/ws/v1/cluster/info` -> `{"clusterInfo": ...}`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    pub id: i64,
    pub started_on: i64,
    pub state: String,
    #[serde(default)]
    pub ha_state: String,
    #[serde(default)]
    pub resource_manager_version: String,
    #[serde(default)]
    pub hadoop_version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterInfoWrapper {
    #[serde(rename = "clusterInfo")]
    pub cluster_info: ClusterInfo,
}

/// `ClusterMetricsInfo` (GET `/ws/v1/cluster/metrics` -> `{"clusterMetrics": ...}`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterMetrics {
    pub apps_submitted: i64,
    pub apps_completed: i64,
    pub apps_pending: i64,
    pub apps_running: i64,
    pub apps_failed: i64,
    pub apps_killed: i64,
    #[serde(rename = "reservedMB")]
    pub reserved_mb: i64,
    #[serde(rename = "availableMB")]
    pub available_mb: i64,
    #[serde(rename = "allocatedMB")]
    pub allocated_mb: i64,
    #[serde(rename = "totalMB")]
    pub total_mb: i64,
    pub available_virtual_cores: i64,
    pub allocated_virtual_cores: i64,
    pub total_virtual_cores: i64,
    pub containers_allocated: i64,
    pub total_nodes: i64,
    pub active_nodes: i64,
    #[serde(default)]
    pub lost_nodes: i64,
    #[serde(default)]
    pub unhealthy_nodes: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterMetricsWrapper {
    #[serde(rename = "clusterMetrics")]
    pub cluster_metrics: ClusterMetrics,
}

/// `NodeInfo` (GET `/ws/v1/cluster/nodes` -> `{"nodes": {"node": [...]}}`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeInfo {
    pub id: String,
    pub rack: String,
    pub state: String,
    pub node_host_name: String,
    #[serde(rename = "nodeHTTPAddress")]
    pub node_http_address: String,
    pub last_health_update: i64,
    pub health_report: String,
    pub num_containers: i64,
    #[serde(rename = "usedMemoryMB")]
    pub used_memory_mb: i64,
    #[serde(rename = "availMemoryMB")]
    pub avail_memory_mb: i64,
    pub used_virtual_cores: i64,
    pub available_virtual_cores: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NodesWrapper {
    pub nodes: Option<Nodes>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Nodes {
    #[serde(default, deserialize_with = "one_or_many")]
    pub node: Vec<NodeInfo>,
}

/// The error body of every failed RM web-service call.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteExceptionWrapper {
    #[serde(rename = "RemoteException")]
    pub remote_exception: RemoteExceptionData,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteExceptionData {
    pub exception: String,
    pub message: String,
    pub java_class_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_context_uses_hadoop_keys() {
        let mut spec = ContainerLaunchContextInfo::default();
        spec.local_resources.push(
            "AppMaster.jar",
            LocalResourceInfo {
                resource: "hdfs://nn:9000/AppMaster.jar".into(),
                kind: LocalResourceType::File,
                visibility: LocalResourceVisibility::Application,
                size: 43004,
                timestamp: 1405452071209,
                pattern: None,
            },
        );
        spec.commands.command.push("run 1><LOG_DIR>/stdout".into());
        spec.credentials.secrets.push("s", "c2VjcmV0MQ".to_string());
        let ctx = ApplicationSubmissionContextInfo {
            application_id: "application_1_0001".into(),
            application_name: "test".into(),
            am_container_spec: spec,
            max_app_attempts: Some(2),
            resource: ResourceInfo {
                memory: 1024,
                vcores: 1,
            },
            application_type: Some("YARN".into()),
            application_tags: Some(Tags {
                tag: vec!["a".into()],
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&ctx).unwrap();
        assert_eq!(v["application-id"], "application_1_0001");
        assert_eq!(v["max-app-attempts"], 2);
        assert_eq!(v["resource"]["vCores"], 1);
        assert_eq!(v["unmanaged-AM"], false);
        let lr = &v["am-container-spec"]["local-resources"]["entry"][0];
        assert_eq!(lr["key"], "AppMaster.jar");
        assert_eq!(lr["value"]["type"], "FILE");
        assert_eq!(lr["value"]["visibility"], "APPLICATION");
        assert_eq!(lr["value"]["size"], 43004);
        assert_eq!(
            v["am-container-spec"]["credentials"]["secrets"]["entry"][0]["value"],
            "c2VjcmV0MQ"
        );
        assert_eq!(v["application-tags"]["tag"][0], "a");
        let back: ApplicationSubmissionContextInfo = serde_json::from_value(v).unwrap();
        assert_eq!(back, ctx);
    }

    #[test]
    fn credentials_take_the_rest_encodings() {
        let mut c = crate::hadoop::security::Credentials::new();
        let token = crate::hadoop::security::Token {
            identifier: vec![1, 2],
            password: vec![3],
            kind: "HDFS_DELEGATION_TOKEN".into(),
            service: "nn:8020".into(),
        };
        c.add_token("hdfs", token.clone());
        c.secrets.insert("s".into(), vec![0xfb, 0xff]);
        let info = CredentialsInfo::from_credentials(&c);
        let (alias, encoded) = info.tokens.iter().next().unwrap();
        assert_eq!(alias, "hdfs");
        assert_eq!(
            crate::hadoop::security::Token::decode_from_url_string(alias, encoded).unwrap(),
            token
        );
        assert_eq!(info.secrets.entry[0].value, "-_8");
    }

    #[test]
    fn single_entries_and_commands_parse_like_jersey_writes_them() {
        let spec: ContainerLaunchContextInfo = serde_json::from_str(
            r#"{"environment":{"entry":{"key":"A","value":"1"}},"commands":{"command":"echo hi"}}"#,
        )
        .unwrap();
        assert_eq!(spec.environment.entry[0].key, "A");
        assert_eq!(spec.commands.command, vec!["echo hi"]);
    }

    #[test]
    fn hadoop_app_report_parses() {
        // Shape of the ResourceManager REST documentation's example.
        let json = r#"{"app":{"id":"application_1476912658570_0002","user":"user2","name":"word count",
          "queue":"default","state":"FINISHED","finalStatus":"SUCCEEDED","progress":100,
          "trackingUI":"History","trackingUrl":"http://host.domain.com:8088/cluster/app/application_1476912658570_0002",
          "diagnostics":"","clusterId":1476912658570,"applicationType":"MAPREDUCE","applicationTags":"",
          "priority":-1,"startedTime":1476913457320,"finishedTime":1476913761898,"elapsedTime":304578,
          "amContainerLogs":"http://host.domain.com:8042/node/containerlogs/container_1476912658570_0002_01_000001/user2",
          "amHostHttpAddress":"host.domain.com:8042","amRPCAddress":"host.domain.com:46517","allocatedMB":-1,
          "allocatedVCores":-1,"runningContainers":-1,"memorySeconds":206464,"vcoreSeconds":201,
          "queueUsagePercentage":0,"clusterUsagePercentage":0,"preemptedResourceMB":0,"preemptedResourceVCores":0,
          "numNonAMContainerPreempted":0,"numAMContainerPreempted":0,"logAggregationStatus":"DISABLED",
          "unmanagedApplication":false,"appNodeLabelExpression":"","amNodeLabelExpression":""}}"#;
        let w: AppWrapper = serde_json::from_str(json).unwrap();
        assert_eq!(w.app.state, YarnApplicationState::FINISHED);
        assert_eq!(w.app.final_status, FinalApplicationStatus::SUCCEEDED);
        assert_eq!(
            w.app.am_rpc_address.as_deref(),
            Some("host.domain.com:46517")
        );
        let empty: AppsWrapper = serde_json::from_str(r#"{"apps":null}"#).unwrap();
        assert!(empty.apps.is_none());
    }
}
