//! LLM.int8 (bitsandbytes 8-bit): vector-wise int8 quantization with outlier decomposition.
//!
//! The format is bitsandbytes' `int8_vectorwise_quant`, checked bit for bit against its golden
//! output: per row, `absmax` (f32, bitsandbytes' `SCB`) and `q = round_half_even(x * (127 /
//! absmax))` as int8. With a threshold (6.0 for activations), elements with `|x| >= threshold`
//! are left out of the row absmax, and every column holding one is an *outlier column*: zeroed in
//! the int8 values and multiplied separately in 16-bit.
//!
//! The matmul follows bitsandbytes' `MatMul8bitLt`: the weight is quantized row-wise once
//! (threshold 0), each activation row at run time (threshold 6.0); the int8 product accumulates
//! in i32 and is rescaled by `sx[b] * sw[n] / 127²`; the outlier columns of the activation are
//! multiplied in fp16 with the weight's columns dequantized from int8 (`CB[:, cols] * SCB /
//! 127`, as bitsandbytes does), so no fp16 copy of the weight is kept.

use rayon::prelude::*;

use super::simd;
use super::torch_ops;
use super::{bytes_f32, same_bits, Bound, Diff, Format, FormatError, Measured, Reference, Report};
use crate::model::SmokeCheckId;
use crate::smoke::dump::{le_f32, Artifacts};
use crate::smoke::metrics;
use crate::smoke::model::LayerTensor;

/// Rows one parallel task multiplies.
const ROWS_PER_TASK: usize = 16;

/// The LLM.int8 outlier threshold for the activations (bitsandbytes' default).
pub const THRESHOLD: f32 = 6.0;

/// 1/127 as bitsandbytes writes it (`int8_vectorwise_dequant`); its f32 is what is used.
#[allow(clippy::excessive_precision)]
const INV_127: f32 = 7.874_015_718_698_502e-3;

/// A row-wise int8-quantized matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8 {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<i8>,
    pub row_absmax: Vec<f32>,
    /// Outlier columns (ascending), empty without a threshold.
    pub outlier_cols: Vec<usize>,
}

impl Int8 {
    /// Bytes bitsandbytes keeps: the int8 values, the f32 row absmax and the i64 outlier column
    /// indices.
    pub fn bytes(&self) -> u64 {
        (self.values.len() + 4 * self.row_absmax.len() + 8 * self.outlier_cols.len()) as u64
    }
}

/// Quantizes `x` (`[rows, cols]`) row-wise as bitsandbytes 0.50's CPU path does
/// (`backends/default/ops.py`, `int8_vectorwise_quant`): outlier elements (`|x| >= threshold`,
/// when `threshold > 0`) are zeroed before the row absmax, `q = round_half_even(x * (127 /
/// absmax))` in f32 with torch's operations ([`torch_ops`]: the scale is a reciprocal times
/// 127, the cast gives 0 for what overflows, so a zero or subnormal row quantizes to zeros),
/// and every outlier column is zero in `q`.
pub fn quantize(x: &[f32], rows: usize, cols: usize, threshold: f32) -> Int8 {
    assert_eq!(x.len(), rows * cols);
    let is_outlier = |v: f32| threshold > 0.0 && v.abs() >= threshold;
    let mut outlier = vec![false; cols];
    if threshold > 0.0 {
        for row in x.chunks_exact(cols.max(1)) {
            for (o, &v) in outlier.iter_mut().zip(row) {
                *o |= is_outlier(v);
            }
        }
    }
    let outlier_cols: Vec<usize> = (0..cols).filter(|&c| outlier[c]).collect();
    let mut values = vec![0i8; rows * cols];
    let mut row_absmax = vec![0f32; rows];
    values
        .par_chunks_mut(cols.max(1))
        .zip(row_absmax.par_iter_mut())
        .enumerate()
        .for_each(|(r, (out, a))| {
            let row = &x[r * cols..(r + 1) * cols];
            // torch's max propagates NaN; the outliers were zeroed before it
            let m = row.iter().filter(|v| !is_outlier(**v)).fold(0f32, |m, v| {
                if m.is_nan() || v.is_nan() {
                    f32::NAN
                } else {
                    m.max(v.abs())
                }
            });
            *a = m;
            // `127.0 / row_stats` in torch is `row_stats.reciprocal() * 127.0`
            let s = torch_ops::rdiv(127.0, m);
            for ((o, &v), &is_out) in out.iter_mut().zip(row).zip(&outlier) {
                *o = if is_out {
                    0
                } else {
                    torch_ops::to_i8((v * s).round_ties_even())
                };
            }
        });
    Int8 {
        rows,
        cols,
        values,
        row_absmax,
        outlier_cols,
    }
}

