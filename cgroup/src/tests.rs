//! Fixture tests: tempdirs laid out like the kernel's cgroup filesystems. A hook stands in for
//! the kernel populating each new cgroup directory with its control files.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use crate::layout::tests::{HYBRID, LEGACY, UNIFIED};
use crate::{Cgroup, Error, Layout, Mode};

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("valid LinuxResources JSON")
}

/// Control files the kernel makes in a new directory of a hierarchy with `controllers`.
fn kernel_files(
    controllers: &[String],
    v2: bool,
    memsw: bool,
) -> Vec<(&'static str, &'static str)> {
    let mut f = vec![("cgroup.procs", "")];
    if v2 {
        f.extend([
            ("cgroup.controllers", ""),
            ("cgroup.subtree_control", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 0\nfrozen 0\n"),
            ("cgroup.kill", ""),
            ("cpu.stat", "usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 0\nnr_throttled 1\nthrottled_usec 3\n"),
        ]);
    } else {
        f.push(("tasks", ""));
    }
    for c in controllers {
        match (c.as_str(), v2) {
            ("memory", false) => {
                f.extend([
                    ("memory.limit_in_bytes", "9223372036854771712"),
                    ("memory.soft_limit_in_bytes", "9223372036854771712"),
                    ("memory.swappiness", "60"),
                    (
                        "memory.oom_control",
                        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
                    ),
                    ("memory.usage_in_bytes", "4096"),
                    ("memory.max_usage_in_bytes", "8192"),
                    ("memory.kmem.tcp.limit_in_bytes", "9223372036854771712"),
                ]);
                if memsw {
                    f.push(("memory.memsw.limit_in_bytes", "9223372036854771712"));
                }
            }
            ("memory", true) => f.extend([
                ("memory.max", "max"),
                ("memory.low", "0"),
                ("memory.swap.max", "max"),
                ("memory.current", "4096"),
                ("memory.events", "low 0\nhigh 0\nmax 0\noom 1\noom_kill 3\n"),
                ("memory.high", "max"),
            ]),
            ("cpu", false) => f.extend([
                ("cpu.shares", "1024"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "-1"),
                ("cpu.cfs_burst_us", "0"),
                ("cpu.idle", "0"),
                ("cpu.rt_period_us", "1000000"),
                ("cpu.rt_runtime_us", "0"),
                (
                    "cpu.stat",
                    "nr_periods 0\nnr_throttled 4\nthrottled_time 5\n",
                ),
            ]),
            ("cpu", true) => f.extend([
                ("cpu.weight", "100"),
                ("cpu.max", "max 100000"),
                ("cpu.max.burst", "0"),
                ("cpu.idle", "0"),
            ]),
            ("cpuacct", _) => f.extend([
                ("cpuacct.usage", "1000"),
                ("cpuacct.usage_user", "600"),
                ("cpuacct.usage_sys", "400"),
            ]),
            ("cpuset", _) => f.extend([("cpuset.cpus", ""), ("cpuset.mems", "")]),
            ("pids", _) => f.extend([("pids.max", "max"), ("pids.current", "0")]),
            ("devices", _) => f.extend([
                ("devices.allow", ""),
                ("devices.deny", ""),
                ("devices.list", "a *:* rwm"),
            ]),
            ("freezer", _) => f.push(("freezer.state", "THAWED")),
            // This host's blkio has BFQ files only.
            ("blkio", _) => f.extend([
                ("blkio.bfq.weight", "100"),
                ("blkio.throttle.read_bps_device", ""),
                ("blkio.throttle.write_iops_device", ""),
            ]),
            ("io", _) => f.extend([("io.weight", "default 100"), ("io.max", "")]),
            ("hugetlb", true) => f.extend([("hugetlb.2MB.max", "max"), ("hugetlb.1GB.max", "max")]),
            ("hugetlb", false) => f.push(("hugetlb.2MB.limit_in_bytes", "9223372036854771712")),
            ("net_cls", _) => f.push(("net_cls.classid", "0")),
            ("net_prio", _) => f.push(("net_prio.ifpriomap", "")),
            _ => {}
        }
    }
    f
}

const ALL_V2: &str = "cpuset cpu io memory hugetlb pids rdma misc";

struct Fx {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    layout: Layout,
    memsw: bool,
    /// Controllers offered at the root of the cgroup2 mount.
    v2_offered: String,
}

impl Fx {
    fn new(mountinfo: &str, v2_offered: &str) -> Fx {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let layout = Layout::from_mountinfo(mountinfo)
            .unwrap()
            .with_root_prefix(&root);
        let fx = Fx {
            _tmp: tmp,
            root,
            layout,
            memsw: true,
            v2_offered: v2_offered.into(),
        };
        for h in &fx.layout.v1 {
            fs::create_dir_all(&h.mount.mountpoint).unwrap();
            fs::write(h.mount.mountpoint.join("cgroup.procs"), "1\n").unwrap();
            if h.controllers.iter().any(|c| c == "cpuset") {
                fs::write(h.mount.mountpoint.join("cpuset.cpus"), "0-1\n").unwrap();
                fs::write(h.mount.mountpoint.join("cpuset.mems"), "0\n").unwrap();
            }
        }
        if let Some(u) = &fx.layout.unified {
            fs::create_dir_all(&u.mountpoint).unwrap();
            fs::write(
                u.mountpoint.join("cgroup.controllers"),
                format!("{v2_offered}\n"),
            )
            .unwrap();
            fs::write(u.mountpoint.join("cgroup.subtree_control"), "\n").unwrap();
            fs::write(u.mountpoint.join("cgroup.procs"), "1\n").unwrap();
        }
        fx
    }

    fn hybrid() -> Fx {
        Fx::new(HYBRID, "hugetlb")
    }

    fn unified() -> Fx {
        Fx::new(UNIFIED, ALL_V2)
    }

    fn legacy() -> Fx {
        Fx::new(LEGACY, "")
    }

    /// What the kernel would do on mkdir.
    fn populate(&self, dir: &Path) {
        let (controllers, v2) = if let Some(h) = self
            .layout
            .v1
            .iter()
            .find(|h| dir.starts_with(&h.mount.mountpoint))
        {
            (h.controllers.clone(), false)
        } else {
            (
                self.v2_offered
                    .split_whitespace()
                    .map(String::from)
                    .collect(),
                true,
            )
        };
        for (name, content) in kernel_files(&controllers, v2, self.memsw) {
            fs::write(dir.join(name), content).unwrap();
        }
    }

    fn create(&self, path: &str, r: Option<&LinuxResources>) -> Result<Cgroup, Error> {
        Cgroup::create_with(&self.layout, path, r, &mut |d| self.populate(d))
    }

    /// Create without the kernel's files (empty directories are what rmdir needs in a fixture).
    fn create_bare(&self, path: &str, r: Option<&LinuxResources>) -> Result<Cgroup, Error> {
        Cgroup::create_with(&self.layout, path, r, &mut |_| {})
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join("sys/fs/cgroup").join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.p(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn write(&self, rel: &str, v: &str) {
        fs::write(self.p(rel), v).unwrap()
    }

    /// Emulate the kernel dropping control files on rmdir: remove the regular files in every
    /// directory below the mountpoints.
    fn strip_files(&self) {
        fn walk(dir: &Path, top: bool) {
            for e in fs::read_dir(dir).unwrap().flatten() {
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    walk(&e.path(), false);
                } else if !top {
                    fs::remove_file(e.path()).unwrap();
                }
            }
        }
        let mut mounts: Vec<&Path> = self
            .layout
            .v1
            .iter()
            .map(|h| h.mount.mountpoint.as_path())
            .collect();
        mounts.extend(self.layout.unified.iter().map(|u| u.mountpoint.as_path()));
        for m in mounts {
            walk(m, true);
        }
    }

    /// Every directory below the mountpoints, relative to `sys/fs/cgroup`.
    fn dirs(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    out.push(e.path().strip_prefix(base).unwrap().display().to_string());
                    walk(&e.path(), base, out);
                }
            }
        }
        let base = self.p("");
        let mut out = Vec::new();
        let mut mounts: Vec<&Path> = self
            .layout
            .v1
            .iter()
            .map(|h| h.mount.mountpoint.as_path())
            .collect();
        mounts.extend(self.layout.unified.iter().map(|u| u.mountpoint.as_path()));
        for m in mounts.into_iter().filter(|m| m.is_dir()) {
            walk(m, &base, &mut out);
        }
        out.sort();
        out
    }
}

