//! The parent/init protocol: small JSON messages over a SOCK_SEQPACKET socketpair, one message
//! per datagram. The init reports each step it reaches and every error it hits, so a failure
//! inside the container is printed by the command the user ran, never lost in a log.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{Deserialize, Serialize};

/// Messages from the container side to the runtime.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum FromInit {
    /// The init forked the real container process (pid namespace joined or unshared late): its
    /// pid in the runtime's pid namespace.
    Pid(i32),
    /// A new user namespace exists: write uid_map/gid_map for this pid, then answer `Mapped`.
    NeedMapping(i32),
    /// Namespaces exist, mounts are done, pivot_root has not happened: run prestart and
    /// createRuntime hooks now, then answer `HooksDone`.
    RunRuntimeHooks,
    /// The init's phase marks (`--timings`), sent just before `Ready` when timings are on.
    Timings(Vec<(String, u64)>),
    /// Everything fallible is done; the init now waits on the exec fifo.
    Ready,
    /// A step failed; the init exits right after sending this.
    Error(String),
}

/// Messages from the runtime to the container side.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToInit {
    /// The init may proceed (its id maps are written, its hooks have run);
    /// carries the container process's pid in the runtime's pid namespace, for hook state.
    Go(i32),
    /// A runtime-side step failed: the init must exit quietly.
    Abort,
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// Create a connected pair: (runtime end, init end).
pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Send one message.
    pub fn send<T: Serialize>(&self, msg: &T) -> io::Result<()> {
        let buf = serde_json::to_vec(msg).map_err(io::Error::other)?;
        let n = nix::sys::socket::send(
            self.fd.as_raw_fd(),
            &buf,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        )?;
        if n != buf.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    /// Receive one message; `Ok(None)` when the other side closed its end without a word (it
    /// exited or exec'd).
    pub fn recv<T: for<'de> Deserialize<'de>>(&self) -> io::Result<Option<T>> {
        let mut buf = vec![0_u8; 64 * 1024];
        let n = loop {
            match nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            ) {
                Ok(n) => break n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(io::Error::other)
    }

    /// The raw fd, for passing through clone.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (a, b) = pair().unwrap();
        b.send(&FromInit::Error("mount /proc: EPERM".into()))
            .unwrap();
        b.send(&FromInit::Pid(42)).unwrap();
        assert_eq!(
            a.recv::<FromInit>().unwrap(),
            Some(FromInit::Error("mount /proc: EPERM".into()))
        );
        assert_eq!(a.recv::<FromInit>().unwrap(), Some(FromInit::Pid(42)));
        a.send(&ToInit::Go(7)).unwrap();
        assert_eq!(b.recv::<ToInit>().unwrap(), Some(ToInit::Go(7)));
        drop(b);
        assert_eq!(a.recv::<FromInit>().unwrap(), None);
    }
}
