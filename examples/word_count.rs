//! Word count, the "hello world" of dataflow engines (Flink's `WordCount` example).
//!
//! ```text
//! cargo run --release --example word_count                       # built-in text, printed
//! cargo run --release --example word_count -- --input F --output O [--execution-mode BATCH]
//! strato run -p 2 target/release/examples/word_count --input F --output O
//! ```
//! Words are the runs of letters, digits and `_` of the lower-cased text (Java's `\W+` split).
//! In STREAMING mode every update of a count is emitted; in BATCH mode one final count per word.

use strato::{
    Collector, ParameterTool, RuntimeExecutionMode, StreamExecutionEnvironment, WriteMode,
};

const SAMPLE: &str = "To be, or not to be,--that is the question:--
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune
Or to take arms against a sea of troubles,
And by opposing end them?--To die,--to sleep,--
No more; and by a sleep to say we end
The heartache, and the thousand natural shocks
That flesh is heir to,--'tis a consummation
Devoutly to be wish'd. To die,--to sleep;--
To sleep! perchance to dream:--ay, there's the rub;";

/// Splits a line into lower-cased words, as `line.toLowerCase().split("\\W+")` does in Java.
fn tokenize(line: String, out: &mut Collector<(String, i64)>) {
    let lowered;
    let text = if line.is_ascii() {
        line.as_str()
    } else {
        lowered = line.to_lowercase();
        lowered.as_str()
    };
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !word.is_empty() {
            out.collect((word.to_ascii_lowercase(), 1));
        }
    }
}

fn main() -> anyhow::Result<()> {
    let params = ParameterTool::from_args().map_err(anyhow::Error::msg)?;
    let env = StreamExecutionEnvironment::get_execution_environment()?;
    if let Some(mode) = params.get("execution-mode") {
        env.set_runtime_mode(strato::config::ConfigValue::parse_value(mode).map_err(|e| {
            anyhow::anyhow!("invalid value '{mode}' for argument '--execution-mode': {e}")
        })?);
    } else if params.has("batch") {
        env.set_runtime_mode(RuntimeExecutionMode::Batch);
    }

    let text = match params.get("input") {
        Some(input) => env.read_text_file(input),
        None => {
            println!("Executing WordCount example with default input data set.");
            println!("Use --input to specify file input.");
            env.from_collection(SAMPLE.lines().map(str::to_string))
        }
    };

    let counts = text
        .flat_map(tokenize)
        .name("tokenizer")
        .key_by(|(word, _): &(String, i64)| word.clone())
        .sum(|count: &mut (String, i64)| &mut count.1)
        .name("counter");

    match params.get("output") {
        Some(output) => counts
            .write_as_text(output, WriteMode::Overwrite)
            .name("file-sink"),
        None => {
            println!("Printing result to stdout. Use --output to specify output path.");
            counts.print().name("print-sink")
        }
    };

    env.execute("WordCount")?;
    Ok(())
}
