//! Child side: the container init. A straight sequence of small named steps ending in execve.
//! Every failure is sent to the runtime as a message before `_exit`, so the user sees it.

pub mod exec;
pub mod path;
pub mod process;
pub mod rootfs;

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sched::CloneFlags;

use crate::prepare::{CloneShape, InitPlan};
use crate::sync::{Channel, FromInit, ToInit};

/// A failed init step, named after the operation.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("join {kind} namespace: {source}")]
    JoinNamespace {
        kind: String,
        source: nix::errno::Errno,
    },
    #[error("unshare namespaces {flags:?}: {source}")]
    Unshare {
        flags: CloneFlags,
        source: nix::errno::Errno,
    },
    #[error("become root in the user namespace: {0}")]
    UserNsRoot(nix::errno::Errno),
    #[error("fork into the pid namespace: {0}")]
    Fork(std::io::Error),
    #[error("mount {what}: {source}")]
    Mount {
        what: String,
        source: std::io::Error,
    },
    #[error("create device {path}: {source}")]
    Device {
        path: String,
        source: std::io::Error,
    },
    #[error("pivot_root to {rootfs}: {source}")]
    PivotRoot {
        rootfs: String,
        source: std::io::Error,
    },
    #[error("set hostname {0:?}: {1}")]
    Hostname(String, nix::errno::Errno),
    #[error("set domainname {0:?}: {1}")]
    Domainname(String, std::io::Error),
    #[error("sysctl {key}={value}: {source}")]
    Sysctl {
        key: String,
        value: String,
        source: std::io::Error,
    },
    #[error("setrlimit {resource:?} soft {soft} hard {hard}: {source}")]
    Rlimit {
        resource: nix::sys::resource::Resource,
        soft: u64,
        hard: u64,
        source: nix::errno::Errno,
    },
    #[error("write oom_score_adj {value}: {source}")]
    OomScoreAdj { value: i32, source: std::io::Error },
    #[error("console: {0}")]
    Console(String),
    #[error("set user {what}: {source}")]
    User {
        what: String,
        source: nix::errno::Errno,
    },
    #[error("apply capabilities: {0}")]
    Capabilities(String),
    #[error("set no_new_privs: {0}")]
    NoNewPrivs(std::io::Error),
    #[error("install seccomp filter: {0}")]
    Seccomp(std::io::Error),
    #[error("chdir to cwd {cwd}: {source}")]
    Cwd {
        cwd: String,
        source: nix::errno::Errno,
    },
    #[error("exec: {0}")]
    Exec(String),
    #[error("{0}")]
    Hook(#[from] crate::hooks::HookError),
    #[error("join the container's cgroup: {0}")]
    Cgroup(#[from] podrt_cgroup::Error),
    #[error("runtime went away: {0}")]
    Sync(std::io::Error),
    #[error("runtime aborted the start")]
    Aborted,
    #[error("wait for start on exec fifo: {0}")]
    Fifo(std::io::Error),
}

/// What the init needs besides the plan.
#[derive(Debug)]
pub struct InitContext {
    pub chan: Channel,
    /// O_PATH fd of the exec fifo (create only).
    pub fifo: Option<OwnedFd>,
    /// The connected console socket, when the process wants a terminal.
    pub console: Option<OwnedFd>,
    /// fd numbers the runtime holds (state lock...) that the init must close first.
    pub close_first: Vec<std::os::fd::RawFd>,
    /// fds to install as stdin, stdout, stderr before anything else.
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
    /// Annotations for hook state.
    pub annotations: Option<std::collections::HashMap<String, String>>,
    /// When not cloned into its cgroup: the files through which the init joins it.
    pub cgroup_join: Option<podrt_cgroup::SelfJoin>,
}

/// Run the container init. Never returns: execs the user process or exits.
pub fn run(plan: InitPlan, ctx: InitContext) -> ! {
    for fd in &ctx.close_first {
        let _ = nix::unistd::close(*fd);
    }
    if let Some(fds) = ctx.stdio {
        for (target, fd) in fds.iter().enumerate() {
            if *fd != i32::try_from(target).unwrap_or(-1) {
                let _ = nix::unistd::dup2(*fd, i32::try_from(target).unwrap_or(0));
            }
        }
    }
    // Nothing in the container may ptrace us or open our /proc/PID/exe before execve.
    let _ = crate::sys::set_dumpable(false);
    // Signals the runtime blocked for itself must not stay blocked in the container.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    let err = match steps(&plan, &ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Tell the runtime what failed; if it is gone, stderr is the last resort.
    if !matches!(err, InitError::Aborted | InitError::Sync(_))
        && ctx.chan.send(&FromInit::Error(err.to_string())).is_err()
    {
        eprintln!("podrt init: {err}");
    }
    crate::sys::exit_immediately(1)
}

fn wait_go(chan: &Channel) -> Result<i32, InitError> {
    match chan.recv::<ToInit>() {
        Ok(Some(ToInit::Go(pid))) => Ok(pid),
        Ok(Some(ToInit::Abort)) | Ok(None) => Err(InitError::Aborted),
        Err(e) => Err(InitError::Sync(e)),
    }
}

fn send(chan: &Channel, msg: &FromInit) -> Result<(), InitError> {
    chan.send(msg).map_err(InitError::Sync)
}

fn steps(plan: &InitPlan, ctx: &InitContext) -> Result<std::convert::Infallible, InitError> {
    let chan = &ctx.chan;
    // 1. Into the cgroup (unless born there), before anything is charged or forked; then wait
    // until the runtime has written our id maps.
    if let Some(join) = &ctx.cgroup_join {
        join.join()?;
        crate::timings::mark("init:cgroup");
    }
    let mut host_pid = wait_go(chan)?;
    crate::timings::mark("init:go");
    let in_user_ns = plan.new_namespaces.contains(CloneFlags::CLONE_NEWUSER)
        || plan
            .joins
            .iter()
            .any(|j| j.kind == CloneFlags::CLONE_NEWUSER);
    // 2. Namespaces.
    match plan.shape {
        CloneShape::Single => {
            if plan.new_namespaces.contains(CloneFlags::CLONE_NEWUSER) {
                become_root()?;
            }
            join_namespaces(plan)?;
            if !plan.late_unshare.is_empty() {
                unshare(plan.late_unshare)?;
            }
        }
        CloneShape::Staged => {
            join_namespaces(plan)?;
            if plan.new_namespaces.contains(CloneFlags::CLONE_NEWUSER) {
                unshare(CloneFlags::CLONE_NEWUSER)?;
                send(chan, &FromInit::NeedMapping(nix::unistd::getpid().as_raw()))?;
                wait_go(chan)?;
            }
            if in_user_ns {
                become_root()?;
            }
            let rest = plan.new_namespaces - CloneFlags::CLONE_NEWUSER;
            if !rest.is_empty() {
                unshare(rest)?;
            }
            let pid_involved = rest.contains(CloneFlags::CLONE_NEWPID)
                || plan
                    .joins
                    .iter()
                    .any(|j| j.kind == CloneFlags::CLONE_NEWPID);
            if pid_involved {
                match crate::sys::fork_process().map_err(InitError::Fork)? {
                    crate::sys::Forked::Parent(child) => {
                        // The intermediate: report the real init and leave.
                        let _ = chan.send(&FromInit::Pid(child));
                        crate::sys::exit_immediately(0);
                    }
                    crate::sys::Forked::Child => host_pid = wait_go(chan)?,
                }
            }
        }
    }
    crate::timings::mark("init:namespaces");
    // 3. The root filesystem, up to (not including) pivot_root.
    rootfs::prepare(plan, in_user_ns)?;
    crate::timings::mark("init:mounts");
    let state = |status: &str, pid: i32| {
        crate::hooks::state_json(
            &plan.id,
            status,
            pid,
            &plan.bundle,
            ctx.annotations.as_ref(),
        )
    };
    if plan.has_runtime_hooks {
        send(chan, &FromInit::RunRuntimeHooks)?;
        host_pid = wait_go(chan)?;
    }
    crate::hooks::run_all(
        "createContainer",
        &plan.create_container_hooks,
        &state("creating", host_pid),
    )?;
    if plan.has_runtime_hooks || !plan.create_container_hooks.is_empty() {
        crate::timings::mark("init:hooks");
    }
    // 4. pivot_root and what must happen after it.
    rootfs::enter(plan)?;
    crate::timings::mark("init:pivot_root");
    // Names and sysctls before /proc/sys becomes read-only.
    process::uts(plan)?;
    process::sysctls(&plan.sysctls)?;
    rootfs::finish(plan)?;
    crate::timings::mark("init:masks");
    // 5. The process: console, limits, the executable, the user and its privileges.
    if plan.process.terminal {
        process::setup_console(ctx.console.as_ref(), plan.process.console_size)?;
    }
    process::rlimits(&plan.process)?;
    process::oom_score_adj(&plan.process)?;
    let exec = process::resolve_exec(&plan.process)?;
    let env = process::exec_env(&plan.process);
    let seccomp_early = plan.seccomp.is_some() && !plan.process.no_new_privileges;
    if seccomp_early {
        // Without no_new_privs the filter needs CAP_SYS_ADMIN, so install it before the
        // capabilities go (as runc does).
        crate::sys::seccomp::install(plan.seccomp.as_ref().expect("checked"))
            .map_err(InitError::Seccomp)?;
        crate::timings::mark("init:seccomp");
    }
    process::finalize(&plan.process)?;
    crate::timings::mark("init:process");
    // 6. Created: report, then wait for `start` on the exec fifo.
    if crate::timings::enabled() {
        send(
            chan,
            &FromInit::Timings(crate::timings::marks_with_prefix(
                crate::timings::INIT_PREFIX,
            )),
        )?;
    }
    send(chan, &FromInit::Ready)?;
    // `start` opens the fifo; startContainer hooks run; then the byte tells `start` we are
    // about to exec (so its poststart hooks come after ours, and a failing hook is seen).
    let fifo = ctx.fifo.as_ref().map(open_fifo).transpose()?;
    crate::hooks::run_all(
        "startContainer",
        &plan.start_container_hooks,
        &state("created", host_pid),
    )
    .inspect_err(|e| eprintln!("podrt init: {e}"))?;
    if let Some(f) = fifo {
        use std::io::Write;
        (&f).write_all(b"0").map_err(InitError::Fifo)?;
    }
    if plan.process.no_new_privileges {
        crate::sys::set_no_new_privs().map_err(InitError::NoNewPrivs)?;
    }
    if !seccomp_early {
        if let Some(s) = &plan.seccomp {
            crate::sys::seccomp::install(s).map_err(InitError::Seccomp)?;
        }
    }
    let _ = crate::sys::cloexec_from(3 + plan.preserve_fds);
    let err = crate::sys::execve(&exec, &plan.process.args, &env);
    // After `start` nobody listens on the channel: say it on stderr too.
    let msg = format!("exec {}: {err}", exec.to_string_lossy());
    eprintln!("podrt init: {msg}");
    Err(InitError::Exec(msg))
}

fn unshare(flags: CloneFlags) -> Result<(), InitError> {
    nix::sched::unshare(flags).map_err(|e| InitError::Unshare { flags, source: e })
}

fn become_root() -> Result<(), InitError> {
    let root_g = nix::unistd::Gid::from_raw(0);
    let root_u = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g).map_err(InitError::UserNsRoot)?;
    nix::unistd::setresuid(root_u, root_u, root_u).map_err(InitError::UserNsRoot)?;
    Ok(())
}

fn join_namespaces(plan: &InitPlan) -> Result<(), InitError> {
    for j in &plan.joins {
        nix::sched::setns(&j.fd, j.kind).map_err(|e| InitError::JoinNamespace {
            kind: format!("{} ({})", crate::prepare::ns_name(j.kind), j.path.display()),
            source: e,
        })?;
    }
    Ok(())
}

/// Block until `start` opens the fifo for reading.
fn open_fifo(fifo: &OwnedFd) -> Result<std::fs::File, InitError> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(InitError::Fifo)
}
