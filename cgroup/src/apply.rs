//! `Cgroup::apply`: route each part of `LinuxResources` to the directory that carries its
//! controller, in v1 or v2 flavour.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources};

use crate::cgroup::{enable_v2, Cgroup};
use crate::layout::Mode;
use crate::{fsio, v1, v2, Error};

/// Where a controller's files are.
pub(crate) enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

pub(crate) fn cpuset_is_set(r: &LinuxResources) -> bool {
    r.cpu().as_ref().is_some_and(|c| {
        c.cpus().as_ref().is_some_and(|s| !s.trim().is_empty())
            || c.mems().as_ref().is_some_and(|s| !s.trim().is_empty())
    })
}

pub(crate) fn blkio_is_set(r: &LinuxResources) -> bool {
    r.block_io().as_ref().is_some_and(blkio_has_values)
}

fn blkio_has_values(b: &LinuxBlockIo) -> bool {
    let some = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v| !v.is_empty());
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || some(b.throttle_read_bps_device())
        || some(b.throttle_write_bps_device())
        || some(b.throttle_read_iops_device())
        || some(b.throttle_write_iops_device())
}

fn memory_is_set(m: &LinuxMemory) -> bool {
    m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.swappiness().is_some()
        || m.kernel_tcp().is_some()
        || m.disable_oom_killer() == Some(true)
}

fn cpu_is_set(c: &LinuxCpu) -> bool {
    c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_period().is_some()
        || c.realtime_runtime().is_some()
}

