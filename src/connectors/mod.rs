//! Built-in sources and sinks: collections, sequences and the rate-limited data generator,
//! text files (read in parallel splits), sockets, print, text/CSV file writers, and the
//! exactly-once file sink on two-phase commit ([`file`]). Records are rendered as text the way
//! Flink's `toString` renders tuples ([`format`]). Each source with a position reports it at
//! checkpoints (`SourceReader::snapshot_state`) and resumes from it after a restore.

pub mod collection;
pub mod datagen;
pub mod file;
pub mod file_sink;
pub mod format;
pub mod print;
pub mod socket;
pub mod split;
pub mod text_file;
