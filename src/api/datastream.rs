//! `DataStream`, `KeyedStream`, `ConnectedStreams` and `DataStreamSink`: the fluent API that
//! adds operators to the environment's StreamGraph.
//!
//! Transformations take `&self`, so one stream can feed several operators. Settings such as
//! `name`, `uid` and `set_parallelism` take `self` and apply to the operator that produced the
//! stream; applied to a union or a re-partitioned stream (which no single operator produced)
//! they are reported as an error by `execute`.

use std::hash::Hash;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::broadcast::{BroadcastConnectedStream, BroadcastStream};
use super::environment::{StreamEdgeSpec, StreamExecutionEnvironment};
use super::functions::*;
use super::join::{IntervalJoin, JoinBuilder};
use super::process::{KeyedProcessFunction, OutputTag, ProcessFunction};
use super::watermark::WatermarkStrategy;
use super::window::{CountEvictor, CountTrigger, GlobalWindows, PurgingTrigger, WindowAssigner};
use super::windowed::WindowedStream;
use crate::connectors::file_sink::{FileFormat, FileSink, WriteMode};
use crate::connectors::print::PrintSink;
use crate::graph::stream_graph::{
    ChainingStrategy, Invokable, NodeKind, OperatorInfo, StreamNode, WriterFactory,
};
use crate::runtime::batch::Batch;
use crate::runtime::chain::BoxOutput;
use crate::runtime::network::partitioner::PartitionerKind;
use crate::runtime::operators::factory::{
    CoFlatMapFactory, CombiningKeyedWriters, CustomWriters, KeyedWriters, OneInputOperatorFactory,
    Record, StandardWriters, Writers,
};
use crate::runtime::operators::keyed::KeyedReduceOperator;
use crate::runtime::operators::process::{KeyedProcessOperator, ProcessOperator};
use crate::runtime::operators::side::SideOutputs;
use crate::runtime::operators::simple::{FilterOperator, FlatMapOperator, MapOperator};
use crate::runtime::operators::sink::SinkOperator;
use crate::runtime::operators::timestamps::TimestampsAndWatermarksOperator;
use crate::runtime::operators::two_phase::{TwoPhaseCommitSink, TwoPhaseCommitSinkOperator};

/// One producer feeding a stream, with the partitioning its consumers will use.
#[derive(Clone)]
struct Upstream {
    node: usize,
    partitioner: PartitionerKind,
    writer: Arc<dyn WriterFactory>,
    /// Reads this side output of `node` instead of its main output.
    side_output: Option<String>,
}

