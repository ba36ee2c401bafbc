//! An exactly-once pipeline: the data generator feeds a per-key running count, written by the
//! exactly-once file sink with checkpointing on. Part files become visible only when the
//! checkpoint that covers them completes, so after a crash and a restore from the latest
//! checkpoint the visible output holds every update exactly once: `(key,1)`, `(key,2)`, ...
//!
//! With `--forward` the records skip the count and go straight to the sink as
//! `(key,sequence number)`: no exchange joins the parallel pipelines, so each is a pipelined
//! region of its own and a failure restarts only the region it hit.
//!
//! ```text
//! cargo run --example exactly_once_pipeline -- --output /tmp/out [--count 100000] [--keys 100]
//!     [--rate 20000] [--checkpoint-interval 1000] [--checkpoint-dir file:///tmp/chk] [--forward]
//! ```

use std::time::Duration;

use strato::connectors::datagen::DataGeneratorSource;
use strato::connectors::file::{FileSink, SimpleStringEncoder};
use strato::{ParameterTool, StreamExecutionEnvironment};

fn main() -> anyhow::Result<()> {
    let params = ParameterTool::from_args().map_err(anyhow::Error::msg)?;
    let output = params
        .get("output")
        .ok_or_else(|| anyhow::anyhow!("--output <directory or URI> is required"))?
        .to_string();
    let count: u64 = params
        .get_parsed("count", 100_000)
        .map_err(anyhow::Error::msg)?;
    let keys: u64 = params
        .get_parsed("keys", 100)
        .map_err(anyhow::Error::msg)?
        .max(1);
    let rate: f64 = params
        .get_parsed("rate", 20_000.0)
        .map_err(anyhow::Error::msg)?;
    let interval: u64 = params
        .get_parsed("checkpoint-interval", 1_000)
        .map_err(anyhow::Error::msg)?;

    let env = StreamExecutionEnvironment::get_execution_environment()?;
    env.enable_checkpointing(Duration::from_millis(interval.max(1)));
    if let Some(dir) = params.get("checkpoint-dir") {
        env.get_checkpoint_config().set_checkpoint_storage(dir);
    }
    let forward = params.has("forward");
    let records = env
        .from_source(
            DataGeneratorSource::new(
                move |i| (i % keys, if forward { i } else { 1u64 }),
                Some(count),
            )
            .with_rows_per_second(rate)
            .with_name("generator"),
        )
        .uid("generator");
    let records = if forward {
        records
    } else {
        records
            .key_by(|(key, _): &(u64, u64)| *key)
            .sum(|t: &mut (u64, u64)| &mut t.1)
            .uid("running-count")
    };
    records
        .sink_to(FileSink::for_row_format(
            &output,
            SimpleStringEncoder::new(),
        ))
        .uid("files");
    env.execute("Exactly-once pipeline")?;
    Ok(())
}
