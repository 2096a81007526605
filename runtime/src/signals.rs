//! Foreground waiting: forward the signals a user sends to `podrt run`/`exec` to the container
//! process, and return its exit code when it ends.

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Block the forwarded signals in this process (call before the container process exists, so
/// nothing is lost; the init unblocks them for itself).
pub fn block_forwarded() -> std::io::Result<SigSet> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(set)
}

/// Wait for `pid` to exit, forwarding signals; returns the shell-style exit code.
pub fn forward_until_exit(pid: i32) -> std::io::Result<i32> {
    let set = block_forwarded()?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    let pidfd = crate::sys::pidfd_open(pid);
    loop {
        // Reap first: the process may already be gone.
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => return Ok(255),
            Err(e) => return Err(e.into()),
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Ok(p) = &pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if pidfd.is_ok() {
            PollTimeout::NONE
        } else {
            PollTimeout::from(50_u16)
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
            if let Ok(s) = Signal::try_from(sig) {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
            }
        }
    }
}
