//! Parent side: turn an OCI `Spec` into an [`InitPlan`] with every fallible decision made
//! (namespace fds opened, mount options parsed, capabilities resolved, rlimits mapped, seccomp
//! compiled), so the init only executes a straight sequence of syscalls.

pub mod devices;
pub mod mounts;
pub mod seccomp;

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub use mounts::MountPlan;

/// Everything wrong with a spec that we can tell before cloning.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("config.json: {0}")]
    Invalid(String),
    #[error("open namespace {kind} at {path}: {source}")]
    OpenNamespace {
        kind: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    MountOption(#[from] mounts::MountOptionError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error("rootfs {path} does not exist or is not a directory")]
    Rootfs { path: PathBuf },
    #[error("argument contains a NUL byte: {0:?}")]
    Nul(String),
}

/// A namespace the container joins by path.
#[derive(Debug)]
pub struct Join {
    pub kind: CloneFlags,
    pub fd: OwnedFd,
    pub path: PathBuf,
}

/// How the process tree of the container is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneShape {
    /// One clone with every new-namespace flag; joins (never user) happen in the child.
    Single,
    /// Clone without namespace flags; the child joins, then unshares (user first, with the
    /// parent writing the id maps), and forks when a pid namespace is involved.
    Staged,
}

/// The process to execute, resolved as far as possible outside the container.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub caps: Option<CapSets>,
    pub no_new_privileges: bool,
    pub rlimits: Vec<(nix::sys::resource::Resource, u64, u64)>,
    pub oom_score_adj: Option<i32>,
}

/// The five capability sets, filtered to what the running kernel knows.
#[derive(Debug, Clone, Default)]
pub struct CapSets {
    pub bounding: caps::CapsHashSet,
    pub effective: caps::CapsHashSet,
    pub permitted: caps::CapsHashSet,
    pub inheritable: caps::CapsHashSet,
    pub ambient: caps::CapsHashSet,
}

/// A device node to create in the container's /dev.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    pub path: String,
    pub kind: nix::sys::stat::SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Everything the container init needs.
#[derive(Debug)]
pub struct InitPlan {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub shape: CloneShape,
    /// Namespaces created by the clone itself (Single) or unshared by the child (Staged).
    pub new_namespaces: CloneFlags,
    /// New namespaces the child unshares after the runtime moved it into its cgroup (a cgroup
    /// namespace must be rooted at the container's cgroup, which clone cannot do on v1).
    pub late_unshare: CloneFlags,
    pub joins: Vec<Join>,
    pub uid_mappings: Vec<(u32, u32, u32)>,
    pub gid_mappings: Vec<(u32, u32, u32)>,
    pub mounts: Vec<MountPlan>,
    pub rootfs_propagation: nix::mount::MsFlags,
    /// An explicit `rootfsPropagation` is applied to `/` again after pivot_root (as runc does).
    pub propagation_explicit: bool,
    pub root_readonly: bool,
    pub no_pivot: bool,
    pub devices: Vec<DevicePlan>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctls: Vec<(String, String)>,
    pub process: ProcessPlan,
    pub seccomp: Option<seccomp::CompiledSeccomp>,
    pub has_runtime_hooks: bool,
    pub create_container_hooks: Vec<oci_spec::runtime::Hook>,
    pub start_container_hooks: Vec<oci_spec::runtime::Hook>,
    pub preserve_fds: i32,
}

/// Spec namespace type → clone flag and the name used in /proc/PID/ns.
pub fn ns_flag(t: LinuxNamespaceType) -> (CloneFlags, &'static str) {
    match t {
        LinuxNamespaceType::Mount => (CloneFlags::CLONE_NEWNS, "mnt"),
        LinuxNamespaceType::Cgroup => (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
        LinuxNamespaceType::Uts => (CloneFlags::CLONE_NEWUTS, "uts"),
        LinuxNamespaceType::Ipc => (CloneFlags::CLONE_NEWIPC, "ipc"),
        LinuxNamespaceType::User => (CloneFlags::CLONE_NEWUSER, "user"),
        LinuxNamespaceType::Pid => (CloneFlags::CLONE_NEWPID, "pid"),
        LinuxNamespaceType::Network => (CloneFlags::CLONE_NEWNET, "net"),
        // CLONE_NEWTIME (0x80) is not a nix constant; it is only valid with unshare/clone3.
        LinuxNamespaceType::Time => (CloneFlags::from_bits_retain(0x80), "time"),
    }
}

/// Options from the command line that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// fds passed by systemd socket activation (LISTEN_FDS in podrt's own environment).
    pub listen_fds: i32,
}

