//! Looking at (and cleaning up) what clients leave on the host: processes, cgroups, mounts.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// SIGKILL a process group we created (best effort).
pub fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        if pgid > 1 {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

/// Send `sig` to one pid (best effort).
pub fn signal(pid: i32, sig: Signal) {
    if pid > 1 {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// One live process seen in /proc.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: i32,
    /// Its parent's pid.
    pub ppid: i32,
    /// The `State:` letter from /proc/PID/status.
    pub state: char,
    /// NUL-separated argv joined with spaces.
    pub cmdline: String,
}

/// `State:` letter and parent pid of `pid`, if it exists.
#[must_use]
pub fn proc_state(pid: i32) -> Option<(char, i32)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut state = None;
    let mut ppid = None;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("State:") {
            state = v.trim().chars().next();
        } else if let Some(v) = line.strip_prefix("PPid:") {
            ppid = v.trim().parse().ok();
        }
    }
    Some((state?, ppid.unwrap_or(0)))
}

/// Every process that is not a zombie whose command line contains `needle`. Zombies do not
/// count: on this host the reaper (pid 1) collects re-parented children lazily.
#[must_use]
pub fn procs_matching(needle: &str) -> Vec<ProcInfo> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(pid).is_ok_and(|p| p == me) {
            continue;
        }
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim_end()
            .to_string();
        if !cmdline.contains(needle) {
            continue;
        }
        let Some((state, ppid)) = proc_state(pid) else {
            continue;
        };
        if state == 'Z' || state == 'X' {
            continue;
        }
        found.push(ProcInfo {
            pid,
            ppid,
            state,
            cmdline,
        });
    }
    found
}

/// Waits up to `timeout` for every process matching `needle` to go; returns the ones left.
#[must_use]
pub fn wait_procs_gone(needle: &str, timeout: Duration) -> Vec<ProcInfo> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = procs_matching(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL every process whose command line contains `needle` (which must name something only
/// we created: our temp dir or our socket), then wait briefly for them to go.
pub fn kill_matching(needle: &str) -> Vec<ProcInfo> {
    let victims = procs_matching(needle);
    for p in &victims {
        signal(p.pid, Signal::SIGKILL);
    }
    let _ = wait_procs_gone(needle, Duration::from_secs(3));
    victims
}

/// Polls `f` every 20 ms until it returns `Some`, at most `timeout`.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Cgroup directories (v1 controllers and the v2 mount, at most `max_depth` below
/// `/sys/fs/cgroup`) whose name contains `id`.
#[must_use]
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: u32, out: &mut Vec<PathBuf>) {
        if depth == 0 {
            return;
        }
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(id) {
                out.push(p.clone());
            }
            walk(&p, id, depth - 1, out);
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 6, &mut out);
    out
}

/// Lines of /proc/self/mountinfo that mention `needle`.
#[must_use]
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Mount points at or below `prefix`, deepest first.
#[must_use]
pub fn mounts_under(prefix: &Path) -> Vec<PathBuf> {
    let prefix = prefix.to_string_lossy().into_owned();
    let mut points: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .map(PathBuf::from)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

/// Lazily unmounts everything at or below `prefix` (our own temp dir only), so removing it
/// cannot fail on a busy mount a crashed client left. Returns what was unmounted.
pub fn unmount_under(prefix: &Path) -> Vec<PathBuf> {
    let points = mounts_under(prefix);
    for p in &points {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
    points
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).ok();
            if let Some(v) = oct.and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The freezer state of the cgroup `pid` is in: `FROZEN`/`FREEZING`/`THAWED` from the v1
/// freezer, or `frozen 1`/`frozen 0` from a v2 `cgroup.events`.
#[must_use]
pub fn freezer_state(pid: i32) -> Option<String> {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cg.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.split(',').any(|c| c == "freezer") {
            let f = format!("/sys/fs/cgroup/freezer{path}/freezer.state");
            return fs::read_to_string(f).ok().map(|s| s.trim().to_string());
        }
    }
    // Pure v2: cgroup.events carries "frozen 0|1".
    for line in cg.lines() {
        if let Some(path) = line.strip_prefix("0::") {
            let ev = fs::read_to_string(format!("/sys/fs/cgroup{path}/cgroup.events")).ok()?;
            return ev
                .lines()
                .find(|l| l.starts_with("frozen "))
                .map(str::to_string);
        }
    }
    None
}

/// True when the freezer state string says frozen.
#[must_use]
pub fn is_frozen(state: &str) -> bool {
    state == "FROZEN" || state == "frozen 1"
}
