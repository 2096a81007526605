//! `podrt check`: what this machine's kernel offers podrt, found by trying.
//!
//! Every probe that touches the kernel runs in a forked child (namespaces are unshared there,
//! filters installed there, scratch mounts made there), so the `podrt` process itself stays
//! single-threaded and unchanged. A child reports through a pipe; one that hangs is killed after
//! [`PROBE_TIMEOUT`]. Scratch cgroups and directories are removed again.
//!
//! The result is a [`Report`]: one [`Probe`] per feature with a status (ok, degraded, missing),
//! what was seen, and what a missing feature means for podrt. [`Report::exit_code`] is non-zero
//! when something podrt cannot run containers without is missing.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getpid, Pid};
use podrt_cgroup::{Layout, Mode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::sys::{self, Forked};

/// How long one probe child may take (TCG guests are slow; `nft` and `ip` load modules).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// `CLONE_NEWTIME` (Linux 5.6); nix has no name for it.
const CLONE_NEWTIME: i32 = 0x80;

/// ramfs's `f_type` (linux/magic.h); neither nix nor libc names it.
const RAMFS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0x8584_58f6);

/// The state of one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Works as podrt needs it.
    Ok,
    /// Works partly, or podrt uses a fallback.
    Degraded,
    /// Not there.
    Missing,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Missing => "missing",
        })
    }
}

/// One feature's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// Dotted name, for example `namespace.pid` or `cgroup.v2.delegation`.
    pub feature: String,
    /// What the probe found.
    pub status: Status,
    /// podrt cannot run containers without it.
    pub needed: bool,
    /// What was tried and seen.
    pub detail: String,
    /// What podrt loses when the feature is not ok (empty when it is).
    pub consequence: String,
}

impl Probe {
    fn new(feature: &str, needed: bool, status: Status, detail: impl Into<String>) -> Probe {
        Probe {
            feature: feature.to_string(),
            status,
            needed,
            detail: detail.into(),
            consequence: String::new(),
        }
    }

    /// Attach the consequence, kept only when the status is not ok.
    fn because(mut self, consequence: &str) -> Probe {
        if self.status != Status::Ok {
            self.consequence = consequence.to_string();
        }
        self
    }
}

/// Everything `podrt check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `uname -r`.
    pub kernel: String,
    /// One entry per feature, in probe order.
    pub probes: Vec<Probe>,
}

impl Report {
    /// Needed features that are missing.
    pub fn missing_needed(&self) -> Vec<&Probe> {
        self.probes
            .iter()
            .filter(|p| p.needed && p.status == Status::Missing)
            .collect()
    }

    /// 0 when podrt can run containers here, 1 when a needed feature is missing.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.missing_needed().is_empty())
    }

    /// How many probes have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.probes.iter().filter(|p| p.status == status).count()
    }

    /// One line: can podrt run here, and what is missing.
    pub fn verdict(&self) -> String {
        let missing = self.missing_needed();
        if missing.is_empty() {
            format!(
                "ok: podrt can run containers on this kernel ({} ok, {} degraded, {} missing)",
                self.count(Status::Ok),
                self.count(Status::Degraded),
                self.count(Status::Missing)
            )
        } else {
            let names: Vec<&str> = missing.iter().map(|p| p.feature.as_str()).collect();
            format!(
                "FAIL: podrt cannot run containers here: needed {} missing: {}",
                if names.len() == 1 {
                    "feature"
                } else {
                    "features"
                },
                names.join(", ")
            )
        }
    }

    /// The JSON document of `podrt check --format json`.
    pub fn to_json(&self) -> Value {
        let missing: Vec<&str> = self
            .missing_needed()
            .iter()
            .map(|p| p.feature.as_str())
            .collect();
        json!({
            "kernel": self.kernel,
            "ok": missing.is_empty(),
            "missingNeeded": missing,
            "verdict": self.verdict(),
            "features": self.probes,
        })
    }

    /// The human-readable table: feature, status, detail, and the consequence under each
    /// feature that is not ok.
    pub fn render_table(&self) -> String {
        let w_feat = self
            .probes
            .iter()
            .map(|p| p.feature.len())
            .chain(std::iter::once("FEATURE".len()))
            .max()
            .unwrap_or(0);
        let w_stat = "degraded".len();
        let mut out = format!(
            "kernel {}\n{:<w_feat$}  {:<w_stat$}  DETAIL\n",
            self.kernel, "FEATURE", "STATUS"
        );
        for p in &self.probes {
            let mark = if p.needed && p.status == Status::Missing {
                "MISSING"
            } else {
                ""
            };
            let status = if mark.is_empty() {
                p.status.to_string()
            } else {
                mark.to_string()
            };
            out.push_str(&format!(
                "{:<w_feat$}  {:<w_stat$}  {}\n",
                p.feature, status, p.detail
            ));
            if !p.consequence.is_empty() {
                let needed = if p.needed { " (NEEDED)" } else { "" };
                out.push_str(&format!(
                    "{:<w_feat$}  {:<w_stat$}  -> {}{needed}\n",
                    "", "", p.consequence
                ));
            }
        }
        out.push_str(&self.verdict());
        out.push('\n');
        out
    }
}

