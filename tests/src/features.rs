//! Kernel features a test may need. Missing features skip the test loudly and are counted in
//! `target/podrt-tests-skipped.txt`; they are never skipped silently.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::runtime::target_dir;

/// Something a test needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// User namespaces can be created by root (`unshare -U` works).
    UserNs,
    /// A v1 hierarchy for the memory, pids and cpu controllers (hybrid or legacy host).
    CgroupV1,
    /// A pure cgroup v2 host: `/sys/fs/cgroup` is cgroup2 and delegates memory, pids and cpu.
    CgroupV2,
    /// A freezer: v1 `freezer` hierarchy or v2 `cgroup.freeze`.
    Freezer,
    /// The `unshare` tool from util-linux, to hold namespaces for join-by-path tests.
    Unshare,
}

impl Feature {
    /// `Ok(())` when available, else why not.
    pub fn check(self) -> Result<(), String> {
        match self {
            Feature::UserNs => {
                let max =
                    fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
                if max.trim() == "0" {
                    return Err("user.max_user_namespaces is 0".into());
                }
                let ok = Command::new("unshare")
                    .args(["--user", "--map-root-user", "true"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    Ok(())
                } else {
                    Err("`unshare --user --map-root-user true` failed".into())
                }
            }
            Feature::CgroupV1 => {
                for c in ["memory", "pids", "cpu"] {
                    if crate::procfs::v1_mount(c).is_none() {
                        return Err(format!("no v1 hierarchy for {c}"));
                    }
                }
                Ok(())
            }
            Feature::CgroupV2 => {
                let ctl = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
                    .map_err(|_| "/sys/fs/cgroup is not a cgroup2 mount (v1 or hybrid host)")?;
                for c in ["memory", "pids", "cpu"] {
                    if !ctl.split_whitespace().any(|x| x == c) {
                        return Err(format!("cgroup2 root does not offer the {c} controller"));
                    }
                }
                Ok(())
            }
            Feature::Freezer => {
                if crate::procfs::v1_mount("freezer").is_some()
                    || Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
                {
                    Ok(())
                } else {
                    Err("no v1 freezer hierarchy and no cgroup2 root".into())
                }
            }
            Feature::Unshare => {
                if Command::new("unshare")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
                {
                    Ok(())
                } else {
                    Err("unshare(1) not installed".into())
                }
            }
        }
    }
}

/// The file that counts skipped tests.
#[must_use]
pub fn skip_file() -> std::path::PathBuf {
    target_dir().join("podrt-tests-skipped.txt")
}

/// True when the machine has `feature`. Otherwise prints
/// `SKIP(feature-missing): <test>: <reason>` to stderr, appends it to the skip file, and returns
/// false: the caller must return right away (see the `require!` macro).
#[must_use]
pub fn requires(feature: Feature) -> bool {
    match feature.check() {
        Ok(()) => true,
        Err(reason) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("unknown")
                .to_string();
            let bin = std::env::args()
                .next()
                .and_then(|a| {
                    Path::new(&a)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .map(|b| match b.rsplit_once('-') {
                    Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => {
                        name.to_string()
                    }
                    _ => b,
                })
                .unwrap_or_default();
            let line = format!("SKIP(feature-missing): {bin}::{test}: {feature:?}: {reason}");
            // Straight to fd 2: libtest captures eprintln! of passing tests.
            let _ = writeln!(std::io::stderr(), "\n*** {line} ***\n");
            let path = skip_file();
            if let Some(dir) = path.parent() {
                let _ = fs::create_dir_all(dir);
            }
            if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&path) {
                let _ = writeln!(f, "{line}");
            }
            false
        }
    }
}
