//! Privileged tests against this host's real v1/hybrid cgroups. They skip (pass with a note)
//! when not root or on a pure v2 host. Each test works under its own `/podrt-test-<pid>-<n>`,
//! cleans up through a Drop guard even when failing, and kills only the processes it started.

use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use podrt_cgroup::{Cgroup, Error, Layout, Mode};
use serde_json::json;

const MIB: i64 = 1 << 20;

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

/// The host layout, or `None` (skip) when these tests cannot run here.
fn host() -> Option<Layout> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    let layout = Layout::detect().ok()?;
    if layout.mode() == Mode::Unified {
        eprintln!("skipped: pure cgroup v2 host");
        return None;
    }
    Some(layout)
}

/// Removes everything a test made, whatever happened.
struct Guard {
    layout: Layout,
    top: String,
    cg: Option<Cgroup>,
    child: Option<Child>,
}

impl Guard {
    fn new(layout: &Layout) -> Guard {
        static N: AtomicU32 = AtomicU32::new(0);
        let top = format!(
            "/podrt-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Guard {
            layout: layout.clone(),
            top,
            cg: None,
            child: None,
        }
    }

    fn path(&self) -> String {
        format!("{}/c1", self.top)
    }

    /// The cgroup's directory in the v1 hierarchy of `controller`.
    fn dir(&self, controller: &str) -> PathBuf {
        self.layout
            .v1_mountpoint(controller)
            .unwrap()
            .join(&self.top[1..])
            .join("c1")
    }

    /// Every place the test could have left a directory.
    fn all_top_dirs(&self) -> Vec<PathBuf> {
        let mut mounts: Vec<PathBuf> = [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
        ]
        .iter()
        .filter_map(|c| self.layout.v1_mountpoint(c).map(PathBuf::from))
        .collect();
        mounts.extend(self.layout.unified_mountpoint().map(PathBuf::from));
        mounts.sort();
        mounts.dedup();
        mounts.into_iter().map(|m| m.join(&self.top[1..])).collect()
    }

