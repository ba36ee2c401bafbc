//! A scripted event source (events with timestamps and explicit watermarks) and a runner
//! that checks a pipeline gives the same output at parallelism 1 and 4, STREAMING and BATCH.
#![allow(dead_code)]

use std::sync::Arc;

use strato::{
    Boundedness, DataStream, InputStatus, RuntimeContext, RuntimeExecutionMode, Source,
    SourceOutput, SourceReader, StreamExecutionEnvironment,
};

/// (key, value, event time)
pub type Event = (String, i64, i64);

#[derive(Clone)]
pub enum Step {
    E(&'static str, i64, i64),
    W(i64),
}

/// Emits events with their timestamps and explicit watermarks, in script order.
#[derive(Clone)]
pub struct Script(pub Arc<Vec<Step>>);

struct ScriptReader(Arc<Vec<Step>>, usize);

impl Source<Event> for Script {
    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }
    fn is_parallel(&self) -> bool {
        false
    }
    fn create_reader(&self, _: &RuntimeContext) -> anyhow::Result<Box<dyn SourceReader<Event>>> {
        Ok(Box::new(ScriptReader(self.0.clone(), 0)))
    }
}

impl SourceReader<Event> for ScriptReader {
    fn poll_next(&mut self, out: &mut SourceOutput<Event>) -> anyhow::Result<InputStatus> {
        while let Some(step) = self.0.get(self.1) {
            self.1 += 1;
            match step {
                Step::E(k, v, ts) => out.collect_with_timestamp((k.to_string(), *v, *ts), *ts),
                Step::W(wm) => out.emit_watermark(*wm),
            }
        }
        Ok(InputStatus::EndOfInput)
    }
}

#[allow(unused_imports)]
pub use Step::{E, W};

/// Runs `build` over the script at parallelism 1 and 4 in both modes; all must agree.
pub fn run<
    O: Clone
        + Send
        + Sync
        + Ord
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned
        + 'static,
>(
    script: Vec<Step>,
    build: impl Fn(DataStream<Event>) -> DataStream<O>,
) -> Vec<O> {
    let mut results = Vec::new();
    for parallelism in [1, 4] {
        for mode in [RuntimeExecutionMode::Streaming, RuntimeExecutionMode::Batch] {
            let env = StreamExecutionEnvironment::create_local_environment();
            env.set_parallelism(parallelism);
            env.set_runtime_mode(mode);
            let mut out = build(env.from_source(Script(Arc::new(script.clone()))))
                .execute_and_collect("windows")
                .unwrap();
            out.sort();
            results.push(((parallelism, mode), out));
        }
    }
    let (first_config, first) = results[0].clone();
    for (config, out) in &results[1..] {
        if out != &first {
            panic!("{config:?} gave\n{out:?}\nbut {first_config:?} gave\n{first:?}");
        }
    }
    first
}
