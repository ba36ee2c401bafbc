//! Side outputs (Flink's `OutputTag` outputs): extra, typed outputs of an operator, each
//! routed to the edges that asked for its tag with `get_side_output`.

use std::any::Any;

use crate::api::functions::RuntimeContext;
use crate::api::process::OutputTag;
use crate::runtime::batch::Batch;
use crate::runtime::chain::{BoxOutput, ChainEvent, TaskError};

/// One side-output edge, type-erased.
pub trait SideOutput: Send {
    fn tag(&self) -> &str;
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError>;
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError>;
    fn close(&mut self) -> Result<(), TaskError>;
    fn as_any(&mut self) -> &mut dyn Any;
}

/// A side output of record type `X`.
pub struct TypedSideOutput<X> {
    pub tag: String,
    pub output: BoxOutput<X>,
    pub batch: Batch<X>,
}

impl<X: Send + 'static> SideOutput for TypedSideOutput<X> {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.output.open(ctx)
    }
    fn event(&mut self, event: ChainEvent) -> Result<(), TaskError> {
        self.output.event(event)
    }
    fn close(&mut self) -> Result<(), TaskError> {
        self.output.close()
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// The side outputs of one operator.
#[derive(Default)]
pub struct SideOutputs {
    outputs: Vec<Box<dyn SideOutput>>,
}

impl SideOutputs {
    pub fn new(outputs: Vec<Box<dyn SideOutput>>) -> Self {
        SideOutputs { outputs }
    }

    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Emits to every consumer of `tag` (none: the record has no reader, as in Flink).
    pub fn emit<X: Clone + 'static>(
        &mut self,
        tag: &OutputTag<X>,
        record: X,
        timestamp: Option<i64>,
    ) -> anyhow::Result<()> {
        for output in self.outputs.iter_mut().filter(|o| o.tag() == tag.id) {
            let typed = output
                .as_any()
                .downcast_mut::<TypedSideOutput<X>>()
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "side output '{}' is read as another type than {}",
                        tag.id,
                        std::any::type_name::<X>()
                    )
                })?;
            typed.batch.push(record.clone(), timestamp);
            typed
                .output
                .push(&mut typed.batch)
                .map_err(|e| anyhow::anyhow!("side output '{}': {e:?}", tag.id))?;
        }
        Ok(())
    }

    pub fn open(&mut self, ctx: &RuntimeContext) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.open(ctx))
    }

    pub fn event(&mut self, event: &ChainEvent) -> Result<(), TaskError> {
        self.outputs
            .iter_mut()
            .try_for_each(|o| o.event(event.clone()))
    }

    pub fn close(&mut self) -> Result<(), TaskError> {
        self.outputs.iter_mut().try_for_each(|o| o.close())
    }
}