fn full_resources() -> LinuxResources {
    res(json!({
        "memory": { "limit": 67108864, "reservation": 33554432, "swap": 100663296, "swappiness": 10 },
        "cpu": { "shares": 512, "quota": 50000, "period": 100000 },
        "pids": { "limit": 16 },
        "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" }
        ]
    }))
}

// ---------------------------------------------------------------- v1 / hybrid

#[test]
fn hybrid_create_joins_only_needed_hierarchies() {
    let fx = Fx::hybrid();
    let cg = fx.create("/podrt/c1", None).unwrap();
    assert_eq!(cg.mode(), Mode::Hybrid);
    let mut got: Vec<String> = cg
        .dirs()
        .map(|d| d.strip_prefix(fx.p("")).unwrap().display().to_string())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "cpu/podrt/c1",
            "cpuacct/podrt/c1",
            "devices/podrt/c1",
            "freezer/podrt/c1",
            "memory/podrt/c1",
            "pids/podrt/c1"
        ]
    );
    assert!(
        !fx.p("cpuset/podrt").exists()
            && !fx.p("blkio/podrt").exists()
            && !fx.p("systemd/podrt").exists()
    );
    assert!(
        !fx.p("unified/podrt").exists(),
        "hugetlb only when hugepage limits are set"
    );
    assert!(
        cg.dir_fd().unwrap().is_none(),
        "no CLONE_INTO_CGROUP outside pure v2"
    );
}

