//! Row encoders: how one record becomes bytes of a part file (Flink's `Encoder`).

use serde::Serialize;

use crate::connectors::format::write_flink_string;

/// Appends the bytes of one record to a part file's buffer.
pub trait Encoder<T>: Clone + Send + Sync + 'static {
    fn encode(&mut self, record: &T, out: &mut Vec<u8>) -> anyhow::Result<()>;
}

/// Flink's `SimpleStringEncoder`: each record as its string form (tuples as Flink prints
/// them) followed by a newline.
#[derive(Debug, Clone, Default)]
pub struct SimpleStringEncoder {
    line: String,
}

impl SimpleStringEncoder {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Serialize> Encoder<T> for SimpleStringEncoder {
    fn encode(&mut self, record: &T, out: &mut Vec<u8>) -> anyhow::Result<()> {
        self.line.clear();
        write_flink_string(record, &mut self.line);
        out.extend_from_slice(self.line.as_bytes());
        out.push(b'\n');
        Ok(())
    }
}

/// An encoder from a closure: `FnEncoder(|record, out| ...)`.
#[derive(Clone)]
pub struct FnEncoder<F>(pub F);

impl<T, F> Encoder<T> for FnEncoder<F>
where
    F: Fn(&T, &mut Vec<u8>) -> anyhow::Result<()> + Clone + Send + Sync + 'static,
{
    fn encode(&mut self, record: &T, out: &mut Vec<u8>) -> anyhow::Result<()> {
        (self.0)(record, out)
    }
}