/// Build the plan for the container's init process.
pub fn plan(
    id: &str,
    bundle: &Path,
    spec: &Spec,
    opts: &PlanOptions,
) -> Result<InitPlan, PrepareError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| PrepareError::Invalid("root is required".into()))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(PrepareError::Rootfs { path: rootfs });
    }
    let rootfs = rootfs.canonicalize().map_err(|_| PrepareError::Rootfs {
        path: rootfs.clone(),
    })?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| PrepareError::Invalid("linux section is required".into()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| PrepareError::Invalid("process is required".into()))?;

    // Namespaces: new ones become clone flags, ones with a path are opened now.
    let mut new_namespaces = CloneFlags::empty();
    let mut joins = Vec::new();
    let mut seen = HashSet::new();
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        let (flag, name) = ns_flag(ns.typ());
        if !seen.insert(name) {
            return Err(PrepareError::Invalid(format!(
                "namespace {name} is listed twice"
            )));
        }
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                let f = File::open(p).map_err(|e| PrepareError::OpenNamespace {
                    kind: name,
                    path: p.clone(),
                    source: e,
                })?;
                joins.push(Join {
                    kind: flag,
                    fd: f.into(),
                    path: p.clone(),
                });
            }
            _ => new_namespaces |= flag,
        }
    }
    // Join the user namespace first: it decides what the other joins are allowed to do.
    joins.sort_by_key(|j| j.kind != CloneFlags::CLONE_NEWUSER);
    let joins_user = joins.iter().any(|j| j.kind == CloneFlags::CLONE_NEWUSER);
    let joins_pid = joins.iter().any(|j| j.kind == CloneFlags::CLONE_NEWPID);
    let new_user = new_namespaces.contains(CloneFlags::CLONE_NEWUSER);
    let shape = if joins_user || (new_user && !joins.is_empty()) || joins_pid {
        CloneShape::Staged
    } else {
        CloneShape::Single
    };
    if !new_namespaces.contains(CloneFlags::CLONE_NEWNS)
        && !joins.iter().any(|j| j.kind == CloneFlags::CLONE_NEWNS)
    {
        return Err(PrepareError::Invalid(
            "a mount namespace is required (add {\"type\": \"mount\"} to linux.namespaces)".into(),
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(PrepareError::Invalid(
            "linux.timeOffsets is not supported by podrt yet".into(),
        ));
    }
    let map = |v: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        v.as_deref()
            .unwrap_or_default()
            .iter()
            .map(|m| (m.container_id(), m.host_id(), m.size()))
            .collect::<Vec<_>>()
    };
    let uid_mappings = map(linux.uid_mappings());
    let gid_mappings = map(linux.gid_mappings());
    if new_user && (uid_mappings.is_empty() || gid_mappings.is_empty()) {
        return Err(PrepareError::Invalid(
            "a new user namespace needs linux.uidMappings and linux.gidMappings".into(),
        ));
    }

    let mut mount_plans = Vec::new();
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let dest = m.destination().to_string_lossy().into_owned();
        let src = m.source().as_ref().map(|s| {
            let s = s.to_string_lossy().into_owned();
            // A relative bind source is relative to the bundle, as in runc.
            if !s.starts_with('/') && (m.typ().as_deref() == Some("bind") || is_bind(m.options())) {
                bundle.join(&s).to_string_lossy().into_owned()
            } else {
                s
            }
        });
        mount_plans.push(mounts::plan_mount(
            &dest,
            m.typ().as_deref(),
            src.as_deref(),
            m.options().as_deref().unwrap_or_default(),
        )?);
    }
    let rootfs_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => nix::mount::MsFlags::MS_SLAVE | nix::mount::MsFlags::MS_REC,
        Some(p) => {
            let f = mounts::propagation_flag(p);
            if f.is_empty() {
                return Err(PrepareError::Invalid(format!(
                    "linux.rootfsPropagation {p:?} is not one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable"
                )));
            }
            f
        }
    };

    let mut devices = default_devices();
    for d in linux.devices().as_deref().unwrap_or_default() {
        use oci_spec::runtime::LinuxDeviceType as T;
        let kind = match d.typ() {
            T::C | T::U => nix::sys::stat::SFlag::S_IFCHR,
            T::B => nix::sys::stat::SFlag::S_IFBLK,
            T::P => nix::sys::stat::SFlag::S_IFIFO,
            T::A => {
                return Err(PrepareError::Invalid(format!(
                    "linux.devices {}: type \"a\" is only valid in cgroup device rules",
                    d.path().display()
                )))
            }
        };
        let path = d.path().to_string_lossy().into_owned();
        if !path.starts_with("/dev/") {
            return Err(PrepareError::Invalid(format!(
                "linux.devices {path}: devices must live under /dev"
            )));
        }
        devices.retain(|x| x.path != path);
        devices.push(DevicePlan {
            path,
            kind,
            major: u64::try_from(d.major()).unwrap_or(0),
            minor: u64::try_from(d.minor()).unwrap_or(0),
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }

    let new_uts = new_namespaces.contains(CloneFlags::CLONE_NEWUTS);
    let hostname = spec.hostname().clone().filter(|h| !h.is_empty());
    let domainname = spec.domainname().clone().filter(|h| !h.is_empty());
    if (hostname.is_some() || domainname.is_some())
        && !new_uts
        && !joins.iter().any(|j| j.kind == CloneFlags::CLONE_NEWUTS)
    {
        return Err(PrepareError::Invalid(
            "hostname/domainname need a private UTS namespace (add {\"type\": \"uts\"})".into(),
        ));
    }
    let mut sysctls: Vec<(String, String)> = linux
        .sysctl()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    sysctls.sort();
    for (k, _) in &sysctls {
        check_sysctl(k, new_namespaces, &joins)?;
    }

    let process_plan = plan_process(process, opts)?;
    let seccomp = match linux.seccomp() {
        Some(s) => {
            let compiled = seccomp::compile(s)?;
            if compiled.filters.is_empty() {
                None
            } else {
                Some(compiled)
            }
        }
        None => None,
    };
    let hooks = spec.hooks().as_ref();
    let has_runtime_hooks = hooks.is_some_and(|h| {
        #[allow(deprecated)]
        let prestart = h.prestart().as_ref().is_some_and(|v| !v.is_empty());
        prestart || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    Ok(InitPlan {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        rootfs,
        shape,
        new_namespaces,
        late_unshare: CloneFlags::empty(),
        joins,
        uid_mappings,
        gid_mappings,
        mounts: mount_plans,
        rootfs_propagation,
        propagation_explicit: linux
            .rootfs_propagation()
            .as_deref()
            .is_some_and(|p| !p.is_empty()),
        root_readonly: root.readonly().unwrap_or(false),
        no_pivot: opts.no_pivot,
        devices,
        masked_paths: linux.masked_paths().clone().unwrap_or_default(),
        readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
        hostname,
        domainname,
        sysctls,
        process: process_plan,
        seccomp,
        has_runtime_hooks,
        create_container_hooks: hooks
            .and_then(|h| h.create_container().clone())
            .unwrap_or_default(),
        start_container_hooks: hooks
            .and_then(|h| h.start_container().clone())
            .unwrap_or_default(),
        preserve_fds: opts.preserve_fds + opts.listen_fds,
    })
}

/// A sysctl may only be set when it lives in a namespace the container owns (runc's rules):
/// IPC sysctls need an IPC namespace, net.* a network namespace, kernel.hostname/domainname a
/// UTS namespace, and none of them the host's own. Everything else would change the host.
fn check_sysctl(key: &str, new: CloneFlags, joins: &[Join]) -> Result<(), PrepareError> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let bad_name = key.is_empty()
        || key.contains("..")
        || key.starts_with('.')
        || key.starts_with('/')
        || (key.contains('/') && key.contains('.'));
    if bad_name {
        return Err(PrepareError::Invalid(format!(
            "sysctl {key:?} is not a valid name"
        )));
    }
    let dotted = key.replace('/', ".");
    let (flag, kind) = if IPC.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
        (CloneFlags::CLONE_NEWIPC, "ipc")
    } else if dotted.starts_with("net.") {
        (CloneFlags::CLONE_NEWNET, "net")
    } else if dotted == "kernel.hostname" || dotted == "kernel.domainname" {
        (CloneFlags::CLONE_NEWUTS, "uts")
    } else {
        return Err(PrepareError::Invalid(format!(
            "sysctl {key:?} is not namespaced: setting it would change the host"
        )));
    };
    if new.contains(flag) {
        return Ok(());
    }
    if let Some(j) = joins.iter().find(|j| j.kind == flag) {
        let host = std::fs::metadata(format!("/proc/self/ns/{kind}")).ok();
        let joined = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&j.fd)).ok();
        let same = match (host, joined) {
            (Some(h), Some(j)) => {
                use std::os::unix::fs::MetadataExt;
                h.ino() == j.st_ino && h.dev() == j.st_dev
            }
            _ => false,
        };
        if !same {
            return Ok(());
        }
    }
    Err(PrepareError::Invalid(format!(
        "sysctl {key:?} needs a private {kind} namespace (the container would change the host's)"
    )))
}