#[test]
fn hybrid_apply_writes_v1_files() {
    let fx = Fx::hybrid();
    let r = full_resources();
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("memory/podrt/c1/memory.limit_in_bytes"), "67108864");
    assert_eq!(
        fx.read("memory/podrt/c1/memory.memsw.limit_in_bytes"),
        "100663296"
    );
    assert_eq!(
        fx.read("memory/podrt/c1/memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(fx.read("memory/podrt/c1/memory.swappiness"), "10");
    assert_eq!(fx.read("cpu/podrt/c1/cpu.shares"), "512");
    assert_eq!(fx.read("cpu/podrt/c1/cpu.cfs_quota_us"), "50000");
    assert_eq!(fx.read("cpu/podrt/c1/cpu.cfs_period_us"), "100000");
    assert_eq!(fx.read("pids/podrt/c1/pids.max"), "16");
    // Fixture files keep the last write; the order is checked in device_rules_in_order.
    assert_eq!(fx.read("devices/podrt/c1/devices.deny"), "a *:* rwm");
    assert_eq!(fx.read("devices/podrt/c1/devices.allow"), "c 1:3 rwm");

    cg.add_task(4242).unwrap();
    for d in cg.dirs() {
        assert_eq!(fs::read_to_string(d.join("cgroup.procs")).unwrap(), "4242");
    }
    assert_eq!(cg.procs().unwrap(), [4242]);
}

#[test]
fn v1_unlimited_and_zero_values() {
    let fx = Fx::hybrid();
    let r =
        res(json!({ "memory": { "limit": -1 }, "pids": { "limit": 0 }, "cpu": { "quota": -1 } }));
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("memory/podrt/c1/memory.limit_in_bytes"), "-1");
    assert_eq!(
        fx.read("memory/podrt/c1/memory.memsw.limit_in_bytes"),
        "-1",
        "unlimited memory, unlimited swap"
    );
    assert_eq!(fx.read("pids/podrt/c1/pids.max"), "max");
    assert_eq!(fx.read("cpu/podrt/c1/cpu.cfs_quota_us"), "-1");
    assert_eq!(
        fx.read("cpu/podrt/c1/cpu.cfs_period_us"),
        "100000",
        "untouched"
    );
    // Nothing set: nothing written.
    cg.apply(&res(json!({ "memory": {}, "cpu": {} }))).unwrap();
}