/// Run every probe. `state_root` is podrt's `--root` (its filesystem is reported).
pub fn run(state_root: &Path) -> Report {
    let kernel = read_trim("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into());
    let mut probes = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        probes.push(
            Probe::new(
                "privileges",
                false,
                Status::Degraded,
                "not running as root: most probes fail for that reason alone",
            )
            .because("run `podrt check` as root to see what the kernel offers"),
        );
    }
    probes.extend(namespaces());
    let syms = KernelSymbols::load();
    let layout = Layout::detect();
    probes.push(clone_into_cgroup(layout.as_ref().ok(), &syms));
    probes.push(pidfd());
    probes.extend(cgroups(layout.as_ref()));
    probes.extend(seccomp());
    probes.push(pivot_root());
    probes.push(state_dir(state_root));
    probes.extend(overlay());
    probes.push(idmapped_mounts(&kernel, &syms));
    probes.extend(network());
    Report { kernel, probes }
}

// ---------------------------------------------------------------------------------------------
// Running a probe in a child

/// What a probe child reports: `Ok(detail)` or `Err(what failed)`.
type ChildResult = Result<String, String>;

/// Run `f` in a forked child and return what it reported. The child reports through a pipe;
/// if it dies (a seccomp kill, a panic under `panic=abort`) the result says by which signal.
fn in_child(f: impl FnOnce() -> ChildResult) -> ChildResult {
    in_child_raw(f).map_err(|e| e.to_string()).and_then(|o| o)
}

/// How a probe child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ChildError {
    /// fork or pipe failed.
    Spawn(String),
    /// Killed by a signal before reporting.
    Signaled(Signal),
    /// Exited without a report, with this code.
    NoReport(i32),
    /// Still running after the timeout (it was killed).
    Timeout,
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Spawn(e) => write!(f, "cannot fork a probe child: {e}"),
            ChildError::Signaled(s) => write!(f, "probe child killed by {s}"),
            ChildError::NoReport(c) => write!(f, "probe child exited {c} without a report"),
            ChildError::Timeout => write!(f, "probe child timed out after {PROBE_TIMEOUT:?}"),
        }
    }
}

fn in_child_raw(f: impl FnOnce() -> ChildResult) -> Result<ChildResult, ChildError> {
    let (rd, wr) = nix::unistd::pipe().map_err(|e| ChildError::Spawn(e.to_string()))?;
    // Anything buffered would be written twice otherwise.
    let _ = std::io::stdout().flush();
    let forked = sys::fork_process().map_err(|e| ChildError::Spawn(e.to_string()))?;
    let pid = match forked {
        Forked::Child => {
            drop(rd);
            let report = match f() {
                Ok(s) => format!("O{s}"),
                Err(s) => format!("E{s}"),
            };
            let mut w = fs::File::from(wr);
            let code = i32::from(w.write_all(report.as_bytes()).is_err());
            drop(w);
            sys::exit_immediately(code);
        }
        Forked::Parent(pid) => Pid::from_raw(pid),
    };
    drop(wr);
    let mut buf = Vec::new();
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut file = fs::File::from(rd);
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) if left.is_zero() => {
                timed_out = true;
                break;
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
        let mut chunk = [0u8; 4096];
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if timed_out {
        let _ = kill(pid, Signal::SIGKILL);
    }
    let status = loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    };
    if timed_out {
        return Err(ChildError::Timeout);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    match (text.split_at_checked(1), status) {
        (Some(("O", rest)), _) => Ok(Ok(rest.to_string())),
        (Some(("E", rest)), _) => Ok(Err(rest.to_string())),
        (_, Ok(WaitStatus::Signaled(_, sig, _))) => Err(ChildError::Signaled(sig)),
        (_, Ok(WaitStatus::Exited(_, code))) => Err(ChildError::NoReport(code)),
        (_, other) => Err(ChildError::Spawn(format!("wait: {other:?}"))),
    }
}

fn errno_text(what: &str, e: impl fmt::Display) -> String {
    format!("{what}: {e}")
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn make_private() -> Result<(), String> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| errno_text("make / rprivate", e))
}

