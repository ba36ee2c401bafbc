//! A task: one parallel subtask of a JobVertex, running its operator chain on its own thread.
//!
//! The task builds its chain from the program's StreamGraph (the user code) and the JobGraph
//! (the wiring), connects its record writers and input gate to the channels of its job, and
//! then loops: poll the source or read the input gate, push batches through the chain, flush
//! network buffers on the buffer timeout, and handle control messages between batches.
//!
//! How a task ends (Flink's FLIP-147, "checkpoints after tasks finish"): when its data ends
//! (the source is exhausted, or every input delivered its end of data) the chain's operators
//! finish and the record writers send an end of data. With checkpointing the task then stays
//! up, passing on barriers, until the job master reports the *final* checkpoint complete: one
//! taken after the data of every task ended. Only then do the writers close their channels
//! and the task finish. So a two-phase-commit sink's last transaction is committed by a
//! checkpoint like every other, and a failure before that replays it exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::api::functions::{Accumulators, RuntimeContext};
use crate::api::source::InputStatus;
use crate::checkpoint::{CheckpointBarrier, SnapshotType};
use crate::config::options::CheckpointingMode;
use crate::config::RuntimeExecutionMode;
use crate::error::TaskFailure;
use crate::graph::stream_graph::{
    AnyBox, HeadInput, Invokable, OperatorInfo, SourceDriver, StreamGraph, WriterContext,
};
use crate::graph::{JobGraph, JobVertex};
use crate::runtime::chain::{processing_time_now, ChainEvent, TaskError};
use crate::runtime::network::gate::{GateEvent, InputChannel, InputGate};
use crate::runtime::network::local::LocalChannels;
use crate::runtime::network::writer::ChannelSender;
use crate::runtime::network::ChannelId;
use crate::runtime::operators::side::SideOutputs;
use crate::runtime::snapshots::{CheckpointAck, SubtaskCheckpointer};
use crate::state::{StateBackendSettings, TaskRestore, TaskStateManager};
use crate::util::ids::JobId;

/// Messages a running task accepts between batches.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum TaskControl {
    Cancel,
    /// Sources only: inject this barrier (take a checkpoint or savepoint).
    TriggerCheckpoint(CheckpointBarrier),
    /// The checkpoint completed: operators may commit what it made durable.
    NotifyCheckpointComplete(u64),
    /// The checkpoint was abandoned.
    NotifyCheckpointAborted(u64),
    /// The checkpoint completed and it is the job's last: taken after the data of every task
    /// ended (or a stop-with-savepoint). Operators commit, then the task finishes.
    NotifyFinalCheckpointComplete(u64),
}

/// What a task tells its job master.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum TaskReport {
    State(TaskStateUpdate),
    Checkpoint(CheckpointAck),
    /// The task's data ended; with checkpointing it now waits for the final checkpoint.
    EndOfData(TaskAttempt),
}

/// Task states (Flink's `ExecutionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExecutionState {
    Created,
    Scheduled,
    Deploying,
    Running,
    Finished,
    Canceling,
    Canceled,
    Failed,
}

impl ExecutionState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ExecutionState::Finished | ExecutionState::Canceled | ExecutionState::Failed
        )
    }
}

/// One execution of a subtask (Flink's `Execution` with its attempt number): the attempt
/// counts how often this subtask was deployed before, by full or by region restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TaskAttempt {
    pub vertex: usize,
    pub subtask: usize,
    pub attempt: u32,
}

impl TaskAttempt {
    pub fn key(&self) -> (usize, usize) {
        (self.vertex, self.subtask)
    }
}

/// A task's state change, reported to its job master (across processes in a cluster).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskStateUpdate {
    pub vertex: usize,
    pub subtask: usize,
    /// The attempt reporting: updates of an attempt that was since replaced are stale.
    pub attempt: u32,
    pub state: ExecutionState,
    /// Set for `Failed`.
    pub failure: Option<TaskFailure>,
    /// Accumulator values, set for `Finished`.
    pub accumulators: std::collections::BTreeMap<String, i64>,
}