impl Cgroup {
    /// Write the limits in `resources`. Only the fields that are set are written, so this also
    /// serves `update`. A value the kernel refuses comes back as [`Error::WriteFile`] naming the
    /// file and the value; a limit for a controller the cgroup does not have as
    /// [`Error::Unsupported`]. On v2, controllers not enabled at create() are enabled on the way.
    ///
    /// Not handled here: v2 device rules (a BPF program the runtime attaches); on v2, the v1-only
    /// `memory.swappiness`, `memory.kernelTCP`, `memory.disableOOMKiller` and block IO leaf
    /// weights are ignored with a warning, as runc does. `memory.kernel` is ignored everywhere
    /// (deprecated; recent kernels refuse it).
    pub fn apply(&self, r: &LinuxResources) -> Result<(), Error> {
        if let Some(c) = r.cpu() {
            if cpuset_is_set(r) {
                match self.target("cpuset", "cpuset")? {
                    Target::V1(d) | Target::V2(d) => v1::cpuset(d, c)?, // same files in both
                }
            }
            if cpu_is_set(c) {
                match self.target("cpu", "cpu")? {
                    Target::V1(d) => v1::cpu(d, c)?,
                    Target::V2(d) => v2::cpu(d, c)?,
                }
            }
        }
        if let Some(m) = r.memory() {
            if m.kernel().is_some() {
                tracing::warn!(path = %self.path(), "linux.resources.memory.kernel is deprecated and ignored");
            }
            if memory_is_set(m) {
                match self.target("memory", "memory")? {
                    Target::V1(d) => v1::memory(d, m)?,
                    Target::V2(d) => v2::memory(d, m)?,
                }
            }
        }
        if let Some(p) = r.pids() {
            match self.target("pids", "pids")? {
                Target::V1(d) | Target::V2(d) => fsio::write(
                    d,
                    "pids.max",
                    &crate::convert::pids_limit(p.limit()).to_string(),
                )?,
            }
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| blkio_has_values(b)) {
            match self.target("blkio", "io")? {
                Target::V1(d) => v1::blkio(d, b)?,
                Target::V2(d) => v2::io(d, b)?,
            }
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            match self.target("hugetlb", "hugetlb")? {
                Target::V1(d) => hugetlb(d, h, false)?,
                Target::V2(d) => hugetlb(d, h, true)?,
            }
        }
        if let Some(devs) = r.devices().as_ref().filter(|d| !d.is_empty()) {
            if let Some(d) = self.dirs.iter().find(|d| !d.v2 && d.has("devices")) {
                v1::devices(&d.path, devs)?;
            } else if self.mode() == Mode::Unified {
                tracing::debug!(path = %self.path(), "v2 device rules are left to the runtime's BPF program");
            } else {
                return Err(self.missing("devices"));
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                match self.target("net_cls", "")? {
                    Target::V1(d) => fsio::write(d, "net_cls.classid", &id.to_string())?,
                    Target::V2(_) => return Err(self.missing("net_cls")),
                }
            }
            if let Some(prios) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                match self.target("net_prio", "")? {
                    Target::V1(d) => {
                        for p in prios {
                            fsio::write(
                                d,
                                "net_prio.ifpriomap",
                                &format!("{} {}", p.name(), p.priority()),
                            )?;
                        }
                    }
                    Target::V2(_) => return Err(self.missing("net_prio")),
                }
            }
        }
        if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            match self.target("rdma", "rdma")? {
                Target::V1(d) | Target::V2(d) => {
                    for (dev, lim) in rdma {
                        let mut parts = vec![dev.clone()];
                        if let Some(h) = lim.hca_handles() {
                            parts.push(format!("hca_handle={h}"));
                        }
                        if let Some(o) = lim.hca_objects() {
                            parts.push(format!("hca_object={o}"));
                        }
                        if parts.len() > 1 {
                            fsio::write(d, "rdma.max", &parts.join(" "))?;
                        }
                    }
                }
            }
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            let Some(d) = self
                .dirs
                .iter()
                .find(|d| d.v2)
                .filter(|_| self.mode() == Mode::Unified)
            else {
                return Err(Error::Unsupported {
                    what: "linux.resources.unified needs a pure cgroup v2 host".into(),
                });
            };
            v2::unified(self, d, u)?;
        }
        Ok(())
    }

    /// The directory carrying a controller: a v1 hierarchy named `v1name`, else the v2
    /// directory with `v2name` (enabling it there if it is offered but was not enabled).
    pub(crate) fn target(&self, v1name: &str, v2name: &str) -> Result<Target<'_>, Error> {
        if let Some(d) = self.dirs.iter().find(|d| !d.v2 && d.has(v1name)) {
            return Ok(Target::V1(&d.path));
        }
        if v2name.is_empty() {
            return Err(self.missing(v1name));
        }
        let Some(d) = self.dirs.iter().find(|d| d.v2) else {
            return Err(self.missing(v1name));
        };
        if d.has(v2name) {
            return Ok(Target::V2(&d.path));
        }
        if self.mode() == Mode::Unified
            && enable_v2(&d.base, &d.path, &[], &[v2name])?
                .iter()
                .any(|c| c == v2name)
        {
            return Ok(Target::V2(&d.path));
        }
        Err(self.missing(v2name))
    }

    pub(crate) fn missing(&self, controller: &str) -> Error {
        Error::Unsupported {
            what: format!(
                "{} has no {controller} controller: the host does not offer it{}",
                self.path(),
                if self.mode() == Mode::Unified {
                    ""
                } else {
                    ", or it was not needed at create"
                }
            ),
        }
    }
}

/// Hugepage limits: `hugetlb.<size>.limit_in_bytes` (v1) or `hugetlb.<size>.max` (v2), and the
/// reservation variant (`.rsvd.`) where the kernel has it.
fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit], v2: bool) -> Result<(), Error> {
    for l in limits {
        let size = l.page_size();
        let valid = size.len() > 2
            && size.ends_with('B')
            && matches!(size.as_bytes()[size.len() - 2], b'K' | b'M' | b'G')
            && size[..size.len() - 2].bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(Error::InvalidResource {
                field: "hugepageLimits.pageSize",
                reason: format!("{size:?} is not of the form 2MB, 1GB, 64KB"),
            });
        }
        let value = match (v2, l.limit()) {
            (true, -1) => "max".to_string(),
            (_, v) if v >= -1 => v.to_string(),
            (_, v) => {
                return Err(Error::InvalidResource {
                    field: "hugepageLimits.limit",
                    reason: format!("{v} is neither -1 nor a byte count"),
                })
            }
        };
        let (main, rsvd) = if v2 {
            (
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
            )
        } else {
            (
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
            )
        };
        fsio::write(dir, &main, &value)?;
        fsio::write_if_exists(dir, &rsvd, &value)?;
    }
    Ok(())
}