/// The caller's ids, to map in a user namespace it unshares next.
fn own_ids() -> (u32, u32) {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

/// In a child that unshared a user namespace: map uid/gid 0 to the ids it had before.
fn map_root_in_userns((uid, gid): (u32, u32)) -> Result<(), String> {
    let w = |p: &str, v: &str| fs::write(p, v).map_err(|e| errno_text(&format!("write {p}"), e));
    w("/proc/self/setgroups", "deny")?;
    w("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    w("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    Ok(())
}

/// A scratch directory that the parent removes when it drops.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(tag: &str) -> Result<ScratchDir, String> {
        let p = std::env::temp_dir().join(format!("podrt-check-{tag}-{}", getpid()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).map_err(|e| errno_text(&format!("mkdir {}", p.display()), e))?;
        Ok(ScratchDir(p))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Mounts made on it lived in the child's mount namespace only.
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Namespaces

/// One probe per namespace type, each tried with unshare in a child (`podrt features` uses
/// these too, so it claims only what works here).
pub fn namespaces() -> Vec<Probe> {
    let list: [(&str, &str, bool, &str); 8] = [
        (
            "mount",
            "CLONE_NEWNS",
            true,
            "no container can start: the rootfs cannot be isolated",
        ),
        (
            "uts",
            "CLONE_NEWUTS",
            true,
            "containers share the host name; configs with a uts namespace fail",
        ),
        (
            "ipc",
            "CLONE_NEWIPC",
            true,
            "containers share System V IPC and POSIX queues with the host",
        ),
        (
            "network",
            "CLONE_NEWNET",
            true,
            "containers share the host network; pods cannot get their own",
        ),
        (
            "pid",
            "CLONE_NEWPID",
            true,
            "containers see every host process; the init cannot be pid 1",
        ),
        (
            "cgroup",
            "CLONE_NEWCGROUP",
            false,
            "configs with a cgroup namespace fail; containers see host cgroup paths",
        ),
        (
            "user",
            "CLONE_NEWUSER",
            false,
            "configs with a user namespace (uid mappings, rootless) fail",
        ),
        (
            "time",
            "CLONE_NEWTIME",
            false,
            "configs with a time namespace (Linux 5.6+) fail",
        ),
    ];
    list.iter()
        .map(|&(kind, flag, needed, consequence)| {
            let r = in_child(|| try_namespace(kind));
            let (status, detail) = match r {
                Ok(d) => (Status::Ok, format!("unshare({flag}) works{d}")),
                Err(e) => (Status::Missing, format!("unshare({flag}): {e}")),
            };
            Probe::new(&format!("namespace.{kind}"), needed, status, detail).because(consequence)
        })
        .collect()
}

fn try_namespace(kind: &str) -> ChildResult {
    let flags = match kind {
        "mount" => CloneFlags::CLONE_NEWNS,
        "uts" => CloneFlags::CLONE_NEWUTS,
        "ipc" => CloneFlags::CLONE_NEWIPC,
        "network" => CloneFlags::CLONE_NEWNET,
        "pid" => CloneFlags::CLONE_NEWPID,
        "cgroup" => CloneFlags::CLONE_NEWCGROUP,
        "user" => CloneFlags::CLONE_NEWUSER,
        "time" => CloneFlags::from_bits_retain(CLONE_NEWTIME),
        _ => return Err(format!("unknown namespace {kind}")),
    };
    let ids = own_ids();
    unshare(flags).map_err(|e| e.to_string())?;
    match kind {
        "mount" => make_private().map(|()| String::new()),
        "uts" => nix::unistd::sethostname("podrt-check")
            .map(|()| ", sethostname in it too".to_string())
            .map_err(|e| errno_text("sethostname", e)),
        "user" => {
            map_root_in_userns(ids)?;
            if nix::unistd::getuid().is_root() {
                Ok(", uid 0 mapped".into())
            } else {
                Err("uid_map written but uid is not 0".into())
            }
        }
        "pid" => {
            // The first child in the new namespace must be its pid 1.
            let r = in_child(|| {
                if getpid().as_raw() == 1 {
                    Ok(String::new())
                } else {
                    Err(format!("first child is pid {}, not 1", getpid()))
                }
            });
            r.map(|_| ", first child is pid 1".to_string())
        }
        _ => Ok(String::new()),
    }
}

// ---------------------------------------------------------------------------------------------
// clone3, CLONE_INTO_CGROUP, pidfd

/// Names of kernel syscalls from /proc/kallsyms (names are visible to root even when
/// `kptr_restrict` hides the addresses).
#[derive(Debug, Default)]
struct KernelSymbols {
    loaded: bool,
    clone3: bool,
    mount_setattr: bool,
}

impl KernelSymbols {
    fn load() -> KernelSymbols {
        let Ok(f) = fs::File::open("/proc/kallsyms") else {
            return KernelSymbols::default();
        };
        let mut s = KernelSymbols::default();
        for line in BufReader::with_capacity(1 << 16, f)
            .lines()
            .map_while(Result::ok)
        {
            s.loaded = true;
            let Some(name) = line.split_whitespace().nth(2) else {
                continue;
            };
            if name.ends_with("sys_clone3") {
                s.clone3 = true;
            } else if name.ends_with("sys_mount_setattr") {
                s.mount_setattr = true;
            }
            if s.clone3 && s.mount_setattr {
                break;
            }
        }
        s
    }
}

fn clone_into_cgroup(layout: Option<&Layout>, syms: &KernelSymbols) -> Probe {
    const CONSEQUENCE: &str = "the init is cloned with clone(2) and then moved into its cgroup \
                               (a short window in the caller's cgroup)";
    let Some(mnt) = layout.and_then(Layout::unified_mountpoint) else {
        let status = if syms.clone3 {
            Status::Degraded
        } else {
            Status::Missing
        };
        return Probe::new(
            "clone3.into_cgroup",
            false,
            status,
            format!(
                "no cgroup2 mount to try CLONE_INTO_CGROUP; clone3 {}",
                if syms.clone3 {
                    "is in the kernel"
                } else {
                    "not found"
                }
            ),
        )
        .because(CONSEQUENCE);
    };
    let mnt = mnt.to_path_buf();
    let r = in_child(move || {
        let dir = mnt.join(format!("podrt-check-{}", getpid()));
        fs::create_dir(&dir).map_err(|e| errno_text(&format!("mkdir {}", dir.display()), e))?;
        let res = (|| {
            let f = fs::File::open(&dir).map_err(|e| errno_text("open cgroup dir", e))?;
            let (forked, born) = sys::clone_process(0, Some(f.as_fd()))
                .map_err(|e| errno_text("clone3(CLONE_INTO_CGROUP)", e))?;
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            match forked {
                Forked::Child => {
                    let cg = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
                    let here = cg
                        .lines()
                        .any(|l| l.starts_with("0::") && l.ends_with(&format!("/{name}")));
                    sys::exit_immediately(if here { 0 } else { 1 });
                }
                Forked::Parent(pid) => {
                    let st = waitpid(Pid::from_raw(pid), None).map_err(|e| e.to_string())?;
                    match (born, st) {
                        (true, WaitStatus::Exited(_, 0)) => Ok(format!(
                            "clone3 with CLONE_INTO_CGROUP put a child straight into {}",
                            dir.display()
                        )),
                        (true, st) => Err(format!(
                            "clone3 accepted CLONE_INTO_CGROUP but the child was elsewhere ({st:?})"
                        )),
                        (false, _) => {
                            Err("the kernel refused CLONE_INTO_CGROUP (clone(2) fallback)".into())
                        }
                    }
                }
            }
        })();
        rmdir_retry(&dir);
        res
    });
    let mode_note = match layout.map(Layout::mode) {
        Some(Mode::Unified) => "",
        _ => "; podrt uses it on pure cgroup v2 only (here the v1 hierarchies need a move anyway)",
    };
    match r {
        Ok(d) => Probe::new(
            "clone3.into_cgroup",
            false,
            Status::Ok,
            format!("{d}{mode_note}"),
        ),
        Err(e) => Probe::new(
            "clone3.into_cgroup",
            false,
            if syms.clone3 {
                Status::Degraded
            } else {
                Status::Missing
            },
            format!(
                "{e}; clone3 {}",
                if syms.clone3 {
                    "is in the kernel"
                } else {
                    "not found in kallsyms"
                }
            ),
        )
        .because(CONSEQUENCE),
    }
}

fn rmdir_retry(dir: &Path) {
    for _ in 0..50 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn pidfd() -> Probe {
    let r = in_child(|| {
        let fd = sys::pidfd_open(getpid().as_raw()).map_err(|e| errno_text("pidfd_open", e))?;
        sys::pidfd_send_signal(fd.as_fd(), 0).map_err(|e| errno_text("pidfd_send_signal", e))?;
        Ok("pidfd_open and pidfd_send_signal work".into())
    });
    let (status, detail) = match r {
        Ok(d) => (Status::Ok, d),
        Err(e) => (Status::Degraded, e),
    };
    Probe::new("pidfd", false, status, detail)
        .because("podrt waits on and signals processes by pid (a pid-reuse race remains)")
}

// ---------------------------------------------------------------------------------------------
// cgroups

const KNOWN_V1: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// What a child found in a scratch cgroup of the cgroup2 mount.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
struct V2Scratch {
    /// Controllers in the root's `cgroup.controllers`.
    available: Vec<String>,
    /// Controllers in the root's `cgroup.subtree_control`.
    enabled_at_root: Vec<String>,
    /// Of the enabled ones, those a scratch cgroup could enable for its children.
    delegable: Vec<String>,
    /// Enabled ones whose `+name` write failed, with the error.
    refused: Vec<String>,
    freeze: bool,
    kill: bool,
}

fn v2_scratch(mnt: &Path) -> ChildResult {
    let split = |s: String| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
    let mut out = V2Scratch {
        available: split(fs::read_to_string(mnt.join("cgroup.controllers")).unwrap_or_default()),
        enabled_at_root: split(
            fs::read_to_string(mnt.join("cgroup.subtree_control")).unwrap_or_default(),
        ),
        ..V2Scratch::default()
    };
    let dir = mnt.join(format!("podrt-check-{}", getpid()));
    fs::create_dir(&dir).map_err(|e| errno_text(&format!("mkdir {}", dir.display()), e))?;
    out.freeze = dir.join("cgroup.freeze").exists();
    out.kill = dir.join("cgroup.kill").exists();
    let ctl = dir.join("cgroup.subtree_control");
    for c in out.enabled_at_root.clone() {
        match fs::write(&ctl, format!("+{c}")) {
            Ok(()) => {
                out.delegable.push(c.clone());
                let _ = fs::write(&ctl, format!("-{c}"));
            }
            Err(e) => out.refused.push(format!("{c} ({e})")),
        }
    }
    rmdir_retry(&dir);
    serde_json::to_string(&out).map_err(|e| e.to_string())
}

/// The controllers podrt's limits need most.
const CORE_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

fn cgroups(layout: Result<&Layout, &podrt_cgroup::Error>) -> Vec<Probe> {
    let layout = match layout {
        Ok(l) => l,
        Err(e) => {
            return vec![Probe::new("cgroup.mode", true, Status::Missing, e.to_string()).because(
                "no resource limits, no freezer, no kill --all: podrt needs cgroups of some kind",
            )]
        }
    };
    let mode = layout.mode();
    let v1: Vec<&str> = KNOWN_V1
        .iter()
        .copied()
        .filter(|c| layout.v1_mountpoint(c).is_some())
        .collect();
    let unified = layout.unified_mountpoint().map(Path::to_path_buf);
    let scratch: Option<Result<V2Scratch, String>> = unified.as_ref().map(|m| {
        let m = m.clone();
        in_child(move || v2_scratch(&m))
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    });
    let v2_ok = scratch.as_ref().and_then(|r| r.as_ref().ok());
    // Read here too: the scratch child may have failed (not root) after reading it.
    let v2_avail: Vec<String> = unified
        .as_ref()
        .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut probes = Vec::new();

    // cgroup.mode: which setup, and whether memory/pids/cpu are somewhere.
    let where_is = |c: &str| -> Option<&'static str> {
        if v1.contains(&c) {
            Some("v1")
        } else if v2_avail.iter().any(|a| a == c) {
            Some("v2")
        } else {
            None
        }
    };
    let lacking: Vec<&str> = CORE_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| where_is(c).is_none())
        .collect();
    let mode_name = match mode {
        Mode::Unified => "unified (pure cgroup v2)",
        Mode::Hybrid => "hybrid (v1 hierarchies + cgroup2)",
        Mode::Legacy => "legacy (cgroup v1 only)",
    };
    let mut detail = mode_name.to_string();
    if !v1.is_empty() {
        detail.push_str(&format!("; v1: {}", v1.join(" ")));
    }
    if let Some(m) = &unified {
        detail.push_str(&format!(
            "; cgroup2 at {} offers: {}",
            m.display(),
            if v2_avail.is_empty() {
                "(none)".to_string()
            } else {
                v2_avail.join(" ")
            }
        ));
    }
    if !lacking.is_empty() {
        detail.push_str(&format!("; no {} controller", lacking.join(", ")));
    }
    let status = if lacking.is_empty() {
        Status::Ok
    } else {
        Status::Degraded
    };
    probes.push(
        Probe::new("cgroup.mode", true, status, detail)
            .because("limits for the missing controllers fail at create"),
    );

    // cgroup.v2.delegation
    let deleg = match (&unified, &scratch) {
        (None, _) => Probe::new(
            "cgroup.v2.delegation",
            false,
            if mode == Mode::Legacy {
                Status::Missing
            } else {
                Status::Degraded
            },
            "no cgroup2 mount",
        ),
        (Some(_), Some(Err(e))) => Probe::new(
            "cgroup.v2.delegation",
            false,
            Status::Degraded,
            format!("scratch cgroup: {e}"),
        ),
        (Some(m), Some(Ok(s))) => {
            let pending: Vec<&str> = s
                .available
                .iter()
                .filter(|c| !s.enabled_at_root.contains(c))
                .map(String::as_str)
                .collect();
            let mut d = format!("scratch cgroup in {} delegates: ", m.display());
            d.push_str(&if s.delegable.is_empty() {
                "(none)".to_string()
            } else {
                s.delegable.join(" ")
            });
            if !pending.is_empty() {
                d.push_str(&format!(
                    "; not yet enabled at the root (podrt enables them for its /podrt subtree): {}",
                    pending.join(" ")
                ));
            }
            if !s.refused.is_empty() {
                d.push_str(&format!("; refused: {}", s.refused.join(", ")));
            }
            let status = if s.refused.is_empty() {
                Status::Ok
            } else {
                Status::Degraded
            };
            Probe::new("cgroup.v2.delegation", false, status, d)
        }
        (Some(_), None) => unreachable!("scratch is Some when unified is"),
    };
    probes.push(deleg.because("v2 limits for undelegable controllers fail at create"));

    // cgroup.freezer
    let v2_freeze = v2_ok.is_some_and(|s| s.freeze);
    let (status, detail) = if v1.contains(&"freezer") && mode != Mode::Unified {
        (Status::Ok, "v1 freezer hierarchy".to_string())
    } else if v2_freeze {
        (Status::Ok, "cgroup v2 cgroup.freeze".to_string())
    } else {
        (
            Status::Missing,
            "no v1 freezer hierarchy and no cgroup.freeze".to_string(),
        )
    };
    probes.push(
        Probe::new("cgroup.freezer", false, status, detail)
            .because("pause/resume fail; kill --all cannot stop forks while signalling"),
    );

    // cgroup.kill
    let (status, detail) = if v2_ok.is_some_and(|s| s.kill) && mode == Mode::Unified {
        (Status::Ok, "cgroup.kill (Linux 5.14+)".to_string())
    } else if v2_ok.is_some_and(|s| s.kill) {
        (
            Status::Ok,
            "cgroup.kill exists on the cgroup2 mount; container processes live in v1 \
             hierarchies here, so kill --all freezes and signals each pid"
                .to_string(),
        )
    } else {
        (
            Status::Degraded,
            "no cgroup.kill: kill --all freezes the cgroup and signals each pid".to_string(),
        )
    };
    probes.push(
        Probe::new("cgroup.kill", false, status, detail)
            .because("SIGKILL of a whole container takes a freeze/signal/thaw round"),
    );

    // cgroup.devices
    let (status, detail, consequence) = if v1.contains(&"devices") && mode != Mode::Unified {
        (
            Status::Ok,
            "v1 devices hierarchy (devices.allow/deny)".to_string(),
            "",
        )
    } else if mode == Mode::Unified {
        // Try it: load the deny-all device program podrt would attach.
        match crate::prepare::devices::compile(&[])
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|p| crate::sys::bpf::load_device_program(&p))
        {
            Ok(_) => (
                Status::Ok,
                "cgroup v2: BPF_PROG_TYPE_CGROUP_DEVICE programs load".to_string(),
                "",
            ),
            Err(e) => (
                Status::Degraded,
                format!("cgroup v2 device program does not load: {e}"),
                "containers with linux.resources.devices fail to create",
            ),
        }
    } else {
        (
            Status::Missing,
            "no v1 devices hierarchy".to_string(),
            "linux.resources.devices cannot be enforced; configs with device rules fail",
        )
    };
    probes.push(Probe::new("cgroup.devices", false, status, detail).because(consequence));
    probes
}

// ---------------------------------------------------------------------------------------------
// seccomp

/// A one-rule profile: `getppid` gets `action`, everything else is allowed.
fn getppid_profile(action: &str) -> String {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": action, "errnoRet": libc::EOPNOTSUPP}]
    })
    .to_string()
}