    /// `sh` that waits for a line on stdin and then execs `sleep 30`, so that the exec happens
    /// (and charges memory) inside the cgroup once the test has moved it there.
    fn spawn(&mut self) -> i32 {
        let child = Command::new("sh")
            .args(["-c", "read _ && exec sleep 30"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        self.child = Some(child);
        pid
    }

    /// Let the child exec `sleep` and wait until it has.
    fn release(&mut self) {
        let child = self.child.as_mut().unwrap();
        let pid = child.id();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let start = Instant::now();
        while fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            != "sleep"
        {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "child never exec'd sleep"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(cg) = &self.cg {
            let _ = cg.thaw();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // by pid, our own child only
            let _ = child.wait();
        }
        if let Some(cg) = &self.cg {
            let _ = cg.destroy();
        }
        for top in self.all_top_dirs() {
            let _ = fs::remove_dir(top.join("c1"));
            let _ = fs::remove_dir(&top);
        }
    }
}

fn read(p: PathBuf) -> String {
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn assert_all_gone(g: &Guard) {
    for top in g.all_top_dirs() {
        assert!(!top.exists(), "{} left behind", top.display());
    }
}

#[test]
fn lifecycle_limits_task_freeze_kill_destroy() {
    let Some(layout) = host() else { return };
    let mut g = Guard::new(&layout);
    let r = res(json!({
        "memory": { "limit": 64 * MIB },
        "pids": { "limit": 16 },
        "cpu": { "quota": 50000, "period": 100000, "shares": 512 },
        "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" }
        ]
    }));
    let cg = Cgroup::create(&layout, &g.path(), Some(&r)).unwrap();
    g.cg = Some(cg.clone());
    cg.apply(&r).unwrap();
    assert_eq!(
        read(g.dir("memory").join("memory.limit_in_bytes")),
        (64 * MIB).to_string()
    );
    assert_eq!(read(g.dir("pids").join("pids.max")), "16");
    assert_eq!(read(g.dir("cpu").join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(g.dir("cpu").join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(g.dir("cpu").join("cpu.shares")), "512");
    assert_eq!(read(g.dir("devices").join("devices.list")), "c 1:3 rwm");

    let pid = g.spawn();
    cg.add_task(pid).unwrap();
    g.release();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for c in ["memory", "pids", "freezer", "cpu", "cpuacct", "devices"] {
        let want = format!(":{c}:{}\n", g.path());
        assert!(
            own.contains(&want),
            "{c} missing in /proc/{pid}/cgroup:\n{own}"
        );
    }
    assert_eq!(cg.procs().unwrap(), [pid]);
    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids.as_ref().unwrap().current, 1);
    assert_eq!(stats.pids.as_ref().unwrap().limit, Some(16));
    assert_eq!(
        stats.memory.as_ref().unwrap().limit,
        Some(u64::try_from(64 * MIB).unwrap())
    );
    assert!(stats.memory.as_ref().unwrap().usage > 0);
    assert_eq!(cg.oom_kill_count().unwrap(), 0);

    cg.freeze().unwrap();
    assert_eq!(read(g.dir("freezer").join("freezer.state")), "FROZEN");
    assert!(cg.is_frozen().unwrap());
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let state = status.lines().find(|l| l.starts_with("State:")).unwrap();
    assert!(!state.contains("R (running)"), "{state}");
    cg.thaw().unwrap();
    assert_eq!(read(g.dir("freezer").join("freezer.state")), "THAWED");
    assert!(!cg.is_frozen().unwrap());

    cg.kill_all(libc::SIGKILL).unwrap();
    let status = g.child.take().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    cg.destroy().unwrap();
    assert_all_gone(&g);
    cg.destroy().unwrap(); // idempotent
}

#[test]
fn refused_memory_limit_names_the_file_and_cleans_up() {
    let Some(layout) = host() else { return };
    let mut g = Guard::new(&layout);
    let cg = Cgroup::create(&layout, &g.path(), None).unwrap();
    g.cg = Some(cg.clone());
    let pid = g.spawn();
    cg.add_task(pid).unwrap();
    g.release();
    let e = cg
        .apply(&res(json!({ "memory": { "limit": 4096 } })))
        .unwrap_err();
    let msg = e.to_string();
    match &e {
        Error::WriteFile { path, value, .. } => {
            assert!(path.ends_with("memory.limit_in_bytes"), "{msg}");
            assert_eq!(value, "4096");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        msg.starts_with("write \"4096\" to /") && msg.contains("/c1/memory.limit_in_bytes: "),
        "{msg}"
    );
    let mut child = g.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    cg.destroy().unwrap();
    assert_all_gone(&g);
}

#[test]
fn memory_and_swap_raise_and_lower_in_the_right_order() {
    let Some(layout) = host() else { return };
    let g = Guard::new(&layout);
    let mut g = g;
    if !g
        .layout
        .v1_mountpoint("memory")
        .unwrap()
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        eprintln!("skipped: no swap accounting");
        return;
    }
    let cg = Cgroup::create(&layout, &g.path(), None).unwrap();
    g.cg = Some(cg.clone());
    let mem = g.dir("memory");
    for (limit, swap) in [(64, 64), (128, 256), (32, 32), (-1, -1)] {
        let (l, s) = (
            if limit > 0 { limit * MIB } else { -1 },
            if swap > 0 { swap * MIB } else { -1 },
        );
        cg.apply(&res(json!({ "memory": { "limit": l, "swap": s } })))
            .unwrap();
        if limit > 0 {
            assert_eq!(read(mem.join("memory.limit_in_bytes")), l.to_string());
            assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), s.to_string());
        }
    }
    cg.destroy().unwrap();
    assert_all_gone(&g);
}

#[test]
fn cpuset_is_seeded_and_bad_cpus_are_refused() {
    let Some(layout) = host() else { return };
    let mut g = Guard::new(&layout);
    let r = res(json!({ "cpu": { "cpus": "0" } }));
    let cg = Cgroup::create(&layout, &g.path(), Some(&r)).unwrap();
    g.cg = Some(cg.clone());
    cg.apply(&r).unwrap();
    let dir = g.dir("cpuset");
    assert_eq!(read(dir.join("cpuset.cpus")), "0");
    assert!(!read(dir.join("cpuset.mems")).is_empty());
    let pid = g.spawn();
    cg.add_task(pid).unwrap(); // v1 cpuset refuses tasks unless cpus and mems are set
    let e = cg
        .apply(&res(json!({ "cpu": { "cpus": "0-4095" } })))
        .unwrap_err();
    assert!(
        e.to_string().contains("\"0-4095\"") && e.to_string().contains("cpuset.cpus"),
        "{e}"
    );
    let mut child = g.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    cg.destroy().unwrap();
    assert_all_gone(&g);
}

#[test]
fn hybrid_hugetlb_lives_in_the_unified_mount() {
    let Some(layout) = host() else { return };
    let Some(unified) = layout.unified_mountpoint() else {
        return;
    };
    let offered = fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default();
    if layout.v1_mountpoint("hugetlb").is_some()
        || !offered.split_whitespace().any(|c| c == "hugetlb")
        || !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    {
        eprintln!("skipped: hugetlb is not on the cgroup2 mount here");
        return;
    }
    let mut g = Guard::new(&layout);
    let r = res(json!({ "hugepageLimits": [{ "pageSize": "2MB", "limit": 4 * MIB }] }));
    let cg = Cgroup::create(&layout, &g.path(), Some(&r)).unwrap();
    g.cg = Some(cg.clone());
    cg.apply(&r).unwrap();
    let dir = unified.join(&g.top[1..]).join("c1");
    assert_eq!(read(dir.join("hugetlb.2MB.max")), (4 * MIB).to_string());
    let pid = g.spawn();
    cg.add_task(pid).unwrap();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("0::{}\n", g.path())), "{own}");
    cg.kill_all(libc::SIGKILL).unwrap();
    g.child.take().unwrap().wait().unwrap();
    cg.destroy().unwrap();
    assert_all_gone(&g);
}

