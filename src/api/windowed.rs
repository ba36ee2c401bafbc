//! `WindowedStream`: `key_by(..).window(assigner)` (and `window_all`, `count_window`) with an
//! optional trigger, evictor, allowed lateness and late-data side output, finished by a window
//! function (`reduce`, `aggregate`, `process`, or reduce/aggregate combined with `process`).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::datastream::{DataStream, KeyedStream};
use super::functions::{Closure, Collector, ReduceFunction};
use super::process::OutputTag;
use super::window::*;
use crate::runtime::operators::factory::Record;
use crate::runtime::operators::panes::PaneWindowOperator;
use crate::runtime::operators::window::{
    AggregateContents, ListContents, PassThroughWindow, ReduceContents, WindowContents,
    WindowOperator, WindowSpec,
};

/// A keyed (or, from `window_all`, global) stream cut into windows.
pub struct WindowedStream<T, K> {
    keyed: KeyedStream<T, K>,
    assigner: WindowAssigner<T>,
    trigger: Option<Arc<dyn Trigger<T>>>,
    evictor: Option<Arc<dyn Evictor<T>>>,
    allowed_lateness: i64,
    late_tag: Option<OutputTag<T>>,
    /// `window_all`: one subtask sees every element.
    non_parallel: bool,
}

impl<T: Record, K: crate::state::StateKey> WindowedStream<T, K> {
    pub(crate) fn new(
        keyed: KeyedStream<T, K>,
        assigner: WindowAssigner<T>,
        non_parallel: bool,
    ) -> Self {
        WindowedStream {
            keyed,
            assigner,
            trigger: None,
            evictor: None,
            allowed_lateness: 0,
            late_tag: None,
            non_parallel,
        }
    }

    /// Replaces the assigner's default trigger.
    pub fn trigger(mut self, trigger: impl Trigger<T> + 'static) -> Self {
        self.trigger = Some(Arc::new(trigger));
        self
    }

    /// Removes elements before/after the window function (the window then keeps all elements).
    pub fn evictor(mut self, evictor: impl Evictor<T> + 'static) -> Self {
        self.evictor = Some(Arc::new(evictor));
        self
    }

    /// Keeps windows this long after the watermark passed their end; late elements within it
    /// re-fire the window with an updated result (default 0).
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = lateness.as_millis() as i64;
        self
    }

    /// Sends elements that arrive after the allowed lateness to `tag` instead of dropping them.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late_tag = Some(tag.clone());
        self
    }

    /// Incremental reduce; one result per window firing.
    pub fn reduce<F: FnMut(T, T) -> T + Clone + Send + Sync + 'static>(
        self,
        f: F,
    ) -> DataStream<T> {
        self.reduce_rich(Closure(f))
    }

    pub fn reduce_rich<R: ReduceFunction<T> + Sync>(self, f: R) -> DataStream<T> {
        self.reduce_with(f, PassThroughWindow)
    }

    /// Incremental reduce whose single result per window goes to a process window function.
    pub fn reduce_with<
        O: Record,
        R: ReduceFunction<T> + Sync,
        P: ProcessWindowFunction<K, T, O>,
    >(
        self,
        f: R,
        process: P,
    ) -> DataStream<O> {
        match self.evictor.clone() {
            // With an evictor the elements are kept and reduced when the window fires.
            Some(evictor) => self.build(
                "reduce",
                ListContents {
                    function: ReduceThen(f, process),
                    evictor: Some(evictor),
                },
            ),
            None => self.build("reduce", ReduceContents(f, process)),
        }
    }

    /// Incremental aggregation with an [`AggregateFunction`].
    pub fn aggregate<
        Acc: Clone + crate::state::StateValue,
        R: Record,
        A: AggregateFunction<T, Acc, R>,
    >(
        self,
        aggregate: A,
    ) -> DataStream<R> {
        self.aggregate_with(aggregate, PassThroughWindow)
    }

    /// Incremental aggregation whose result per window goes to a process window function.
    pub fn aggregate_with<
        Acc: Clone + crate::state::StateValue,
        R: Clone + Send + 'static,
        O: Record,
        A: AggregateFunction<T, Acc, R>,
        P: ProcessWindowFunction<K, R, O>,
    >(
        self,
        aggregate: A,
        process: P,
    ) -> DataStream<O> {
        match self.evictor.clone() {
            Some(evictor) => self.build(
                "aggregate",
                ListContents {
                    function: AggregateThen(aggregate, process, PhantomData),
                    evictor: Some(evictor),
                },
            ),
            None => self.build(
                "aggregate",
                AggregateContents(aggregate, process, PhantomData),
            ),
        }
    }

    /// A process window function over all elements of each window.
    pub fn process<O: Record, P: ProcessWindowFunction<K, T, O>>(
        self,
        process: P,
    ) -> DataStream<O> {
        let evictor = self.evictor.clone();
        self.build(
            "process",
            ListContents {
                function: process,
                evictor,
            },
        )
    }

    /// Like `process`, with a closure `(key, context, elements, out)`.
    pub fn apply<O: Record, F>(self, f: F) -> DataStream<O>
    where
        F: FnMut(&K, &mut WindowContext, &[T], &mut Collector<O>) + Clone + Send + Sync + 'static,
    {
        self.process(WindowClosure(f))
    }

    fn build<O: Record, C: WindowContents<K, T, O>>(
        self,
        function: &str,
        contents: C,
    ) -> DataStream<O> {
        let env = self.keyed.stream_ref().execution_environment().clone();
        if let Err(e) = self.assigner.validate() {
            env.record_error(e);
        }
        let has_custom_trigger = self.trigger.is_some();
        let trigger: Arc<dyn Trigger<T>> = match self.trigger.clone() {
            Some(t) => t,
            None => match (&self.assigner, self.assigner.is_event_time()) {
                (WindowAssigner::Global, _) => Arc::new(NeverTrigger),
                (_, true) => Arc::new(EventTimeTrigger),
                (_, false) => Arc::new(ProcessingTimeTrigger),
            },
        };
        if self.assigner.is_merging() && !trigger.can_merge() {
            env.record_error(
                "session windows need a trigger that supports merging (this one does not)".into(),
            );
        }
        let selector = self.keyed.selector();
        let stream = self.keyed.stream_ref();
        // Sliding (and tumbling = sliding by its size) event-time windows with the default
        // trigger and no evictor or lateness run on panes: one update per element.
        let panes = match &self.assigner {
            WindowAssigner::Sliding {
                size,
                slide,
                offset,
                event_time: true,
            } => Some((*size, *slide, *offset)),
            WindowAssigner::Tumbling {
                size,
                offset,
                event_time: true,
            } => Some((*size, *size, *offset)),
            _ => None,
        };
        if let (Some((size, slide, offset)), false, None, 0) = (
            panes,
            has_custom_trigger,
            &self.evictor,
            self.allowed_lateness,
        ) {
            let late_tag = self.late_tag.clone();
            let name = format!("Window({function}, panes)");
            return stream.add_windowed(&name, self.non_parallel, move |op, next, side| {
                Box::new(PaneWindowOperator::new(
                    op,
                    selector.clone(),
                    size,
                    slide,
                    offset,
                    late_tag.clone(),
                    contents.clone(),
                    next,
                    side,
                ))
            });
        }
        let spec = WindowSpec {
            assigner: self.assigner,
            trigger,
            allowed_lateness: self.allowed_lateness,
            late_tag: self.late_tag,
        };
        let name = format!(
            "{}({})",
            if self.non_parallel {
                "AllWindow"
            } else {
                "Window"
            },
            function
        );
        stream.add_windowed(&name, self.non_parallel, move |op, next, side| {
            Box::new(WindowOperator::new(
                op,
                selector.clone(),
                spec.clone(),
                contents.clone(),
                next,
                side,
            ))
        })
    }
}

