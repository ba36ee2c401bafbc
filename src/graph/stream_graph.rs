//! The StreamGraph: one node per operator in build order, edges with their partitioners, and
//! the factories that instantiate each operator in a task.
//!
//! The factories are type-erased (`Box<dyn Any>` carrying `BoxOutput<T>`) because a chain is
//! assembled at deployment time from nodes of different record types; the downcasts happen once
//! per task start, never per record.

use std::any::Any;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api::functions::RuntimeContext;
use crate::runtime::chain::{ChainEvent, TaskError};
use crate::runtime::network::partitioner::PartitionerKind;
use crate::runtime::network::writer::ChannelSender;
use crate::runtime::operators::side::{SideOutput, SideOutputs};

/// A type-erased `BoxOutput<T>` (or other per-type object).
pub type AnyBox = Box<dyn Any + Send>;

/// Whether an operator may be chained to its input and its consumers (Flink's
/// `ChainingStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChainingStrategy {
    /// Chain with input and consumers where possible (the default).
    Always,
    /// Start a new chain here; consumers may chain to this operator (`start_new_chain`).
    Head,
    /// Never chain (`disable_chaining`).
    Never,
}

/// The role of a node, as shown in plans ("pact").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    Source,
    Operator,
    Sink,
}

/// Creates the runtime objects for a node's output type.
pub trait NodeOutputs: Send + Sync {
    /// Combines several outputs of this node's type into one fan-out output.
    fn fan_out(&self, outputs: Vec<AnyBox>) -> Result<AnyBox, String>;
    /// An output that drops records (no consumer).
    fn discard(&self) -> AnyBox;
}

/// Who an operator is, as the runtime creates it: its display name and its stable id (the key
/// of its state in checkpoints and savepoints: derived from its `uid` when set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorInfo {
    pub name: String,
    pub id: String,
}

/// Runs a source: polls its reader and pushes batches into the chain.
pub trait SourceDriver: Send {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError>;
    /// Polls once; returns whether more input may come.
    fn poll(&mut self) -> Result<crate::api::source::InputStatus, TaskError>;
    /// Passes a control event (flush, processing time) into the chain.
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError>;
    fn next_deadline(&self) -> Option<i64>;
    /// The input is exhausted: emits the final watermark and ends the chain's input.
    fn end_input(&mut self) -> Result<(), TaskError>;
    fn close(&mut self) -> Result<(), TaskError>;
}

/// The head of a chain fed from input channels: decodes buffers and pushes them into the chain.
pub trait HeadInput: Send {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError>;
    fn push_buffer(&mut self, input: usize, buffer: &[u8]) -> Result<(), TaskError>;
    /// Logical input `input` has ended.
    fn end_input(&mut self, input: usize) -> Result<(), TaskError>;
    /// A control event for the whole task (its combined watermark, flush, processing time).
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError>;
    fn next_deadline(&self) -> Option<i64>;
    fn close(&mut self) -> Result<(), TaskError>;
}

/// A source operator.
pub trait SourceFactory: NodeOutputs {
    fn create(
        &self,
        op: &OperatorInfo,
        output: AnyBox,
        ctx: &RuntimeContext,
    ) -> Result<Box<dyn SourceDriver>, String>;
}

/// A one-input operator (map, reduce, sink, ...).
pub trait OneInputFactory: NodeOutputs {
    /// The operator (named `name`) as a chained `BoxOutput<IN>` emitting into `output` and
    /// its side outputs.
    fn create(
        &self,
        op: &OperatorInfo,
        output: AnyBox,
        side: SideOutputs,
    ) -> Result<AnyBox, String>;
    /// Wraps a chained operator (from `create`) as a chain head reading serialised input.
    fn head(&self, operator: AnyBox) -> Result<Box<dyn HeadInput>, String>;
}

/// A two-input operator (connect + co-map); always a chain head.
pub trait TwoInputFactory: NodeOutputs {
    fn create_head(&self, op: &OperatorInfo, output: AnyBox) -> Result<Box<dyn HeadInput>, String>;
}

/// Where a record writer writes: its channels and what the partitioner needs to know.
pub struct WriterContext {
    /// `producer -> consumer` names, for error messages.
    pub name: String,
    pub channels: Vec<ChannelSender>,
    /// The resolved partitioner of the edge.
    pub kind: PartitionerKind,
    pub subtask_index: usize,
    /// Max parallelism of the consuming operator: the number of key groups.
    pub max_parallelism: usize,
}

/// Creates the record writer of an edge, for the producing node's record type.
pub trait WriterFactory: Send + Sync {
    /// Returns a `BoxOutput<T>`.
    fn create(&self, ctx: WriterContext) -> AnyBox;
    /// The writer of a side-output edge reading side output `tag`.
    fn create_side(&self, tag: &str, ctx: WriterContext) -> Box<dyn SideOutput>;
}

/// What a node runs.
#[derive(Clone)]
pub enum Invokable {
    Source(Arc<dyn SourceFactory>),
    OneInput(Arc<dyn OneInputFactory>),
    TwoInput(Arc<dyn TwoInputFactory>),
}

impl Invokable {
    pub fn outputs(&self) -> &dyn NodeOutputs {
        match self {
            Invokable::Source(f) => f.as_ref(),
            Invokable::OneInput(f) => f.as_ref(),
            Invokable::TwoInput(f) => f.as_ref(),
        }
    }
}

/// One operator of the program.
#[derive(Clone)]
pub struct StreamNode {
    /// Position in build order (0-based); stable across re-runs of a deterministic `main`.
    pub id: usize,
    pub name: String,
    pub kind: NodeKind,
    pub uid: Option<String>,
    /// Explicit parallelism; `None` takes the environment's default.
    pub parallelism: Option<usize>,
    pub max_parallelism: Option<usize>,
    pub slot_sharing_group: Option<String>,
    pub chaining: ChainingStrategy,
    /// Non-parallel operators (collection and socket sources, `global` aggregations) run with
    /// parallelism 1.
    pub non_parallel: bool,
    /// For sources: whether the input is bounded.
    pub bounded: bool,
    /// Record type names, part of the graph fingerprint.
    pub type_signature: String,
    pub invokable: Invokable,
}

/// A connection between two nodes.
#[derive(Clone)]
pub struct StreamEdge {
    pub source: usize,
    pub target: usize,
    /// Logical input of the target: 0, or 1 for the second input of a two-input operator.
    pub input: usize,
    pub partitioner: PartitionerKind,
    pub writer: Arc<dyn WriterFactory>,
    /// Set when the edge reads a side output of its source instead of the main output.
    pub side_output: Option<String>,
}

/// The program's dataflow as built through the DataStream API.
#[derive(Clone, Default)]
pub struct StreamGraph {
    pub nodes: Vec<StreamNode>,
    pub edges: Vec<StreamEdge>,
}

impl StreamGraph {
    pub fn in_edges(&self, node: usize) -> impl Iterator<Item = &StreamEdge> {
        self.edges.iter().filter(move |e| e.target == node)
    }

    pub fn out_edges(&self, node: usize) -> impl Iterator<Item = &StreamEdge> {
        self.edges.iter().filter(move |e| e.source == node)
    }
}
