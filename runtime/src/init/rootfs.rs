//! The container's filesystem: propagation, the rootfs bind, the spec's mounts, /dev, then
//! pivot_root, masked and read-only paths.

use std::fs;
use std::os::unix::fs::{symlink, DirBuilderExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use super::path::secure_join;
use super::InitError;
use crate::prepare::{InitPlan, MountPlan};

type NoStr = Option<&'static str>;
const NONE: NoStr = None;

fn mount_err(what: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> InitError {
    let what = what.into();
    move |e| InitError::Mount {
        what,
        source: e.into(),
    }
}

fn io_mount_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let what = what.into();
    move |e| InitError::Mount { what, source: e }
}

/// Everything before pivot_root.
pub fn prepare(plan: &InitPlan, in_user_ns: bool) -> Result<(), InitError> {
    // Make our copy of the host's mounts non-shared so nothing we do leaks back.
    mount(NONE, "/", NONE, plan.rootfs_propagation, NONE)
        .map_err(mount_err("set propagation of /"))?;
    // The rootfs must be a mount point for pivot_root, and neither it nor its parent mount may
    // be shared: with a shared rootfsPropagation make the parent mount private first, so the
    // bind below is private too (as runc does).
    let rootfs = plan.rootfs.as_path();
    if plan.rootfs_propagation.contains(MsFlags::MS_SHARED) {
        if let Some(parent) = rootfs.parent().and_then(containing_mount) {
            mount(NONE, &parent, NONE, MsFlags::MS_PRIVATE, NONE)
                .map_err(mount_err(format!("make {} private", parent.display())))?;
        }
    }
    mount(
        Some(rootfs),
        rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .map_err(mount_err(format!("bind rootfs {}", rootfs.display())))?;
    let mut dev_ro = false;
    for m in &plan.mounts {
        if m.destination == "/dev" && m.flags.contains(MsFlags::MS_RDONLY) && !m.bind {
            // /dev is populated below: mount it writable, make it read-only at the end.
            let mut rw = m.clone();
            rw.flags.remove(MsFlags::MS_RDONLY);
            mount_one(plan, &rw, in_user_ns)?;
            dev_ro = true;
        } else {
            mount_one(plan, m, in_user_ns)?;
        }
    }
    create_devices(plan, in_user_ns)?;
    dev_symlinks(plan)?;
    if dev_ro {
        let dev = rootfs.join("dev");
        mount(
            NONE,
            &dev,
            NONE,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            NONE,
        )
        .map_err(mount_err("remount /dev read-only"))?;
    }
    Ok(())
}

fn mount_one(plan: &InitPlan, m: &MountPlan, in_user_ns: bool) -> Result<(), InitError> {
    let dest = secure_join(&plan.rootfs, Path::new(&m.destination))
        .map_err(io_mount_err(format!("resolve {}", m.destination)))?;
    let what = |extra: &str| {
        format!(
            "{} on {}{extra}",
            m.source.as_deref().unwrap_or("none"),
            m.destination
        )
    };
    if m.fstype.as_deref() == Some("cgroup") {
        return mount_cgroup(&dest, m);
    }
    if m.bind {
        let src = m.source.as_deref().unwrap_or_default();
        let md = fs::metadata(src).map_err(io_mount_err(what(" (bind source)")))?;
        create_target(&dest, md.is_dir()).map_err(io_mount_err(what(" (create target)")))?;
        mount(
            Some(src),
            &dest,
            NONE,
            MsFlags::MS_BIND | (m.flags & MsFlags::MS_REC),
            NONE,
        )
        .map_err(mount_err(what("")))?;
        let extra = m.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount(&dest, extra, in_user_ns).map_err(mount_err(what(" (remount)")))?;
        }
    } else {
        create_target(&dest, true).map_err(io_mount_err(what(" (create target)")))?;
        let data = (!m.data.is_empty()).then_some(m.data.as_str());
        let r = mount(
            m.source.as_deref(),
            &dest,
            m.fstype.as_deref(),
            m.flags,
            data,
        );
        match r {
            Ok(()) => {}
            // Without a private network namespace sysfs cannot be mounted: bind the host's.
            Err(nix::errno::Errno::EPERM) if m.fstype.as_deref() == Some("sysfs") => {
                mount(
                    Some("/sys"),
                    &dest,
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    NONE,
                )
                .map_err(mount_err(what(" (bind /sys)")))?;
                if m.flags.contains(MsFlags::MS_RDONLY) {
                    remount(&dest, MsFlags::MS_RDONLY, in_user_ns)
                        .map_err(mount_err(what(" (remount)")))?;
                }
            }
            Err(e) => {
                return Err(InitError::Mount {
                    what: format!(
                        "{} type {}",
                        what(""),
                        m.fstype.as_deref().unwrap_or("none")
                    ),
                    source: e.into(),
                })
            }
        }
    }
    if !m.propagation.is_empty() {
        mount(NONE, &dest, NONE, m.propagation, NONE).map_err(mount_err(what(" (propagation)")))?;
    }
    Ok(())
}

/// Bind-remount with new flags, keeping the flags the kernel locks in a user namespace.
fn remount(dest: &Path, flags: MsFlags, in_user_ns: bool) -> nix::Result<()> {
    let mut keep = MsFlags::empty();
    if in_user_ns {
        if let Ok(st) = nix::sys::statvfs::statvfs(dest) {
            use nix::sys::statvfs::FsFlags as F;
            let f = st.flags();
            for (ff, mf) in [
                (F::ST_NOSUID, MsFlags::MS_NOSUID),
                (F::ST_NODEV, MsFlags::MS_NODEV),
                (F::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (F::ST_NOATIME, MsFlags::MS_NOATIME),
                (F::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                // ST_RELATIME (4096): nix names it for glibc only.
                (F::from_bits_retain(0x1000), MsFlags::MS_RELATIME),
            ] {
                if f.contains(ff) {
                    keep |= mf;
                }
            }
        }
    }
    mount(
        NONE,
        dest,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | keep,
        NONE,
    )
}

fn create_target(dest: &Path, dir: bool) -> std::io::Result<()> {
    if dir {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dest)
    } else {
        if let Some(parent) = dest.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        match fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dest)
        {
            Ok(_) => Ok(()),
            // It exists but we cannot open it for writing (a device, a read-only file): fine.
            Err(_) if dest.exists() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A `cgroup` mount: cgroup2 on a unified host; on v1/hybrid hosts a tmpfs with one cgroup
/// mount per hierarchy the host has (in a cgroup namespace each shows the container's own).
fn mount_cgroup(dest: &Path, m: &MountPlan) -> Result<(), InitError> {
    create_target(dest, true).map_err(io_mount_err(format!("create {}", m.destination)))?;
    let base = m.flags
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME);
    let hierarchies = host_cgroup_mounts();
    let unified_only = hierarchies.iter().all(|(_, fstype, _)| fstype == "cgroup2");
    if unified_only {
        let flags = base | (m.flags & MsFlags::MS_RDONLY);
        match mount(Some("cgroup"), dest, Some("cgroup2"), flags, NONE) {
            Ok(()) => {}
            // /sys bound from the host (no network namespace) already carries the cgroup2
            // mount at this place: EBUSY. Bind the host's hierarchy instead, as runc does.
            Err(nix::errno::Errno::EBUSY) | Err(nix::errno::Errno::EPERM) => {
                mount(
                    Some("/sys/fs/cgroup"),
                    dest,
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    NONE,
                )
                .map_err(mount_err(format!(
                    "bind /sys/fs/cgroup on {}",
                    m.destination
                )))?;
                if m.flags.contains(MsFlags::MS_RDONLY) {
                    let _ = remount(dest, base | MsFlags::MS_RDONLY, true);
                }
            }
            Err(e) => return Err(mount_err(format!("cgroup2 on {}", m.destination))(e)),
        }
        return Ok(());
    }
    mount(Some("tmpfs"), dest, Some("tmpfs"), base, Some("mode=755"))
        .map_err(mount_err(format!("tmpfs on {}", m.destination)))?;
    for (name, fstype, opts) in &hierarchies {
        let sub = dest.join(name);
        create_target(&sub, true).map_err(io_mount_err(format!("create {}", sub.display())))?;
        let data = (!opts.is_empty()).then_some(opts.as_str());
        mount(Some("cgroup"), &sub, Some(fstype.as_str()), base, data)
            .map_err(mount_err(format!("{fstype} {opts} on {}", sub.display())))?;
        // Co-mounted controllers ("cpu,cpuacct") get a link per controller, as on the host.
        if name.contains(',') {
            for part in name.split(',') {
                let _ = symlink(name, dest.join(part));
            }
        }
    }
    if m.flags.contains(MsFlags::MS_RDONLY) {
        for (name, _, _) in &hierarchies {
            let _ = remount(&dest.join(name), base | MsFlags::MS_RDONLY, false);
        }
        mount(
            NONE,
            dest,
            NONE,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
            NONE,
        )
        .map_err(mount_err(format!("remount {} read-only", m.destination)))?;
    }
    Ok(())
}

/// (directory name, fs type, mount data) of the host's cgroup hierarchies.
fn host_cgroup_mounts() -> Vec<(String, String, String)> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or_default();
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or_default();
        let mount_point = left.split(' ').nth(4).unwrap_or_default();
        let Some(name) = mount_point.strip_prefix("/sys/fs/cgroup/") else {
            if mount_point == "/sys/fs/cgroup" {
                out.push((String::new(), fstype.to_string(), String::new()));
            }
            continue;
        };
        if name.contains('/') {
            continue;
        }
        let data = if fstype == "cgroup" {
            super_opts
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro"))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            String::new()
        };
        out.push((name.to_string(), fstype.to_string(), data));
    }
    out.retain(|(n, _, _)| !n.is_empty());
    out
}

fn create_devices(plan: &InitPlan, in_user_ns: bool) -> Result<(), InitError> {
    let dev = plan.rootfs.join("dev");
    if !dev.is_dir() {
        return Ok(());
    }
    let old = nix::sys::stat::umask(Mode::empty());
    let r = (|| {
        for d in &plan.devices {
            let target =
                secure_join(&plan.rootfs, Path::new(&d.path)).map_err(|e| InitError::Device {
                    path: d.path.clone(),
                    source: e,
                })?;
            let err = |e: std::io::Error| InitError::Device {
                path: d.path.clone(),
                source: e,
            };
            if let Some(parent) = target.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(err)?;
            }
            if in_user_ns {
                // mknod is not allowed in a user namespace: bind the host's node instead.
                create_target(&target, false).map_err(|e| InitError::Device {
                    path: d.path.clone(),
                    source: e,
                })?;
                mount(Some(d.path.as_str()), &target, NONE, MsFlags::MS_BIND, NONE).map_err(
                    |e| InitError::Device {
                        path: d.path.clone(),
                        source: e.into(),
                    },
                )?;
                continue;
            }
            let _ = fs::remove_file(&target);
            let perm = Mode::from_bits_truncate(d.mode & 0o7777);
            mknod(&target, d.kind, perm, makedev(d.major, d.minor)).map_err(|e| {
                InitError::Device {
                    path: d.path.clone(),
                    source: e.into(),
                }
            })?;
            nix::unistd::chown(
                &target,
                Some(nix::unistd::Uid::from_raw(d.uid)),
                Some(nix::unistd::Gid::from_raw(d.gid)),
            )
            .map_err(|e| InitError::Device {
                path: d.path.clone(),
                source: e.into(),
            })?;
        }
        Ok(())
    })();
    nix::sys::stat::umask(old);
    let _ = SFlag::S_IFCHR;
    r
}