/// Settings every task of a job shares.
#[derive(Debug, Clone)]
pub struct TaskSettings {
    pub runtime_mode: RuntimeExecutionMode,
    /// Flush partially filled buffers at least this often (`execution.buffer-timeout`);
    /// `None` flushes only full buffers (and at the end).
    pub buffer_timeout: Option<Duration>,
    /// `pipeline.auto-watermark-interval`.
    pub auto_watermark_interval: Duration,
    /// `execution.checkpointing.mode`: whether input gates align barriers.
    pub checkpointing_mode: CheckpointingMode,
    /// `state.backend.*`.
    pub state_backend: StateBackendSettings,
}

/// Everything a task needs to run one subtask.
pub struct TaskDeployment {
    pub job_id: JobId,
    pub job: Arc<JobGraph>,
    pub user_code: Arc<StreamGraph>,
    pub settings: TaskSettings,
    pub vertex: usize,
    pub subtask: usize,
    /// This subtask's attempt number (`RuntimeContext::attempt_number`).
    pub attempt: u32,
    pub channels: Arc<LocalChannels>,
    /// The state to start from (a checkpoint after a failure, or a savepoint).
    pub restore: Option<TaskRestore>,
}

/// Which consumer subtasks producer `producer` feeds on an edge (and vice versa), following
/// Flink's ALL_TO_ALL and POINTWISE distribution patterns.
pub fn connected_consumers(
    producer: usize,
    producers: usize,
    consumers: usize,
    pointwise: bool,
) -> std::ops::Range<usize> {
    if !pointwise {
        return 0..consumers;
    }
    if producers == consumers {
        producer..producer + 1
    } else if producers > consumers {
        // Several producers per consumer: consumer c reads [c*P/C, (c+1)*P/C).
        let c = (0..consumers)
            .find(|&c| producer < (c + 1) * producers / consumers)
            .unwrap_or(consumers - 1);
        c..c + 1
    } else {
        let start = (producer * consumers).div_ceil(producers);
        let end = ((producer + 1) * consumers).div_ceil(producers);
        start..end
    }
}

/// The producers a consumer reads on an edge.
pub fn connected_producers(
    consumer: usize,
    producers: usize,
    consumers: usize,
    pointwise: bool,
) -> Vec<usize> {
    (0..producers)
        .filter(|&p| connected_consumers(p, producers, consumers, pointwise).contains(&consumer))
        .collect()
}

enum Head {
    Source(Box<dyn SourceDriver>, Receiver<TaskControl>),
    Input(Box<dyn HeadInput>, Box<InputGate>),
}

/// Runs one task to completion on the calling thread, reporting its states.
pub fn run_task(
    deployment: TaskDeployment,
    control: Receiver<TaskControl>,
    cancelled: Arc<AtomicBool>,
    reports: Sender<TaskReport>,
) {
    let vertex = &deployment.job.vertices[deployment.vertex];
    let accumulators = Accumulators::default();
    let ending = Ending::of(&deployment);
    let ctx = RuntimeContext {
        job_id: deployment.job_id,
        task_name: vertex.name.clone(),
        subtask_index: deployment.subtask,
        parallelism: vertex.parallelism,
        max_parallelism: vertex.max_parallelism,
        attempt_number: deployment.attempt,
        runtime_mode: deployment.settings.runtime_mode,
        final_checkpoint: ending.awaits_final,
        auto_watermark_interval: deployment.settings.auto_watermark_interval,
        accumulators: accumulators.clone(),
        state: Arc::new(TaskStateManager::new(
            deployment.restore.clone(),
            deployment.settings.state_backend.clone(),
        )),
    };
    let report = |state: ExecutionState, failure: Option<TaskFailure>| {
        let _ = reports.send(TaskReport::State(TaskStateUpdate {
            vertex: deployment.vertex,
            subtask: deployment.subtask,
            attempt: deployment.attempt,
            state,
            failure,
            accumulators: if state == ExecutionState::Finished {
                accumulators.snapshot()
            } else {
                Default::default()
            },
        }));
    };
    report(ExecutionState::Running, None);
    let mut checkpointer = SubtaskCheckpointer::new(
        deployment.job_id,
        TaskAttempt {
            vertex: deployment.vertex,
            subtask: deployment.subtask,
            attempt: deployment.attempt,
        },
        deployment
            .job
            .checkpointing
            .as_ref()
            .map(|c| c.checkpoints_dir.clone()),
        ctx.state.clone(),
        reports.clone(),
    );
    let result = build_head(&deployment, vertex, &ctx, control, &cancelled).and_then(|head| {
        run_head(
            head,
            &ctx,
            &deployment.settings,
            &cancelled,
            &mut checkpointer,
            ending,
        )
    });
    match result {
        Ok(()) => report(ExecutionState::Finished, None),
        Err(TaskError::Cancelled) => report(ExecutionState::Canceled, None),
        Err(TaskError::Operator { operator, message }) => {
            tracing::error!(
                "{} failed in operator '{operator}': {message}",
                ctx.task_name_with_subtasks()
            );
            report(
                ExecutionState::Failed,
                Some(TaskFailure {
                    task: vertex.name.clone(),
                    operator,
                    subtask: deployment.subtask,
                    parallelism: vertex.parallelism,
                    message,
                }),
            )
        }
    }
}

