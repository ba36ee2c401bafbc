//! StreamGraph -> JobGraph: resolve parallelism and partitioners, chain operators into vertices,
//! and fingerprint the result.
//!
//! The JobGraph is the contract between client, JobManager and workers: it is serialisable and
//! carries a fingerprint of the program's graph, so a worker whose re-run `main` built a
//! different graph refuses to run instead of wiring the wrong operators together.

use serde::{Deserialize, Serialize};

use super::stream_graph::{ChainingStrategy, NodeKind, StreamGraph};
use crate::config::RuntimeExecutionMode;
use crate::runtime::keygroup::{default_max_parallelism, UPPER_BOUND_MAX_PARALLELISM};
use crate::runtime::network::partitioner::PartitionerKind;
use crate::util::hash::stable_hash;
use crate::util::ids::JobId;

/// Settings the translation needs from the environment.
#[derive(Debug, Clone)]
pub struct TranslationSettings {
    pub default_parallelism: usize,
    /// `None` derives it per operator from its parallelism (Flink's default).
    pub max_parallelism: Option<usize>,
    pub chaining_enabled: bool,
    pub runtime_mode: RuntimeExecutionMode,
}

/// One operator inside a vertex's chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainedOperator {
    /// StreamGraph node id.
    pub node: usize,
    pub name: String,
    /// Stable operator id: derived from the `uid` when set, else from the node's position.
    pub operator_id: String,
    pub uid: Option<String>,
    pub kind: NodeKind,
}

/// A vertex: one chain of operators, run as one task per parallel subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobVertex {
    pub id: usize,
    /// The chain's name, operators joined with ` -> `.
    pub name: String,
    /// Operators in chain order; the first is the head.
    pub operators: Vec<ChainedOperator>,
    pub parallelism: usize,
    pub max_parallelism: usize,
    pub slot_sharing_group: String,
    /// Number of logical inputs of the head (0 for sources).
    pub num_inputs: usize,
}

impl JobVertex {
    pub fn head_node(&self) -> usize {
        self.operators[0].node
    }
    pub fn is_source(&self) -> bool {
        self.num_inputs == 0
    }
}

/// A data exchange between two vertices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEdge {
    pub id: usize,
    pub source_vertex: usize,
    pub target_vertex: usize,
    /// The StreamGraph edge this exchange realises (its writer factory).
    pub stream_edge: usize,
    pub source_node: usize,
    pub target_node: usize,
    pub input: usize,
    pub partitioner: PartitionerKind,
}

/// The deployable form of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    pub job_id: JobId,
    pub job_name: String,
    pub runtime_mode: String,
    pub vertices: Vec<JobVertex>,
    pub edges: Vec<JobEdge>,
    /// Resolved parallelism per StreamGraph node.
    pub node_parallelism: Vec<usize>,
    /// Resolved partitioner per StreamGraph edge.
    pub edge_partitioners: Vec<PartitionerKind>,
    /// Hex fingerprint of the StreamGraph the JobGraph came from.
    pub fingerprint: String,
    /// Set when the job takes checkpoints.
    #[serde(default)]
    pub checkpointing: Option<crate::checkpoint::CheckpointingSettings>,
    /// The savepoint the job starts from (`-s`).
    #[serde(default)]
    pub savepoint_restore: Option<crate::checkpoint::SavepointRestoreSettings>,
}

impl JobGraph {
    /// Translates a StreamGraph, validating it.
    pub fn from_stream_graph(
        graph: &StreamGraph,
        job_id: JobId,
        job_name: &str,
        settings: &TranslationSettings,
    ) -> Result<Self, String> {
        if graph.nodes.is_empty() {
            return Err("No operators defined in streaming topology. Cannot execute.".into());
        }
        let parallelism = resolve_parallelism(graph, settings)?;
        let max_parallelism = resolve_max_parallelism(graph, settings, &parallelism)?;
        let partitioners = resolve_partitioners(graph, &parallelism)?;
        check_boundedness(graph, settings)?;
        let groups = resolve_slot_sharing_groups(graph);

        // Chain: a node joins its input's chain when it is chainable with it.
        let mut chain_of = vec![usize::MAX; graph.nodes.len()];
        let mut chains: Vec<Vec<usize>> = Vec::new();
        for node in &graph.nodes {
            let inputs: Vec<_> = graph
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| e.target == node.id)
                .collect();
            let chained_to = match inputs.as_slice() {
                [(i, edge)]
                    if settings.chaining_enabled
                        && edge.side_output.is_none()
                        && is_chainable(
                            graph,
                            edge.source,
                            node.id,
                            partitioners[*i],
                            &parallelism,
                            &groups,
                        ) =>
                {
                    Some(edge.source)
                }
                _ => None,
            };
            match chained_to {
                Some(upstream) => {
                    let c = chain_of[upstream];
                    chain_of[node.id] = c;
                    chains[c].push(node.id);
                }
                None => {
                    chain_of[node.id] = chains.len();
                    chains.push(vec![node.id]);
                }
            }
        }

