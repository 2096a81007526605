//! `create`: the parent side of starting a container. Resolve everything, clone once, answer the
//! init's requests (id maps, runtime hooks), and undo everything if any step fails.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{cgroup_path, io_err, load_spec, ContainerError};
use crate::init::InitContext;
use crate::prepare::{self, CloneShape, InitPlan, PlanOptions};
use crate::state::{self, ContainerState, StateDir, Status};
use crate::sync::{self, FromInit, ToInit};
use crate::sys::{self, Forked};

/// Options of `create` (and of `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// Wait for `start` on the exec fifo (create); `run` execs right away.
    pub use_fifo: bool,
    /// Size for the container's pty when the spec gives none (a foreground `run` passes its
    /// own terminal's size so the process never sees 0x0).
    pub console_size: Option<(u16, u16)>,
    /// fds to become the container's stdin, stdout and stderr (default: podrt's own).
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
}

/// A created container.
#[derive(Debug)]
pub struct Created {
    pub pid: i32,
    pub state: ContainerState,
}

/// Resources to give back if create fails, in reverse order of acquisition.
struct Undo {
    dir: Option<StateDir>,
    cgroup: Option<podrt_cgroup::Cgroup>,
    children: Vec<i32>,
}

impl Undo {
    fn run(mut self) {
        for pid in self.children.drain(..) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = self.cgroup.take() {
            // Processes the init forked (hooks) may still be exiting: kill what is left.
            let _ = cg.kill_all(libc::SIGKILL);
            if let Err(e) = super::destroy_cgroup(&cg) {
                tracing::warn!("cleanup: {e}");
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = dir.remove() {
                tracing::warn!("cleanup: {e}");
            }
        }
    }
}

/// Create a container from a bundle. On error nothing is left behind.
pub fn create(ctx: &super::Context, opts: &CreateOptions) -> Result<Created, ContainerError> {
    let bundle = opts
        .bundle
        .canonicalize()
        .map_err(io_err(format!("bundle {}", opts.bundle.display())))?;
    let spec = load_spec(&bundle)?;
    crate::timings::mark("config");
    let dir = StateDir::create(&ctx.root, &opts.id)?;
    let mut undo = Undo {
        dir: Some(dir),
        cgroup: None,
        children: Vec::new(),
    };
    match create_in(ctx, opts, &bundle, spec, &mut undo) {
        Ok(c) => {
            // Success: the state dir stays (its lock is released on drop).
            undo.dir.take();
            Ok(c)
        }
        Err(e) => {
            undo.run();
            Err(e)
        }
    }
}

fn create_in(
    _ctx: &super::Context,
    opts: &CreateOptions,
    bundle: &Path,
    spec: oci_spec::runtime::Spec,
    undo: &mut Undo,
) -> Result<Created, ContainerError> {
    let dir = undo.dir.as_ref().expect("state dir");
    let listen_fds = listen_fds();
    let mut plan = prepare::plan(
        &opts.id,
        bundle,
        &spec,
        &PlanOptions {
            no_pivot: opts.no_pivot,
            preserve_fds: opts.preserve_fds,
            listen_fds,
        },
    )?;
    if plan.process.console_size.is_none() {
        plan.process.console_size = opts.console_size;
    }
    crate::timings::mark("plan");
    let annotations: std::collections::BTreeMap<String, String> = spec
        .annotations()
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut st = ContainerState {
        id: opts.id.clone(),
        bundle: bundle.to_path_buf(),
        rootfs: plan.rootfs.clone(),
        status: Status::Creating,
        pid: None,
        pid_start_time: None,
        created: state::now_rfc3339(),
        owner: state::owner_name(),
        annotations,
        cgroup: None,
        config: spec.clone(),
        oom_killed: false,
    };

    // The cgroup, limits written before the init may run anything.
    let layout = podrt_cgroup::Layout::detect()?;
    let cg_path = cgroup_path(&spec, &opts.id)?;
    let resources = effective_resources(&spec);
    let cg = podrt_cgroup::Cgroup::create(&layout, &cg_path, Some(&resources))?;
    st.cgroup = Some(cg.clone());
    undo.cgroup = Some(cg.clone());
    cg.apply(&resources)?;
    if cg.mode() == podrt_cgroup::Mode::Unified {
        attach_device_rules(&cg, &resources)?;
    }
    dir.save(&st)?;
    crate::timings::mark("cgroup");

    // Channels to the init: the sync socket, the exec fifo, the console socket.
    let (parent_chan, child_chan) = sync::pair().map_err(io_err("socketpair"))?;
    let fifo = if opts.use_fifo {
        let path = dir.fifo_path();
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o622)).map_err(
            |e| ContainerError::Io {
                what: format!("mkfifo {}", path.display()),
                source: e.into(),
            },
        )?;
        // mkfifo's mode went through the umask: make it writable for any container user.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .map_err(io_err(format!("chmod {}", path.display())))?;
        let f = nix::fcntl::open(
            &path,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| ContainerError::Io {
            what: format!("open {}", path.display()),
            source: e.into(),
        })?;
        Some(own(f))
    } else {
        None
    };
    let console = match (&opts.console_socket, plan.process.terminal) {
        (Some(path), true) => Some(connect_console(path)?),
        (None, true) => {
            return Err(ContainerError::Invalid(
                "process.terminal is true: pass --console-socket (or set terminal to false)".into(),
            ))
        }
        (Some(_), false) => {
            return Err(ContainerError::Invalid(
                "--console-socket given but process.terminal is false: there is no pty to send"
                    .into(),
            ))
        }
        (None, false) => None,
    };
    let cg_fd = cg.dir_fd()?;
    // Not cloned into the cgroup (v1, hybrid): the init moves itself in as its first step,
    // through files opened here (on v1 without the kernel's global migration lock).
    let cgroup_join = match cg_fd {
        None => Some(cg.self_join()?),
        Some(_) => None,
    };
    if cg_fd.is_none() && plan.shape == CloneShape::Single {
        // Not born in the cgroup (v1): the cgroup namespace must wait until we moved the child.
        plan.late_unshare = plan.new_namespaces & CloneFlags::CLONE_NEWCGROUP;
    }
    let clone_flags = match plan.shape {
        CloneShape::Single => (plan.new_namespaces - plan.late_unshare).bits(),
        CloneShape::Staged => 0,
    };
    let clone_flags = u64::try_from(clone_flags).unwrap_or_default();
    let close_first = vec![lock_fd(dir), parent_chan.fd().as_raw_fd()];
    crate::timings::mark("prepare");

    let (forked, born_in_cgroup) =
        sys::clone_process(clone_flags, cg_fd.as_ref().map(|f| f.as_fd()))
            .map_err(io_err("clone the container init"))?;
    let child = match forked {
        Forked::Child => {
            drop(cg_fd);
            crate::init::run(
                plan,
                InitContext {
                    chan: child_chan,
                    fifo,
                    console,
                    close_first,
                    stdio: opts.stdio,
                    annotations: spec.annotations().clone(),
                    cgroup_join: cgroup_join.filter(|_| !born_in_cgroup),
                },
            )
        }
        Forked::Parent(pid) => pid,
    };
    crate::timings::mark("clone");
    undo.children.push(child);
    drop(child_chan);
    drop(fifo);
    drop(console);
    st.pid = Some(child);
    st.pid_start_time = state::proc_start_time(child).map(|(s, _)| s);
    drop(cgroup_join);
    if !born_in_cgroup && cg_fd.is_some() {
        // clone3 could not place it (a kernel without CLONE_INTO_CGROUP): move it from here.
        cg.add_task(child)?;
    }
    if plan.shape == CloneShape::Single && plan.new_namespaces.contains(CloneFlags::CLONE_NEWUSER) {
        write_id_maps(child, &plan)?;
    }
    // The pid on disk matters when the parent may wait long (runtime hooks): a `delete --force`
    // after a crash then finds it. Otherwise an init whose runtime dies exits on its own (EOF
    // on the channel), and delete kills whatever is left in the cgroup.
    if plan.has_runtime_hooks {
        dir.save(&st)?;
    }
    parent_chan
        .send(&ToInit::Go(child))
        .map_err(io_err("sync with the container init"))?;

    // Serve the init until it is ready.
    let mut pid = child;
    loop {
        let msg = parent_chan
            .recv::<FromInit>()
            .map_err(io_err("sync with the container init"))?;
        match msg {
            Some(FromInit::Pid(p)) => {
                // The intermediate process exits; the real init is p.
                let _ = nix::sys::wait::waitpid(Pid::from_raw(child), None);
                undo.children.retain(|c| *c != child);
                undo.children.push(p);
                pid = p;
                st.pid = Some(p);
                st.pid_start_time = state::proc_start_time(p).map(|(s, _)| s);
                dir.save(&st)?;
                parent_chan
                    .send(&ToInit::Go(p))
                    .map_err(io_err("sync with the container init"))?;
            }
            Some(FromInit::NeedMapping(_)) => {
                write_id_maps(child, &plan)?;
                parent_chan
                    .send(&ToInit::Go(pid))
                    .map_err(io_err("sync with the container init"))?;
            }
            Some(FromInit::RunRuntimeHooks) => {
                let hooks = spec.hooks().as_ref().expect("init asked for hooks");
                let state_json = crate::hooks::state_json(
                    &opts.id,
                    "creating",
                    pid,
                    bundle,
                    spec.annotations().as_ref(),
                );
                #[allow(deprecated)]
                let prestart = hooks.prestart().clone().unwrap_or_default();
                let r = crate::hooks::run_all("prestart", &prestart, &state_json).and_then(|()| {
                    crate::hooks::run_all(
                        "createRuntime",
                        hooks.create_runtime().as_deref().unwrap_or_default(),
                        &state_json,
                    )
                });
                if let Err(e) = r {
                    let _ = parent_chan.send(&ToInit::Abort);
                    return Err(e.into());
                }
                parent_chan
                    .send(&ToInit::Go(pid))
                    .map_err(io_err("sync with the container init"))?;
            }
            Some(FromInit::Timings(marks)) => crate::timings::merge(marks),
            Some(FromInit::Ready) => break,
            Some(FromInit::Error(msg)) => return Err(ContainerError::Init(msg)),
            None => {
                return Err(ContainerError::Init(format!(
                    "exited before it was ready ({})",
                    describe_exit(pid)
                )))
            }
        }
    }
    crate::timings::mark("ready");
    st.status = Status::Created;
    dir.save(&st)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    Ok(Created { pid, state: st })
}