/// bitsandbytes' `int8_vectorwise_dequant`: `(q * absmax) * (1/127)` in f32.
pub fn dequantize(q: &Int8) -> Vec<f32> {
    let mut out = vec![0f32; q.values.len()];
    out.par_chunks_mut(q.cols.max(1))
        .enumerate()
        .for_each(|(r, row)| {
            let a = q.row_absmax[r];
            for (o, &v) in row.iter_mut().zip(&q.values[r * q.cols..(r + 1) * q.cols]) {
                *o = (f32::from(v) * a) * INV_127;
            }
        });
    out
}

/// The int8 weight's column `c` of row `r`, dequantized and rounded to fp16 (the outlier path).
#[inline]
fn weight_f16(w: &Int8, r: usize, c: usize) -> f32 {
    let v = (f32::from(w.values[r * w.cols + c]) * w.row_absmax[r]) * INV_127;
    half::f16::from_f32(v).to_f32()
}

/// LLM.int8 matmul: `y[b][n] = x[b] . W[n]` with `w` quantized row-wise (threshold 0) and
/// `x` (`[batch, cols]`) quantized here with `threshold`. Returns `y` (`[batch, rows]`) and the
/// quantized activations.
pub fn matmul(w: &Int8, x: &[f32], batch: usize, threshold: f32) -> (Vec<f32>, Int8) {
    let cols = w.cols;
    let xq = quantize(x, batch, cols, threshold);
    let x16o: Vec<Vec<f32>> = (0..batch)
        .map(|b| {
            xq.outlier_cols
                .iter()
                .map(|&c| half::f16::from_f32(x[b * cols + c]).to_f32())
                .collect()
        })
        .collect();
    let isa = simd::Isa::best();
    let x16: Vec<i16> = xq.values.iter().map(|&v| i16::from(v)).collect();
    let mut yt = vec![0f32; w.rows * batch];
    let chunk = if batch > 2 {
        simd::CHUNK_COLS
    } else {
        cols.div_ceil(32).max(1) * 32
    };
    if batch > 0 {
        yt.par_chunks_mut(batch * ROWS_PER_TASK)
            .enumerate()
            .for_each_init(
                || vec![0i32; batch * ROWS_PER_TASK],
                |dots, (task, outs)| {
                    let (r0, nr) = (task * ROWS_PER_TASK, outs.len() / batch);
                    let wr = &w.values[r0 * cols..(r0 + nr) * cols];
                    let dots = &mut dots[..nr * batch];
                    simd::dot_i8_rows(isa, wr, &xq.values, &x16, batch, chunk, dots);
                    for (i, out) in outs.chunks_exact_mut(batch).enumerate() {
                        let r = r0 + i;
                        let row_dots = &dots[i * batch..(i + 1) * batch];
                        for (b, (o, &acc)) in out.iter_mut().zip(row_dots).enumerate() {
                            let mut y =
                                acc as f32 * (xq.row_absmax[b] * w.row_absmax[r]) * (1.0 / 16129.0);
                            let mut extra = 0f32;
                            for (k, &c) in xq.outlier_cols.iter().enumerate() {
                                extra += x16o[b][k] * weight_f16(w, r, c);
                            }
                            y += extra;
                            *o = y;
                        }
                    }
                },
            );
    }
    (super::transpose(&yt, w.rows, batch), xq)
}

/// The exact i32 dot product of two int8 rows (chunked so the compiler vectorizes it): the
/// scalar path of [`simd::dot_i8_rows`], and its reference.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, ra) = a.split_at(a.len() - a.len() % 16);
    let (cb, rb) = b.split_at(ca.len());
    for (x, y) in ca.chunks_exact(16).zip(cb.chunks_exact(16)) {
        for t in 0..16 {
            acc[t] += i32::from(x[t]) * i32::from(y[t]);
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += i32::from(*x) * i32::from(*y);
    }
    s
}

