//! The float operations of torch's CPU kernels that bitsandbytes' CPU path runs, reproduced bit
//! for bit, because bitsandbytes' bytes are decided by them:
//!
//! - `scalar / tensor` is `tensor.reciprocal() * scalar` (torch's `Tensor.__rtruediv__`): two
//!   roundings, not one division. `127.0 / row_absmax` in `int8_vectorwise_quant` is this;
//! - `Tensor.to(torch.int8)` truncates and wraps, and gives 0 for NaN, infinities and values
//!   beyond the 32-bit range (the x86 conversion);
//! - `Tensor.sum()` of a contiguous f32 vector is the cascade sum of `SumKernel.cpp`: vectors of
//!   `lanes` floats summed by `row_sum` (four interleaved accumulators, each a four-level cascade
//!   of chunks), the tail added element by element, then the lanes in order; `mean()` is that
//!   sum divided by the count in f32, with [`SUM_LANES`] lanes.
//!
//! One limit, bitsandbytes' own: above 32768 elements torch splits a sum across its threads, so
//! its result then depends on the thread count; this reproduces the one-thread sum.

/// `s / x` as torch computes a Python scalar divided by an f32 tensor.
#[inline]
pub fn rdiv(s: f32, x: f32) -> f32 {
    (1.0 / x) * s
}

/// torch's float-to-int8 cast (`Tensor.to(torch.int8)` on the CPU).
#[inline]
pub fn to_i8(v: f32) -> i8 {
    if v.is_finite() && v.abs() < 2_147_483_648.0 {
        v as i32 as i8
    } else {
        0
    }
}

/// The lanes of the vectors torch's sum kernel adds: 8. torch builds that kernel at most for
/// AVX2 (`Vectorized<float>` of 8 floats) even where it runs AVX-512 kernels elsewhere; checked
/// against torch 2.15 on an AVX-512 machine (lanes of 16 disagree in about half the cases).
pub const SUM_LANES: usize = 8;

/// `utils::CeilLog2`: 1 for x <= 2, else ceil(log2(x)).
fn ceil_log2(x: usize) -> u32 {
    if x <= 2 {
        1
    } else {
        usize::BITS - (x - 1).leading_zeros()
    }
}

/// An accumulator: an f32, or a vector of lanes added lane by lane.
trait Acc: Copy {
    fn zero(lanes: usize) -> Self;
    fn add(&mut self, o: &Self);
}

impl Acc for f32 {
    fn zero(_: usize) -> Self {
        0.0
    }
    fn add(&mut self, o: &Self) {
        *self += *o;
    }
}

/// Up to 16 lanes (AVX-512); `n` of them in use.
#[derive(Clone, Copy)]
struct Lanes {
    v: [f32; 16],
    n: usize,
}

impl Acc for Lanes {
    fn zero(lanes: usize) -> Self {
        Lanes {
            v: [0.0; 16],
            n: lanes,
        }
    }
    fn add(&mut self, o: &Self) {
        for i in 0..self.n {
            self.v[i] += o.v[i];
        }
    }
}

