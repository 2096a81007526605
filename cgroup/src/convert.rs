//! Pure conversions from OCI (cgroup v1 flavoured) values to cgroup v2 values, as runc does them.

/// A v2 limit: a number or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Limit {
    /// Unlimited.
    Max,
    /// A number (bytes, pids, ...).
    Value(u64),
}

impl std::fmt::Display for V2Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            V2Limit::Max => f.write_str("max"),
            V2Limit::Value(v) => write!(f, "{v}"),
        }
    }
}

/// OCI `cpu.shares` (v1, 2..=262144, default 1024) to v2 `cpu.weight` (1..=10000, default 100):
/// `1 + ((shares - 2) * 9999) / 262142`. `0` means unset. Out-of-range shares are clamped, as
/// the v1 kernel clamps them.
pub fn cpu_shares_to_weight(shares: u64) -> Option<u64> {
    if shares == 0 {
        return None;
    }
    let s = shares.clamp(2, 262_144);
    Some(1 + ((s - 2) * 9999) / 262_142)
}

/// OCI block IO weight (10..=1000) to v2 `io.weight` (1..=10000). `0` means unset.
pub fn blkio_weight_to_io_weight(weight: u16) -> Option<u64> {
    if weight == 0 {
        return None;
    }
    let w = u64::from(weight.clamp(10, 1000));
    Some(1 + ((w - 10) * 9999) / 990)
}

/// A memory-like OCI value (`-1` unlimited, otherwise bytes) as a v2 limit.
pub fn memory_v2(field: &'static str, v: i64) -> Result<V2Limit, crate::Error> {
    match v {
        -1 => Ok(V2Limit::Max),
        v if v >= 0 => Ok(V2Limit::Value(v.unsigned_abs())),
        v => Err(crate::Error::InvalidResource {
            field,
            reason: format!("{v} is neither -1 (unlimited) nor a byte count"),
        }),
    }
}

/// OCI `memory.swap` is a memory+swap limit (v1 `memsw`); v2 `memory.swap.max` is swap alone.
/// Returns `None` when nothing should be written. Mirrors runc:
/// - memory unlimited and swap unset: swap unlimited too;
/// - swap `-1`: unlimited; swap unset or `0`: leave alone;
/// - otherwise a memory limit is required and `swap.max = swap - limit` (`swap >= limit`).
pub fn swap_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<V2Limit>, String> {
    let (swap, memory) = (swap.unwrap_or(0), limit.unwrap_or(0));
    if memory == -1 && swap == 0 {
        return Ok(Some(V2Limit::Max));
    }
    match swap {
        -1 => return Ok(Some(V2Limit::Max)),
        0 => return Ok(None),
        _ => {}
    }
    if memory == 0 || memory == -1 {
        return Err("a swap limit needs a memory limit".into());
    }
    if memory < 0 {
        return Err(format!("invalid memory limit {memory}"));
    }
    if swap < memory {
        return Err(format!(
            "swap ({swap}) is memory+swap and must be at least the memory limit ({memory})"
        ));
    }
    Ok(Some(V2Limit::Value((swap - memory).unsigned_abs())))
}

/// `pids.max`: `<= 0` means unlimited.
pub fn pids_limit(limit: i64) -> V2Limit {
    if limit <= 0 {
        V2Limit::Max
    } else {
        V2Limit::Value(limit.unsigned_abs())
    }
}

/// `cpu.max` content: `"QUOTA [PERIOD]"`, `max` when quota is unset or negative. `None` when
/// neither is set (leave the file alone).
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut s = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    if let Some(p) = period {
        s.push(' ');
        s.push_str(&p.to_string());
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shares_known_points() {
        assert_eq!(cpu_shares_to_weight(0), None);
        assert_eq!(cpu_shares_to_weight(2), Some(1));
        assert_eq!(cpu_shares_to_weight(1024), Some(39));
        assert_eq!(cpu_shares_to_weight(262_144), Some(10_000));
        assert_eq!(cpu_shares_to_weight(1), Some(1), "clamped, no underflow");
        assert_eq!(cpu_shares_to_weight(u64::MAX), Some(10_000));
    }

    #[test]
    fn swap_known_points() {
        let mib = 1 << 20;
        assert_eq!(swap_v2(None, None), Ok(None));
        assert_eq!(swap_v2(None, Some(-1)), Ok(Some(V2Limit::Max)));
        assert_eq!(swap_v2(Some(-1), Some(64 * mib)), Ok(Some(V2Limit::Max)));
        assert_eq!(swap_v2(Some(0), Some(64 * mib)), Ok(None));
        assert_eq!(
            swap_v2(Some(96 * mib), Some(64 * mib)),
            Ok(Some(V2Limit::Value(32 << 20)))
        );
        assert_eq!(
            swap_v2(Some(64 * mib), Some(64 * mib)),
            Ok(Some(V2Limit::Value(0)))
        );
        assert!(swap_v2(Some(32 * mib), Some(64 * mib)).is_err());
        assert!(swap_v2(Some(32 * mib), None).is_err());
        assert!(swap_v2(Some(32 * mib), Some(-1)).is_err());
    }

    #[test]
    fn cpu_max_forms() {
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(50_000), None).as_deref(), Some("50000"));
        assert_eq!(cpu_max(None, Some(100_000)).as_deref(), Some("max 100000"));
        assert_eq!(
            cpu_max(Some(-1), Some(100_000)).as_deref(),
            Some("max 100000")
        );
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max"));
    }

    #[test]
    fn pids_and_io_weight() {
        assert_eq!(pids_limit(0), V2Limit::Max);
        assert_eq!(pids_limit(-1), V2Limit::Max);
        assert_eq!(pids_limit(16).to_string(), "16");
        assert_eq!(blkio_weight_to_io_weight(0), None);
        assert_eq!(blkio_weight_to_io_weight(10), Some(1));
        assert_eq!(blkio_weight_to_io_weight(500), Some(4950));
        assert_eq!(blkio_weight_to_io_weight(1000), Some(10_000));
    }

    proptest! {
        #[test]
        fn weight_is_in_range_and_monotonic(a in 2u64..=262_144, b in 2u64..=262_144) {
            let (wa, wb) = (cpu_shares_to_weight(a).unwrap(), cpu_shares_to_weight(b).unwrap());
            prop_assert!((1..=10_000).contains(&wa));
            prop_assert_eq!(wa, 1 + ((a - 2) * 9999) / 262_142);
            if a <= b { prop_assert!(wa <= wb); }
        }

        #[test]
        fn any_shares_give_a_valid_weight(s in 1u64..) {
            let w = cpu_shares_to_weight(s).unwrap();
            prop_assert!((1..=10_000).contains(&w));
        }

        #[test]
        fn swap_is_memsw_minus_limit(limit in 1i64..(1 << 50), extra in 0i64..(1 << 50)) {
            let got = swap_v2(Some(limit + extra), Some(limit)).unwrap();
            prop_assert_eq!(got, Some(V2Limit::Value(extra.unsigned_abs())));
        }

        #[test]
        fn swap_below_limit_is_refused(limit in 2i64..(1 << 50), short in 1i64..(1 << 50)) {
            prop_assume!(short < limit);
            prop_assert!(swap_v2(Some(limit - short), Some(limit)).is_err());
        }

        #[test]
        fn io_weight_in_range(w in 1u16..) {
            let v = blkio_weight_to_io_weight(w).unwrap();
            prop_assert!((1..=10_000).contains(&v));
        }
    }
}