fn dev_symlinks(plan: &InitPlan) -> Result<(), InitError> {
    let dev = plan.rootfs.join("dev");
    if !dev.is_dir() {
        return Ok(());
    }
    let has_proc = plan
        .mounts
        .iter()
        .any(|m| m.fstype.as_deref() == Some("proc"));
    let mut links: Vec<(&str, &str)> = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if has_proc {
        links.push(("/proc/kcore", "core"));
    }
    if plan.mounts.iter().any(|m| m.destination == "/dev/pts") {
        let ptmx = dev.join("ptmx");
        let _ = fs::remove_file(&ptmx);
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        let p = dev.join(name);
        match symlink(target, &p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(InitError::Device {
                    path: format!("/dev/{name}"),
                    source: e,
                })
            }
        }
    }
    Ok(())
}

/// The mount point that contains `path` (the longest mount point prefix), from our mountinfo.
fn containing_mount(path: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
}

/// pivot_root into the rootfs (or move + chroot with --no-pivot).
pub fn enter(plan: &InitPlan) -> Result<(), InitError> {
    let rootfs = &plan.rootfs;
    let err = |e: nix::errno::Errno| InitError::PivotRoot {
        rootfs: rootfs.display().to_string(),
        source: e.into(),
    };
    nix::unistd::chdir(rootfs).map_err(err)?;
    if plan.no_pivot {
        mount(Some(rootfs.as_path()), "/", NONE, MsFlags::MS_MOVE, NONE).map_err(err)?;
        nix::unistd::chroot(".").map_err(err)?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves
        // only the new root, without needing a directory for the old one.
        nix::unistd::pivot_root(".", ".").map_err(err)?;
        // Keep the unmount from propagating to the host's mounts.
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE).map_err(err)?;
        umount2(".", MntFlags::MNT_DETACH).map_err(err)?;
    }
    nix::unistd::chdir("/").map_err(err)?;
    if plan.propagation_explicit {
        mount(NONE, "/", NONE, plan.rootfs_propagation, NONE)
            .map_err(mount_err("apply rootfsPropagation to /"))?;
    }
    Ok(())
}

/// After pivot_root: masked paths, read-only paths, a read-only root.
pub fn finish(plan: &InitPlan) -> Result<(), InitError> {
    for p in &plan.masked_paths {
        let path = PathBuf::from(p);
        let md = match fs::metadata(&path) {
            Ok(md) => md,
            Err(_) => continue,
        };
        let r = if md.is_dir() {
            mount(
                Some("tmpfs"),
                &path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0k"),
            )
        } else {
            mount(Some("/dev/null"), &path, NONE, MsFlags::MS_BIND, NONE)
        };
        r.map_err(mount_err(format!("mask {p}")))?;
    }
    for p in &plan.readonly_paths {
        let path = Path::new(p);
        if !path.exists() {
            continue;
        }
        mount(
            Some(path),
            path,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .map_err(mount_err(format!("bind {p} read-only")))?;
        remount(path, MsFlags::MS_RDONLY | MsFlags::MS_REC, true)
            .map_err(mount_err(format!("remount {p} read-only")))?;
    }
    if plan.root_readonly {
        remount(Path::new("/"), MsFlags::MS_RDONLY, true)
            .map_err(mount_err("remount / read-only"))?;
    }
    Ok(())
}
