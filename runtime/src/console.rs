//! Foreground terminal for `podrt run` when the process wants a terminal and no
//! `--console-socket` was given: podrt listens on a private socket, receives the pty master
//! from the init, and copies between its own stdio and the pty (stdin in raw mode when it is a
//! terminal), forwarding window size changes.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// A listening console socket in a private temporary directory.
#[derive(Debug)]
pub struct ConsoleListener {
    dir: PathBuf,
    listener: UnixListener,
}

impl ConsoleListener {
    pub fn new(state_root: &std::path::Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(state_root)?;
        let dir = state_root.join(format!(".console-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let listener = UnixListener::bind(dir.join("sock"))?;
        Ok(ConsoleListener { dir, listener })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// Accept the init's connection and receive the pty master.
    pub fn receive_master(&self) -> std::io::Result<OwnedFd> {
        let (stream, _) = self.listener.accept()?;
        receive_fd(&stream)
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn receive_fd(stream: &UnixStream) -> std::io::Result<OwnedFd> {
    let mut buf = [0_u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return crate::sys::own_inherited_fd(*fd)
                    .ok_or_else(|| std::io::Error::other("received an invalid fd"));
            }
        }
    }
    Err(std::io::Error::other(
        "no pty master received on the console socket",
    ))
}

fn copy_winsize(master: &OwnedFd) {
    if let Ok((rows, cols)) = crate::sys::get_winsize(std::io::stdin().as_fd()) {
        let _ = crate::sys::set_winsize(master.as_fd(), rows, cols);
    }
}

/// Copy between our stdio and the pty until `pid` exits; forward signals; return its exit code.
pub fn proxy_until_exit(master: OwnedFd, pid: i32) -> std::io::Result<i32> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        copy_winsize(&master);
    }
    let result = pump(&master, pid);
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, t);
    }
    result
}

fn pump(master: &OwnedFd, pid: i32) -> std::io::Result<i32> {
    let set = crate::signals::block_forwarded()?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    let pidfd = crate::sys::pidfd_open(pid)?;
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut master_file = std::fs::File::from(master.try_clone()?);
    let mut out = std::io::stdout();
    let mut buf = [0_u8; 8192];
    let mut exit: Option<i32> = None;
    loop {
        if exit.is_none() {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, c)) => exit = Some(c),
                Ok(WaitStatus::Signaled(_, s, _)) => exit = Some(128 + s as i32),
                Err(nix::errno::Errno::ECHILD) => exit = Some(255),
                _ => {}
            }
        }
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        // Once the process is gone, drain what is left in the pty and stop.
        let timeout = if exit.is_some() {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) if exit.is_some() => return Ok(exit.unwrap_or(255)),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (m, s, st) = (ready(0), ready(1), ready(3));
        if m {
            match master_file.read(&mut buf) {
                Ok(0) | Err(_) => {
                    if let Some(c) = exit {
                        return Ok(c);
                    }
                }
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
            }
        }
        if s {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
                if sig == Signal::SIGWINCH as i32 {
                    copy_winsize(master);
                }
                if let Ok(sg) = Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), sg);
                }
            }
        }
        if st {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => master_file.write_all(&buf[..n])?,
            }
        }
    }
}
