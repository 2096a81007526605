//! Start-latency benchmarks for podrt: the pieces of the `startbench` harness (bundle, process
//! measurement, statistics, machine description, Markdown report, SVG plot), kept in a library so
//! they can be unit-tested and reused by the criterion benches.

pub mod bundle;
pub mod machine;
pub mod measure;
pub mod model;
pub mod plot;
pub mod report;
pub mod stats;
pub mod vm;
