//! `--console-socket` receiver: accept one connection, receive the pty master over SCM_RIGHTS.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// A listening unix socket the runtime connects to.
#[derive(Debug)]
pub struct ConsoleReceiver {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleReceiver {
    /// Bind and listen at `path`.
    #[must_use]
    pub fn bind(path: &Path) -> ConsoleReceiver {
        let listener = UnixListener::bind(path)
            .unwrap_or_else(|e| panic!("bind console socket {}: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        ConsoleReceiver {
            path: path.to_path_buf(),
            listener,
        }
    }

    /// The socket path, for `--console-socket`.
    #[must_use]
    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 socket path")
    }

    /// Accept one connection (within `timeout`) and receive the pty master.
    #[must_use]
    pub fn receive(&self, timeout: Duration) -> PtyMaster {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "nobody connected to the console socket within {timeout:?}"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept on console socket: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking stream");
        stream
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg on console socket");
        let mut fds = Vec::new();
        for c in msg.cmsgs().expect("control messages") {
            if let ControlMessageOwned::ScmRights(r) = c {
                fds.extend(r);
            }
        }
        assert_eq!(
            fds.len(),
            1,
            "expected exactly one fd over SCM_RIGHTS, got {fds:?}"
        );
        // SAFETY: the kernel just installed this fd in our table for us; we own it.
        let fd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        PtyMaster { fd }
    }
}

/// The pty master received from the runtime.
#[derive(Debug)]
pub struct PtyMaster {
    /// The master fd.
    pub fd: OwnedFd,
}

impl PtyMaster {
    /// Read until the slave side is closed by everybody (EIO/EOF) or `timeout` passes.
    #[must_use]
    pub fn read_to_end(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut file = std::fs::File::from(self.fd.try_clone().expect("dup master"));
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(left.as_millis().min(1000)).unwrap_or(1000);
            match poll(&mut pfd, PollTimeout::from(ms)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => panic!("poll pty master: {e}"),
            }
            let mut buf = [0u8; 4096];
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read pty master: {e}"),
            }
        }
        String::from_utf8_lossy(&out).replace('\r', "")
    }

    /// Write to the container's terminal.
    pub fn write(&self, data: &[u8]) {
        nix::unistd::write(&self.fd, data).expect("write pty master");
    }
}
