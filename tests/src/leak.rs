//! Leak check, run when every test's `Ctx` drops: nothing of the test's containers may remain.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::procfs;

/// What one test owns: its runtime `--root`, container IDs and bundle dirs.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The runtime's `--root` for this test.
    pub root: &'a Path,
    /// Every container ID the test used.
    pub ids: &'a [String],
    /// Every bundle dir the test built.
    pub bundles: &'a [PathBuf],
}

/// Maximum depth walked below each cgroup hierarchy root.
const CGROUP_DEPTH: usize = 6;

/// Every cgroup hierarchy mount point (v1 and v2) on the host.
#[must_use]
pub fn cgroup_roots() -> Vec<PathBuf> {
    procfs::mountinfo_self()
        .into_iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| PathBuf::from(m.mount_point))
        .collect()
}

fn walk_dirs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            out.push(p.clone());
            walk_dirs(&p, depth - 1, out);
        }
    }
}

/// Cgroup dirs (in any hierarchy) whose name contains one of `ids`.
#[must_use]
pub fn cgroup_dirs_with(ids: &[String]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for root in cgroup_roots() {
        walk_dirs(&root, CGROUP_DEPTH, &mut all);
    }
    all.into_iter()
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            ids.iter().any(|id| name.contains(id.as_str()))
        })
        .collect()
}

/// Pids whose root directory is one of the bundles' rootfs (compared by device and inode: after
/// pivot_root in another mount namespace, `readlink /proc/PID/root` just says `/`) or whose root
/// path lies inside a bundle.
#[must_use]
pub fn processes_in(bundles: &[PathBuf]) -> Vec<(i32, PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    let roots: Vec<(u64, u64)> = bundles
        .iter()
        .filter_map(|b| fs::metadata(b.join("rootfs")).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(root) = fs::read_link(format!("/proc/{pid}/root")) else {
            continue;
        };
        let same_inode = fs::metadata(format!("/proc/{pid}/root"))
            .is_ok_and(|m| roots.contains(&(m.dev(), m.ino())));
        if (same_inode || bundles.iter().any(|b| root.starts_with(b))) && procfs::alive(pid) {
            out.push((pid, root));
        }
    }
    out
}

/// Live processes (other than us) whose command line mentions one of `ids` (a leaked runtime
/// helper or shim, whatever its root).
#[must_use]
pub fn processes_mentioning(ids: &[String]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|&pid| pid != me && procfs::alive(pid))
        .filter(|&pid| {
            let cmd = procfs::cmdline(pid);
            ids.iter()
                .any(|id| cmd.split(' ').any(|w| w.contains(id.as_str())))
        })
        .collect()
}

/// Lines of our mountinfo that mention a bundle path or an ID.
#[must_use]
pub fn mount_lines_with(scope: &Scope<'_>) -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter(|l| {
            scope
                .bundles
                .iter()
                .any(|b| l.contains(b.to_string_lossy().as_ref()))
                || scope.ids.iter().any(|id| l.contains(id.as_str()))
        })
        .map(String::from)
        .collect()
}

/// State entries under the test's root whose name contains an ID.
#[must_use]
pub fn state_entries(scope: &Scope<'_>) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(scope.root) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            scope.ids.iter().any(|id| name.contains(id.as_str()))
        })
        .collect()
}

/// Every leak, described; empty when clean.
#[must_use]
pub fn find_leaks(scope: &Scope<'_>) -> Vec<String> {
    let mut leaks = Vec::new();
    for p in state_entries(scope) {
        leaks.push(format!("state entry left: {}", p.display()));
    }
    for p in cgroup_dirs_with(scope.ids) {
        leaks.push(format!("cgroup dir left: {}", p.display()));
    }
    for l in mount_lines_with(scope) {
        leaks.push(format!("host mount left: {l}"));
    }
    for pid in processes_mentioning(scope.ids) {
        leaks.push(format!(
            "process left: pid {pid} ({})",
            procfs::cmdline(pid)
        ));
    }
    for (pid, root) in processes_in(scope.bundles) {
        leaks.push(format!(
            "process left: pid {pid} ({}) with root {}",
            procfs::cmdline(pid),
            root.display()
        ));
    }
    leaks
}

/// Find leaks, giving the system up to `grace` to finish asynchronous teardown (a dying
/// process's exit, a cgroup release).
#[must_use]
pub fn find_leaks_with_grace(scope: &Scope<'_>, grace: Duration) -> Vec<String> {
    let deadline = Instant::now() + grace;
    loop {
        let leaks = find_leaks(scope);
        if leaks.is_empty() || Instant::now() >= deadline {
            return leaks;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Best-effort removal of everything `find_leaks` would report, so that later tests are not
/// polluted. Kills only processes of this test's containers (root inside its bundles, or members
/// of cgroups named after its IDs).
pub fn cleanup(scope: &Scope<'_>) {
    let dirs = cgroup_dirs_with(scope.ids);
    // Thaw first: frozen tasks do not die.
    for d in &dirs {
        let _ = fs::write(d.join("freezer.state"), "THAWED");
        let _ = fs::write(d.join("cgroup.freeze"), "0");
    }
    for _ in 0..3 {
        for (pid, _) in processes_in(scope.bundles) {
            kill9(pid);
        }
        for pid in processes_mentioning(scope.ids) {
            kill9(pid);
        }
        for d in &dirs {
            if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    kill9(pid);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Deepest first.
    let mut dirs = dirs;
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for _ in 0..20 {
        dirs.retain(|d| d.exists() && fs::remove_dir(d).is_err());
        if dirs.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    for line in mount_lines_with(scope) {
        if let Some(m) = procfs::parse_mountinfo(&line).first() {
            let _ = nix::mount::umount2(m.mount_point.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
    for p in state_entries(scope) {
        let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
    }
}

fn kill9(pid: i32) {
    if pid > 1 && pid != std::process::id() as i32 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Hierarchies where a `podrt` parent cgroup exists (for the empty-parent check).
#[must_use]
pub fn podrt_parents() -> Vec<PathBuf> {
    cgroup_roots()
        .into_iter()
        .map(|r| r.join("podrt"))
        .filter(|p| p.is_dir())
        .collect()
}

/// `podrt` parent dirs that have no child cgroup.
#[must_use]
pub fn empty_podrt_parents() -> Vec<PathBuf> {
    podrt_parents()
        .into_iter()
        .filter(|p| {
            fs::read_dir(p).is_ok_and(|rd| {
                !rd.flatten()
                    .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            })
        })
        .collect()
}
