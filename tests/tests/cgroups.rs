//! Cgroups: resources land in the host's cgroup files; paths are honoured; teardown is total.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs;
use std::path::PathBuf;

use podrt_tests::procfs::{self, cgroups, v1_cgroup_dir, v2_cgroup_dir};
use podrt_tests::{json, require, Ctx, Feature, Value};

fn resources() -> Value {
    json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67_108_864},
        "pids": {"limit": 32},
        "cpu": {"shares": 512, "quota": 50000, "period": 100_000}
    })
}

fn read(dir: &std::path::Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

#[test]
fn v1_resources_applied() {
    require!(Feature::CgroupV1);
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["resources"] = resources();
    let pid = t.up();
    let mem = v1_cgroup_dir(pid, "memory").expect("memory cgroup");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    let pids = v1_cgroup_dir(pid, "pids").expect("pids cgroup");
    assert_eq!(read(&pids, "pids.max"), "32");
    let cpu = v1_cgroup_dir(pid, "cpu").expect("cpu cgroup");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    // The container is in its own cgroup, not the caller's.
    let ours = cgroups(std::process::id() as i32);
    for l in cgroups(pid) {
        let mine = ours.iter().find(|o| o.hierarchy == l.hierarchy).unwrap();
        if l.controllers
            .split(',')
            .any(|c| ["memory", "pids", "cpu"].contains(&c))
        {
            assert_ne!(l.path, mine.path, "{l:?} is the caller's cgroup");
        }
    }
    t.down();
    for d in [&mem, &pids, &cpu] {
        assert!(!d.exists(), "{} survived delete", d.display());
    }
}

#[test]
fn pids_limit_enforced() {
    // The shell forks until pids.max=5 refuses ("can't fork"), which kills the script.
    let mut t = Ctx::new();
    t.bundle.config_mut()["linux"]["resources"]["pids"] = json!({"limit": 5});
    t.bundle
        .sh("for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; echo all-forked");
    let out = t.run();
    assert!(
        out.stderr.contains("fork"),
        "no fork failure reported: {out}"
    );
    assert!(!out.stdout.contains("all-forked"), "{out}");
}

#[test]
fn v1_devices_default_deny() {
    require!(Feature::CgroupV1);
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    let dev = v1_cgroup_dir(pid, "devices").expect("devices cgroup");
    let list = read(&dev, "devices.list");
    assert!(
        !list.lines().any(|l| l == "a *:* rwm"),
        "devices cgroup allows all: {list}"
    );
    assert!(
        list.lines().any(|l| l.starts_with("c 1:3 ")),
        "/dev/null not allowed: {list}"
    );
    t.down();
}

#[test]
fn v2_resources_applied() {
    require!(Feature::CgroupV2);
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["resources"] = resources();
    let pid = t.up();
    let dir = v2_cgroup_dir(pid).expect("v2 cgroup");
    assert_eq!(read(&dir, "memory.max"), "67108864");
    assert_eq!(read(&dir, "pids.max"), "32");
    assert_eq!(read(&dir, "cpu.max"), "50000 100000");
    // shares -> weight, the runc/crun conversion: 1 + ((shares - 2) * 9999) / 262142
    assert_eq!(read(&dir, "cpu.weight"), "20");
    t.down();
    assert!(!dir.exists(), "{} survived delete", dir.display());
}

#[test]
fn cgroup_namespace_hides_host_paths() {
    let mut t = Ctx::new();
    let out = t.sh_ok("cat /proc/self/cgroup");
    for l in out.lines() {
        assert!(
            l.ends_with(":/"),
            "container sees a host cgroup path: {l}\n{out}"
        );
    }
}

/// Paths of `pid`'s cgroups for memory (v1) or unified (v2).
fn main_cgroup_path(pid: i32) -> String {
    let lines = cgroups(pid);
    lines
        .iter()
        .find(|l| l.controllers.split(',').any(|c| c == "memory"))
        .or_else(|| lines.iter().find(|l| l.hierarchy == 0))
        .expect("a memory or unified line")
        .path
        .clone()
}

/// Remove dirs named `name` directly under each hierarchy root (or below `under`).
fn rm_parents(paths: &[PathBuf]) {
    for p in paths {
        let _ = fs::remove_dir(p);
    }
}

fn parents_named(name: &str) -> Vec<PathBuf> {
    podrt_tests::leak::cgroup_roots()
        .into_iter()
        .flat_map(|r| {
            let mut v = vec![r.join(name), r.join("podrt").join(name)];
            if let Ok(own) = fs::read_to_string("/proc/self/cgroup") {
                for l in procfs::parse_cgroups(&own) {
                    v.push(r.join(l.path.trim_start_matches('/')).join(name));
                }
            }
            v
        })
        .filter(|p| p.is_dir())
        .collect()
}

#[test]
fn absolute_cgroups_path() {
    let mut t = Ctx::new();
    let parent = format!("{}-abs", t.id);
    let path = format!("/{parent}/{}", t.id);
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["cgroupsPath"] = json!(path);
    let pid = t.up();
    for l in cgroups(pid) {
        if l.controllers
            .split(',')
            .any(|c| ["memory", "pids", "cpu", "freezer"].contains(&c))
        {
            assert_eq!(l.path, path, "{l:?}");
        }
    }
    t.down();
    if !t.rt.is_podrt() {
        // runc 1.1.5 removes only the leaf: the parent it created stays. podrt removes the
        // parents it created (the leak check enforces it).
        rm_parents(&parents_named(&parent));
    }
}

#[test]
fn relative_cgroups_path() {
    let mut t = Ctx::new();
    let parent = format!("{}-rel", t.id);
    let rel = format!("{parent}/{}", t.id);
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["cgroupsPath"] = json!(rel);
    let pid = t.up();
    let p = main_cgroup_path(pid);
    if t.rt.is_podrt() {
        // podrt resolves relative paths under its own root, never under the caller's cgroup.
        assert_eq!(p, format!("/podrt/{rel}"));
    } else {
        // runc 1.1.5 resolves them under the caller's cgroup.
        assert!(p.ends_with(&format!("/{rel}")), "{p}");
    }
    t.down();
    if !t.rt.is_podrt() {
        rm_parents(&parents_named(&parent));
    }
}

#[test]
fn default_cgroup_not_under_callers_memory_cgroup() {
    // podrt-only: without cgroupsPath, podrt uses /podrt/<id>; runc 1.1.5 nests under the
    // caller's cgroup (here memory:/process_api/... which is not ours).
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    let p = main_cgroup_path(pid);
    assert!(p.ends_with(&format!("/{}", t.id)), "{p}");
    if t.rt.is_podrt() {
        assert_eq!(p, format!("/podrt/{}", t.id));
    }
    t.down();
}

#[test]
fn cgroup_dirs_gone_after_delete() {
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    let pid = t.up();
    let dirs = podrt_tests::leak::cgroup_dirs_with(std::slice::from_ref(&t.id));
    assert!(!dirs.is_empty(), "no cgroup dir named after the container");
    let lines = cgroups(pid);
    t.down();
    for d in &dirs {
        assert!(!d.exists(), "{} survived delete ({lines:?})", d.display());
    }
}

#[test]
fn update_resources() {
    require!(Feature::CgroupV1);
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["resources"] = resources();
    let pid = t.up();
    t.cmd(&[
        "update",
        "--pids-limit",
        "64",
        "--memory",
        "134217728",
        &t.id,
    ])
    .assert_ok();
    let pids = v1_cgroup_dir(pid, "pids").unwrap();
    assert_eq!(read(&pids, "pids.max"), "64");
    let mem = v1_cgroup_dir(pid, "memory").unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "134217728");
    t.down();
}

