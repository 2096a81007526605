//! Phase timestamps of a command (config, plan, cgroup, clone, ready, ...), printed as one JSON
//! line on stderr when `--timings` is given or `PODRT_TIMINGS=1`, and logged at debug level, so
//! benchmarks can show where the time goes.

use std::cell::RefCell;
use std::time::Instant;

/// Start instant and (phase, microseconds since start) pairs.
type Marks = Option<(Instant, Vec<(&'static str, u128)>)>;

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
            v.push((phase, us));
        }
    });
}

/// Print the recorded phases as `{"timings_us":{"config":12,...}}` on stderr.
pub fn report() {
    MARKS.with(|m| {
        if let Some((_, v)) = m.borrow().as_ref() {
            let map: serde_json::Map<String, serde_json::Value> = v
                .iter()
                .map(|(k, us)| ((*k).to_string(), serde_json::json!(us)))
                .collect();
            eprintln!("{}", serde_json::json!({ "timings_us": map }));
        }
    });
}
