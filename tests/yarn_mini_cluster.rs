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
use strato::yarn::mini::localizer::file_status;
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

async fn wait_for_state(client: &RmRestClient, app: &str, state: YarnApplicationState) -> AppInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client.application(app).await.unwrap();
        if r.state == state {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{app} never reached {state:?}, last {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_shell_with_three_containers_succeeds() {
    let c = cluster().await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out");
    let cmd = format!("echo $CONTAINER_ID $NM_HOST $USER >> {}", out.display());
    let outcome = run_client(&c.configuration().unwrap(), &dshell(&cmd, 3), AM_PREFIX)
        .await
        .unwrap();
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
    let outcome = run_client(
        &c.configuration().unwrap(),
        &dshell("echo oops >&2; exit 3", 2),
        AM_PREFIX,
    )
    .await
    .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn am_crash_with_max_attempts_two_gets_a_second_attempt() {
    let c = cluster().await;
    let client = c.rest_client(Some("tester")).unwrap();
    let app = submit(&client, &dshell("sleep 1", 2), "sleep 1", AM_PREFIX)
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
    assert_eq!(attempts[1].app_attempt_state.as_deref(), Some("FINISHED"));
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
    let app = submit(&client, &args, "sleep 5", AM_PREFIX).await.unwrap();
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
async fn sleeping_am(c: &MiniYarnCluster) -> (RmRestClient, ApplicationId, Token) {
    let client = c.rest_client(Some("tester")).unwrap();
    let new_app = client.new_application().await.unwrap();
    let mut spec = ContainerLaunchContextInfo::default();
    spec.commands.command.push("sleep 30".into());
    client
        .submit_application(&ApplicationSubmissionContextInfo {
            application_id: new_app.application_id.clone(),
            application_name: "sleeper".into(),
            am_container_spec: spec,
            resource: ResourceInfo {
                memory: 128,
                vcores: 1,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let app: ApplicationId = new_app.application_id.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let creds = loop {
        if let Some(creds) = c.am_credentials(app) {
            break creds;
        }
        assert!(
            Instant::now() < deadline,
            "AM container never got its credentials"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
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
    let app = submit(&client, &dshell("sleep 30", 1), "sleep 30", AM_PREFIX)
        .await
        .unwrap();
    wait_for_state(&client, &app, YarnApplicationState::RUNNING).await;
    let state = client.kill_application(&app).await.unwrap();
    assert_eq!(state, "KILLED");
    let report = client.application(&app).await.unwrap();
    assert_eq!(report.state, YarnApplicationState::KILLED);
    assert_eq!(report.final_status, FinalApplicationStatus::KILLED);
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
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = client.cluster_metrics().await.unwrap();
        if m.allocated_mb == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "containers still allocated: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_over_its_memory_limit_is_killed_with_exit_code_minus_104() {
    let c = cluster().await;
    // `tail` keeps the newline-free stream in memory: far beyond the 128 MB limit.
    let outcome = run_client(
        &c.configuration().unwrap(),
        &dshell("head -c 600000000 /dev/zero | tail > /dev/null", 1),
        AM_PREFIX,
    )
    .await
    .unwrap();
    assert_eq!(outcome.report.final_status, FinalApplicationStatus::FAILED);
    let d = &outcome.report.diagnostics;
    assert!(d.contains("exit status -104: Container [pid="), "{d}");
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