/// LLM.int8 as a [`Format`]: the weight quantized row-wise once (threshold 0), each activation
/// row at run time with [`THRESHOLD`], the outlier columns multiplied in fp16.
pub struct Int8Llm;

/// Whether a row quantized to all zeros although its absmax is not zero (subnormal: `127 /
/// absmax` overflows, and torch's cast makes the infinities 0).
fn collapsed(absmax: f32) -> bool {
    !torch_ops::rdiv(127.0, absmax).is_finite()
}

/// The most rounding to int8 moves one element of a row with this absmax: half a step, or the
/// whole value where the row collapsed.
fn element_error(absmax: f32) -> f64 {
    let a = f64::from(absmax);
    if collapsed(absmax) {
        a
    } else {
        a / 254.0 * (1.0 + 8.0 * super::reference::U32)
    }
}

impl Format for Int8Llm {
    type Packed = Int8;
    type Act = Int8;

    fn id(&self) -> SmokeCheckId {
        SmokeCheckId::Int8Llm
    }

    fn quantize(&self, t: &LayerTensor) -> Result<Int8, FormatError> {
        Ok(quantize(&t.w, t.proj.rows, t.proj.cols, 0.0))
    }

    fn decode(&self, _t: &LayerTensor, p: &Int8) -> Vec<f32> {
        dequantize(p)
    }

    fn matmul(
        &self,
        _t: &LayerTensor,
        p: &Int8,
        x: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, Int8), FormatError> {
        Ok(matmul(p, x, batch, THRESHOLD))
    }

    fn compressed_bytes(&self, _t: &LayerTensor, p: &Int8) -> u64 {
        p.bytes()
    }

    fn read_bytes(&self, _t: &LayerTensor, p: &Int8) -> Option<u64> {
        Some(p.bytes())
    }

    /// The format's product exactly: the int8 dot products as integers, times the two row
    /// scales over 127², plus the outlier columns as products of their fp16 values.
    fn reference(&self, _t: &LayerTensor, w: &Int8, x: &[f32], batch: usize) -> Reference {
        let xq = quantize(x, batch, w.cols, THRESHOLD);
        let cols = w.cols;
        let mut y = vec![0f64; batch * w.rows];
        let mut terms = vec![0f64; batch * w.rows];
        for b in 0..batch {
            let xr = &xq.values[b * cols..(b + 1) * cols];
            let x16: Vec<f64> = xq
                .outlier_cols
                .iter()
                .map(|&c| f64::from(half::f16::from_f32(x[b * cols + c]).to_f32()))
                .collect();
            for r in 0..w.rows {
                let acc: i64 = w.values[r * cols..(r + 1) * cols]
                    .iter()
                    .zip(xr)
                    .map(|(a, b)| i64::from(*a) * i64::from(*b))
                    .sum();
                let main =
                    acc as f64 * f64::from(xq.row_absmax[b]) * f64::from(w.row_absmax[r]) / 16129.0;
                let (mut s, mut t) = (main, main.abs());
                for (&c, &xv) in xq.outlier_cols.iter().zip(&x16) {
                    let p = xv * f64::from(weight_f16(w, r, c));
                    s += p;
                    t += p.abs();
                }
                y[b * w.rows + r] = s;
                terms[b * w.rows + r] = t;
            }
        }
        Reference { y, terms }
    }

    /// The integer part is exact; what rounds is the scaling (four operations) and the sum of
    /// the outlier products.
    fn bound(&self, _t: &LayerTensor, w: &Int8, x: &[f32], batch: usize) -> Bound {
        let outliers = quantize(x, batch, w.cols, THRESHOLD).outlier_cols.len();
        Bound::f32_roundings(outliers + 8)
    }

