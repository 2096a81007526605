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