/// A stream of records of type `T`.
pub struct DataStream<T> {
    env: StreamExecutionEnvironment,
    upstreams: Vec<Upstream>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        DataStream {
            env: self.env.clone(),
            upstreams: self.upstreams.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Record> DataStream<T> {
    pub(crate) fn from_node(env: StreamExecutionEnvironment, node: usize) -> Self {
        DataStream {
            env,
            upstreams: vec![Upstream {
                node,
                partitioner: PartitionerKind::Default,
                writer: Arc::new(StandardWriters::factory::<T>()),
                side_output: None,
            }],
            _type: PhantomData,
        }
    }

    pub fn execution_environment(&self) -> &StreamExecutionEnvironment {
        &self.env
    }

    fn edges(&self, input: usize) -> Vec<StreamEdgeSpec> {
        self.upstreams
            .iter()
            .map(|u| StreamEdgeSpec {
                source: u.node,
                input,
                partitioner: u.partitioner,
                writer: u.writer.clone(),
                side_output: u.side_output.clone(),
            })
            .collect()
    }

    /// Adds a one-input operator consuming this stream.
    pub(crate) fn add_one_input<O: Record>(
        &self,
        name: &str,
        kind: NodeKind,
        non_parallel: bool,
        make: impl Fn(OperatorInfo, BoxOutput<O>, SideOutputs) -> BoxOutput<T> + Send + Sync + 'static,
    ) -> usize {
        let factory = OneInputOperatorFactory::new(make);
        let signature = format!(
            "{} -> {}",
            std::any::type_name::<T>(),
            std::any::type_name::<O>()
        );
        self.env.add_node(
            name.to_string(),
            kind,
            Invokable::OneInput(Arc::new(factory)),
            self.edges(0),
            non_parallel,
            true,
            &signature,
        )
    }

    /// Adds an operator that has no side outputs.
    fn transform<O: Record>(
        &self,
        name: &str,
        make: impl Fn(String, BoxOutput<O>) -> BoxOutput<T> + Send + Sync + 'static,
    ) -> DataStream<O> {
        self.transform_with_side(name, move |op, next, _side| make(op.name, next))
    }

    /// Adds an operator that may emit to side outputs.
    pub(crate) fn transform_with_side<O: Record>(
        &self,
        name: &str,
        make: impl Fn(OperatorInfo, BoxOutput<O>, SideOutputs) -> BoxOutput<T> + Send + Sync + 'static,
    ) -> DataStream<O> {
        let node = self.add_one_input(name, NodeKind::Operator, false, make);
        DataStream::from_node(self.env.clone(), node)
    }

    // ---- per-record transformations ---------------------------------------------------------

    /// Applies `f` to every record.
    pub fn map<O: Record, F: FnMut(T) -> O + Clone + Send + Sync + 'static>(
        &self,
        f: F,
    ) -> DataStream<O> {
        self.map_rich(Closure(f))
    }

    /// Applies a [`MapFunction`] (with `open`/`close`) to every record.
    pub fn map_rich<O: Record, F: MapFunction<T, O> + Sync>(&self, f: F) -> DataStream<O> {
        self.transform("Map", move |name, next| {
            Box::new(MapOperator {
                name,
                f: f.clone(),
                next,
                out: Batch::new(),
                _in: PhantomData,
            })
        })
    }

    /// Emits any number of records per input record through the collector.
    pub fn flat_map<O: Record, F: FnMut(T, &mut Collector<O>) + Clone + Send + Sync + 'static>(
        &self,
        f: F,
    ) -> DataStream<O> {
        self.flat_map_rich(Closure(f))
    }

    pub fn flat_map_rich<O: Record, F: FlatMapFunction<T, O> + Sync>(&self, f: F) -> DataStream<O> {
        self.transform("Flat Map", move |name, next| {
            Box::new(FlatMapOperator {
                name,
                f: f.clone(),
                next,
                out: Batch::new(),
                _in: PhantomData,
            })
        })
    }

