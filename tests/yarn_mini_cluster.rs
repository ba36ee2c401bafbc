//! Acceptance tests of the YARN protocol layer against the mini YARN cluster: the
//! distributed shell end to end, AM restart, token enforcement, Hadoop's allocation limits,
//! kill through REST, the memory check, and clear errors for an unreachable RM.

use std::path::Path;
use std::time::{Duration, Instant};

use strato::hadoop::ipc::{ConnectionConfig, RpcClient};
use strato::hadoop::proto::UserInformationProto;
use strato::hadoop::security::Token;
use strato::yarn::amrm::{resource_request, AllocateRequest, AmRmClient};
use strato::yarn::dshell::{run_client, submit, wait_for_final, ClientArgs};
use strato::yarn::ids::ApplicationId;
use strato::yarn::launch::{file_status, local_file_resource};
use strato::yarn::mini::{MiniYarnCluster, MiniYarnConfig};
use strato::yarn::rest::*;
use strato::yarn::tokens::AMRM_TOKEN_KIND;
use strato::yarn::{APPLICATION_MASTER_PROTOCOL, CONTAINER_MANAGEMENT_PROTOCOL};

const MAX_ALLOCATION_TEXT: &str = "< 0 or greater than maximum allowed allocation. Requested resource=<memory:100000, vCores:1>, maximum allowed allocation=<memory:2048, vCores:4>, please note that maximum allowed allocation is calculated by scheduler based on maximum resource of registered NodeManagers, which might be less than configured maximum allocation=<memory:2048, vCores:4>";

