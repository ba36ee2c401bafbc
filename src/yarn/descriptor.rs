//! The YARN cluster descriptor of the client (Flink's `YarnClusterDescriptor`): checks a
//! deployment against the cluster (maximum allocation, queue, inputs), stages what the
//! containers need under `<yarn.staging-directory or home>/.strato/<application id>/`,
//! registers it as local resources (size and timestamp from the file status; the files of
//! `yarn.provided.lib.dirs` as PUBLIC resources, never uploaded), submits the application
//! master and waits until it runs. Every failure after staging started removes the staging
//! directory again, so nothing is left behind by a deployment that did not happen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::appmaster::{
    container_environment, DeploymentMode, ENV_DEPLOYMENT, ENV_PROGRAM_ARGS, ENV_STAGING_DIR,
    ENV_TASK_MANAGER_RESOURCES, HADOOP_CONF_DIR, KEY_CONF, KEY_JOB_SUBMISSION, KEY_PROGRAM,
    KEY_STRATO,
};
use super::rest::*;
use crate::config::{options, Configuration};
use crate::fs::{CreateOptions, FileStatus, FileSystem, FileSystems, FsConfig, FsPath};
use crate::hadoop::conf::Configuration as HadoopConf;

/// What to deploy.
#[derive(Clone, Debug)]
pub struct DeploySpec {
    pub mode: DeploymentMode,
    /// The user program: a local path, or a `file://` / `hdfs://` URI used in place.
    pub program: Option<String>,
    pub program_args: Vec<String>,
    /// Per-job: the encoded [`crate::cluster::jobmanager::Submission`].
    pub job_submission: Option<Vec<u8>>,
    /// `-t` ship directories (and files), besides `yarn.ship-files`.
    pub ship: Vec<PathBuf>,
}

/// A running application and where its JobManager answers.
#[derive(Clone, Debug)]
pub struct DeployedCluster {
    pub application_id: String,
    /// `http://host:port` of the JobManager's REST endpoint and web interface.
    pub web_interface: String,
}

/// The client's view of one YARN cluster.
pub struct YarnClusterDescriptor {
    config: Configuration,
    hadoop: HadoopConf,
    hadoop_conf_dir: Option<PathBuf>,
    rest: RmRestClient,
    user: String,
    fs: Arc<FileSystems>,
}

/// The Hadoop user: `HADOOP_USER_NAME`, else the login user.
pub fn hadoop_user() -> String {
    std::env::var("HADOOP_USER_NAME")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "strato".into())
}

/// Flink's memory check text.
fn check_memory(what: &str, requested: i64, max: i64) -> anyhow::Result<()> {
    if requested > max {
        bail!(
            "The cluster does not have the requested resources for the {what} available!\nMaximum Memory: {max} MB Requested: {requested} MB. Please check the 'yarn.scheduler.maximum-allocation-mb' and the 'yarn.nodemanager.resource.memory-mb' configuration values"
        );
    }
    Ok(())
}

fn check_vcores(what: &str, requested: i64, max: i64) -> anyhow::Result<()> {
    if requested > max {
        bail!(
            "The number of requested virtual cores for the {what} ({requested}) exceeds the maximum number of virtual cores ({max}) available in the YARN cluster. Please check the 'yarn.scheduler.maximum-allocation-vcores' and the 'yarn.nodemanager.resource.cpu-vcores' configuration values"
        );
    }
    Ok(())
}

/// A local resource for a file as the file system sees it.
fn resource_of(
    status: &FileStatus,
    kind: LocalResourceType,
    visibility: LocalResourceVisibility,
) -> LocalResourceInfo {
    LocalResourceInfo {
        resource: status.path.to_string(),
        kind,
        visibility,
        size: status.len as i64,
        timestamp: status.modification_time as i64,
        pattern: None,
    }
}

/// Files to upload: (resource key, local path, type).
type Uploads = Vec<(String, PathBuf, LocalResourceType)>;