    /// Keeps the records for which `f` returns true.
    pub fn filter<F: FnMut(&T) -> bool + Clone + Send + Sync + 'static>(
        &self,
        f: F,
    ) -> DataStream<T> {
        self.filter_rich(Closure(f))
    }

    pub fn filter_rich<F: FilterFunction<T> + Sync>(&self, f: F) -> DataStream<T> {
        self.transform("Filter", move |name, next| {
            Box::new(FilterOperator {
                name,
                f: f.clone(),
                next,
                out: Batch::new(),
            })
        })
    }

    // ---- event time and process functions ----------------------------------------------------

    /// Stamps records with event timestamps and generates watermarks from `strategy`.
    pub fn assign_timestamps_and_watermarks(
        &self,
        strategy: WatermarkStrategy<T>,
    ) -> DataStream<T> {
        self.transform("Timestamps/Watermarks", move |name, next| {
            Box::new(TimestampsAndWatermarksOperator::new(
                name,
                strategy.clone(),
                next,
            ))
        })
    }

    /// Applies a [`ProcessFunction`] (timestamps, watermark, side outputs) to every record.
    pub fn process<O: Record, F: ProcessFunction<T, O>>(&self, f: F) -> DataStream<O> {
        self.transform_with_side("Process", move |op, next, side| {
            Box::new(ProcessOperator {
                name: op.name,
                f: f.clone(),
                next,
                side,
                out: Batch::new(),
                watermark: i64::MIN,
                _in: PhantomData,
            })
        })
    }

    /// Windows over the whole (non-keyed) stream, evaluated by one subtask (Flink's `windowAll`).
    pub fn window_all(&self, assigner: WindowAssigner<T>) -> WindowedStream<T, u8> {
        let keyed = self.key_by(|_: &T| 0u8);
        WindowedStream::new(keyed, assigner, true)
    }

    /// Count windows over the whole stream.
    pub fn count_window_all(&self, size: i64) -> WindowedStream<T, u8> {
        self.window_all(GlobalWindows::create())
            .trigger(PurgingTrigger::of(CountTrigger::of(size)))
    }

    /// Adds a window operator (parallelism 1 for `window_all`).
    pub(crate) fn add_windowed<O: Record>(
        &self,
        name: &str,
        non_parallel: bool,
        make: impl Fn(OperatorInfo, BoxOutput<O>, SideOutputs) -> BoxOutput<T> + Send + Sync + 'static,
    ) -> DataStream<O> {
        let node = self.add_one_input(name, NodeKind::Operator, non_parallel, make);
        DataStream::from_node(self.env.clone(), node)
    }

    /// The records the operator producing this stream emitted to side output `tag`.
    pub fn get_side_output<X: Record>(&self, tag: &OutputTag<X>) -> DataStream<X> {
        let upstreams = match self.upstreams.as_slice() {
            [u] if u.partitioner == PartitionerKind::Default && u.side_output.is_none() => {
                vec![Upstream {
                    node: u.node,
                    partitioner: PartitionerKind::Default,
                    writer: Arc::new(StandardWriters::factory::<X>()),
                    side_output: Some(tag.id().to_string()),
                }]
            }
            _ => {
                self.env.record_error(format!(
                    "get_side_output('{}') can only be applied to the output of an operator",
                    tag.id()
                ));
                Vec::new()
            }
        };
        DataStream {
            env: self.env.clone(),
            upstreams,
            _type: PhantomData,
        }
    }

    // ---- keying and multiple streams ----------------------------------------------------------

    /// Partitions by key: records with the same key always reach the same subtask.
    pub fn key_by<K, F>(&self, key_selector: F) -> KeyedStream<T, K>
    where
        K: Hash + Eq + Send + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let selector: Arc<dyn Fn(&T) -> K + Send + Sync> = Arc::new(key_selector);
        let writer: Arc<dyn WriterFactory> = Arc::new(Writers(
            KeyedWriters {
                key_selector: selector.clone(),
            },
            PhantomData,
        ));
        KeyedStream {
            stream: self.repartitioned(PartitionerKind::Hash, writer),
            key_selector: selector,
        }
    }

    /// Merges streams of the same type (Flink's `union`); may be chained for more streams.
    pub fn union(&self, other: &DataStream<T>) -> DataStream<T> {
        let mut upstreams = self.upstreams.clone();
        upstreams.extend(other.upstreams.iter().cloned());
        DataStream {
            env: self.env.clone(),
            upstreams,
            _type: PhantomData,
        }
    }

    /// Window join with another stream: `a.join(&b).where_(ka).equal_to(kb).window(w).apply(f)`.
    pub fn join<B: Record>(&self, other: &DataStream<B>) -> JoinBuilder<T, B> {
        JoinBuilder::new(self.clone(), other.clone(), false)
    }

    /// Co-group with another stream: like `join`, but the function sees both sides' elements
    /// of a window at once (`apply_co_group`).
    pub fn co_group<B: Record>(&self, other: &DataStream<B>) -> JoinBuilder<T, B> {
        JoinBuilder::new(self.clone(), other.clone(), true)
    }

    /// Connects two streams, possibly of different types, for a co-operator.
    /// Adds a two-input operator reading this stream as input 0 and `second` as input 1.
    pub(crate) fn add_two_input<B: Record, O: Record>(
        &self,
        name: &str,
        second: &DataStream<B>,
        invokable: Invokable,
        kind: NodeKind,
    ) -> DataStream<O> {
        let env = self.env.clone();
        let mut inputs = self.edges(0);
        inputs.extend(second.edges(1));
        let signature = format!(
            "({}, {}) -> {}",
            std::any::type_name::<T>(),
            std::any::type_name::<B>(),
            std::any::type_name::<O>()
        );
        let node = env.add_node(
            name.to_string(),
            kind,
            invokable,
            inputs,
            false,
            true,
            &signature,
        );
        DataStream::from_node(env, node)
    }

    /// This stream, broadcast to every subtask of the operator it is connected to, whose
    /// function keeps it in broadcast state (Flink's `broadcast(MapStateDescriptor...)`).
    pub fn broadcast_stream(&self) -> BroadcastStream<T> {
        BroadcastStream {
            stream: self.broadcast(),
        }
    }

    /// Connects this stream with a broadcast stream (Flink's `connect(BroadcastStream)`);
    /// `process` then applies a [`crate::api::broadcast::BroadcastProcessFunction`].
    pub fn connect_broadcast<B: Record>(
        &self,
        broadcast: &BroadcastStream<B>,
    ) -> BroadcastConnectedStream<T, B> {
        BroadcastConnectedStream {
            first: self.clone(),
            second: broadcast.stream.clone(),
        }
    }

    pub fn connect<B: Record>(&self, other: &DataStream<B>) -> ConnectedStreams<T, B> {
        ConnectedStreams {
            first: self.clone(),
            second: other.clone(),
        }
    }

    // ---- partitioning -----------------------------------------------------------------------

    fn repartitioned(
        &self,
        partitioner: PartitionerKind,
        writer: Arc<dyn WriterFactory>,
    ) -> DataStream<T> {
        let upstreams = self
            .upstreams
            .iter()
            .map(|u| Upstream {
                node: u.node,
                partitioner,
                writer: writer.clone(),
                side_output: u.side_output.clone(),
            })
            .collect();
        DataStream {
            env: self.env.clone(),
            upstreams,
            _type: PhantomData,
        }
    }

    fn standard(&self, partitioner: PartitionerKind) -> DataStream<T> {
        self.repartitioned(partitioner, Arc::new(StandardWriters::factory::<T>()))
    }

    /// Random distribution.
    pub fn shuffle(&self) -> DataStream<T> {
        self.standard(PartitionerKind::Shuffle)
    }
    /// Round-robin over all downstream subtasks.
    pub fn rebalance(&self) -> DataStream<T> {
        self.standard(PartitionerKind::Rebalance)
    }
    /// Round-robin over the subset of downstream subtasks local to each producer.
    pub fn rescale(&self) -> DataStream<T> {
        self.standard(PartitionerKind::Rescale)
    }
    /// Every record to every downstream subtask.
    pub fn broadcast(&self) -> DataStream<T> {
        self.standard(PartitionerKind::Broadcast)
    }
    /// Every record to the first downstream subtask.
    pub fn global(&self) -> DataStream<T> {
        self.standard(PartitionerKind::Global)
    }
    /// One-to-one to the downstream subtask of the same index (equal parallelism required).
    pub fn forward(&self) -> DataStream<T> {
        self.standard(PartitionerKind::Forward)
    }

    /// Sends each record to the subtask `partitioner(key, n)` picks.
    pub fn partition_custom<K, P, F>(&self, partitioner: P, key_selector: F) -> DataStream<T>
    where
        K: 'static,
        P: FnMut(&K, usize) -> usize + Clone + Send + Sync + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let writer = Writers(
            CustomWriters {
                key_selector: Arc::new(key_selector),
                partitioner: Closure(partitioner),
            },
            PhantomData,
        );
        self.repartitioned(PartitionerKind::Custom, Arc::new(writer))
    }

    // ---- sinks ------------------------------------------------------------------------------

    /// Adds a sink calling `f` for every record.
    pub fn add_sink<F: FnMut(T) + Clone + Send + Sync + 'static>(&self, f: F) -> DataStreamSink {
        self.add_sink_rich(Closure(f))
    }

    /// Adds a [`SinkFunction`] (with `open`/`finish`/`close`).
    pub fn add_sink_rich<F: SinkFunction<T> + Sync>(&self, sink: F) -> DataStreamSink {
        self.add_sink_named("Sink: Unnamed", sink)
    }

    pub(crate) fn add_sink_named<F: SinkFunction<T> + Sync>(
        &self,
        name: &str,
        sink: F,
    ) -> DataStreamSink {
        let node = self.add_one_input::<()>(name, NodeKind::Sink, false, move |op, _, _| {
            Box::new(SinkOperator {
                name: op.name,
                f: sink.clone(),
            })
        });
        DataStreamSink {
            env: self.env.clone(),
            node,
        }
    }

    /// Adds a two-phase-commit sink (Flink's `sinkTo`), e.g. the exactly-once
    /// [`FileSink`](crate::connectors::file::FileSink): with checkpointing on, what it writes
    /// becomes visible exactly once, when the checkpoint that covers it completes.
    pub fn sink_to<S>(&self, sink: S) -> DataStreamSink
    where
        S: TwoPhaseCommitSink<T> + Clone + Sync,
    {
        let name = format!("Sink: {}", sink.name());
        let node = self.add_one_input::<()>(&name, NodeKind::Sink, false, move |op, _, _| {
            Box::new(TwoPhaseCommitSinkOperator::new(op, sink.clone()))
        });
        DataStreamSink {
            env: self.env.clone(),
            node,
        }
    }

    /// Prints every record to stdout as Flink does (`N> ` prefix when parallelism > 1).
    pub fn print(&self) -> DataStreamSink {
        self.add_sink_named("Sink: Print to Std. Out", PrintSink::stdout())
    }

    /// Like `print`, to stderr.
    pub fn print_to_err(&self) -> DataStreamSink {
        self.add_sink_named("Sink: Print to Std. Err", PrintSink::stderr())
    }

    /// Writes records as text lines: one file at parallelism 1, else a directory with one
    /// file per subtask (`1`, `2`, ...), as Flink's `writeAsText`.
    pub fn write_as_text(&self, path: impl AsRef<Path>, mode: WriteMode) -> DataStreamSink {
        self.add_sink_named(
            "Sink: Unnamed",
            FileSink::new(path.as_ref(), mode, FileFormat::Text),
        )
    }

    /// Writes records as CSV rows (tuple or struct fields joined by `,`), as `writeAsCsv`.
    pub fn write_as_csv(&self, path: impl AsRef<Path>, mode: WriteMode) -> DataStreamSink
    where
        T: Serialize,
    {
        self.add_sink_named(
            "Sink: Unnamed",
            FileSink::new(path.as_ref(), mode, FileFormat::Csv),
        )
    }

    /// Runs the job and returns every record of this stream (Flink's `executeAndCollect`):
    /// for bounded jobs on the embedded executor, e.g. in tests.
    pub fn execute_and_collect(&self, job_name: &str) -> crate::Result<Vec<T>>
    where
        T: Sync,
    {
        let collected = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = collected.clone();
        self.add_sink_named(
            "Sink: Collect",
            Closure(move |record: T| sink.lock().unwrap_or_else(|e| e.into_inner()).push(record)),
        );
        self.env.execute(job_name)?;
        let mut records = collected.lock().unwrap_or_else(|e| e.into_inner());
        Ok(std::mem::take(&mut *records))
    }

    // ---- operator settings ------------------------------------------------------------------

    fn configure(self, setting: &str, update: impl FnOnce(&mut StreamNode)) -> Self {
        match self.upstreams.as_slice() {
            [u] if u.partitioner == PartitionerKind::Default => self.env.update_node(u.node, update),
            _ => self.env.record_error(format!(
                "{setting} can only be applied to an operator, not to a union or a re-partitioned stream"
            )),
        }
        self
    }

    /// The operator's name in plans, logs and the web UI.
    pub fn name(self, name: &str) -> Self {
        let name = name.to_string();
        self.configure("name()", move |n| {
            n.name = if n.kind == NodeKind::Source {
                format!("Source: {name}")
            } else {
                name
            }
        })
    }
    /// A stable id for mapping state from savepoints.
    pub fn uid(self, uid: &str) -> Self {
        let uid = uid.to_string();
        self.configure("uid()", move |n| n.uid = Some(uid))
    }
    pub fn set_parallelism(self, parallelism: usize) -> Self {
        let env = self.env.clone();
        self.configure("set_parallelism()", move |n| {
            if parallelism == 0 {
                env.record_error(format!(
                    "the parallelism of operator '{}' must be at least 1",
                    n.name
                ));
            }
            n.parallelism = Some(parallelism)
        })
    }
    pub fn set_max_parallelism(self, max_parallelism: usize) -> Self {
        self.configure("set_max_parallelism()", move |n| {
            n.max_parallelism = Some(max_parallelism)
        })
    }
    pub fn slot_sharing_group(self, group: &str) -> Self {
        let group = group.to_string();
        self.configure("slot_sharing_group()", move |n| {
            n.slot_sharing_group = Some(group)
        })
    }
    /// Never chain this operator with its input or consumers.
    pub fn disable_chaining(self) -> Self {
        self.configure("disable_chaining()", |n| {
            n.chaining = ChainingStrategy::Never
        })
    }
    /// Start a new chain at this operator (consumers may still chain to it).
    pub fn start_new_chain(self) -> Self {
        self.configure("start_new_chain()", |n| n.chaining = ChainingStrategy::Head)
    }
}

