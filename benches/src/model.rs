//! What a benchmark run produced: per scenario, per peer, one sample per counted round.

use std::collections::BTreeMap;

use crate::stats::{self, Summary};

/// One counted run of one peer.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// The timed unit, in milliseconds.
    pub total_ms: f64,
    /// User + system CPU of every process of the unit (with the descendants they reaped).
    pub cpu_ms: f64,
    /// Peak RSS (KiB): the largest `ru_maxrss` among the unit's processes.
    pub maxrss_kib: u64,
    /// Wall time of each step of the unit (lifecycle: create, start, wait, delete).
    pub steps: Vec<(String, f64)>,
    /// podrt only: `command.phase` → milliseconds since that command started recording
    /// (from its `--timings` line).
    pub phases: BTreeMap<String, f64>,
    /// The peer that ran just before (kernel work it left behind can slow this run).
    pub after: Option<String>,
    /// Other numbers a scenario records per run (memory, counts), by name.
    pub extra: Vec<(String, f64)>,
}

impl Sample {
    /// A named extra number of this run.
    pub fn extra(&self, name: &str) -> Option<f64> {
        self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// One contender or floor in a scenario.
#[derive(Debug, Clone)]
pub struct PeerResult {
    /// Short name used in tables, IDs and the plot.
    pub name: String,
    /// What exactly runs, for the report.
    pub command: String,
    /// A floor (not a runtime): shown for reference.
    pub floor: bool,
    pub samples: Vec<Sample>,
}

impl PeerResult {
    pub fn totals(&self) -> Vec<f64> {
        self.samples.iter().map(|s| s.total_ms).collect()
    }

    pub fn summary(&self) -> Summary {
        stats::summarize(&self.totals())
    }

    pub fn cpu_median(&self) -> f64 {
        stats::median(&self.samples.iter().map(|s| s.cpu_ms).collect::<Vec<_>>())
    }

    #[allow(clippy::cast_precision_loss)]
    pub fn rss_median_kib(&self) -> f64 {
        stats::median(
            &self
                .samples
                .iter()
                .map(|s| s.maxrss_kib as f64)
                .collect::<Vec<_>>(),
        )
    }

    /// Summary of a named step across samples.
    pub fn step_summary(&self, step: &str) -> Option<Summary> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.steps.iter().find(|(n, _)| n == step).map(|(_, ms)| *ms))
            .collect();
        (!v.is_empty()).then(|| stats::summarize(&v))
    }

    /// Every run's value of a named extra number (runs without it are left out).
    pub fn extras(&self, name: &str) -> Vec<f64> {
        self.samples.iter().filter_map(|s| s.extra(name)).collect()
    }

    /// Median of a named extra number across samples.
    pub fn extra_median(&self, name: &str) -> Option<f64> {
        let v = self.extras(name);
        (!v.is_empty()).then(|| stats::median(&v))
    }

    /// Median of a named step across samples.
    pub fn step_median(&self, step: &str) -> Option<f64> {
        self.step_summary(step).map(|s| s.median)
    }
}

/// All peers of one scenario, sampled in the same rounds.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub description: String,
    pub peers: Vec<PeerResult>,
    /// Peers the scenario wanted but could not measure on this machine, with the reason.
    pub not_measured: Vec<(String, String)>,
}

impl ScenarioResult {
    pub fn peer(&self, name: &str) -> Option<&PeerResult> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// Per-round `a / b`, where either side may be a difference of two peers (`b - c`).
    pub fn paired(&self, a: &str, b: &str, minus: Option<&str>) -> Option<Vec<f64>> {
        let a = self.peer(a)?.totals();
        let mut b = self.peer(b)?.totals();
        if let Some(c) = minus {
            let c = self.peer(c)?.totals();
            b = b.iter().zip(&c).map(|(x, y)| x - y).collect();
        }
        Some(stats::paired_ratios(&a, &b))
    }
}
