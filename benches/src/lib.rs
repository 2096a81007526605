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
///
/// In v1 mode crun still creates `unified/ID/cgroup.procs` for the `0::` line of
/// /proc/self/cgroup. With the cgroup2 mount merely unmounted, that lands in the host's
/// /sys/fs/cgroup tmpfs, under the real mount point, and is never removed: one hidden directory
/// per crun container, whose page pins the container's memory cgroup after it is deleted (a
/// dying memcg the kernel keeps forever). A tmpfs of the namespace's own over the mount point
/// takes those writes and goes away with the namespace.
pub const CRUN_WRAPPER_SCRIPT: &str = "umount /sys/fs/cgroup/unified && mount -t tmpfs -o \
     size=256k,mode=755 crun-unified /sys/fs/cgroup/unified; exec \"$@\"";
