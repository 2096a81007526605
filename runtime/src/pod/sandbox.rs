//! The pod sandbox: pinned IPC and UTS namespaces (the hostname lives there), the network
//! namespace with its veth, IP and port mappings (the netns crate), the pod cgroup that parents
//! every container's, emptyDir volumes. Teardown works from the pod's name alone, so it also
//! cleans up after a crash.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::state::PodDirs;
use super::PodError;

/// The pod cgroup path every container cgroup lives under.
pub fn pod_cgroup_path(name: &str) -> String {
    format!("/podrt/pods/{name}")
}

/// Pin new IPC and UTS namespaces (with the pod's hostname set) at `ns/ipc` and `ns/uts`.
pub fn pin_ipc_uts(dirs: &PodDirs, hostname: &str) -> Result<(), PodError> {
    let nsdir = dirs.ns();
    std::fs::create_dir_all(&nsdir)
        .map_err(super::io_err(format!("create {}", nsdir.display())))?;
    let orig_ipc =
        File::open("/proc/thread-self/ns/ipc").map_err(super::io_err("open own ipc namespace"))?;
    let orig_uts =
        File::open("/proc/thread-self/ns/uts").map_err(super::io_err("open own uts namespace"))?;
    nix::sched::unshare(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS)
        .map_err(|e| super::io_err("unshare ipc+uts namespaces")(e.into()))?;
    let r = (|| -> Result<(), PodError> {
        nix::unistd::sethostname(hostname)
            .map_err(|e| super::io_err(format!("set pod hostname {hostname:?}"))(e.into()))?;
        for kind in ["ipc", "uts"] {
            let pin = nsdir.join(kind);
            File::create(&pin).map_err(super::io_err(format!("create {}", pin.display())))?;
            let src = format!("/proc/thread-self/ns/{kind}");
            mount(
                Some(src.as_str()),
                &pin,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| {
                super::io_err(format!("pin {kind} namespace at {}", pin.display()))(e.into())
            })?;
        }
        Ok(())
    })();
    // Always go back to our own namespaces.
    let back_ipc = nix::sched::setns(&orig_ipc, CloneFlags::CLONE_NEWIPC);
    let back_uts = nix::sched::setns(&orig_uts, CloneFlags::CLONE_NEWUTS);
    r?;
    back_ipc.map_err(|e| super::io_err("return to own ipc namespace")(e.into()))?;
    back_uts.map_err(|e| super::io_err("return to own uts namespace")(e.into()))?;
    Ok(())
}

/// The pod's own mount namespace. Its IPC/UTS pins, the containers' overlay rootfs, /dev/shm and
/// emptyDir tmpfs are mounted here, not in the host's mount namespace: every later container
/// start on the machine copies and walks the caller's whole mount table (clone with
/// CLONE_NEWNS, then the init's rslave and old-root unmount), so each running pod would make
/// every start slower. Only the netns pin, which tools find by path, stays on the host.
///
/// The namespace is a copy of the host's with everything made a slave: host mounts still
/// propagate in, nothing propagates out. Its only member is the pod's supervisor, so when the
/// supervisor dies (even by SIGKILL) the kernel unmounts all of it; the containers run in
/// copies of it made at their clone.
#[derive(Debug)]
pub struct PrivateMounts {
    host: File,
}

