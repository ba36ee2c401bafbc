//! Interval join: match each order with the shipments of the same order id that happen between
//! 1 hour before and 2 hours after it, on event time.
//!
//! ```text
//! cargo run --example interval_join
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strato::{StreamExecutionEnvironment, WatermarkStrategy};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u32,
    item: String,
    time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Shipment {
    order_id: u32,
    carrier: String,
    time: i64,
}

const HOUR: i64 = 3_600_000;

fn main() -> anyhow::Result<()> {
    let env = StreamExecutionEnvironment::get_execution_environment()?;
    env.set_parallelism(2);
    let orders = env
        .from_collection(vec![
            Order {
                id: 1,
                item: "book".into(),
                time: 0,
            },
            Order {
                id: 2,
                item: "lamp".into(),
                time: HOUR,
            },
            Order {
                id: 3,
                item: "desk".into(),
                time: 2 * HOUR,
            },
        ])
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(60))
                .with_timestamp_assigner(|o: &Order, _| o.time),
        );
    let shipments = env
        .from_collection(vec![
            Shipment {
                order_id: 1,
                carrier: "post".into(),
                time: HOUR,
            }, // within 2 h after
            Shipment {
                order_id: 2,
                carrier: "courier".into(),
                time: 4 * HOUR,
            }, // too late
            Shipment {
                order_id: 3,
                carrier: "freight".into(),
                time: HOUR + 30 * 60_000,
            }, // 30 min before
        ])
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(60))
                .with_timestamp_assigner(|s: &Shipment, _| s.time),
        );

    orders
        .key_by(|o: &Order| o.id)
        .interval_join(&shipments.key_by(|s: &Shipment| s.order_id))
        .between(-HOUR, 2 * HOUR)
        .process(|o: Order, s: Shipment| {
            format!(
                "order {} ({}) shipped by {} {:+} min after ordering",
                o.id,
                o.item,
                s.carrier,
                (s.time - o.time) / 60_000
            )
        })
        .print();

    env.execute("Interval join")?;
    Ok(())
}
