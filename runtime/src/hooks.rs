//! OCI hooks: run one hook with the container state on its stdin, honouring its timeout.

use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

/// A hook that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: start: {source}")]
    Spawn {
        kind: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{kind} hook {path}: {status}{stderr}")]
    Failed {
        kind: &'static str,
        path: String,
        status: String,
        stderr: String,
    },
    #[error("{kind} hook {path}: timed out after {secs} s")]
    Timeout {
        kind: &'static str,
        path: String,
        secs: i64,
    },
}

/// Run every hook of one kind in order; stop at the first failure.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for h in hooks {
        run_one(kind, h, state_json)?;
    }
    Ok(())
}

fn run_one(kind: &'static str, hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let path = hook.path().to_string_lossy().into_owned();
    tracing::debug!(kind, path, "hook");
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            use std::os::unix::process::CommandExt;
            cmd.arg0(first);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for e in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| HookError::Spawn {
        kind,
        path: path.clone(),
        source: e,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state_json);
    }
    let timeout = hook.timeout().filter(|t| *t > 0);
    let status = match timeout {
        None => child.wait(),
        Some(secs) => {
            let deadline = Instant::now() + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
            let pidfd = crate::sys::pidfd_open(i32::try_from(child.id()).unwrap_or(0));
            loop {
                if let Some(st) = child.try_wait().transpose() {
                    break st;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HookError::Timeout { kind, path, secs });
                }
                match &pidfd {
                    Ok(fd) => {
                        let mut fds = [nix::poll::PollFd::new(
                            fd.as_fd(),
                            nix::poll::PollFlags::POLLIN,
                        )];
                        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
                        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
    }
    .map_err(|e| HookError::Spawn {
        kind,
        path: path.clone(),
        source: e,
    })?;
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let stderr = stderr.trim();
    Err(HookError::Failed {
        kind,
        path,
        status: status.to_string(),
        stderr: if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        },
    })
}

/// The state document hooks receive on stdin.
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &std::path::Path,
    annotations: Option<&std::collections::HashMap<String, String>>,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
    });
    if let Some(a) = annotations.filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}
