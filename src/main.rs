//! The `strato` command line (being written).
fn main() {}
