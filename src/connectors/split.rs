//! How the built-in sources encode their positions for checkpoints: one self-contained entry
//! per split (where it continues, where it ends), so the entries of all readers can be dealt
//! to any number of restored readers and every record is still read exactly once.

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes one split position.
pub fn encode_split<S: Serialize>(split: &S) -> anyhow::Result<Vec<u8>> {
    bincode::serde::encode_to_vec(split, bincode::config::standard())
        .context("could not encode a source split position")
}

/// Decodes the split positions handed to a restored reader of `source`.
pub fn decode_splits<S: DeserializeOwned>(
    source: &str,
    splits: Vec<Vec<u8>>,
) -> anyhow::Result<Vec<S>> {
    splits
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            bincode::serde::decode_from_slice(bytes, bincode::config::standard())
                .map(|(split, _)| split)
                .with_context(|| {
                    format!(
                        "the restored position {i} of '{source}' ({} bytes) is not one of its splits",
                        bytes.len()
                    )
                })
        })
        .collect()
}