        let vertices = chains
            .iter()
            .enumerate()
            .map(|(id, members)| {
                let head = &graph.nodes[members[0]];
                let operators: Vec<_> = members
                    .iter()
                    .map(|&n| {
                        let node = &graph.nodes[n];
                        ChainedOperator {
                            node: n,
                            name: node.name.clone(),
                            operator_id: operator_id(graph, n),
                            uid: node.uid.clone(),
                            kind: node.kind,
                        }
                    })
                    .collect();
                JobVertex {
                    id,
                    name: operators
                        .iter()
                        .map(|o| o.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" -> "),
                    operators,
                    parallelism: parallelism[head.id],
                    max_parallelism: max_parallelism[head.id],
                    slot_sharing_group: groups[head.id].clone(),
                    num_inputs: match head.invokable {
                        super::stream_graph::Invokable::Source(_) => 0,
                        super::stream_graph::Invokable::OneInput(_) => 1,
                        super::stream_graph::Invokable::TwoInput(_) => 2,
                    },
                }
            })
            .collect();

        let edges = graph
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| chain_of[e.source] != chain_of[e.target])
            .enumerate()
            .map(|(id, (i, e))| JobEdge {
                id,
                source_vertex: chain_of[e.source],
                target_vertex: chain_of[e.target],
                stream_edge: i,
                source_node: e.source,
                target_node: e.target,
                input: e.input,
                partitioner: partitioners[i],
            })
            .collect();

        Ok(JobGraph {
            job_id,
            job_name: job_name.to_string(),
            runtime_mode: format!("{:?}", settings.runtime_mode).to_uppercase(),
            vertices,
            edges,
            node_parallelism: parallelism,
            edge_partitioners: partitioners,
            fingerprint: fingerprint(graph),
            checkpointing: None,
            savepoint_restore: None,
        })
    }

    /// The vertex that runs a StreamGraph node.
    pub fn vertex_of_node(&self, node: usize) -> Option<&JobVertex> {
        self.vertices
            .iter()
            .find(|v| v.operators.iter().any(|o| o.node == node))
    }

    /// Every subtask of the job as (vertex id, subtask index), vertex by vertex.
    pub fn subtasks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.vertices
            .iter()
            .flat_map(|v| (0..v.parallelism).map(move |s| (v.id, s)))
    }

    /// The subtasks of the source vertices (where checkpoints are triggered).
    pub fn source_subtasks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.subtasks()
            .filter(|&(v, _)| self.vertices[v].is_source())
    }

    /// Slots needed with slot sharing: per sharing group, the highest parallelism in it.
    pub fn required_slots(&self) -> usize {
        let mut per_group: std::collections::BTreeMap<&str, usize> = Default::default();
        for v in &self.vertices {
            let e = per_group.entry(&v.slot_sharing_group).or_default();
            *e = (*e).max(v.parallelism);
        }
        per_group.values().sum()
    }
}

fn resolve_parallelism(
    graph: &StreamGraph,
    settings: &TranslationSettings,
) -> Result<Vec<usize>, String> {
    graph
        .nodes
        .iter()
        .map(|n| {
            let p = match (n.non_parallel, n.parallelism) {
                (true, Some(p)) if p != 1 => {
                    return Err(format!(
                        "The parallelism of non parallel operator '{}' must be 1, but it was set to {p}.",
                        n.name
                    ))
                }
                (true, _) => 1,
                (false, Some(p)) => p,
                (false, None) => settings.default_parallelism,
            };
            if p == 0 {
                return Err(format!("The parallelism of operator '{}' must be at least 1.", n.name));
            }
            Ok(p)
        })
        .collect()
}

