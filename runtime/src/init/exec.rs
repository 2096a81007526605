//! Child side of `exec`: join the container's namespaces, fork into its pid namespace, become
//! the process's user, exec.

use std::os::fd::OwnedFd;

use super::{process, InitError};
use crate::prepare::{seccomp::CompiledSeccomp, Join, ProcessPlan};
use crate::sync::{Channel, FromInit, ToInit};

/// Everything the exec'd process needs.
#[derive(Debug)]
pub struct ExecPlan {
    pub chan: Channel,
    pub close_first: Vec<std::os::fd::RawFd>,
    pub joins: Vec<Join>,
    pub process: ProcessPlan,
    pub seccomp: Option<CompiledSeccomp>,
    pub console: Option<OwnedFd>,
    pub preserve_fds: i32,
    /// When not cloned into the container's cgroup: the files through which it joins.
    pub cgroup_join: Option<podrt_cgroup::SelfJoin>,
}

pub fn run(plan: ExecPlan) -> ! {
    for fd in &plan.close_first {
        let _ = nix::unistd::close(*fd);
    }
    let _ = crate::sys::set_dumpable(false);
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    let err = match steps(&plan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if !matches!(err, InitError::Aborted | InitError::Sync(_)) {
        let _ = plan.chan.send(&FromInit::Error(err.to_string()));
    }
    crate::sys::exit_immediately(1)
}

fn go(chan: &Channel) -> Result<(), InitError> {
    match chan.recv::<ToInit>() {
        Ok(Some(ToInit::Go(_))) => Ok(()),
        Ok(_) => Err(InitError::Aborted),
        Err(e) => Err(InitError::Sync(e)),
    }
}

fn steps(plan: &ExecPlan) -> Result<std::convert::Infallible, InitError> {
    let chan = &plan.chan;
    if let Some(join) = &plan.cgroup_join {
        join.join()?;
    }
    go(chan)?;
    for j in &plan.joins {
        nix::sched::setns(&j.fd, j.kind).map_err(|e| InitError::JoinNamespace {
            kind: format!("{} ({})", crate::prepare::ns_name(j.kind), j.path.display()),
            source: e,
        })?;
    }
    // setns(CLONE_NEWPID) only applies to children: fork once more.
    match crate::sys::fork_process().map_err(InitError::Fork)? {
        crate::sys::Forked::Parent(child) => {
            let _ = chan.send(&FromInit::Pid(child));
            crate::sys::exit_immediately(0)
        }
        crate::sys::Forked::Child => go(chan)?,
    }
    let p = &plan.process;
    if p.terminal {
        process::setup_console(plan.console.as_ref(), p.console_size)?;
    }
    process::rlimits(p)?;
    let exec = process::resolve_exec(p)?;
    let env = process::exec_env(p);
    let seccomp_early = plan.seccomp.is_some() && !p.no_new_privileges;
    if seccomp_early {
        crate::sys::seccomp::install(plan.seccomp.as_ref().expect("checked"))
            .map_err(InitError::Seccomp)?;
    }
    process::finalize(p)?;
    if p.no_new_privileges {
        crate::sys::set_no_new_privs().map_err(InitError::NoNewPrivs)?;
    }
    if !seccomp_early {
        if let Some(s) = &plan.seccomp {
            crate::sys::seccomp::install(s).map_err(InitError::Seccomp)?;
        }
    }
    let _ = crate::sys::cloexec_from(3 + plan.preserve_fds);
    let err = crate::sys::execve(&exec, &p.args, &env);
    Err(InitError::Exec(format!(
        "{}: {err}",
        exec.to_string_lossy()
    )))
}
