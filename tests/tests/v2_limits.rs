//! Pure cgroup v2: every limit proven by behaviour and by the kernel's own files.
//!
//! These tests need `/sys/fs/cgroup` to be a cgroup2 mount that offers memory, pids and cpu
//! (`require!(Feature::CgroupV2)`): on a v1 or hybrid host they are skipped loudly and counted.
//! `tests/vm/run` boots Debian kernels with pure cgroup v2 and runs them there. They assert
//! what the kernel says (cgroup files, `/proc`), never what the runtime claims.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use podrt_tests::ctx::wait_until;
use podrt_tests::procfs::v2_cgroup_dir;
use podrt_tests::{json, require, Ctx, Feature, Out};

/// Container-side commands are slow under TCG: generous waits.
const SLOW: Duration = Duration::from_secs(60);

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// `key value` files (`memory.events`, `cpu.stat`, `pids.events`, `cgroup.events`).
fn keyed(dir: &Path, file: &str, key: &str) -> u64 {
    let text = read(dir, file);
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {key} in {}/{file}:\n{text}", dir.display()))
}

fn procs(dir: &Path) -> Vec<i32> {
    read(dir, "cgroup.procs")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The container's v2 cgroup directory, which must not be the caller's.
fn cgroup_of(pid: i32) -> PathBuf {
    let dir = v2_cgroup_dir(pid).expect("container has a v2 cgroup");
    let ours = v2_cgroup_dir(std::process::id() as i32).expect("we have a v2 cgroup");
    assert_ne!(dir, ours, "the container shares the test's cgroup");
    dir
}

/// Skip the rest of a test for a missing kernel or runtime feature: loudly, and counted in the
/// same file and format as `require!`.
fn skip(feature: &str, reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unknown")
        .to_string();
    let line = format!("SKIP(feature-missing): v2_limits::{test}: {feature}: {reason}");
    let _ = writeln!(std::io::stderr(), "\n*** {line} ***\n");
    let path = podrt_tests::features::skip_file();
    if let Some(d) = path.parent() {
        let _ = fs::create_dir_all(d);
    }
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&path) {
        let _ = writeln!(f, "{line}");
    }
}

/// The init waits for `/podrt-go` in its rootfs before running `script`, so the test can look
/// at the running container (its cgroup) first. Returns the init pid and the `create` output
/// (whose stdout/stderr files the container inherits).
fn start_gated(t: &mut Ctx, script: &str) -> (i32, Out) {
    let gated = format!("while [ ! -e /podrt-go ]; do sleep 0.05; done; {script}");
    t.bundle.sh(&gated);
    let out = t.create();
    out.assert_ok();
    let pid = t.pid();
    t.start().assert_ok();
    (pid, out)
}

fn release(t: &Ctx) {
    fs::write(t.bundle.rootfs().join("podrt-go"), "").expect("write gate file");
}

fn stderr_of(out: &Out) -> String {
    fs::read_to_string(&out.stderr_path).unwrap_or_default()
}

#[test]
fn files_written_as_runc_would() {
    require!(Feature::CgroupV2);
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["resources"] = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67_108_864, "reservation": 33_554_432},
        "pids": {"limit": 32},
        "cpu": {"shares": 2048, "quota": 25000, "period": 50000},
        "unified": {"memory.high": "60000000"}
    });
    let pid = t.up();
    let dir = cgroup_of(pid);
    assert_eq!(read(&dir, "memory.max"), "67108864");
    // reservation -> memory.low
    assert_eq!(read(&dir, "memory.low"), "33554432");
    assert_eq!(read(&dir, "pids.max"), "32");
    assert_eq!(read(&dir, "cpu.max"), "25000 50000");
    // runc/crun: weight = 1 + ((shares - 2) * 9999) / 262142
    assert_eq!(read(&dir, "cpu.weight"), "79");
    // unified keys are written verbatim (the kernel rounds memory.high down to pages)
    assert_eq!(read(&dir, "memory.high"), "59998208");
    // The parent delegates the controllers the limits need.
    let parent = dir.parent().expect("parent cgroup");
    let sub = read(parent, "cgroup.subtree_control");
    for c in ["memory", "pids", "cpu"] {
        assert!(
            sub.split_whitespace().any(|x| x == c),
            "{} does not delegate {c}: {sub:?}",
            parent.display()
        );
    }
    assert_eq!(procs(&dir), vec![pid], "cgroup.procs");
    t.down();
    assert!(!dir.exists(), "{} survived delete", dir.display());
}

