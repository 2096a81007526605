//! Order statistics for small samples: quantiles (linear interpolation between closest ranks,
//! the "type 7" estimator of R and numpy) and paired ratios.

/// A sample sorted ascending (NaNs are not expected; they sort last).
pub fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// The `q` quantile (0..=1) of an ascending sample; `NaN` for an empty one.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The usual description of a latency sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p90: f64,
    pub max: f64,
}

/// Summarize a sample (any order).
pub fn summarize(v: &[f64]) -> Summary {
    let s = sorted(v);
    Summary {
        n: s.len(),
        min: quantile(&s, 0.0),
        p25: quantile(&s, 0.25),
        median: quantile(&s, 0.5),
        p75: quantile(&s, 0.75),
        p90: quantile(&s, 0.9),
        max: quantile(&s, 1.0),
    }
}

/// Median of a sample (any order).
pub fn median(v: &[f64]) -> f64 {
    quantile(&sorted(v), 0.5)
}

/// Per-round ratios `a[i] / b[i]` of two samples taken in the same rounds.
pub fn paired_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// A small deterministic generator (xorshift64*) for run orders: seeded, so a run order can be
/// reproduced, and good enough to decorrelate neighbours.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Zero is a fixed point of xorshift.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniformly shuffled `0..n` (Fisher-Yates).
    #[allow(clippy::cast_possible_truncation)]
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let s = sorted(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert_eq!(quantile(&s, 0.5), 2.5);
        assert!((quantile(&s, 0.9) - 3.7).abs() < 1e-9);
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(quantile(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn permutations_are_permutations_and_vary() {
        let mut r = Rng::new(1);
        let a = r.permutation(7);
        let mut sorted_a = a.clone();
        sorted_a.sort_unstable();
        assert_eq!(sorted_a, (0..7).collect::<Vec<_>>());
        let distinct: std::collections::HashSet<Vec<usize>> =
            (0..20).map(|_| r.permutation(7)).collect();
        assert!(distinct.len() > 10);
        assert_eq!(Rng::new(5).permutation(9), Rng::new(5).permutation(9));
    }

    #[test]
    fn summary_and_ratios() {
        let s = summarize(&[5.0, 1.0, 3.0]);
        assert_eq!((s.n, s.min, s.median, s.max), (3, 1.0, 3.0, 5.0));
        assert_eq!(paired_ratios(&[2.0, 3.0], &[4.0, 3.0]), vec![0.5, 1.0]);
        assert_eq!(median(&[0.5, 1.0, 9.0]), 1.0);
    }
}
