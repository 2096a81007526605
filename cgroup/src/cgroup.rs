//! A container's (or pod's) cgroup: creation, processes, freezing, killing, removal.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::layout::{Layout, Mode, Mount};
use crate::{fsio, Error, SelfJoin};

/// How long destroy() keeps retrying `rmdir` on EBUSY while the kernel finishes exiting tasks.
const RMDIR_BUDGET: Duration = Duration::from_secs(1);
/// How long freeze()/thaw() wait for the kernel to report the new state (short in unit tests,
/// whose fixtures never answer).
const FREEZE_BUDGET: Duration = if cfg!(test) {
    Duration::from_millis(100)
} else {
    Duration::from_secs(2)
};

/// v1 hierarchies every container joins: freezer (pause, reliable process listing), the three
/// that carry the common limits and stats, and devices.
const V1_ALWAYS: &[&str] = &["freezer", "memory", "pids", "cpu", "cpuacct", "devices"];
/// v2 controllers every container gets (when the parent offers them).
const V2_ALWAYS: &[&str] = &["cpu", "memory", "pids"];
/// v2 controllers a `unified` key may name.
pub(crate) const V2_CONTROLLERS: &[&str] = &[
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

/// One directory of a cgroup: the v2 one, or the one in a v1 hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Dir {
    /// cgroup v2 (`true`) or v1.
    pub(crate) v2: bool,
    /// v1: the controllers bound to the hierarchy. v2: the controllers enabled for the leaf.
    pub(crate) controllers: Vec<String>,
    /// The directory the cgroup path is resolved from (the mountpoint).
    pub(crate) base: PathBuf,
    /// The cgroup's own directory.
    pub(crate) path: PathBuf,
    /// Directories create() made, top-down (the leaf last, if it made it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) created: Vec<PathBuf>,
}

impl Dir {
    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// A cgroup at one absolute cgroup path, present in one or more hierarchies. Serialisable so the
/// runtime can keep it in `state.json` and act on it in later commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cgroup {
    path: String,
    mode: Mode,
    pub(crate) dirs: Vec<Dir>,
}

/// Which controllers a container needs, from its resources.
struct Needs {
    /// v1 controller names, in creation order.
    v1: Vec<&'static str>,
    /// v2 controller names.
    v2: Vec<String>,
}

impl Needs {
    fn of(resources: Option<&LinuxResources>) -> Needs {
        let mut v1: Vec<&'static str> = V1_ALWAYS.to_vec();
        let mut v2: Vec<String> = V2_ALWAYS.iter().map(|s| s.to_string()).collect();
        let mut both = |v1name: &'static str, v2name: Option<&str>| {
            v1.push(v1name);
            if let Some(n) = v2name {
                v2.push(n.to_string());
            }
        };
        if let Some(r) = resources {
            if crate::apply::cpuset_is_set(r) {
                both("cpuset", Some("cpuset"));
            }
            if crate::apply::blkio_is_set(r) {
                both("blkio", Some("io"));
            }
            if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
                both("hugetlb", Some("hugetlb"));
            }
            if let Some(n) = r.network() {
                if n.class_id().is_some() {
                    both("net_cls", None);
                }
                if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                    both("net_prio", None);
                }
            }
            if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
                both("rdma", Some("rdma"));
            }
            for key in r.unified().iter().flat_map(|u| u.keys()) {
                let prefix = key.split('.').next().unwrap_or_default();
                if V2_CONTROLLERS.contains(&prefix) && !v2.iter().any(|c| c == prefix) {
                    v2.push(prefix.to_string());
                }
            }
        }
        Needs { v1, v2 }
    }
}