/// A stream partitioned by key, for keyed operators.
pub struct KeyedStream<T, K> {
    stream: DataStream<T>,
    key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
}

impl<T: Record, K: crate::state::StateKey> KeyedStream<T, K> {
    fn aggregate<R: ReduceFunction<T> + Sync>(&self, name: &str, f: R) -> DataStream<T> {
        let selector = self.key_selector.clone();
        // The input edge combines per key before the exchange in BATCH mode.
        let writer: Arc<dyn WriterFactory> = Arc::new(Writers(
            CombiningKeyedWriters {
                key_selector: selector.clone(),
                reduce: f.clone(),
            },
            PhantomData,
        ));
        let input = self.stream.repartitioned(PartitionerKind::Hash, writer);
        input.transform_with_side(name, move |op, next, _side| {
            Box::new(KeyedReduceOperator::new(
                op,
                selector.clone(),
                f.clone(),
                next,
            ))
        })
    }

    pub(crate) fn stream_ref(&self) -> &DataStream<T> {
        &self.stream
    }

    pub(crate) fn selector(&self) -> Arc<dyn Fn(&T) -> K + Send + Sync> {
        self.key_selector.clone()
    }

    /// Interval join with another keyed stream of the same key type.
    pub fn interval_join<B: Record>(&self, other: &KeyedStream<B, K>) -> IntervalJoin<T, B, K>
    where
        K: crate::state::StateKey,
    {
        IntervalJoin::new(self, other)
    }

