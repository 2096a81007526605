//! Usage figures for `podrt events --stats` and the pod supervisor.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cgroup::Cgroup;
use crate::layout::Mode;
use crate::{fsio, Error};

/// v1 reports "unlimited" as a huge page-aligned number; anything this large is no limit.
const V1_UNLIMITED: u64 = 1 << 62;

/// A snapshot of a cgroup's usage. A section is `None` when the cgroup lacks the controller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU time.
    pub cpu: Option<CpuStats>,
    /// Memory.
    pub memory: Option<MemoryStats>,
    /// Process count.
    pub pids: Option<PidsStats>,
}

/// CPU time used, in nanoseconds, and CFS throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time.
    pub usage_ns: u64,
    /// User-mode CPU time.
    pub user_ns: u64,
    /// Kernel-mode CPU time.
    pub system_ns: u64,
    /// Periods in which the quota throttled the cgroup.
    pub throttled_periods: u64,
    /// Time spent throttled.
    pub throttled_ns: u64,
}

/// Memory in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage (v1 includes page cache, like v2's `memory.current`).
    pub usage: u64,
    /// The hard limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// Peak usage, when the kernel records it (v1 always; v2 from 5.19 on).
    pub max_usage: Option<u64>,
    /// OOM kills so far.
    pub oom_kill: u64,
}

/// Process count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Tasks now.
    pub current: u64,
    /// The limit, `None` when unlimited.
    pub limit: Option<u64>,
}

impl Cgroup {
    /// Read usage figures from every controller that has them.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut s = Stats::default();
        // CPU: v2 cpu.stat is always there; v1 needs cpuacct (usage) and cpu (throttling).
        if let Some(d) = self.dirs.iter().find(|d| !d.v2 && d.has("cpuacct")) {
            let mut c = CpuStats {
                usage_ns: fsio::read_u64(&d.path, "cpuacct.usage")?,
                ..Default::default()
            };
            c.user_ns = opt_u64(&d.path, "cpuacct.usage_user")?.unwrap_or(0);
            c.system_ns = opt_u64(&d.path, "cpuacct.usage_sys")?.unwrap_or(0);
            if let Some(cpu) = self.dirs.iter().find(|d| !d.v2 && d.has("cpu")) {
                let text = fsio::read(&cpu.path, "cpu.stat")?;
                c.throttled_periods = fsio::keyed(&text, "nr_throttled").unwrap_or(0);
                c.throttled_ns = fsio::keyed(&text, "throttled_time").unwrap_or(0);
            }
            s.cpu = Some(c);
        } else if let Some(d) = self
            .dirs
            .iter()
            .find(|d| d.v2)
            .filter(|_| self.mode() == Mode::Unified)
        {
            // cpu.stat is part of the v2 core: there even without the cpu controller.
            let text = fsio::read(&d.path, "cpu.stat")?;
            let us = |k: &str| fsio::keyed(&text, k).unwrap_or(0).saturating_mul(1000);
            s.cpu = Some(CpuStats {
                usage_ns: us("usage_usec"),
                user_ns: us("user_usec"),
                system_ns: us("system_usec"),
                throttled_periods: fsio::keyed(&text, "nr_throttled").unwrap_or(0),
                throttled_ns: us("throttled_usec"),
            });
        }
        if let Some(d) = self.find("memory") {
            s.memory = Some(if d.v2 {
                MemoryStats {
                    usage: fsio::read_u64(&d.path, "memory.current")?,
                    limit: fsio::read_u64_or_max(&d.path, "memory.max")?,
                    max_usage: opt_u64(&d.path, "memory.peak")?,
                    oom_kill: self.oom_kill_count()?,
                }
            } else {
                MemoryStats {
                    usage: fsio::read_u64(&d.path, "memory.usage_in_bytes")?,
                    limit: Some(fsio::read_u64(&d.path, "memory.limit_in_bytes")?)
                        .filter(|l| *l < V1_UNLIMITED),
                    max_usage: Some(fsio::read_u64(&d.path, "memory.max_usage_in_bytes")?),
                    oom_kill: self.oom_kill_count()?,
                }
            });
        }
        if let Some(d) = self.find("pids") {
            s.pids = Some(PidsStats {
                current: fsio::read_u64(&d.path, "pids.current")?,
                limit: fsio::read_u64_or_max(&d.path, "pids.max")?,
            });
        }
        Ok(s)
    }
}

/// A numeric file that older kernels lack.
fn opt_u64(dir: &Path, file: &str) -> Result<Option<u64>, Error> {
    match fsio::read_u64(dir, file) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
