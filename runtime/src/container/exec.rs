//! `exec`: run another process in a running container's namespaces and cgroup.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::{io_err, ContainerError, Context};
use crate::prepare::{self, Join, PlanOptions};
use crate::state::Status;
use crate::sync::{self, FromInit, ToInit};
use crate::sys::{self, Forked};

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub id: String,
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub no_new_privs: bool,
    pub caps: Vec<String>,
    pub preserve_fds: i32,
}

/// What became of the exec'd process.
#[derive(Debug)]
pub enum ExecOutcome {
    Detached(i32),
    Exited(i32),
}

pub fn exec(ctx: &Context, opts: &ExecOptions) -> Result<ExecOutcome, ContainerError> {
    let (dir, st) = ctx.open(&opts.id)?;
    let status = st.current_status(&dir.dir);
    if !matches!(status, Status::Created | Status::Running) {
        return Err(ContainerError::WrongState {
            id: st.id.clone(),
            status,
            hint: "exec needs a created or running container",
        });
    }
    drop(dir);
    let init_pid = st.pid.unwrap_or(0);
    let process = build_process(&st.config, opts)?;
    let mut pplan = prepare::plan_process(
        &process,
        &PlanOptions {
            preserve_fds: opts.preserve_fds,
            ..Default::default()
        },
    )?;
    if opts.tty {
        pplan.terminal = true;
    }
    let seccomp = match st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => Some(prepare::seccomp::compile(s).map_err(prepare::PrepareError::from)?)
            .filter(|c| !c.filters.is_empty()),
        None => None,
    };
    // Join every namespace the container has, user first.
    let mut joins = Vec::new();
    let types = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in &types {
        let (flag, name) = prepare::ns_flag(ns.typ());
        let path = format!("/proc/{init_pid}/ns/{name}");
        let f = File::open(&path).map_err(io_err(format!("open {path}")))?;
        joins.push(Join {
            kind: flag,
            fd: f.into(),
            path: path.into(),
        });
    }
    joins.sort_by_key(|j| {
        if j.kind == CloneFlags::CLONE_NEWUSER {
            0
        } else if j.kind == CloneFlags::CLONE_NEWNS {
            2
        } else {
            1
        }
    });
    let console = match (&opts.console_socket, pplan.terminal) {
        (Some(p), true) => Some(std::os::fd::OwnedFd::from(
            std::os::unix::net::UnixStream::connect(p)
                .map_err(io_err(format!("connect to console socket {}", p.display())))?,
        )),
        (None, true) => {
            return Err(ContainerError::Invalid(
                "exec with a terminal needs --console-socket".into(),
            ))
        }
        _ => None,
    };
    if !opts.detach {
        sys::set_child_subreaper().map_err(io_err("become child subreaper"))?;
    }
    let (parent_chan, child_chan) = sync::pair().map_err(io_err("socketpair"))?;
    let cg_fd = match &st.cgroup {
        Some(cg) => cg.dir_fd()?,
        None => None,
    };
    // Not cloned into the cgroup (v1, hybrid): the process moves itself in first thing.
    let cgroup_join = match (&st.cgroup, &cg_fd) {
        (Some(cg), None) => Some(cg.self_join()?),
        _ => None,
    };
    let (forked, born) = sys::clone_process(0, cg_fd.as_ref().map(|f| f.as_fd()))
        .map_err(io_err("fork the exec process"))?;
    let child = match forked {
        Forked::Child => {
            let parent_fd = std::os::fd::AsRawFd::as_raw_fd(&parent_chan.fd());
            crate::init::exec::run(crate::init::exec::ExecPlan {
                chan: child_chan,
                close_first: vec![parent_fd],
                joins,
                process: pplan,
                seccomp,
                console,
                preserve_fds: opts.preserve_fds,
                cgroup_join: cgroup_join.filter(|_| !born),
            })
        }
        Forked::Parent(pid) => pid,
    };
    drop(child_chan);
    let cleanup = |pid: i32| {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
    };
    drop(cgroup_join);
    if !born && cg_fd.is_some() {
        // clone3 could not place it (a kernel without CLONE_INTO_CGROUP): move it from here.
        if let Some(cg) = &st.cgroup {
            if let Err(e) = cg.add_task(child) {
                cleanup(child);
                return Err(e.into());
            }
        }
    }
    let fail = |pid: i32, e: ContainerError| {
        cleanup(pid);
        Err(e)
    };
    if let Err(e) = parent_chan.send(&ToInit::Go(child)) {
        return fail(child, io_err("sync with the exec process")(e));
    }
    // The intermediate reports the process it forked into the pid namespace.
    let pid = match parent_chan.recv::<FromInit>() {
        Ok(Some(FromInit::Pid(p))) => {
            let _ = waitpid(Pid::from_raw(child), None);
            p
        }
        Ok(Some(FromInit::Error(m))) => return fail(child, ContainerError::Init(m)),
        Ok(_) => {
            return fail(
                child,
                ContainerError::Init("exec process exited before it was ready".into()),
            )
        }
        Err(e) => return fail(child, io_err("sync with the exec process")(e)),
    };
    if let Err(e) = parent_chan.send(&ToInit::Go(pid)) {
        return fail(pid, io_err("sync with the exec process")(e));
    }
    // EOF means execve succeeded (the channel is close-on-exec); a message is an error.
    match parent_chan.recv::<FromInit>() {
        Ok(None) => {}
        Ok(Some(FromInit::Error(m))) => {
            let _ = waitpid(Pid::from_raw(pid), None);
            return Err(ContainerError::Init(m));
        }
        Ok(Some(other)) => {
            return fail(
                pid,
                ContainerError::Init(format!("unexpected message {other:?}")),
            )
        }
        Err(e) => return fail(pid, io_err("sync with the exec process")(e)),
    }
    if let Some(pf) = &opts.pid_file {
        super::create::write_pid_file(pf, pid)?;
    }
    if opts.detach {
        return Ok(ExecOutcome::Detached(pid));
    }
    Ok(ExecOutcome::Exited(wait_forwarding(pid)?))
}