    /// Cuts each key's elements into windows.
    pub fn window(&self, assigner: WindowAssigner<T>) -> WindowedStream<T, K>
    where
        K: crate::state::StateKey,
    {
        WindowedStream::new(
            KeyedStream {
                stream: self.stream.clone(),
                key_selector: self.key_selector.clone(),
            },
            assigner,
            false,
        )
    }

    /// Windows of `size` elements per key (fired and purged when full).
    pub fn count_window(&self, size: i64) -> WindowedStream<T, K>
    where
        K: crate::state::StateKey,
    {
        self.window(GlobalWindows::create())
            .trigger(PurgingTrigger::of(CountTrigger::of(size)))
    }

    /// Windows of the last `size` elements per key, fired every `slide` elements.
    pub fn count_window_sliding(&self, size: usize, slide: i64) -> WindowedStream<T, K>
    where
        K: crate::state::StateKey,
    {
        self.window(GlobalWindows::create())
            .evictor(CountEvictor::of(size))
            .trigger(CountTrigger::of(slide))
    }

    /// Applies a [`KeyedProcessFunction`] with per-key state and timers.
    pub fn process<O: Record, F: KeyedProcessFunction<K, T, O>>(&self, f: F) -> DataStream<O>
    where
        K: crate::state::StateKey,
    {
        let selector = self.key_selector.clone();
        self.stream
            .transform_with_side("KeyedProcess", move |op, next, side| {
                Box::new(KeyedProcessOperator::new(
                    op,
                    selector.clone(),
                    f.clone(),
                    next,
                    side,
                ))
            })
    }

