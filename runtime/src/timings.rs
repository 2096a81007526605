//! Phase timestamps of a command (config, plan, cgroup, clone, ready, ...), printed as one JSON
//! line on stderr when `--timings` is given or `PODRT_TIMINGS=1`, and logged at debug level, so
//! benchmarks can show where the time goes.

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::Instant;

/// Start instant and (phase, microseconds since start) pairs.
type Marks = Option<(Instant, Vec<(Cow<'static, str>, u128)>)>;

/// Marks made by the container init (a clone of the runtime, so it shares the start instant)
/// carry this prefix; the init sends them to the runtime before it reports ready.
pub const INIT_PREFIX: &str = "init:";

thread_local! {
    static MARKS: RefCell<Marks> = const { RefCell::new(None) };
    /// Prefix of the marks being made (`APP/` while a pod starts container APP), so the
    /// phases of several containers in one command stay apart.
    static SCOPE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Marks made until the next call are named `SCOPE/phase`; `None` ends the scope.
pub fn set_scope(scope: Option<&str>) {
    SCOPE.with(|s| *s.borrow_mut() = scope.map(str::to_string));
}

fn scoped(phase: &'static str) -> Cow<'static, str> {
    SCOPE.with(|s| {
        s.borrow()
            .as_ref()
            .map_or(Cow::Borrowed(phase), |p| Cow::Owned(format!("{p}/{phase}")))
    })
}

/// Start recording (called once by main when timings are wanted).
pub fn enable() {
    MARKS.with(|m| *m.borrow_mut() = Some((Instant::now(), Vec::new())));
}

/// Record that a phase ended now.
pub fn mark(phase: &'static str) {
    MARKS.with(|m| {
        if let Some((start, v)) = m.borrow_mut().as_mut() {
            let us = start.elapsed().as_micros();
            let name = scoped(phase);
            tracing::debug!(phase = %name, us, "phase");
            v.push((name, us));
        }
    });
}

/// Record that a phase ended at `at` (a step timed by another crate, e.g. pod networking).
pub fn mark_at(phase: &'static str, at: Instant) {
    MARKS.with(|m| {
        if let Some((start, v)) = m.borrow_mut().as_mut() {
            let us = at.saturating_duration_since(*start).as_micros();
            v.push((scoped(phase), us));
        }
    });
}

/// True when marks are being recorded.
#[must_use]
pub fn enabled() -> bool {
    MARKS.with(|m| m.borrow().is_some())
}

/// The marks whose phase (after any `SCOPE/`) starts with `prefix` (`""`: all), to send to
/// the process that prints them: the init sends its [`INIT_PREFIX`] marks to the runtime, a
/// detached pod's monitor sends all of its marks to `podrt run --detach`.
#[must_use]
pub fn marks_with_prefix(prefix: &str) -> Vec<(String, u64)> {
    MARKS.with(|m| {
        m.borrow().as_ref().map_or_else(Vec::new, |(_, v)| {
            v.iter()
                .filter(|(k, _)| k.rsplit('/').next().unwrap_or(k).starts_with(prefix))
                .map(|(k, us)| (k.to_string(), u64::try_from(*us).unwrap_or(u64::MAX)))
                .collect()
        })
    })
}

/// Adds marks another process of this command sent (a clone or fork of this one, so the
/// microseconds count from the same start); a name already present is replaced.
pub fn merge(marks: Vec<(String, u64)>) {
    MARKS.with(|m| {
        if let Some((_, v)) = m.borrow_mut().as_mut() {
            for (k, us) in marks {
                v.retain(|(have, _)| *have != k);
                v.push((Cow::Owned(k), u128::from(us)));
            }
        }
    });
}

/// Print the recorded phases as `{"timings_us":{"config":12,...}}` on stderr.
pub fn report() {
    MARKS.with(|m| {
        if let Some((_, v)) = m.borrow().as_ref() {
            // In time order: the init's marks arrive after the runtime's later ones.
            let mut v = v.clone();
            v.sort_by_key(|(_, us)| *us);
            let map: serde_json::Map<String, serde_json::Value> = v
                .iter()
                .map(|(k, us)| ((*k).to_string(), serde_json::json!(us)))
                .collect();
            eprintln!("{}", serde_json::json!({ "timings_us": map }));
        }
    });
}
