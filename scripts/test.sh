#!/usr/bin/env bash
# Runs Strato's whole test suite from a fresh checkout: installs what the tests need, then
# `cargo test`. This is the command the README and CI use.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# Every library, binary, example and integration test (examples are built: tests run them).
cargo test --locked --all-features "$@"
# The benchmark harnesses must keep building (they run with `cargo bench`: see README).
cargo test --locked --benches