/// How getppid behaved under a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Returned,
    Failed(Errno),
    Killed(Signal),
}

fn under_filter(action: &str) -> Result<Outcome, String> {
    use crate::prepare::seccomp::{compile, parse_profile};
    let profile = parse_profile(getppid_profile(action).as_bytes()).map_err(|e| e.to_string())?;
    let compiled = compile(&profile).map_err(|e| e.to_string())?;
    let r = in_child_raw(move || {
        // A killing filter must not leave a core file.
        let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
        sys::set_no_new_privs().map_err(|e| errno_text("no_new_privs", e))?;
        sys::seccomp::install(&compiled).map_err(|e| errno_text("seccomp(SET_MODE_FILTER)", e))?;
        Errno::clear();
        // glibc's getppid cannot fail, so it hands the raw `-errno` back instead of -1.
        let ppid = nix::unistd::getppid().as_raw();
        match ppid {
            -1 => Ok(format!("errno {}", Errno::last_raw())),
            p if p < 0 => Ok(format!("errno {}", -p)),
            _ => Ok("returned".into()),
        }
    });
    match r {
        Ok(Ok(s)) if s == "returned" => Ok(Outcome::Returned),
        Ok(Ok(s)) => {
            let n: i32 = s
                .trim_start_matches("errno ")
                .parse()
                .map_err(|_| format!("bad child report {s:?}"))?;
            Ok(Outcome::Failed(Errno::from_raw(n)))
        }
        Ok(Err(e)) => Err(e),
        Err(ChildError::Signaled(s)) => Ok(Outcome::Killed(s)),
        Err(e) => Err(e.to_string()),
    }
}