    /// Rolling reduce: in STREAMING mode emits every intermediate result, in BATCH mode one
    /// final value per key.
    pub fn reduce<F: FnMut(T, T) -> T + Clone + Send + Sync + 'static>(
        &self,
        f: F,
    ) -> DataStream<T> {
        self.reduce_rich(Closure(f))
    }

    pub fn reduce_rich<R: ReduceFunction<T> + Sync>(&self, f: R) -> DataStream<T> {
        self.aggregate("Keyed Reduce", f)
    }

    /// Rolling sum of the field `field` selects (e.g. `|t| &mut t.1`); the other fields keep the
    /// values of the key's first record, as in Flink.
    pub fn sum<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + std::ops::Add<Output = N> + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + Sync + 'static,
    {
        self.aggregate(
            "Keyed Aggregation",
            Closure(move |mut acc: T, mut value: T| {
                let add = *field(&mut value);
                let slot = field(&mut acc);
                *slot = *slot + add;
                acc
            }),
        )
    }

    /// Rolling minimum of a field; other fields keep the key's first record's values.
    pub fn min<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + PartialOrd + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + Sync + 'static,
    {
        self.extremum(field, |candidate, current| candidate < current)
    }

    /// Rolling maximum of a field; other fields keep the key's first record's values.
    pub fn max<N, F>(&self, field: F) -> DataStream<T>
    where
        N: Copy + PartialOrd + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + Sync + 'static,
    {
        self.extremum(field, |candidate, current| candidate > current)
    }

    /// Keeps the accumulated record, replacing the field when `better(new, current)`.
    fn extremum<N, F>(&self, field: F, better: fn(&N, &N) -> bool) -> DataStream<T>
    where
        N: Copy + 'static,
        F: Fn(&mut T) -> &mut N + Clone + Send + Sync + 'static,
    {
        self.aggregate(
            "Keyed Aggregation",
            Closure(move |mut acc: T, mut value: T| {
                let candidate = *field(&mut value);
                let slot = field(&mut acc);
                if better(&candidate, slot) {
                    *slot = candidate;
                }
                acc
            }),
        )
    }

    /// The whole record with the smallest `by` value so far (the earlier one on ties).
    pub fn min_by<N: PartialOrd, F: Fn(&T) -> N + Clone + Send + Sync + 'static>(
        &self,
        by: F,
    ) -> DataStream<T> {
        self.aggregate(
            "Keyed Aggregation",
            Closure(move |acc: T, value: T| if by(&value) < by(&acc) { value } else { acc }),
        )
    }

    /// The whole record with the largest `by` value so far (the earlier one on ties).
    pub fn max_by<N: PartialOrd, F: Fn(&T) -> N + Clone + Send + Sync + 'static>(
        &self,
        by: F,
    ) -> DataStream<T> {
        self.aggregate(
            "Keyed Aggregation",
            Closure(move |acc: T, value: T| if by(&value) > by(&acc) { value } else { acc }),
        )
    }
}

