//! The reliability suites: crashes at every filesystem step (simulated power
//! loss and real aborted processes), injected I/O errors, real SIGKILLs,
//! concurrent writers, corruption matrices, hostile inputs and parser
//! property tests. docs/RELIABILITY.md says what each proves and how many
//! cases it ran; the heavy counts run from `scripts/kill-loop.sh`.
//!
//! Every suite drives the production code unchanged: in-process through
//! `Store::open_with` over a filesystem of the tests' own (simulated or
//! wrapping the real one), or as real `graphvault` processes.

#[path = "integration/common.rs"]
mod fixtures;

#[path = "reliability/hookfs.rs"]
mod hookfs;
#[path = "reliability/scenario.rs"]
mod scenario;
#[path = "reliability/simfs.rs"]
mod simfs;

#[path = "reliability/check.rs"]
mod check;
#[path = "reliability/child.rs"]
mod child;
#[path = "reliability/compact.rs"]
mod compact;
#[path = "reliability/concurrency.rs"]
mod concurrency;
#[path = "reliability/corruption.rs"]
mod corruption;
#[path = "reliability/crash.rs"]
mod crash;
#[path = "reliability/faults.rs"]
mod faults;
#[path = "reliability/hostile.rs"]
mod hostile;
#[path = "reliability/kill.rs"]
mod kill;
#[path = "reliability/kill_compact.rs"]
mod kill_compact;
#[path = "reliability/kill_rotate.rs"]
mod kill_rotate;
#[path = "reliability/negative.rs"]
mod negative;
#[path = "reliability/parsers.rs"]
mod parsers;
#[path = "reliability/retention.rs"]
mod retention;