#[test]
fn v1_swap_without_memsw_is_a_clear_error() {
    let mut fx = Fx::hybrid();
    fx.memsw = false;
    let r = res(json!({ "memory": { "limit": 67108864, "swap": 134217728 } }));
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    let e = cg.apply(&r).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(
        msg.contains("memory.memsw.limit_in_bytes") && msg.contains("swapaccount=1"),
        "{msg}"
    );
    // Unlimited memory without a swap setting implies unlimited swap, silently skipped here.
    cg.apply(&res(json!({ "memory": { "limit": -1 } })))
        .unwrap();
}

#[test]
fn v1_cpuset_copies_parent_values_down() {
    let fx = Fx::hybrid();
    let r = res(json!({ "cpu": { "cpus": "1" } }));
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    assert!(cg.dirs().any(|d| d.starts_with(fx.p("cpuset"))));
    assert_eq!(fx.read("cpuset/podrt/cpuset.cpus"), "0-1");
    assert_eq!(fx.read("cpuset/podrt/cpuset.mems"), "0");
    assert_eq!(fx.read("cpuset/podrt/c1/cpuset.mems"), "0");
    assert_eq!(fx.read("cpuset/podrt/c1/cpuset.cpus"), "", "left for apply");
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("cpuset/podrt/c1/cpuset.cpus"), "1");
}

#[test]
fn v1_blkio_falls_back_to_bfq_and_throttles() {
    let fx = Fx::hybrid();
    let r = res(json!({ "blockIO": {
        "weight": 300,
        "throttleReadBpsDevice": [{ "major": 8, "minor": 0, "rate": 1048576 }],
        // oci-spec 0.7 spells it so (the OCI spec says throttleWriteIOPSDevice).
        "throttleWriteIopsDevice": [{ "major": 8, "minor": 0, "rate": 100 }]
    }}));
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("blkio/podrt/c1/blkio.bfq.weight"), "300");
    assert_eq!(
        fx.read("blkio/podrt/c1/blkio.throttle.read_bps_device"),
        "8:0 1048576"
    );
    assert_eq!(
        fx.read("blkio/podrt/c1/blkio.throttle.write_iops_device"),
        "8:0 100"
    );
}

#[test]
fn hybrid_hugetlb_uses_the_v2_mount() {
    let fx = Fx::hybrid();
    let r = res(json!({ "hugepageLimits": [{ "pageSize": "2MB", "limit": 4194304 }] }));
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    assert!(fx.p("unified/podrt/c1").is_dir());
    assert_eq!(fx.read("unified/cgroup.subtree_control"), "+hugetlb");
    assert_eq!(fx.read("unified/podrt/cgroup.subtree_control"), "+hugetlb");
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("unified/podrt/c1/hugetlb.2MB.max"), "4194304");
    cg.add_task(7).unwrap();
    assert_eq!(fx.read("unified/podrt/c1/cgroup.procs"), "7");
    assert_eq!(fx.read("freezer/podrt/c1/cgroup.procs"), "7");

    let bad = res(json!({ "hugepageLimits": [{ "pageSize": "../2MB", "limit": 1 }] }));
    assert!(matches!(cg.apply(&bad), Err(Error::InvalidResource { .. })));
}

#[test]
fn hybrid_missing_controller_is_unsupported() {
    let fx = Fx::hybrid();
    let r = res(json!({ "rdma": { "mlx4_0": { "hcaHandles": 2 } } }));
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    let e = cg.apply(&r).unwrap_err();
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("rdma"),
        "{e}"
    );
    let e = cg
        .apply(&res(json!({ "unified": { "memory.high": "1" } })))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn legacy_comounted_cpu_cpuacct_is_one_directory() {
    let fx = Fx::legacy();
    let r = res(
        json!({ "cpu": { "shares": 256 }, "network": { "classID": 1048577, "priorities": [{ "name": "eth0", "priority": 5 }] } }),
    );
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    assert_eq!(
        cg.dirs()
            .filter(|d| d.starts_with(fx.p("cpu,cpuacct")))
            .count(),
        1
    );
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("cpu,cpuacct/podrt/c1/cpu.shares"), "256");
    assert_eq!(
        fx.read("net_cls,net_prio/podrt/c1/net_cls.classid"),
        "1048577"
    );
    assert_eq!(
        fx.read("net_cls,net_prio/podrt/c1/net_prio.ifpriomap"),
        "eth0 5"
    );
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu.unwrap().usage_ns, 1000);
}

