//! Where the cgroup hierarchies are mounted, read from `/proc/self/mountinfo`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{fsio, Error};

/// The cgroup setup of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Pure cgroup v2: one cgroup2 mount carries every controller.
    Unified,
    /// v1 controller hierarchies plus a cgroup2 mount (usually `/sys/fs/cgroup/unified`) that
    /// carries the controllers not bound to v1 (often none, on some hosts `hugetlb`).
    Hybrid,
    /// cgroup v1 only.
    Legacy,
}

/// v1 controllers this crate knows; anything else in a cgroup mount's options is a mount option.
pub(crate) const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Where the hierarchy is mounted.
    pub(crate) mountpoint: PathBuf,
    /// Which cgroup of the hierarchy the mount shows (field 4 of mountinfo); `/` normally.
    pub(crate) root: String,
}

impl Mount {
    /// The directory of the cgroup `components` (an absolute cgroup path, split) in this mount.
    pub(crate) fn dir_of(&self, components: &[String]) -> PathBuf {
        let root: Vec<&str> = self.root.split('/').filter(|c| !c.is_empty()).collect();
        // A mount of a sub-cgroup (bind mount, container without cgroupns): paths under the
        // mount's root are shown relative to it.
        let rest = if !root.is_empty()
            && components.len() >= root.len()
            && components.iter().zip(&root).all(|(a, b)| a == b)
        {
            &components[root.len()..]
        } else {
            components
        };
        let mut dir = self.mountpoint.clone();
        dir.extend(rest);
        dir
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Hierarchy {
    pub(crate) mount: Mount,
    /// Controllers bound to this hierarchy, for example `["cpu", "cpuacct"]`.
    pub(crate) controllers: Vec<String>,
}

/// The cgroup mounts of a host: v1 hierarchies that carry controllers and the cgroup2 mount.
/// Named v1 hierarchies without controllers (`name=systemd`) are ignored.
#[derive(Debug, Clone)]
pub struct Layout {
    pub(crate) v1: Vec<V1Hierarchy>,
    pub(crate) unified: Option<Mount>,
}

impl Layout {
    /// Read `/proc/self/mountinfo`.
    pub fn detect() -> Result<Layout, Error> {
        let text = fsio::read_path(Path::new("/proc/self/mountinfo"))?;
        Layout::from_mountinfo(&text)
    }

    /// Parse the text of a mountinfo file. A later mount on the same mountpoint hides an
    /// earlier one; of several mounts of the same v1 hierarchy the first is used.
    pub fn from_mountinfo(text: &str) -> Result<Layout, Error> {
        let mut v1: Vec<V1Hierarchy> = Vec::new();
        let mut unified: Option<Mount> = None;
        for (idx, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: &str| Error::ParseMountinfo {
                line: idx + 1,
                reason: reason.into(),
            };
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 10 {
                return Err(bad("fewer than 10 fields"));
            }
            let sep = fields[6..].iter().position(|f| *f == "-").map(|p| p + 6);
            let sep = sep.ok_or_else(|| bad("no \" - \" separator"))?;
            if fields.len() < sep + 4 {
                return Err(bad("missing fields after the separator"));
            }
            let fstype = fields[sep + 1];
            if fstype != "cgroup" && fstype != "cgroup2" {
                // Still drop anything this mount hides.
                let mp = PathBuf::from(unescape(fields[4]));
                v1.retain(|h| h.mount.mountpoint != mp);
                if unified.as_ref().is_some_and(|u| u.mountpoint == mp) {
                    unified = None;
                }
                continue;
            }
            let mount = Mount {
                mountpoint: PathBuf::from(unescape(fields[4])),
                root: unescape(fields[3]),
            };
            v1.retain(|h| h.mount.mountpoint != mount.mountpoint);
            if fstype == "cgroup2" {
                // Prefer the conventional location if there are several.
                let keep_old = unified.as_ref().is_some_and(|u| {
                    u.mountpoint != mount.mountpoint
                        && (u.mountpoint == Path::new("/sys/fs/cgroup")
                            || (u.mountpoint == Path::new("/sys/fs/cgroup/unified")
                                && mount.mountpoint != Path::new("/sys/fs/cgroup")))
                });
                if !keep_old {
                    unified = Some(mount);
                }
                continue;
            }
            if unified
                .as_ref()
                .is_some_and(|u| u.mountpoint == mount.mountpoint)
            {
                unified = None;
            }
            let controllers: Vec<String> = fields[sep + 3]
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o))
                .map(str::to_string)
                .collect();
            if controllers.is_empty() {
                continue; // name=systemd and friends
            }
            if v1.iter().any(|h| h.controllers == controllers) {
                continue; // a second mount of the same hierarchy
            }
            v1.push(V1Hierarchy { mount, controllers });
        }
        if v1.is_empty() && unified.is_none() {
            return Err(Error::Unsupported {
                what: "no cgroup filesystem is mounted".into(),
            });
        }
        Ok(Layout { v1, unified })
    }

    /// Which of the three setups this is.
    pub fn mode(&self) -> Mode {
        match (self.v1.is_empty(), self.unified.is_some()) {
            (true, _) => Mode::Unified,
            (false, true) => Mode::Hybrid,
            (false, false) => Mode::Legacy,
        }
    }

