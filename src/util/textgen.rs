//! The deterministic benchmark corpus: lines of 12 words drawn with Zipf(1) frequencies from a
//! vocabulary of random lowercase words of 3 to 10 letters.
//!
//! The same seed always gives byte-identical output on every machine (the generator uses its
//! own SplitMix64 rather than a library RNG whose stream may change between versions), so
//! benchmark numbers from different sessions are comparable.

use std::io::{self, Write};

/// Words per generated line.
pub const WORDS_PER_LINE: usize = 12;
/// Size of the benchmark vocabulary.
pub const DEFAULT_VOCABULARY: usize = 50_000;

/// SplitMix64: tiny, fast, and fixed forever.
#[derive(Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, bound).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }
}

/// Generates the Zipf text corpus.
pub struct ZipfText {
    vocabulary: Vec<String>,
    /// cumulative[i] = sum_{k<=i} 1/(k+1), normalised to 1.
    cumulative: Vec<f64>,
    rng: SplitMix64,
}

impl ZipfText {
    pub fn new(vocabulary_size: usize, seed: u64) -> Self {
        let vocabulary_size = vocabulary_size.max(1);
        let mut rng = SplitMix64::new(seed);
        let vocabulary = (0..vocabulary_size)
            .map(|_| {
                let len = 3 + rng.below(8) as usize;
                (0..len)
                    .map(|_| (b'a' + rng.below(26) as u8) as char)
                    .collect()
            })
            .collect();
        let mut cumulative = Vec::with_capacity(vocabulary_size);
        let mut sum = 0.0;
        for k in 0..vocabulary_size {
            sum += 1.0 / (k + 1) as f64;
            cumulative.push(sum);
        }
        for c in &mut cumulative {
            *c /= sum;
        }
        ZipfText {
            vocabulary,
            cumulative,
            rng,
        }
    }

    /// The next word, drawn with Zipf(1) frequencies.
    pub fn next_word(&mut self) -> &str {
        let u = self.rng.next_f64();
        let rank = self.cumulative.partition_point(|&c| c < u);
        &self.vocabulary[rank.min(self.vocabulary.len() - 1)]
    }

    /// Writes lines until at least `bytes` bytes were written; returns (bytes, words) written.
    pub fn write_to(&mut self, out: &mut impl Write, bytes: u64) -> io::Result<(u64, u64)> {
        let mut written = 0u64;
        let mut words = 0u64;
        let mut line = String::with_capacity(128);
        while written < bytes {
            line.clear();
            for i in 0..WORDS_PER_LINE {
                if i > 0 {
                    line.push(' ');
                }
                let word = self.next_word().to_owned();
                line.push_str(&word);
            }
            line.push('\n');
            out.write_all(line.as_bytes())?;
            written += line.len() as u64;
            words += WORDS_PER_LINE as u64;
        }
        Ok((written, words))
    }
}

/// Writes the corpus to `path` (creating parent directories) unless a file of at least
/// `bytes` bytes is already there; returns the file's size.
pub fn ensure_corpus(path: &std::path::Path, bytes: u64, seed: u64) -> io::Result<u64> {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() >= bytes {
            return Ok(meta.len());
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("partial");
    let mut out = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    let (written, _) = ZipfText::new(DEFAULT_VOCABULARY, seed).write_to(&mut out, bytes)?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, path)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_deterministic_and_zipf_shaped() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        ZipfText::new(1000, 7).write_to(&mut a, 50_000).unwrap();
        ZipfText::new(1000, 7).write_to(&mut b, 50_000).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        for line in text.lines() {
            let words: Vec<_> = line.split(' ').collect();
            assert_eq!(words.len(), WORDS_PER_LINE);
            assert!(words
                .iter()
                .all(|w| (3..=10).contains(&w.len()) && w.bytes().all(|c| c.is_ascii_lowercase())));
        }
        // Zipf(1): the most frequent word occurs about twice as often as the second.
        let mut counts = std::collections::HashMap::new();
        for w in text.split_whitespace() {
            *counts.entry(w).or_insert(0usize) += 1;
        }
        let mut freq: Vec<_> = counts.values().copied().collect();
        freq.sort_unstable_by(|a, b| b.cmp(a));
        let ratio = freq[0] as f64 / freq[1] as f64;
        assert!((1.5..2.7).contains(&ratio), "ratio {ratio}");
    }
}
