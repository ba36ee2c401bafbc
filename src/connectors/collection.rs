//! A bounded, non-parallel source of in-memory elements (`from_elements`, `from_collection`).
//! Its position at a checkpoint is the index of the next element.

use std::sync::Arc;

use super::split::{decode_splits, encode_split};
use crate::api::functions::RuntimeContext;
use crate::api::source::{Boundedness, InputStatus, Source, SourceOutput, SourceReader};

pub struct CollectionSource<T> {
    elements: Arc<Vec<T>>,
}

impl<T> CollectionSource<T> {
    pub fn new(elements: Vec<T>) -> Self {
        CollectionSource {
            elements: Arc::new(elements),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Source<T> for CollectionSource<T> {
    fn name(&self) -> String {
        "Collection Source".into()
    }
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn is_parallel(&self) -> bool {
        false
    }
    fn create_reader(&self, _ctx: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<T>>> {
        Ok(Box::new(CollectionReader {
            elements: self.elements.clone(),
            position: 0,
        }))
    }

    /// Resumes at the restored index. The source is non-parallel, so there is at most one
    /// position; none means the reader had nothing left.
    fn restore_reader(
        &self,
        _ctx: &RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> anyhow::Result<Box<dyn SourceReader<T>>> {
        let positions: Vec<u64> = decode_splits(&self.name(), splits)?;
        let position = match positions.as_slice() {
            [] => self.elements.len(),
            [position] => usize::try_from(*position).unwrap_or(usize::MAX).min(self.elements.len()),
            more => anyhow::bail!(
                "the collection source was restored with {} positions; a non-parallel source has one",
                more.len()
            ),
        };
        Ok(Box::new(CollectionReader {
            elements: self.elements.clone(),
            position,
        }))
    }
}

struct CollectionReader<T> {
    elements: Arc<Vec<T>>,
    position: usize,
}

impl<T: Clone + Send + Sync> SourceReader<T> for CollectionReader<T> {
    fn poll_next(&mut self, output: &mut SourceOutput<T>) -> anyhow::Result<InputStatus> {
        while self.position < self.elements.len() && !output.is_full() {
            output.collect(self.elements[self.position].clone());
            self.position += 1;
        }
        Ok(if self.position < self.elements.len() {
            InputStatus::MoreAvailable
        } else {
            InputStatus::EndOfInput
        })
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(vec![encode_split(&(self.position as u64))?])
    }
}