#[test]
fn update_rewrites_v2_files() {
    require!(Feature::CgroupV2);
    let mut t = Ctx::new();
    t.bundle.args(&["sleep", "1000"]);
    t.bundle.config_mut()["linux"]["resources"] = json!({
        "memory": {"limit": 67_108_864},
        "pids": {"limit": 32},
        "cpu": {"quota": 50000, "period": 100_000}
    });
    let pid = t.up();
    let dir = cgroup_of(pid);
    t.cmd(&[
        "update",
        "--memory",
        "134217728",
        "--pids-limit",
        "64",
        "--cpu-quota",
        "20000",
        &t.id,
    ])
    .assert_ok();
    assert_eq!(read(&dir, "memory.max"), "134217728");
    assert_eq!(read(&dir, "pids.max"), "64");
    assert_eq!(read(&dir, "cpu.max"), "20000 100000");
    t.down();
}

#[test]
fn memory_max_oom_kills() {
    require!(Feature::CgroupV2);
    // dd's 64 MiB buffer, filled from /dev/zero, cannot fit under memory.max = 32 MiB.
    let dd = "exec dd if=/dev/zero of=/dev/null bs=64M count=1";
    let mut t = Ctx::new();
    t.bundle.config_mut()["linux"]["resources"]["memory"] = json!({"limit": 33_554_432});
    let (pid, out) = start_gated(&mut t, dd);
    let dir = cgroup_of(pid);
    assert_eq!(read(&dir, "memory.max"), "33554432");
    assert_eq!(keyed(&dir, "memory.events", "oom_kill"), 0);
    release(&t);
    t.wait_status_of(&t.id, "stopped", SLOW);
    let kills = keyed(&dir, "memory.events", "oom_kill");
    assert!(
        kills >= 1,
        "memory.events oom_kill is {kills} after dd of 64 MiB under 32 MiB\n{}\nstderr: {}",
        read(&dir, "memory.events"),
        stderr_of(&out)
    );
    assert!(keyed(&dir, "memory.events", "max") >= 1);
    t.delete().assert_ok();

    // The same through `run`: the init is OOM-killed, so the container exits 128 + 9.
    let mut t2 = Ctx::new();
    t2.bundle.config_mut()["linux"]["resources"]["memory"] = json!({"limit": 33_554_432});
    t2.bundle.sh(dd);
    let out = t2.run();
    assert_eq!(out.code(), 137, "OOM-killed init must exit 137:\n{out}");
}

#[test]
fn pids_max_fork_fails() {
    require!(Feature::CgroupV2);
    let mut t = Ctx::new();
    t.bundle.config_mut()["linux"]["resources"]["pids"] = json!({"limit": 5});
    let (pid, out) = start_gated(
        &mut t,
        "i=0; while [ $i -lt 8 ]; do sleep 1000 & i=$((i+1)); done; echo all-forked",
    );
    let dir = cgroup_of(pid);
    assert_eq!(read(&dir, "pids.max"), "5");
    assert_eq!(keyed(&dir, "pids.events", "max"), 0);
    release(&t);
    // The shell dies at the first refused fork; the init's death ends the sleepers.
    t.wait_status_of(&t.id, "stopped", SLOW);
    let refused = keyed(&dir, "pids.events", "max");
    let stderr = stderr_of(&out);
    assert!(
        refused >= 1,
        "pids.events max is {refused}; stderr: {stderr}"
    );
    assert!(
        stderr.contains("can't fork"),
        "the shell did not report a failed fork: {stderr:?}"
    );
    assert!(
        !out.reread_stdout().contains("all-forked"),
        "all 8 forks succeeded under pids.max=5"
    );
    t.delete().assert_ok();
}

