//! Start-latency benchmarks for podrt: the pieces of the `startbench` harness (bundle, process
//! measurement, process-tree memory, HTTP probe, podman peer, statistics, machine description,
//! Markdown report, SVG plots), kept in a library so they can be unit-tested and reused by the
//! criterion benches.

pub mod bundle;
pub mod http;
pub mod machine;
pub mod measure;
pub mod model;
pub mod plot;
pub mod podman;
pub mod procs;
pub mod report;
pub mod stats;
pub mod vm;

/// The script crun runs under on a hybrid host: a private mount namespace without the cgroup2
/// mount that makes crun refuse the host (host mounts stay untouched). Used as
/// `unshare -m --propagation private sh -c SCRIPT sh crun ARGS...`.
pub const CRUN_WRAPPER_SCRIPT: &str = "umount /sys/fs/cgroup/unified; exec \"$@\"";
