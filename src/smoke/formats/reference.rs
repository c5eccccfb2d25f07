//! The verdict's yardstick: a format's own reference computed in f64 from the stored codes and
//! scales, and the f32 rounding bound a kernel must meet against it.
//!
//! A kernel sums `n` products in f32 in some order. Whatever the order and whatever the values,
//! its result differs from the exact sum by at most `γ_n · Σ|terms|` (γ_n = n·u / (1 − n·u),
//! u = 2⁻²⁴; Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1), plus 2⁻¹⁴⁹ per
//! operation where products fall into the subnormal range. The reference here is that exact sum
//! (every product of two f32 is exact in f64, and the f64 sum's own error is 2⁻²⁹ smaller than
//! the bound). So the check `|y − ref| ≤ γ_n · Σ|terms| + n·2⁻¹⁴⁹`, output by output, holds for
//! every correct kernel on every finite input, outlier features, zero blocks and subnormals
//! included — no statistics of the weights enter it. A wrong nibble order, block, scale or index
//! changes an output by a fraction of its terms (typically 1/√n of their sum, far above γ_n),
//! which is what the tests of the broken kernels show.
//!
//! The error reported is `max |y − ref| / (Σ|terms| + (out·|ref| + abs)/rel)`, so that
//! `error ≤ rel` is exactly the per-output check `|y − ref| ≤ rel·Σ|terms| + out·|ref| + abs`
//! (`out` is a final rounding of the output to 16 bits, relative to the output itself).

use rayon::prelude::*;

/// f32's unit roundoff.
pub const U32: f64 = 1.0 / 16_777_216.0;
/// The absolute rounding of one f32 operation in the subnormal range (2⁻¹⁴⁹).
pub const ETA32: f64 = 1.401_298_464_324_817e-45;

/// A format's reference product, `[batch, rows]`: the exact value of each output and the sum of
/// the absolute values of its terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub y: Vec<f64>,
    pub terms: Vec<f64>,
}

/// The bound of a kernel against a [`Reference`]: per output,
/// `|y − ref| ≤ rel · terms + out · |ref| + abs` (`out` for a final rounding of the output to a
/// narrower type, which is relative to the output itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub rel: f64,
    pub out: f64,
    pub abs: f64,
    /// How many roundings the bound allows for, for the evidence.
    pub roundings: usize,
}

impl Bound {
    /// `n` f32 roundings in any order.
    pub fn f32_roundings(n: usize) -> Bound {
        let nu = n as f64 * U32;
        Bound {
            rel: nu / (1.0 - nu),
            out: 0.0,
            abs: n as f64 * ETA32,
            roundings: n,
        }
    }

    /// This bound plus `partial` roundings of partial sums to a narrower type (unit roundoff
    /// `u`, relative to the terms) and one final rounding of the output (relative to the output;
    /// `eta` is half that type's smallest subnormal step).
    pub fn narrowed(self, u: f64, eta: f64, partial: usize) -> Bound {
        let k = partial as f64;
        Bound {
            // the output rounds the f32 result, itself off by `rel` of the terms
            rel: (self.rel + k * u * (1.0 + self.rel)) * (1.0 + u),
            out: self.out + u,
            abs: self.abs + (k + 1.0) * eta,
            roundings: self.roundings + partial + 1,
        }
    }
}

/// `y = x · Wᵀ` for a decoded `W` (`[rows, cols]`) and `x` (`[batch, cols]`), exactly in f64.
pub fn of_decoded(w: &[f32], rows: usize, cols: usize, x: &[f32], batch: usize) -> Reference {
    let mut y = vec![0f64; batch * rows];
    let mut terms = vec![0f64; batch * rows];
    y.par_chunks_mut(rows.max(1))
        .zip(terms.par_chunks_mut(rows.max(1)))
        .enumerate()
        .for_each(|(b, (yb, tb))| {
            let xb = &x[b * cols..(b + 1) * cols];
            for (r, (yo, to)) in yb.iter_mut().zip(tb.iter_mut()).enumerate() {
                let (s, a) = dot64(&w[r * cols..(r + 1) * cols], xb);
                *yo = s;
                *to = a;
            }
        });
    Reference { y, terms }
}