/// Two streams connected for a co-operator.
pub struct ConnectedStreams<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
}

impl<A: Record, B: Record> ConnectedStreams<A, B> {
    pub(crate) fn streams(&self) -> (&DataStream<A>, &DataStream<B>) {
        (&self.first, &self.second)
    }

    /// One closure per input, both producing the output type.
    pub fn map<O: Record, F1, F2>(&self, map1: F1, map2: F2) -> DataStream<O>
    where
        F1: FnMut(A) -> O + Clone + Send + Sync + 'static,
        F2: FnMut(B) -> O + Clone + Send + Sync + 'static,
    {
        self.map_rich(CoClosures(map1, map2))
    }

    pub fn map_rich<O: Record, F: CoMapFunction<A, B, O> + Sync>(&self, f: F) -> DataStream<O> {
        self.add("Co-Map", CoMapAsFlatMap(f))
    }

    pub fn flat_map<O: Record, F1, F2>(&self, flat_map1: F1, flat_map2: F2) -> DataStream<O>
    where
        F1: FnMut(A, &mut Collector<O>) + Clone + Send + Sync + 'static,
        F2: FnMut(B, &mut Collector<O>) + Clone + Send + Sync + 'static,
    {
        self.flat_map_rich(CoClosures(flat_map1, flat_map2))
    }

