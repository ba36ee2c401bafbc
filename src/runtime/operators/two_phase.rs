//! Two-phase-commit sinks (Flink's `TwoPhaseCommitSinkFunction`): end-to-end exactly-once
//! output on top of checkpoints.
//!
//! Records go into an open *transaction*. At a checkpoint barrier the operator pre-commits it
//! (makes its data durable but not yet visible), keeps it as *pending* for that checkpoint,
//! stores every pending transaction in the checkpoint, and begins a new one. Only when the
//! coordinator reports the checkpoint complete are the pending transactions committed (made
//! visible). After a failure the job restarts from the last completed checkpoint: the pending
//! transactions stored in it are committed again (commits are idempotent, the notification may
//! have been lost), and the transaction that was open at that checkpoint is aborted, because
//! the records it held are replayed by the sources.
//!
//! At the end of a bounded input the open transaction is the last one. With checkpointing a
//! final checkpoint follows (see `crate::runtime::task`): its barrier pre-commits that
//! transaction and its completion commits it, exactly like any other, so a failure before
//! the job ends cannot publish the tail twice. Without checkpointing nothing will ever replay
//! the input, so the last transaction is committed at once.
//!
//! The transactions live in operator state with [`OperatorStateMode::Split`]: each subtask's
//! entry (its pending transactions and its open one, together) goes to exactly one subtask
//! after a restore at any parallelism, so no transaction is lost and none is committed twice.
//! `Union` would hand every entry to every subtask (each pending transaction committed once
//! per subtask, concurrently), `Broadcast` would keep only subtask 0's.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::functions::RuntimeContext;
use crate::checkpoint::{CheckpointBarrier, OperatorStateMode, OperatorStateSnapshot};
use crate::graph::stream_graph::OperatorInfo;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, ChainEvent, Output, TaskError};
use crate::state::{OperatorSnapshotFutures, TaskStateManager};

/// The operator state holding the transactions (one element per subtask).
pub const TRANSACTION_STATE: &str = "two-phase-commit-transactions";

/// Named operator state lists a sink keeps besides its transactions (e.g. part counters).
pub type ExtraState = Vec<(String, OperatorStateMode, Vec<Vec<u8>>)>;

/// A sink that writes into transactions and commits them when a checkpoint completes.
///
/// `commit` may run more than once for the same transaction (after a failure the restored
/// pending transactions are committed again), so it must be idempotent; `abort` must tolerate
/// a transaction whose data is partly or wholly gone.
pub trait TwoPhaseCommitSink<T>: Send + 'static {
    /// What a transaction is: a handle serialisable into the checkpoint (file names, a
    /// transaction id of an external system), not the open resources themselves.
    type Transaction: Serialize + DeserializeOwned + Send;

    /// Shown in plans as `Sink: <name>`.
    fn name(&self) -> String {
        "Unnamed".into()
    }

    /// Sets up per-subtask resources (connections, the file system).
    fn open(&mut self, _ctx: &RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }

    /// Restores the sink's own state (see [`TwoPhaseCommitSink::snapshot_state`]); called
    /// after `open`, with this subtask's share of the restored operator state (the
    /// transactions are handled by the operator), or `None` on a fresh start.
    fn initialize_state(
        &mut self,
        _restored: Option<&OperatorStateSnapshot>,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    /// The sink's own operator state at a checkpoint, taken after the new transaction began.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> anyhow::Result<ExtraState> {
        Ok(Vec::new())
    }

    /// Starts a new transaction.
    fn begin_transaction(&mut self) -> anyhow::Result<Self::Transaction>;

    /// Writes one record into `txn`.
    fn invoke(&mut self, txn: &mut Self::Transaction, value: T) -> anyhow::Result<()>;

    /// Makes everything written into `txn` durable, ready to be committed; nothing more is
    /// written into it afterwards.
    fn pre_commit(&mut self, txn: &mut Self::Transaction) -> anyhow::Result<()>;

    /// Makes a pre-committed transaction visible. Idempotent.
    fn commit(&mut self, txn: &Self::Transaction) -> anyhow::Result<()>;

    /// Discards a transaction and whatever it wrote.
    fn abort(&mut self, txn: &Self::Transaction) -> anyhow::Result<()>;

    /// Commits a pending transaction restored from a checkpoint (possibly committed already).
    fn recover_and_commit(&mut self, txn: &Self::Transaction) -> anyhow::Result<()> {
        self.commit(txn)
    }

    /// Discards the transaction that was open at the restored checkpoint, and whatever was
    /// written after it by the failed attempt.
    fn recover_and_abort(&mut self, txn: &Self::Transaction) -> anyhow::Result<()> {
        self.abort(txn)
    }

    /// Processing time reached `now` (ms): time-based work such as rolling files.
    fn on_processing_time(
        &mut self,
        _txn: &mut Self::Transaction,
        _now: i64,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    /// When [`TwoPhaseCommitSink::on_processing_time`] next has work to do (ms).
    fn next_deadline(&self) -> Option<i64> {
        None
    }

    /// Releases resources; the operator has already aborted or committed every transaction
    /// it was responsible for.
    fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// One subtask's transactions in a checkpoint (Flink's `TwoPhaseCommitSinkFunction.State`).
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "X: Serialize", deserialize = "X: DeserializeOwned"))]
struct TransactionState<X> {
    /// Pre-committed transactions by the checkpoint that pre-committed them, oldest first.
    pending: Vec<(u64, X)>,
    /// The transaction begun at the barrier: aborted on restore.
    open: Option<X>,
}

