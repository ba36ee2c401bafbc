//! `map`, `flat_map` and `filter`.

use super::chained_lifecycle;
use crate::api::functions::{Collector, FilterFunction, FlatMapFunction, MapFunction};
use crate::runtime::chain::{guarded, BoxOutput, Output, TaskError};

pub struct MapOperator<I, O, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<O>,
    pub out: Vec<O>,
    pub _in: std::marker::PhantomData<fn(I)>,
}

impl<I, O: Send + 'static, F: MapFunction<I, O>> Output<I> for MapOperator<I, O, F> {
    fn push(&mut self, batch: &mut Vec<I>) -> Result<(), TaskError> {
        let (f, out) = (&mut self.f, &mut self.out);
        guarded(&self.name, || {
            out.reserve(batch.len());
            for record in batch.drain(..) {
                out.push(f.map(record)?);
            }
            Ok(())
        })?;
        self.next.push(&mut self.out)
    }
    chained_lifecycle!();
}

pub struct FlatMapOperator<I, O, F> {
    pub name: String,
    pub f: F,
    pub next: BoxOutput<O>,
    pub out: Vec<O>,
    pub _in: std::marker::PhantomData<fn(I)>,
}

impl<I, O: Send + 'static, F: FlatMapFunction<I, O>> Output<I> for FlatMapOperator<I, O, F> {
    fn push(&mut self, batch: &mut Vec<I>) -> Result<(), TaskError> {
        let (f, out) = (&mut self.f, &mut self.out);
        guarded(&self.name, || {
            let mut collector = Collector { out };
            for record in batch.drain(..) {
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
    pub out: Vec<T>,
}

impl<T: Send + 'static, F: FilterFunction<T>> Output<T> for FilterOperator<T, F> {
    fn push(&mut self, batch: &mut Vec<T>) -> Result<(), TaskError> {
        let (f, out) = (&mut self.f, &mut self.out);
        guarded(&self.name, || {
            for record in batch.drain(..) {
                if f.filter(&record)? {
                    out.push(record);
                }
            }
            Ok(())
        })?;
        self.next.push(&mut self.out)
    }
    chained_lifecycle!();
}