fn seccomp() -> Vec<Probe> {
    let mut probes = Vec::new();
    let filter = under_filter("SCMP_ACT_ERRNO");
    let (status, detail) = match &filter {
        Ok(Outcome::Failed(Errno::EOPNOTSUPP)) => (
            Status::Ok,
            "a filter made getppid fail with the profile's errno".to_string(),
        ),
        Ok(o) => (
            Status::Missing,
            format!("filter installed but getppid {o:?}, wanted EOPNOTSUPP"),
        ),
        Err(e) => (Status::Missing, e.clone()),
    };
    probes.push(
        Probe::new("seccomp.filter", true, status, detail)
            .because("linux.seccomp profiles (Docker's default) cannot be enforced"),
    );
    let avail = read_trim("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    let avail: Vec<&str> = avail.split_whitespace().collect();
    // (kernel name, OCI action, what getppid must do)
    let actions: [(&str, &str, Outcome); 6] = [
        (
            "errno",
            "SCMP_ACT_ERRNO",
            Outcome::Failed(Errno::EOPNOTSUPP),
        ),
        (
            "kill_process",
            "SCMP_ACT_KILL_PROCESS",
            Outcome::Killed(Signal::SIGSYS),
        ),
        (
            "kill_thread",
            "SCMP_ACT_KILL",
            Outcome::Killed(Signal::SIGSYS),
        ),
        ("trap", "SCMP_ACT_TRAP", Outcome::Killed(Signal::SIGSYS)),
        // Without a tracer the kernel fails a traced syscall with ENOSYS.
        ("trace", "SCMP_ACT_TRACE", Outcome::Failed(Errno::ENOSYS)),
        ("log", "SCMP_ACT_LOG", Outcome::Returned),
    ];
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (name, oci, want) in actions {
        let got = if name == "errno" {
            filter.clone()
        } else {
            under_filter(oci)
        };
        match got {
            Ok(o) if o == want => good.push(name),
            Ok(o) => bad.push(format!("{name}: {o:?} (wanted {want:?})")),
            Err(e) => bad.push(format!("{name}: {e}")),
        }
    }
    let notify = if avail.contains(&"user_notif") {
        "; user_notif offered by the kernel but podrt refuses SCMP_ACT_NOTIFY"
    } else {
        ""
    };
    let (status, mut detail) = if bad.is_empty() {
        (Status::Ok, format!("tried: {}", good.join(" ")))
    } else {
        (
            Status::Degraded,
            format!("worked: {}; failed: {}", good.join(" "), bad.join("; ")),
        )
    };
    detail.push_str(&format!(
        "; actions_avail: {}{notify}",
        if avail.is_empty() {
            "(unreadable)".to_string()
        } else {
            avail.join(" ")
        }
    ));
    probes.push(
        Probe::new("seccomp.actions", false, status, detail)
            .because("profiles using the failing actions behave differently or fail to load"),
    );
    probes
}

// ---------------------------------------------------------------------------------------------
// Mounts

fn pivot_root() -> Probe {
    let root_fs = fs_type_name(Path::new("/"));
    let r = ScratchDir::new("pivot").and_then(|dir| {
        let d = dir.0.clone();
        in_child(move || {
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| errno_text("unshare", e))?;
            make_private()?;
            mount(
                Some("tmpfs"),
                &d,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("size=1m"),
            )
            .map_err(|e| errno_text("mount tmpfs", e))?;
            fs::create_dir(d.join("old")).map_err(|e| errno_text("mkdir old", e))?;
            nix::unistd::chdir(&d).map_err(|e| errno_text("chdir", e))?;
            nix::unistd::pivot_root(".", "old").map_err(|e| errno_text("pivot_root", e))?;
            Ok(String::new())
        })
    });
    match r {
        Ok(_) => Probe::new(
            "mount.pivot_root",
            true,
            Status::Ok,
            format!("pivot_root into a tmpfs works (/ is {root_fs})"),
        ),
        Err(e) => Probe::new(
            "mount.pivot_root",
            true,
            Status::Missing,
            if root_fs == "ramfs" || root_fs == "rootfs" {
                format!("{e} (/ is {root_fs}: an initramfs root cannot be pivoted away from)")
            } else {
                format!("{e} (/ is {root_fs})")
            },
        )
        .because("containers only start with --no-pivot (MS_MOVE + chroot: the host root stays reachable)"),
    }
}

