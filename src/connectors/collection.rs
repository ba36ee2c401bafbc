//! A bounded, non-parallel source of in-memory elements (`from_elements`, `from_collection`).

use std::sync::Arc;

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
}