/// Reduces the kept elements when the window fires (reduce with an evictor).
#[derive(Clone)]
struct ReduceThen<R, P>(R, P);

impl<
        K,
        T: Clone + Send + 'static,
        O,
        R: ReduceFunction<T> + Sync,
        P: ProcessWindowFunction<K, T, O>,
    > ProcessWindowFunction<K, T, O> for ReduceThen<R, P>
{
    fn open(&mut self, ctx: &super::functions::RuntimeContext) -> anyhow::Result<()> {
        self.1.open(ctx)
    }
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        elements: &[T],
        out: &mut Collector<O>,
    ) -> anyhow::Result<()> {
        let mut iter = elements.iter().cloned();
        let Some(first) = iter.next() else {
            return Ok(());
        };
        let reduced = iter.try_fold(first, |acc, v| self.0.reduce(acc, v))?;
        self.1
            .process(key, ctx, std::slice::from_ref(&reduced), out)
    }
}

/// Aggregates the kept elements when the window fires (aggregate with an evictor).
struct AggregateThen<A, P, Acc, R>(A, P, PhantomData<fn() -> (Acc, R)>);

impl<A: Clone, P: Clone, Acc, R> Clone for AggregateThen<A, P, Acc, R> {
    fn clone(&self) -> Self {
        AggregateThen(self.0.clone(), self.1.clone(), PhantomData)
    }
}

impl<
        K,
        T: Clone,
        R: 'static,
        O,
        Acc: 'static,
        A: AggregateFunction<T, Acc, R>,
        P: ProcessWindowFunction<K, R, O>,
    > ProcessWindowFunction<K, T, O> for AggregateThen<A, P, Acc, R>
{
    fn open(&mut self, ctx: &super::functions::RuntimeContext) -> anyhow::Result<()> {
        self.1.open(ctx)
    }
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext,
        elements: &[T],
        out: &mut Collector<O>,
    ) -> anyhow::Result<()> {
        let acc = elements
            .iter()
            .cloned()
            .fold(self.0.create_accumulator(), |acc, v| self.0.add(v, acc));
        let result = self.0.get_result(&acc);
        self.1.process(key, ctx, std::slice::from_ref(&result), out)
    }
}
