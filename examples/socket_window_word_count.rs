//! Word counts over 5-second processing-time tumbling windows of text from a socket (Flink's
//! `SocketWindowWordCount`).
//!
//! ```text
//! nc -lk 9000 &
//! cargo run --example socket_window_word_count -- --hostname localhost --port 9000
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strato::{Collector, ParameterTool, StreamExecutionEnvironment, TumblingProcessingTimeWindows};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WordWithCount {
    word: String,
    count: i64,
}

fn main() -> anyhow::Result<()> {
    let params = ParameterTool::from_args().map_err(anyhow::Error::msg)?;
    let Some(port) = params.get("port") else {
        anyhow::bail!("No port specified. Please run 'socket_window_word_count --hostname <hostname> --port <port>', where hostname (localhost by default) and port is the address of the text server. To start a simple text server, run 'netcat -l <port>' and type the input text into the command line");
    };
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid value '{port}' for argument '--port'"))?;
    let hostname = params.get("hostname").unwrap_or("localhost");

    let env = StreamExecutionEnvironment::get_execution_environment()?;
    let text = env.socket_text_stream(
        hostname,
        port,
        "\n",
        params
            .get_parsed("max-retry", 0i64)
            .map_err(anyhow::Error::msg)?,
    );
    text.flat_map(|line: String, out: &mut Collector<WordWithCount>| {
        for word in line.split_whitespace() {
            out.collect(WordWithCount {
                word: word.to_string(),
                count: 1,
            });
        }
    })
    .key_by(|w: &WordWithCount| w.word.clone())
    .window(TumblingProcessingTimeWindows::of(Duration::from_secs(5)))
    .reduce(|a: WordWithCount, b: WordWithCount| WordWithCount {
        word: a.word,
        count: a.count + b.count,
    })
    .print()
    .set_parallelism(1);

    env.execute("Socket Window WordCount")?;
    Ok(())
}