fn build_head(
    d: &TaskDeployment,
    vertex: &JobVertex,
    ctx: &RuntimeContext,
    control: Receiver<TaskControl>,
    cancelled: &Arc<AtomicBool>,
) -> Result<Head, TaskError> {
    let graph = &d.user_code;
    let head_node = vertex.head_node();
    let head = operator_info(vertex, graph, head_node);
    let head_name = head.name.as_str();
    let setup_error = |message: String| TaskError::operator(head_name, message);
    let (output, side) = build_outputs(d, vertex, head_node, cancelled).map_err(setup_error)?;
    match &graph.nodes[head_node].invokable {
        Invokable::Source(factory) => Ok(Head::Source(
            factory.create(&head, output, ctx).map_err(setup_error)?,
            control,
        )),
        Invokable::OneInput(factory) => {
            let operator = factory.create(&head, output, side).map_err(setup_error)?;
            let head = factory.head(operator).map_err(setup_error)?;
            Ok(Head::Input(head, Box::new(build_gate(d, vertex, control)?)))
        }
        Invokable::TwoInput(factory) => {
            let head = factory.create_head(&head, output).map_err(setup_error)?;
            Ok(Head::Input(head, Box::new(build_gate(d, vertex, control)?)))
        }
    }
}

/// The name and stable id of operator `node` of this vertex's chain.
fn operator_info(vertex: &JobVertex, graph: &StreamGraph, node: usize) -> OperatorInfo {
    let id = vertex
        .operators
        .iter()
        .find(|o| o.node == node)
        .map(|o| o.operator_id.clone())
        .unwrap_or_else(|| format!("node-{node}"));
    OperatorInfo {
        name: graph.nodes[node].name.clone(),
        id,
    }
}