/// The spec's resources plus the device rules every container needs: the default devices and
/// the ones in `linux.devices` (as runc adds them), after the spec's own rules.
pub fn effective_resources(spec: &oci_spec::runtime::Spec) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let linux = spec.linux().as_ref();
    let mut res = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let mut rules = res.devices().clone().unwrap_or_default();
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    // Creating nodes is always allowed; using them only as listed.
    rules.push(rule(LinuxDeviceType::C, None, None, "m"));
    rules.push(rule(LinuxDeviceType::B, None, None, "m"));
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(rule(LinuxDeviceType::C, Some(major), Some(minor), "rwm"));
    }
    rules.push(rule(LinuxDeviceType::C, Some(136), None, "rwm"));
    for d in linux
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default()
    {
        let typ = match d.typ() {
            LinuxDeviceType::B => LinuxDeviceType::B,
            _ => LinuxDeviceType::C,
        };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    res.set_devices(Some(rules));
    res
}

/// cgroup v2 has no devices.allow/deny: compile the rules into a device program and attach it
/// to the container's cgroup (it lives as long as the cgroup does).
fn attach_device_rules(
    cg: &podrt_cgroup::Cgroup,
    resources: &oci_spec::runtime::LinuxResources,
) -> Result<(), ContainerError> {
    let rules = resources.devices().clone().unwrap_or_default();
    let prog = crate::prepare::devices::compile(&rules)
        .map_err(|e| ContainerError::Invalid(e.to_string()))?;
    let fd =
        sys::bpf::load_device_program(&prog).map_err(io_err("load the cgroup device program"))?;
    let dir = cg
        .dirs()
        .next()
        .ok_or_else(|| ContainerError::Invalid("cgroup has no directory".into()))?;
    let cgdir = std::fs::File::open(dir).map_err(io_err(format!("open {}", dir.display())))?;
    sys::bpf::attach_device_program(cgdir.as_fd(), fd.as_fd()).map_err(io_err(format!(
        "attach the device program to {}",
        dir.display()
    )))
}