fn cpu_usage(dir: &Path) -> u64 {
    keyed(dir, "cpu.stat", "usage_usec")
}

#[test]
fn cpu_max_throttles_a_busy_loop() {
    require!(Feature::CgroupV2);
    let mut t = Ctx::new();
    // 10 ms every 100 ms.
    t.bundle.config_mut()["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 100_000});
    t.bundle.sh("while :; do :; done");
    let pid = t.up();
    let dir = cgroup_of(pid);
    assert_eq!(read(&dir, "cpu.max"), "10000 100000");
    let u0 = cpu_usage(&dir);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let wall = t0.elapsed().as_micros() as u64;
    let used = cpu_usage(&dir) - u0;
    let throttled = keyed(&dir, "cpu.stat", "nr_throttled");
    assert!(
        throttled > 0,
        "cpu.stat nr_throttled is 0 after 1.5 s of busy loop\n{}",
        read(&dir, "cpu.stat")
    );
    assert!(keyed(&dir, "cpu.stat", "throttled_usec") > 0);
    // At most 10% of the wall time, plus one period of slack.
    assert!(
        used <= wall / 10 + 100_000,
        "busy loop used {used} us of CPU in {wall} us under a 10% quota"
    );
    t.down();
}

#[test]
fn pause_freezes_and_resume_thaws() {
    require!(Feature::CgroupV2);
    let mut t = Ctx::new();
    t.bundle.sh("while :; do :; done");
    let pid = t.up();
    let dir = cgroup_of(pid);
    let u0 = cpu_usage(&dir);
    assert!(
        wait_until(Duration::from_secs(10), || cpu_usage(&dir) > u0 + 20_000),
        "the busy loop does not run"
    );
    t.cmd(&["pause", &t.id]).assert_ok();
    assert_eq!(t.status(), "paused");
    assert_eq!(read(&dir, "cgroup.freeze"), "1");
    assert_eq!(keyed(&dir, "cgroup.events", "frozen"), 1);
    let frozen_at = cpu_usage(&dir);
    std::thread::sleep(Duration::from_millis(700));
    let later = cpu_usage(&dir);
    assert!(
        later - frozen_at < 1000,
        "a frozen busy loop used {} us of CPU in 0.7 s",
        later - frozen_at
    );
    t.cmd(&["resume", &t.id]).assert_ok();
    assert_eq!(t.status(), "running");
    assert_eq!(read(&dir, "cgroup.freeze"), "0");
    assert_eq!(keyed(&dir, "cgroup.events", "frozen"), 0);
    assert!(
        wait_until(Duration::from_secs(10), || cpu_usage(&dir) > later + 20_000),
        "the busy loop does not run again after resume"
    );
    t.down();
}

#[test]
fn kill_all_empties_the_cgroup() {
    require!(Feature::CgroupV2);
    let mut t = Ctx::new();
    t.bundle
        .sh("sleep 1000 & sleep 1000 & sleep 1000 & sleep 1000 & wait");
    let pid = t.up();
    let dir = cgroup_of(pid);
    assert!(
        wait_until(Duration::from_secs(20), || procs(&dir).len() == 5),
        "expected the init and 4 sleepers in cgroup.procs: {:?}",
        procs(&dir)
    );
    let all = procs(&dir);
    t.cmd(&["kill", "--all", &t.id, "KILL"]).assert_ok();
    assert!(
        wait_until(SLOW, || procs(&dir).is_empty()),
        "cgroup.procs not empty after kill --all KILL: {:?}",
        procs(&dir)
    );
    assert!(wait_until(Duration::from_secs(10), || keyed(
        &dir,
        "cgroup.events",
        "populated"
    ) == 0));
    for p in all {
        assert!(!podrt_tests::procfs::alive(p), "pid {p} survived");
    }
    t.wait_status_of(&t.id, "stopped", SLOW);
    t.delete().assert_ok();
}

/// A real block device of the machine (a virtio disk the VM runner attaches): `(name, major,
/// minor)`.
fn block_device() -> Option<(String, u64, u64)> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("vd") || n.starts_with("sd") || n.starts_with("nvme"))
        .collect();
    names.sort();
    let name = names.into_iter().next()?;
    let dev = fs::read_to_string(format!("/sys/block/{name}/dev")).ok()?;
    let (ma, mi) = dev.trim().split_once(':')?;
    Some((name, ma.parse().ok()?, mi.parse().ok()?))
}