impl Cgroup {
    /// Create the cgroup `path` (absolute, for example `/podrt/ID`) in every hierarchy the
    /// container needs, and enable the needed v2 controllers on the way down.
    ///
    /// `resources` only decides *which* hierarchies (v1) or controllers (v2) are needed; no limit
    /// is written here, call [`Cgroup::apply`] for that.
    ///
    /// On error, create() removes what it made before returning `Err` (so there is nothing for
    /// the caller to clean up). An existing leaf directory is reused (and removed by
    /// [`Cgroup::destroy`]); existing parents are never removed.
    pub fn create(
        layout: &Layout,
        path: &str,
        resources: Option<&LinuxResources>,
    ) -> Result<Cgroup, Error> {
        Cgroup::create_with(layout, path, resources, &mut |_| {})
    }

    /// [`Cgroup::create`] with a hook called after each `mkdir`, which tests use to put the files
    /// the kernel would make into fixture directories.
    pub(crate) fn create_with(
        layout: &Layout,
        path: &str,
        resources: Option<&LinuxResources>,
        on_mkdir: &mut dyn FnMut(&Path),
    ) -> Result<Cgroup, Error> {
        let comps = split_path(path)?;
        let mut cg = Cgroup {
            path: format!("/{}", comps.join("/")),
            mode: layout.mode(),
            dirs: Vec::new(),
        };
        let needs = Needs::of(resources);
        match cg.build(layout, &comps, &needs, resources, on_mkdir) {
            Ok(()) => {
                tracing::debug!(path = %cg.path, dirs = cg.dirs.len(), "cgroup created");
                Ok(cg)
            }
            Err(e) => {
                if let Err(cleanup) = cg.destroy() {
                    tracing::warn!(path = %cg.path, error = %cleanup, "cgroup cleanup after a failed create");
                }
                Err(e)
            }
        }
    }

    fn build(
        &mut self,
        layout: &Layout,
        comps: &[String],
        needs: &Needs,
        resources: Option<&LinuxResources>,
        on_mkdir: &mut dyn FnMut(&Path),
    ) -> Result<(), Error> {
        if self.mode == Mode::Unified {
            let mount = layout.unified.as_ref().ok_or_else(|| Error::Unsupported {
                what: "no cgroup filesystem is mounted".into(),
            })?;
            let want: Vec<&str> = needs.v2.iter().map(String::as_str).collect();
            return self.build_v2(mount, comps, &want, on_mkdir);
        }
        // v1 / hybrid: one directory per hierarchy that carries a needed controller.
        let mut v2_want: Vec<&str> = Vec::new();
        let mut unified_controllers: Option<String> = None;
        for &name in &needs.v1 {
            if let Some(h) = layout.v1_hierarchy(name) {
                if self
                    .dirs
                    .iter()
                    .any(|d| !d.v2 && d.base == h.mount.mountpoint)
                {
                    continue; // co-mounted with a controller already handled (cpu,cpuacct)
                }
                let mut dir = Dir {
                    v2: false,
                    controllers: h.controllers.clone(),
                    base: h.mount.mountpoint.clone(),
                    path: h.mount.dir_of(comps),
                    created: Vec::new(),
                };
                let made = make_dirs(&dir.base, &dir.path, &mut dir.created, on_mkdir);
                let cpuset = dir.has("cpuset") && !dir.created.is_empty();
                self.dirs.push(dir);
                made?;
                if cpuset {
                    let dir = self.dirs.last().expect("just pushed");
                    copy_cpuset_down(dir, resources)?;
                }
                continue;
            }
            // Not a v1 hierarchy: maybe the cgroup2 mount carries it (hybrid). freezer, devices
            // and cpuacct have no v2 controller (v2 has them in its core or as BPF).
            let v2name = if name == "blkio" { "io" } else { name };
            let no_v2 = matches!(name, "freezer" | "devices" | "cpuacct");
            let (Some(mount), false) = (&layout.unified, no_v2) else {
                continue; // apply() reports a limit that needs a missing controller
            };
            if unified_controllers.is_none() {
                unified_controllers = Some(fsio::read(&mount.mountpoint, "cgroup.controllers")?);
            }
            if unified_controllers
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .any(|c| c == v2name)
            {
                v2_want.push(v2name);
            }
        }
        if !v2_want.is_empty() {
            let mount = layout.unified.as_ref().expect("checked above");
            self.build_v2(mount, comps, &v2_want, on_mkdir)?;
        }
        Ok(())
    }