/// `multi_row_sum<_, 4>`: `size` rows of 4 items (`item(row, k)`), summed per column through a
/// four-level cascade.
fn multi_row_sum<T: Acc>(size: usize, lanes: usize, item: impl Fn(usize, usize) -> T) -> [T; 4] {
    const LEVELS: usize = 4;
    let level_power = (ceil_log2(size) / LEVELS as u32).max(4);
    let level_step = 1usize << level_power;
    let level_mask = level_step - 1;
    let mut acc = [[T::zero(lanes); 4]; LEVELS];
    let mut i = 0usize;
    while i + level_step <= size {
        for _ in 0..level_step {
            for (k, a) in acc[0].iter_mut().enumerate() {
                a.add(&item(i, k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            let (lower, upper) = acc.split_at_mut(j);
            for (u, l) in upper[0].iter_mut().zip(lower[j - 1].iter_mut()) {
                u.add(l);
                *l = T::zero(lanes);
            }
            if i & (level_mask << (j as u32 * level_power)) != 0 {
                break;
            }
        }
    }
    while i < size {
        for (k, a) in acc[0].iter_mut().enumerate() {
            a.add(&item(i, k));
        }
        i += 1;
    }
    let mut out = acc[0];
    for level in acc.iter().skip(1) {
        for (o, a) in out.iter_mut().zip(level) {
            o.add(a);
        }
    }
    out
}

/// `row_sum`: `size` items as `[size / 4, 4]` partial sums, the rest into the first, then the
/// four summed in order.
fn row_sum<T: Acc>(size: usize, lanes: usize, item: impl Fn(usize) -> T) -> T {
    let size_ilp = size / 4;
    let mut p = multi_row_sum(size_ilp, lanes, |row, k| item(row * 4 + k));
    for i in size_ilp * 4..size {
        p[0].add(&item(i));
    }
    let mut s = p[0];
    for q in &p[1..] {
        s.add(q);
    }
    s
}

/// `torch.sum` of a contiguous f32 vector with `lanes`-wide vectors (see the module comment).
pub fn sum(x: &[f32], lanes: usize) -> f32 {
    let lanes = lanes.clamp(1, 16);
    let n = x.len();
    if n < lanes {
        return row_sum(n, 1, |i| x[i]);
    }
    let vecs = n / lanes;
    let v = row_sum(vecs, lanes, |i| {
        let mut l = Lanes::zero(lanes);
        l.v[..lanes].copy_from_slice(&x[i * lanes..(i + 1) * lanes]);
        l
    });
    let mut total = 0f32;
    for &t in &x[vecs * lanes..] {
        total += t;
    }
    for &l in &v.v[..lanes] {
        total += l;
    }
    total
}

/// `torch.mean` of a contiguous f32 vector: the sum divided by the count, in f32.
pub fn mean(x: &[f32], lanes: usize) -> f32 {
    if x.is_empty() {
        return f32::NAN;
    }
    sum(x, lanes) / x.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cascade_is_exact_on_small_integers_and_orders_the_rest() {
        for lanes in [8, 16] {
            for n in [0usize, 1, 3, 7, 15, 16, 17, 64, 100, 1000, 5000] {
                let x: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
                let want: f32 = x.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
                assert_eq!(sum(&x, lanes), want, "{n} {lanes}");
            }
        }
        // the order matters in f32: 1 + 2^-24 added 16 times per lane rounds differently from
        // a sequential sum
        let x: Vec<f32> = std::iter::once(1.0)
            .chain(std::iter::repeat_n(2f32.powi(-24), 31))
            .collect();
        let sequential: f32 = x.iter().sum();
        assert_eq!(sequential, 1.0);
        assert!(sum(&x, 16) > 1.0);
    }

    #[test]
    fn scalar_over_tensor_is_reciprocal_times_scalar() {
        // the int8 case of issue 12: 1492 * (127 / 2984) is a tie only with two roundings
        let s = rdiv(127.0, 2984.0);
        assert_ne!(s, 127.0f32 / 2984.0);
        assert_eq!((1492.0 * s).round_ties_even(), 64.0);
        assert_eq!((1492.0 * (127.0f32 / 2984.0)).round_ties_even(), 63.0);
    }

    #[test]
    fn the_int8_cast_is_torchs() {
        assert_eq!(to_i8(f32::NAN), 0);
        assert_eq!(to_i8(f32::INFINITY), 0);
        assert_eq!(to_i8(-f32::INFINITY), 0);
        assert_eq!(to_i8(1e30), 0);
        assert_eq!(to_i8(-127.0), -127);
        assert_eq!(to_i8(200.0), -56);
        assert_eq!(ceil_log2(1), 1);
        assert_eq!(ceil_log2(3), 2);
        assert_eq!(ceil_log2(1024), 10);
        assert_eq!(ceil_log2(1025), 11);
    }
}
