//! LoRA (peft): the adapter forward `W x + (alpha / r) B (A x)` and the merge `W + (alpha / r) B A`.
//!
//! peft initializes `B` to zero, which would make any forward check pass trivially; here `B` is
//! random, as after training, and scaled so the adapter moves the output by about half the base
//! projection's size: a wrong scale (alpha instead of alpha/r), a transposed factor or a missing
//! term then changes the output by far more than the check's bound.

use rayon::prelude::*;

use super::{
    bytes_f32, decoded_matmul, reference, transpose, Bound, Diff, Format, FormatError, Measured,
    Reference, Report,
};
use crate::model::SmokeCheckId;
use crate::smoke::dump::{le_f32, Artifacts};
use crate::smoke::model::{LayerTensor, Rng};

/// A LoRA adapter for a `[rows, cols]` projection: `a` is `[r, cols]`, `b` is `[rows, r]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Lora {
    pub r: usize,
    pub alpha: f32,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

impl Lora {
    /// peft's scaling, `alpha / r`.
    pub fn scale(&self) -> f32 {
        self.alpha / self.r as f32
    }

    /// Adapter bytes in 16-bit (A and B), as peft saves them for a bf16 model.
    pub fn bytes16(&self) -> u64 {
        2 * (self.a.len() + self.b.len()) as u64
    }

    /// A seeded adapter: `A` ~ U(-1/sqrt(cols), 1/sqrt(cols)) (peft's Kaiming-uniform bound),
    /// `B` ~ N(0, s^2) with `s = 0.01 sqrt(cols) / (scale sqrt(r))`.
    pub fn seeded(rows: usize, cols: usize, r: usize, alpha: f32, seed: u64) -> Lora {
        let mut rng = Rng::stream(seed, 0x10A, (rows * 31 + cols) as u64);
        let bound = 1.0 / (cols as f32).sqrt();
        let a: Vec<f32> = (0..r * cols)
            .map(|_| (2.0 * rng.uniform() - 1.0) * bound)
            .collect();
        let scale = alpha / r as f32;
        let sb = 0.01 * (cols as f32).sqrt() / (scale.abs().max(1e-6) * (r as f32).sqrt());
        let b: Vec<f32> = (0..rows * r).map(|_| rng.normal() * sb).collect();
        Lora { r, alpha, a, b }
    }
}

/// `y = x W^T` for f32 `W` (`[rows, cols]`) and `x` (`[batch, cols]`), rows split across
/// threads; returns `[batch, rows]`.
pub fn gemv_f32(w: &[f32], rows: usize, cols: usize, x: &[f32], batch: usize) -> Vec<f32> {
    let mut yt = vec![0f32; rows * batch];
    yt.par_chunks_mut(batch.max(1))
        .enumerate()
        .for_each(|(r, out)| {
            let wr = &w[r * cols..(r + 1) * cols];
            for (b, o) in out.iter_mut().enumerate() {
                *o = dot_f32(wr, &x[b * cols..(b + 1) * cols]);
            }
        });
    transpose(&yt, rows, batch)
}

/// An f32 dot product with 8 partial sums (vectorizes).
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let n = a.len() - a.len() % 8;
    for (x, y) in a[..n].chunks_exact(8).zip(b[..n].chunks_exact(8)) {
        for t in 0..8 {
            acc[t] += x[t] * y[t];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        s += x * y;
    }
    s
}

/// The adapter forward: `W x + scale * B (A x)`, `[batch, rows]`.
pub fn forward(w: &[f32], rows: usize, cols: usize, l: &Lora, x: &[f32], batch: usize) -> Vec<f32> {
    let base = gemv_f32(w, rows, cols, x, batch);
    let ax = gemv_f32(&l.a, l.r, cols, x, batch); // [batch, r]
    let bax = gemv_f32(&l.b, rows, l.r, &ax, batch); // [batch, rows]
    let s = l.scale();
    base.iter().zip(&bax).map(|(y, d)| y + s * d).collect()
}

