//! Namespaces: new ones differ from the host's; joined ones (by path) equal the holder's.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use podrt_tests::ctx::wait_until;
use podrt_tests::procfs::{self, ns_inode, ns_inode_path};
use podrt_tests::{json, require, Ctx, Feature};

const KINDS: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("mount", "mnt"),
    ("uts", "uts"),
    ("ipc", "ipc"),
    ("network", "net"),
    ("cgroup", "cgroup"),
];

fn host_ns(kind: &str) -> u64 {
    ns_inode_path(&format!("/proc/self/ns/{kind}"))
}

#[test]
fn all_default_namespaces_are_new() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    for (_, file) in KINDS {
        assert_ne!(
            ns_inode(pid, file),
            host_ns(file),
            "{file} namespace is the host's"
        );
    }
    // user namespace not requested: shared with the host
    assert_eq!(ns_inode(pid, "user"), host_ns("user"));
    t.down();
}

#[test]
fn each_namespace_alone() {
    // Only one namespace requested at a time: that one is new, the others are the host's.
    for (kind, _) in KINDS {
        let mut t = Ctx::new();
        t.bundle.args(&["sleep", "1000"]);
        t.bundle.config_mut()["linux"]["namespaces"] = json!([{"type": kind}]);
        if *kind != "mount" {
            // Without a mount namespace a runtime may not mount anything on top of the host.
            t.bundle.namespace("mount", None);
        }
        if *kind != "uts" {
            // A hostname needs a private UTS namespace.
            t.bundle
                .config_mut()
                .as_object_mut()
                .unwrap()
                .remove("hostname");
        }
        if *kind != "network" {
            // sysfs cannot be mounted without a network namespace owned by us: bind it instead.
            let mounts = t.bundle.config_mut()["mounts"].as_array_mut().unwrap();
            for m in mounts.iter_mut() {
                if m["destination"] == "/sys" {
                    *m = json!({"destination": "/sys", "type": "bind", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
            }
        }
        if *kind != "cgroup" {
            t.bundle.config_mut()["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/sys/fs/cgroup");
        }
        let pid = t.up();
        for (k2, f2) in KINDS {
            let new = *k2 == *kind || *k2 == "mount";
            if new {
                assert_ne!(
                    ns_inode(pid, f2),
                    host_ns(f2),
                    "{f2} should be new (only {kind})"
                );
            } else {
                assert_eq!(
                    ns_inode(pid, f2),
                    host_ns(f2),
                    "{f2} should be the host's (only {kind})"
                );
            }
        }
        t.down();
    }
}

/// A process we start to hold namespaces; killed (by pid) on drop.
struct Holder {
    child: Child,
}

impl Holder {
    fn start(args: &[&str]) -> Holder {
        let child = Command::new("unshare")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        Holder { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The first child of the holder (for `unshare --fork`).
    fn child_pid(&self) -> i32 {
        let path = format!("/proc/{0}/task/{0}/children", self.pid());
        let mut found = 0;
        assert!(
            wait_until(Duration::from_secs(5), || {
                found = fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
                    .unwrap_or(0);
                found > 0
            }),
            "holder has no child"
        );
        found
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ns_differs(pid: i32, file: &str) {
    assert!(
        wait_until(Duration::from_secs(5), || {
            fs::metadata(format!("/proc/{pid}/ns/{file}")).is_ok()
                && ns_inode(pid, file) != host_ns(file)
        }),
        "holder never entered a new {file} namespace"
    );
}

#[test]
fn join_net_and_uts_by_path() {
    require!(Feature::Unshare);
    let holder = Holder::start(&["--net", "--uts", "sleep", "60"]);
    let h = holder.pid();
    wait_ns_differs(h, "net");
    wait_ns_differs(h, "uts");
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle
        .namespace("network", Some(&format!("/proc/{h}/ns/net")));
    t.bundle
        .namespace("uts", Some(&format!("/proc/{h}/ns/uts")));
    let pid = t.up();
    assert_eq!(ns_inode(pid, "net"), ns_inode(h, "net"));
    assert_eq!(ns_inode(pid, "uts"), ns_inode(h, "uts"));
    assert_ne!(ns_inode(pid, "ipc"), ns_inode(h, "ipc"));
    t.down();
    assert!(procfs::alive(h), "the holder must survive the container");
}

#[test]
fn join_ipc_by_path() {
    require!(Feature::Unshare);
    let holder = Holder::start(&["--ipc", "sleep", "60"]);
    let h = holder.pid();
    wait_ns_differs(h, "ipc");
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle
        .namespace("ipc", Some(&format!("/proc/{h}/ns/ipc")));
    let pid = t.up();
    assert_eq!(ns_inode(pid, "ipc"), ns_inode(h, "ipc"));
    t.down();
}

#[test]
fn join_pid_namespace_by_path() {
    require!(Feature::Unshare);
    let holder = Holder::start(&["--pid", "--fork", "sleep", "60"]);
    let inner = holder.child_pid();
    wait_ns_differs(inner, "pid");
    let mut t = Ctx::new();
    t.bundle.sh("echo $$; sleep 1000");
    t.bundle
        .namespace("pid", Some(&format!("/proc/{inner}/ns/pid")));
    let out = t.create();
    out.assert_ok();
    let pid = t.pid();
    t.start().assert_ok();
    assert_eq!(ns_inode(pid, "pid"), ns_inode(inner, "pid"));
    // The holder's sleep is pid 1 in that namespace, so the container's shell is not.
    assert!(wait_until(Duration::from_secs(5), || !out
        .reread_stdout()
        .is_empty()));
    let inner_pid: i32 = out.reread_stdout().trim().parse().unwrap();
    assert!(
        inner_pid > 1,
        "container pid in the joined namespace: {inner_pid}"
    );
    let nspid = procfs::Status::of(pid).get("NSpid").to_string();
    assert!(
        nspid.ends_with(&format!("\t{inner_pid}")) || nspid.ends_with(&format!(" {inner_pid}")),
        "NSpid {nspid:?} vs {inner_pid}"
    );
    t.down();
}

#[test]
fn join_bad_namespace_path_fails() {
    let mut t = Ctx::new();
    t.bundle.namespace("network", Some("/nonexistent/ns/net"));
    let out = t.create();
    out.assert_fail();
    out.assert_stderr_contains(&["/nonexistent/ns/net"]);
}

#[test]
fn join_namespace_of_wrong_type_fails() {
    // A uts namespace file given as the network namespace: setns refuses it.
    let mut t = Ctx::new();
    t.bundle.namespace("network", Some("/proc/self/ns/uts"));
    let out = t.create();
    out.assert_fail();
    if t.rt.is_podrt() {
        out.assert_stderr_contains(&["/proc/self/ns/uts"]);
    } else {
        // runc 1.1.5 prints only "can't get final child's PID from pipe: EOF" on stderr; the
        // cause ("failed to setns into net namespace: Invalid argument") is only in its log.
        assert!(out.log.contains("setns"), "{out}");
    }
}

#[test]
fn user_namespace_mappings() {
    require!(Feature::UserNs);
    let mut t = Ctx::new();
    t.bundle
        .sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; sleep 1000");
    t.bundle.namespace("user", None);
    let c = t.bundle.config_mut();
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    // The v1 cgroup filesystem cannot be mounted from a user namespace; keep the test about
    // the mappings.
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/sys/fs/cgroup");
    let out = t.create();
    out.assert_ok();
    let pid = t.pid();
    t.start().assert_ok();
    assert_ne!(ns_inode(pid, "user"), host_ns("user"));
    let uid_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let gid_map = fs::read_to_string(format!("/proc/{pid}/gid_map")).unwrap();
    let fields = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(fields(&uid_map), ["0", "100000", "65536"]);
    assert_eq!(fields(&gid_map), ["0", "200000", "65536"]);
    let st = procfs::Status::of(pid);
    assert_eq!(st.ids("Uid")[0], 100000, "host view of the container's uid");
    assert_eq!(st.ids("Gid")[0], 200000);
    // The init is in its cgroup: on v1 it joined from inside the new user namespace (`0` to
    // each hierarchy's tasks file, through descriptors the runtime opened); on v2 it was
    // cloned into it.
    let mine = procfs::cgroups(pid);
    assert!(
        mine.iter().any(|l| l.path.ends_with(&format!("/{}", t.id))),
        "init not in its cgroup: {mine:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || out
        .reread_stdout()
        .lines()
        .count()
        >= 4));
    let text = out.reread_stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(lines[1], "0");
    t.down();
}

/// `podrt check` asks nf_tables for pod hostPort rules over netlink, as pods do (no nft(8)),
/// in a throwaway network namespace: the host's own ruleset never sees its table.
#[test]
fn check_probes_nftables_over_netlink_off_the_host() {
    let t = Ctx::new();
    let out = t.cmd(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("check --format json: {e}\n{out}"));
    let nft = v["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["feature"] == "net.nftables")
        .unwrap_or_else(|| panic!("no net.nftables probe: {v}"));
    assert_eq!(nft["status"], "ok", "{nft}");
    assert!(
        nft["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("netlink"),
        "{nft}"
    );
    // The kernel's view of the host namespace: no table named after the probe.
    if let Ok(o) = Command::new("nft").args(["list", "tables"]).output() {
        let tables = String::from_utf8_lossy(&o.stdout);
        assert!(
            !tables.contains("podrt_check"),
            "probe table on the host: {tables}"
        );
    }
}
