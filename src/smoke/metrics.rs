//! Error metrics, timing and the machine's measured memory bandwidth.
//!
//! The error of a check is `max |y - ref| / max |ref|`: the largest deviation relative to the
//! reference output's scale. A plain elementwise relative error is meaningless for outputs near
//! zero (and a matmul has many); normalizing by the largest reference value keeps the number
//! comparable across layers and batch sizes, and a single bad element still shows.

use std::time::Instant;

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

/// Runs `f` `reps` times (at least once) and returns its last result and the median seconds.
pub fn timed<R>(reps: usize, mut f: impl FnMut() -> R) -> (R, f64) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        let r = f();
        times.push(t0.elapsed().as_secs_f64());
        out = Some(r);
    }
    match out {
        Some(r) => (r, median(&mut times)),
        None => unreachable!("ran at least once"),
    }
}

/// The machine's memory read bandwidth (GB/s): all threads summing a buffer of `mib` MiB, best
/// of three passes.
pub fn cpu_read_bandwidth(mib: usize) -> f64 {
    let n = mib * 1024 * 1024 / 4;
    let mut buf = vec![0f32; n];
    super::par::for_chunks(&mut buf, 1 << 16, |first, piece| {
        for (i, v) in piece.iter_mut().enumerate() {
            *v = ((first + i) % 7) as f32;
        }
    });
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t0 = Instant::now();
        let sums = super::par::map_ranges(n, |r| {
            let s = &buf[r];
            let mut acc = [0f32; 16];
            for c in s.chunks_exact(16) {
                for t in 0..16 {
                    acc[t] += c[t];
                }
            }
            acc.iter().sum::<f32>()
        });
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
    fn bandwidth_is_positive() {
        assert!(cpu_read_bandwidth(8) > 0.0);
    }
}
