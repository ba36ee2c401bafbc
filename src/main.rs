//! The `strato` command line: see [`strato::client`].
fn main() {
    std::process::exit(strato::client::cli::main());
}