/// The outputs of `node`: its chained successors and the record writers of its job edges, and
/// the writers of the side outputs other vertices read.
fn build_outputs(
    d: &TaskDeployment,
    vertex: &JobVertex,
    node: usize,
    cancelled: &Arc<AtomicBool>,
) -> Result<(AnyBox, SideOutputs), String> {
    let graph = &d.user_code;
    let mut outputs = Vec::new();
    let mut side_outputs = Vec::new();
    for (i, edge) in graph
        .edges
        .iter()
        .enumerate()
        .filter(|(_, e)| e.source == node)
    {
        if vertex.operators.iter().any(|o| o.node == edge.target) {
            let (successor, successor_side) = build_outputs(d, vertex, edge.target, cancelled)?;
            let target = &graph.nodes[edge.target];
            match &target.invokable {
                Invokable::OneInput(factory) => {
                    let op = operator_info(vertex, graph, edge.target);
                    outputs.push(factory.create(&op, successor, successor_side)?)
                }
                _ => {
                    return Err(format!(
                        "internal error: operator '{}' cannot be chained",
                        target.name
                    ))
                }
            }
            continue;
        }
        let job_edge = d
            .job
            .edges
            .iter()
            .find(|je| je.stream_edge == i)
            .ok_or_else(|| format!("internal error: stream edge {i} has no job edge"))?;
        let target = &d.job.vertices[job_edge.target_vertex];
        let consumers = connected_consumers(
            d.subtask,
            vertex.parallelism,
            target.parallelism,
            job_edge.partitioner.is_pointwise(),
        );
        let channels = consumers
            .map(|consumer| {
                let id = ChannelId {
                    edge: job_edge.id,
                    producer: d.subtask,
                    consumer,
                };
                d.channels
                    .take_sender(id)
                    .map(|s| ChannelSender::new(s, cancelled.clone()))
                    .ok_or_else(|| format!("internal error: channel {id:?} was already connected"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ctx = WriterContext {
            name: format!("{} -> {}", graph.nodes[node].name, target.name),
            channels,
            kind: job_edge.partitioner,
            subtask_index: d.subtask,
            max_parallelism: target.max_parallelism,
        };
        match &edge.side_output {
            Some(tag) => side_outputs.push(edge.writer.create_side(tag, ctx)),
            None => outputs.push(edge.writer.create(ctx)),
        }
    }
    let main = graph.nodes[node].invokable.outputs().fan_out(outputs)?;
    Ok((main, SideOutputs::new(side_outputs)))
}

fn build_gate(
    d: &TaskDeployment,
    vertex: &JobVertex,
    control: Receiver<TaskControl>,
) -> Result<InputGate, TaskError> {
    let mut channels = Vec::new();
    for edge in d.job.edges.iter().filter(|e| e.target_vertex == vertex.id) {
        let producers = d.job.vertices[edge.source_vertex].parallelism;
        for producer in connected_producers(
            d.subtask,
            producers,
            vertex.parallelism,
            edge.partitioner.is_pointwise(),
        ) {
            let id = ChannelId {
                edge: edge.id,
                producer,
                consumer: d.subtask,
            };
            let receiver = d.channels.take_receiver(id).ok_or_else(|| {
                TaskError::operator(
                    &vertex.name,
                    format!("internal error: channel {id:?} was already connected"),
                )
            })?;
            channels.push(InputChannel {
                input: edge.input,
                receiver,
            });
        }
    }
    Ok(InputGate::new(
        channels,
        vertex.num_inputs,
        control,
        d.settings.checkpointing_mode,
    ))
}

fn run_head(
    head: Head,
    ctx: &RuntimeContext,
    settings: &TaskSettings,
    cancelled: &AtomicBool,
    checkpointer: &mut SubtaskCheckpointer,
    ending: Ending,
) -> Result<(), TaskError> {
    let flush_every = match settings.runtime_mode {
        RuntimeExecutionMode::Batch => None,
        _ => settings.buffer_timeout,
    };
    match head {
        Head::Source(mut driver, control) => {
            let result = driver.open(ctx).and_then(|_| {
                run_source(
                    driver.as_mut(),
                    &control,
                    flush_every,
                    cancelled,
                    checkpointer,
                    ending,
                )
            });
            let closed = driver.close();
            result.and(closed)
        }
        Head::Input(mut head, mut gate) => {
            let result = head.open(ctx).and_then(|_| {
                run_input(head.as_mut(), &mut gate, flush_every, checkpointer, ending)
            });
            let closed = head.close();
            result.and(closed)
        }
    }
}

/// When to flush output buffers and fire processing-time timers.
struct Timing {
    flush_every: Option<Duration>,
    last_flush: Instant,
}

impl Timing {
    fn new(flush_every: Option<Duration>) -> Self {
        Timing {
            flush_every,
            last_flush: Instant::now(),
        }
    }

    /// How long the task may wait for input before something is due.
    fn wait(&self, deadline: Option<i64>) -> Duration {
        let flush = self
            .flush_every
            .map(|every| every.saturating_sub(self.last_flush.elapsed()))
            .unwrap_or(Duration::from_millis(200));
        let timer = deadline
            .map(|d| Duration::from_millis((d - processing_time_now()).max(0) as u64))
            .unwrap_or(Duration::MAX);
        flush.min(timer).max(Duration::from_millis(1))
    }

    /// Fires due processing-time timers and flushes on the buffer timeout.
    fn tick(
        &mut self,
        deadline: Option<i64>,
        mut event: impl FnMut(ChainEvent) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if let Some(deadline) = deadline {
            let now = processing_time_now();
            if now >= deadline {
                event(ChainEvent::ProcessingTime(now))?;
            }
        }
        if let Some(every) = self.flush_every {
            if self.last_flush.elapsed() >= every {
                event(ChainEvent::Flush)?;
                self.last_flush = Instant::now();
            }
        }
        Ok(())
    }
}

/// Whether a task whose data ended must wait for the final checkpoint before it finishes.
#[derive(Debug, Clone, Copy)]
struct Ending {
    /// Streaming with checkpointing (and `checkpoints-after-tasks-finish` on), and not
    /// restored from the final checkpoint.
    awaits_final: bool,
    /// Restored from the final checkpoint or stop-with-savepoint, which already holds this
    /// task's final state: a source reads nothing more, and the task finishes at once.
    restored_final: bool,
    /// The final checkpoint completed.
    final_done: bool,
}

impl Ending {
    fn of(d: &TaskDeployment) -> Self {
        let checkpointed = d
            .job
            .checkpointing
            .as_ref()
            .is_some_and(|c| c.final_checkpoint);
        let restored_final = d.restore.as_ref().is_some_and(|r| r.finished_on_restore);
        Ending {
            awaits_final: checkpointed && !restored_final,
            restored_final,
            final_done: false,
        }
    }

    fn may_finish(&self) -> bool {
        !self.awaits_final || self.final_done
    }
}

/// Where a source task is on its way to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourcePhase {
    Reading,
    /// A stop-with-savepoint without drain: nothing is read until the savepoint completes
    /// (the task ends) or is abandoned (reading resumes).
    Stopping(u64),
    /// The data ended: the reader is exhausted, or was drained for the stop-with-savepoint
    /// whose id this holds.
    Ended(Option<u64>),
}

/// The source's data ended: the chain finishes (max watermark, end of input, end of data on
/// the channels) and the job master hears of it.
fn end_source_data(
    driver: &mut dyn SourceDriver,
    checkpointer: &mut SubtaskCheckpointer,
) -> Result<(), TaskError> {
    driver.end_input()?;
    checkpointer.end_of_data();
    Ok(())
}

fn run_source(
    driver: &mut dyn SourceDriver,
    control: &Receiver<TaskControl>,
    flush_every: Option<Duration>,
    cancelled: &AtomicBool,
    checkpointer: &mut SubtaskCheckpointer,
    mut ending: Ending,
) -> Result<(), TaskError> {
    use SourcePhase::{Ended, Reading, Stopping};
    if ending.restored_final {
        // Its output was committed before the failure: end as a stopped source does.
        driver.event(ChainEvent::EndOfInput)?;
        return driver.event(ChainEvent::EndOfPartition);
    }
    let mut timing = Timing::new(flush_every);
    let mut phase = Reading;
    loop {
        if cancelled.load(Ordering::Relaxed) {
            return Err(TaskError::Cancelled);
        }
        if phase == Ended(None) && ending.may_finish() {
            break;
        }
        let message = match phase {
            Reading => control.try_recv().ok(),
            Stopping(_) => {
                // Waiting for the savepoint to complete: flush, read nothing new.
                driver.event(ChainEvent::Flush)?;
                control.recv_timeout(Duration::from_millis(10)).ok()
            }
            Ended(_) => control.recv_timeout(Duration::from_millis(50)).ok(),
        };
        if let Some(message) = message {
            match message {
                TaskControl::Cancel => return Err(TaskError::Cancelled),
                TaskControl::TriggerCheckpoint(barrier) => {
                    if let SnapshotType::Terminate { drain } = barrier.kind {
                        // Draining ends the data before the savepoint (as Flink does), so
                        // what the drain emits is in it and committed by it.
                        phase = match phase {
                            Reading if drain => {
                                end_source_data(driver, checkpointer)?;
                                Ended(Some(barrier.id))
                            }
                            Reading | Stopping(_) => Stopping(barrier.id),
                            Ended(_) => Ended(Some(barrier.id)),
                        };
                    }
                    checkpointer.checkpoint(barrier, |e| driver.event(e))?;
                }
                TaskControl::NotifyCheckpointComplete(id) => {
                    driver.event(ChainEvent::CheckpointComplete(id))?
                }
                TaskControl::NotifyFinalCheckpointComplete(id) => {
                    driver.event(ChainEvent::CheckpointComplete(id))?;
                    ending.final_done = true;
                    match phase {
                        // Stopped without draining: downstream ends without a max watermark.
                        Stopping(_) => {
                            driver.event(ChainEvent::EndOfInput)?;
                            break;
                        }
                        Ended(_) => break,
                        // Not sent before every source's data ended; nothing to do early.
                        Reading => {}
                    }
                }
                TaskControl::NotifyCheckpointAborted(id) => {
                    driver.event(ChainEvent::CheckpointAborted(id))?;
                    phase = match phase {
                        Stopping(s) if s == id => Reading,
                        // The drain happened: the job ends with the final checkpoint instead.
                        Ended(Some(s)) if s == id => Ended(None),
                        other => other,
                    };
                }
            }
            continue;
        }
        if phase != Reading {
            continue;
        }
        match driver.poll()? {
            InputStatus::EndOfInput => {
                end_source_data(driver, checkpointer)?;
                phase = Ended(None);
                continue;
            }
            InputStatus::NothingAvailable => {
                driver.event(ChainEvent::Flush)?;
                timing.last_flush = Instant::now();
            }
            InputStatus::MoreAvailable => {}
        }
        let deadline = driver.next_deadline();
        timing.tick(deadline, |e| driver.event(e))?;
    }
    driver.event(ChainEvent::EndOfPartition)
}

fn run_input(
    head: &mut dyn HeadInput,
    gate: &mut InputGate,
    flush_every: Option<Duration>,
    checkpointer: &mut SubtaskCheckpointer,
    mut ending: Ending,
) -> Result<(), TaskError> {
    for input in gate.inputs_without_channels() {
        head.end_input(input)?;
    }
    let mut timing = Timing::new(flush_every);
    let mut data_ended = false;
    loop {
        if !data_ended && gate.data_ended() {
            data_ended = true;
            checkpointer.end_of_data();
        }
        // Upstream closes its channels only after the final checkpoint, whose notification
        // may still be on its way here.
        if gate.is_finished() && ending.may_finish() {
            break;
        }
        match gate.next(timing.wait(head.next_deadline()))? {
            GateEvent::Records { input, buffer } => head.push_buffer(input, &buffer)?,
            GateEvent::Watermark(wm) => head.event(ChainEvent::Watermark(wm))?,
            GateEvent::WatermarkStatus { idle } => {
                head.event(ChainEvent::WatermarkStatus { idle })?
            }
            GateEvent::InputEnded { input } => head.end_input(input)?,
            GateEvent::Timeout => {}
            GateEvent::Barrier(barrier) => checkpointer.checkpoint(barrier, |e| head.event(e))?,
            GateEvent::CheckpointAborted(id) => {
                checkpointer.decline(id, format!("checkpoint {id} was abandoned upstream"))
            }
            GateEvent::Control(TaskControl::Cancel) => return Err(TaskError::Cancelled),
            GateEvent::Control(TaskControl::NotifyCheckpointComplete(id)) => {
                head.event(ChainEvent::CheckpointComplete(id))?
            }
            GateEvent::Control(TaskControl::NotifyFinalCheckpointComplete(id)) => {
                head.event(ChainEvent::CheckpointComplete(id))?;
                ending.final_done = true;
            }
            GateEvent::Control(TaskControl::NotifyCheckpointAborted(id)) => {
                head.event(ChainEvent::CheckpointAborted(id))?
            }
            GateEvent::Control(TaskControl::TriggerCheckpoint(barrier)) => checkpointer.decline(
                barrier.id,
                "only sources are triggered; other tasks take checkpoints at barriers".into(),
            ),
        }
        // A finished chain fires no more timers (Flink quiesces them at the end of input).
        if !data_ended {
            let deadline = head.next_deadline();
            timing.tick(deadline, |e| head.event(e))?;
        }
    }
    head.event(ChainEvent::EndOfPartition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointwise_wiring_matches_flink() {
        // Equal parallelism: one-to-one.
        assert_eq!(connected_consumers(1, 3, 3, true), 1..2);
        // 4 producers into 2 consumers: two producers each.
        assert_eq!(connected_consumers(0, 4, 2, true), 0..1);
        assert_eq!(connected_consumers(1, 4, 2, true), 0..1);
        assert_eq!(connected_consumers(3, 4, 2, true), 1..2);
        // 2 producers into 4 consumers (rescale): two consumers each.
        assert_eq!(connected_consumers(0, 2, 4, true), 0..2);
        assert_eq!(connected_consumers(1, 2, 4, true), 2..4);
        assert_eq!(connected_producers(3, 2, 4, true), vec![1]);
        // All-to-all.
        assert_eq!(connected_consumers(0, 2, 3, false), 0..3);
        assert_eq!(connected_producers(2, 2, 3, false), vec![0, 1]);
    }

    #[test]
    fn every_consumer_of_a_pointwise_edge_has_a_producer() {
        for p in 1..7 {
            for c in 1..7 {
                for consumer in 0..c {
                    assert!(
                        !connected_producers(consumer, p, c, true).is_empty(),
                        "{p} -> {c}: consumer {consumer}"
                    );
                }
            }
        }
    }
}
