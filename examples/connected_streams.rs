//! Several streams in one job: `union` merges two temperature feeds of the same type, and
//! `connect` pairs them with a stream of a different type (alert thresholds) in one
//! co-flat-map.
//!
//! ```text
//! cargo run --example connected_streams
//! ```

use serde::{Deserialize, Serialize};
use strato::{CoFlatMapFunction, Collector, RuntimeContext, StreamExecutionEnvironment};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
}

/// Tags readings above the most recent threshold. The two inputs race, so readings that
/// arrive before any threshold are held back until the first threshold arrives.
#[derive(Clone, Default)]
struct ThresholdAlert {
    threshold: Option<f64>,
    waiting: Vec<Reading>,
    subtask: usize,
}

impl ThresholdAlert {
    fn judge(threshold: f64, r: &Reading) -> String {
        let level = if r.celsius > threshold { "ALERT" } else { "ok" };
        format!("{level}: {} at {:.1} C", r.sensor, r.celsius)
    }
}

impl CoFlatMapFunction<Reading, f64, String> for ThresholdAlert {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        self.subtask = ctx.index_of_this_subtask();
        Ok(())
    }
    fn flat_map1(&mut self, r: Reading, out: &mut Collector<String>) -> anyhow::Result<()> {
        match self.threshold {
            Some(t) => out.collect(Self::judge(t, &r)),
            None => self.waiting.push(r),
        }
        Ok(())
    }
    fn flat_map2(&mut self, threshold: f64, out: &mut Collector<String>) -> anyhow::Result<()> {
        self.threshold = Some(threshold);
        out.collect(format!(
            "subtask {} now alerts above {threshold:.1} C",
            self.subtask
        ));
        for r in self.waiting.drain(..) {
            out.collect(Self::judge(threshold, &r));
        }
        Ok(())
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
        .flat_map_rich(ThresholdAlert::default())
        .name("threshold alerts")
        .print();
    env.execute("Connected streams")?;
    Ok(())
}