/// The sink operator for a [`TwoPhaseCommitSink`].
pub struct TwoPhaseCommitSinkOperator<S: TwoPhaseCommitSink<T>, T> {
    name: String,
    operator_id: String,
    sink: S,
    current: Option<S::Transaction>,
    /// Pre-committed transactions awaiting their checkpoint's completion, oldest first.
    pending: Vec<(u64, S::Transaction)>,
    state: Option<Arc<TaskStateManager>>,
    /// A final checkpoint follows the end of the input (it commits the last transaction).
    final_checkpoint: bool,
    /// Set once the input ended: no transaction begins any more.
    finished: bool,
    _records: std::marker::PhantomData<fn(T)>,
}

fn encode<X: Serialize>(value: &X, what: &str) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| format!("could not encode {what}: {e}"))
}

fn decode<X: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<X, String> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|e| format!("could not decode {what}: {e}"))
}

impl<T: Send + 'static, S: TwoPhaseCommitSink<T>> TwoPhaseCommitSinkOperator<S, T> {
    pub fn new(op: OperatorInfo, sink: S) -> Self {
        TwoPhaseCommitSinkOperator {
            name: op.name,
            operator_id: op.id,
            sink,
            current: None,
            pending: Vec::new(),
            state: None,
            final_checkpoint: false,
            finished: false,
            _records: std::marker::PhantomData,
        }
    }

    /// The sink (tests inspect it).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Transactions pre-committed and not yet committed, with their checkpoint ids.
    pub fn pending_checkpoints(&self) -> Vec<u64> {
        self.pending.iter().map(|(id, _)| *id).collect()
    }

    fn fail(&self, message: impl Into<String>) -> TaskError {
        TaskError::operator(&self.name, message)
    }

    /// Opens the sink with the task's state manager `state`: restores and recovers the
    /// transactions of the checkpoint restored from, then begins the first transaction.
    /// [`Output::open`] calls this with the state manager of `ctx`.
    pub fn open_with_state(
        &mut self,
        ctx: &RuntimeContext,
        state: Arc<TaskStateManager>,
    ) -> Result<(), TaskError> {
        let restored = state
            .restored(&self.operator_id)
            .map(|r| r.operator.clone());
        self.state = Some(state);
        self.final_checkpoint = ctx.final_checkpoint_follows();
        let sink = &mut self.sink;
        guarded(&self.name, || sink.open(ctx))?;
        guarded(&self.name, || sink.initialize_state(restored.as_ref()))?;
        if let Some(restored) = &restored {
            self.recover(restored)?;
        }
        let sink = &mut self.sink;
        self.current = Some(guarded(&self.name, || sink.begin_transaction())?);
        Ok(())
    }

    /// Commits every restored pending transaction (oldest first), then aborts the restored
    /// open ones: commit first, so the abort's clean-up never touches committed data.
    fn recover(&mut self, restored: &OperatorStateSnapshot) -> Result<(), TaskError> {
        let mut opens = Vec::new();
        let mut pendings = Vec::new();
        for (name, _, elements) in &restored.states {
            if name != TRANSACTION_STATE {
                continue;
            }
            for bytes in elements {
                let state: TransactionState<S::Transaction> =
                    decode(bytes, "the restored transactions").map_err(|e| self.fail(e))?;
                pendings.extend(state.pending);
                opens.extend(state.open);
            }
        }
        pendings.sort_by_key(|(id, _)| *id);
        let sink = &mut self.sink;
        for (_, txn) in &pendings {
            guarded(&self.name, || sink.recover_and_commit(txn))?;
        }
        for txn in &opens {
            guarded(&self.name, || sink.recover_and_abort(txn))?;
        }
        Ok(())
    }

    /// Pre-commits the open transaction for `barrier`, begins the next and snapshots all.
    fn on_barrier(&mut self, barrier: &CheckpointBarrier) -> Result<(), TaskError> {
        if let Some(mut txn) = self.current.take() {
            let sink = &mut self.sink;
            guarded(&self.name, || sink.pre_commit(&mut txn))?;
            self.pending.push((barrier.id, txn));
            if !self.finished {
                self.current = Some(guarded(&self.name, || sink.begin_transaction())?);
            }
        }
        let element = encode(
            &TransactionState {
                pending: self
                    .pending
                    .iter()
                    .map(|(id, txn)| (*id, txn))
                    .collect::<Vec<_>>(),
                open: self.current.as_ref(),
            },
            "the sink's transactions",
        )
        .map_err(|e| self.fail(e))?;
        let sink = &mut self.sink;
        let extra = guarded(&self.name, || sink.snapshot_state(barrier.id))?;
        let mut states = vec![(
            TRANSACTION_STATE.to_string(),
            OperatorStateMode::Split,
            vec![serde_bytes::ByteBuf::from(element)],
        )];
        states.extend(extra.into_iter().map(|(name, mode, elements)| {
            (
                name,
                mode,
                elements
                    .into_iter()
                    .map(serde_bytes::ByteBuf::from)
                    .collect(),
            )
        }));
        if let Some(state) = &self.state {
            state.add_snapshot(
                &self.operator_id,
                OperatorSnapshotFutures {
                    operator: OperatorStateSnapshot { states },
                    ..Default::default()
                },
            );
        }
        Ok(())
    }

    /// Commits the pending transactions of checkpoints up to `checkpoint_id`, in order. A
    /// transaction leaves the pending list only once its commit succeeded.
    fn commit_up_to(&mut self, checkpoint_id: u64) -> Result<(), TaskError> {
        while let Some((id, txn)) = self.pending.first() {
            if *id > checkpoint_id {
                break;
            }
            let sink = &mut self.sink;
            guarded(&self.name, || sink.commit(txn))?;
            self.pending.remove(0);
        }
        Ok(())
    }

    /// Bounded input ended. The open transaction is the last: with a final checkpoint coming
    /// it stays open for that checkpoint's barrier; without, it is committed now.
    fn on_end_of_input(&mut self) -> Result<(), TaskError> {
        self.finished = true;
        if self.final_checkpoint {
            return Ok(());
        }
        if let Some(mut txn) = self.current.take() {
            let sink = &mut self.sink;
            guarded(&self.name, || sink.pre_commit(&mut txn))?;
            self.pending.push((u64::MAX, txn));
        }
        self.commit_up_to(u64::MAX)
    }
}

