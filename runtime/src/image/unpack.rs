//! Unpacking one layer tar into an empty directory without ever touching anything outside it.
//!
//! Every entry is created relative to a directory fd that was reached from the layer's root one
//! component at a time with `O_NOFOLLOW | O_DIRECTORY`: a symlink (from an earlier entry or
//! anywhere else) in a parent position is an error, never followed. Absolute names and `..` are
//! refused; hard links must name an earlier entry of the same layer; device nodes are not
//! created, except overlayfs whiteouts (char 0:0). OCI whiteouts become what overlayfs reads:
//! `.wh.NAME` a char 0:0 device `NAME`, `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on
//! its directory. Owners, modes (setuid included), mtimes and xattrs come from the tar.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use super::ImageError;

/// What one layer held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries written (whiteouts included).
    pub entries: u64,
    /// Bytes of regular file content.
    pub bytes: u64,
    /// Entries left out on purpose (device nodes), as `path (reason)`.
    pub skipped: Vec<String>,
}

/// `trusted.overlay.opaque`: overlayfs hides the lower layers' content of a dir carrying it.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// Metadata of one entry, as the tar (and its PAX records) gives it.
#[derive(Debug)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Unpacks the tar stream `reader` into `dest` (an existing, empty directory). `layer` names the
/// layer in errors.
pub fn unpack_layer(
    reader: impl Read,
    dest: &Path,
    layer: &str,
) -> Result<UnpackStats, ImageError> {
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::Store {
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    // The layer root is 0755 unless the tar says otherwise (`./`), whatever the umask.
    rfs::fchmod(&root, Mode::from_raw_mode(0o755)).map_err(|e| ImageError::Store {
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let mut u = Unpacker {
        root,
        layer,
        stats: UnpackStats::default(),
        dirs: Vec::new(),
        cached_parent: None,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| u.io_err("", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| u.io_err("", e))?;
        u.entry(entry)?;
    }
    u.finish_dirs()?;
    Ok(u.stats)
}

struct Unpacker<'a> {
    root: OwnedFd,
    layer: &'a str,
    stats: UnpackStats,
    /// Directories whose mtime is set at the end (writing into a dir changes its mtime).
    dirs: Vec<(Vec<Vec<u8>>, i64)>,
    /// The parent dir of the previous regular file: most entries share it.
    cached_parent: Option<(Vec<Vec<u8>>, OwnedFd)>,
}

/// Splits a tar member name into components: `./a//b/` → `[a, b]`. Refuses absolute names and
/// `..` anywhere.
fn components(name: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    if name.first() == Some(&b'/') {
        return Err("absolute path");
    }
    let mut out = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains .."),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn display(comps: &[Vec<u8>]) -> String {
    let joined: Vec<u8> = comps.join(&b'/');
    String::from_utf8_lossy(&joined).into_owned()
}

fn os(c: &[u8]) -> &OsStr {
    OsStr::from_bytes(c)
}

fn is_whiteout_device(kind: FileType, major: u32, minor: u32) -> bool {
    kind == FileType::CharacterDevice && major == 0 && minor == 0
}

impl Unpacker<'_> {
    fn io_err(&self, entry: &str, source: io::Error) -> ImageError {
        ImageError::Unpack {
            layer: self.layer.to_string(),
            entry: entry.to_string(),
            source,
        }
    }

    fn refuse(&self, entry: &str, reason: impl Into<String>) -> ImageError {
        ImageError::UnsafeEntry {
            layer: self.layer.to_string(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    /// Opens the directory `comps` below the root without following any symlink, creating
    /// missing components (0755, root-owned) when `create`.
    fn open_dir(
        &self,
        comps: &[Vec<u8>],
        create: bool,
        entry: &str,
    ) -> Result<OwnedFd, ImageError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut cur = rfs::openat(&self.root, ".", flags, Mode::empty())
            .map_err(|e| self.io_err(entry, e.into()))?;
        for (i, c) in comps.iter().enumerate() {
            let next = match rfs::openat(&cur, os(c), flags, Mode::empty()) {
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(&cur, os(c), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.io_err(entry, e.into())),
                    }
                    // 0755 whatever the umask: non-root container users must get through.
                    rfs::openat(&cur, os(c), flags, Mode::empty()).and_then(|fd| {
                        rfs::fchmod(&fd, Mode::from_raw_mode(0o755))?;
                        Ok(fd)
                    })
                }
                r => r,
            };
            cur = match next {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(self.refuse(
                        entry,
                        format!(
                            "its parent {} is a symlink or not a directory (podrt never \
                             follows links while unpacking)",
                            display(&comps[..=i])
                        ),
                    ))
                }
                Err(e) => return Err(self.io_err(entry, e.into())),
            };
        }
        Ok(cur)
    }

    /// Removes whatever `name` is in `parent` (a dir recursively), so the entry can replace it.
    fn remove_existing(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        entry: &str,
    ) -> Result<(), ImageError> {
        let st = match rfs::statat(parent, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io_err(entry, e.into())),
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let dir = rfs::openat(
                parent,
                os(name),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.io_err(entry, e.into()))?;
            remove_contents(dir.as_fd()).map_err(|e| self.io_err(entry, e))?;
            rfs::unlinkat(parent, os(name), AtFlags::REMOVEDIR)
        } else {
            rfs::unlinkat(parent, os(name), AtFlags::empty())
        }
        .map_err(|e| self.io_err(entry, e.into()))
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), ImageError> {
        let raw_name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        let comps = components(&raw_name).map_err(|r| self.refuse(&shown, r))?;
        let meta = read_meta(&mut entry).map_err(|e| self.io_err(&shown, e))?;
        let kind = entry.header().entry_type();
        self.stats.entries += 1;

        let Some((name, parent_comps)) = comps.split_last() else {
            // `./`: the layer's root directory itself.
            if kind.is_dir() {
                let root = rfs::openat(
                    &self.root,
                    ".",
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.io_err(&shown, e.into()))?;
                self.apply_meta_fd(root.as_fd(), &meta, false, &shown)?;
                self.dirs.push((Vec::new(), meta.mtime));
            }
            return Ok(());
        };

        // OCI whiteouts.
        if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
            self.cached_parent = None;
            let parent = self.open_dir(parent_comps, true, &shown)?;
            if name.as_slice() == OPAQUE_MARKER {
                rfs::fsetxattr(&parent, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| self.io_err(&shown, e.into()))?;
            } else if target.starts_with(WHITEOUT_PREFIX) {
                // Other `.wh..wh.` names are aufs bookkeeping with no meaning here.
                self.stats.skipped.push(format!("{shown} (aufs metadata)"));
            } else if target.is_empty() || target == b"." || target == b".." {
                return Err(self.refuse(&shown, "whiteout of an invalid name"));
            } else {
                self.whiteout(parent.as_fd(), target, &shown)?;
            }
            return Ok(());
        }

        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let parent = match self.cached_parent.take() {
                    Some((c, fd)) if c.as_slice() == parent_comps => fd,
                    _ => self.open_dir(parent_comps, true, &shown)?,
                };
                self.regular(parent.as_fd(), name, &mut entry, &meta, &shown)?;
                self.cached_parent = Some((parent_comps.to_vec(), parent));
            }
            T::Directory => {
                self.cached_parent = None;
                let parent = self.open_dir(parent_comps, true, &shown)?;
                let existing = rfs::statat(&parent, os(name), AtFlags::SYMLINK_NOFOLLOW);
                let is_dir = existing
                    .as_ref()
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
                if !is_dir {
                    self.remove_existing(parent.as_fd(), name, &shown)?;
                    rfs::mkdirat(&parent, os(name), Mode::from_raw_mode(0o700))
                        .map_err(|e| self.io_err(&shown, e.into()))?;
                }
                let dir = rfs::openat(
                    &parent,
                    os(name),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.io_err(&shown, e.into()))?;
                self.apply_meta_fd(dir.as_fd(), &meta, false, &shown)?;
                self.dirs.push((comps.clone(), meta.mtime));
            }
            T::Symlink => {
                self.cached_parent = None;
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .ok_or_else(|| self.refuse(&shown, "symlink without a target"))?;
                let parent = self.open_dir(parent_comps, true, &shown)?;
                self.remove_existing(parent.as_fd(), name, &shown)?;
                rfs::symlinkat(os(&target), &parent, os(name))
                    .map_err(|e| self.io_err(&shown, e.into()))?;
                self.apply_meta_at(parent.as_fd(), name, &meta, &shown)?;
            }
            T::Link => {
                self.cached_parent = None;
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .ok_or_else(|| self.refuse(&shown, "hard link without a target"))?;
                self.hardlink(parent_comps, name, &target, &shown)?;
            }
            T::Char | T::Block | T::Fifo => {
                self.cached_parent = None;
                let (major, minor) = (
                    entry.header().device_major().ok().flatten().unwrap_or(0),
                    entry.header().device_minor().ok().flatten().unwrap_or(0),
                );
                let parent = self.open_dir(parent_comps, true, &shown)?;
                let ft = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if ft == FileType::Fifo {
                    self.remove_existing(parent.as_fd(), name, &shown)?;
                    rfs::mknodat(
                        &parent,
                        os(name),
                        FileType::Fifo,
                        Mode::from_raw_mode(0o600),
                        0,
                    )
                    .map_err(|e| self.io_err(&shown, e.into()))?;
                    self.apply_meta_at(parent.as_fd(), name, &meta, &shown)?;
                } else if is_whiteout_device(ft, major, minor) {
                    self.whiteout(parent.as_fd(), name, &shown)?;
                } else {
                    self.stats.entries -= 1;
                    tracing::warn!(layer = self.layer, entry = %shown, "device node {major}:{minor} not created");
                    self.stats
                        .skipped
                        .push(format!("{shown} (device {major}:{minor})"));
                }
            }
            other => {
                // PAX and GNU headers are consumed by the tar crate; anything else is unknown.
                self.stats.entries -= 1;
                tracing::debug!(layer = self.layer, entry = %shown, "skipping tar entry of type {other:?}");
            }
        }
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        content: &mut tar::Entry<'_, R>,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ImageError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rfs::openat(parent, os(name), flags, Mode::from_raw_mode(0o600)) {
            Err(Errno::EXIST) => {
                self.remove_existing(parent, name, shown)?;
                rfs::openat(parent, os(name), flags, Mode::from_raw_mode(0o600))
            }
            r => r,
        }
        .map_err(|e| self.io_err(shown, e.into()))?;
        let mut file = File::from(fd);
        let n = io::copy(content, &mut file).map_err(|e| self.io_err(shown, e))?;
        self.stats.bytes += n;
        self.apply_meta_fd(file.as_fd(), meta, true, shown)
    }

    /// An overlayfs whiteout: a char 0:0 device named `name`, root-owned, mode 0.
    fn whiteout(&self, parent: BorrowedFd<'_>, name: &[u8], shown: &str) -> Result<(), ImageError> {
        self.remove_existing(parent, name, shown)?;
        rfs::mknodat(
            parent,
            os(name),
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        )
        .map_err(|e| self.io_err(shown, e.into()))
    }

    fn hardlink(
        &self,
        parent_comps: &[Vec<u8>],
        name: &[u8],
        target: &[u8],
        shown: &str,
    ) -> Result<(), ImageError> {
        let tcomps =
            components(target).map_err(|r| self.refuse(shown, format!("hard link target: {r}")))?;
        let Some((tname, tparent_comps)) = tcomps.split_last() else {
            return Err(self.refuse(shown, "hard link to the layer root"));
        };
        let tparent = self
            .open_dir(tparent_comps, false, shown)
            .map_err(|e| match e {
                ImageError::Unpack { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                    self.refuse(
                        shown,
                        format!("hard link target {} is not in this layer", display(&tcomps)),
                    )
                }
                e => e,
            })?;
        match rfs::statat(&tparent, os(tname), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(self.refuse(shown, "hard link to a directory"))
            }
            Ok(_) => {}
            Err(Errno::NOENT) => {
                return Err(self.refuse(
                    shown,
                    format!("hard link target {} is not in this layer", display(&tcomps)),
                ))
            }
            Err(e) => return Err(self.io_err(shown, e.into())),
        }
        let parent = self.open_dir(parent_comps, true, shown)?;
        if tparent_comps == parent_comps && tname.as_slice() == name {
            return Ok(()); // a link to itself: nothing to do
        }
        self.remove_existing(parent.as_fd(), name, shown)?;
        rfs::linkat(&tparent, os(tname), &parent, os(name), AtFlags::empty())
            .map_err(|e| self.io_err(shown, e.into()))
    }

    /// Owner, then mode (chown clears setuid bits), then xattrs (chown clears
    /// `security.capability`), then times.
    fn apply_meta_fd(
        &self,
        fd: BorrowedFd<'_>,
        meta: &Meta,
        times: bool,
        shown: &str,
    ) -> Result<(), ImageError> {
        let err = |e: Errno| self.io_err(shown, e.into());
        rfs::fchown(
            fd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(err)?;
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(err)?;
        for (name, value) in &meta.xattrs {
            if name.starts_with("trusted.overlay.") {
                // overlayfs' own metadata (redirects, origins, metacopy) is not content: a
                // layer states opaque dirs and deletions with OCI whiteouts only.
                tracing::warn!(layer = self.layer, entry = shown, "ignoring xattr {name}");
                continue;
            }
            match rfs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
                Ok(()) => {}
                // A filesystem without that namespace (say, no trusted.* support): not fatal.
                Err(Errno::OPNOTSUPP | Errno::PERM) => {
                    tracing::debug!(layer = self.layer, entry = shown, "xattr {name} not set")
                }
                Err(e) => return Err(err(e)),
            }
        }
        if times {
            rfs::futimens(fd, &timestamps(meta.mtime)).map_err(err)?;
        }
        Ok(())
    }

    /// Owner and times of a symlink or fifo, without following it.
    fn apply_meta_at(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ImageError> {
        let err = |e: Errno| self.io_err(shown, e.into());
        rfs::chownat(
            parent,
            os(name),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(err)?;
        let st = rfs::statat(parent, os(name), AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            rfs::chmodat(
                parent,
                os(name),
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )
            .map_err(err)?;
        }
        rfs::utimensat(
            parent,
            os(name),
            &timestamps(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(err)
    }

    /// Directory mtimes, deepest first, once nothing more is written into them.
    fn finish_dirs(&mut self) -> Result<(), ImageError> {
        let dirs = std::mem::take(&mut self.dirs);
        for (comps, mtime) in dirs.iter().rev() {
            let shown = display(comps);
            // A dir replaced by a later entry is gone or no longer a dir: skip it.
            let Ok(fd) = self.open_dir(comps, false, &shown) else {
                continue;
            };
            rfs::futimens(&fd, &timestamps(*mtime)).map_err(|e| self.io_err(&shown, e.into()))?;
        }
        Ok(())
    }
}

fn timestamps(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let mut meta = Meta {
        mode: h.mode()? & 0o7777,
        uid: u32::try_from(h.uid()?).unwrap_or(u32::MAX - 1),
        gid: u32::try_from(h.gid()?).unwrap_or(u32::MAX - 1),
        mtime: i64::try_from(h.mtime()?).unwrap_or(0),
        xattrs: Vec::new(),
    };
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let number = || {
                std::str::from_utf8(value)
                    .ok()
                    .map(|v| v.split('.').next().unwrap_or(v).to_string())
            };
            match key {
                "uid" => meta.uid = number().and_then(|v| v.parse().ok()).unwrap_or(meta.uid),
                "gid" => meta.gid = number().and_then(|v| v.parse().ok()).unwrap_or(meta.gid),
                "mtime" => meta.mtime = number().and_then(|v| v.parse().ok()).unwrap_or(meta.mtime),
                k => {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        meta.xattrs.push((name.to_string(), value.to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

/// Empties the directory `dir` without following symlinks (`std::fs::remove_dir_all` needs a
/// path; this works on the fd we reached safely).
fn remove_contents(dir: BorrowedFd<'_>) -> io::Result<()> {
    let mut names = Vec::new();
    for e in rfs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push((n.to_vec(), e.file_type()));
        }
    }
    for (n, mut ft) in names {
        if ft == FileType::Unknown {
            let st = rfs::statat(dir, os(&n), AtFlags::SYMLINK_NOFOLLOW)?;
            ft = FileType::from_raw_mode(st.st_mode);
        }
        if ft == FileType::Directory {
            let sub = rfs::openat(
                dir,
                os(&n),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            remove_contents(sub.as_fd())?;
            rfs::unlinkat(dir, os(&n), AtFlags::REMOVEDIR)?;
        } else {
            rfs::unlinkat(dir, os(&n), AtFlags::empty())?;
        }
    }
    Ok(())
}

/// A temp dir name beside `final_dir` for unpacking (unique per process and call).
pub fn temp_dir_for(final_dir: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = final_dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    final_dir.with_file_name(format!(
        ".tmp-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};

    use super::super::testutil::{root, LayerTar};
    use super::*;

    fn unpack(tar: &[u8]) -> (tempfile::TempDir, Result<UnpackStats, ImageError>) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("layer");
        fs::create_dir(&dest).unwrap();
        let r = unpack_layer(tar, &dest, "test layer");
        (dir, r)
    }

    #[test]
    fn unpacks_files_links_and_metadata() {
        if !root() {
            return;
        }
        let tar = LayerTar::new()
            .dir("./", 0o755)
            .dir("bin/", 0o755)
            .file_with("bin/su", b"setuid", 0o4755, 0, 0)
            .file_with("home/u/f", b"owned", 0o640, 1000, 1001)
            .file_xattr("bin/ping", b"ping", &[("security.capability", b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), ("user.note", b"hi")])
            .symlink("bin/sh", "/bin/busybox")
            .hardlink("bin/su2", "bin/su")
            .device("dev/null", 1, 3)
            .build();
        let (dir, r) = unpack(&tar);
        let stats = r.unwrap();
        let l = dir.path().join("layer");
        let su = fs::metadata(l.join("bin/su")).unwrap();
        assert_eq!(su.mode() & 0o7777, 0o4755);
        assert_eq!(su.mtime(), 1_600_000_000);
        assert_eq!(su.nlink(), 2);
        assert_eq!(su.ino(), fs::metadata(l.join("bin/su2")).unwrap().ino());
        // Implicit parents are 0755 whatever the umask.
        assert_eq!(
            fs::metadata(l.join("home/u")).unwrap().mode() & 0o7777,
            0o755
        );
        let f = fs::metadata(l.join("home/u/f")).unwrap();
        assert_eq!((f.uid(), f.gid(), f.mode() & 0o777), (1000, 1001, 0o640));
        assert_eq!(
            fs::read_link(l.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(fs::metadata(l.join("bin")).unwrap().mtime(), 1_600_000_000);
        let mut buf = vec![0u8; 64];
        let n = rfs::getxattr(l.join("bin/ping"), "user.note", &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert!(rfs::getxattr(l.join("bin/ping"), "security.capability", &mut buf).is_ok());
        // Device nodes other than whiteouts are left out, and said so.
        assert!(!l.join("dev/null").exists());
        assert_eq!(stats.skipped, vec!["dev/null (device 1:3)".to_string()]);
        assert_eq!(stats.bytes, 6 + 5 + 4);
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        if !root() {
            return;
        }
        let tar = LayerTar::new()
            .file("etc/.wh.gone", b"")
            .file("data/.wh..wh..opq", b"")
            .file("data/new", b"n")
            .device("var/wh", 0, 0)
            .build();
        let (dir, r) = unpack(&tar);
        r.unwrap();
        let l = dir.path().join("layer");
        let wh = fs::symlink_metadata(l.join("etc/gone")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert!(!l.join("etc/.wh.gone").exists());
        assert!(fs::symlink_metadata(l.join("var/wh"))
            .unwrap()
            .file_type()
            .is_char_device());
        let mut v = [0u8; 4];
        let n = rfs::getxattr(l.join("data"), OPAQUE_XATTR, &mut v).unwrap();
        assert_eq!(&v[..n], b"y");
        assert!(!l.join("data/.wh..wh..opq").exists());
        assert!(l.join("data/new").exists());
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        if !root() {
            return;
        }
        let tar = LayerTar::new()
            .symlink("a", "/etc")
            .file("a", b"now a file")
            .dir("d/sub/", 0o755)
            .file("d/sub/x", b"x")
            .file("d", b"now a file too")
            .file("f", b"1")
            .file("f", b"2")
            .build();
        let (dir, r) = unpack(&tar);
        r.unwrap();
        let l = dir.path().join("layer");
        assert_eq!(fs::read(l.join("a")).unwrap(), b"now a file");
        assert_eq!(fs::read(l.join("d")).unwrap(), b"now a file too");
        assert_eq!(fs::read(l.join("f")).unwrap(), b"2");
    }

    #[test]
    fn refuses_escapes() {
        let pid = std::process::id();
        let outside = std::env::temp_dir().join(format!("podrt-unpack-escape-{pid}"));
        fs::create_dir_all(&outside).unwrap();
        let o = outside.display().to_string();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "dotdot",
                LayerTar::new().file("../escape", b"x").build(),
                "contains ..",
            ),
            (
                "nested dotdot",
                LayerTar::new().file("a/../../escape", b"x").build(),
                "contains ..",
            ),
            (
                "absolute",
                LayerTar::new().file(&format!("{o}/abs"), b"x").build(),
                "absolute",
            ),
            (
                "through symlink",
                LayerTar::new()
                    .symlink("evil", &o)
                    .file("evil/x", b"x")
                    .build(),
                "symlink",
            ),
            (
                "through nested symlink",
                LayerTar::new()
                    .dir("d/", 0o755)
                    .symlink("d/l", &o)
                    .dir("d/l/sub/", 0o755)
                    .build(),
                "symlink",
            ),
            (
                "whiteout through symlink",
                LayerTar::new()
                    .symlink("evil", &o)
                    .file("evil/.wh.x", b"")
                    .build(),
                "symlink",
            ),
            (
                "hardlink outside",
                LayerTar::new()
                    .hardlink("passwd", "../../../../etc/passwd")
                    .build(),
                "contains ..",
            ),
            (
                "hardlink absolute",
                LayerTar::new().hardlink("passwd", "/etc/passwd").build(),
                "absolute",
            ),
            (
                "hardlink through symlink",
                LayerTar::new()
                    .symlink("etc", "/etc")
                    .hardlink("passwd", "etc/passwd")
                    .build(),
                "symlink",
            ),
            (
                "hardlink missing",
                LayerTar::new().hardlink("x", "nothere").build(),
                "not in this layer",
            ),
        ];
        for (what, tar, reason) in cases {
            let (dir, r) = unpack(&tar);
            match r {
                Err(ImageError::UnsafeEntry { reason: got, .. }) => {
                    assert!(got.contains(reason), "{what}: {got}")
                }
                other => panic!("{what}: expected a refusal, got {other:?}"),
            }
            drop(dir);
            let left: Vec<_> = fs::read_dir(&outside).unwrap().collect();
            assert!(left.is_empty(), "{what}: something escaped: {left:?}");
        }
        assert!(!std::env::temp_dir().join("escape").exists());
        fs::remove_dir(&outside).unwrap();
    }

    #[test]
    fn components_are_clean() {
        assert_eq!(
            components(b"./a//b/").unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert!(components(b"./").unwrap().is_empty());
        assert!(components(b"/x").is_err());
        assert!(components(b"a/..").is_err());
    }
}
