//! Per-user click sessions on event time: a session ends after 30 minutes without a click
//! (Flink's `SessionWindowing` example). Clicks arrive out of order; a late click can bridge two
//! sessions into one.
//!
//! ```text
//! cargo run --example session_windows
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strato::{
    Collector, EventTimeSessionWindows, StreamExecutionEnvironment, WatermarkStrategy,
    WindowContext,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Click {
    user: String,
    url: String,
    /// Event time, ms.
    time: i64,
}

const MINUTE: i64 = 60_000;

fn main() -> anyhow::Result<()> {
    let env = StreamExecutionEnvironment::get_execution_environment()?;
    env.set_parallelism(2);
    let click = |user: &str, url: &str, minute: i64| Click {
        user: user.into(),
        url: url.into(),
        time: minute * MINUTE,
    };
    let clicks = vec![
        click("alice", "/home", 0),
        click("bob", "/home", 1),
        click("alice", "/cart", 10),
        click("alice", "/pay", 70), // > 30 min after /cart: a new session...
        click("bob", "/search", 50),
        click("alice", "/help", 40), // ...until this late click bridges the two
        click("bob", "/home", 200),
    ];

    env.from_collection(clicks)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(45 * 60))
                .with_timestamp_assigner(|c: &Click, _| c.time),
        )
        .key_by(|c: &Click| c.user.clone())
        .window(EventTimeSessionWindows::with_gap(Duration::from_secs(
            30 * 60,
        )))
        .apply(
            |user: &String,
             ctx: &mut WindowContext,
             clicks: &[Click],
             out: &mut Collector<String>| {
                let pages: Vec<&str> = clicks.iter().map(|c| c.url.as_str()).collect();
                out.collect(format!(
                    "{user}: session {}..{} min, {} clicks {pages:?}",
                    ctx.window.start / MINUTE,
                    ctx.window.end / MINUTE,
                    clicks.len()
                ));
            },
        )
        .print();

    env.execute("Session windows")?;
    Ok(())
}
