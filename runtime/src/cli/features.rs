//! `podrt features`: the OCI features document. It claims only what `create` honours.

use serde_json::{json, Value};

/// Mount options `create` understands (see prepare::mounts).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
    "tmpcopyup",
    "nocopyup",
    "copyup",
];

pub fn features() -> Value {
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::runtime::thread_all_supported()
            .iter()
            .map(|c| c.to_string())
            .collect();
        v.sort();
        v
    };
    let layout = podrt_cgroup::Layout::detect().ok();
    let (v1, v2) = match layout.as_ref().map(|l| l.mode()) {
        Some(podrt_cgroup::Mode::Unified) => (false, true),
        Some(podrt_cgroup::Mode::Hybrid) => (true, true),
        Some(podrt_cgroup::Mode::Legacy) => (true, false),
        None => (false, false),
    };
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": proven_namespaces(),
            "capabilities": caps,
            "cgroup": {"v1": v1, "v2": v2, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": crate::prepare::seccomp::features(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.podrt.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// The namespace types `podrt check` proves on this kernel (each tried with unshare).
fn proven_namespaces() -> Vec<String> {
    let mut v: Vec<String> = crate::check::namespaces()
        .into_iter()
        .filter(|p| p.status == crate::check::Status::Ok)
        .filter_map(|p| p.feature.strip_prefix("namespace.").map(str::to_string))
        .map(|n| if n == "net" { "network".to_string() } else { n })
        .collect();
    v.sort();
    v
}
