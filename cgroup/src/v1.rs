//! cgroup v1 writers. Each takes the controller's directory of the cgroup.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory};

use crate::{fsio, Error};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

fn check_bytes(field: &'static str, v: i64) -> Result<String, Error> {
    if v < -1 {
        return Err(Error::InvalidResource {
            field,
            reason: format!("{v} is neither -1 (unlimited) nor a byte count"),
        });
    }
    Ok(v.to_string())
}

/// memory: limit, swap (memory+swap), reservation, swappiness, kernel TCP, OOM killer.
///
/// The kernel keeps `limit <= memsw`: when both are set, the limit is written first (right when
/// lowering) and on EINVAL the other way round (right when raising above the current memsw).
pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m
        .limit()
        .filter(|v| *v != 0)
        .map(|v| check_bytes("memory.limit", v))
        .transpose()?;
    let mut swap = m
        .swap()
        .filter(|v| *v != 0)
        .map(|v| check_bytes("memory.swap", v))
        .transpose()?;
    // As runc: an unlimited memory limit with no swap setting means unlimited swap too.
    let implied_swap = limit.as_deref() == Some("-1") && swap.is_none();
    if implied_swap {
        swap = Some("-1".into());
    }
    let write_swap = |value: &str| match fsio::write(dir, MEMSW, value) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            if implied_swap {
                Ok(())
            } else {
                Err(Error::Unsupported {
                    what: format!(
                        "a swap limit needs {}, which this kernel does not have \
                         (boot it with swapaccount=1, or leave linux.resources.memory.swap unset)",
                        dir.join(MEMSW).display()
                    ),
                })
            }
        }
        other => other,
    };
    match (&limit, &swap) {
        (Some(l), Some(s)) => match fsio::write(dir, LIMIT, l) {
            Ok(()) => write_swap(s)?,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                write_swap(s)?;
                fsio::write(dir, LIMIT, l)?;
            }
            Err(e) => return Err(e),
        },
        (Some(l), None) => fsio::write(dir, LIMIT, l)?,
        (None, Some(s)) => write_swap(s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        fsio::write(
            dir,
            "memory.soft_limit_in_bytes",
            &check_bytes("memory.reservation", r)?,
        )?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::InvalidResource {
                field: "memory.swappiness",
                reason: format!("{s} is above 100"),
            });
        }
        fsio::write(dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(k) = m.kernel_tcp() {
        fsio::write(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &check_bytes("memory.kernelTCP", k)?,
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        fsio::write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

/// cpu: shares, CFS quota/period (period first; on EINVAL quota first), burst, idle, RT.
pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        fsio::write(dir, "cpu.shares", &s.to_string())?;
    }
    let quota = c.quota().filter(|q| *q != 0).map(|q| {
        if q < 0 {
            "-1".to_string()
        } else {
            q.to_string()
        }
    });
    let period = c.period().filter(|p| *p != 0).map(|p| p.to_string());
    match (&quota, &period) {
        (Some(q), Some(p)) => match fsio::write(dir, "cpu.cfs_period_us", p) {
            Ok(()) => fsio::write(dir, "cpu.cfs_quota_us", q)?,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                fsio::write(dir, "cpu.cfs_quota_us", q)?;
                fsio::write(dir, "cpu.cfs_period_us", p)?;
            }
            Err(e) => return Err(e),
        },
        (Some(q), None) => fsio::write(dir, "cpu.cfs_quota_us", q)?,
        (None, Some(p)) => fsio::write(dir, "cpu.cfs_period_us", p)?,
        (None, None) => {}
    }
    if let Some(b) = c.burst() {
        fsio::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        fsio::write(dir, "cpu.idle", &i.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        fsio::write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        fsio::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    Ok(())
}

/// cpuset.cpus / cpuset.mems (the same files in v1 and v2).
pub(crate) fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if let Some(cpus) = c.cpus().as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        fsio::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        fsio::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// blkio: weights (falling back to the BFQ files when CFQ's are absent) and throttles.
pub(crate) fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    let write_or_bfq = |file: &str, bfq: &str, value: &str| -> Result<(), Error> {
        match fsio::write(dir, file, value) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => fsio::write(dir, bfq, value),
            other => other,
        }
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write_or_bfq("blkio.weight", "blkio.bfq.weight", &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        fsio::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let v = format!("{}:{} {w}", wd.major(), wd.minor());
            write_or_bfq("blkio.weight_device", "blkio.bfq.weight_device", &v)?;
        }
        if let Some(w) = wd.leaf_weight() {
            fsio::write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            fsio::write(
                dir,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

/// One OCI device rule as a line for `devices.allow` / `devices.deny`, or `None` for rules the
/// device cgroup cannot express (FIFOs).
pub(crate) fn device_rule(
    rule: &LinuxDeviceCgroup,
) -> Result<Option<(&'static str, String)>, Error> {
    let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => return Ok(None),
    };
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or_else(|| "*".to_string(), |n| n.to_string())
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(Error::InvalidResource {
            field: "devices.access",
            reason: format!("{access:?} is not a combination of r, w and m"),
        });
    }
    let line = if kind == 'a' {
        format!("a *:* {access}")
    } else {
        format!(
            "{kind} {}:{} {access}",
            num(rule.major()),
            num(rule.minor())
        )
    };
    Ok(Some((
        if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        },
        line,
    )))
}

/// devices: each rule in order.
pub(crate) fn devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), Error> {
    for rule in rules {
        if let Some((file, line)) = device_rule(rule)? {
            fsio::write(dir, file, &line)?;
        }
    }
    Ok(())
}
