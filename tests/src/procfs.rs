//! The kernel's view of a process: `/proc/PID/{status,ns,cgroup,mountinfo,...}`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Parsed `/proc/PID/status` (or the output of `cat /proc/self/status` inside a container).
#[derive(Debug, Clone)]
pub struct Status(pub BTreeMap<String, String>);

impl Status {
    /// Read `/proc/PID/status`.
    #[must_use]
    pub fn of(pid: i32) -> Status {
        let text = fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
        Status::parse(&text)
    }

    /// Parse status text.
    #[must_use]
    pub fn parse(text: &str) -> Status {
        let map = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Status(map)
    }

    /// A field's raw value; panics if absent.
    #[must_use]
    pub fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in status: {:?}", self.0))
    }

    /// A capability set field (`CapEff`, `CapBnd`, ...) as a mask.
    #[must_use]
    pub fn cap(&self, key: &str) -> u64 {
        u64::from_str_radix(self.get(key), 16).expect("hex capability mask")
    }

    /// Whitespace-separated numeric fields (`Uid`, `Gid`, `Groups`).
    #[must_use]
    pub fn ids(&self, key: &str) -> Vec<u32> {
        self.get(key)
            .split_whitespace()
            .map(|s| s.parse().expect("numeric id"))
            .collect()
    }

    /// A single number (`NoNewPrivs`, `Seccomp`, ...).
    #[must_use]
    pub fn num(&self, key: &str) -> u64 {
        self.get(key).parse().expect("numeric field")
    }
}

/// Linux capability numbers by name (`CAP_` prefix optional).
#[must_use]
pub fn cap_number(name: &str) -> u32 {
    const CAPS: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let short = name.strip_prefix("CAP_").unwrap_or(name);
    CAPS.iter()
        .position(|c| *c == short)
        .unwrap_or_else(|| panic!("unknown capability {name}")) as u32
}

/// The mask for a list of capability names.
#[must_use]
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| m | (1u64 << cap_number(n)))
}

/// The inode of `/proc/PID/ns/KIND` (`pid` may be `"self"` via [`ns_inode_path`]).
#[must_use]
pub fn ns_inode(pid: i32, kind: &str) -> u64 {
    ns_inode_path(&format!("/proc/{pid}/ns/{kind}"))
}

/// The inode of a namespace file.
#[must_use]
pub fn ns_inode_path(path: &str) -> u64 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .ino()
}

/// One line of `/proc/PID/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLine {
    /// Hierarchy ID (0 for the unified hierarchy).
    pub hierarchy: u32,
    /// Controllers (`memory`, `cpu,cpuacct`, `name=systemd`, empty for v2).
    pub controllers: String,
    /// Path relative to the hierarchy's root (as seen from our cgroup namespace).
    pub path: String,
}

/// Parse `/proc/PID/cgroup`.
#[must_use]
pub fn cgroups(pid: i32) -> Vec<CgroupLine> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup: {e}"));
    parse_cgroups(&text)
}

/// Parse cgroup file text.
#[must_use]
pub fn parse_cgroups(text: &str) -> Vec<CgroupLine> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            Some(CgroupLine {
                hierarchy: it.next()?.parse().ok()?,
                controllers: it.next()?.to_string(),
                path: it.next()?.to_string(),
            })
        })
        .collect()
}

/// The host directory of `pid`'s cgroup for a v1 `controller` (e.g. `memory`), assuming the
/// usual `/sys/fs/cgroup/<controller>` mounts.
#[must_use]
pub fn v1_cgroup_dir(pid: i32, controller: &str) -> Option<PathBuf> {
    let line = cgroups(pid)
        .into_iter()
        .find(|l| l.hierarchy != 0 && l.controllers.split(',').any(|c| c == controller))?;
    let mount = v1_mount(controller)?;
    Some(mount.join(line.path.trim_start_matches('/')))
}

/// The host mount point of a v1 controller, from our mountinfo.
#[must_use]
pub fn v1_mount(controller: &str) -> Option<PathBuf> {
    mountinfo_self()
        .into_iter()
        .find(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == controller))
        .map(|m| PathBuf::from(m.mount_point))
}

/// The unified (v2) hierarchy mount point, if any.
#[must_use]
pub fn v2_mount() -> Option<PathBuf> {
    mountinfo_self()
        .into_iter()
        .find(|m| m.fstype == "cgroup2")
        .map(|m| PathBuf::from(m.mount_point))
}

/// The host directory of `pid`'s unified (v2) cgroup.
#[must_use]
pub fn v2_cgroup_dir(pid: i32) -> Option<PathBuf> {
    let line = cgroups(pid).into_iter().find(|l| l.hierarchy == 0)?;
    Some(v2_mount()?.join(line.path.trim_start_matches('/')))
}

/// One line of mountinfo.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Mount ID.
    pub id: u32,
    /// Parent mount ID.
    pub parent: u32,
    /// `major:minor`.
    pub dev: String,
    /// Root of the mount within its filesystem.
    pub root: String,
    /// Mount point.
    pub mount_point: String,
    /// Per-mount options (`rw,nosuid,...`).
    pub options: String,
    /// Optional fields (`shared:N`, `master:N`, ...), empty for private mounts.
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Superblock options.
    pub super_options: String,
}

impl Mount {
    /// True if `opt` is in the per-mount or superblock options.
    #[must_use]
    pub fn has_opt(&self, opt: &str) -> bool {
        self.options.split(',').any(|o| o == opt) || self.super_options.split(',').any(|o| o == opt)
    }
}

/// Parse mountinfo text (unescaping `\040` etc. is not needed for our paths).
#[must_use]
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if f.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(Mount {
                id: f[0].parse().ok()?,
                parent: f[1].parse().ok()?,
                dev: f[2].to_string(),
                root: f[3].to_string(),
                mount_point: f[4].to_string(),
                options: f[5].to_string(),
                optional: f[6..].iter().map(|s| (*s).to_string()).collect(),
                fstype: r[0].to_string(),
                source: r[1].to_string(),
                super_options: r[2].to_string(),
            })
        })
        .collect()
}

/// `/proc/PID/mountinfo`.
#[must_use]
pub fn mountinfo(pid: i32) -> Vec<Mount> {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/mountinfo: {e}"));
    parse_mountinfo(&text)
}

/// Our own mountinfo.
#[must_use]
pub fn mountinfo_self() -> Vec<Mount> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").expect("read own mountinfo"))
}

/// The last (topmost) mount at `point` in `mounts`.
#[must_use]
pub fn find_mount<'a>(mounts: &'a [Mount], point: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == point)
}

/// `/proc/PID/oom_score_adj`.
#[must_use]
pub fn oom_score_adj(pid: i32) -> i32 {
    read_trim(&format!("/proc/{pid}/oom_score_adj"))
        .parse()
        .expect("numeric oom_score_adj")
}

/// `/proc/PID/cmdline` with NULs replaced by spaces.
#[must_use]
pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}

/// `readlink /proc/PID/exe` (empty if unreadable).
#[must_use]
pub fn exe(pid: i32) -> String {
    fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// True while `/proc/PID` exists and is not a zombie.
#[must_use]
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Read a file and trim it; panics with the path on error.
#[must_use]
pub fn read_trim(path: &str) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .trim()
        .to_string()
}