    /// Rebase every mountpoint under `prefix` (for tempdir fixtures).
    pub fn with_root_prefix(mut self, prefix: &Path) -> Layout {
        let rebase = |m: &mut Mount| {
            let rel = m.mountpoint.strip_prefix("/").unwrap_or(&m.mountpoint);
            m.mountpoint = prefix.join(rel);
        };
        self.v1.iter_mut().for_each(|h| rebase(&mut h.mount));
        if let Some(u) = self.unified.as_mut() {
            rebase(u);
        }
        self
    }

    /// The cgroup2 mountpoint, if any.
    pub fn unified_mountpoint(&self) -> Option<&Path> {
        self.unified.as_ref().map(|m| m.mountpoint.as_path())
    }

    /// The mountpoint of the v1 hierarchy carrying `controller`, if any.
    pub fn v1_mountpoint(&self, controller: &str) -> Option<&Path> {
        self.v1_hierarchy(controller)
            .map(|h| h.mount.mountpoint.as_path())
    }

    pub(crate) fn v1_hierarchy(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }
}

/// Undo mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|oct| u8::from_str_radix(oct, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// This development host's mountinfo (Debian 12, v1 hybrid, hugetlb on the v2 mount).
    pub(crate) const HYBRID: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334460k,nr_inodes=3083615,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd host in pure v2 mode.
    pub(crate) const UNIFIED: &str = "\
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
30 21 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// An old-style host: co-mounted cpu,cpuacct and net_cls,net_prio, no cgroup2.
    pub(crate) const LEGACY: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,freezer
33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
34 25 0:31 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices
35 25 0:32 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,cpuset
36 25 0:33 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,blkio
37 25 0:34 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,hugetlb
";

    #[test]
    fn parses_this_hosts_hybrid_layout() {
        let l = Layout::from_mountinfo(HYBRID).unwrap();
        assert_eq!(l.mode(), Mode::Hybrid);
        assert_eq!(
            l.unified_mountpoint(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        for c in [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
        ] {
            assert_eq!(
                l.v1_mountpoint(c),
                Some(Path::new("/sys/fs/cgroup").join(c).as_path()),
                "{c}"
            );
        }
        assert_eq!(l.v1_mountpoint("hugetlb"), None);
        assert_eq!(l.v1.len(), 8, "name=systemd is skipped");
    }

    #[test]
    fn parses_pure_v2() {
        let l = Layout::from_mountinfo(UNIFIED).unwrap();
        assert_eq!(l.mode(), Mode::Unified);
        assert_eq!(l.unified_mountpoint(), Some(Path::new("/sys/fs/cgroup")));
        assert!(l.v1.is_empty());
    }

    #[test]
    fn parses_legacy_with_comounted_controllers() {
        let l = Layout::from_mountinfo(LEGACY).unwrap();
        assert_eq!(l.mode(), Mode::Legacy);
        assert_eq!(
            l.v1_mountpoint("cpu"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(
            l.v1_mountpoint("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(
            l.v1_hierarchy("cpu").unwrap().controllers,
            ["cpu", "cpuacct"]
        );
        assert_eq!(
            l.v1_mountpoint("net_prio"),
            Some(Path::new("/sys/fs/cgroup/net_cls,net_prio"))
        );
        assert_eq!(
            l.v1_mountpoint("hugetlb"),
            Some(Path::new("/sys/fs/cgroup/hugetlb"))
        );
        assert_eq!(l.unified_mountpoint(), None);
    }

    #[test]
    fn rebases_under_a_prefix() {
        let l = Layout::from_mountinfo(HYBRID)
            .unwrap()
            .with_root_prefix(Path::new("/tmp/x"));
        assert_eq!(
            l.v1_mountpoint("memory"),
            Some(Path::new("/tmp/x/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            l.unified_mountpoint(),
            Some(Path::new("/tmp/x/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn no_cgroup_mounts_is_unsupported() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        assert!(matches!(
            Layout::from_mountinfo(text),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn malformed_line_names_its_number() {
        let text = format!("{UNIFIED}garbage line\n");
        match Layout::from_mountinfo(&text) {
            Err(Error::ParseMountinfo { line: 4, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escaped_mountpoints_and_overmounts() {
        let text = "\
30 21 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
31 21 0:27 / /weird\\040dir rw - cgroup cgroup rw,pids
32 21 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
";
        let l = Layout::from_mountinfo(text).unwrap();
        assert_eq!(l.unified_mountpoint(), None, "hidden by the tmpfs on top");
        assert_eq!(l.v1_mountpoint("pids"), Some(Path::new("/weird dir")));
        assert_eq!(l.mode(), Mode::Legacy);
    }

    #[test]
    fn sub_cgroup_mount_root_is_stripped() {
        let m = Mount {
            mountpoint: "/sys/fs/cgroup/memory".into(),
            root: "/docker/abc".into(),
        };
        let comps = |p: &str| {
            p.split('/')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            m.dir_of(&comps("/docker/abc/podrt/x")),
            Path::new("/sys/fs/cgroup/memory/podrt/x")
        );
        assert_eq!(
            m.dir_of(&comps("/podrt/x")),
            Path::new("/sys/fs/cgroup/memory/podrt/x")
        );
    }

    #[test]
    fn this_hosts_mountinfo_parses() {
        // Whatever the machine, detect() must not fail on a real mountinfo with cgroups.
        if Path::new("/sys/fs/cgroup").exists() {
            Layout::detect().unwrap();
        }
    }
}