#[test]
fn oom_kill_is_reported_with_the_limit() {
    // podrt-only wording: the run's exit says why the container died, not just signal 9.
    let mut t = Ctx::new();
    t.bundle.config_mut()["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    t.bundle
        .sh("x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done");
    let out = t.run();
    assert_eq!(out.code(), 137, "{out}");
    if t.rt.is_podrt() {
        out.assert_stderr_contains(&["out of memory (limit 33554432 bytes"]);
    }
}

#[test]
fn cpuset_outside_the_machine_is_refused_cleanly() {
    // The kernel refuses a cpuset naming CPUs the machine does not have: create fails naming
    // the value, and the leak check proves nothing (cgroup, state dir, process) stays.
    let mut t = Ctx::new();
    t.bundle.args(&["true"]);
    t.bundle.config_mut()["linux"]["resources"]["cpu"] = json!({"cpus": "4000-4095"});
    t.bundle.write();
    let out = t.cmd(&["create", "--bundle", t.bundle.path_str(), &t.id]);
    out.assert_fail();
    if t.rt.is_podrt() {
        out.assert_stderr_contains(&["4000-4095"]);
    }
}

#[test]
fn memory_limit_below_usage_is_refused_by_update() {
    // v1 refuses a memory limit below what the cgroup already uses (EBUSY): update fails naming
    // the limit, and the container keeps running with its old limit.
    require!(Feature::CgroupV1);
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    let pid = t.up();
    let out = t.cmd(&["update", "--memory", "4096", &t.id]);
    out.assert_fail();
    if t.rt.is_podrt() {
        out.assert_stderr_contains(&["memory.limit_in_bytes", "4096"]);
    }
    let mem = v1_cgroup_dir(pid, "memory").expect("memory cgroup");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    t.down();
}
