//! `update`: change a running container's resource limits, and remember them.

use oci_spec::runtime::LinuxResources;

use super::{io_err, ContainerError, Context};
use crate::state::Status;

/// Individual limits given on the command line (runc's flags).
#[derive(Debug, Clone, Default)]
pub struct UpdateFlags {
    pub blkio_weight: Option<u16>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub pids_limit: Option<i64>,
}

/// Parse a byte size as runc does: a number with an optional k/m/g/t suffix (binary), or -1.
pub fn parse_bytes(s: &str) -> Result<i64, ContainerError> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1_i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n >= 0)
        .ok_or_else(|| ContainerError::Invalid(format!("invalid size {s:?}")))
}

pub fn update(
    ctx: &Context,
    id: &str,
    resources_file: Option<&std::path::Path>,
    flags: &UpdateFlags,
) -> Result<(), ContainerError> {
    let (dir, mut st) = ctx.open(id)?;
    let status = st.current_status(&dir.dir);
    if status == Status::Stopped {
        return Err(ContainerError::WrongState {
            id: id.to_string(),
            status,
            hint: "only a created, running or paused container can be updated",
        });
    }
    let r: LinuxResources = match resources_file {
        Some(p) => {
            let data = if p.as_os_str() == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                    .map_err(io_err("read resources from stdin"))?;
                v
            } else {
                std::fs::read(p).map_err(io_err(format!("read {}", p.display())))?
            };
            serde_json::from_slice(&data).map_err(|e| ContainerError::LoadConfig {
                path: p.to_path_buf(),
                detail: e.to_string(),
            })?
        }
        None => LinuxResources::default(),
    };
    // Overlay the individual flags (JSON keeps this independent of oci-spec's setters).
    let mut v = serde_json::to_value(&r).map_err(|e| ContainerError::Invalid(e.to_string()))?;
    let mut put = |section: &str, key: &str, val: serde_json::Value| {
        if !v[section].is_object() {
            v[section] = serde_json::json!({});
        }
        v[section][key] = val;
    };
    use serde_json::json;
    if let Some(x) = flags.memory {
        put("memory", "limit", json!(x));
    }
    if let Some(x) = flags.memory_reservation {
        put("memory", "reservation", json!(x));
    }
    if let Some(x) = flags.memory_swap {
        put("memory", "swap", json!(x));
    }
    if let Some(x) = flags.cpu_period {
        put("cpu", "period", json!(x));
    }
    if let Some(x) = flags.cpu_quota {
        put("cpu", "quota", json!(x));
    }
    if let Some(x) = flags.cpu_rt_period {
        put("cpu", "realtimePeriod", json!(x));
    }
    if let Some(x) = flags.cpu_rt_runtime {
        put("cpu", "realtimeRuntime", json!(x));
    }
    if let Some(x) = flags.cpu_shares {
        put("cpu", "shares", json!(x));
    }
    if let Some(x) = &flags.cpuset_cpus {
        put("cpu", "cpus", json!(x));
    }
    if let Some(x) = &flags.cpuset_mems {
        put("cpu", "mems", json!(x));
    }
    if let Some(x) = flags.pids_limit {
        put("pids", "limit", json!(x));
    }
    if let Some(x) = flags.blkio_weight {
        put("blockIO", "weight", json!(x));
    }
    let r: LinuxResources =
        serde_json::from_value(v.clone()).map_err(|e| ContainerError::Invalid(e.to_string()))?;
    let cg = st
        .cgroup
        .as_ref()
        .ok_or_else(|| ContainerError::Invalid(format!("container {id} has no cgroup")))?;
    cg.apply(&r)?;
    // Remember the new limits in the saved config (what `events`/`state` and a later update
    // start from).
    let mut linux = st.config.linux().clone().unwrap_or_default();
    let mut saved = serde_json::to_value(linux.resources().clone().unwrap_or_default())
        .map_err(|e| ContainerError::Invalid(e.to_string()))?;
    for section in ["memory", "cpu", "pids", "blockIO"] {
        if let Some(new) = v[section].as_object() {
            if !saved[section].is_object() {
                saved[section] = serde_json::json!({});
            }
            for (k, x) in new {
                saved[section][k] = x.clone();
            }
        }
    }
    linux.set_resources(Some(
        serde_json::from_value(saved).map_err(|e| ContainerError::Invalid(e.to_string()))?,
    ));
    st.config.set_linux(Some(linux));
    dir.save(&st)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("134217728").unwrap(), 134_217_728);
        assert_eq!(parse_bytes("128m").unwrap(), 128 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-5").is_err());
    }
}
