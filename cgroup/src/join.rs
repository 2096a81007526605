//! A process joining a cgroup from inside, without the kernel's global migration lock.
//!
//! Writing a pid to a v1 `cgroup.procs` or `tasks` file takes `cgroup_threadgroup_rwsem` for
//! writing. It is a per-CPU rwsem: unless another writer went through within about one RCU grace
//! period before, the writer first waits out a full grace period (`rcu_sync_enter`), 5-15 ms on a
//! quiet host against microseconds when warm, and it waits holding `cgroup_mutex`, so every
//! cgroup mkdir and rmdir on the host queues behind it too.
//!
//! A thread that writes `0` to a v1 `tasks` file moves only itself, and for that case the kernel
//! skips the global lock: the thread is the caller, so it cannot exit or exec during the write,
//! and `cgroup_mutex` already excludes other migrations. For a single-threaded process, moving its
//! one thread moves the process. So the runtime opens these files before it clones a container's
//! init (or an exec'd process), and the child writes `0` to each as its first step
//! ([`SelfJoin::join`]); it inherits the descriptors, opened with the runtime's credentials (or,
//! where the runtime creates the cgroup after the clone, opens them itself by path).
//!
//! A v2 directory (only on a hybrid host whose unified hierarchy holds the cgroup) has no such
//! file for a domain cgroup: there `cgroup.procs` gets the `0`, which moves the caller's whole
//! process and takes the lock. On a pure v2 host the runtime clones straight into the cgroup
//! (`clone3(CLONE_INTO_CGROUP)`, which takes the lock only for reading) and needs none of this.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use crate::Error;

/// Open files through which a single-threaded process moves itself into a cgroup in every
/// hierarchy (from [`crate::Cgroup::self_join`], or [`SelfJoin::open`] on the paths of
/// [`crate::Cgroup::self_join_files`] where the process opens them itself). Close-on-exec.
#[derive(Debug)]
pub struct SelfJoin {
    files: Vec<(File, PathBuf)>,
}

impl SelfJoin {
    /// Open the files [`crate::Cgroup::self_join_files`] names, for writing.
    pub fn open(paths: &[PathBuf]) -> Result<SelfJoin, Error> {
        let mut files = Vec::new();
        for path in paths {
            let path = path.clone();
            let file = File::options()
                .write(true)
                .open(&path)
                .map_err(|err| Error::WriteFile {
                    path: path.clone(),
                    value: "0".into(),
                    err,
                })?;
            files.push((file, path));
        }
        Ok(SelfJoin { files })
    }

    /// Move the calling thread into the cgroup in every hierarchy. Only that thread moves, so
    /// the caller must be single-threaded for its whole process to follow (a freshly cloned
    /// child of the single-threaded runtime is); its later children are born inside.
    pub fn join(&self) -> Result<(), Error> {
        for (file, path) in &self.files {
            let mut f: &File = file;
            f.write_all(b"0").map_err(|err| Error::WriteFile {
                path: path.clone(),
                value: "0".into(),
                err,
            })?;
        }
        Ok(())
    }

    /// The files, in hierarchy order.
    pub fn paths(&self) -> impl Iterator<Item = &std::path::Path> {
        self.files.iter().map(|(_, p)| p.as_path())
    }
}