/// Adds a file, or every file under a directory, as `<name>/<relative path>` keys.
fn add_ship_path(path: &Path, uploads: &mut Uploads) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("ship path '{}' has no file name", path.display()))?;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("the ship path '{}' does not exist", path.display()))?;
    if meta.is_file() {
        uploads.push((name, path.to_path_buf(), LocalResourceType::File));
        return Ok(());
    }
    let mut stack = vec![(path.to_path_buf(), name)];
    while let Some((dir, key)) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("reading the ship directory '{}'", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading '{}'", dir.display()))?;
            let child_key = format!("{key}/{}", entry.file_name().to_string_lossy());
            let p = entry.path();
            if p.is_dir() {
                stack.push((p, child_key));
            } else {
                uploads.push((child_key, p, LocalResourceType::File));
            }
        }
    }
    Ok(())
}

impl YarnClusterDescriptor {
    /// The YARN cluster named by the Hadoop configuration (`YARN_CONF_DIR`, `HADOOP_CONF_DIR`,
    /// `$HADOOP_HOME/etc/hadoop`).
    pub fn new(config: &Configuration) -> anyhow::Result<Self> {
        let hadoop_conf_dir = HadoopConf::conf_dir_from_env();
        let hadoop = match &hadoop_conf_dir {
            Some(dir) => HadoopConf::load_dir(dir)
                .with_context(|| format!("loading the Hadoop configuration in {}", dir.display()))?,
            None => bail!("No Hadoop configuration found: set YARN_CONF_DIR or HADOOP_CONF_DIR to the directory with yarn-site.xml and core-site.xml"),
        };
        let user = hadoop_user();
        let rest = RmRestClient::from_conf(&hadoop, Some(user.clone()))
            .context("setting up the ResourceManager REST client")?;
        let mut fs_config = FsConfig::from_hadoop_conf(&hadoop, hadoop_conf_dir.clone())?;
        fs_config.hadoop_user = Some(user.clone());
        let fs = Arc::new(FileSystems::new(fs_config)?);
        Ok(YarnClusterDescriptor {
            config: config.clone(),
            hadoop,
            hadoop_conf_dir,
            rest,
            user,
            fs,
        })
    }

    pub fn rest(&self) -> &RmRestClient {
        &self.rest
    }

    /// `<yarn.staging-directory or the user's home on the default file system>/.strato`.
    fn staging_root(&self) -> anyhow::Result<FsPath> {
        let base = match self
            .config
            .get_optional(&options::YARN_STAGING_DIRECTORY)?
            .filter(|s| !s.is_empty())
        {
            Some(dir) => dir,
            None => {
                let default_fs = self
                    .hadoop
                    .get("fs.defaultFS")?
                    .unwrap_or_else(|| "file:///".into());
                if default_fs.starts_with("file:") {
                    std::env::var("HOME").context("HOME is not set (needed for the staging directory; or set yarn.staging-directory)")?
                } else {
                    format!("/user/{}", self.user)
                }
            }
        };
        let (fs, path) = self.fs.resolve(&base)?;
        Ok(fs.qualify(&path).child(".strato"))
    }

    /// The staging directory of an application.
    pub fn staging_dir(&self, application_id: &str) -> anyhow::Result<FsPath> {
        Ok(self.staging_root()?.child(application_id))
    }

    /// Removes an application's staging directory (no error when it is gone already).
    pub async fn remove_staging(&self, application_id: &str) -> anyhow::Result<()> {
        let dir = self.staging_dir(application_id)?;
        let fs = self.fs.clone();
        crate::fs::run_blocking(move || {
            let (fs, path) = fs.resolve(&dir.to_string())?;
            fs.delete(&path, true).map(|_| ())
        })
        .await?;
        Ok(())
    }

