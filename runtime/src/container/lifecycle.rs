//! start, state, kill, delete, pause, resume, list, ps.

use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{io_err, ContainerError, Context};
use crate::state::{self, ContainerState, StateDir, StateError, Status};

fn wrong(st: &ContainerState, status: Status, hint: &'static str) -> ContainerError {
    ContainerError::WrongState {
        id: st.id.clone(),
        status,
        hint,
    }
}

/// `start`: release a created container's init from the exec fifo.
pub fn start(ctx: &Context, id: &str) -> Result<(), ContainerError> {
    let (dir, st) = ctx.open(id)?;
    let status = st.current_status(&dir.dir);
    if status != Status::Created {
        return Err(wrong(
            &st,
            status,
            "only a created container can be started",
        ));
    }
    let pid = st.pid.unwrap_or(0);
    // The pidfd first: opening the fifo releases the init, and a short-lived container can
    // then exec, exit and be reaped by its parent (containerd's shim) before we look.
    let pidfd = match crate::sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            return Err(ContainerError::Init(
                "the container init exited before it could be started".into(),
            ))
        }
        Err(e) => return Err(io_err(format!("pidfd_open {pid}"))(e)),
    };
    let fifo_path = dir.fifo_path();
    let fifo = std::fs::File::from(
        crate::sys::own_inherited_fd(
            nix::fcntl::open(
                &fifo_path,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| ContainerError::Io {
                what: format!("open {}", fifo_path.display()),
                source: e.into(),
            })?,
        )
        .expect("fd just opened"),
    );
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io_err("poll exec fifo")(e.into())),
            Ok(_) => {}
        }
        let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            let mut buf = [0_u8; 1];
            match (&fifo).read(&mut buf) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(io_err("read exec fifo")(e)),
            }
        }
        if init_gone || fifo_ready {
            return Err(ContainerError::Init(
                "the container init exited before it could be started".into(),
            ));
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    crate::timings::mark("started");
    run_poststart(&st, pid);
    Ok(())
}

/// poststart hooks: failures are warnings (runtime spec).
pub fn run_poststart(st: &ContainerState, pid: i32) {
    if let Some(h) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        let json = crate::hooks::state_json(
            &st.id,
            "running",
            pid,
            &st.bundle,
            st.config.annotations().as_ref(),
        );
        if let Err(e) = crate::hooks::run_all("poststart", h, &json) {
            tracing::warn!("{e}");
            eprintln!("podrt: warning: {e}");
        }
    }
}

/// `state`: the OCI state document.
pub fn state(ctx: &Context, id: &str) -> Result<serde_json::Value, ContainerError> {
    let dir = ctx.root.join(id);
    state::validate_id(id)?;
    let st = state::load_state(&dir.join("state.json")).map_err(|e| match e {
        StateError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            StateError::NotFound(id.to_string())
        }
        other => other,
    })?;
    let status = st.current_status(&dir);
    let mut v = st.oci_json(status);
    // Not in the OCI state schema, ignored by clients: why a stopped container stopped, when
    // the kernel's OOM killer did it (the cgroup still exists until delete).
    if status == Status::Stopped {
        if let Some(msg) = st.cgroup.as_ref().and_then(super::events::oom_message) {
            v["reason"] = serde_json::Value::String(msg);
        }
    }
    Ok(v)
}

/// Parse a signal given as a name (`TERM`, `SIGTERM`, `sigkill`) or a number.
pub fn parse_signal(s: &str) -> Result<i32, ContainerError> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    } else {
        let up = s.to_ascii_uppercase();
        let name = if up.starts_with("SIG") {
            up
        } else {
            format!("SIG{up}")
        };
        if let Ok(sig) = name.parse::<nix::sys::signal::Signal>() {
            return Ok(sig as i32);
        }
        if let Some(rt) = name.strip_prefix("SIGRTMIN") {
            let off: i32 = if rt.is_empty() {
                0
            } else {
                rt.trim_start_matches('+').parse().unwrap_or(-1)
            };
            let n = libc::SIGRTMIN() + off;
            if off >= 0 && n <= libc::SIGRTMAX() {
                return Ok(n);
            }
        }
    }
    Err(ContainerError::Invalid(format!("unknown signal {s:?}")))
}

/// `kill`: signal the init (or, with `all`, every process in the container's cgroup).
pub fn kill(ctx: &Context, id: &str, signal: i32, all: bool) -> Result<(), ContainerError> {
    let (dir, st) = ctx.open(id)?;
    let status = st.current_status(&dir.dir);
    if status == Status::Stopped {
        return Err(wrong(&st, status, "container not running"));
    }
    if all {
        if let Some(cg) = &st.cgroup {
            cg.kill_all(signal)?;
            return Ok(());
        }
    }
    signal_init(&st, signal)
}

fn signal_init(st: &ContainerState, signal: i32) -> Result<(), ContainerError> {
    let pid = st.pid.unwrap_or(0);
    let pidfd = match crate::sys::pidfd_open(pid) {
        Ok(fd) => fd,
        // Gone between the status check and now: nothing to signal.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
        Err(e) => return Err(io_err(format!("pidfd_open {pid}"))(e)),
    };
    // The pidfd pins the process: re-check it is still the init we started.
    if !st.init_alive() {
        return Ok(());
    }
    match crate::sys::pidfd_send_signal(pidfd.as_fd(), signal) {
        // It exited between the check and the signal (a cgroup-wide kill got there first).
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map_err(io_err(format!("send signal {signal} to {pid}"))),
    }
}

