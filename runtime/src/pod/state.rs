//! Pod state on disk: `ROOT/pods/NAME/pod.json`, rewritten atomically by the supervisor on every
//! change, read by `pod list/inspect/stop` from other shells.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One app or init container as the supervisor sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppStatus {
    pub name: String,
    /// The OCI container ID (`podrt state ID` works on it).
    pub id: String,
    pub init: bool,
    /// waiting | running | exited | crash-loop-backoff | completed
    pub state: String,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub ready: bool,
    pub last_exit_code: Option<i32>,
    pub last_probe: Option<String>,
    pub log: PathBuf,
}

/// The whole pod.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PodState {
    pub name: String,
    pub manifest: PathBuf,
    pub created: String,
    /// running | stopping | failed | succeeded
    pub phase: String,
    pub supervisor_pid: i32,
    pub supervisor_start_time: u64,
    pub ip: Option<String>,
    pub netns: Option<PathBuf>,
    pub host_ports: Vec<String>,
    /// Bridge/subnet settings used, so teardown works without the manifest.
    pub bridge: String,
    pub subnet: String,
    pub apps: Vec<AppStatus>,
}

/// Where a pod's things live.
#[derive(Debug, Clone)]
pub struct PodDirs {
    pub dir: PathBuf,
}

impl PodDirs {
    pub fn new(root: &Path, name: &str) -> Self {
        PodDirs {
            dir: root.join("pods").join(name),
        }
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("pod.json")
    }
    pub fn ns(&self) -> PathBuf {
        self.dir.join("ns")
    }
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }
    pub fn volumes(&self) -> PathBuf {
        self.dir.join("volumes")
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    pub fn containers(&self) -> PathBuf {
        self.dir.join("containers")
    }
}

impl PodState {
    pub fn save(&self, dirs: &PodDirs) -> std::io::Result<()> {
        let tmp = dirs.dir.join(".pod.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, dirs.state())
    }

    pub fn load(dirs: &PodDirs) -> std::io::Result<PodState> {
        let data = std::fs::read(dirs.state())?;
        serde_json::from_slice(&data).map_err(std::io::Error::other)
    }

    /// True while the supervisor process that owns this pod runs.
    pub fn supervisor_alive(&self) -> bool {
        matches!(crate::state::proc_start_time(self.supervisor_pid), Some((s, false)) if s == self.supervisor_start_time)
    }
}
