//! A container's root filesystem: the image layers stacked read-only with overlayfs under a
//! writable layer that belongs to the container.
//!
//! ```text
//! <container_dir>/upper/    the container's writes (removed with the container)
//! <container_dir>/work/     overlayfs scratch space
//! <container_dir>/rootfs/   the merged view: the container's root
//! ```

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::{ImageError, ImageInfo};

/// The merged root under `container_dir`.
#[must_use]
pub fn merged_dir(container_dir: &Path) -> PathBuf {
    container_dir.join("rootfs")
}

/// The longest mount data the kernel takes (one page, with its final NUL).
const MAX_MOUNT_DATA: usize = 4095;

/// Mounts the image's rootfs for one container: overlayfs with the layers as lowerdirs (top
/// first) and `upper`/`work` under `container_dir`; a `dir:` image is its single lowerdir, so it
/// too gets a private writable layer and is never written to. An image without layers gets an
/// empty lower dir. Returns the merged path (`<container_dir>/rootfs`).
pub fn mount_rootfs(info: &ImageInfo, container_dir: &Path) -> Result<PathBuf, ImageError> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    let merged = merged_dir(container_dir);
    let mkdir = |p: &Path| {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(p)
            .map_err(|source| ImageError::Store {
                path: p.to_path_buf(),
                source,
            })
    };
    mkdir(container_dir)?;
    let mut lowers: Vec<PathBuf> = info.layers.iter().rev().cloned().collect();
    if lowers.is_empty() {
        let empty = container_dir.join("empty");
        mkdir(&empty)?;
        lowers.push(empty);
    }
    for p in lowers.iter().chain([&upper, &work]) {
        let s = p.to_string_lossy();
        if s.contains([',', ':', '\\']) || s.contains('\n') {
            return Err(ImageError::Mount {
                target: merged,
                reason: format!("{s}: overlayfs paths cannot contain ',', ':' or '\\'"),
                source: Errno::EINVAL,
            });
        }
    }
    let lowerdir = lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    if data.len() > MAX_MOUNT_DATA {
        return Err(ImageError::Mount {
            target: merged,
            reason: format!(
                "{} layers make {} bytes of mount options, more than the kernel's {MAX_MOUNT_DATA} \
                 (a shorter --image-store path helps)",
                lowers.len(),
                data.len()
            ),
            source: Errno::E2BIG,
        });
    }
    for d in [&upper, &work, &merged] {
        mkdir(d)?;
    }
    // The merged root takes the upper dir's owner and mode: 0755 whatever the umask.
    fs::set_permissions(&upper, fs::Permissions::from_mode(0o755)).map_err(|source| {
        ImageError::Store {
            path: upper.clone(),
            source,
        }
    })?;
    tracing::debug!(target = %merged.display(), layers = lowers.len(), "mount overlay rootfs");
    if let Err(e) = mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    ) {
        let _ = remove_layer_dirs(container_dir);
        return Err(ImageError::Mount {
            target: merged,
            reason: format!("mount overlay ({} layers)", lowers.len()),
            source: e,
        });
    }
    Ok(merged)
}

fn is_mountpoint(path: &Path) -> io::Result<bool> {
    let parent = path.parent().unwrap_or(path);
    Ok(fs::symlink_metadata(path)?.dev() != fs::symlink_metadata(parent)?.dev())
}

/// Undoes [`mount_rootfs`]: unmounts the merged dir (lazily when busy) and removes `upper`,
/// `work` and the merged dir. Idempotent: what is already gone is fine. The merged dir is only
/// ever `rmdir`ed, so a mount that refuses to go cannot take the image with it.
pub fn unmount_rootfs(container_dir: &Path) -> Result<(), ImageError> {
    let merged = merged_dir(container_dir);
    let umount_err = |e: Errno| ImageError::Unmount {
        target: merged.clone(),
        source: e,
    };
    // Unmount until nothing is mounted there (a stacked mount goes too).
    for _ in 0..8 {
        match is_mountpoint(&merged) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(umount_err(Errno::from_raw(e.raw_os_error().unwrap_or(0)))),
        }
        match umount2(&merged, MntFlags::empty()) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(Errno::EBUSY) => {
                tracing::debug!(target = %merged.display(), "rootfs busy: lazy unmount");
                umount2(&merged, MntFlags::MNT_DETACH).map_err(umount_err)?;
            }
            Err(e) => return Err(umount_err(e)),
        }
    }
    remove_layer_dirs(container_dir)
}

