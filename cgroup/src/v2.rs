//! cgroup v2 writers. Each takes the cgroup's (unified) directory.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory};

use crate::cgroup::{Cgroup, Dir};
use crate::convert::{self, V2Limit};
use crate::{fsio, Error};

/// memory: `memory.swap.max` (runc's memory+swap conversion), `memory.max`, `memory.low`.
pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m.limit().filter(|v| *v != 0);
    let swap = convert::swap_v2(m.swap(), limit).map_err(|reason| Error::InvalidResource {
        field: "memory.swap",
        reason,
    })?;
    let limit = limit
        .map(|l| convert::memory_v2("memory.limit", l))
        .transpose()?;
    if let Some(s) = swap {
        fsio::write(dir, "memory.swap.max", &s.to_string())?;
    }
    if let Some(l) = limit {
        fsio::write(dir, "memory.max", &l.to_string())?;
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        fsio::write(
            dir,
            "memory.low",
            &convert::memory_v2("memory.reservation", r)?.to_string(),
        )?;
    }
    if m.swappiness().is_some() || m.kernel_tcp().is_some() || m.disable_oom_killer() == Some(true)
    {
        tracing::warn!(
            dir = %dir.display(),
            "memory.swappiness, memory.kernelTCP and memory.disableOOMKiller have no cgroup v2 equivalent and are ignored"
        );
    }
    Ok(())
}

/// cpu: `cpu.weight` (from shares), `cpu.max`, `cpu.max.burst`, `cpu.idle`. Realtime limits
/// do not exist in v2.
pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if c.realtime_period().is_some_and(|v| v != 0) || c.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(Error::Unsupported {
            what: "linux.resources.cpu.realtimePeriod/realtimeRuntime need cgroup v1".into(),
        });
    }
    if let Some(w) = c.shares().and_then(convert::cpu_shares_to_weight) {
        fsio::write(dir, "cpu.weight", &w.to_string())?;
    }
    if let Some(max) = convert::cpu_max(c.quota(), c.period()) {
        fsio::write(dir, "cpu.max", &max)?;
    }
    if let Some(b) = c.burst() {
        fsio::write(dir, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        fsio::write(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

/// io: weights (`io.bfq.weight` with the v1 value when BFQ is there, else `io.weight`
/// converted) and `io.max` throttles (`0` means no limit).
pub(crate) fn io(dir: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    let weight = |dev: &str, w: u16| -> Result<(), Error> {
        let bfq = if dev.is_empty() {
            w.to_string()
        } else {
            format!("{dev} {w}")
        };
        if fsio::write_if_exists(dir, "io.bfq.weight", &bfq)? {
            return Ok(());
        }
        let Some(conv) = convert::blkio_weight_to_io_weight(w) else {
            return Ok(());
        };
        let v = if dev.is_empty() {
            format!("default {conv}")
        } else {
            format!("{dev} {conv}")
        };
        fsio::write(dir, "io.weight", &v)
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        weight("", w)?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            weight(&format!("{}:{}", wd.major(), wd.minor()), w)?;
        }
    }
    if b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|w| w.leaf_weight().is_some())
    {
        tracing::warn!(dir = %dir.display(), "block IO leaf weights have no cgroup v2 equivalent and are ignored");
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 {
                V2Limit::Max
            } else {
                V2Limit::Value(t.rate())
            };
            fsio::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

/// `linux.resources.unified`: each key is a file of the cgroup, written verbatim.
pub(crate) fn unified(cg: &Cgroup, dir: &Dir, map: &HashMap<String, String>) -> Result<(), Error> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort(); // deterministic order
    for key in keys {
        if key.is_empty() || key.contains('/') || key.contains("..") || key.contains('\0') {
            return Err(Error::InvalidResource {
                field: "unified",
                reason: format!("key {key:?} is not a file name of the cgroup"),
            });
        }
        let controller = key.split('.').next().unwrap_or_default();
        if crate::cgroup::V2_CONTROLLERS.contains(&controller) && !dir.has(controller) {
            // Not enabled at create (an update): enable it if offered; if not, the write below
            // fails naming the file.
            let _ = cg.target(controller, controller);
        }
        fsio::write(&dir.path, key, &map[key])?;
    }
    Ok(())
}