fn fs_type_name(p: &Path) -> String {
    use nix::sys::statfs::{statfs, TMPFS_MAGIC};
    let mut p = p.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            break;
        }
    }
    match statfs(&p) {
        Ok(s) => {
            let t = s.filesystem_type();
            let name = if t == TMPFS_MAGIC {
                "tmpfs".to_string()
            } else if t == RAMFS_MAGIC {
                "ramfs".to_string()
            } else {
                mount_fstype(&p).unwrap_or_else(|| format!("fs type {:#x}", t.0))
            };
            name
        }
        Err(e) => format!("unknown ({e})"),
    }
}

/// The fstype of the mount that holds `p`, from mountinfo (longest mount point prefix).
fn mount_fstype(p: &Path) -> Option<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let p = fs::canonicalize(p).ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in text.lines() {
        let (left, right) = line.split_once(" - ")?;
        let mp = left.split(' ').nth(4)?;
        let fstype = right.split(' ').next()?;
        if p.starts_with(mp) && !matches!(&best, Some((len, _)) if mp.len() < *len) {
            best = Some((mp.len(), fstype.to_string()));
        }
    }
    best.map(|(_, t)| t)
}

fn state_dir(root: &Path) -> Probe {
    let ty = fs_type_name(root);
    let shown = if root.exists() {
        root.display().to_string()
    } else {
        format!("{} (not created yet)", root.display())
    };
    let status = if ty == "ramfs" || ty == "rootfs" {
        Status::Degraded
    } else {
        Status::Ok
    };
    Probe::new("state.dir", false, status, format!("{shown} on {ty}")).because(
        "a state dir on ramfs/rootfs means podrt is running from an initramfs: \
         pivot_root fails there, use --no-pivot",
    )
}

