//! Resolve a container path inside the rootfs without letting symlinks escape it.

use std::path::{Component, Path, PathBuf};

/// Join `unsafe_path` onto `root`, resolving symlinks component by component as if `root` were
/// `/`: absolute links restart at `root`, `..` never climbs above it. The result may name a
/// path that does not exist yet (the remaining components are appended as they are).
pub fn secure_join(root: &Path, unsafe_path: &Path) -> std::io::Result<PathBuf> {
    let mut pending: Vec<std::ffi::OsString> = components(unsafe_path);
    pending.reverse();
    let mut resolved = PathBuf::new(); // relative to root
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&full)?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

fn components(p: &Path) -> Vec<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        symlink("/usr/lib", r.join("lib")).unwrap();
        symlink("../../../../etc", r.join("usr/evil")).unwrap();
        symlink("/", r.join("rootlink")).unwrap();
        assert_eq!(
            secure_join(r, Path::new("/lib/x")).unwrap(),
            r.join("usr/lib/x")
        );
        assert_eq!(
            secure_join(r, Path::new("/usr/evil/passwd")).unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(secure_join(r, Path::new("/../../x")).unwrap(), r.join("x"));
        assert_eq!(
            secure_join(r, Path::new("/rootlink/../y")).unwrap(),
            r.join("y")
        );
    }

    #[test]
    fn loops_fail() {
        let t = tempfile::tempdir().unwrap();
        symlink("a", t.path().join("b")).unwrap();
        symlink("b", t.path().join("a")).unwrap();
        assert!(secure_join(t.path(), Path::new("/a/x")).is_err());
    }
}
