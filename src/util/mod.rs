//! Small, dependency-free helpers shared by every part of Strato: identifiers, a stable hasher,
//! process memory readings and the deterministic text generator used by benchmarks and tests.

pub mod hash;
pub mod ids;
pub mod logging;
pub mod process;
pub mod resources;
pub mod rolling;
pub mod textgen;