impl<T: Send + 'static, S: TwoPhaseCommitSink<T>> Output<T> for TwoPhaseCommitSinkOperator<S, T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.open_with_state(ctx, ctx.state_manager().clone())
    }

    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        batch.timestamps.clear();
        let Some(txn) = self.current.as_mut().filter(|_| !self.finished) else {
            batch.records.clear();
            return Err(TaskError::operator(
                &self.name,
                "a record arrived after the end of the input",
            ));
        };
        let sink = &mut self.sink;
        let records = &mut batch.records;
        guarded(&self.name, || {
            records
                .drain(..)
                .try_for_each(|record| sink.invoke(txn, record))
        })
    }

    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        match event {
            ChainEvent::Barrier(barrier) => self.on_barrier(&barrier),
            ChainEvent::CheckpointComplete(id) => self.commit_up_to(id),
            // The pending transactions stay: the next completed checkpoint commits them.
            ChainEvent::CheckpointAborted(_) => Ok(()),
            ChainEvent::EndOfInput => self.on_end_of_input(),
            ChainEvent::ProcessingTime(now) => match self.current.as_mut() {
                Some(txn) => {
                    let sink = &mut self.sink;
                    guarded(&self.name, || sink.on_processing_time(txn, now))
                }
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn next_deadline(&self) -> Option<i64> {
        self.current.as_ref().and(self.sink.next_deadline())
    }

    /// After a failure the open transaction is aborted; pending ones stay for the recovery
    /// (they may belong to a checkpoint that completed).
    fn close(&mut self) -> Result<(), TaskError> {
        let aborted = match self.current.take() {
            Some(txn) => {
                let sink = &mut self.sink;
                guarded(&self.name, || sink.abort(&txn))
            }
            None => Ok(()),
        };
        let sink = &mut self.sink;
        let closed = guarded(&self.name, || sink.close());
        aborted.and(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::SnapshotType;
    use crate::state::{RestoredOperatorState, StateBackendSettings, TaskRestore};
    use std::sync::Mutex;

    /// A sink whose "external system" is a shared log of what happened to each transaction.
    #[derive(Clone, Default)]
    struct Recording {
        log: Arc<Mutex<Vec<String>>>,
        next: u32,
    }

    impl Recording {
        fn log(&self, entry: String) {
            self.log.lock().unwrap().push(entry);
        }
        fn entries(&self) -> Vec<String> {
            std::mem::take(&mut *self.log.lock().unwrap())
        }
    }

    impl TwoPhaseCommitSink<u32> for Recording {
        type Transaction = (u32, Vec<u32>);
        fn begin_transaction(&mut self) -> anyhow::Result<Self::Transaction> {
            self.next += 1;
            Ok((self.next, Vec::new()))
        }
        fn invoke(&mut self, txn: &mut Self::Transaction, value: u32) -> anyhow::Result<()> {
            txn.1.push(value);
            Ok(())
        }
        fn pre_commit(&mut self, txn: &mut Self::Transaction) -> anyhow::Result<()> {
            self.log(format!("pre-commit {} {:?}", txn.0, txn.1));
            Ok(())
        }
        fn commit(&mut self, txn: &Self::Transaction) -> anyhow::Result<()> {
            self.log(format!("commit {} {:?}", txn.0, txn.1));
            Ok(())
        }
        fn abort(&mut self, txn: &Self::Transaction) -> anyhow::Result<()> {
            self.log(format!("abort {} {:?}", txn.0, txn.1));
            Ok(())
        }
    }

    fn barrier(id: u64) -> ChainEvent {
        ChainEvent::Barrier(CheckpointBarrier {
            id,
            timestamp: 0,
            kind: SnapshotType::Checkpoint,
            target: None,
        })
    }

    type TestOperator = TwoPhaseCommitSinkOperator<Recording, u32>;

    /// An opened operator around `sink` and the state manager its snapshots go to.
    fn started(sink: &Recording, state: TaskStateManager) -> (TestOperator, Arc<TaskStateManager>) {
        started_in(&RuntimeContext::for_test(0, 1), sink, state)
    }

    fn started_in(
        ctx: &RuntimeContext,
        sink: &Recording,
        state: TaskStateManager,
    ) -> (TestOperator, Arc<TaskStateManager>) {
        let mut op = TwoPhaseCommitSinkOperator::new(
            OperatorInfo {
                name: "Sink: test".into(),
                id: "op".into(),
            },
            sink.clone(),
        );
        let state = Arc::new(state);
        op.open_with_state(ctx, state.clone()).unwrap();
        (op, state)
    }

    fn push(op: &mut TestOperator, values: &[u32]) {
        let mut batch = Batch::new();
        for v in values {
            batch.push(*v, None);
        }
        op.push(&mut batch).unwrap();
    }

    #[test]
    fn transactions_commit_only_when_their_checkpoint_completes_and_survive_aborts() {
        let sink = Recording::default();
        let (mut op, state) = started(&sink, TaskStateManager::default());
        push(&mut op, &[1, 2]);
        op.event(barrier(1)).unwrap();
        push(&mut op, &[3]);
        op.event(barrier(2)).unwrap();
        assert_eq!(sink.entries(), ["pre-commit 1 [1, 2]", "pre-commit 2 [3]"]);
        op.event(ChainEvent::CheckpointAborted(1)).unwrap();
        assert_eq!(op.pending_checkpoints(), [1, 2]);
        op.event(ChainEvent::CheckpointComplete(2)).unwrap();
        assert_eq!(sink.entries(), ["commit 1 [1, 2]", "commit 2 [3]"]);
        assert_eq!(state.take_snapshots().len(), 2);
    }

    #[test]
    fn a_restore_commits_pending_transactions_and_aborts_the_open_one() {
        let sink = Recording::default();
        let (mut op, state) = started(&sink, TaskStateManager::default());
        push(&mut op, &[7]);
        op.event(barrier(4)).unwrap();
        push(&mut op, &[8]);
        let (_, snapshot) = state.take_snapshots().pop().unwrap();
        // The task fails before checkpoint 4's completion reaches the sink.
        op.close().unwrap();
        assert_eq!(sink.entries(), ["pre-commit 1 [7]", "abort 2 [8]"]);

        let restore = TaskRestore {
            checkpoint_id: 4,
            base: String::new(),
            operators: [(
                "op".to_string(),
                RestoredOperatorState {
                    operator: snapshot.operator,
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        };
        started(
            &sink,
            TaskStateManager::new(Some(restore), StateBackendSettings::default()),
        );
        assert_eq!(sink.entries(), ["commit 1 [7]", "abort 2 []"]);
    }

    #[test]
    fn the_end_of_input_commits_everything() {
        let sink = Recording::default();
        let (mut op, _) = started(&sink, TaskStateManager::default());
        push(&mut op, &[1]);
        op.event(barrier(1)).unwrap();
        push(&mut op, &[2]);
        op.event(ChainEvent::EndOfInput).unwrap();
        op.close().unwrap();
        assert_eq!(
            sink.entries(),
            [
                "pre-commit 1 [1]",
                "pre-commit 2 [2]",
                "commit 1 [1]",
                "commit 2 [2]"
            ]
        );
    }

    #[test]
    fn with_checkpointing_the_last_transaction_is_committed_by_the_final_checkpoint() {
        let sink = Recording::default();
        let mut ctx = RuntimeContext::for_test(0, 1);
        ctx.final_checkpoint = true;
        let (mut op, _) = started_in(&ctx, &sink, TaskStateManager::default());
        push(&mut op, &[1]);
        op.event(ChainEvent::EndOfInput).unwrap();
        assert!(
            sink.entries().is_empty(),
            "nothing is published at the end of the input: a failure now replays it"
        );
        let mut late = Batch::new();
        late.push(9, None);
        assert!(
            op.push(&mut late).is_err(),
            "no record after the end of input"
        );
        op.event(barrier(5)).unwrap();
        assert_eq!(sink.entries(), ["pre-commit 1 [1]"]);
        op.event(ChainEvent::CheckpointComplete(5)).unwrap();
        op.close().unwrap();
        assert_eq!(
            sink.entries(),
            ["commit 1 [1]"],
            "no transaction begins after the last one, so none is aborted"
        );
    }
}
