//! Specifications of StreamGraph -> JobGraph translation: chaining, parallelism, plans.

use strato::graph::JobGraph;
use strato::{RuntimeExecutionMode, StreamExecutionEnvironment};

fn local_env(parallelism: usize) -> StreamExecutionEnvironment {
    let env = StreamExecutionEnvironment::create_local_environment();
    env.set_parallelism(parallelism);
    env
}

fn vertex_names(job: &JobGraph) -> Vec<String> {
    job.vertices.iter().map(|v| v.name.clone()).collect()
}

#[test]
fn forward_connected_operators_of_equal_parallelism_chain_into_one_task() {
    let env = local_env(2);
    env.from_sequence(0, 9)
        .map(|x: i64| x)
        .filter(|_: &i64| true)
        .print();
    let job = env.get_job_graph().unwrap();
    assert_eq!(
        vertex_names(&job),
        vec!["Source: Sequence Source -> Map -> Filter -> Sink: Print to Std. Out"]
    );
    assert!(job.edges.is_empty());
}

#[test]
fn key_by_rebalance_and_parallelism_changes_break_chains() {
    let env = local_env(2);
    env.from_sequence(0, 9)
        .map(|x: i64| (x % 3, x))
        .key_by(|t: &(i64, i64)| t.0)
        .sum(|t: &mut (i64, i64)| &mut t.1)
        .rebalance()
        .map(|t: (i64, i64)| t.1)
        .map(|x: i64| x)
        .set_parallelism(3)
        .print();
    let job = env.get_job_graph().unwrap();
    // The sink keeps the default parallelism (2), so it cannot chain to the last map (3).
    assert_eq!(
        vertex_names(&job),
        vec![
            "Source: Sequence Source -> Map",
            "Keyed Aggregation",
            "Map",
            "Map",
            "Sink: Print to Std. Out"
        ]
    );
    let strategies: Vec<_> = job
        .edges
        .iter()
        .map(|e| e.partitioner.ship_strategy())
        .collect();
    assert_eq!(
        strategies,
        vec!["HASH", "REBALANCE", "REBALANCE", "REBALANCE"]
    );
    assert_eq!(
        job.vertices
            .iter()
            .map(|v| v.parallelism)
            .collect::<Vec<_>>(),
        vec![2, 2, 2, 3, 2]
    );
}

#[test]
fn disable_chaining_and_start_new_chain_are_honoured() {
    let env = local_env(1);
    env.from_sequence(0, 9)
        .map(|x: i64| x)
        .disable_chaining()
        .map(|x: i64| x)
        .map(|x: i64| x)
        .start_new_chain()
        .filter(|_: &i64| true)
        .print();
    let job = env.get_job_graph().unwrap();
    assert_eq!(
        vertex_names(&job),
        vec![
            "Source: Sequence Source",
            "Map",
            "Map",
            "Map -> Filter -> Sink: Print to Std. Out"
        ]
    );

    let env = local_env(1);
    env.disable_operator_chaining();
    env.from_sequence(0, 9).map(|x: i64| x).print();
    assert_eq!(env.get_job_graph().unwrap().vertices.len(), 3);
}

#[test]
fn different_slot_sharing_groups_do_not_chain_and_need_their_own_slots() {
    let env = local_env(2);
    env.from_sequence(0, 9)
        .map(|x: i64| x)
        .slot_sharing_group("heavy")
        .print();
    let job = env.get_job_graph().unwrap();
    assert_eq!(
        vertex_names(&job),
        vec!["Source: Sequence Source", "Map -> Sink: Print to Std. Out"]
    );
    assert_eq!(job.vertices[1].slot_sharing_group, "heavy");
    assert_eq!(job.required_slots(), 4);
    // The job still runs: the embedded executor offers as many slots as the job needs.
    let env = local_env(2);
    let out = env
        .from_sequence(1, 10)
        .map(|x: i64| x)
        .slot_sharing_group("heavy")
        .execute_and_collect("ssg")
        .unwrap();
    assert_eq!(out.len(), 10);
}

#[test]
fn a_connected_two_input_operator_always_heads_its_chain() {
    let env = local_env(1);
    let a = env.from_sequence(0, 3);
    let b = env.from_sequence(0, 3);
    a.connect(&b)
        .map(|x: i64| x, |y: i64| y)
        .map(|x: i64| x)
        .print();
    let job = env.get_job_graph().unwrap();
    assert_eq!(
        vertex_names(&job),
        vec![
            "Source: Sequence Source",
            "Source: Sequence Source",
            "Co-Map -> Map -> Sink: Print to Std. Out"
        ]
    );
    assert_eq!(job.vertices[2].num_inputs, 2);
}

