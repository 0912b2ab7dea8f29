//! Shared pieces of the `make bench` programs: summary statistics and the report sections
//! `infra/scripts/bench.sh` assembles into `BENCHMARKS.md`.
//!
//! Each bench program measures one thing, prints its table and writes it as a Markdown section
//! to `$VBM_BENCH_OUT/<name>.md` (default `target/bench/`). Benchmarks print figures; nothing
//! here asserts a time.

pub mod bare_send;
pub mod bench_business;
pub mod calls;
pub mod cpu;
pub mod criterion;
pub mod in_process;
pub mod init;
pub mod judge;
pub mod model;
pub mod report;
pub mod requests;
pub mod runtime_api;
pub mod server_process;
pub mod stand_in;
pub mod stats;
pub mod workload;