async fn cluster() -> MiniYarnCluster {
    MiniYarnCluster::start(MiniYarnConfig {
        num_node_managers: 2,
        node_memory_mb: 2048,
        node_vcores: 4,
        memory_check_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .expect("mini YARN starts")
}

/// Distributed shell options whose AM is the `strato-mini-yarn` binary (`dshell am`).
fn dshell(command: &str, containers: i32) -> ClientArgs {
    let exe = env!("CARGO_BIN_EXE_strato-mini-yarn");
    let (timestamp, size) = file_status(Path::new(exe)).unwrap();
    ClientArgs {
        shell_command: Some(command.into()),
        num_containers: containers,
        container_memory: 128,
        container_vcores: 1,
        master_memory: 128,
        master_vcores: 1,
        max_app_attempts: 2,
        queue: "default".into(),
        appname: "ds-test".into(),
        user: Some("tester".into()),
        heartbeat_ms: 50,
        timeout_secs: 60,
        am_resource: Some(format!("file://{exe}")),
        am_resource_size: Some(size),
        am_resource_timestamp: Some(timestamp),
    }
}

const AM_PREFIX: &[&str] = &["dshell"];

/// Runs the distributed shell against the cluster until its application ends.
async fn run_dshell(
    c: &MiniYarnCluster,
    command: &str,
    containers: i32,
) -> strato::yarn::dshell::DshellOutcome {
    run_client(
        &c.configuration().unwrap(),
        &dshell(command, containers),
        AM_PREFIX,
    )
    .await
    .unwrap()
}

/// Polls `probe` every 10 ms until it yields a value; fails the test after 20 s.
async fn eventually<T, Fut>(what: &str, mut probe: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_for_state(client: &RmRestClient, app: &str, state: YarnApplicationState) -> AppInfo {
    eventually(&format!("{app} to reach {state:?}"), || async {
        Some(client.application(app).await.unwrap()).filter(|r| r.state == state)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_shell_with_three_containers_succeeds() {
    let c = cluster().await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out");
    let cmd = format!("echo $CONTAINER_ID $NM_HOST $USER >> {}", out.display());
    let outcome = run_dshell(&c, &cmd, 3).await;
    println!(
        "distributed shell, 3 containers: submission to FINISHED in {:?}",
        outcome.submit_to_final
    );
    assert_eq!(outcome.report.state, YarnApplicationState::FINISHED);
    assert_eq!(
        outcome.report.final_status,
        FinalApplicationStatus::SUCCEEDED,
        "{}",
        outcome.report.diagnostics
    );
    assert_eq!(outcome.report.user, "tester");
    let lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let mut ids: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct containers: {lines:?}");
    assert!(
        lines.iter().all(|l| l.ends_with("127.0.0.1 tester")),
        "{lines:?}"
    );
    assert!(outcome.submit_to_final < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_command_makes_the_application_fail_with_diagnostics() {
    let c = cluster().await;
    let outcome = run_dshell(&c, "echo oops >&2; exit 3", 2).await;
    assert_eq!(outcome.report.final_status, FinalApplicationStatus::FAILED);
    let d = &outcome.report.diagnostics;
    assert!(
        d.contains("total=2, completed=2, allocated=2, failed=2"),
        "{d}"
    );
    assert!(d.contains("exit status 3"), "{d}");
    assert!(
        d.contains("Exception from container-launch.") && d.contains("Exit code: 3"),
        "{d}"
    );
    assert!(d.contains("Last 4096 bytes of stderr :\noops"), "{d}");
}

/// The Hadoop configuration the mini cluster wrote for clients.
fn hadoop_conf(c: &MiniYarnCluster) -> strato::hadoop::conf::Configuration {
    strato::hadoop::conf::Configuration::load_dir(c.conf_dir()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn am_crash_with_max_attempts_two_gets_a_second_attempt() {
    let c = cluster().await;
    let client = c.rest_client(Some("tester")).unwrap();
    let app = submit(
        &hadoop_conf(&c),
        &client,
        &dshell("sleep 1", 2),
        "sleep 1",
        AM_PREFIX,
    )
    .await
    .unwrap();
    wait_for_state(&client, &app, YarnApplicationState::RUNNING).await;
    let app_id: ApplicationId = app.parse().unwrap();
    assert!(c.crash_am(app_id), "AM process was running");
    let report = wait_for_final(&client, &app, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        report.final_status,
        FinalApplicationStatus::SUCCEEDED,
        "{}",
        report.diagnostics
    );
    let attempts = client.application_attempts(&app).await.unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].app_attempt_state.as_deref(), Some("FAILED"));
    // The report says FINISHED once the AM unregisters; its attempt is FINISHING until
    // the AM container exits, as in Hadoop.
    let second = attempts[1].app_attempt_state.as_deref();
    assert!(
        matches!(second, Some("FINISHING" | "FINISHED")),
        "{attempts:?}"
    );
    assert!(
        attempts[1].container_id.ends_with("_02_000001"),
        "{attempts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn am_crash_on_the_last_attempt_fails_the_application() {
    let c = cluster().await;
    let client = c.rest_client(Some("tester")).unwrap();
    let mut args = dshell("sleep 5", 1);
    args.max_app_attempts = 1;
    let app = submit(&hadoop_conf(&c), &client, &args, "sleep 5", AM_PREFIX)
        .await
        .unwrap();
    wait_for_state(&client, &app, YarnApplicationState::RUNNING).await;
    assert!(c.crash_am(app.parse().unwrap()));
    let report = wait_for_final(&client, &app, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(report.state, YarnApplicationState::FAILED);
    assert_eq!(report.final_status, FinalApplicationStatus::FAILED);
    assert!(
        report.diagnostics.starts_with(&format!(
            "Application {app} failed 1 times due to AM Container for appattempt_"
        )),
        "{}",
        report.diagnostics
    );
    assert!(
        report.diagnostics.contains("exitCode: 137"),
        "{}",
        report.diagnostics
    );
}

/// Submits an application whose AM only sleeps, so the test can act as its AM with the
/// AMRMToken YARN wrote into the AM container's credentials file.
/// Submits an application whose AM command is `sleep 30`, adjusted by `tweak`.
async fn submit_sleeper(
    client: &RmRestClient,
    tweak: impl FnOnce(&mut ApplicationSubmissionContextInfo),
) -> ApplicationId {
    let new_app = client.new_application().await.unwrap();
    let mut spec = ContainerLaunchContextInfo::default();
    spec.commands.command.push("sleep 30".into());
    let mut ctx = ApplicationSubmissionContextInfo {
        application_id: new_app.application_id.clone(),
        application_name: "sleeper".into(),
        am_container_spec: spec,
        resource: ResourceInfo {
            memory: 128,
            vcores: 1,
        },
        ..Default::default()
    };
    tweak(&mut ctx);
    client.submit_application(&ctx).await.unwrap();
    new_app.application_id.parse().unwrap()
}

async fn sleeping_am(c: &MiniYarnCluster) -> (RmRestClient, ApplicationId, Token) {
    let client = c.rest_client(Some("tester")).unwrap();
    let app = submit_sleeper(&client, |_| {}).await;
    let creds = eventually("the AM container's credentials", || async {
        c.am_credentials(app)
    })
    .await;
    let token = creds
        .token_of_kind(AMRM_TOKEN_KIND)
        .cloned()
        .expect("AMRMToken in container_tokens");
    assert_eq!(token.service, c.scheduler_address().to_string());
    (client, app, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_am_without_token_is_refused() {
    let c = cluster().await;
    let (_client, _app, token) = sleeping_am(&c).await;
    // No token: Hadoop's client falls back to SIMPLE, which the scheduler endpoint refuses.
    let rpc = RpcClient::connect(
        c.scheduler_address(),
        ConnectionConfig::new(APPLICATION_MASTER_PROTOCOL, "tester"),
    )
    .await
    .unwrap();
    let err = rpc
        .call::<_, UserInformationProto>(
            "registerApplicationMaster",
            &UserInformationProto::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.remote_class(),
        Some("org.apache.hadoop.security.AccessControlException")
    );
    assert_eq!(
        err.remote_message(),
        Some("SIMPLE authentication is not enabled.  Available:[TOKEN]")
    );
    // A forged password fails the DIGEST-MD5 exchange.
    let mut forged = token.clone();
    forged.password = vec![0; 20];
    let err = AmRmClient::connect(c.scheduler_address(), forged, Duration::from_secs(5))
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.remote_class(),
        Some("javax.security.sasl.SaslException"),
        "{err}"
    );
    // NodeManagers refuse token-less clients the same way.
    let nm_addr = format!("127.0.0.1:{}", c.node_managers[0].node_id.port)
        .parse()
        .unwrap();
    let rpc = RpcClient::connect(
        nm_addr,
        ConnectionConfig::new(CONTAINER_MANAGEMENT_PROTOCOL, "tester"),
    )
    .await
    .unwrap();
    let err = rpc
        .call::<_, UserInformationProto>("getContainerStatuses", &UserInformationProto::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.remote_message(),
        Some("SIMPLE authentication is not enabled.  Available:[TOKEN]")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_above_maximum_allocation_are_rejected_with_hadoops_message() {
    let c = cluster().await;
    // Through REST: the AM resource of a submission.
    let client = c.rest_client(Some("tester")).unwrap();
    let new_app = client.new_application().await.unwrap();
    assert_eq!(
        new_app.maximum_resource_capability,
        ResourceInfo {
            memory: 2048,
            vcores: 4
        }
    );
    let err = client
        .submit_application(&ApplicationSubmissionContextInfo {
            application_id: new_app.application_id.clone(),
            application_name: "too-big".into(),
            resource: ResourceInfo {
                memory: 100000,
                vcores: 1,
            },
            ..Default::default()
        })
        .await
        .unwrap_err();
    match &err {
        RestError::Remote {
            status,
            java_class_name,
            message,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(
                java_class_name,
                "org.apache.hadoop.yarn.webapp.BadRequestException"
            );
            assert!(message.starts_with("java.lang.Exception: Invalid resource request, requested resource type=[memory-mb] "), "{message}");
            assert!(message.ends_with(MAX_ALLOCATION_TEXT), "{message}");
        }
        other => panic!("expected a RemoteException, got {other}"),
    }

    // Through the scheduler: a container ask.
    let (_client, _app, token) = sleeping_am(&c).await;
    let am = AmRmClient::connect(c.scheduler_address(), token, Duration::from_secs(5))
        .await
        .unwrap();
    let err = am.allocate(AllocateRequest::default()).await.unwrap_err();
    assert_eq!(
        err.remote_class(),
        Some("org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException")
    );
    let reg = am.register("127.0.0.1", 0, "").await.unwrap();
    assert_eq!(reg.maximum_capability.unwrap().memory, Some(2048));
    let err = am
        .allocate(AllocateRequest {
            ask: vec![resource_request(0, 100000, 1, 1, 0)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.remote_class(),
        Some("org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException")
    );
    let msg = err.remote_message().unwrap();
    assert!(
        msg.starts_with("Invalid resource request, requested resource type=[memory-mb] "),
        "{msg}"
    );
    assert!(msg.ends_with(MAX_ALLOCATION_TEXT), "{msg}");
    // A valid ask on the same connection still works, and capacity is accounted per node.
    let resp = am
        .allocate(AllocateRequest {
            ask: vec![resource_request(0, 1024, 1, 10, 0)],
            ..Default::default()
        })
        .await
        .unwrap();
    // 2 nodes x 2048 MB, minus the 128 MB AM: three 1024 MB containers fit.
    assert_eq!(resp.allocated_containers.len(), 3);
    assert_eq!(resp.nm_tokens.len(), 2, "one NMToken per node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_through_rest_ends_the_application_killed() {
    let c = cluster().await;
    let client = c.rest_client(Some("tester")).unwrap();
    let app = submit(
        &hadoop_conf(&c),
        &client,
        &dshell("sleep 30", 1),
        "sleep 30",
        AM_PREFIX,
    )
    .await
    .unwrap();
    wait_for_state(&client, &app, YarnApplicationState::RUNNING).await;
    let state = client.kill_application(&app).await.unwrap();
    assert_eq!(state, "KILLED");
    let report = client.application(&app).await.unwrap();
    assert_eq!(report.state, YarnApplicationState::KILLED);
    assert_eq!(report.final_status, FinalApplicationStatus::KILLED);
    assert_eq!(report.diagnostics, "Application killed by user.");
    let killed = client
        .applications(&AppsQuery {
            states: vec![YarnApplicationState::KILLED],
            application_types: vec!["YARN".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(killed.len(), 1);
    // Containers are gone: all cluster memory is free again.
    eventually("all containers to be released", || async {
        Some(client.cluster_metrics().await.unwrap()).filter(|m| m.allocated_mb == 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_over_its_memory_limit_is_killed_with_exit_code_minus_104() {
    let c = cluster().await;
    // `tail` keeps the newline-free stream in memory: far beyond the 128 MB limit.
    let outcome = run_dshell(&c, "head -c 600000000 /dev/zero | tail > /dev/null", 1).await;
    assert_eq!(outcome.report.final_status, FinalApplicationStatus::FAILED);
    let d = &outcome.report.diagnostics;
    assert!(d.contains("exit status -104: ["), "{d}");
    assert!(d.contains("]Container [pid="), "{d}");
    assert!(
        d.contains("]Container killed on request. Exit code is 143\n"),
        "{d}"
    );
    assert!(
        d.contains("beyond the 'PHYSICAL' memory limit. Current usage: "),
        "{d}"
    );
    assert!(d.contains("of 128 MB physical memory used;"), "{d}");
    assert!(d.contains("Dump of the process-tree for container_"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_client_reads_cluster_info_metrics_and_queues() {
    let c = cluster().await;
    let client = c.rest_client(Some("tester")).unwrap();
    let info = client.cluster_info().await.unwrap();
    assert_eq!(info.state, "STARTED");
    let m = client.cluster_metrics().await.unwrap();
    assert_eq!(
        (m.total_mb, m.total_virtual_cores, m.active_nodes),
        (4096, 8, 2)
    );
    assert_eq!(client.queue_names().await.unwrap(), vec!["root", "default"]);
    let nodes = client.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes
        .iter()
        .all(|n| n.state == "RUNNING" && n.avail_memory_mb == 2048));
    assert!(client
        .applications(&AppsQuery::default())
        .await
        .unwrap()
        .is_empty());
    let err = client.application("application_1_0042").await.unwrap_err();
    assert_eq!(
        err.remote_message(),
        Some("java.lang.Exception: app with id: application_1_0042 not found")
    );
}

#[tokio::test]
async fn unreachable_rm_gives_a_clear_error_within_the_connect_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = RmRestClient::new(vec![url.clone()], None, Duration::from_secs(1)).unwrap();
    let started = Instant::now();
    let err = client.new_application().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, RestError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_client_fails_over_to_the_next_rm() {
    let c = cluster().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = RmRestClient::new(
        vec![format!("http://127.0.0.1:{port}"), c.webapp_url()],
        None,
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(client.cluster_info().await.unwrap().state, "STARTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nm_client_starts_queries_and_stops_a_container_with_its_nm_token() {
    use strato::yarn::nm::NmClient;
    use strato::yarn::proto::{container_state, ContainerLaunchContextProto};
    let c = cluster().await;
    let (_client, _app, token) = sleeping_am(&c).await;
    let am = AmRmClient::connect(c.scheduler_address(), token, Duration::from_secs(5))
        .await
        .unwrap();
    am.register("127.0.0.1", 0, "").await.unwrap();
    let resp = am
        .allocate(AllocateRequest {
            ask: vec![resource_request(1, 128, 1, 1, 7)],
            ..Default::default()
        })
        .await
        .unwrap();
    let container = resp.allocated_containers[0].clone();
    assert_eq!(container.allocation_request_id, Some(7));
    let cid = strato::yarn::ids::ContainerId::from_proto(container.id.as_ref().unwrap());
    let node = strato::yarn::ids::NodeId::from_proto(container.node_id.as_ref().unwrap());
    let nm = NmClient::new(Duration::from_secs(5));
    // Without the NMToken the client cannot even authenticate.
    let err = nm
        .start_container(&container, ContainerLaunchContextProto::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NMToken for NodeManager"), "{err}");
    nm.add_nm_tokens(&resp.nm_tokens).await;
    let ctx = ContainerLaunchContextProto {
        command: vec!["sleep 30".into()],
        ..Default::default()
    };
    nm.start_container(&container, ctx.clone()).await.unwrap();
    // Starting the same container twice is refused as Hadoop refuses a relaunch.
    let err = nm.start_container(&container, ctx).await.unwrap_err();
    assert!(
        err.remote_message()
            .unwrap()
            .contains("Attempt to relaunch the same container with id"),
        "{err}"
    );
    eventually("the container to run", || async {
        let s = nm.container_status(cid, &node).await.unwrap();
        (s.state == Some(container_state::C_RUNNING)).then_some(())
    })
    .await;
    nm.stop_container(cid, &node).await.unwrap();
    let status = eventually("a completed container status", || async {
        let r = am.allocate(AllocateRequest::default()).await.unwrap();
        r.completed_container_statuses.into_iter().next()
    })
    .await;
    assert_eq!(status.exit_status, Some(-105));
    let diag = status.diagnostics.unwrap();
    assert!(
        diag.contains("]Container killed by the ApplicationMaster.\n["),
        "{diag}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_token_of_another_application_is_refused() {
    use strato::yarn::nm::NmClient;
    use strato::yarn::proto::ContainerLaunchContextProto;
    let c = cluster().await;
    let (_c1, _app1, token1) = sleeping_am(&c).await;
    let (_c2, _app2, token2) = sleeping_am(&c).await;
    let am1 = AmRmClient::connect(c.scheduler_address(), token1, Duration::from_secs(5))
        .await
        .unwrap();
    let am2 = AmRmClient::connect(c.scheduler_address(), token2, Duration::from_secs(5))
        .await
        .unwrap();
    am1.register("127.0.0.1", 0, "").await.unwrap();
    am2.register("127.0.0.1", 0, "").await.unwrap();
    let ask = || AllocateRequest {
        ask: vec![resource_request(0, 128, 1, 1, 0)],
        ..Default::default()
    };
    let r1 = am1.allocate(ask()).await.unwrap();
    let r2 = am2.allocate(ask()).await.unwrap();
    // AM 2 presents its own NMToken with AM 1's container.
    let stolen = r1.allocated_containers[0].clone();
    let nm = NmClient::new(Duration::from_secs(5));
    let node = stolen.node_id.clone().unwrap();
    let mut tokens = r2.nm_tokens.clone();
    // First-fit placement puts both allocations on the first node.
    assert!(
        tokens.iter().any(|t| t.node_id.as_ref() == Some(&node)),
        "{tokens:?}"
    );
    tokens.retain(|t| t.node_id.as_ref() == Some(&node));
    nm.add_nm_tokens(&tokens).await;
    let err = nm
        .start_container(&stolen, ContainerLaunchContextProto::default())
        .await
        .unwrap_err();
    let msg = err.remote_message().unwrap();
    assert!(msg.starts_with("Unauthorized request to start container. \nNMToken for application attempt : appattempt_"), "{msg}");
    assert!(msg.contains("was used for starting container with container token issued for application attempt : "), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amrm_token_rolls_over_and_the_new_token_is_used() {
    use strato::yarn::tokens::AmrmTokenIdentifier;
    let c = cluster().await;
    let (_client, app, token) = sleeping_am(&c).await;
    assert_eq!(
        AmrmTokenIdentifier::decode(&token.identifier)
            .unwrap()
            .key_id,
        1
    );
    let am = AmRmClient::connect(c.scheduler_address(), token, Duration::from_secs(5))
        .await
        .unwrap();
    am.register("127.0.0.1", 0, "").await.unwrap();
    c.rm.roll_amrm_master_key();
    let resp = am.allocate(AllocateRequest::default()).await.unwrap();
    let new = resp.am_rm_token.expect("a rolled AMRMToken");
    let id = AmrmTokenIdentifier::decode(&new.identifier).unwrap();
    assert_eq!(id.key_id, 2);
    assert_eq!(id.attempt.application_id, app);
    // The client reconnected with the new token; heartbeats go on.
    let resp = am.allocate(AllocateRequest::default()).await.unwrap();
    assert!(resp.am_rm_token.is_none());
    assert_eq!(resp.response_id, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failures_inside_the_validity_interval_count_towards_max_attempts() {
    let c = cluster().await;
    let client = c.rest_client(Some("tester")).unwrap();
    let app_id = submit_sleeper(&client, |ctx| {
        ctx.max_app_attempts = Some(2);
        ctx.attempt_failures_validity_interval = Some(1);
    })
    .await;
    let app = app_id.to_string();
    // Two crashes with max 2 attempts: without the 1 ms window the application would fail.
    for expected_attempts in [2usize, 3] {
        eventually("an AM process to crash", || async {
            c.crash_am(app_id).then_some(())
        })
        .await;
        eventually("a new attempt", || async {
            let attempts = client.application_attempts(&app).await.unwrap();
            (attempts.len() == expected_attempts).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = client.application(&app).await.unwrap();
    assert_eq!(
        report.state,
        YarnApplicationState::ACCEPTED,
        "{}",
        report.diagnostics
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_labels_the_cluster_lacks_are_rejected() {
    let c = cluster().await;
    let client = c.rest_client(None).unwrap();
    let new_app = client.new_application().await.unwrap();
    let err = client
        .submit_application(&ApplicationSubmissionContextInfo {
            application_id: new_app.application_id,
            resource: ResourceInfo {
                memory: 128,
                vcores: 1,
            },
            app_node_label_expression: Some("gpu".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.remote_message(),
        Some("java.lang.Exception: Invalid label resource request, cluster do not contain , label= gpu")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_localized_under_their_keys_and_archives_unpacked() {
    let c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, "file-content\n").unwrap();
    let content = dir.path().join("content");
    std::fs::create_dir(&content).unwrap();
    std::fs::write(content.join("inner.txt"), "archive-content\n").unwrap();
    let tgz = dir.path().join("bundle.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&content)
        .arg("inner.txt")
        .status()
        .unwrap();
    assert!(ok.success());
    let out = dir.path().join("out");
    let client = c.rest_client(Some("tester")).unwrap();
    let app = submit_sleeper(&client, |ctx| {
        let spec = &mut ctx.am_container_spec;
        spec.local_resources.push(
            "my-data",
            local_file_resource(&data, LocalResourceType::File).unwrap(),
        );
        spec.local_resources.push(
            "my-bundle",
            local_file_resource(&tgz, LocalResourceType::Archive).unwrap(),
        );
        spec.commands.command = vec![format!(
            "cat my-bundle/inner.txt my-data > {} && test -f $HADOOP_TOKEN_FILE_LOCATION",
            out.display()
        )];
        ctx.max_app_attempts = Some(1);
    })
    .await;
    let report = wait_for_final(&client, &app.to_string(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "archive-content\nfile-content\n"
    );
    // An AM that exits without unregistering fails its attempt, even with exit code 0.
    assert_eq!(report.state, YarnApplicationState::FAILED);
    assert!(
        report.diagnostics.contains("exited with  exitCode: 0\n"),
        "{}",
        report.diagnostics
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_changed_after_submission_fails_localization() {
    let c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, "v1").unwrap();
    let mut declared = local_file_resource(&data, LocalResourceType::File).unwrap();
    declared.timestamp -= 1000;
    let client = c.rest_client(Some("tester")).unwrap();
    let app = submit_sleeper(&client, |ctx| {
        ctx.am_container_spec.local_resources.push("data", declared);
        ctx.max_app_attempts = Some(1);
    })
    .await;
    let report = wait_for_final(&client, &app.to_string(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(report.state, YarnApplicationState::FAILED);
    let d = &report.diagnostics;
    assert!(d.contains("exited with  exitCode: -1000\n"), "{d}");
    assert!(
        d.contains(&format!(
            "Resource file://{} changed on src filesystem",
            data.display()
        )),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_am_that_stops_heartbeating_times_out() {
    let c = MiniYarnCluster::start(MiniYarnConfig {
        num_node_managers: 1,
        am_liveness_expiry: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = c.rest_client(Some("tester")).unwrap();
    // The AM only sleeps: it never registers, so it never heartbeats.
    let app = submit_sleeper(&client, |ctx| ctx.max_app_attempts = Some(1)).await;
    let report = wait_for_final(&client, &app.to_string(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(report.state, YarnApplicationState::FAILED);
    let attempt = strato::yarn::ids::ApplicationAttemptId {
        application_id: app,
        attempt_id: 1,
    };
    let expected = format!("ApplicationMaster for attempt {attempt} timed out");
    assert!(
        report.diagnostics.contains(&expected),
        "{}",
        report.diagnostics
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_locality_places_containers_only_on_named_nodes() {
    let c = cluster().await;
    let (_client, _app, token) = sleeping_am(&c).await;
    let am = AmRmClient::connect(c.scheduler_address(), token, Duration::from_secs(5))
        .await
        .unwrap();
    am.register("127.0.0.1", 0, "").await.unwrap();
    let second = c.node_managers[1].node_id.clone();
    let strict = |name: &str, count: i32| {
        let mut r = resource_request(3, 256, 1, count, 0);
        r.resource_name = Some(name.into());
        r.relax_locality = Some(false);
        r
    };
    // One container, only on the second NodeManager.
    let resp = am
        .allocate(AllocateRequest {
            ask: vec![strict(&second.to_string(), 1), strict("*", 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.allocated_containers.len(), 1);
    let node = resp.allocated_containers[0].node_id.clone().unwrap();
    assert_eq!(strato::yarn::ids::NodeId::from_proto(&node), second);
    // A node the cluster does not have: the request stays pending, as in Hadoop.
    let resp = am
        .allocate(AllocateRequest {
            ask: vec![strict("no-such-host", 1), strict("*", 1)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(resp.allocated_containers.is_empty());
}

/// Waits for the AMRMToken of the given attempt in the AM container's credentials.
async fn amrm_token_of_attempt(c: &MiniYarnCluster, app: ApplicationId, attempt: i32) -> Token {
    use strato::yarn::tokens::AmrmTokenIdentifier;
    eventually(&format!("attempt {attempt} to launch"), || async {
        c.am_credentials(app)
            .and_then(|creds| creds.token_of_kind(AMRM_TOKEN_KIND).cloned())
            .filter(|t| {
                let id = AmrmTokenIdentifier::decode(&t.identifier).unwrap();
                id.attempt.attempt_id == attempt
            })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_containers_survive_an_am_restart_and_are_handed_to_the_next_attempt() {
    use strato::yarn::ids::{ContainerId, NodeId};
    use strato::yarn::nm::NmClient;
    use strato::yarn::proto::{container_state, ContainerLaunchContextProto};
    let c = cluster().await;
    let client = c.rest_client(Some("tester")).unwrap();
    let app = submit_sleeper(&client, |ctx| {
        ctx.keep_containers_across_application_attempts = true;
        ctx.max_app_attempts = Some(2);
    })
    .await;
    let am1 = AmRmClient::connect(
        c.scheduler_address(),
        amrm_token_of_attempt(&c, app, 1).await,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    am1.register("127.0.0.1", 0, "").await.unwrap();
    // Blacklisting the first node sends the container to the second.
    let resp = am1
        .allocate(AllocateRequest {
            ask: vec![resource_request(0, 128, 1, 1, 0)],
            blacklist_additions: vec![c.node_managers[0].node_id.to_string()],
            ..Default::default()
        })
        .await
        .unwrap();
    let container = resp.allocated_containers[0].clone();
    let node = NodeId::from_proto(container.node_id.as_ref().unwrap());
    assert_eq!(node, c.node_managers[1].node_id);
    let cid = ContainerId::from_proto(container.id.as_ref().unwrap());
    let nm = NmClient::new(Duration::from_secs(5));
    nm.add_nm_tokens(&resp.nm_tokens).await;
    let ctx = ContainerLaunchContextProto {
        command: vec!["sleep 30".into()],
        ..Default::default()
    };
    nm.start_container(&container, ctx).await.unwrap();

    assert!(c.crash_am(app));
    let am2 = AmRmClient::connect(
        c.scheduler_address(),
        amrm_token_of_attempt(&c, app, 2).await,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let reg = am2.register("127.0.0.1", 0, "").await.unwrap();
    let previous: Vec<ContainerId> = reg
        .containers_from_previous_attempts
        .iter()
        .map(|p| ContainerId::from_proto(p.id.as_ref().unwrap()))
        .collect();
    assert_eq!(previous, vec![cid]);
    // The new attempt reaches the kept container with the NMToken it was handed.
    let nm2 = NmClient::new(Duration::from_secs(5));
    nm2.add_nm_tokens(&reg.nm_tokens_from_previous_attempts)
        .await;
    let status = nm2.container_status(cid, &node).await.unwrap();
    assert_eq!(status.state, Some(container_state::C_RUNNING));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_token_is_valid_only_on_its_node_manager() {
    use strato::yarn::nm::NmClient;
    use strato::yarn::proto::ContainerLaunchContextProto;
    let c = cluster().await;
    let (_client, _app, token) = sleeping_am(&c).await;
    let am = AmRmClient::connect(c.scheduler_address(), token, Duration::from_secs(5))
        .await
        .unwrap();
    am.register("127.0.0.1", 0, "").await.unwrap();
    let nm = NmClient::new(Duration::from_secs(5));
    let mut on_node = Vec::new();
    for (avoid, blacklist_removals) in [
        (1usize, vec![]),
        (0, vec![c.node_managers[1].node_id.to_string()]),
    ] {
        let resp = am
            .allocate(AllocateRequest {
                ask: vec![resource_request(0, 128, 1, 1, 0)],
                blacklist_additions: vec![c.node_managers[avoid].node_id.to_string()],
                blacklist_removals,
                ..Default::default()
            })
            .await
            .unwrap();
        nm.add_nm_tokens(&resp.nm_tokens).await;
        on_node.push(resp.allocated_containers[0].clone());
    }
    // The container granted on the first node, presented to the second.
    let mut moved = on_node[0].clone();
    moved.node_id = on_node[1].node_id.clone();
    let err = nm
        .start_container(&moved, ContainerLaunchContextProto::default())
        .await
        .unwrap_err();
    let msg = err.remote_message().unwrap();
    assert!(
        msg.contains("identifier is not valid for current Node manager. Expected : "),
        "{msg}"
    );
}

#[tokio::test]
async fn a_hung_rm_is_an_error_within_the_request_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let client = RmRestClient::with_timeouts(
        vec![url.clone()],
        None,
        Duration::from_secs(1),
        Duration::from_millis(300),
    )
    .unwrap();
    let started = Instant::now();
    let err = client.cluster_info().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains(&url), "{err}");
}
