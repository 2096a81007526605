//! Container state on disk: one directory per container under `--root`, holding `state.json`
//! (written atomically: write + rename, under an flock on the directory) and `exec.fifo` while
//! the container is created but not started.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Lifecycle status as OCI names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What podrt remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// `creating` until the init reported ready, then `created`; later states are derived from
    /// the kernel (process alive, fifo present, cgroup frozen).
    pub status: Status,
    /// The init's pid in podrt's pid namespace, and its start time (clock ticks since boot) so a
    /// recycled pid is never mistaken for the container.
    pub pid: Option<i32>,
    pub pid_start_time: Option<u64>,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The cgroup record, saved before the cgroup is created so a crash can be cleaned up.
    pub cgroup: Option<podrt_cgroup::Cgroup>,
    /// The spec the container was created from (exec and delete need its process defaults,
    /// namespaces and hooks even if the bundle changes).
    pub config: oci_spec::runtime::Spec,
    /// Set once OOM kill was seen, so `state` can report it after the cgroup is gone.
    #[serde(default)]
    pub oom_killed: bool,
}

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.' and '+', not starting with '.'")]
    InvalidId(String),
    #[error("create state root {path}: {source}")]
    CreateRoot { path: PathBuf, source: io::Error },
    #[error("create state dir {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
}

/// Validate a container ID the way runc does (it becomes a directory name and a cgroup name).
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// A container's directory, locked for the lifetime of this value.
#[derive(Debug)]
pub struct StateDir {
    pub dir: PathBuf,
    _lock: OwnedFd,
}

impl StateDir {
    /// Create the directory for a new container; fails with `Exists` if the ID is taken.
    pub fn create(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        if let Err(e) = fs::create_dir_all(root) {
            return Err(StateError::CreateRoot {
                path: root.to_path_buf(),
                source: e,
            });
        }
        let dir = root.join(id);
        match fs::DirBuilder::new().mode_0711().create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_string()))
            }
            Err(e) => {
                return Err(StateError::CreateDir {
                    path: dir,
                    source: e,
                })
            }
        }
        let lock = lock_dir(&dir, true)?;
        Ok(StateDir { dir, _lock: lock })
    }

    /// Open and lock the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        let dir = root.join(id);
        if !dir.is_dir() {
            return Err(StateError::NotFound(id.to_string()));
        }
        let lock = lock_dir(&dir, true)?;
        Ok(StateDir { dir, _lock: lock })
    }

    /// The fd that holds the lock (the container init closes its copy first thing).
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        self._lock.as_raw_fd()
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    /// Write state.json atomically.
    pub fn save(&self, state: &ContainerState) -> Result<(), StateError> {
        let path = self.state_path();
        let tmp = self.dir.join(".state.json.tmp");
        let data = serde_json::to_vec(state).map_err(|e| StateError::Write {
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        let write = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&data)?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| StateError::Write { path, source: e })
    }

    pub fn load(&self) -> Result<ContainerState, StateError> {
        load_state(&self.state_path())
    }

    /// Remove the whole directory (idempotent).
    pub fn remove(self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::Remove {
                path: self.dir.clone(),
                source: e,
            }),
        }
    }
}

trait Mode0711 {
    fn mode_0711(&mut self) -> &mut Self;
}
impl Mode0711 for fs::DirBuilder {
    fn mode_0711(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o711)
    }
}

fn lock_dir(dir: &Path, exclusive: bool) -> Result<OwnedFd, StateError> {
    let f = fs::File::open(dir).map_err(|e| StateError::Lock {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let fd = OwnedFd::from(f);
    let op = if exclusive {
        nix::fcntl::FlockArg::LockExclusive
    } else {
        nix::fcntl::FlockArg::LockShared
    };
    #[allow(deprecated)] // Flock takes ownership of the fd; we need the raw fd number too.
    nix::fcntl::flock(fd.as_raw_fd(), op).map_err(|e| StateError::Lock {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    Ok(fd)
}

/// Read a state file without taking the lock (for `list`, which must not block on others).
pub fn load_state(path: &Path) -> Result<ContainerState, StateError> {
    let data = fs::read(path).map_err(|e| StateError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_slice(&data).map_err(|e| StateError::Parse {
        path: path.to_path_buf(),
        source: e,
    })
}

/// The kernel's view of a pid: its start time and whether it is a zombie.
pub fn proc_start_time(pid: i32) -> Option<(u64, bool)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    // After the state come fields 4..; start time is field 22, i.e. 19 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

impl ContainerState {
    /// True when the recorded init process still runs (not a zombie, not a recycled pid).
    pub fn init_alive(&self) -> bool {
        match (self.pid, self.pid_start_time) {
            (Some(pid), Some(start)) => {
                matches!(proc_start_time(pid), Some((s, false)) if s == start)
            }
            _ => false,
        }
    }

    /// The status as the kernel shows it now.
    pub fn current_status(&self, dir: &Path) -> Status {
        if self.status == Status::Creating {
            return if self.init_alive() {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        if dir.join("exec.fifo").exists() {
            return Status::Created;
        }
        if let Some(cg) = &self.cgroup {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    /// The OCI state JSON (runc's field set and order).
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid.unwrap_or(0)
        };
        let mut v = serde_json::json!({
            "ociVersion": crate::OCI_VERSION,
            "id": self.id,
            "pid": pid,
            "status": status.to_string(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v
    }
}

/// RFC 3339 time with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The user name of the current effective uid (runc's `owner`).
pub fn owner_name() -> String {
    // /etc/passwd directly: NSS (getpwuid) tries the nscd socket first, on the start path.
    let uid = nix::unistd::geteuid().as_raw().to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        for ok in ["a", "abc-1", "x_y.z+1", "0"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", ".hidden"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn own_start_time_is_readable() {
        let (start, zombie) = proc_start_time(std::process::id().cast_signed()).unwrap();
        assert!(start > 0);
        assert!(!zombie);
    }

    #[test]
    fn create_twice_is_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let d = StateDir::create(tmp.path(), "c1").unwrap();
        drop(d);
        match StateDir::create(tmp.path(), "c1") {
            Err(StateError::Exists(id)) => assert_eq!(id, "c1"),
            other => panic!("{other:?}"),
        }
    }
}