    fn build_v2(
        &mut self,
        mount: &Mount,
        comps: &[String],
        want: &[&str],
        on_mkdir: &mut dyn FnMut(&Path),
    ) -> Result<(), Error> {
        let mut dir = Dir {
            v2: true,
            controllers: Vec::new(),
            base: mount.mountpoint.clone(),
            path: mount.dir_of(comps),
            created: Vec::new(),
        };
        let made = make_dirs(&dir.base, &dir.path, &mut dir.created, on_mkdir);
        self.dirs.push(dir);
        made?;
        let dir = self.dirs.last_mut().expect("just pushed");
        dir.controllers = enable_v2(&dir.base, &dir.path, &dir.created, want)?;
        Ok(())
    }

    /// Reopen a cgroup whose record was lost (a crash between mkdir and saving state): every
    /// hierarchy in which the directory exists. Parents are never removed by the result's
    /// [`Cgroup::destroy`], since nothing says who made them.
    pub fn open_existing(layout: &Layout, path: &str) -> Result<Cgroup, Error> {
        let comps = split_path(path)?;
        let mut cg = Cgroup {
            path: format!("/{}", comps.join("/")),
            mode: layout.mode(),
            dirs: Vec::new(),
        };
        for h in &layout.v1 {
            let p = h.mount.dir_of(&comps);
            if p.is_dir() {
                let base = h.mount.mountpoint.clone();
                cg.dirs.push(Dir {
                    v2: false,
                    controllers: h.controllers.clone(),
                    base,
                    path: p,
                    created: Vec::new(),
                });
            }
        }
        if let Some(m) = &layout.unified {
            let p = m.dir_of(&comps);
            if p.is_dir() {
                let controllers = match fsio::read(&p, "cgroup.controllers") {
                    Ok(t) => t.split_whitespace().map(String::from).collect(),
                    Err(_) => Vec::new(),
                };
                cg.dirs.push(Dir {
                    v2: true,
                    controllers,
                    base: m.mountpoint.clone(),
                    path: p,
                    created: Vec::new(),
                });
            }
        }
        Ok(cg)
    }