    /// Per output, `Σ |x̂|·e_w + |w|·e_x`: half a step of each row's int8 grid (the whole value
    /// of a collapsed row), the fp16 rounding in the outlier columns.
    fn worst_case(&self, t: &LayerTensor, w: &Int8, x: &[f32], batch: usize) -> Option<Vec<f64>> {
        let cols = w.cols;
        let xq = quantize(x, batch, cols, THRESHOLD);
        let xd = dequantize(&xq);
        let mut is_out = vec![false; cols];
        for &c in &xq.outlier_cols {
            is_out[c] = true;
        }
        let mut out = vec![0f64; batch * w.rows];
        for b in 0..batch {
            let ex = element_error(xq.row_absmax[b]);
            for r in 0..w.rows {
                let ew = element_error(w.row_absmax[r]);
                let mut s = 0f64;
                for (k, &outlier) in is_out.iter().enumerate() {
                    let wk = f64::from(t.w[r * cols + k]);
                    let i = b * cols + k;
                    if outlier {
                        let x16 = f64::from(half::f16::from_f32(x[i]).to_f32());
                        let wd = f64::from(
                            (f32::from(w.values[r * cols + k]) * w.row_absmax[r]) * INV_127,
                        );
                        let w16 = f64::from(weight_f16(w, r, k));
                        s += x16.abs() * (ew + (w16 - wd).abs())
                            + wk.abs() * (f64::from(x[i]) - x16).abs();
                    } else {
                        s += f64::from(xd[i]).abs() * ew + wk.abs() * ex;
                    }
                }
                out[b * w.rows + r] = s;
            }
        }
        Some(out)
    }

    fn diff(&self, cpu: &Int8, dev: &Int8) -> Option<Diff> {
        let what = "int8 values and row absmax";
        Some(
            Diff::count(&dev.values, &cpu.values, |a, b| a == b, what).and(Diff::count(
                &dev.row_absmax,
                &cpu.row_absmax,
                same_bits,
                what,
            )),
        )
    }

    fn diff_act(&self, _cpu: &Int8, x: &[f32], batch: usize, dev: &Int8) -> Option<Diff> {
        let cpu = quantize(x, batch, dev.cols, THRESHOLD);
        Some(Diff::count(
            &dev.values,
            &cpu.values,
            |a, b| a == b,
            "quantized activations",
        ))
    }

    fn report(&self, m: &Measured<'_, Self>) -> Report {
        let outliers = quantize(m.x, m.batch, m.t.proj.cols, THRESHOLD).outlier_cols;
        let wq = m.packed;
        Report {
            notes: vec![
                format!(
                    "outlier input features (|x| >= {THRESHOLD}): {} column(s) {:?}, multiplied in fp16",
                    outliers.len(),
                    &outliers[..outliers.len().min(8)]
                ),
                format!(
                    "quantize weights: {:.1} ms ({})",
                    m.quantize_secs * 1e3,
                    metrics::gbs(bytes_f32(m.t.proj.params()), m.quantize_secs, None)
                ),
                format!(
                    "bytes: int8 values {} + f32 row absmax {} (the outlier column indices, {} bytes, belong to each activation)",
                    wq.values.len(),
                    4 * wq.row_absmax.len(),
                    8 * outliers.len()
                ),
                BNB_SAME_BYTES.into(),
            ],
            failures: Vec::new(),
        }
    }

    fn dump(&self, t: &LayerTensor, w: &Int8, x: &[f32], batch: usize, out: &mut Artifacts) {
        out.push(
            "int8_values_i8",
            safetensors::Dtype::I8,
            vec![w.rows, w.cols],
            i8_bytes(&w.values),
        );
        out.push(
            "int8_row_absmax_f32",
            safetensors::Dtype::F32,
            vec![w.rows],
            le_f32(&w.row_absmax),
        );
        let xq = quantize(x, batch, w.cols, THRESHOLD);
        let wt = quantize(&t.w, w.rows, w.cols, THRESHOLD);
        for (prefix, q) in [("int8t6", &xq), ("int8t6w", &wt)] {
            push_thresholded(out, prefix, q);
        }
        out.meta("int8_threshold", THRESHOLD.to_string());
    }
}

/// What the evidence says about bitsandbytes' own output for these weights.
const BNB_SAME_BYTES: &str = "bitsandbytes' int8_vectorwise_quant gives these same bytes (bit for bit: fixtures/golden and scripts/bnb-diff.sh), so its format error on this tensor is the one reported";

