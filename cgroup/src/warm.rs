//! Where a process can take the kernel's cgroup migration lock without moving anywhere.
//!
//! Every write to a v1 `cgroup.procs` or `tasks` file takes `cgroup_threadgroup_rwsem` for
//! writing. It is a per-CPU rwsem: unless another writer went through within about one RCU grace
//! period before, its writer first waits for a full grace period (`rcu_sync_enter`), 5-15 ms on
//! an idle host against ~0.06 ms when warm, and it waits with `cgroup_mutex` held, so every
//! cgroup mkdir or rmdir on the host queues behind it as well. A process that writes its own pid
//! into the `tasks` file of the cgroup it already is in (a migration that changes nothing) takes
//! the lock; doing that every millisecond keeps it warm for everyone. The pod runner does so
//! while a pod comes up (`podrt_runtime::pod::warm`).

use std::path::{Path, PathBuf};

use crate::layout::{Layout, Mode};

/// The `tasks` file of the calling process's own cgroup in the first v1 hierarchy it can be
/// found in, or `None`: on pure cgroup v2 (the runtime uses `clone3(CLONE_INTO_CGROUP)` there,
/// which takes the lock only for reading) or when `/proc/self/cgroup` names no v1 hierarchy
/// whose directory exists.
#[must_use]
pub fn self_move_file(layout: &Layout) -> Option<PathBuf> {
    if layout.mode() == Mode::Unified {
        return None;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    own_tasks_file(layout, &own)
}

/// The `tasks` file of this process's cgroup in the first v1 hierarchy of `layout` that
/// `/proc/self/cgroup` (`own`) places it in.
fn own_tasks_file(layout: &Layout, own: &str) -> Option<PathBuf> {
    for h in &layout.v1 {
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let mut listed: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
            listed.sort_unstable();
            let mut bound: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
            bound.sort_unstable();
            if listed.is_empty() || listed != bound {
                continue;
            }
            let comps: Vec<String> = path
                .split('/')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect();
            let dir = h.mount.dir_of(&comps);
            if Path::new(&dir).is_dir() {
                return Some(dir.join("tasks"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
36 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
37 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,pids
";

    #[test]
    fn picks_the_first_hierarchy_this_process_is_listed_in() {
        // The mountpoint is a temp dir, so the directory check sees a real tree.
        let tmp = tempfile::tempdir().unwrap();
        let mnt = tmp.path().join("cpu,cpuacct");
        std::fs::create_dir_all(mnt.join("user.slice/session-1")).unwrap();
        let text = HYBRID.replace("/sys/fs/cgroup/cpu,cpuacct", mnt.to_str().unwrap());
        let layout2 = Layout::from_mountinfo(&text).unwrap();
        let own = "0::/\n5:pids:/user.slice\n4:cpuacct,cpu:/user.slice/session-1\n";
        assert_eq!(
            own_tasks_file(&layout2, own),
            Some(mnt.join("user.slice/session-1/tasks"))
        );
        // Listed only where the directory does not exist (pids), or not at all: no warmer.
        assert_eq!(own_tasks_file(&layout2, "5:pids:/gone\n"), None);
        assert_eq!(own_tasks_file(&layout2, "0::/\n"), None);
    }

    #[test]
    fn unified_hosts_have_no_self_move_file() {
        let text = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        let layout = Layout::from_mountinfo(text).unwrap();
        assert!(self_move_file(&layout).is_none());
    }
}
