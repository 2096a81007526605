//! The OCI lifecycle: create, start, state, kill, delete, exec, pause/resume, list, ps.

pub mod create;
pub mod events;
pub mod exec;
pub mod lifecycle;
pub mod update;

use std::path::{Path, PathBuf};

use crate::state::{ContainerState, StateDir, StateError, Status};

/// Errors of lifecycle operations.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("load {path}: {detail}")]
    LoadConfig { path: PathBuf, detail: String },
    #[error(transparent)]
    Prepare(#[from] crate::prepare::PrepareError),
    #[error("cgroup: {0}")]
    Cgroup(#[from] podrt_cgroup::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("container init: {0}")]
    Init(String),
    #[error("{0}")]
    Hook(#[from] crate::hooks::HookError),
    #[error("container {id} is {status}: {hint}")]
    WrongState {
        id: String,
        status: Status,
        hint: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Io { what, source }
}

/// Where containers live and how cgroups are found: the global options every command shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: PathBuf,
}

impl Context {
    pub fn open(&self, id: &str) -> Result<(StateDir, ContainerState), ContainerError> {
        let dir = StateDir::open(&self.root, id)?;
        let st = dir.load()?;
        Ok((dir, st))
    }
}

/// Load and parse `config.json` from a bundle.
pub fn load_spec(bundle: &Path) -> Result<oci_spec::runtime::Spec, ContainerError> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| ContainerError::LoadConfig {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    serde_json::from_slice(&data).map_err(|e| ContainerError::LoadConfig {
        path,
        detail: e.to_string(),
    })
}

/// The cgroup path for a container: absolute `cgroupsPath` as given, relative under podrt's own
/// `/podrt` parent, none → `/podrt/<id>`.
pub fn cgroup_path(spec: &oci_spec::runtime::Spec, id: &str) -> Result<String, ContainerError> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty());
    let path = match given {
        Some(p) if p.contains(':') && !p.starts_with('/') => {
            return Err(ContainerError::Unsupported(format!(
                "cgroupsPath {p:?} looks like a systemd slice:scope:name path; the systemd cgroup manager is not supported yet (use cgroupfs paths)"
            )))
        }
        Some(p) if p.starts_with('/') => p,
        Some(p) => format!("/podrt/{p}"),
        None => format!("/podrt/{id}"),
    };
    if path.split('/').any(|c| c == "..") {
        return Err(ContainerError::Invalid(format!(
            "cgroupsPath {path:?} must not contain \"..\""
        )));
    }
    Ok(path)
}

/// Destroy a container's cgroup, then podrt's own parents (`/podrt/...`) that are now empty:
/// another container may have created them, and rmdir of a cgroup still in use fails
/// harmlessly.
pub fn destroy_cgroup(cg: &podrt_cgroup::Cgroup) -> Result<(), podrt_cgroup::Error> {
    cg.destroy()?;
    let path = cg.path();
    if let Some(rest) = path.strip_prefix("/podrt/") {
        let depth = rest.split('/').count();
        for dir in cg.dirs() {
            let mut p = dir.to_path_buf();
            for _ in 0..depth {
                p.pop();
                if std::fs::remove_dir(&p).is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}
