//! `flock(2)` helpers: every lock is taken on its own open file description, so threads of
//! one process exclude each other as well as processes do.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::Error;

/// A held lock; released when dropped (the file is closed).
#[derive(Debug)]
pub(crate) struct Locked {
    _lock: Flock<File>,
}

fn lock(path: &Path, arg: FlockArg) -> Result<Locked, Error> {
    let err = |source| Error::Lock {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(err)?;
    let lock = Flock::lock(file, arg).map_err(|(_, errno)| err(errno.into()))?;
    Ok(Locked { _lock: lock })
}

/// Shared lock: many holders at once (pod setups and per-pod teardowns).
pub(crate) fn shared(path: &Path) -> Result<Locked, Error> {
    lock(path, FlockArg::LockShared)
}

/// Exclusive lock: one holder.
pub(crate) fn exclusive(path: &Path) -> Result<Locked, Error> {
    lock(path, FlockArg::LockExclusive)
}
