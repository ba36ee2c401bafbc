//! Fraud detection with keyed state and timers (Flink's fraud-detection walkthrough): per
//! account, a small transaction (under 1.00) followed within one minute by a large one (over
//! 500.00) raises an alert. The flag "a small transaction was just seen" is a `ValueState`;
//! an event-time timer one minute after the small transaction clears it again. With
//! checkpointing on, the flags and timers are part of every checkpoint, so a restarted job
//! still catches a pattern that straddles the failure.
//!
//! ```text
//! cargo run --example fraud_detection -- [--transactions 100000] [--accounts 100] [--checkpoint-dir file:///tmp/chk]
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strato::connectors::datagen::DataGeneratorSource;
use strato::state::ValueStateDescriptor;
use strato::{
    KeyedContext, KeyedProcessFunction, ParameterTool, StreamExecutionEnvironment,
    WatermarkStrategy,
};

const SMALL_AMOUNT: f64 = 1.00;
const LARGE_AMOUNT: f64 = 500.00;
const ONE_MINUTE: i64 = 60_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Transaction {
    account: u32,
    amount: f64,
    /// Event time, ms.
    time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Alert {
    account: u32,
    small: f64,
    large: f64,
    time: i64,
}

/// A deterministic stream of transactions: every 7th transaction of an account is small and
/// every 11th large, one second apart per account.
fn transaction(i: u64, accounts: u64) -> Transaction {
    let account = (i % accounts) as u32;
    let n = i / accounts;
    let amount = if n % 7 == 3 {
        0.5
    } else if n % 11 == 4 {
        750.0
    } else {
        20.0 + (i % 300) as f64
    };
    Transaction {
        account,
        amount,
        time: n as i64 * 1_000,
    }
}

#[derive(Clone)]
struct FraudDetector {
    small_seen: ValueStateDescriptor<f64>,
    clear_at: ValueStateDescriptor<i64>,
}

impl FraudDetector {
    fn new() -> Self {
        FraudDetector {
            small_seen: ValueStateDescriptor::new("small-transaction"),
            clear_at: ValueStateDescriptor::new("clear-timer"),
        }
    }
}

impl KeyedProcessFunction<u32, Transaction, Alert> for FraudDetector {
    fn process_element(
        &mut self,
        tx: Transaction,
        ctx: &mut KeyedContext<u32, Alert>,
    ) -> anyhow::Result<()> {
        let small = ctx.value_state(&self.small_seen)?.value();
        if let Some(small) = small {
            if tx.amount > LARGE_AMOUNT {
                ctx.collect(Alert {
                    account: tx.account,
                    small,
                    large: tx.amount,
                    time: tx.time,
                });
            }
            // Either way the pattern is over: forget the flag and its timer.
            ctx.value_state(&self.small_seen)?.clear();
            if let Some(at) = ctx.value_state(&self.clear_at)?.value() {
                ctx.timer_service().delete_event_time_timer(at);
            }
            ctx.value_state(&self.clear_at)?.clear();
        }
        if tx.amount < SMALL_AMOUNT {
            ctx.value_state(&self.small_seen)?.update(tx.amount);
            let at = tx.time + ONE_MINUTE;
            ctx.timer_service().register_event_time_timer(at);
            ctx.value_state(&self.clear_at)?.update(at);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        ctx: &mut KeyedContext<u32, Alert>,
    ) -> anyhow::Result<()> {
        ctx.value_state(&self.small_seen)?.clear();
        ctx.value_state(&self.clear_at)?.clear();
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let params = ParameterTool::from_args().map_err(anyhow::Error::msg)?;
    let count: u64 = params
        .get_parsed("transactions", 100_000)
        .map_err(anyhow::Error::msg)?;
    let accounts: u64 = params
        .get_parsed("accounts", 100)
        .map_err(anyhow::Error::msg)?
        .max(1);
    let env = StreamExecutionEnvironment::get_execution_environment()?;
    if let Some(dir) = params.get("checkpoint-dir") {
        env.enable_checkpointing(Duration::from_secs(1));
        env.get_checkpoint_config().set_checkpoint_storage(dir);
    }
    env.from_source(
        DataGeneratorSource::new(move |i| transaction(i, accounts), Some(count))
            .with_name("transactions"),
    )
    .uid("transactions")
    .assign_timestamps_and_watermarks(
        WatermarkStrategy::for_monotonous_timestamps()
            .with_timestamp_assigner(|tx: &Transaction, _| tx.time),
    )
    .key_by(|tx: &Transaction| tx.account)
    .process(FraudDetector::new())
    .uid("fraud-detector")
    .name("fraud-detector")
    .print();
    env.execute("Fraud Detection")?;
    Ok(())
}