fn overlay() -> Vec<Probe> {
    let try_overlay = |userns: bool| -> ChildResult {
        let dir = ScratchDir::new(if userns { "ovl-userns" } else { "ovl" })?;
        let d = dir.0.clone();
        in_child(move || {
            let mut flags = CloneFlags::CLONE_NEWNS;
            if userns {
                flags |= CloneFlags::CLONE_NEWUSER;
            }
            let ids = own_ids();
            unshare(flags).map_err(|e| errno_text("unshare", e))?;
            if userns {
                map_root_in_userns(ids)?;
            }
            make_private()?;
            mount(
                Some("tmpfs"),
                &d,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("size=1m"),
            )
            .map_err(|e| errno_text("mount tmpfs", e))?;
            for sub in ["lower", "upper", "work", "merged"] {
                fs::create_dir(d.join(sub)).map_err(|e| errno_text("mkdir", e))?;
            }
            fs::write(d.join("lower/f"), "x").map_err(|e| errno_text("write", e))?;
            let opts = format!(
                "lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work",
                d.display()
            );
            mount(
                Some("overlay"),
                &d.join("merged"),
                Some("overlay"),
                MsFlags::empty(),
                Some(opts.as_str()),
            )
            .map_err(|e| errno_text("mount overlay", e))?;
            fs::write(d.join("merged/g"), "y").map_err(|e| errno_text("write through", e))?;
            if !d.join("merged/f").exists() || !d.join("upper/g").exists() {
                return Err("overlay mounted but lower/upper are not merged".into());
            }
            Ok(String::new())
        })
    };
    let plain = try_overlay(false);
    let user = try_overlay(true);
    vec![
        match plain {
            Ok(_) => Probe::new(
                "mount.overlay",
                false,
                Status::Ok,
                "overlay of a tmpfs lower/upper mounted and merged",
            ),
            Err(e) => Probe::new("mount.overlay", false, Status::Missing, e),
        }
        .because("image tools (containerd/podman snapshotters) need overlayfs for rootfs layers"),
        match user {
            Ok(_) => Probe::new(
                "mount.overlay_in_userns",
                false,
                Status::Ok,
                "overlay mounted inside a user namespace (Linux 5.11+)",
            ),
            Err(e) => Probe::new("mount.overlay_in_userns", false, Status::Missing, e),
        }
        .because("rootless image tools need fuse-overlayfs"),
    ]
}

fn idmapped_mounts(kernel: &str, syms: &KernelSymbols) -> Probe {
    let version = kernel_version(kernel);
    let new_enough = version.is_some_and(|v| v >= (5, 12));
    let (status, detail) = match (syms.loaded, syms.mount_setattr, new_enough) {
        (true, true, _) => (
            Status::Ok,
            "mount_setattr(2) is in the kernel (per-filesystem support varies); podrt does not \
             offer idmapped mounts yet",
        ),
        (true, false, _) => (Status::Missing, "no mount_setattr(2) in kallsyms"),
        (false, _, true) => (
            Status::Ok,
            "kernel >= 5.12 (kallsyms unreadable); podrt does not offer idmapped mounts yet",
        ),
        (false, _, false) => (Status::Missing, "kernel older than 5.12"),
    };
    Probe::new("mount.idmapped", false, status, detail)
        .because("mounts with the idmap option would be refused (podrt refuses them anyway)")
}

fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

// ---------------------------------------------------------------------------------------------
// Networking, each in a throwaway network namespace

fn have_tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
        || ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(name).is_file())
}

/// Run a command inside a fresh network namespace (in a child); `Ok(stdout)`.
fn in_netns(cmds: Vec<Vec<String>>) -> ChildResult {
    in_child(move || {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| errno_text("unshare(CLONE_NEWNET)", e))?;
        let mut out = String::new();
        for argv in cmds {
            let o = Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| errno_text(&argv[0], e))?;
            if !o.status.success() {
                return Err(format!(
                    "`{}` failed: {}",
                    argv.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            out.push_str(&String::from_utf8_lossy(&o.stdout));
        }
        Ok(out)
    })
}

fn module_known(name: &str) -> bool {
    if Path::new("/sys/module").join(name).exists() {
        return true;
    }
    let rel = read_trim("/proc/sys/kernel/osrelease").unwrap_or_default();
    let base = Path::new("/lib/modules").join(rel);
    ["modules.dep", "modules.builtin"].iter().any(|f| {
        fs::read_to_string(base.join(f)).is_ok_and(|t| {
            t.lines().any(|l| {
                let file = l.split(':').next().unwrap_or_default();
                let stem = file.rsplit('/').next().unwrap_or_default();
                stem.split('.').next() == Some(name)
            })
        })
    })
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_string()).collect()
}