    /// The cgroup path, normalised (`/podrt/ID`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The host setup this cgroup was made on.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The cgroup's directories, one per hierarchy.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|d| d.path.as_path())
    }

    /// Move process `pid` into the cgroup in every hierarchy it lives in.
    pub fn add_task(&self, pid: i32) -> Result<(), Error> {
        let value = pid.to_string();
        for d in &self.dirs {
            fsio::write(&d.path, "cgroup.procs", &value)?;
        }
        Ok(())
    }

    /// The files through which a single-threaded child moves itself into this cgroup in every
    /// hierarchy, without the kernel's global migration lock on v1 (see [`SelfJoin`]). Open them
    /// before the clone; the child calls [`SelfJoin::join`] first thing.
    pub fn self_join(&self) -> Result<SelfJoin, Error> {
        SelfJoin::open(&self.self_join_files())
    }

    /// The files [`Cgroup::self_join`] opens: `tasks` in each v1 directory, `cgroup.procs` in
    /// the v2 one.
    pub fn self_join_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.path.join(if d.v2 { "cgroup.procs" } else { "tasks" }))
            .collect()
    }

    /// An `O_PATH | O_DIRECTORY` descriptor of the v2 directory for `clone3(CLONE_INTO_CGROUP)`,
    /// only in [`Mode::Unified`] (elsewhere the child must be moved with [`Cgroup::add_task`]).
    pub fn dir_fd(&self) -> Result<Option<OwnedFd>, Error> {
        if self.mode != Mode::Unified {
            return Ok(None);
        }
        let Some(d) = self.dirs.iter().find(|d| d.v2) else {
            return Ok(None);
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&d.path)
            .map_err(|err| Error::OpenDir {
                path: d.path.clone(),
                err,
            })?;
        Ok(Some(OwnedFd::from(file)))
    }

    /// The directory whose `cgroup.procs` lists every process: the v1 freezer (always joined),
    /// else the v2 directory, else any.
    fn procs_dir(&self) -> Option<&Dir> {
        self.dirs
            .iter()
            .find(|d| !d.v2 && d.has("freezer"))
            .or_else(|| self.dirs.iter().find(|d| d.v2))
            .or_else(|| self.dirs.first())
    }

    /// The pids in the cgroup.
    pub fn procs(&self) -> Result<Vec<i32>, Error> {
        let Some(d) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let text = fsio::read(&d.path, "cgroup.procs")?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.trim()
                    .parse()
                    .map_err(|_| fsio::parse_err(&d.path, "cgroup.procs", l))
            })
            .collect()
    }

    fn freezer(&self) -> Result<Freezer<'_>, Error> {
        if let Some(d) = self.dirs.iter().find(|d| !d.v2 && d.has("freezer")) {
            return Ok(Freezer::V1(&d.path));
        }
        if self.mode == Mode::Unified {
            if let Some(d) = self.dirs.iter().find(|d| d.v2) {
                return Ok(Freezer::V2(&d.path));
            }
        }
        Err(Error::Unsupported {
            what: format!(
                "cannot freeze {}: no freezer hierarchy is mounted",
                self.path
            ),
        })
    }

    /// Freeze every process and wait (bounded) until the kernel reports the cgroup frozen. On
    /// timeout the cgroup is thawed again and [`Error::FreezeTimeout`] returned.
    pub fn freeze(&self) -> Result<(), Error> {
        match self.freezer()? {
            Freezer::V1(dir) => {
                fsio::write(dir, "freezer.state", "FROZEN")?;
                let done = poll_state(
                    dir,
                    "freezer.state",
                    |s| s.trim() == "FROZEN",
                    || fsio::write(dir, "freezer.state", "FROZEN"),
                )?;
                if let Err(state) = done {
                    let _ = fsio::write(dir, "freezer.state", "THAWED");
                    return Err(timeout(dir, "freezer.state", "FROZEN", state));
                }
            }
            Freezer::V2(dir) => {
                fsio::write(dir, "cgroup.freeze", "1")?;
                let done = poll_state(
                    dir,
                    "cgroup.events",
                    |s| fsio::keyed(s, "frozen") == Some(1),
                    || Ok(()),
                )?;
                if let Err(state) = done {
                    let _ = fsio::write(dir, "cgroup.freeze", "0");
                    return Err(timeout(dir, "cgroup.events", "frozen 1", state));
                }
            }
        }
        Ok(())
    }

    /// Thaw the cgroup and wait (bounded) until the kernel reports it thawed.
    pub fn thaw(&self) -> Result<(), Error> {
        match self.freezer()? {
            Freezer::V1(dir) => {
                fsio::write(dir, "freezer.state", "THAWED")?;
                let done = poll_state(
                    dir,
                    "freezer.state",
                    |s| s.trim() == "THAWED",
                    || fsio::write(dir, "freezer.state", "THAWED"),
                )?;
                done.map_err(|state| timeout(dir, "freezer.state", "THAWED", state))
            }
            Freezer::V2(dir) => {
                fsio::write(dir, "cgroup.freeze", "0")?;
                let done = poll_state(
                    dir,
                    "cgroup.events",
                    |s| fsio::keyed(s, "frozen") == Some(0),
                    || Ok(()),
                )?;
                done.map_err(|state| timeout(dir, "cgroup.events", "frozen 0", state))
            }
        }
    }

    /// Whether the kernel reports the cgroup frozen (v1 `FREEZING` counts as not frozen).
    pub fn is_frozen(&self) -> Result<bool, Error> {
        match self.freezer()? {
            Freezer::V1(dir) => Ok(fsio::read(dir, "freezer.state")?.trim() == "FROZEN"),
            Freezer::V2(dir) => {
                Ok(fsio::keyed(&fsio::read(dir, "cgroup.events")?, "frozen") == Some(1))
            }
        }
    }

    /// Send `signal` to every process. SIGKILL on v2 uses `cgroup.kill` when the kernel has it.
    /// Otherwise the cgroup is frozen first (so nothing can fork away), every pid signalled, and
    /// the cgroup thawed again (always for SIGKILL, so the signal takes effect; for other signals
    /// only if it was not frozen before). Returns without waiting for the processes to exit.
    pub fn kill_all(&self, signal: i32) -> Result<(), Error> {
        if signal == libc::SIGKILL {
            for d in self.dirs.iter().filter(|d| d.v2) {
                if fsio::write_if_exists(&d.path, "cgroup.kill", "1")? {
                    return Ok(());
                }
            }
        }
        let sig = Signal::try_from(signal).map_err(|_| Error::Unsupported {
            what: format!(
                "signal {signal} cannot be sent to all processes (only standard signals are)"
            ),
        })?;
        let can_freeze = self.freezer().is_ok();
        let was_frozen = can_freeze && sig != Signal::SIGKILL && self.is_frozen()?;
        let froze = can_freeze
            && match self.freeze() {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(path = %self.path, error = %e, "signalling without freezing");
                    false
                }
            };
        let mut result = Ok(());
        match self.procs() {
            Ok(pids) => {
                for pid in pids {
                    match signal::kill(Pid::from_raw(pid), sig) {
                        Ok(()) | Err(Errno::ESRCH) => {}
                        Err(err) => {
                            result = Err(Error::Signal { pid, signal, err });
                            break;
                        }
                    }
                }
            }
            Err(e) => result = Err(e),
        }
        if froze && !was_frozen {
            self.thaw()?;
        }
        result
    }

    /// Remove the cgroup: `rmdir` the leaf in every hierarchy (retrying for up to about a second
    /// on EBUSY while exiting tasks leave, removing child cgroups a nested manager left), then
    /// the parents create() made, bottom-up, while they are empty. Never removes pre-existing
    /// parents. Idempotent; works on a half-created cgroup. Tries every hierarchy and returns
    /// the first error.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut first: Option<Error> = None;
        let deadline = Instant::now() + RMDIR_BUDGET;
        for d in &self.dirs {
            if let Err(e) = remove_leaf(&d.path, deadline) {
                first.get_or_insert(e);
                continue;
            }
            for p in d.created.iter().rev().filter(|p| **p != d.path) {
                match fs::remove_dir(p) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    // Another cgroup lives there now; it is theirs to remove.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                        break
                    }
                    Err(e) => {
                        first.get_or_insert(fsio::remove_err(p.clone(), e));
                        break;
                    }
                }
            }
        }
        match first {
            None => {
                tracing::debug!(path = %self.path, "cgroup removed");
                Ok(())
            }
            Some(e) => Err(e),
        }
    }

    /// Number of OOM kills in the cgroup: `memory.events` `oom_kill` (v2) or
    /// `memory.oom_control` `oom_kill` (v1; 0 on kernels that do not count).
    pub fn oom_kill_count(&self) -> Result<u64, Error> {
        let d = self.find("memory").ok_or_else(|| Error::Unsupported {
            what: format!("{} has no memory controller", self.path),
        })?;
        let file = if d.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        Ok(fsio::keyed(&fsio::read(&d.path, file)?, "oom_kill").unwrap_or(0))
    }

    /// The directory serving `controller` (v1 name, or v2 name on a v2 dir).
    pub(crate) fn find(&self, controller: &str) -> Option<&Dir> {
        self.dirs
            .iter()
            .find(|d| !d.v2 && d.has(controller))
            .or_else(|| self.dirs.iter().find(|d| d.v2 && d.has(controller)))
    }
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn timeout(dir: &Path, file: &str, wanted: &'static str, state: String) -> Error {
    Error::FreezeTimeout {
        path: dir.join(file),
        wanted,
        state: state.trim().to_string(),
    }
}

