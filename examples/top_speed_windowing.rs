//! Top speed per car over sliding event-time windows, with out-of-order readings and a
//! side output for readings that arrive too late (in the spirit of Flink's
//! `TopSpeedWindowing`).
//!
//! ```text
//! cargo run --example top_speed_windowing
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strato::{
    OutputTag, SlidingEventTimeWindows, StreamExecutionEnvironment, WatermarkGenerator,
    WatermarkOutput, WatermarkStrategy,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    car: u32,
    speed_kmh: u32,
    /// Event time, ms.
    time: i64,
}

/// A punctuated generator: after every reading, the watermark trails the highest time seen by
/// the allowed out-of-orderness (so lateness does not depend on wall-clock timing).
struct TrailingWatermarks {
    max_time: i64,
    out_of_orderness: i64,
}

impl WatermarkGenerator<Reading> for TrailingWatermarks {
    fn on_event(&mut self, _reading: &Reading, timestamp: i64, output: &mut WatermarkOutput) {
        self.max_time = self.max_time.max(timestamp);
        output.emit_watermark(self.max_time - self.out_of_orderness - 1);
    }
    fn on_periodic_emit(&mut self, _output: &mut WatermarkOutput) {}
}

fn main() -> anyhow::Result<()> {
    let env = StreamExecutionEnvironment::get_execution_environment()?;
    env.set_parallelism(2);

    // Readings every second per car, delivered up to 2 s out of order; one arrives far too late.
    let mut readings = Vec::new();
    for second in 0..30i64 {
        for car in 0..3u32 {
            let speed = 50 + ((second * 7 + car as i64 * 13) % 60) as u32;
            readings.push(Reading {
                car,
                speed_kmh: speed,
                time: second * 1000,
            });
        }
    }
    readings.swap(10, 14);
    readings.swap(40, 45);
    readings.push(Reading {
        car: 1,
        speed_kmh: 250,
        time: 3_000,
    }); // 27 s late

    let late = OutputTag::<Reading>::new("late-readings");
    let top_speeds = env
        .from_collection(readings)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_generator(|| {
                Box::new(TrailingWatermarks {
                    max_time: i64::MIN / 2,
                    out_of_orderness: 2_000,
                })
            })
            .with_timestamp_assigner(|r: &Reading, _| r.time),
        )
        // Stamped where the readings enter (one subtask, chained to the source), so every window
        // subtask sees the readings and watermarks in one order and lateness is deterministic.
        .set_parallelism(1)
        .key_by(|r: &Reading| r.car)
        .window(SlidingEventTimeWindows::of(
            Duration::from_secs(10),
            Duration::from_secs(5),
        ))
        .side_output_late_data(&late)
        .reduce(|a: Reading, b: Reading| if b.speed_kmh > a.speed_kmh { b } else { a })
        .name("top speed");

    top_speeds
        .map(|r: Reading| {
            format!(
                "car {} top speed {} km/h (at {} s)",
                r.car,
                r.speed_kmh,
                r.time / 1000
            )
        })
        .print();
    top_speeds
        .get_side_output(&late)
        .map(|r: Reading| format!("LATE reading dropped from the windows: {r:?}"))
        .print_to_err();

    env.execute("Top speed windowing")?;
    Ok(())
}