/// Wait for `pid` (our child or re-parented to us), forwarding the usual signals to it.
pub fn wait_forwarding(pid: i32) -> Result<i32, ContainerError> {
    crate::signals::forward_until_exit(pid).map_err(io_err("wait for the container process"))
}

/// The exit code a shell would report for a wait status.
pub fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

fn build_process(
    config: &oci_spec::runtime::Spec,
    opts: &ExecOptions,
) -> Result<oci_spec::runtime::Process, ContainerError> {
    if let Some(path) = &opts.process_file {
        let data = std::fs::read(path).map_err(io_err(format!("read {}", path.display())))?;
        return serde_json::from_slice(&data).map_err(|e| ContainerError::LoadConfig {
            path: path.clone(),
            detail: e.to_string(),
        });
    }
    if opts.args.is_empty() {
        return Err(ContainerError::Invalid(
            "exec needs a command (trailing arguments) or --process FILE".into(),
        ));
    }
    let mut p = config.process().clone().unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    for e in &opts.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    p.set_terminal(Some(opts.tty));
    if let Some(u) = &opts.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid
            .parse()
            .map_err(|_| ContainerError::Invalid(format!("--user {u:?}: use numeric UID[:GID]")))?;
        let gid: u32 = match gid {
            Some(g) => g.parse().map_err(|_| {
                ContainerError::Invalid(format!("--user {u:?}: use numeric UID[:GID]"))
            })?,
            None => 0,
        };
        let user = p.user_mut();
        user.set_uid(uid);
        user.set_gid(gid);
    }
    if !opts.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(opts.additional_gids.clone()));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !opts.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        for name in &opts.caps {
            let cap: oci_spec::runtime::Capability = name
                .trim_start_matches("CAP_")
                .parse()
                .map_err(|_| ContainerError::Invalid(format!("unknown capability {name:?}")))?;
            for set in [
                c.bounding().clone(),
                c.effective().clone(),
                c.permitted().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => c.set_bounding(Some(s)),
                    1 => c.set_effective(Some(s)),
                    _ => c.set_permitted(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(c));
    }
    Ok(p)
}