impl PrivateMounts {
    /// Leave the caller's mount namespace for a new private one (kept until [`Self::leave`]).
    /// The process must be single-threaded, so that `leave` can come back.
    pub fn enter() -> Result<Self, PodError> {
        let host = File::open("/proc/thread-self/ns/mnt")
            .map_err(super::io_err("open own mount namespace"))?;
        nix::sched::unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| super::io_err("unshare the pod's mount namespace")(e.into()))?;
        if let Err(e) = mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None::<&str>,
        ) {
            // Back to the host's namespace, so that teardown works as without one.
            let _ = nix::sched::setns(&host, CloneFlags::CLONE_NEWNS);
            return Err(super::io_err("make the pod's mounts slaves of the host's")(
                e.into(),
            ));
        }
        Ok(Self { host })
    }

    /// Unmount what the pod mounted under `dir` and return to the host's mount namespace (the
    /// private one ends with it). Teardown then runs as it does after a crash.
    pub fn leave(self, dir: &Path) -> Result<(), PodError> {
        unmount_all_under(dir);
        nix::sched::setns(&self.host, CloneFlags::CLONE_NEWNS)
            .map_err(|e| super::io_err("return to the host's mount namespace")(e.into()))
    }
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .map(PathBuf::from)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v.dedup();
    v
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmount everything at or below `dir` (pins, volumes, container rootfs overlays).
pub fn unmount_all_under(dir: &Path) {
    for _ in 0..4 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return;
        }
        for m in mounts {
            if umount2(&m, MntFlags::empty()).is_err() {
                let _ = umount2(&m, MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Create the emptyDir volumes (a tmpfs for medium Memory) and check hostPath volumes.
pub fn make_volumes(plan: &podrt_pod_spec::SandboxPlan) -> Result<(), PodError> {
    use podrt_pod_spec::HostPathType as T;
    for v in &plan.empty_dirs {
        let dir = &v.path;
        std::fs::create_dir_all(dir)
            .map_err(super::io_err(format!("create volume {}", dir.display())))?;
        if matches!(v.medium, podrt_pod_spec::StorageMedium::Memory) {
            let data = match v.size_limit {
                Some(s) => format!("mode=1777,size={s}"),
                None => "mode=1777".to_string(),
            };
            mount(
                Some("tmpfs"),
                dir,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(data.as_str()),
            )
            .map_err(|e| {
                super::io_err(format!("mount tmpfs volume {}", dir.display()))(e.into())
            })?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777));
        }
    }
    for h in &plan.host_paths {
        let p = &h.path;
        let md = std::fs::metadata(p);
        let fail = |what: &str| {
            Err(PodError::Failed(format!(
                "volume {}: hostPath {} {what}",
                h.volume,
                p.display()
            )))
        };
        use std::os::unix::fs::FileTypeExt;
        match h.kind {
            T::Unset => {}
            T::DirectoryOrCreate if md.is_err() => {
                std::fs::create_dir_all(p)
                    .map_err(super::io_err(format!("create hostPath {}", p.display())))?;
            }
            T::FileOrCreate if md.is_err() => {
                std::fs::File::create(p)
                    .map_err(super::io_err(format!("create hostPath {}", p.display())))?;
            }
            T::Directory if !md.as_ref().is_ok_and(|m| m.is_dir()) => {
                return fail("is not a directory")
            }
            T::File if !md.as_ref().is_ok_and(|m| m.is_file()) => return fail("is not a file"),
            T::Socket if !md.as_ref().is_ok_and(|m| m.file_type().is_socket()) => {
                return fail("is not a socket")
            }
            T::CharDevice if !md.as_ref().is_ok_and(|m| m.file_type().is_char_device()) => {
                return fail("is not a character device")
            }
            T::BlockDevice if !md.as_ref().is_ok_and(|m| m.file_type().is_block_device()) => {
                return fail("is not a block device")
            }
            _ => {}
        }
    }
    Ok(())
}

/// The pod's shared /dev/shm: one tmpfs bound into every container.
pub fn make_shm(dir: &Path) -> Result<(), PodError> {
    std::fs::create_dir_all(dir).map_err(super::io_err(format!("create {}", dir.display())))?;
    mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .map_err(|e| super::io_err(format!("mount shm at {}", dir.display()))(e.into()))
}

/// Create a subPath directory inside its volume without following symlinks out of it.
pub fn make_sub_path(sp: &podrt_pod_spec::SubPathMount) -> Result<(), PodError> {
    let target = crate::init::path::secure_join(&sp.base, Path::new(&sp.sub_path))
        .map_err(super::io_err(format!("resolve subPath {}", sp.sub_path)))?;
    if !target.exists() {
        std::fs::create_dir_all(&target).map_err(super::io_err(format!(
            "create subPath {}",
            target.display()
        )))?;
    }
    Ok(())
}

/// Resolve the image user by name (and groups) in the container's own /etc/passwd and
/// /etc/group, as containerd does.
pub fn resolve_user(
    rootfs: &Path,
    lookup: &podrt_pod_spec::UserLookup,
    spec: &mut oci_spec::runtime::Spec,
) -> Result<(), String> {
    if !lookup.is_needed() {
        return Ok(());
    }
    let read = |f: &str| std::fs::read_to_string(rootfs.join(f)).unwrap_or_default();
    let passwd = read("etc/passwd");
    let group = read("etc/group");
    let pw: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 7)
        .collect();
    let gr: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 4)
        .collect();
    let Some(process) = spec.process_mut() else {
        return Ok(());
    };
    let user = process.user_mut();
    if let Some(name) = &lookup.user_name {
        let e = pw
            .iter()
            .find(|f| f[0] == name)
            .ok_or_else(|| format!("unable to find user {name} in the image's /etc/passwd"))?;
        user.set_uid(
            e[2].parse()
                .map_err(|_| format!("bad uid for user {name}"))?,
        );
        if lookup.group_name.is_none() {
            user.set_gid(
                e[3].parse()
                    .map_err(|_| format!("bad gid for user {name}"))?,
            );
        }
    } else if lookup.gid_from_passwd {
        let uid = user.uid().to_string();
        if let Some(e) = pw.iter().find(|f| f[2] == uid) {
            if let Ok(g) = e[3].parse() {
                user.set_gid(g);
            }
        }
    }
    if let Some(gname) = &lookup.group_name {
        let e = gr
            .iter()
            .find(|f| f[0] == gname)
            .ok_or_else(|| format!("unable to find group {gname} in the image's /etc/group"))?;
        user.set_gid(
            e[2].parse()
                .map_err(|_| format!("bad gid for group {gname}"))?,
        );
    }
    if lookup.merge_image_groups {
        let uid = user.uid();
        let uname = pw
            .iter()
            .find(|f| f[2] == uid.to_string())
            .map(|f| f[0].to_string());
        if let Some(uname) = uname {
            let mut extra = user.additional_gids().clone().unwrap_or_default();
            for g in &gr {
                if g[3].split(',').any(|m| m == uname) {
                    if let Ok(gid) = g[2].parse::<u32>() {
                        if !extra.contains(&gid) && gid != user.gid() {
                            extra.push(gid);
                        }
                    }
                }
            }
            user.set_additional_gids(Some(extra));
        }
    }
    Ok(())
}

/// Create the pod cgroup (containers' cgroups nest under it).
pub fn make_cgroup(name: &str) -> Result<podrt_cgroup::Cgroup, PodError> {
    let layout = podrt_cgroup::Layout::detect()?;
    Ok(podrt_cgroup::Cgroup::create(
        &layout,
        &pod_cgroup_path(name),
        None,
    )?)
}

/// Remove the pod cgroup and podrt's empty parents.
pub fn remove_cgroup(name: &str) {
    if let Ok(layout) = podrt_cgroup::Layout::detect() {
        if let Ok(cg) = podrt_cgroup::Cgroup::open_existing(&layout, &pod_cgroup_path(name)) {
            let _ = crate::container::destroy_cgroup(&cg);
        }
    }
}