/// LISTEN_FDS from podrt's own environment (systemd socket activation), when it is meant for us.
fn listen_fds() -> i32 {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_none_or(|p| p == std::process::id());
    if !pid_ok {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn own(fd: std::os::fd::RawFd) -> OwnedFd {
    sys::own_inherited_fd(fd).expect("fd just opened")
}

fn lock_fd(dir: &StateDir) -> std::os::fd::RawFd {
    dir.lock_fd()
}

fn connect_console(path: &Path) -> Result<OwnedFd, ContainerError> {
    let s = std::os::unix::net::UnixStream::connect(path).map_err(io_err(format!(
        "connect to console socket {}",
        path.display()
    )))?;
    Ok(OwnedFd::from(s))
}

fn write_id_maps(pid: i32, plan: &InitPlan) -> Result<(), ContainerError> {
    let fmt = |m: &[(u32, u32, u32)]| {
        m.iter()
            .map(|(c, h, s)| format!("{c} {h} {s}\n"))
            .collect::<String>()
    };
    let uid = format!("/proc/{pid}/uid_map");
    std::fs::write(&uid, fmt(&plan.uid_mappings)).map_err(io_err(format!("write {uid}")))?;
    let gid = format!("/proc/{pid}/gid_map");
    std::fs::write(&gid, fmt(&plan.gid_mappings)).map_err(io_err(format!("write {gid}")))?;
    Ok(())
}

/// Write the pid file atomically, as containerd expects (it reads it right after create).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), ContainerError> {
    let tmp = path.with_extension("podrt-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(io_err(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("write {}", path.display())))
}

fn describe_exit(pid: i32) -> String {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        _ => "no status".into(),
    }
}
