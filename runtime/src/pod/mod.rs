//! Pods: `podrt run pod.yml` brings up a sandbox (pinned net/IPC/UTS namespaces, veth + IP,
//! pod cgroup, volumes), clones each container into it through the same `container::create`
//! as the OCI path, supervises them (logs, probes, restarts) and tears everything down.

pub mod probe;
pub mod sandbox;
pub mod state;
pub mod supervisor;

use std::path::{Path, PathBuf};

use state::{PodDirs, PodState};

/// Errors of pod operations.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("{0}")]
    Manifest(String),
    #[error("pod {0} already exists (stop it with `podrt pod stop {0}`)")]
    Exists(String),
    #[error("pod {0} does not exist")]
    NotFound(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cgroup: {0}")]
    Cgroup(#[from] podrt_cgroup::Error),
    #[error("network: {0}")]
    Net(#[from] podrt_netns::Error),
    #[error("image: {0}")]
    Image(#[from] crate::image::ImageError),
    #[error("container {name}: {source}")]
    Container {
        name: String,
        source: crate::container::ContainerError,
    },
    #[error("{0}")]
    Failed(String),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PodError {
    let what = what.into();
    move |source| PodError::Io { what, source }
}

/// Options of `podrt run pod.yml`.
#[derive(Debug, Clone)]
pub struct RunPodOptions {
    pub manifest: PathBuf,
    pub detach: bool,
    pub bridge: String,
    pub subnet: String,
    pub image_store: PathBuf,
    /// Where `seccompProfile: Localhost` profiles are looked up.
    pub seccomp_profile_root: PathBuf,
}

/// The network settings for a pod (bridge, subnet) in the netns crate's terms.
pub fn net_config(
    root: &Path,
    bridge: &str,
    subnet: &str,
) -> Result<podrt_netns::NetConfig, PodError> {
    let mut cfg = podrt_netns::NetConfig::new(root);
    cfg.bridge = bridge.to_string();
    cfg.subnet = subnet
        .parse()
        .map_err(|e| PodError::Failed(format!("subnet {subnet:?}: {e}")))?;
    Ok(cfg)
}

/// `podrt run pod.yml`.
pub fn run(ctx: &crate::container::Context, opts: &RunPodOptions) -> Result<i32, PodError> {
    let (pod, warnings) =
        podrt_pod_spec::load(&opts.manifest).map_err(|e| PodError::Manifest(e.to_string()))?;
    for w in &warnings {
        eprintln!("podrt: warning: {w}");
    }
    let dirs = PodDirs::new(&ctx.root, &pod.name);
    std::fs::create_dir_all(ctx.root.join("pods")).map_err(io_err("create pods dir"))?;
    match std::fs::create_dir(&dirs.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(PodError::Exists(pod.name.clone()))
        }
        Err(e) => return Err(io_err(format!("create {}", dirs.dir.display()))(e)),
    }
    if opts.detach {
        return supervisor::detach(ctx, pod, dirs, opts);
    }
    supervisor::supervise(ctx, pod, dirs, opts, None)
}

/// Tear a pod down from its name alone: containers, rootfs mounts, network, pins, cgroup, dir.
/// Idempotent; used by the supervisor and by `pod stop --force` after a crash.
pub fn teardown(root: &Path, name: &str) -> Vec<String> {
    let dirs = PodDirs::new(root, name);
    let mut problems = Vec::new();
    let st = PodState::load(&dirs).ok();
    let ctx = crate::container::Context {
        root: root.to_path_buf(),
    };
    if let Ok(entries) = std::fs::read_dir(dirs.containers()) {
        for e in entries.flatten() {
            let cname = e.file_name().to_string_lossy().into_owned();
            let id = container_id(name, &cname);
            if let Err(e) = crate::container::lifecycle::delete(&ctx, &id, true) {
                problems.push(format!("delete container {id}: {e}"));
            }
            if let Err(e) = crate::image::unmount_rootfs(&e.path()) {
                problems.push(format!("unmount rootfs of {cname}: {e}"));
            }
        }
    }
    let (bridge, subnet) = st
        .as_ref()
        .map(|s| (s.bridge.clone(), s.subnet.clone()))
        .unwrap_or_else(|| (DEFAULT_BRIDGE.to_string(), DEFAULT_SUBNET.to_string()));
    match net_config(root, &bridge, &subnet) {
        Ok(cfg) => {
            if let Err(e) = podrt_netns::teardown(&cfg, name) {
                problems.push(format!("network: {e}"));
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    sandbox::unmount_all_under(&dirs.dir);
    sandbox::remove_cgroup(name);
    if let Err(e) = std::fs::remove_dir_all(&dirs.dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            problems.push(format!("remove {}: {e}", dirs.dir.display()));
        }
    }
    problems
}

/// The OCI container ID of a pod's container (pod names cannot contain dots).
pub fn container_id(pod: &str, container: &str) -> String {
    format!("{pod}.{container}")
}

pub const DEFAULT_BRIDGE: &str = "podrt0";
pub const DEFAULT_SUBNET: &str = "10.77.0.0/24";

/// `pod list`: every pod under the root with its state.
pub fn list(root: &Path) -> Vec<PodState> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join("pods")) {
        for e in entries.flatten() {
            let dirs = PodDirs { dir: e.path() };
            if let Ok(mut st) = PodState::load(&dirs) {
                if !st.supervisor_alive() && st.phase != "stopped" {
                    st.phase = "dead (supervisor gone: podrt pod stop --force)".into();
                }
                out.push(st);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `pod inspect NAME`.
pub fn inspect(root: &Path, name: &str) -> Result<PodState, PodError> {
    let dirs = PodDirs::new(root, name);
    let mut st = PodState::load(&dirs).map_err(|_| PodError::NotFound(name.to_string()))?;
    if !st.supervisor_alive() {
        st.phase = "dead (supervisor gone: podrt pod stop --force)".into();
    }
    Ok(st)
}

/// `pod stop NAME [--force]`: ask the supervisor to stop gracefully and wait; with `force`,
/// also recover a pod whose supervisor was killed.
pub fn stop(root: &Path, name: &str, force: bool) -> Result<(), PodError> {
    let dirs = PodDirs::new(root, name);
    if !dirs.dir.exists() {
        return if force {
            Ok(())
        } else {
            Err(PodError::NotFound(name.to_string()))
        };
    }
    let st = PodState::load(&dirs).ok();
    if let Some(st) = st.as_ref().filter(|s| s.supervisor_alive()) {
        let pid = st.supervisor_pid;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        let grace = 30 + 10;
        if wait_pid_exit(pid, std::time::Duration::from_secs(grace)) {
            return Ok(());
        }
        if !force {
            return Err(PodError::Failed(format!(
                "pod {name}: supervisor {pid} did not stop within {grace} s (use --force)"
            )));
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        wait_pid_exit(pid, std::time::Duration::from_secs(5));
    } else if !force {
        return Err(PodError::Failed(format!(
            "pod {name}: its supervisor is gone; `podrt pod stop --force {name}` cleans up"
        )));
    }
    let problems = teardown(root, name);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PodError::Failed(format!(
            "pod {name}: teardown: {}",
            problems.join("; ")
        )))
    }
}

fn wait_pid_exit(pid: i32, timeout: std::time::Duration) -> bool {
    use std::os::fd::AsFd;
    let Ok(fd) = crate::sys::pidfd_open(pid) else {
        return true;
    };
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = u16::try_from(timeout.as_millis().min(60_000)).unwrap_or(60_000);
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)), Ok(n) if n > 0)
}
