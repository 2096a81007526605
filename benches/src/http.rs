//! The harness's own HTTP probe (plain `TcpStream`, HTTP/1.0), optionally connecting from
//! inside another network namespace: the calling thread joins the namespace with `setns`, opens
//! the socket there (a socket belongs to the namespace it was created in) and returns to its own
//! namespace before doing anything else.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// An open network namespace (a `/proc/PID/ns/net` or `/run/netns/NAME` file). Holding it
/// keeps the namespace alive.
#[derive(Debug)]
pub struct Netns(File);

impl Netns {
    pub fn open(path: &Path) -> io::Result<Netns> {
        File::open(path).map(Netns)
    }

    /// The namespace's inode number (what `ip netns identify` compares).
    pub fn inode(&self) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt as _;
        Ok(self.0.metadata()?.ino())
    }
}

fn setns(fd: &File) -> io::Result<()> {
    // SAFETY: setns takes an fd we own and a namespace type; it changes only this thread's
    // network namespace and touches no memory of ours.
    let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Connect to `addr` from inside `netns` (or from here when `None`).
pub fn connect(
    netns: Option<&Netns>,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let Some(ns) = netns else {
        return TcpStream::connect_timeout(&addr, timeout);
    };
    let home = File::open("/proc/thread-self/ns/net")?;
    setns(&ns.0)?;
    let s = TcpStream::connect_timeout(&addr, timeout);
    // Back home before anything else runs on this thread; failing that, the harness would keep
    // running in the pod's namespace, so stop.
    if let Err(e) = setns(&home) {
        eprintln!("startbench: cannot return to the host network namespace: {e}");
        std::process::abort();
    }
    s
}

/// Status code of `GET path` on `addr` (HTTP/1.0), or `None` on any failure. A 200 counts only
/// when the body contains `body_must`, so a static fallback page cannot pass.
pub fn status(netns: Option<&Netns>, addr: SocketAddr, path: &str, body_must: &str) -> Option<u16> {
    let mut s = connect(netns, addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", addr.ip()).as_bytes())
        .ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp);
    let code: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    (code != 200 || text.contains(body_must)).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_a_local_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            for body in ["static page", "hello from php"] {
                let (mut c, _) = l.accept().unwrap();
                let mut buf = [0u8; 512];
                let _ = c.read(&mut buf).unwrap();
                let resp = format!("HTTP/1.0 200 OK\r\n\r\n{body}");
                c.write_all(resp.as_bytes()).unwrap();
            }
        });
        assert_eq!(status(None, addr, "/", "hello from php"), None);
        assert_eq!(status(None, addr, "/", "hello from php"), Some(200));
        t.join().unwrap();
    }
}
