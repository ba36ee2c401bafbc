//! Graphs: the StreamGraph a program builds (operators and edges, holding the user's code) and
//! the JobGraph it translates to (operators chained into vertices; serialisable, fingerprinted),
//! plus the execution plan JSON that `strato info` prints.

pub mod job_graph;
pub mod plan;
pub mod stream_graph;

pub use job_graph::{JobEdge, JobGraph, JobVertex};
pub use stream_graph::{ChainingStrategy, NodeKind, StreamEdge, StreamGraph, StreamNode};