#[test]
fn device_rules_in_order() {
    let r = res(json!({ "devices": [
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" },
        { "allow": true, "type": "b", "major": 8, "access": "r" },
        { "allow": true, "type": "c", "major": 136, "minor": -1 },
        { "allow": true, "type": "p", "access": "rwm" },
        { "allow": true, "type": "u", "major": 5, "minor": 1, "access": "rw" },
        { "allow": false, "type": "a", "major": 1, "minor": 1, "access": "m" }
    ]}));
    let lines: Vec<_> = r
        .devices()
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|d| crate::v1::device_rule(d).unwrap())
        .collect();
    let want = [
        ("devices.deny", "a *:* rwm"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "b 8:* r"),
        ("devices.allow", "c 136:* rwm"),
        ("devices.allow", "c 5:1 rw"),
        ("devices.deny", "a *:* m"),
    ];
    assert_eq!(
        lines
            .iter()
            .map(|(f, l)| (*f, l.as_str()))
            .collect::<Vec<_>>(),
        want
    );
    let bad = res(json!({ "devices": [{ "allow": true, "access": "rwx" }] }));
    assert!(crate::v1::device_rule(&bad.devices().as_ref().unwrap()[0]).is_err());
}

#[test]
fn v1_freeze_thaw_and_kill_all_on_an_empty_cgroup() {
    let fx = Fx::hybrid();
    let cg = fx.create("/podrt/c1", None).unwrap();
    cg.freeze().unwrap();
    assert_eq!(fx.read("freezer/podrt/c1/freezer.state"), "FROZEN");
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    cg.kill_all(libc::SIGKILL).unwrap(); // no pids: freeze, nothing to signal, thaw
    assert_eq!(fx.read("freezer/podrt/c1/freezer.state"), "THAWED");
    cg.freeze().unwrap();
    cg.kill_all(libc::SIGTERM).unwrap();
    assert_eq!(
        fx.read("freezer/podrt/c1/freezer.state"),
        "FROZEN",
        "a paused cgroup stays paused"
    );
}

#[test]
fn v1_stats_and_oom() {
    let fx = Fx::hybrid();
    let cg = fx.create("/podrt/c1", None).unwrap();
    fx.write("pids/podrt/c1/pids.current", "3\n");
    let s = cg.stats().unwrap();
    let cpu = s.cpu.unwrap();
    assert_eq!(
        (
            cpu.usage_ns,
            cpu.user_ns,
            cpu.system_ns,
            cpu.throttled_periods,
            cpu.throttled_ns
        ),
        (1000, 600, 400, 4, 5)
    );
    let m = s.memory.unwrap();
    assert_eq!(
        (m.usage, m.limit, m.max_usage, m.oom_kill),
        (4096, None, Some(8192), 2)
    );
    let p = s.pids.unwrap();
    assert_eq!((p.current, p.limit), (3, None));
    assert_eq!(cg.oom_kill_count().unwrap(), 2);
    serde_json::to_string(&cg.stats().unwrap()).unwrap();
}

// ---------------------------------------------------------------- destroy

#[test]
fn destroy_removes_only_what_create_made() {
    let fx = Fx::hybrid();
    fs::create_dir(fx.p("memory/pre")).unwrap();
    let cg = fx.create_bare("/pre/x/y", None).unwrap();
    cg.destroy().unwrap();
    assert_eq!(
        fx.dirs(),
        ["memory/pre"],
        "the pre-existing parent stays, all else goes"
    );
    cg.destroy().unwrap(); // idempotent
}

