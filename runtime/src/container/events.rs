//! `events`: runc's JSON event stream: `stats` snapshots every interval and an `oom` event each
//! time the kernel's OOM killer strikes in the container's cgroup. `--stats` prints one
//! snapshot and exits. The stream ends when the container stops.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};

use super::{ContainerError, Context};
use crate::state::Status;

/// One stats event in runc's shape.
pub fn stats_event(id: &str, s: &podrt_cgroup::Stats) -> Value {
    let mut data = json!({});
    if let Some(c) = &s.cpu {
        data["cpu"] = json!({
            "usage": {"total": c.usage_ns, "user": c.user_ns, "kernel": c.system_ns},
            "throttling": {"throttledPeriods": c.throttled_periods, "throttledTime": c.throttled_ns}
        });
    }
    if let Some(m) = &s.memory {
        data["memory"] = json!({
            "usage": {
                "usage": m.usage,
                "limit": m.limit.unwrap_or(u64::MAX),
                "max": m.max_usage.unwrap_or(0),
                "failcnt": 0
            },
            "oomKills": m.oom_kill
        });
    }
    if let Some(p) = &s.pids {
        data["pids"] = json!({"current": p.current, "limit": p.limit.unwrap_or(0)});
    }
    json!({"type": "stats", "id": id, "data": data})
}

pub fn events(
    ctx: &Context,
    id: &str,
    once: bool,
    interval: Duration,
) -> Result<(), ContainerError> {
    let (dir, st) = ctx.open(id)?;
    let status = st.current_status(&dir.dir);
    drop(dir);
    if status == Status::Stopped {
        return Err(ContainerError::WrongState {
            id: id.to_string(),
            status,
            hint: "events need a running container",
        });
    }
    let cg = st
        .cgroup
        .clone()
        .ok_or_else(|| ContainerError::Invalid(format!("container {id} has no cgroup")))?;
    let mut out = std::io::stdout().lock();
    let emit = |out: &mut std::io::StdoutLock<'_>, v: &Value| -> Result<(), ContainerError> {
        writeln!(out, "{v}")
            .and_then(|()| out.flush())
            .map_err(super::io_err("write events"))
    };
    if once {
        return emit(&mut out, &stats_event(id, &cg.stats()?));
    }
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    let tick = Duration::from_millis(100).min(interval);
    let mut since_stats = interval;
    loop {
        if !st.init_alive() {
            return Ok(());
        }
        let now = cg.oom_kill_count().unwrap_or(ooms);
        if now > ooms {
            ooms = now;
            emit(&mut out, &json!({"type": "oom", "id": id}))?;
        }
        if since_stats >= interval {
            since_stats = Duration::ZERO;
            match cg.stats() {
                Ok(s) => emit(&mut out, &stats_event(id, &s))?,
                Err(_) if !st.init_alive() => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        std::thread::sleep(tick);
        since_stats += tick;
    }
}

/// If the OOM killer acted in this cgroup, the words for it (used by `run` and `delete`).
pub fn oom_message(cg: &podrt_cgroup::Cgroup) -> Option<String> {
    let kills = cg.oom_kill_count().ok().filter(|n| *n > 0)?;
    let limit = cg.stats().ok().and_then(|s| s.memory.and_then(|m| m.limit));
    Some(match limit {
        Some(l) => format!("out of memory (limit {l} bytes, {kills} OOM kill(s))"),
        None => format!("out of memory ({kills} OOM kill(s))"),
    })
}