/// Wait (bounded) until the init has exited.
fn wait_exit(st: &ContainerState, timeout: Duration) -> bool {
    let Some(pid) = st.pid else { return true };
    let Ok(pidfd) = crate::sys::pidfd_open(pid) else {
        return true;
    };
    if !st.init_alive() {
        return true;
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => return true,
            _ => {}
        }
    }
}

/// `delete`: remove a stopped container (created ones are killed first, as in runc); with
/// `force`, running and paused ones too. Deleting an unknown ID with `force` succeeds.
pub fn delete(ctx: &Context, id: &str, force: bool) -> Result<(), ContainerError> {
    let (dir, st) = match ctx.open(id) {
        Ok(x) => x,
        Err(ContainerError::State(StateError::NotFound(_))) if force => return Ok(()),
        // A state dir without a readable state file (killed before the first write): remove.
        Err(ContainerError::State(StateError::Read { .. }))
        | Err(ContainerError::State(StateError::Parse { .. }))
            if force =>
        {
            let dir = StateDir::open(&ctx.root, id)?;
            dir.remove()?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = st.current_status(&dir.dir);
    if st.status == Status::Creating {
        // The runtime died during create: whatever it started is in the cgroup.
        stop_everything(&st)?;
        return destroy(dir, &st);
    }
    match status {
        Status::Stopped => {}
        Status::Created | Status::Creating => stop_everything(&st)?,
        Status::Running | Status::Paused if force => stop_everything(&st)?,
        Status::Running | Status::Paused => {
            return Err(wrong(
                &st,
                status,
                "cannot delete a container that is not stopped (use delete --force)",
            ))
        }
    }
    destroy(dir, &st)
}

/// SIGKILL every process of the container and wait for the init to go.
fn stop_everything(st: &ContainerState) -> Result<(), ContainerError> {
    if let Some(cg) = &st.cgroup {
        cg.kill_all(libc::SIGKILL)?;
        // A frozen process cannot die: thaw after the kill is queued.
        let _ = cg.thaw();
    }
    if st.init_alive() {
        signal_init(st, libc::SIGKILL)?;
    }
    if !wait_exit(st, Duration::from_secs(10)) {
        return Err(ContainerError::Invalid(format!(
            "container {}: init {} did not exit after SIGKILL",
            st.id,
            st.pid.unwrap_or(0)
        )));
    }
    Ok(())
}

/// Run poststop hooks, remove the cgroup and the state dir.
pub fn destroy(dir: StateDir, st: &ContainerState) -> Result<(), ContainerError> {
    if let Some(h) = st
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().as_ref())
    {
        let json = crate::hooks::state_json(
            &st.id,
            "stopped",
            0,
            &st.bundle,
            st.config.annotations().as_ref(),
        );
        if let Err(e) = crate::hooks::run_all("poststop", h, &json) {
            tracing::warn!("{e}");
            eprintln!("podrt: warning: {e}");
        }
    }
    if let Some(cg) = &st.cgroup {
        super::destroy_cgroup(cg)?;
    }
    dir.remove()?;
    Ok(())
}

/// `pause` / `resume` through the freezer.
pub fn pause(ctx: &Context, id: &str, freeze: bool) -> Result<(), ContainerError> {
    let (dir, st) = ctx.open(id)?;
    let status = st.current_status(&dir.dir);
    let cg = st.cgroup.as_ref().ok_or_else(|| {
        ContainerError::Invalid(format!("container {id} has no cgroup to freeze"))
    })?;
    if freeze {
        if status != Status::Running {
            return Err(wrong(&st, status, "only a running container can be paused"));
        }
        cg.freeze()?;
    } else {
        if status != Status::Paused {
            return Err(wrong(&st, status, "only a paused container can be resumed"));
        }
        cg.thaw()?;
    }
    Ok(())
}

/// Every container under the root, with its current status (no locks taken).
pub fn list(ctx: &Context) -> Result<Vec<(ContainerState, Status)>, ContainerError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&ctx.root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(format!("read {}", ctx.root.display()))(e)),
    };
    for e in entries.flatten() {
        let path = e.path();
        if let Ok(st) = state::load_state(&path.join("state.json")) {
            let status = st.current_status(&path);
            out.push((st, status));
        }
    }
    out.sort_by(|a, b| a.0.created.cmp(&b.0.created));
    Ok(out)
}

/// The pids in the container's cgroup.
pub fn pids(ctx: &Context, id: &str) -> Result<Vec<i32>, ContainerError> {
    let dir = ctx.root.join(id);
    state::validate_id(id)?;
    if !dir.is_dir() {
        return Err(StateError::NotFound(id.to_string()).into());
    }
    let st = state::load_state(&dir.join("state.json"))?;
    match &st.cgroup {
        Some(cg) => Ok(cg.procs()?),
        None => Ok(st.pid.into_iter().collect()),
    }
}