/// Another container's destroy removes the shared parent the moment it is empty: here right
/// after create made it, before the leaf's mkdir. create makes it again and succeeds.
#[test]
fn create_survives_the_shared_parent_vanishing_between_mkdirs() {
    let fx = Fx::hybrid();
    let mut removed = std::collections::HashSet::new();
    let cg = Cgroup::create_with(&fx.layout, "/podrt/c", None, &mut |d: &Path| {
        if d.ends_with("podrt") && removed.insert(d.to_path_buf()) {
            fs::remove_dir(d).unwrap();
        }
    })
    .expect("create retries when the parent disappears");
    assert!(!removed.is_empty(), "the hook ran");
    for d in &removed {
        assert!(d.join("c").is_dir(), "{} has the leaf", d.display());
    }
    cg.destroy().unwrap();
    assert!(fx.dirs().is_empty(), "{:?}", fx.dirs());
}

#[test]
fn destroy_keeps_parents_in_use_and_never_removes_foreign_ones() {
    let fx = Fx::hybrid();
    let a = fx.create_bare("/podrt/a", None).unwrap();
    let b = fx.create_bare("/podrt/b", None).unwrap();
    a.destroy().unwrap();
    assert!(fx.p("memory/podrt/b").is_dir(), "b untouched");
    assert!(
        fx.p("memory/podrt").is_dir(),
        "a made /podrt but b still lives there"
    );
    b.destroy().unwrap();
    assert!(fx.p("memory/podrt").is_dir(), "b did not make /podrt");
    assert!(!fx.p("memory/podrt/b").exists());
}

#[test]
fn failed_create_cleans_up_after_itself() {
    let fx = Fx::hybrid();
    // The pids hierarchy's mountpoint vanished: freezer and memory are made first, then mkdir
    // fails in pids.
    fs::remove_dir_all(fx.p("pids")).unwrap();
    let e = fx.create_bare("/podrt/c1", None).unwrap_err();
    assert!(matches!(e, Error::CreateDir { .. }), "{e:?}");
    assert!(e.to_string().contains("pids/podrt"), "{e}");
    assert!(fx.dirs().is_empty(), "left behind: {:?}", fx.dirs());
}

#[test]
fn destroy_works_after_a_state_json_round_trip() {
    let fx = Fx::hybrid();
    let cg = fx.create_bare("/podrt/c1", None).unwrap();
    let text = serde_json::to_string(&cg).unwrap();
    let back: Cgroup = serde_json::from_str(&text).unwrap();
    assert_eq!(back.path(), "/podrt/c1");
    back.destroy().unwrap();
    assert!(fx.dirs().is_empty(), "{:?}", fx.dirs());
}

#[test]
fn destroy_removes_nested_child_cgroups() {
    let fx = Fx::hybrid();
    let cg = fx.create_bare("/podrt/c1", None).unwrap();
    // A cgroup manager inside the container made sub-cgroups (empty dirs, as after the kernel's
    // control files are gone). rmdir of c1 then fails with ENOTEMPTY in the fixture.
    fs::create_dir_all(fx.p("memory/podrt/c1/init.scope/x")).unwrap();
    cg.destroy().unwrap();
    assert!(fx.dirs().is_empty(), "{:?}", fx.dirs());
}

#[test]
fn open_existing_finds_every_hierarchy() {
    let fx = Fx::hybrid();
    let cg = fx.create_bare("/podrt/c1", None).unwrap();
    let found = Cgroup::open_existing(&fx.layout, "/podrt/c1").unwrap();
    assert_eq!(found.dirs().count(), cg.dirs().count());
    found.destroy().unwrap();
    assert_eq!(
        fx.dirs().len(),
        6,
        "only the leaves: parents are kept, nothing says who made them"
    );
}

#[test]
fn paths_are_checked() {
    let fx = Fx::hybrid();
    for (p, why) in [
        ("podrt/x", "absolute"),
        ("/podrt/../x", ".."),
        ("/", "root"),
        ("//", "root"),
    ] {
        let e = fx.create_bare(p, None).unwrap_err();
        assert!(
            matches!(e, Error::InvalidPath { .. }) && e.to_string().contains(why),
            "{p}: {e}"
        );
    }
    let cg = fx.create_bare("//podrt/./x/", None).unwrap();
    assert_eq!(cg.path(), "/podrt/x");
    cg.destroy().unwrap();
}

// ---------------------------------------------------------------- v2

