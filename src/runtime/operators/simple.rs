//! `map`, `flat_map` and `filter`. Each output record keeps its input record's timestamp.

use super::chained_lifecycle;
use crate::api::functions::{Collector, FilterFunction, FlatMapFunction, MapFunction};
use crate::runtime::batch::Batch;
use crate::runtime::chain::{guarded, BoxOutput, Output, TaskError};

pub struct MapOperator<I, O, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<O>,
    pub out: Batch<O>,
    pub _in: std::marker::PhantomData<fn(I)>,
}

impl<I, O: Send + 'static, F: MapFunction<I, O>> Output<I> for MapOperator<I, O, F> {
    fn push(&mut self, batch: &mut Batch<I>) -> Result<(), TaskError> {
        let (f, out) = (&mut self.f, &mut self.out);
        guarded(&self.name, || {
            out.records.reserve(batch.len());
            for record in batch.records.drain(..) {
                out.records.push(f.map(record)?);
            }
            Ok(())
        })?;
        self.out.adopt_timestamps(0, &mut batch.timestamps);
        self.next.push(&mut self.out)
    }
    chained_lifecycle!();
}

pub struct FlatMapOperator<I, O, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<O>,
    pub out: Batch<O>,
    pub _in: std::marker::PhantomData<fn(I)>,
}

impl<I, O: Send + 'static, F: FlatMapFunction<I, O>> Output<I> for FlatMapOperator<I, O, F> {
    fn push(&mut self, batch: &mut Batch<I>) -> Result<(), TaskError> {
        let (f, out) = (&mut self.f, &mut self.out);
        guarded(&self.name, || {
            let mut collector = Collector::new(out);
            for (record, timestamp) in batch.drain() {
                collector.timestamp = timestamp;
                f.flat_map(record, &mut collector)?;
            }
            Ok(())
        })?;
        self.next.push(&mut self.out)
    }
    chained_lifecycle!();
}

pub struct FilterOperator<T, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<T>,
    pub out: Batch<T>,
}

impl<T: Send + 'static, F: FilterFunction<T>> Output<T> for FilterOperator<T, F> {
    fn push(&mut self, batch: &mut Batch<T>) -> Result<(), TaskError> {
        let (f, out) = (&mut self.f, &mut self.out);
        guarded(&self.name, || {
            for (record, timestamp) in batch.drain() {
                if f.filter(&record)? {
                    out.push(record, timestamp);
                }
            }
            Ok(())
        })?;
        self.next.push(&mut self.out)
    }
    chained_lifecycle!();
}
