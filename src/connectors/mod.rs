//! Built-in sources and sinks: collections, sequences and the rate-limited data generator,
//! text files (read in parallel splits), sockets, print, and text/CSV file writers. Records are
//! rendered as text the way Flink's `toString` renders tuples ([`format`]).

pub mod collection;
pub mod datagen;
pub mod file_sink;
pub mod format;
pub mod print;
pub mod socket;
pub mod text_file;