    /// Statuses of a URI (file) or of every file in a directory URI.
    async fn statuses(&self, uri: String) -> anyhow::Result<Vec<FileStatus>> {
        let fs = self.fs.clone();
        let what = uri.clone();
        crate::fs::run_blocking(move || {
            let (fs, path) = fs.resolve(&uri)?;
            let status = fs.status(&path)?;
            if status.is_dir {
                Ok(fs.list(&path)?.into_iter().filter(|s| !s.is_dir).collect())
            } else {
                Ok(vec![status])
            }
        })
        .await
        .map_err(|e| {
            if e.is_not_found() {
                anyhow::anyhow!("'{what}' does not exist")
            } else {
                anyhow::anyhow!("{e}")
            }
        })
    }

    /// Checks the requested resources against the cluster's maximum allocation.
    fn check_resources(&self, max: &ResourceInfo) -> anyhow::Result<()> {
        let jm = self
            .config
            .get(&options::JOBMANAGER_PROCESS_SIZE)?
            .mebibytes() as i64;
        let tm = self
            .config
            .get(&options::TASKMANAGER_PROCESS_SIZE)?
            .mebibytes() as i64;
        check_memory("JobManager", jm, max.memory)?;
        check_memory("TaskManagers", tm, max.memory)?;
        let am_vcores = i64::from(self.config.get(&options::YARN_APPMASTER_VCORES)?);
        check_vcores("JobManager", am_vcores, i64::from(max.vcores))?;
        let slots = i64::from(self.config.get(&options::NUM_TASK_SLOTS)?);
        let tm_vcores = match self.config.get(&options::YARN_CONTAINERS_VCORES)? {
            v if v < 1 => slots,
            v => i64::from(v),
        };
        check_vcores("TaskManagers", tm_vcores, i64::from(max.vcores))
    }

