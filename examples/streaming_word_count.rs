//! Rolling word counts over a text stream: every new occurrence of a word prints its updated
//! count, as Flink's streaming `WordCount` does.
//!
//! ```text
//! nc -lk 9999 &                                    # type lines into it
//! cargo run --example streaming_word_count -- --hostname localhost --port 9999
//! cargo run --example streaming_word_count -- --input some.txt [--output counts]
//! ```

use strato::{Collector, ParameterTool, StreamExecutionEnvironment, WriteMode};

fn main() -> anyhow::Result<()> {
    let params = ParameterTool::from_args().map_err(anyhow::Error::msg)?;
    let env = StreamExecutionEnvironment::get_execution_environment()?;

    let text = match (params.get("input"), params.get("port")) {
        (Some(input), _) => env.read_text_file(input),
        (None, Some(_)) => {
            let port = params
                .get_parsed("port", 0u16)
                .map_err(anyhow::Error::msg)?;
            let host = params.get("hostname").unwrap_or("localhost");
            // Keep reconnecting while the socket server restarts.
            let retries = params
                .get_parsed("max-retry", -1i64)
                .map_err(anyhow::Error::msg)?;
            env.socket_text_stream(host, port, "\n", retries)
        }
        (None, None) => anyhow::bail!("give --input <file> or --hostname <host> --port <port>"),
    };

    let counts = text
        .flat_map(|line: String, out: &mut Collector<(String, i64)>| {
            for word in line
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                out.collect((word.to_lowercase(), 1));
            }
        })
        .name("tokenizer")
        .key_by(|(word, _): &(String, i64)| word.clone())
        .sum(|count: &mut (String, i64)| &mut count.1)
        .name("rolling count");

    match params.get("output") {
        Some(output) => counts.write_as_text(output, WriteMode::Overwrite),
        None => counts.print(),
    };
    env.execute("Streaming WordCount")?;
    Ok(())
}
