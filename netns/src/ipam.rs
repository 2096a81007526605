//! The IP lease store: one file per leased address, `DIR/<ip>`, holding the pod name.
//!
//! Every mutation (allocate, release, reclaim) runs under an exclusive `flock` on `DIR/.lock`,
//! and leases are still created with `O_CREAT|O_EXCL`, so two allocators can never hand out the
//! same address even if one of them ignored the lock. Readers take the same lock, so they never
//! see a lease file before its pod name is written.
//!
//! Stale leases (their pod is gone: no pinned netns and no host veth, i.e. a crash without
//! teardown) are reclaimed lazily: only when no free address is left. This keeps a crashed pod's
//! address reserved until its teardown runs, unless the subnet would otherwise be exhausted.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use crate::{lock, Error};

const LOCK: &str = ".lock";

#[derive(Debug, Clone)]
pub(crate) struct LeaseStore {
    dir: PathBuf,
    subnet: Ipv4Net,
}

impl LeaseStore {
    pub(crate) fn new(dir: PathBuf, subnet: Ipv4Net) -> Self {
        LeaseStore { dir, subnet }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, path: &Path) -> impl FnOnce(io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Lease { path, source }
    }

    fn lock(&self) -> Result<lock::Locked, Error> {
        fs::create_dir_all(&self.dir).map_err(self.err(&self.dir))?;
        lock::exclusive(&self.dir.join(LOCK))
    }

    /// The gateway: the first host address of the subnet (it lives on the bridge).
    pub(crate) fn gateway(&self) -> Ipv4Addr {
        first_host(&self.subnet)
    }

    /// Every address a pod may get, lowest first: the subnet's hosts minus the gateway.
    fn pool(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let gw = self.gateway();
        self.subnet.hosts().filter(move |ip| *ip != gw)
    }

    /// Lease the lowest free address to `pod`. `alive(pod)` tells whether the holder of an
    /// existing lease still exists; it is only asked when the pool is full.
    pub(crate) fn allocate(
        &self,
        pod: &str,
        alive: impl Fn(&str) -> bool,
    ) -> Result<Ipv4Addr, Error> {
        let _lock = self.lock()?;
        // A pod holds at most one lease: reuse it (setup retried after a crash).
        for (ip, owner) in self.list_locked()? {
            if owner == pod {
                return Ok(ip);
            }
        }
        for ip in self.pool() {
            if self.try_create(ip, pod)? {
                return Ok(ip);
            }
        }
        // Full: reclaim the first stale lease.
        for (ip, owner) in self.list_locked()? {
            if !owner.is_empty() && !alive(&owner) {
                tracing::info!(%ip, stale_pod = %owner, pod, "reclaiming stale lease");
                let path = self.dir.join(ip.to_string());
                fs::remove_file(&path).map_err(self.err(&path))?;
                if self.try_create(ip, pod)? {
                    return Ok(ip);
                }
            }
        }
        Err(Error::SubnetExhausted {
            subnet: self.subnet,
            leases: self.pool().count(),
        })
    }

    /// `O_CREAT|O_EXCL` the lease file; false if it already exists.
    fn try_create(&self, ip: Ipv4Addr, pod: &str) -> Result<bool, Error> {
        let path = self.dir.join(ip.to_string());
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                if let Err(e) = f.write_all(pod.as_bytes()) {
                    let _ = fs::remove_file(&path);
                    return Err(self.err(&path)(e));
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.err(&path)(e)),
        }
    }

    /// Remove every lease held by `pod` (normally one). Missing store or lease is fine.
    pub(crate) fn release(&self, pod: &str) -> Result<(), Error> {
        if !self.dir.exists() {
            return Ok(());
        }
        let _lock = self.lock()?;
        for (ip, owner) in self.list_locked()? {
            if owner == pod {
                let path = self.dir.join(ip.to_string());
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.err(&path)(e)),
                }
            }
        }
        Ok(())
    }

    /// All leases, sorted by address.
    pub(crate) fn list(&self) -> Result<Vec<(Ipv4Addr, String)>, Error> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let _lock = self.lock()?;
        self.list_locked()
    }

    fn list_locked(&self) -> Result<Vec<(Ipv4Addr, String)>, Error> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.err(&self.dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(self.err(&self.dir))?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue; // the lock and markers
            };
            let path = entry.path();
            match fs::read_to_string(&path) {
                Ok(owner) => out.push((ip, owner.trim().to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err(&path)(e)),
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The first host address of `net` (`.1` of a /24).
pub(crate) fn first_host(net: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};

    fn store(dir: &Path, net: &str) -> LeaseStore {
        LeaseStore::new(dir.join("ipam/br"), net.parse().unwrap())
    }

    #[test]
    fn first_free_from_dot_two_and_release() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), "10.231.0.0/24");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 231, 0, 1));
        let a = s.allocate("a", |_| true).unwrap();
        let b = s.allocate("b", |_| true).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 231, 0, 2));
        assert_eq!(b, Ipv4Addr::new(10, 231, 0, 3));
        // Same pod again: same lease.
        assert_eq!(s.allocate("a", |_| true).unwrap(), a);
        s.release("a").unwrap();
        s.release("a").unwrap(); // idempotent
        assert_eq!(s.list().unwrap(), vec![(b, "b".to_string())]);
        // The freed address is the lowest free one again.
        assert_eq!(s.allocate("c", |_| true).unwrap(), a);
        assert_eq!(s.list().unwrap()[0], (a, "c".to_string()));
    }

    #[test]
    fn concurrent_allocation_from_8_threads_is_distinct() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), "10.231.1.0/24");
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    s.allocate(&format!("pod{i}"), |_| true).unwrap()
                })
            })
            .collect();
        let ips: HashSet<Ipv4Addr> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(ips.len(), 8);
        let listed = s.list().unwrap();
        assert_eq!(listed.len(), 8);
        let owners: HashSet<&str> = listed.iter().map(|(_, o)| o.as_str()).collect();
        assert_eq!(owners.len(), 8);
        for (ip, _) in &listed {
            assert!(ip.octets()[3] >= 2 && ip.octets()[3] <= 9, "{ip}");
        }
    }

    #[test]
    fn exhaustion_with_a_slash_30() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), "10.231.2.0/30");
        assert_eq!(
            s.allocate("a", |_| true).unwrap(),
            Ipv4Addr::new(10, 231, 2, 2)
        );
        let err = s.allocate("b", |_| true).unwrap_err();
        assert!(
            matches!(err, Error::SubnetExhausted { leases: 1, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "subnet 10.231.2.0/30 is exhausted (1 leases)"
        );
        // A /24 reports 253 leases.
        let s24 = store(tmp.path(), "10.77.0.0/24");
        assert_eq!(s24.pool().count(), 253);
    }

    #[test]
    fn stale_lease_is_reclaimed_only_when_full() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path(), "10.231.3.0/29"); // hosts .1-.6, pool .2-.6
        for i in 0..5 {
            s.allocate(&format!("p{i}"), |_| true).unwrap();
        }
        // Full; p2 is dead.
        let ip = s.allocate("new", |pod| pod != "p2").unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 231, 3, 4));
        let owners: Vec<String> = s.list().unwrap().into_iter().map(|(_, o)| o).collect();
        assert_eq!(owners, ["p0", "p1", "new", "p3", "p4"]);
        // All alive: exhausted.
        assert!(matches!(
            s.allocate("x", |_| true),
            Err(Error::SubnetExhausted { leases: 5, .. })
        ));
    }
}