fn resolve_max_parallelism(
    graph: &StreamGraph,
    settings: &TranslationSettings,
    parallelism: &[usize],
) -> Result<Vec<usize>, String> {
    graph
        .nodes
        .iter()
        .map(|n| {
            let max = n
                .max_parallelism
                .or(settings.max_parallelism)
                .unwrap_or_else(|| default_max_parallelism(parallelism[n.id]));
            if max == 0 || max > UPPER_BOUND_MAX_PARALLELISM {
                return Err(format!(
                    "The max parallelism of operator '{}' must be between 1 and {UPPER_BOUND_MAX_PARALLELISM}, but it is {max}.",
                    n.name
                ));
            }
            if parallelism[n.id] > max {
                return Err(format!(
                    "The parallelism ({}) of operator '{}' is higher than its max parallelism ({max}).",
                    parallelism[n.id], n.name
                ));
            }
            Ok(max)
        })
        .collect()
}

fn resolve_partitioners(
    graph: &StreamGraph,
    parallelism: &[usize],
) -> Result<Vec<PartitionerKind>, String> {
    graph
        .edges
        .iter()
        .map(|e| {
            let (up, down) = (parallelism[e.source], parallelism[e.target]);
            match e.partitioner {
                PartitionerKind::Default if up == down => Ok(PartitionerKind::Forward),
                PartitionerKind::Default => Ok(PartitionerKind::Rebalance),
                PartitionerKind::Forward if up != down => Err(format!(
                    "Forward partitioning does not allow change of parallelism. Upstream operation: {} parallelism: {up}, downstream operation: {} parallelism: {down} You must use another partitioning strategy, such as broadcast, rebalance, shuffle or global.",
                    graph.nodes[e.source].name, graph.nodes[e.target].name
                )),
                kind => Ok(kind),
            }
        })
        .collect()
}

fn check_boundedness(graph: &StreamGraph, settings: &TranslationSettings) -> Result<(), String> {
    if settings.runtime_mode != RuntimeExecutionMode::Batch {
        return Ok(());
    }
    match graph.nodes.iter().find(|n| n.kind == NodeKind::Source && !n.bounded) {
        Some(n) => Err(format!(
            "Detected an UNBOUNDED source ('{}') with the 'execution.runtime-mode' set to 'BATCH'. This combination is not allowed, please set the 'execution.runtime-mode' to STREAMING or AUTOMATIC",
            n.name
        )),
        None => Ok(()),
    }
}

/// Explicit group, else the inputs' common group, else "default" (Flink's rule).
fn resolve_slot_sharing_groups(graph: &StreamGraph) -> Vec<String> {
    let mut groups: Vec<String> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let group = match &node.slot_sharing_group {
            Some(g) => g.clone(),
            None => {
                let mut input_groups = graph.in_edges(node.id).map(|e| groups[e.source].clone());
                match input_groups.next() {
                    Some(first) if input_groups.all(|g| g == first) => first,
                    _ => "default".to_string(),
                }
            }
        };
        groups.push(group);
    }
    groups
}

fn is_chainable(
    graph: &StreamGraph,
    up: usize,
    down: usize,
    partitioner: PartitionerKind,
    parallelism: &[usize],
    groups: &[String],
) -> bool {
    let (u, d) = (&graph.nodes[up], &graph.nodes[down]);
    partitioner == PartitionerKind::Forward
        && parallelism[up] == parallelism[down]
        && groups[up] == groups[down]
        && d.chaining == ChainingStrategy::Always
        && u.chaining != ChainingStrategy::Never
        && !matches!(d.invokable, super::stream_graph::Invokable::TwoInput(_))
}

/// 32-hex-digit operator id: from the uid when set (stable across program changes), else from
/// the node's position and inputs.
fn operator_id(graph: &StreamGraph, node: usize) -> String {
    let n = &graph.nodes[node];
    let seed = match &n.uid {
        Some(uid) => format!("uid:{uid}"),
        None => {
            let inputs: Vec<_> = graph.in_edges(node).map(|e| e.source).collect();
            format!("node:{node}:{}:{inputs:?}", n.name)
        }
    };
    format!(
        "{:016x}{:016x}",
        stable_hash(&seed),
        stable_hash(&(seed, 1u8))
    )
}

/// Hash over the graph's structure: operators, their types and settings, and the edges.
pub fn fingerprint(graph: &StreamGraph) -> String {
    let mut text = String::new();
    for n in &graph.nodes {
        text.push_str(&format!(
            "n{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{};",
            n.id,
            n.name,
            n.kind,
            n.uid,
            n.parallelism,
            n.max_parallelism,
            n.slot_sharing_group,
            n.chaining,
            n.non_parallel,
            n.type_signature
        ));
    }
    for e in &graph.edges {
        text.push_str(&format!(
            "e{}>{}#{}|{:?};",
            e.source, e.target, e.input, e.partitioner
        ));
    }
    format!("{:016x}", stable_hash(&text))
}