/// The exact dot product (in f64) and the sum of its terms' magnitudes.
#[inline]
pub fn dot64(a: &[f32], b: &[f32]) -> (f64, f64) {
    let mut s = 0f64;
    let mut t = 0f64;
    for (x, y) in a.iter().zip(b) {
        let p = f64::from(*x) * f64::from(*y);
        s += p;
        t += p.abs();
    }
    (s, t)
}

/// The kernel's error against the reference (see the module comment) and the output where it
/// is largest (`batch · rows + row`); infinite where the kernel gave NaN or a wrong length.
pub fn kernel_error(y: &[f32], r: &Reference, b: Bound) -> (f64, usize) {
    if y.len() != r.y.len() {
        return (f64::INFINITY, 0);
    }
    let (floor, out) = if b.rel > 0.0 {
        (b.abs / b.rel, b.out / b.rel)
    } else {
        (0.0, 0.0)
    };
    let mut worst = (0f64, 0usize);
    for (i, ((&yk, &rk), &tk)) in y.iter().zip(&r.y).zip(&r.terms).enumerate() {
        let d = (f64::from(yk) - rk).abs();
        // the terms, widened by what the absolute and output allowances are worth in them
        let scale = tk + out * rk.abs() + floor;
        let e = if d.is_nan() {
            f64::INFINITY
        } else if d == 0.0 {
            0.0
        } else if scale == 0.0 {
            f64::INFINITY
        } else {
            d / scale
        };
        if e > worst.0 {
            worst = (e, i);
        }
    }
    worst
}

/// What the format costs: `max |ref − f32 product of the original weights| / max |f32 product|`.
pub fn format_error(r: &Reference, f32_ref: &[f32]) -> f64 {
    relative(
        r.y.iter()
            .zip(f32_ref)
            .map(|(a, b)| (a - f64::from(*b)).abs()),
        f32_ref,
    )
}

/// A per-output error bound as a fraction of the f32 product's scale (as [`format_error`]).
pub fn relative_bound(worst: &[f64], f32_ref: &[f32]) -> f64 {
    relative(worst.iter().copied(), f32_ref)
}

fn relative(num: impl Iterator<Item = f64>, f32_ref: &[f32]) -> f64 {
    let n = num.fold(0f64, f64::max);
    let d = f32_ref.iter().fold(0f64, |m, v| m.max(f64::from(*v).abs()));
    if n == 0.0 {
        0.0
    } else if d == 0.0 {
        f64::INFINITY
    } else {
        n / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_f32_sum_in_any_order_meets_the_bound() {
        // terms of wildly different magnitudes, summed forward, backward and pairwise in f32
        let mut rng = crate::smoke::rng::Rng::new(4);
        let n = 4096;
        let w: Vec<f32> = (0..n)
            .map(|i| rng.normal() * if i % 97 == 0 { 40.0 } else { 0.02 })
            .collect();
        let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let r = of_decoded(&w, 1, n, &x, 1);
        let b = Bound::f32_roundings(n + 1);
        let fwd: f32 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
        let bwd: f32 = w.iter().zip(&x).rev().map(|(a, b)| a * b).sum();
        for y in [fwd, bwd] {
            let (e, _) = kernel_error(&[y], &r, b);
            assert!(e <= b.rel, "{e} > {}", b.rel);
        }
        // one product dropped is far outside it
        let dropped: f32 = w.iter().zip(&x).skip(1).map(|(a, b)| a * b).sum();
        assert!(kernel_error(&[dropped], &r, b).0 > 10.0 * b.rel || w[0] * x[0] == 0.0);
    }

    #[test]
    fn subnormal_products_get_their_absolute_allowance() {
        let w = [1e-40f32, 1e-40];
        let x = [1e-5f32, 1e-5];
        let r = of_decoded(&w, 1, 2, &x, 1);
        let y = w[0] * x[0] + w[1] * x[1]; // underflows to a few multiples of 2^-149
        let b = Bound::f32_roundings(3);
        assert!(kernel_error(&[y], &r, b).0 <= b.rel);
        assert_eq!(kernel_error(&[f32::NAN], &r, b).0, f64::INFINITY);
    }
}