    /// The queue the application goes to; an unknown one is refused before submission.
    async fn checked_queue(&self) -> anyhow::Result<String> {
        let queue = self
            .config
            .get_optional(&options::YARN_APPLICATION_QUEUE)?
            .filter(|q| !q.is_empty())
            .unwrap_or_else(|| "default".into());
        match self.rest.queue_names().await {
            Ok(names) if !names.is_empty() && !names.contains(&queue) => bail!(
                "The specified queue '{queue}' does not exist. Available queues: {}",
                names.join(", ")
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("could not list the YARN queues: {e}"),
        }
        Ok(queue)
    }

    /// Deploys a cluster; on success the application master runs and serves REST.
    pub async fn deploy(&self, spec: &DeploySpec) -> anyhow::Result<DeployedCluster> {
        // Inputs first: nothing is created on the cluster for a deployment that cannot work.
        let mut public: BTreeMap<String, LocalResourceInfo> = BTreeMap::new();
        for dir in self
            .config
            .get_optional(&options::YARN_PROVIDED_LIB_DIRS)?
            .unwrap_or_default()
        {
            let files = self
                .statuses(dir.clone())
                .await
                .with_context(|| format!("yarn.provided.lib.dirs: the directory '{dir}'"))?;
            for status in files {
                let name = status.path.file_name().unwrap_or_default().to_string();
                public.insert(
                    name,
                    resource_of(
                        &status,
                        LocalResourceType::File,
                        LocalResourceVisibility::Public,
                    ),
                );
            }
        }
        let mut program_resource = None;
        let mut uploads: Uploads = Vec::new();
        if let Some(program) = &spec.program {
            if program.contains("://") {
                let status = self
                    .statuses(program.clone())
                    .await
                    .with_context(|| format!("the program '{program}'"))?;
                let status = status
                    .first()
                    .with_context(|| format!("the program '{program}' is a directory"))?;
                program_resource = Some(resource_of(
                    status,
                    LocalResourceType::File,
                    LocalResourceVisibility::Application,
                ));
            } else {
                let path = Path::new(program);
                if !path.is_file() {
                    bail!("The program '{program}' does not exist.");
                }
                uploads.push((
                    KEY_PROGRAM.into(),
                    path.to_path_buf(),
                    LocalResourceType::File,
                ));
            }
        }
        for path in &spec.ship {
            add_ship_path(path, &mut uploads)?;
        }
        for file in self
            .config
            .get_optional(&options::YARN_SHIP_FILES)?
            .unwrap_or_default()
        {
            add_ship_path(Path::new(&file), &mut uploads)?;
        }
        for archive in self
            .config
            .get_optional(&options::YARN_SHIP_ARCHIVES)?
            .unwrap_or_default()
        {
            let path = PathBuf::from(&archive);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .with_context(|| format!("yarn.ship-archives: '{archive}' has no file name"))?;
            if !path.is_file() {
                bail!("yarn.ship-archives: '{archive}' does not exist");
            }
            uploads.push((name, path, LocalResourceType::Archive));
        }
        if !public.contains_key(KEY_STRATO) {
            let exe = std::env::current_exe().context("locating the strato binary")?;
            uploads.push((KEY_STRATO.into(), exe, LocalResourceType::File));
        }
        if let Some(dir) = &self.hadoop_conf_dir {
            for name in ["core-site.xml", "hdfs-site.xml", "yarn-site.xml"] {
                let file = dir.join(name);
                if file.is_file() {
                    uploads.push((
                        format!("{HADOOP_CONF_DIR}/{name}"),
                        file,
                        LocalResourceType::File,
                    ));
                }
            }
        }

        let new_app = self
            .rest
            .new_application()
            .await
            .context("Could not reach the YARN ResourceManager")?;
        let app_id = new_app.application_id.clone();
        self.check_resources(&new_app.maximum_resource_capability)?;
        let queue = self.checked_queue().await?;

        let staging = self.staging_dir(&app_id)?;
        let generated = tempfile::tempdir().context("creating a temporary directory")?;
        let conf_file = generated.path().join("strato-conf.yaml");
        std::fs::write(&conf_file, self.config.to_yaml_string())
            .with_context(|| format!("writing {}", conf_file.display()))?;
        uploads.push((KEY_CONF.into(), conf_file, LocalResourceType::File));
        if let Some(job) = &spec.job_submission {
            let file = generated.path().join(KEY_JOB_SUBMISSION);
            std::fs::write(&file, job).with_context(|| format!("writing {}", file.display()))?;
            uploads.push((KEY_JOB_SUBMISSION.into(), file, LocalResourceType::File));
        }
        let result = self
            .stage_and_submit(
                spec,
                &app_id,
                &staging,
                uploads,
                public,
                program_resource,
                queue,
            )
            .await;
        match result {
            Ok(cluster) => Ok(cluster),
            Err(e) => {
                // Whatever started is undone: the application and its staged files.
                let _ = self.rest.kill_application(&app_id).await;
                if let Err(cleanup) = self.remove_staging(&app_id).await {
                    tracing::warn!("could not remove the staging directory {staging}: {cleanup:#}");
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn stage_and_submit(
        &self,
        spec: &DeploySpec,
        app_id: &str,
        staging: &FsPath,
        uploads: Uploads,
        public: BTreeMap<String, LocalResourceInfo>,
        program_resource: Option<LocalResourceInfo>,
        queue: String,
    ) -> anyhow::Result<DeployedCluster> {
        let mut resources = public;
        resources.extend(self.upload(staging, uploads).await?);
        let program_resource = program_resource.or_else(|| resources.remove(KEY_PROGRAM));
        let job_resource = resources.remove(KEY_JOB_SUBMISSION);
        // TaskManagers get the program from the JobManager's blob store.
        let tm_resources = resources.clone();
        let mut am_resources = resources;
        if let Some(r) = program_resource {
            am_resources.insert(KEY_PROGRAM.into(), r);
        }
        if let Some(r) = job_resource {
            am_resources.insert(KEY_JOB_SUBMISSION.into(), r);
        }

        let mut am = ContainerLaunchContextInfo::default();
        for (key, r) in &am_resources {
            am.local_resources.push(key.clone(), r.clone());
        }
        for (k, v) in container_environment(&am_resources, "jobmanager") {
            am.environment.push(k, v);
        }
        am.environment
            .push(ENV_DEPLOYMENT, spec.mode.name().to_string());
        am.environment.push(
            ENV_TASK_MANAGER_RESOURCES,
            serde_json::to_string(&tm_resources)?,
        );
        am.environment.push(ENV_STAGING_DIR, staging.to_string());
        if spec.mode == DeploymentMode::Application {
            am.environment
                .push(ENV_PROGRAM_ARGS, serde_json::to_string(&spec.program_args)?);
        }
        am.commands.command.push(format!(
            "./{KEY_STRATO} jobmanager 1><LOG_DIR>/jobmanager.out 2><LOG_DIR>/jobmanager.err"
        ));

        let c = &self.config;
        let default_name = match spec.mode {
            DeploymentMode::Session => "Strato session cluster",
            DeploymentMode::PerJob => "Strato per-job cluster",
            DeploymentMode::Application => "Strato Application Cluster",
        };
        let priority = c.get(&options::YARN_APPLICATION_PRIORITY)?;
        let tags = c.get_optional(&options::YARN_TAGS)?.unwrap_or_default();
        let ctx = ApplicationSubmissionContextInfo {
            application_id: app_id.to_string(),
            application_name: c
                .get_optional(&options::YARN_APPLICATION_NAME)?
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| default_name.to_string()),
            queue: Some(queue),
            priority: (priority >= 0).then_some(priority),
            am_container_spec: am,
            max_app_attempts: Some(
                c.get_optional(&options::YARN_APPLICATION_ATTEMPTS)?
                    .unwrap_or(1) as i32,
            ),
            resource: ResourceInfo {
                memory: c.get(&options::JOBMANAGER_PROCESS_SIZE)?.mebibytes() as i64,
                vcores: c.get(&options::YARN_APPMASTER_VCORES)? as i32,
            },
            application_type: Some(
                c.get_optional(&options::YARN_APPLICATION_TYPE)?
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "Strato".into()),
            ),
            application_tags: (!tags.is_empty()).then_some(Tags { tag: tags }),
            app_node_label_expression: c
                .get_optional(&options::YARN_APPLICATION_NODE_LABEL)?
                .filter(|l| !l.is_empty()),
            ..Default::default()
        };
        self.rest
            .submit_application(&ctx)
            .await
            .with_context(|| format!("submitting {app_id} to the ResourceManager"))?;
        eprintln!("Submitted application {app_id}");
        let web_interface = self.wait_until_running(app_id).await?;
        Ok(DeployedCluster {
            application_id: app_id.to_string(),
            web_interface,
        })
    }

    /// Uploads files to the staging directory with a progress bar; their resources.
    async fn upload(
        &self,
        staging: &FsPath,
        uploads: Uploads,
    ) -> anyhow::Result<BTreeMap<String, LocalResourceInfo>> {
        let fs = self.fs.clone();
        let staging = staging.clone();
        let replication = match self.config.get(&options::YARN_FILE_REPLICATION)? {
            r if r > 0 => Some(r as u32),
            _ => None,
        };
        let resources = crate::fs::run_blocking(move || {
            let (fs, dir): (Arc<dyn FileSystem>, FsPath) = fs.resolve(&staging.to_string())?;
            fs.mkdirs(&dir)?;
            let total: u64 = uploads
                .iter()
                .filter_map(|(_, p, _)| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum();
            let bar = indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template(
                    "Uploading to {prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(dir.to_string());
            let options = CreateOptions {
                replication,
                permission: 0o700,
                ..CreateOptions::overwrite()
            };
            let mut out = BTreeMap::new();
            let mut done = 0u64;
            for (key, local, kind) in uploads {
                let dst = dir.child(&key);
                let copied = fs.copy_from_local(&local, &dst, &options, &mut |n, _| {
                    bar.set_position(done + n)
                })?;
                done += copied;
                let status = fs.status(&dst)?;
                out.insert(
                    key,
                    resource_of(&status, kind, LocalResourceVisibility::Application),
                );
            }
            bar.finish_and_clear();
            Ok(out)
        })
        .await
        .map_err(|e| anyhow::anyhow!("Could not upload to the staging directory: {e}"))?;
        Ok(resources)
    }

    /// Polls the application until its master runs; its web interface address.
    pub async fn wait_until_running(&self, app_id: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            let report = self.rest.application(app_id).await?;
            match report.state {
                YarnApplicationState::RUNNING => {
                    if let Some(address) = report.am_rpc_address.filter(|a| !a.is_empty()) {
                        return Ok(format!("http://{address}"));
                    }
                }
                s if s.is_final() => bail!(
                    "The YARN application {app_id} ended {} ({:?}) before it was running.\nDiagnostics from YARN: {}",
                    s.name(),
                    report.final_status,
                    report.diagnostics
                ),
                _ => {}
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "The YARN application {app_id} is still {} after 300 s",
                    report.state.name()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Where a running application's JobManager answers.
    pub async fn web_interface(&self, app_id: &str) -> anyhow::Result<String> {
        let report = self
            .rest
            .application(app_id)
            .await
            .with_context(|| format!("looking up the YARN application {app_id}"))?;
        match (report.state, report.am_rpc_address) {
            (YarnApplicationState::RUNNING, Some(address)) if !address.is_empty() => {
                Ok(format!("http://{address}"))
            }
            (state, _) => bail!(
                "The YARN application {app_id} is not running (state {}){}",
                state.name(),
                if report.diagnostics.is_empty() {
                    String::new()
                } else {
                    format!(": {}", report.diagnostics)
                }
            ),
        }
    }

    /// Waits for the application's final report, then removes what it staged.
    pub async fn wait_for_end(&self, app_id: &str) -> anyhow::Result<AppInfo> {
        let report = self
            .rest
            .wait_for_final_state(
                app_id,
                Duration::from_millis(50),
                Duration::from_secs(u64::from(u32::MAX)),
            )
            .await?;
        self.remove_staging(app_id).await?;
        Ok(report)
    }

    /// Kills the application through the RM and removes its staging directory.
    pub async fn kill(&self, app_id: &str) -> anyhow::Result<()> {
        self.rest
            .kill_application(app_id)
            .await
            .with_context(|| format!("killing {app_id}"))?;
        self.remove_staging(app_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_above_the_maximum_allocation_is_refused_with_flinks_wording() {
        assert!(check_memory("JobManager", 4096, 4096).is_ok());
        let e = check_memory("JobManager", 5000, 4096)
            .unwrap_err()
            .to_string();
        assert!(e.contains("for the JobManager available"), "{e}");
        assert!(
            e.contains("Maximum Memory: 4096 MB Requested: 5000 MB"),
            "{e}"
        );
        let e = check_vcores("TaskManagers", 8, 4).unwrap_err().to_string();
        assert!(
            e.contains("(8) exceeds the maximum number of virtual cores (4)"),
            "{e}"
        );
    }

    #[test]
    fn ship_directories_become_one_resource_per_file_under_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let ship = dir.path().join("libs");
        std::fs::create_dir_all(ship.join("a/b")).unwrap();
        std::fs::write(ship.join("top.txt"), "1").unwrap();
        std::fs::write(ship.join("a/b/deep.txt"), "2").unwrap();
        let mut uploads = Vec::new();
        add_ship_path(&ship, &mut uploads).unwrap();
        add_ship_path(&ship.join("top.txt"), &mut uploads).unwrap();
        let mut keys: Vec<&str> = uploads.iter().map(|(k, _, _)| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["libs/a/b/deep.txt", "libs/top.txt", "top.txt"]);
        let missing = add_ship_path(&dir.path().join("nope"), &mut uploads).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
    }
}
