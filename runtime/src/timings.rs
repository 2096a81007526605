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
            tracing::debug!(phase, us, "phase");
            v.push((Cow::Borrowed(phase), us));
        }
    });
}

/// True when marks are being recorded.
#[must_use]
pub fn enabled() -> bool {
    MARKS.with(|m| m.borrow().is_some())
}

/// The init's own marks (see [`INIT_PREFIX`]), to send to the runtime.
#[must_use]
pub fn init_marks() -> Vec<(String, u64)> {
    MARKS.with(|m| {
        m.borrow().as_ref().map_or_else(Vec::new, |(_, v)| {
            v.iter()
                .filter(|(k, _)| k.starts_with(INIT_PREFIX))
                .map(|(k, us)| (k.to_string(), u64::try_from(*us).unwrap_or(u64::MAX)))
                .collect()
        })
    })
}

/// Adds marks the init sent (only names with [`INIT_PREFIX`] are taken).
pub fn merge(marks: Vec<(String, u64)>) {
    MARKS.with(|m| {
        if let Some((_, v)) = m.borrow_mut().as_mut() {
            v.extend(
                marks
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(INIT_PREFIX))
                    .map(|(k, us)| (Cow::Owned(k), u128::from(us))),
            );
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