    pub fn flat_map_rich<O: Record, F: CoFlatMapFunction<A, B, O> + Sync>(
        &self,
        f: F,
    ) -> DataStream<O> {
        self.add("Co-Flat Map", f)
    }

    fn add<O: Record, F: CoFlatMapFunction<A, B, O> + Sync>(
        &self,
        name: &str,
        f: F,
    ) -> DataStream<O> {
        let factory = CoFlatMapFactory {
            f,
            _types: PhantomData,
        };
        self.first.add_two_input(
            name,
            &self.second,
            Invokable::TwoInput(Arc::new(factory)),
            NodeKind::Operator,
        )
    }
}

/// Runs a co-map function as a co-flat-map (one output per input).
#[derive(Clone)]
struct CoMapAsFlatMap<F>(F);

impl<A, B, O, F: CoMapFunction<A, B, O>> CoFlatMapFunction<A, B, O> for CoMapAsFlatMap<F> {
    fn flat_map1(&mut self, value: A, out: &mut Collector<O>) -> anyhow::Result<()> {
        out.collect(self.0.map1(value)?);
        Ok(())
    }
    fn flat_map2(&mut self, value: B, out: &mut Collector<O>) -> anyhow::Result<()> {
        out.collect(self.0.map2(value)?);
        Ok(())
    }
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.0.open(ctx)
    }
    fn close(&mut self) -> anyhow::Result<()> {
        self.0.close()
    }
}

/// The end of a stream; configures the sink operator.
pub struct DataStreamSink {
    env: StreamExecutionEnvironment,
    node: usize,
}

impl DataStreamSink {
    pub fn name(self, name: &str) -> Self {
        let name = name.to_string();
        self.env.update_node(self.node, |n| n.name = name);
        self
    }
    pub fn uid(self, uid: &str) -> Self {
        let uid = uid.to_string();
        self.env.update_node(self.node, |n| n.uid = Some(uid));
        self
    }
    pub fn set_parallelism(self, parallelism: usize) -> Self {
        if parallelism == 0 {
            self.env
                .record_error("the parallelism of a sink must be at least 1".into());
        }
        self.env
            .update_node(self.node, |n| n.parallelism = Some(parallelism));
        self
    }
    pub fn slot_sharing_group(self, group: &str) -> Self {
        let group = group.to_string();
        self.env
            .update_node(self.node, |n| n.slot_sharing_group = Some(group));
        self
    }
    pub fn disable_chaining(self) -> Self {
        self.env
            .update_node(self.node, |n| n.chaining = ChainingStrategy::Never);
        self
    }
}
