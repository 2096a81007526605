//! A small process that keeps the kernel's cgroup migration lock warm while a pod comes up.
//!
//! On cgroup v1 the first container move of a pod (a `cgroup.procs` write) used to wait out an
//! RCU grace period, 5-15 ms on an idle host, with the start of the pod stalled behind it (see
//! [`podrt_cgroup::self_move_file`] for the kernel side). The pod supervisor starts a [`Warmer`]
//! first thing: a forked child that moves itself into its own cgroup at once and then every
//! millisecond. Its first move pays the grace period while the pod's images, network and
//! volumes come up, which need no cgroup lock; the pod's first cgroup mkdir waits only for what
//! is left of it, and the container moves that follow find the lock warm.
//!
//! A process, not a thread: the runtime clones container inits from itself and must stay
//! single-threaded for that (DESIGN.md). The child only writes and sleeps, dies with its parent
//! (`PR_SET_PDEATHSIG`), and is killed and reaped by [`Warmer::stop`] or on drop.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::sys::{exit_immediately, fork_process, Forked};

/// How often the child re-takes the lock: well inside one grace period.
const PERIOD: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 1_000_000,
};

/// The running warmer process.
#[derive(Debug)]
pub struct Warmer {
    pid: Option<Pid>,
}

impl Warmer {
    /// Fork the warmer, or `None` where it has nothing to do (pure cgroup v2) or cannot work
    /// (no `tasks` file of our own to write, fork refused). Best effort by design: without it a
    /// pod only starts slower.
    #[must_use]
    pub fn start() -> Option<Warmer> {
        let layout = podrt_cgroup::Layout::detect().ok()?;
        let path = podrt_cgroup::self_move_file(&layout)?;
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(file = %path.display(), error = %e, "no cgroup lock warmer");
                return None;
            }
        };
        let parent = nix::unistd::getpid();
        match fork_process() {
            Ok(Forked::Child) => warm(file.as_raw_fd(), parent),
            Ok(Forked::Parent(pid)) => Some(Warmer {
                pid: Some(Pid::from_raw(pid)),
            }),
            Err(e) => {
                tracing::debug!(error = %e, "no cgroup lock warmer: fork");
                None
            }
        }
    }

    /// Kill and reap the warmer.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            // ECHILD: a catch-all reaper (the pod supervisor's) got it first.
            let _ = waitpid(pid, None);
        }
    }
}

impl Drop for Warmer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The child: no allocation, only raw syscalls, until killed.
fn warm(fd: i32, parent: Pid) -> ! {
    // SAFETY: prctl, getppid, write, nanosleep and _exit take no pointers into shared state;
    // the buffers are on this stack. None of them allocates or takes a lock.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
            || libc::getppid() != parent.as_raw()
        {
            exit_immediately(0);
        }
        let mut buf = [0_u8; 24];
        let len = {
            let mut w = &mut buf[..];
            let _ = write!(w, "{}", libc::getpid());
            24 - w.len()
        };
        loop {
            // Errors (our cgroup removed, say) only end the warming.
            if libc::write(fd, buf.as_ptr().cast(), len) < 0 {
                exit_immediately(0);
            }
            libc::nanosleep(&PERIOD, std::ptr::null_mut());
        }
    }
}