/// The merged weight `W + scale * B A` (rows split across threads).
pub fn merge(w: &[f32], rows: usize, cols: usize, l: &Lora) -> Vec<f32> {
    let mut out = w.to_vec();
    let s = l.scale();
    out.par_chunks_mut(cols.max(1))
        .take(rows)
        .enumerate()
        .for_each(|(n, row)| {
            for k in 0..l.r {
                let c = s * l.b[n * l.r + k];
                for (o, a) in row.iter_mut().zip(&l.a[k * cols..(k + 1) * cols]) {
                    *o += c * a;
                }
            }
        });
    out
}

/// The stored form of a LoRA check: the adapter, and the merged weight `W + (alpha/r) B A`
/// (what merge-and-unload deploys), made at "quantize" time.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraPacked {
    pub adapter: Lora,
    pub merged: Vec<f32>,
}

/// A seeded LoRA adapter of rank `rank` as a [`Format`]: the kernel is the adapter forward, the
/// merged weight's output is compared with it too.
pub struct LoraFormat {
    pub rank: usize,
    pub alpha: f32,
    pub seed: u64,
}

impl LoraFormat {
    /// The adapter of a `[rows, cols]` projection.
    pub fn adapter(&self, t: &LayerTensor) -> Lora {
        Lora::seeded(t.proj.rows, t.proj.cols, self.rank, self.alpha, self.seed)
    }
}

/// Merged weights of two devices may differ by f32 rounding (another summation order); they
/// agree when no element differs by more than this fraction of the largest.
const MERGED_TOLERANCE: f32 = 1e-5;

impl Format for LoraFormat {
    type Packed = LoraPacked;
    type Act = ();

    fn id(&self) -> SmokeCheckId {
        SmokeCheckId::Lora
    }

    fn shape_note(&self) -> String {
        format!(" · r {} · alpha {}", self.rank, self.alpha)
    }

    fn quantize(&self, t: &LayerTensor) -> Result<LoraPacked, FormatError> {
        let adapter = self.adapter(t);
        let merged = merge(&t.w, t.proj.rows, t.proj.cols, &adapter);
        Ok(LoraPacked { adapter, merged })
    }

    fn decode(&self, _t: &LayerTensor, p: &LoraPacked) -> Vec<f32> {
        p.merged.clone()
    }

    fn matmul(
        &self,
        t: &LayerTensor,
        p: &LoraPacked,
        x: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, ()), FormatError> {
        let y = forward(&t.w, t.proj.rows, t.proj.cols, &p.adapter, x, batch);
        Ok((y, ()))
    }

    fn compressed_bytes(&self, _t: &LayerTensor, p: &LoraPacked) -> u64 {
        p.adapter.bytes16()
    }

    fn read_bytes(&self, t: &LayerTensor, p: &LoraPacked) -> Option<u64> {
        Some(bytes_f32(
            t.proj.params() + p.adapter.a.len() + p.adapter.b.len(),
        ))
    }

    /// `W x + s B (A x)` exactly, its terms `|W||x| + |s| |B| (|A||x|)`.
    fn reference(&self, t: &LayerTensor, p: &LoraPacked, x: &[f32], batch: usize) -> Reference {
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let l = &p.adapter;
        let s = f64::from(l.scale());
        let base = reference::of_decoded(&t.w, rows, cols, x, batch);
        let ax = reference::of_decoded(&l.a, l.r, cols, x, batch);
        let mut y = base.y;
        let mut terms = base.terms;
        for b in 0..batch {
            for r in 0..rows {
                let (mut d, mut dt) = (0f64, 0f64);
                for j in 0..l.r {
                    let bj = f64::from(l.b[r * l.r + j]);
                    d += bj * ax.y[b * l.r + j];
                    dt += bj.abs() * ax.terms[b * l.r + j];
                }
                y[b * rows + r] += s * d;
                terms[b * rows + r] += s.abs() * dt;
            }
        }
        Reference { y, terms }
    }

