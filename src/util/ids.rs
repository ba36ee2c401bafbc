//! Identifiers in Flink's format: 32 lowercase hex digits (a 128-bit random id).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A job's identity, printed as 32 hex digits like Flink's `JobID`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub u128);

impl JobId {
    /// A fresh random id.
    pub fn generate() -> Self {
        JobId(rand::random::<u128>())
    }

    /// Parses the 32-hex-digit form users copy from `strato list` output.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "'{text}' is not a job id (expected 32 hexadecimal characters)"
            ));
        }
        u128::from_str_radix(text, 16)
            .map(JobId)
            .map_err(|e| format!("'{text}' is not a job id: {e}"))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_print_as_32_hex_digits_and_parse_back() {
        let id = JobId(0xa08e5ededb0fb56d8aa87d8611ee267b);
        assert_eq!(id.to_string(), "a08e5ededb0fb56d8aa87d8611ee267b");
        assert_eq!(JobId::parse(&id.to_string()), Ok(id));
        assert_eq!(JobId(1).to_string().len(), 32);
        assert!(JobId::parse("xyz").is_err());
    }
}
