//! The print sink: each record on its own line of stdout (or stderr), prefixed with the 1-based
//! subtask index (`3> `) when the sink runs with parallelism above 1, as Flink prints it.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use super::format::write_flink_string;
use crate::api::functions::{RuntimeContext, SinkFunction};

#[derive(Clone)]
pub struct PrintSink {
    to_stderr: bool,
    prefix: String,
    line: String,
}

impl PrintSink {
    pub fn stdout() -> Self {
        PrintSink {
            to_stderr: false,
            prefix: String::new(),
            line: String::new(),
        }
    }
    pub fn stderr() -> Self {
        PrintSink {
            to_stderr: true,
            ..Self::stdout()
        }
    }
}

impl PrintSink {
    /// Renders a batch into `self.line`, one prefixed record per line.
    fn render<T: Serialize>(&mut self, batch: &mut Vec<T>) {
        self.line.clear();
        for value in batch.drain(..) {
            self.line.push_str(&self.prefix);
            write_flink_string(&value, &mut self.line);
            self.line.push('\n');
        }
    }
}

impl<T: Serialize> SinkFunction<T> for PrintSink {
    fn open(&mut self, ctx: &RuntimeContext) -> anyhow::Result<()> {
        if ctx.number_of_parallel_subtasks() > 1 {
            self.prefix = format!("{}> ", ctx.index_of_this_subtask() + 1);
        }
        Ok(())
    }

    fn invoke(&mut self, value: T) -> anyhow::Result<()> {
        self.invoke_batch(&mut vec![value])
    }

    fn invoke_batch(&mut self, batch: &mut Vec<T>) -> anyhow::Result<()> {
        self.render(batch);
        let written = if self.to_stderr {
            std::io::stderr().lock().write_all(self.line.as_bytes())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(self.line.as_bytes())
                .and_then(|_| out.flush())
        };
        written.with_context(|| {
            format!(
                "could not print to {}",
                if self.to_stderr { "stderr" } else { "stdout" }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(sink: &PrintSink, subtask: usize, parallelism: usize) -> String {
        let mut sink = sink.clone();
        SinkFunction::<(String, i64)>::open(
            &mut sink,
            &RuntimeContext::for_test(subtask, parallelism),
        )
        .unwrap();
        sink.render(&mut vec![
            ("hello".to_string(), 1i64),
            ("world".to_string(), 2),
        ]);
        sink.line
    }

    #[test]
    fn parallel_print_prefixes_the_one_based_subtask_index() {
        for sink in [PrintSink::stdout(), PrintSink::stderr()] {
            assert_eq!(rendered(&sink, 3, 4), "4> (hello,1)\n4> (world,2)\n");
            assert_eq!(rendered(&sink, 0, 1), "(hello,1)\n(world,2)\n");
        }
    }
}
