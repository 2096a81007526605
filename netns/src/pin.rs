//! Pinned network namespaces (`ROOT/netns/NAME`, a bind mount of an nsfs file, as `ip netns
//! add` makes them) and temporary entry into one.
//!
//! Everything here acts on the calling thread only (`unshare`/`setns` of a network namespace
//! are per-thread), and always returns the thread to the namespace it started in.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{statfs, NSFS_MAGIC};

use crate::Error;

const SELF_NET: &str = "/proc/thread-self/ns/net";

/// Make `dir` a mount point with shared propagation, as iproute2 does for `/run/netns`: pins
/// created under it then show up (and disappear) in every mount namespace that shares it, so a
/// copy of a pin in another mount namespace cannot keep a torn-down netns alive.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), Error> {
    let err = |source: io::Error| Error::PinNetns {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(err)?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    for _ in 0..2 {
        match mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
            Ok(()) => return Ok(()),
            // Not a mount point yet: bind it onto itself, then try again.
            Err(Errno::EINVAL) => mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| err(e.into()))?,
            Err(e) => return Err(err(e.into())),
        }
    }
    Err(err(io::Error::other(
        "cannot make the directory a shared mount point",
    )))
}

/// Undo [`prepare_dir`] once no pin is left: unmount the self bind and remove the directory.
pub(crate) fn release_dir(dir: &Path) -> Result<(), Error> {
    let err = |source: io::Error| Error::UnpinNetns {
        path: dir.to_path_buf(),
        source,
    };
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Ok(());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(e)),
    }
    loop {
        match umount2(dir, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(Errno::EINVAL | Errno::ENOENT) => break,
            Err(e) => return Err(err(e.into())),
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // Someone pinned a new netns meanwhile (should not happen under the root lock).
        Err(e) if e.raw_os_error() == Some(Errno::ENOTEMPTY as i32) => Ok(()),
        Err(e) => Err(err(e)),
    }
}

/// Whether `path` is a live pin (an nsfs file bind-mounted there).
pub(crate) fn is_pinned(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

/// Create a new network namespace and pin it at `path`, which must not exist yet.
///
/// Returns [`Error::PodExists`] (and touches nothing) if `path` exists.
pub(crate) fn create(path: &Path, pod: &str) -> Result<(), Error> {
    let err = |source: io::Error| Error::PinNetns {
        path: path.to_path_buf(),
        source,
    };
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::PodExists {
                pod: pod.to_string(),
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(err(e)),
    }
    // Open our own netns before leaving it, to come back.
    let orig = File::open(SELF_NET).map_err(err)?;
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err(e.into()))?;
    let bind = mount(
        Some(SELF_NET),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    );
    return_to(&orig);
    bind.map_err(|e| err(e.into()))
}

/// Switch the calling thread back to `orig`. Failing here would leave the thread (and every
/// container the runtime clones later) in a pod's netns: that is not recoverable, so abort.
fn return_to(orig: &File) {
    if let Err(e) = setns(orig, CloneFlags::CLONE_NEWNET) {
        tracing::error!(error = %e, "cannot return to the original network namespace; aborting");
        std::process::abort();
    }
}

/// Unmount and remove a pin. Missing or already unmounted is fine.
pub(crate) fn remove(path: &Path) -> Result<(), Error> {
    let err = |source: io::Error| Error::UnpinNetns {
        path: path.to_path_buf(),
        source,
    };
    loop {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue, // in case it was mounted more than once
            Err(Errno::EINVAL | Errno::ENOENT) => break,
            Err(e) => return Err(err(e.into())),
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(e)),
    }
}

/// The calling thread is inside another netns until this is dropped.
#[derive(Debug)]
pub(crate) struct Entered {
    orig: File,
    path: PathBuf,
}

impl Entered {
    /// `setns` the calling thread into the netns pinned at `path`.
    pub(crate) fn enter(path: &Path) -> Result<Self, Error> {
        let err = |source: io::Error| Error::EnterNetns {
            path: path.to_path_buf(),
            source,
        };
        let orig = File::open(SELF_NET).map_err(err)?;
        let target = File::open(path).map_err(err)?;
        setns(&target, CloneFlags::CLONE_NEWNET).map_err(|e| err(e.into()))?;
        Ok(Entered {
            orig,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        tracing::trace!(netns = %self.path.display(), "leaving netns");
        return_to(&self.orig);
    }
}
