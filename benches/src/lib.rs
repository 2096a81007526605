//! Benchmarks: placeholder.