#[test]
fn v2_create_enables_controllers_on_the_way_down() {
    let fx = Fx::unified();
    let cg = fx.create("/podrt/c1", None).unwrap();
    assert_eq!(cg.mode(), Mode::Unified);
    assert_eq!(fx.read("cgroup.subtree_control"), "+cpu +memory +pids");
    assert_eq!(
        fx.read("podrt/cgroup.subtree_control"),
        "+cpu +memory +pids"
    );
    assert!(cg.dir_fd().unwrap().is_some());

    // A second container: the parent already enables everything (as the kernel would show it),
    // so nothing is written.
    fx.write("cgroup.subtree_control", "cpu memory pids\n");
    fx.write("podrt/cgroup.subtree_control", "cpu memory pids\n");
    let c2 = fx.create("/podrt/c2", None).unwrap();
    assert_eq!(fx.read("podrt/cgroup.subtree_control"), "cpu memory pids\n");
    assert_eq!(fx.read("cgroup.subtree_control"), "cpu memory pids\n");

    // One that needs cpuset: only the missing controller is added, at every level.
    let r = res(json!({ "cpu": { "cpus": "0" } }));
    let c3 = fx.create("/podrt/c3", Some(&r)).unwrap();
    assert_eq!(fx.read("cgroup.subtree_control"), "+cpuset");
    assert_eq!(fx.read("podrt/cgroup.subtree_control"), "+cpuset");
    c3.apply(&r).unwrap();
    assert_eq!(fx.read("podrt/c3/cpuset.cpus"), "0");

    fx.strip_files();
    for c in [c2, c3, cg] {
        c.destroy().unwrap();
    }
    assert!(fx.dirs().is_empty(), "{:?}", fx.dirs());
}

#[test]
fn v2_only_offered_controllers_are_enabled() {
    let fx = Fx::new(UNIFIED, "cpu memory");
    let cg = fx.create("/podrt/c1", None).unwrap();
    assert_eq!(fx.read("cgroup.subtree_control"), "+cpu +memory");
    let e = cg
        .apply(&res(json!({ "pids": { "limit": 10 } })))
        .unwrap_err();
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("pids"),
        "{e}"
    );
}

#[test]
fn v2_apply_writes_v2_files() {
    let fx = Fx::unified();
    let r = res(json!({
        "memory": { "limit": 67108864, "reservation": 33554432, "swap": 100663296 },
        "cpu": { "shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0" },
        "pids": { "limit": 16 },
        "blockIO": { "weight": 500, "throttleReadBpsDevice": [{ "major": 8, "minor": 0, "rate": 1048576 }] },
        "hugepageLimits": [{ "pageSize": "1GB", "limit": -1 }],
        "unified": { "memory.high": "50000000" }
    }));
    let cg = fx.create("/podrt/c1", Some(&r)).unwrap();
    assert_eq!(
        fx.read("cgroup.subtree_control"),
        "+cpu +memory +pids +cpuset +io +hugetlb"
    );
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("podrt/c1/memory.max"), "67108864");
    assert_eq!(fx.read("podrt/c1/memory.low"), "33554432");
    assert_eq!(fx.read("podrt/c1/memory.swap.max"), "33554432");
    assert_eq!(fx.read("podrt/c1/cpu.weight"), "39");
    assert_eq!(fx.read("podrt/c1/cpu.max"), "50000 100000");
    assert_eq!(fx.read("podrt/c1/cpuset.cpus"), "0-1");
    assert_eq!(fx.read("podrt/c1/cpuset.mems"), "0");
    assert_eq!(fx.read("podrt/c1/pids.max"), "16");
    assert_eq!(fx.read("podrt/c1/io.weight"), "default 4950");
    assert_eq!(fx.read("podrt/c1/io.max"), "8:0 rbps=1048576");
    assert_eq!(fx.read("podrt/c1/hugetlb.1GB.max"), "max");
    assert_eq!(fx.read("podrt/c1/memory.high"), "50000000");

    let r = res(
        json!({ "memory": { "limit": -1 }, "cpu": { "period": 100000 }, "pids": { "limit": -1 } }),
    );
    cg.apply(&r).unwrap();
    assert_eq!(fx.read("podrt/c1/memory.max"), "max");
    assert_eq!(fx.read("podrt/c1/memory.swap.max"), "max");
    assert_eq!(fx.read("podrt/c1/cpu.max"), "max 100000");
    assert_eq!(fx.read("podrt/c1/pids.max"), "max");
}