fn is_bind(options: &Option<Vec<String>>) -> bool {
    options
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o == "bind" || o == "rbind")
}

fn cstring(s: &str) -> Result<CString, PrepareError> {
    CString::new(s).map_err(|_| PrepareError::Nul(s.to_string()))
}

/// Resolve the process section (shared by create and exec).
pub fn plan_process(
    process: &oci_spec::runtime::Process,
    opts: &PlanOptions,
) -> Result<ProcessPlan, PrepareError> {
    let args: Vec<CString> = process
        .args()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<_, _>>()?;
    if args.is_empty() {
        return Err(PrepareError::Invalid(
            "process.args must not be empty".into(),
        ));
    }
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if opts.listen_fds > 0 {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={}", opts.listen_fds));
        env.push("LISTEN_PID=1".to_string());
    }
    let env: Vec<CString> = env.iter().map(|e| cstring(e)).collect::<Result<_, _>>()?;
    let cwd = process.cwd().clone();
    if !cwd.is_absolute() {
        return Err(PrepareError::Invalid(format!(
            "process.cwd {} must be an absolute path",
            cwd.display()
        )));
    }
    let user = process.user();
    let caps = process.capabilities().as_ref().map(resolve_caps);
    let mut rlimits = Vec::new();
    for r in process.rlimits().as_deref().unwrap_or_default() {
        rlimits.push((rlimit_resource(r.typ()), r.soft(), r.hard()));
    }
    Ok(ProcessPlan {
        args,
        env,
        cwd,
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        terminal: process.terminal().unwrap_or(false),
        console_size: process.console_size().map(|b| {
            (
                u16::try_from(b.height()).unwrap_or(u16::MAX),
                u16::try_from(b.width()).unwrap_or(u16::MAX),
            )
        }),
        caps,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        rlimits,
        oom_score_adj: process.oom_score_adj(),
    })
}

