//! Mounts a test makes on the host (for propagation and rbind tests); undone on drop.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// A host mount owned by a test; lazily unmounted on drop. Declare it after the `Ctx` so it is
/// dropped (unmounted) before the leak check runs.
#[derive(Debug)]
pub struct HostMount {
    target: PathBuf,
}

impl HostMount {
    /// `mount -t tmpfs tmpfs <target>`.
    #[must_use]
    pub fn tmpfs(target: &Path) -> HostMount {
        std::fs::create_dir_all(target).expect("create mount point");
        mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap_or_else(|e| panic!("mount tmpfs on {}: {e}", target.display()));
        HostMount {
            target: target.to_path_buf(),
        }
    }

    /// `mount --bind <source> <target>`.
    #[must_use]
    pub fn bind(source: &Path, target: &Path) -> HostMount {
        mount(
            Some(source),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap_or_else(|e| panic!("bind {} on {}: {e}", source.display(), target.display()));
        HostMount {
            target: target.to_path_buf(),
        }
    }

    /// `mount --make-shared <target>`.
    pub fn make_shared(&self) -> &Self {
        mount(
            None::<&str>,
            &self.target,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap_or_else(|e| panic!("make-shared {}: {e}", self.target.display()));
        self
    }

    /// The mount point.
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = umount2(&self.target, MntFlags::MNT_DETACH);
    }
}