fn network() -> Vec<Probe> {
    let mut probes = Vec::new();
    let link_probe = |feature: &str, kind: &str, cmd: Vec<Vec<String>>, consequence: &str| {
        if !have_tool("ip") {
            let (status, d) = if module_known(kind) {
                (
                    Status::Degraded,
                    format!("not tried (ip(8) not installed); module {kind} present"),
                )
            } else {
                (
                    Status::Missing,
                    format!("not tried (ip(8) not installed); no {kind} module"),
                )
            };
            return Probe::new(feature, false, status, d).because(consequence);
        }
        match in_netns(cmd) {
            Ok(_) => Probe::new(
                feature,
                false,
                Status::Ok,
                format!("created a {kind} link in a throwaway network namespace"),
            ),
            Err(e) => Probe::new(feature, false, Status::Missing, e).because(consequence),
        }
    };
    probes.push(link_probe(
        "net.veth",
        "veth",
        vec![argv(&[
            "ip", "link", "add", "pc0", "type", "veth", "peer", "name", "pc1",
        ])],
        "pods cannot be wired to a host bridge (podrt-netns needs veth pairs)",
    ));
    probes.push(link_probe(
        "net.bridge",
        "bridge",
        vec![argv(&["ip", "link", "add", "pcbr0", "type", "bridge"])],
        "podrt-netns cannot create the pod bridge",
    ));
    // The same netlink requests pods send (podrt-netns), in a throwaway network namespace.
    let nft = match in_child(|| {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| errno_text("unshare(CLONE_NEWNET)", e))?;
        podrt_netns::probe_nftables("podrt_check")
            .map(|n| n.to_string())
            .map_err(|e| e.to_string())
    }) {
        Ok(n) if n == "3" => Probe::new(
            "net.nftables",
            false,
            Status::Ok,
            "added, listed and deleted a pod's hostPort rules over netlink in a throwaway \
             network namespace",
        ),
        Ok(n) => Probe::new(
            "net.nftables",
            false,
            Status::Degraded,
            format!("added a pod's 3 hostPort rules over netlink but read back {n}"),
        ),
        Err(e) => Probe::new("net.nftables", false, Status::Missing, e),
    };
    probes.push(nft.because("pod port mappings and masquerading are unavailable"));
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(feature: &str, needed: bool, status: Status) -> Probe {
        Probe::new(feature, needed, status, "d").because("c")
    }

    fn report(probes: Vec<Probe>) -> Report {
        Report {
            kernel: "6.1.0-test".into(),
            probes,
        }
    }

    #[test]
    fn verdict_ok_when_only_optional_features_miss() {
        let r = report(vec![
            p("namespace.mount", true, Status::Ok),
            p("namespace.time", false, Status::Missing),
            p("cgroup.mode", true, Status::Degraded),
        ]);
        assert_eq!(r.exit_code(), 0);
        assert!(r.missing_needed().is_empty());
        assert!(r.verdict().starts_with("ok:"), "{}", r.verdict());
        assert!(r.verdict().contains("1 ok, 1 degraded, 1 missing"));
    }

    #[test]
    fn verdict_fails_naming_missing_needed_features() {
        let r = report(vec![
            p("namespace.pid", true, Status::Missing),
            p("seccomp.filter", true, Status::Missing),
            p("namespace.user", false, Status::Missing),
        ]);
        assert_eq!(r.exit_code(), 1);
        let v = r.verdict();
        assert!(v.starts_with("FAIL:"), "{v}");
        assert!(v.contains("namespace.pid, seccomp.filter"), "{v}");
        assert!(!v.contains("namespace.user"), "{v}");
        let j = r.to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(
            j["missingNeeded"],
            json!(["namespace.pid", "seccomp.filter"])
        );
    }

    #[test]
    fn consequence_only_kept_when_not_ok() {
        assert_eq!(p("x", true, Status::Ok).consequence, "");
        assert_eq!(p("x", true, Status::Degraded).consequence, "c");
    }

    #[test]
    fn json_shape() {
        let r = report(vec![p("namespace.mount", true, Status::Ok)]);
        let j = r.to_json();
        assert_eq!(j["kernel"], "6.1.0-test");
        assert_eq!(j["ok"], true);
        assert_eq!(j["features"][0]["feature"], "namespace.mount");
        assert_eq!(j["features"][0]["status"], "ok");
        assert_eq!(j["features"][0]["needed"], true);
        assert_eq!(j["features"][0]["consequence"], "");
    }

    #[test]
    fn table_aligns_and_shows_consequences() {
        let r = report(vec![
            p("namespace.mount", true, Status::Ok),
            p("cgroup.devices", false, Status::Degraded),
            p("mount.pivot_root", true, Status::Missing),
        ]);
        let t = r.render_table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "kernel 6.1.0-test");
        assert!(
            lines[1].starts_with("FEATURE           STATUS    DETAIL"),
            "{t}"
        );
        assert_eq!(lines[2], "namespace.mount   ok        d");
        assert_eq!(lines[3], "cgroup.devices    degraded  d");
        assert_eq!(lines[4], "                            -> c");
        assert_eq!(lines[5], "mount.pivot_root  MISSING   d");
        assert_eq!(lines[6], "                            -> c (NEEDED)");
        assert!(lines[7].starts_with("FAIL:"), "{t}");
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.1.0-56-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("5.12.19"), Some((5, 12)));
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("garbage"), None);
    }
}