    /// Three f32 products (W x over `cols`, A x over `cols`, B (A x) over `r`) and the sum.
    fn bound(&self, t: &LayerTensor, p: &LoraPacked, _x: &[f32], _batch: usize) -> Bound {
        Bound::f32_roundings(t.proj.cols + p.adapter.r + 8)
    }

    /// The difference from `W x` is the adapter's purpose, not an error.
    fn has_format_error(&self) -> bool {
        false
    }

    fn diff(&self, cpu: &LoraPacked, dev: &LoraPacked) -> Option<Diff> {
        let scale = cpu.merged.iter().fold(0f32, |m, v| m.max(v.abs()));
        let tol = MERGED_TOLERANCE * scale;
        Some(Diff::count(
            &dev.merged,
            &cpu.merged,
            |a, b| (a - b).abs() <= tol,
            "merged weight (to f32 rounding)",
        ))
    }

    /// The merged weight's output must meet the same bound (the merge rounds `r + 2` more times
    /// per element).
    fn report(&self, m: &Measured<'_, Self>) -> Report {
        let l = &m.packed.adapter;
        let merged_bound = Bound::f32_roundings(m.bound.roundings + l.r + 2);
        let mut failures = Vec::new();
        let me = match decoded_matmul(m.x, m.batch, &m.packed.merged, m.t) {
            Ok(ym) => reference::kernel_error(&ym, m.reference, merged_bound).0,
            Err(e) => {
                failures.push(format!(
                    "the merged weight's product failed: {}",
                    crate::smoke::chain(&e)
                ));
                f64::INFINITY
            }
        };
        if me.is_nan() || me > merged_bound.rel {
            failures.push(format!(
                "the merged weight's output differs from W x + s B (A x) by {me:.3e} of its terms (bound {:.1e})",
                merged_bound.rel
            ));
        }
        let effect = reference::format_error(m.reference, m.f32_ref);
        Report {
            notes: vec![
                format!(
                    "merged weight W + (alpha/r) B A, multiplied by candle: {me:.2e} of its terms (bound {:.1e})",
                    merged_bound.rel
                ),
                format!(
                    "the adapter changes the output by {:.0}% of its scale (B random, not peft's zero init)",
                    100.0 * effect
                ),
                format!("merge W + (alpha/r) B A: {:.1} ms", m.quantize_secs * 1e3),
            ],
            failures,
        }
    }

    fn dump(
        &self,
        t: &LayerTensor,
        p: &LoraPacked,
        _x: &[f32],
        _batch: usize,
        out: &mut Artifacts,
    ) {
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let l = &p.adapter;
        out.push(
            "lora_A",
            safetensors::Dtype::F32,
            vec![l.r, cols],
            le_f32(&l.a),
        );
        out.push(
            "lora_B",
            safetensors::Dtype::F32,
            vec![rows, l.r],
            le_f32(&l.b),
        );
        out.meta("lora_r", l.r.to_string());
        out.meta("lora_alpha", l.alpha.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_forward() {
        let mut rng = Rng::new(11);
        let (rows, cols, r, batch) = (24, 40, 4, 3);
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.normal() * 0.02).collect();
        let x: Vec<f32> = (0..batch * cols).map(|_| rng.normal()).collect();
        let l = Lora::seeded(rows, cols, r, 8.0, 1);
        let y = forward(&w, rows, cols, &l, &x, batch);
        let merged = merge(&w, rows, cols, &l);
        let ym = gemv_f32(&merged, rows, cols, &x, batch);
        let base = gemv_f32(&w, rows, cols, &x, batch);
        let scale = y.iter().fold(0f32, |m, v| m.max(v.abs()));
        for i in 0..y.len() {
            assert!(
                (y[i] - ym[i]).abs() <= 1e-5 * scale,
                "{i}: {} vs {}",
                y[i],
                ym[i]
            );
        }
        // the adapter really changes the output (a zero-initialized B would not)
        let delta = y
            .iter()
            .zip(&base)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(delta > 0.1 * scale, "{delta} vs {scale}");
    }
}