/// Read `file` until `done` says yes: first at once, then with short growing sleeps, for up to
/// [`FREEZE_BUDGET`]. `nudge` is called every ~50 ms (v1 re-writes the state to retry tasks
/// that could not be frozen yet). `Ok(Err(last))` on timeout.
fn poll_state(
    dir: &Path,
    file: &str,
    done: impl Fn(&str) -> bool,
    nudge: impl Fn() -> Result<(), Error>,
) -> Result<Result<(), String>, Error> {
    let start = Instant::now();
    let mut last_nudge = start;
    let mut pause = Duration::from_micros(50);
    loop {
        let state = fsio::read(dir, file)?;
        if done(&state) {
            return Ok(Ok(()));
        }
        if start.elapsed() > FREEZE_BUDGET {
            return Ok(Err(state));
        }
        if last_nudge.elapsed() > Duration::from_millis(50) {
            nudge()?;
            last_nudge = Instant::now();
        }
        sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Split and check an absolute cgroup path.
pub(crate) fn split_path(path: &str) -> Result<Vec<String>, Error> {
    let bad = |reason: &str| Error::InvalidPath {
        path: path.to_string(),
        reason: reason.into(),
    };
    if !path.starts_with('/') {
        return Err(bad("must be absolute"));
    }
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let comps: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect();
    if comps.iter().any(|c| c == "..") {
        return Err(bad("must not contain \"..\""));
    }
    if comps.is_empty() {
        return Err(bad("is the root cgroup"));
    }
    Ok(comps)
}

/// `mkdir` `leaf` and any missing parents below `base`, recording what was made (top-down) in
/// `created` even when failing halfway. Optimistic: one `mkdir` when the parent exists.
fn make_dirs(
    base: &Path,
    leaf: &Path,
    created: &mut Vec<PathBuf>,
    on_mkdir: &mut dyn FnMut(&Path),
) -> Result<(), Error> {
    match fsio::mkdir(leaf) {
        Ok(made) => {
            if made {
                on_mkdir(leaf);
                created.push(leaf.to_path_buf());
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = match leaf.parent() {
                Some(parent) if parent != base && parent.starts_with(base) => parent,
                _ => return Err(fsio::create_err(leaf, e)), // the mount itself is missing
            };
            // Another container's destroy removes a shared parent (`/podrt`) the moment it is
            // empty, possibly between our two mkdirs: make the parent again and retry. Once
            // our leaf exists the parent is not empty and stays.
            let mut attempts = 0;
            loop {
                make_dirs(base, parent, created, on_mkdir)?;
                match fsio::mkdir(leaf) {
                    Ok(made) => {
                        if made {
                            on_mkdir(leaf);
                            created.push(leaf.to_path_buf());
                        }
                        return Ok(());
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 16 => {
                        attempts += 1;
                    }
                    Err(e) => return Err(fsio::create_err(leaf, e)),
                }
            }
        }
        Err(e) => Err(fsio::create_err(leaf, e)),
    }
}

/// v1 cpuset refuses tasks while `cpuset.cpus`/`cpuset.mems` are empty: copy the values of the
/// nearest existing ancestor into every level create() made. The leaf skips what the resources
/// are about to set.
fn copy_cpuset_down(dir: &Dir, resources: Option<&LinuxResources>) -> Result<(), Error> {
    let top = dir.created.first().expect("caller checked");
    let parent = top.parent().unwrap_or(&dir.base);
    let cpus = fsio::read(parent, "cpuset.cpus")?;
    let mems = fsio::read(parent, "cpuset.mems")?;
    let cpu = resources.and_then(|r| r.cpu().as_ref());
    let set = |v: Option<&String>| v.is_some_and(|s| !s.trim().is_empty());
    let (leaf_cpus, leaf_mems) = (
        set(cpu.and_then(|c| c.cpus().as_ref())),
        set(cpu.and_then(|c| c.mems().as_ref())),
    );
    for level in &dir.created {
        let is_leaf = *level == dir.path;
        let (copy_mems, copy_cpus) = (!is_leaf || !leaf_mems, !is_leaf || !leaf_cpus);
        if copy_mems && !mems.trim().is_empty() {
            fsio::write(level, "cpuset.mems", mems.trim())?;
        }
        if copy_cpus && !cpus.trim().is_empty() {
            fsio::write(level, "cpuset.cpus", cpus.trim())?;
        }
    }
    Ok(())
}

/// Enable `want` in `cgroup.subtree_control` from `base` down to the leaf's parent, each only
/// where the parent offers it. Returns the controllers the leaf gets.
///
/// Fast path: when the leaf's parent already enables everything wanted, its ancestors must
/// too, so one read suffices. Directories in `fresh` were just made and are known to enable
/// nothing, so they are not read.
pub(crate) fn enable_v2(
    base: &Path,
    leaf: &Path,
    fresh: &[PathBuf],
    want: &[&str],
) -> Result<Vec<String>, Error> {
    if want.is_empty() {
        return Ok(Vec::new());
    }
    let mut levels: Vec<&Path> = leaf
        .ancestors()
        .skip(1)
        .take_while(|p| p.starts_with(base))
        .collect();
    levels.reverse(); // base first
    let Some(&parent) = levels.last() else {
        return Ok(Vec::new());
    };
    let mut parent_enabled: Option<String> = None;
    if !fresh.iter().any(|f| f == parent) {
        let text = fsio::read(parent, "cgroup.subtree_control")?;
        if want
            .iter()
            .all(|w| text.split_whitespace().any(|c| c == *w))
        {
            return Ok(want.iter().map(|s| s.to_string()).collect());
        }
        parent_enabled = Some(text);
    }
    let offered = fsio::read(levels[0], "cgroup.controllers")?;
    let want: Vec<&str> = want
        .iter()
        .copied()
        .filter(|w| offered.split_whitespace().any(|c| c == *w))
        .collect();
    for &level in &levels {
        let enabled = if fresh.iter().any(|f| f == level) {
            String::new()
        } else if level == parent && parent_enabled.is_some() {
            parent_enabled.take().unwrap_or_default()
        } else {
            fsio::read(level, "cgroup.subtree_control")?
        };
        let missing: Vec<String> = want
            .iter()
            .filter(|w| !enabled.split_whitespace().any(|c| c == **w))
            .map(|w| format!("+{w}"))
            .collect();
        if !missing.is_empty() {
            fsio::write(level, "cgroup.subtree_control", &missing.join(" "))?;
        }
    }
    Ok(want.iter().map(|s| s.to_string()).collect())
}

/// `rmdir` a cgroup directory, retrying on EBUSY until `deadline` and removing child cgroups.
fn remove_leaf(path: &Path, deadline: Instant) -> Result<(), Error> {
    let mut pause = Duration::from_micros(100);
    loop {
        let err = match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => e,
        };
        if !matches!(err.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) {
            return Err(fsio::remove_err(path.to_path_buf(), err));
        }
        // Child cgroups (a nested cgroup manager inside the container) go first.
        let mut had_children = false;
        if let Ok(entries) = fs::read_dir(path) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    had_children = true;
                    remove_leaf(&entry.path(), deadline)?;
                }
            }
        }
        let now = Instant::now();
        if had_children && now < deadline {
            continue;
        }
        // ENOTEMPTY without child cgroups: not a cgroup directory, or not ours to empty.
        if now >= deadline || err.raw_os_error() == Some(libc::ENOTEMPTY) {
            return Err(fsio::remove_err(path.to_path_buf(), err));
        }
        sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
