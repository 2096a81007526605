//! The benchmark bundle: a static busybox rootfs and the config that `podrt spec` writes, set to
//! run `/bin/true` without a terminal. Every peer runs this same bundle.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// Directories the runtimes mount over (they would create them, but not on a read-only root).
const ROOTFS_DIRS: [&str; 6] = ["bin", "proc", "dev", "sys", "tmp", "etc"];

/// Build `DIR/bundle` with `DIR/bundle/rootfs` from `busybox` (a static binary) and a config
/// from `podrt spec` running `args`.
pub fn build_busybox_bundle(
    dir: &Path,
    busybox: &Path,
    podrt: &Path,
    args: &[&str],
) -> Result<PathBuf> {
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    for d in ROOTFS_DIRS {
        fs::create_dir_all(rootfs.join(d))
            .with_context(|| format!("create {}", rootfs.join(d).display()))?;
    }
    install_busybox(busybox, &rootfs)?;
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n")?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\n")?;

    let out = Command::new(podrt)
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .with_context(|| format!("run {} spec", podrt.display()))?;
    if !out.status.success() {
        bail!(
            "{} spec failed: {}",
            podrt.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path)?)
        .with_context(|| format!("parse {}", path.display()))?;
    let process = config
        .get_mut("process")
        .and_then(|p| p.as_object_mut())
        .context("config.json from `podrt spec` has no process object")?;
    process.insert("args".into(), serde_json::json!(args));
    process.insert("terminal".into(), serde_json::json!(false));
    fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(bundle)
}

/// Copy busybox to `rootfs/bin/busybox` and link every applet it lists to it.
fn install_busybox(busybox: &Path, rootfs: &Path) -> Result<()> {
    let target = rootfs.join("bin/busybox");
    fs::copy(busybox, &target)
        .with_context(|| format!("copy {} to {}", busybox.display(), target.display()))?;
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("run {} --list", busybox.display()))?;
    if !out.status.success() {
        bail!("{} --list failed", busybox.display());
    }
    let list = String::from_utf8_lossy(&out.stdout);
    let mut linked = 0;
    for applet in list.lines().map(str::trim) {
        // `busybox` itself is in the list: linking it would replace the binary by a self-link.
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = rootfs.join("bin").join(applet);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        symlink("busybox", &link).with_context(|| format!("symlink {}", link.display()))?;
        linked += 1;
    }
    if !rootfs.join("bin/true").exists() {
        bail!(
            "{} provides no `true` applet ({linked} applets linked)",
            busybox.display()
        );
    }
    Ok(())
}
