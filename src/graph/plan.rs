//! The execution plan JSON, in the shape of Flink's `StreamExecutionEnvironment.getExecutionPlan()`
//! (`{"nodes":[{"id","type","pact","contents","parallelism","predecessors":[...]}]}`), which
//! Flink's plan visualiser and users' tooling read.

use serde_json::{json, Value};

use super::job_graph::JobGraph;
use super::stream_graph::{NodeKind, StreamGraph};

/// The plan of a translated graph.
pub fn execution_plan(graph: &StreamGraph, job: &JobGraph) -> Value {
    let nodes: Vec<Value> = graph
        .nodes
        .iter()
        .map(|n| {
            let pact = match n.kind {
                NodeKind::Source => "Data Source",
                NodeKind::Operator => "Operator",
                NodeKind::Sink => "Data Sink",
            };
            let mut node = json!({
                "id": n.id + 1,
                "type": n.name,
                "pact": pact,
                "contents": n.name,
                "parallelism": job.node_parallelism[n.id],
            });
            let predecessors: Vec<Value> = graph
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| e.target == n.id)
                .map(|(i, e)| {
                    json!({
                        "id": e.source + 1,
                        "ship_strategy": job.edge_partitioners[i].ship_strategy(),
                        "side": if e.input == 0 { "first" } else { "second" },
                    })
                })
                .collect();
            if !predecessors.is_empty() {
                node["predecessors"] = Value::Array(predecessors);
            }
            node
        })
        .collect();
    json!({ "nodes": nodes })
}
