//! Host port claims: `ROOT/ports/<proto>-<port>` holding the pod name, created with
//! `O_CREAT|O_EXCL` under an exclusive lock, so two pods can never map the same host port even
//! when set up concurrently. A claim is host-wide per protocol and port, whatever `host_ip` is.
//! A claim whose pod is gone (crash without teardown) is taken over.
//!
//! Before claiming, a bind attempt on the host port tells whether a host socket already uses it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use crate::{lock, Error, PortMapping, Protocol};

const LOCK: &str = ".lock";

#[derive(Debug, Clone)]
pub(crate) struct Claims {
    dir: PathBuf,
}

impl Claims {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Claims { dir }
    }

    fn path(&self, m: &PortMapping) -> PathBuf {
        self.dir.join(format!("{}-{}", m.protocol, m.host_port))
    }

    fn lock(&self) -> Result<lock::Locked, Error> {
        fs::create_dir_all(&self.dir).map_err(|source| Error::PortClaim {
            path: self.dir.clone(),
            source,
        })?;
        lock::exclusive(&self.dir.join(LOCK))
    }

    /// Claim every mapping's host port for `pod`, all or nothing.
    pub(crate) fn claim(
        &self,
        pod: &str,
        ports: &[PortMapping],
        alive: impl Fn(&str) -> bool,
    ) -> Result<(), Error> {
        for m in ports {
            check_bind(m)?;
        }
        let _lock = self.lock()?;
        let mut taken: Vec<PathBuf> = Vec::new();
        let res = ports.iter().try_for_each(|m| {
            let path = self.path(m);
            loop {
                if create(&path, pod)? {
                    taken.push(path);
                    return Ok(());
                }
                let owner = read_owner(&path)?;
                match owner {
                    None => continue, // released meanwhile
                    Some(o) if o == pod => return Ok(()),
                    Some(o) if !alive(&o) => {
                        tracing::info!(port = m.host_port, stale_pod = %o, pod, "taking over stale port claim");
                        remove(&path)?;
                    }
                    Some(o) => {
                        return Err(Error::PortInUse {
                            port: m.host_port,
                            protocol: m.protocol,
                            by: format!("pod {o:?}"),
                        })
                    }
                }
            }
        });
        if res.is_err() {
            for p in &taken {
                let _ = fs::remove_file(p);
            }
        }
        res
    }

    /// The claims held by `pod`.
    pub(crate) fn held_by(&self, pod: &str) -> Result<Vec<PathBuf>, Error> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::PortClaim {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if read_owner(&path)?.as_deref() == Some(pod) {
                out.push(path);
            }
        }
        Ok(out)
    }

    /// Release every claim of `pod`.
    pub(crate) fn release(&self, pod: &str) -> Result<(), Error> {
        if !self.dir.exists() {
            return Ok(());
        }
        let _lock = self.lock()?;
        for path in self.held_by(pod)? {
            remove(&path)?;
        }
        Ok(())
    }

    /// Whether no claim is left (only the lock file, or nothing).
    pub(crate) fn is_empty(&self) -> bool {
        match fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .flatten()
                .all(|e| e.file_name().to_string_lossy().starts_with('.')),
            Err(_) => true,
        }
    }

    /// Remove the claims directory if no claim is left. Call with the root lock held
    /// exclusively (nobody may be waiting on the claims lock).
    pub(crate) fn remove_dir_if_empty(&self) {
        if self.is_empty() {
            let _ = fs::remove_file(self.dir.join(LOCK));
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

fn create(path: &Path, pod: &str) -> Result<bool, Error> {
    let err = |source| Error::PortClaim {
        path: path.to_path_buf(),
        source,
    };
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut f) => {
            f.write_all(pod.as_bytes()).map_err(err)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(err(e)),
    }
}

fn read_owner(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::PortClaim {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn remove(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::PortClaim {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Fail with [`Error::PortInUse`] if a host socket uses the mapping's port: bind it (on
/// `host_ip`, or on 0.0.0.0, which conflicts with a socket on any address) and let go at once.
fn check_bind(m: &PortMapping) -> Result<(), Error> {
    let ip = m.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let addr = SocketAddrV4::new(ip, m.host_port);
    let res = match m.protocol {
        Protocol::Tcp => TcpListener::bind(addr).map(drop),
        Protocol::Udp => UdpSocket::bind(addr).map(drop),
    };
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(Error::PortInUse {
            port: m.host_port,
            protocol: m.protocol,
            by: "a host socket".to_string(),
        }),
        Err(source) => Err(Error::PortCheck {
            port: m.host_port,
            protocol: m.protocol,
            ip,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(port: u16) -> PortMapping {
        PortMapping {
            host_port: port,
            container_port: 80,
            protocol: Protocol::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn claims_conflict_release_and_stale_takeover() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Claims::new(tmp.path().join("ports"));
        let (p1, p2) = (free_port(), free_port());
        c.claim("a", &[map(p1)], |_| true).unwrap();
        let err = c.claim("b", &[map(p2), map(p1)], |_| true).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("host port {p1}/tcp is already in use by pod \"a\"")
        );
        // All or nothing: b's claim on p2 was rolled back.
        assert!(c.held_by("b").unwrap().is_empty());
        // a is dead: b takes over.
        c.claim("b", &[map(p1)], |pod| pod != "a").unwrap();
        assert_eq!(c.held_by("b").unwrap().len(), 1);
        c.release("b").unwrap();
        c.release("b").unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn host_socket_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Claims::new(tmp.path().join("ports"));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut m = map(port);
        m.host_ip = None; // 0.0.0.0 conflicts with 127.0.0.1
        let err = c.claim("a", &[m], |_| true).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("host port {port}/tcp is already in use by a host socket")
        );
        assert!(c.is_empty());
    }
}