fn uptime_secs(s: &str) -> f64 {
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad uptime {s:?}"))
}

#[test]
fn io_max_throttles_reads() {
    require!(Feature::CgroupV2);
    let Some((name, major, minor)) = block_device() else {
        skip(
            "BlockDevice",
            "no virtio/scsi/nvme disk to throttle (tests/vm/run attaches one)",
        );
        return;
    };
    let mut t = Ctx::new();
    let rate = 1_048_576_u64;
    {
        let cfg = t.bundle.config_mut();
        cfg["linux"]["devices"] = json!([{
            "path": "/dev/podrt-disk", "type": "b", "major": major, "minor": minor,
            "fileMode": 0o600, "uid": 0, "gid": 0
        }]);
        cfg["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": major, "minor": minor, "access": "r"}
        ]);
        cfg["linux"]["resources"]["blockIO"] = json!({
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": rate}]
        });
    }
    // 3 MiB of direct reads at 1 MiB/s: at least ~2 s even with the throttle's first slice.
    let (pid, out) = start_gated(
        &mut t,
        "cat /proc/uptime; dd if=/dev/podrt-disk of=/dev/null bs=64k count=48 iflag=direct \
         && cat /proc/uptime",
    );
    let dir = cgroup_of(pid);
    let io_max = read(&dir, "io.max");
    assert!(
        io_max
            .lines()
            .any(|l| l == format!("{major}:{minor} rbps={rate} wbps=max riops=max wiops=max")),
        "io.max of {name} ({major}:{minor}): {io_max:?}"
    );
    release(&t);
    t.wait_status_of(&t.id, "stopped", Duration::from_secs(120));
    let stdout = out.reread_stdout();
    let times: Vec<f64> = stdout.lines().map(uptime_secs).collect();
    assert_eq!(
        times.len(),
        2,
        "dd failed? stdout {stdout:?} stderr {}",
        stderr_of(&out)
    );
    let secs = times[1] - times[0];
    assert!(
        secs >= 1.8,
        "3 MiB read in {secs:.2} s under rbps=1 MiB/s (io.stat: {})",
        read(&dir, "io.stat")
    );
    let stat = read(&dir, "io.stat");
    let rbytes: u64 = stat
        .lines()
        .find(|l| l.starts_with(&format!("{major}:{minor} ")))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|kv| kv.strip_prefix("rbytes=")?.parse().ok())
        })
        .unwrap_or(0);
    assert!(rbytes >= 3 * rate, "io.stat rbytes {rbytes}: {stat}");
    t.delete().assert_ok();
}

#[test]
fn device_rules_enforced() {
    require!(Feature::CgroupV2);
    // /dev/kmsg (c 1:11) is in no default allow list, and writing to it needs no capability:
    // only the device cgroup stands between the container and the open.
    let mut t = Ctx::new();
    let out = t.sh_ok(
        "mknod /tmp/kmsg c 1 11 2>/dev/null || { echo MKNOD-DENIED; exit 0; }; \
         if echo podrt-device-rule-probe 2>/dev/null > /tmp/kmsg; then echo OPENED; \
         else echo DENIED; fi",
    );
    let verdict = out.trim();
    if verdict == "MKNOD-DENIED" || verdict == "DENIED" {
        return;
    }
    assert_eq!(verdict, "OPENED", "unexpected output");
    panic!(
        "{}: the container opened /dev/kmsg (c 1:11) despite a deny-all device rule",
        t.rt.name()
    );
}
