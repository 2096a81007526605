//! What the numbers were measured on: CPU, memory, kernel, cgroup layout, tool versions.

use std::fs;
use std::path::Path;
use std::process::Command;

/// How cgroups are mounted on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup2 at /sys/fs/cgroup.
    Unified,
    /// v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified (crun refuses this).
    Hybrid,
    /// v1 controllers only.
    Legacy,
    Unknown,
}

impl CgroupMode {
    /// Read the layout from /proc/self/mountinfo.
    pub fn detect() -> CgroupMode {
        let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
            return CgroupMode::Unknown;
        };
        Self::from_mountinfo(&info)
    }

    /// Classify a mountinfo text.
    pub fn from_mountinfo(info: &str) -> CgroupMode {
        let mut root_v2 = false;
        let mut unified = false;
        let mut v1 = false;
        for line in info.lines() {
            let mount_point = line.split(' ').nth(4).unwrap_or_default();
            let fstype = line
                .split(" - ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .unwrap_or_default();
            match (fstype, mount_point) {
                ("cgroup2", "/sys/fs/cgroup") => root_v2 = true,
                ("cgroup2", "/sys/fs/cgroup/unified") => unified = true,
                ("cgroup", p) if p.starts_with("/sys/fs/cgroup/") => v1 = true,
                _ => {}
            }
        }
        match (root_v2, unified, v1) {
            (true, _, _) => CgroupMode::Unified,
            (false, true, true) => CgroupMode::Hybrid,
            (false, false, true) => CgroupMode::Legacy,
            _ => CgroupMode::Unknown,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            CgroupMode::Unified => "cgroup v2 (unified)",
            CgroupMode::Hybrid => {
                "v1 hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified holding no controller \
                 we use)"
            }
            CgroupMode::Legacy => "cgroup v1 (legacy)",
            CgroupMode::Unknown => "unknown",
        }
    }
}

/// The machine and software the benchmark ran on.
#[derive(Debug, Clone)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total: String,
    pub kernel: String,
    pub os: String,
    pub cgroup: CgroupMode,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, v)| v.trim().to_string());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix(" kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or_else(
                || "unknown".to_string(),
                |kib| format!("{:.1} GiB", kib_to_mib(kib) / 1024.0),
            );
        let os = fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or_else(
                || "unknown".to_string(),
                |v| v.trim_matches('"').to_string(),
            );
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            mem_total,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string()),
            os,
            cgroup: CgroupMode::detect(),
        }
    }
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Inodes in use on the file system mounted at /sys/fs/cgroup when it is the v1 layout's tmpfs,
/// else `None`. Files written there by mistake (a runtime creating cgroup files under an
/// unmounted controller's mount point) stay hidden under the mount points: this count is how
/// the harness sees them.
pub fn cgroup_tmpfs_inodes() -> Option<u64> {
    let root = Path::new("/sys/fs/cgroup");
    if fs_type(root) != "tmpfs" {
        return None;
    }
    let c = std::ffi::CString::new("/sys/fs/cgroup").ok()?;
    // SAFETY: statvfs writes only into `st`, a properly sized, zeroed struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_files.saturating_sub(st.f_ffree))
}

/// The filesystem type holding `path` (longest mount point prefix in /proc/self/mountinfo).
pub fn fs_type(path: &Path) -> String {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let mount_point = line.split(' ').nth(4).unwrap_or_default();
        let fstype = line
            .split(" - ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or_default();
        let longer = match &best {
            Some((len, _)) => mount_point.len() >= *len,
            None => true,
        };
        if path.starts_with(mount_point) && longer {
            best = Some((mount_point.len(), fstype.to_string()));
        }
    }
    best.map_or_else(|| "unknown".to_string(), |(_, t)| t)
}

/// A tmpfs the harness mounts for the runtimes' state (what `/run` is on most hosts), unmounted
/// by [`Tmpfs::unmount`] or, on an early return, lazily when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    path: std::path::PathBuf,
    mounted: bool,
}

impl Tmpfs {
    /// Create `path` and mount a tmpfs of at most `size` (the `size=` option) on it.
    pub fn mount(path: &Path, size: &str) -> anyhow::Result<Tmpfs> {
        use anyhow::Context as _;
        fs::create_dir_all(path).with_context(|| format!("create {}", path.display()))?;
        let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
        let target = path_cstring(path)?;
        let (src, fstype, data) = (
            c("startbench"),
            c("tmpfs"),
            c(&format!("size={size},mode=755")),
        );
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("mount a tmpfs on {}", path.display()));
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
            mounted: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn umount(&mut self, flags: libc::c_int) -> std::io::Result<()> {
        if !self.mounted {
            return Ok(());
        }
        let target = path_cstring(&self.path)?;
        // SAFETY: `target` is a NUL-terminated path.
        if unsafe { libc::umount2(target.as_ptr(), flags) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.mounted = false;
        Ok(())
    }

    /// Unmount now (not lazily): an error means something still uses it.
    pub fn unmount(mut self) -> std::io::Result<()> {
        self.umount(0)
    }
}

fn path_cstring(path: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt as _;
    std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = self.umount(libc::MNT_DETACH);
    }
}

/// KiB to MiB.
#[allow(clippy::cast_precision_loss)]
pub fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// First line of `prog ARGS` (stdout, else stderr), or "unavailable".
pub fn version_line(prog: &Path, args: &[&str]) -> String {
    match Command::new(prog).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("unavailable")
                .trim()
                .to_string()
        }
        Err(_) => "unavailable".to_string(),
    }
}

/// `git describe --always --dirty` of the checkout holding `dir`.
pub fn git_describe(dir: &Path) -> String {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_hybrid() {
        let info = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        assert_eq!(CgroupMode::from_mountinfo(info), CgroupMode::Hybrid);
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(CgroupMode::from_mountinfo(v2), CgroupMode::Unified);
        let v1 = "32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(CgroupMode::from_mountinfo(v1), CgroupMode::Legacy);
    }
}
