//! Several streams in one job: `union` merges two temperature feeds of the same type, and
//! `connect` pairs them with a stream of a different type (alert thresholds) in one co-map.
//!
//! ```text
//! cargo run --example connected_streams
//! ```

use serde::{Deserialize, Serialize};
use strato::{CoMapFunction, RuntimeContext, StreamExecutionEnvironment};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
}

/// Tags readings above the most recent threshold; thresholds arrive on the second input.
#[derive(Clone, Default)]
struct ThresholdAlert {
    threshold: f64,
    subtask: usize,
}

impl CoMapFunction<Reading, f64, String> for ThresholdAlert {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.subtask = ctx.index_of_this_subtask();
        self.threshold = f64::INFINITY;
        Ok(())
    }
    fn map1(&mut self, r: Reading) -> anyhow::Result<String> {
        let level = if r.celsius > self.threshold {
            "ALERT"
        } else {
            "ok"
        };
        Ok(format!("{level}: {} at {:.1} C", r.sensor, r.celsius))
    }
    fn map2(&mut self, threshold: f64) -> anyhow::Result<String> {
        self.threshold = threshold;
        Ok(format!(
            "subtask {} now alerts above {threshold:.1} C",
            self.subtask
        ))
    }
}

fn main() -> anyhow::Result<()> {
    let env = StreamExecutionEnvironment::get_execution_environment()?;
    env.set_parallelism(1);
    let reading = |sensor: &str, celsius: f64| Reading {
        sensor: sensor.into(),
        celsius,
    };
    let hall = env.from_elements(vec![reading("hall", 19.5), reading("hall", 23.0)]);
    let lab = env.from_elements(vec![reading("lab", 30.5), reading("lab", 21.0)]);
    let thresholds = env.from_elements(vec![25.0f64]);

    let all_readings = hall.union(&lab);
    all_readings
        .connect(&thresholds.broadcast())
        .map_rich(ThresholdAlert::default())
        .name("threshold alerts")
        .print();
    env.execute("Connected streams")?;
    Ok(())
}