#[test]
fn v2_refusals() {
    let fx = Fx::unified();
    let cg = fx.create("/podrt/c1", None).unwrap();
    for (r, field) in [
        (json!({ "unified": { "../escape": "1" } }), "unified"),
        (json!({ "unified": { "a/b": "1" } }), "unified"),
        (
            json!({ "memory": { "limit": 1000, "swap": 10 } }),
            "memory.swap",
        ),
        (json!({ "memory": { "swap": 4096 } }), "memory.swap"),
        (json!({ "memory": { "limit": -5 } }), "memory.limit"),
    ] {
        match cg.apply(&res(r)) {
            Err(Error::InvalidResource { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let e = cg
        .apply(&res(json!({ "cpu": { "realtimeRuntime": 1000 } })))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    let e = cg
        .apply(&res(json!({ "network": { "classID": 1 } })))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    // A write the "kernel" refuses names file and value.
    fs::remove_file(fx.p("podrt/c1/memory.high")).ok();
    let e = cg
        .apply(&res(json!({ "unified": { "memory.high": "12345" } })))
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("write \"12345\" to ")
            && msg.ends_with("podrt/c1/memory.high: No such file or directory"),
        "{msg}"
    );
    // Device rules are the runtime's (BPF) business on v2: accepted, nothing written.
    cg.apply(&full_resources()).unwrap();
}

#[test]
fn v2_update_enables_a_controller_not_needed_at_create() {
    let fx = Fx::unified();
    let cg = fx.create("/podrt/c1", None).unwrap();
    fx.write("cgroup.subtree_control", "cpu memory pids\n");
    fx.write("podrt/cgroup.subtree_control", "cpu memory pids\n");
    cg.apply(&res(json!({ "cpu": { "cpus": "1" } }))).unwrap();
    assert_eq!(fx.read("cgroup.subtree_control"), "+cpuset");
    assert_eq!(fx.read("podrt/cgroup.subtree_control"), "+cpuset");
    assert_eq!(fx.read("podrt/c1/cpuset.cpus"), "1");
}

#[test]
fn v2_freeze_kill_stats() {
    let fx = Fx::unified();
    let cg = fx.create("/podrt/c1", None).unwrap();
    fx.write("podrt/c1/cgroup.events", "populated 1\nfrozen 1\n"); // the kernel's answer
    cg.freeze().unwrap();
    assert_eq!(fx.read("podrt/c1/cgroup.freeze"), "1");
    assert!(cg.is_frozen().unwrap());
    fx.write("podrt/c1/cgroup.events", "populated 1\nfrozen 0\n");
    cg.thaw().unwrap();
    assert_eq!(fx.read("podrt/c1/cgroup.freeze"), "0");
    cg.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(fx.read("podrt/c1/cgroup.kill"), "1");

    fx.write("podrt/c1/pids.current", "2");
    fx.write("podrt/c1/pids.max", "16");
    let s = cg.stats().unwrap();
    let cpu = s.cpu.unwrap();
    assert_eq!(
        (
            cpu.usage_ns,
            cpu.user_ns,
            cpu.system_ns,
            cpu.throttled_periods,
            cpu.throttled_ns
        ),
        (7000, 5000, 2000, 1, 3000)
    );
    let m = s.memory.unwrap();
    assert_eq!(
        (m.usage, m.limit, m.max_usage, m.oom_kill),
        (4096, None, None, 3)
    );
    assert_eq!(s.pids.unwrap().limit, Some(16));
    assert_eq!(cg.oom_kill_count().unwrap(), 3);
}

#[test]
fn v2_freeze_timeout_thaws_back() {
    // Shortened by nothing: the fixture never reports frozen, so this takes the full budget.
    // Kept to one test.
    let fx = Fx::unified();
    let cg = fx.create("/podrt/c1", None).unwrap();
    let e = cg.freeze().unwrap_err();
    assert!(matches!(e, Error::FreezeTimeout { .. }), "{e:?}");
    assert_eq!(fx.read("podrt/c1/cgroup.freeze"), "0");
}
