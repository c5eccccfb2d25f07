//! Error metrics, timing and the machine's measured memory bandwidth.
//!
//! The error of a check is `max |y - ref| / max |ref|`: the largest deviation relative to the
//! reference output's scale. A plain elementwise relative error is meaningless for outputs near
//! zero (and a matmul has many); normalizing by the largest reference value keeps the number
//! comparable across layers and batch sizes, and a single bad element still shows.

use std::time::Instant;

use rayon::prelude::*;

/// `max |y - r| / max |r|` (0 when both are all zero; infinite when only `r` is, or on NaN).
pub fn max_rel_error(y: &[f32], r: &[f32]) -> f64 {
    if y.len() != r.len() {
        return f64::INFINITY;
    }
    let mut num = 0f64;
    let mut den = 0f64;
    for (a, b) in y.iter().zip(r) {
        let d = (f64::from(*a) - f64::from(*b)).abs();
        if d.is_nan() {
            return f64::INFINITY;
        }
        num = num.max(d);
        den = den.max(f64::from(*b).abs());
    }
    if num == 0.0 {
        0.0
    } else if den == 0.0 {
        f64::INFINITY
    } else {
        num / den
    }
}

/// The median of some timings (seconds).
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The one repetition rule, for every device: after a warm-up run (not counted), a kernel runs
/// as many times as fit in `budget_s` at the warm-up's speed, at least `min` and at most `max`
/// times, and its time is the median of those runs. A slow CPU kernel so runs a few times and a
/// GPU kernel of microseconds up to `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reps {
    pub min: usize,
    pub max: usize,
    pub budget_s: f64,
}

impl Reps {
    /// One timed run after the warm-up (the quantizers, which run once).
    pub const ONCE: Reps = Reps {
        min: 1,
        max: 1,
        budget_s: 0.0,
    };

    /// How many timed runs follow a warm-up run of `warmup_s` seconds.
    pub fn count(self, warmup_s: f64) -> usize {
        let min = self.min.max(1);
        let fit = if warmup_s > 0.0 {
            (self.budget_s / warmup_s).floor().min(1e9) as usize
        } else {
            self.max
        };
        fit.clamp(min, self.max.max(min))
    }
}

/// Runs `f` once to warm up, then as often as `reps` says, and returns the last result and the
/// median seconds of the timed runs.
pub fn timed<R>(reps: Reps, mut f: impl FnMut() -> R) -> (R, f64) {
    let t0 = Instant::now();
    let mut out = f();
    let n = reps.count(t0.elapsed().as_secs_f64());
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        out = f();
        times.push(t0.elapsed().as_secs_f64());
    }
    (out, median(&mut times))
}

/// Like [`timed`] for a step that runs once (a quantizer): one run, its seconds.
pub fn once<R>(f: impl FnOnce() -> R) -> (R, f64) {
    let t0 = Instant::now();
    let out = f();
    (out, t0.elapsed().as_secs_f64())
}

/// The machine's memory read bandwidth (GB/s): all threads summing a buffer of `mib` MiB, best
/// of three passes.
pub fn cpu_read_bandwidth(mib: usize) -> f64 {
    let n = mib * 1024 * 1024 / 4;
    let mut buf = vec![0f32; n];
    buf.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, piece)| {
            for (i, v) in piece.iter_mut().enumerate() {
                *v = (((c << 16) + i) % 7) as f32;
            }
        });
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t0 = Instant::now();
        let sums: Vec<f32> = buf
            .par_chunks(1 << 16)
            .map(|s| {
                let mut acc = [0f32; 16];
                for c in s.chunks_exact(16) {
                    for t in 0..16 {
                        acc[t] += c[t];
                    }
                }
                acc.iter().sum::<f32>()
            })
            .collect();
        let dt = t0.elapsed().as_secs_f64();
        std::hint::black_box(sums);
        best = best.min(dt);
    }
    (n * 4) as f64 / best / 1e9
}

/// "12.3 GB/s (61% of 20.1 GB/s measured)".
pub fn gbs(bytes: u64, secs: f64, measured: Option<f64>) -> String {
    let g = bytes as f64 / secs.max(1e-12) / 1e9;
    match measured {
        Some(m) if m > 0.0 => format!(
            "{g:.1} GB/s ({:.0}% of {m:.1} GB/s measured)",
            100.0 * g / m
        ),
        _ => format!("{g:.1} GB/s"),
    }
}

/// "35.2 GFLOP/s" or "0.85 TFLOP/s".
pub fn flops(flop: f64, secs: f64) -> String {
    let f = flop / secs.max(1e-12);
    if f >= 1e12 {
        format!("{:.2} TFLOP/s", f / 1e12)
    } else {
        format!("{:.1} GFLOP/s", f / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_metric() {
        assert_eq!(max_rel_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((max_rel_error(&[1.1, 2.0], &[1.0, 2.0]) - 0.05).abs() < 1e-6);
        assert_eq!(max_rel_error(&[f32::NAN], &[1.0]), f64::INFINITY);
        assert_eq!(max_rel_error(&[1.0], &[0.0]), f64::INFINITY);
        assert_eq!(max_rel_error(&[1.0], &[1.0, 2.0]), f64::INFINITY);
    }

    #[test]
    fn timing_keeps_the_last_result_and_takes_the_median() {
        let mut calls = 0;
        let (r, secs) = timed(
            Reps {
                min: 3,
                max: 3,
                budget_s: 0.0,
            },
            || {
                calls += 1;
                calls
            },
        );
        assert_eq!((r, calls), (4, 4), "one warm-up and three timed runs");
        assert!(secs >= 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn bandwidth_is_positive() {
        assert!(cpu_read_bandwidth(8) > 0.0);
    }
}