fn remove_layer_dirs(container_dir: &Path) -> Result<(), ImageError> {
    let merged = merged_dir(container_dir);
    match fs::remove_dir(&merged) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ImageError::Store {
                path: merged,
                source,
            })
        }
    }
    for d in ["upper", "work", "empty"] {
        let p = container_dir.join(d);
        match fs::remove_dir_all(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(ImageError::Store { path: p, source }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{root, write_layout, Comp, LayerTar};
    use super::super::Store;
    use super::*;

    fn mounted_under(dir: &Path) -> bool {
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let d = dir.display().to_string();
        text.lines().any(|l| l.contains(&d))
    }

    #[test]
    fn overlay_shows_whiteouts_and_opaque_dirs() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let layout = t.path().join("layout");
        let base = LayerTar::new()
            .dir("./", 0o755)
            .file("etc/keep", b"keep")
            .file("etc/gone", b"gone")
            .file("data/old/a", b"a")
            .file("data/old/b", b"b")
            .build();
        let top = LayerTar::new()
            .file("etc/.wh.gone", b"")
            .file("data/old/.wh..wh..opq", b"")
            .file("data/old/new", b"new")
            .build();
        write_layout(
            &layout,
            "latest",
            &[(base, Comp::Gzip), (top, Comp::Gzip)],
            &["sh"],
        );
        let info = store.import(&format!("oci:{}", layout.display())).unwrap();

        let c = t.path().join("c1");
        let merged = mount_rootfs(&info, &c).unwrap();
        let check = || {
            assert!(merged.join("etc/keep").exists());
            assert!(!merged.join("etc/gone").exists());
            let mut old: Vec<String> = fs::read_dir(merged.join("data/old"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            old.sort();
            assert_eq!(old, ["new"]);
        };
        check();
        // Writes land in the container's upper layer, never in the store.
        fs::write(merged.join("etc/keep"), b"changed").unwrap();
        fs::remove_file(merged.join("data/old/new")).unwrap();
        assert_eq!(fs::read(info.layers[0].join("etc/keep")).unwrap(), b"keep");
        assert!(info.layers[1].join("data/old/new").exists());
        assert!(c.join("upper/etc/keep").exists());

        // A second container on the same layers sees the pristine image.
        let c2 = t.path().join("c2");
        let merged2 = mount_rootfs(&info, &c2).unwrap();
        assert_eq!(fs::read(merged2.join("etc/keep")).unwrap(), b"keep");
        unmount_rootfs(&c2).unwrap();

        unmount_rootfs(&c).unwrap();
        unmount_rootfs(&c).unwrap(); // idempotent
        assert!(!mounted_under(t.path()));
        assert!(!c.join("upper").exists() && !c.join("rootfs").exists());
        assert!(info.layers[1].join("data/old/new").exists());
    }

    #[test]
    fn rootfs_dir_gets_a_private_writable_layer() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let rootfs = t.path().join("rootfs-src");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::write(rootfs.join("etc/hostname"), b"orig").unwrap();
        let store = Store::open(&t.path().join("store")).unwrap();
        let info = store.resolve(&format!("dir:{}", rootfs.display())).unwrap();
        assert_eq!(info.layers, vec![rootfs.clone()]);
        let c = t.path().join("c");
        let merged = mount_rootfs(&info, &c).unwrap();
        fs::write(merged.join("etc/hostname"), b"changed").unwrap();
        assert_eq!(fs::read(rootfs.join("etc/hostname")).unwrap(), b"orig");
        unmount_rootfs(&c).unwrap();
        assert!(!mounted_under(t.path()));
        assert_eq!(fs::read(rootfs.join("etc/hostname")).unwrap(), b"orig");
    }

    #[test]
    fn image_without_layers_mounts_empty() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let info = ImageInfo {
            name: "empty".into(),
            names: Vec::new(),
            digest: String::new(),
            layers: Vec::new(),
            config: super::super::ImageConfig::default(),
            imported: None,
        };
        let c = t.path().join("c");
        let merged = mount_rootfs(&info, &c).unwrap();
        assert_eq!(fs::read_dir(&merged).unwrap().count(), 0);
        assert_eq!(fs::metadata(&merged).unwrap().mode() & 0o7777, 0o755);
        unmount_rootfs(&c).unwrap();
        assert!(!c.join("empty").exists());
        assert!(!mounted_under(t.path()));
    }
}