#[test]
fn names_and_uids_identify_operators_and_uids_give_stable_operator_ids() {
    let build = |extra_map: bool| {
        let env = local_env(1);
        let mut s = env.from_sequence(0, 9);
        if extra_map {
            s = s.map(|x: i64| x);
        }
        s.map(|x: i64| x + 1)
            .name("plus one")
            .uid("plus-one")
            .print();
        env.get_job_graph().unwrap()
    };
    let (a, b) = (build(false), build(true));
    let op = |job: &JobGraph| {
        job.vertices[0]
            .operators
            .iter()
            .find(|o| o.name == "plus one")
            .unwrap()
            .operator_id
            .clone()
    };
    assert_eq!(
        op(&a),
        op(&b),
        "a uid keeps the operator id when the graph around it changes"
    );
    assert_ne!(
        a.fingerprint, b.fingerprint,
        "the fingerprint reflects the graph change"
    );
    assert_eq!(
        build(false).fingerprint,
        a.fingerprint,
        "the same program gives the same fingerprint"
    );
}

#[test]
fn forward_across_different_parallelism_is_rejected_with_flinks_message() {
    let env = local_env(2);
    env.from_sequence(0, 9)
        .forward()
        .map(|x: i64| x)
        .set_parallelism(3)
        .print();
    let err = env.get_job_graph().unwrap_err().to_string();
    assert!(
        err.contains("Forward partitioning does not allow change of parallelism"),
        "{err}"
    );
}

#[test]
fn a_non_parallel_source_cannot_run_with_higher_parallelism() {
    let env = local_env(4);
    let src = env.from_elements(vec![1i64, 2]);
    assert_eq!(env.get_job_graph().unwrap().vertices[0].parallelism, 1);
    src.set_parallelism(2).print();
    let err = env.get_job_graph().unwrap_err().to_string();
    assert!(
        err.contains(
            "The parallelism of non parallel operator 'Source: Collection Source' must be 1"
        ),
        "{err}"
    );
}

#[test]
fn batch_mode_rejects_unbounded_sources() {
    let env = local_env(1);
    env.set_runtime_mode(RuntimeExecutionMode::Batch);
    env.socket_text_stream("127.0.0.1", 9, "\n", 0).print();
    let err = env.get_job_graph().unwrap_err().to_string();
    assert!(err.contains("Detected an UNBOUNDED source ('Source: Socket Stream') with the 'execution.runtime-mode' set to 'BATCH'"), "{err}");
}

#[test]
fn automatic_mode_runs_bounded_jobs_as_batch() {
    let env = local_env(1);
    env.set_runtime_mode(RuntimeExecutionMode::Automatic);
    env.from_sequence(0, 9).print();
    assert_eq!(env.get_job_graph().unwrap().runtime_mode, "BATCH");
}

#[test]
fn settings_on_a_union_are_reported_instead_of_silently_ignored() {
    let env = local_env(1);
    let a = env.from_sequence(0, 1);
    a.union(&env.from_sequence(2, 3)).name("merged").print();
    let err = env.get_job_graph().unwrap_err().to_string();
    assert!(
        err.contains("name() can only be applied to an operator"),
        "{err}"
    );
}

#[test]
fn max_parallelism_defaults_like_flink_and_bounds_parallelism() {
    let env = local_env(2);
    env.from_sequence(0, 9)
        .key_by(|x: &i64| *x)
        .reduce(|a: i64, b: i64| a + b)
        .print();
    assert!(env
        .get_job_graph()
        .unwrap()
        .vertices
        .iter()
        .all(|v| v.max_parallelism == 128));

    let env = local_env(4);
    env.set_max_parallelism(2);
    env.from_sequence(0, 9).print();
    let err = env.get_job_graph().unwrap_err().to_string();
    assert!(
        err.contains("is higher than its max parallelism (2)"),
        "{err}"
    );
}

#[test]
fn the_execution_plan_has_flinks_json_shape() {
    let env = local_env(2);
    env.from_sequence(0, 9)
        .key_by(|x: &i64| x % 2)
        .sum(|x: &mut i64| x)
        .print();
    let plan: serde_json::Value = serde_json::from_str(&env.get_execution_plan().unwrap()).unwrap();
    let nodes = plan["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["type"], "Source: Sequence Source");
    assert_eq!(nodes[0]["pact"], "Data Source");
    assert_eq!(nodes[1]["pact"], "Operator");
    assert_eq!(nodes[1]["parallelism"], 2);
    assert_eq!(nodes[1]["predecessors"][0]["id"], nodes[0]["id"]);
    assert_eq!(nodes[1]["predecessors"][0]["ship_strategy"], "HASH");
    assert_eq!(nodes[2]["pact"], "Data Sink");
    // Planning does not consume the operators.
    assert_eq!(env.get_job_graph().unwrap().vertices.len(), 2);
}

#[test]
fn the_job_graph_serialises_and_round_trips_unchanged() {
    let env = local_env(2);
    env.from_sequence(0, 9)
        .key_by(|x: &i64| *x)
        .reduce(|a: i64, b: i64| a + b)
        .name("sum")
        .uid("sum-1")
        .print();
    let job = env.get_job_graph().unwrap();
    let json = serde_json::to_string(&job).unwrap();
    assert_eq!(serde_json::from_str::<JobGraph>(&json).unwrap(), job);
    let bytes = bincode::serde::encode_to_vec(&job, bincode::config::standard()).unwrap();
    let (decoded, _): (JobGraph, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    assert_eq!(decoded, job);
}