/// `PREFIX_values_i8`, `PREFIX_row_absmax_f32` and `PREFIX_outlier_cols_i64` of a thresholded
/// quantization.
fn push_thresholded(out: &mut Artifacts, prefix: &str, xq: &Int8) {
    out.push(
        &format!("{prefix}_values_i8"),
        safetensors::Dtype::I8,
        vec![xq.rows, xq.cols],
        i8_bytes(&xq.values),
    );
    out.push(
        &format!("{prefix}_row_absmax_f32"),
        safetensors::Dtype::F32,
        vec![xq.rows],
        le_f32(&xq.row_absmax),
    );
    out.push(
        &format!("{prefix}_outlier_cols_i64"),
        safetensors::Dtype::I64,
        vec![xq.outlier_cols.len()],
        xq.outlier_cols
            .iter()
            .flat_map(|c| (*c as i64).to_le_bytes())
            .collect(),
    );
}

fn i8_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|v| *v as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::model::Rng;
    use crate::smoke::testutil::golden;

    #[test]
    fn golden_int8_bit_exact() {
        let g = golden("bnb_cpu_256x512.safetensors");
        let x = g.f32("input_f32");
        let q = quantize(&x, 256, 512, 0.0);
        assert_eq!(
            q.row_absmax.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            g.f32("int8_row_absmax_f32")
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        );
        let want = g.i8("int8_values_i8");
        let bad = q.values.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            bad,
            0,
            "int8 values differ from bitsandbytes in {bad} of {}",
            want.len()
        );
        let deq = dequantize(&q);
        let want = g.f32("int8_dequant_f32");
        assert!(
            deq.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "dequantized values"
        );
    }

    #[test]
    fn golden_int8_outliers_bit_exact() {
        let g = golden("bnb_cpu_doublequant_outliers.safetensors");
        let x = g.f32("input_f32");
        let q = quantize(&x, 128, 1024, 6.0);
        let cols: Vec<usize> = g
            .i64("int8t6_outlier_cols_i64")
            .iter()
            .map(|&c| c as usize)
            .collect();
        assert_eq!(q.outlier_cols, cols);
        assert_eq!(cols, vec![7, 300, 901]);
        assert_eq!(
            q.row_absmax.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            g.f32("int8t6_row_absmax_f32")
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            "row absmax without the outliers"
        );
        let want = g.i8("int8t6_values_i8");
        let bad = q.values.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(bad, 0, "int8 values differ in {bad} of {}", want.len());
        let deq = dequantize(&q);
        let want = g.f32("int8t6_dequant_f32");
        assert!(
            deq.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "dequantized values"
        );
    }

    #[test]
    fn rounding_is_half_to_even_and_zero_rows_stay_zero() {
        // 127 / 127 = 1: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
        let x = [127.0, 0.5, 1.5, 2.5, 0.0, 0.0, 0.0, 0.0];
        let q = quantize(&x, 2, 4, 0.0);
        assert_eq!(q.values, vec![127, 0, 2, 2, 0, 0, 0, 0]);
        assert_eq!(q.row_absmax, vec![127.0, 0.0]);
    }

    #[test]
    fn int8_matmul_matches_exact_integer_arithmetic() {
        let mut rng = Rng::new(5);
        let (rows, cols, batch) = (9, 37, 3);
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.normal() * 0.02).collect();
        let mut x: Vec<f32> = (0..batch * cols).map(|_| rng.normal()).collect();
        x[5] = 30.0; // an outlier in column 5
        let wq = quantize(&w, rows, cols, 0.0);
        let (y, xq) = matmul(&wq, &x, batch, 6.0);
        assert_eq!(xq.outlier_cols, vec![5]);
        for b in 0..batch {
            for r in 0..rows {
                let mut acc = 0i64;
                for k in 0..cols {
                    acc += i64::from(xq.values[b * cols + k]) * i64::from(wq.values[r * cols + k]);
                }
                let want = acc as f64 * f64::from(xq.row_absmax[b]) * f64::from(wq.row_absmax[r])
                    / 16129.0
                    + f64::from(half::f16::from_f32(x[b * cols + 5]).to_f32())
                        * f64::from(weight_f16(&wq, r, 5));
                let got = f64::from(y[b * rows + r]);
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "b{b} r{r}: {got} vs {want}"
                );
            }
        }
    }
}