fn resolve_caps(c: &oci_spec::runtime::LinuxCapabilities) -> CapSets {
    let supported = caps::runtime::thread_all_supported();
    let conv = |set: &Option<oci_spec::runtime::Capabilities>| -> caps::CapsHashSet {
        set.as_ref()
            .map(|s| {
                s.iter()
                    .filter_map(|c| caps::Capability::from_str(&format!("CAP_{c}")).ok())
                    .filter(|c| supported.contains(c))
                    .collect()
            })
            .unwrap_or_default()
    };
    CapSets {
        bounding: conv(c.bounding()),
        effective: conv(c.effective()),
        permitted: conv(c.permitted()),
        inheritable: conv(c.inheritable()),
        ambient: conv(c.ambient()),
    }
}

fn rlimit_resource(t: oci_spec::runtime::PosixRlimitType) -> nix::sys::resource::Resource {
    use nix::sys::resource::Resource as R;
    use oci_spec::runtime::PosixRlimitType as T;
    match t {
        T::RlimitCpu => R::RLIMIT_CPU,
        T::RlimitFsize => R::RLIMIT_FSIZE,
        T::RlimitData => R::RLIMIT_DATA,
        T::RlimitStack => R::RLIMIT_STACK,
        T::RlimitCore => R::RLIMIT_CORE,
        T::RlimitRss => R::RLIMIT_RSS,
        T::RlimitNproc => R::RLIMIT_NPROC,
        T::RlimitNofile => R::RLIMIT_NOFILE,
        T::RlimitMemlock => R::RLIMIT_MEMLOCK,
        T::RlimitAs => R::RLIMIT_AS,
        T::RlimitLocks => R::RLIMIT_LOCKS,
        T::RlimitSigpending => R::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => R::RLIMIT_MSGQUEUE,
        T::RlimitNice => R::RLIMIT_NICE,
        T::RlimitRtprio => R::RLIMIT_RTPRIO,
        T::RlimitRttime => R::RLIMIT_RTTIME,
    }
}

/// The devices every container gets, as runc creates them.
pub fn default_devices() -> Vec<DevicePlan> {
    let chr = |path: &str, major, minor| DevicePlan {
        path: path.to_string(),
        kind: nix::sys::stat::SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    };
    vec![
        chr("/dev/null", 1, 3),
        chr("/dev/zero", 1, 5),
        chr("/dev/full", 1, 7),
        chr("/dev/random", 1, 8),
        chr("/dev/urandom", 1, 9),
        chr("/dev/tty", 5, 0),
    ]
}

/// The /proc/PID/ns name of a single namespace flag.
pub fn ns_name(flag: CloneFlags) -> &'static str {
    for t in [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Time,
    ] {
        let (f, name) = ns_flag(t);
        if f == flag {
            return name;
        }
    }
    "unknown"
}
