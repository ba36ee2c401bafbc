//! Two jobs, one after the other, from one `main`: the first counts words, the second reads
//! its result and keeps the frequent words. In application mode (`strato run-application`,
//! `standalone-job.sh`) main runs next to the JobManager and submits each job as it reaches it.
//!
//! ```text
//! cargo run --release --example word_count_pipeline -- --input F --output DIR [--min-count 2]
//! strato run-application -t yarn-application target/release/examples/word_count_pipeline \
//!     --input hdfs:///in/words.txt --output hdfs:///out/pipeline
//! ```
//! Writes `DIR/counts` (every `(word,count)`) and `DIR/frequent` (those seen at least
//! `--min-count` times).

use strato::{ParameterTool, RuntimeExecutionMode, StreamExecutionEnvironment, WriteMode};

fn main() -> anyhow::Result<()> {
    let params = ParameterTool::from_args().map_err(anyhow::Error::msg)?;
    let input = params.get_required("input").map_err(anyhow::Error::msg)?;
    let output = params.get_required("output").map_err(anyhow::Error::msg)?;
    let min_count: i64 = params
        .get_parsed("min-count", 2)
        .map_err(anyhow::Error::msg)?;
    let counts_dir = format!("{output}/counts");
    let env = StreamExecutionEnvironment::get_execution_environment()?;
    env.set_runtime_mode(RuntimeExecutionMode::Batch);

    // Job 1: count every word.
    env.read_text_file(input)
        .flat_map(|line: String, out| {
            // Words as in the word_count example: runs of letters, digits and `_`.
            let line = line.to_lowercase();
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !word.is_empty() {
                    out.collect((word.to_string(), 1i64));
                }
            }
        })
        .name("tokenizer")
        .key_by(|(word, _): &(String, i64)| word.clone())
        .sum(|count: &mut (String, i64)| &mut count.1)
        .name("counter")
        .write_as_text(&counts_dir, WriteMode::Overwrite)
        .name("counts-sink");
    env.execute("WordCount")?;

    // Job 2: starts once job 1 has finished, from what it wrote.
    env.read_text_file(&counts_dir)
        .flat_map(move |line: String, out| {
            // Lines are `(word,count)`.
            let parsed = line
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .and_then(|l| l.rsplit_once(','))
                .and_then(|(word, n)| Some((word.to_string(), n.parse::<i64>().ok()?)));
            if let Some((word, count)) = parsed.filter(|(_, n)| *n >= min_count) {
                out.collect((word, count));
            }
        })
        .name("frequent")
        .write_as_text(format!("{output}/frequent"), WriteMode::Overwrite)
        .name("frequent-sink");
    env.execute("FrequentWords")?;
    Ok(())
}