#[test]
fn a_forked_child_joins_itself_in_every_hierarchy() {
    let Some(layout) = host() else { return };
    let mut g = Guard::new(&layout);
    let cg = Cgroup::create(&layout, &g.path(), None).unwrap();
    g.cg = Some(cg.clone());
    let join = cg.self_join().unwrap();
    let v1: Vec<_> = join.paths().filter(|p| p.ends_with("tasks")).collect();
    assert!(!v1.is_empty(), "a v1 host joins through v1 tasks files");
    // The child writes `0` to each file, then waits to be looked at; the test's own threads
    // stay where they are.
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only calls join() (write(2) on inherited descriptors, no allocation on
    // success), write(2) and pause(2), all async-signal-safe after fork in a threaded process.
    let pid = match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let ok = join.join().is_ok();
            let _ = nix::unistd::write(&w, if ok { b"y" } else { b"n" });
            // Killed by the test once it has looked.
            loop {
                nix::unistd::pause();
            }
        }
        nix::unistd::ForkResult::Parent { child } => child.as_raw(),
    };
    drop(w);
    let mut b = [0u8; 1];
    nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut b).unwrap();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let me = fs::read_to_string("/proc/self/cgroup").unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    assert_eq!(b[0], b'y', "join failed in the child");
    // The kernel's view: the child is in the cgroup in every hierarchy the cgroup has.
    for ctrl in ["freezer", "memory", "pids", "devices"] {
        let line = controller_line(&own, ctrl).unwrap_or_else(|| panic!("no {ctrl} line in {own}"));
        assert!(line.ends_with(&format!(":{}", g.path())), "{ctrl}: {line}");
        let mine = controller_line(&me, ctrl).unwrap();
        assert!(
            !mine.ends_with(&format!(":{}", g.path())),
            "the test moved: {mine}"
        );
    }
    cg.destroy().unwrap();
    // The files outlive the directories; joining a removed cgroup fails and names the file.
    let err = join.join().unwrap_err().to_string();
    assert!(
        err.contains("tasks") && err.contains(&g.path()[1..]),
        "{err}"
    );
    assert_all_gone(&g);
}

/// The line of a `/proc/PID/cgroup` text whose hierarchy carries `ctrl`.
fn controller_line<'a>(text: &'a str, ctrl: &str) -> Option<&'a str> {
    text.lines().find(|l| {
        l.split(':')
            .nth(1)
            .is_some_and(|c| c.split(',').any(|x| x == ctrl))
    })
}
