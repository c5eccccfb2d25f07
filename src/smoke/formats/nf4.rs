//! NF4 (QLoRA / bitsandbytes 4-bit) in bitsandbytes' own format, and our dequantize-matmul.
//!
//! Why our own implementation rather than a crate: the point of the smoke check is to show that
//! the *bitsandbytes format* round-trips and multiplies correctly on this machine, so the bytes we
//! produce must be the bytes bitsandbytes produces. They follow bitsandbytes 0.50's CPU path
//! (`backends/default/ops.py`, `quantize_4bit`) operation for operation, and are compared with
//! its own output twice: bit for bit with the golden files in `fixtures/golden/` here, and on a
//! few hundred random and adversarial tensors by `scripts/bnb-diff.sh` in CI:
//!
//! - blocks of 64 consecutive row-major elements; `absmax` = max |x| of the block (f32; NaN if
//!   the block holds a NaN, as torch's max);
//! - `scaled = clip(x * (1 / max(absmax, 1e-38)), -1, 1)` for a full block, `clip(x / max(absmax,
//!   1e-38), -1, 1)` for the last partial one (whose stored absmax is the clamped value); the code
//!   index is `torch.bucketize` against the f32 midpoints of the 16 sorted NF4 values (a value
//!   exactly on a midpoint takes the lower code, NaN the top one); an all-zero block gives index 7
//!   (the code value 0.0) and absmax 0;
//! - two indices per byte, the *first* element in the *high* nibble: `(i[2k] << 4) | i[2k+1]`;
//!   an odd element count is padded with a scaled 0, code 7;
//! - double quantization ([`super::nf4_dq`]).
//!
//! The matmul kernel never materializes the f32 weights: each row's packed bytes are decoded in
//! registers against a 16-entry table of the block's code values times its absmax, and
//! multiplied with every activation row at once ([`super::simd`]: AVX-512, AVX2, NEON or scalar,
//! chosen at run time). That is a different rounding order from "dequantize, then multiply",
//! which is why the checks compare the kernel with the dequantized reference under a
//! float-rounding bound.

use rayon::prelude::*;

use super::nf4_dq::DoubleQuant;
use super::simd;
use super::{bytes_f32, same_bits, transpose, Bound, Diff, Format, FormatError, Measured, Report};
use crate::model::SmokeCheckId;
use crate::smoke::dump::{le_f32, Artifacts};
use crate::smoke::metrics;
use crate::smoke::model::LayerTensor;

/// The 16 NF4 values, ascending (`bitsandbytes.functional.get_4bit_type('nf4')`), written with
/// bitsandbytes' own digits; the f32 nearest to each is the value (the golden test checks the bits).
#[allow(clippy::excessive_precision)]
pub const CODE: [f32; 16] = [
    -1.0,
    -0.696_192_800_998_687_7,
    -0.525_073_051_452_636_7,
    -0.394_917_488_098_144_53,
    -0.284_441_381_692_886_35,
    -0.184_773_430_228_233_34,
    -0.091_050_036_251_544_95,
    0.0,
    0.079_580_299_556_255_34,
    0.160_930_201_411_247_25,
    0.246_112_301_945_686_34,
    0.337_915_241_718_292_24,
    0.440_709_829_330_444_34,
    0.562_617_003_917_694_1,
    0.722_956_836_223_602_3,
    1.0,
];

/// Elements per absmax block.
pub const BLOCK: usize = 64;

/// The 15 decision thresholds: the midpoints of neighbouring code values, as bitsandbytes'
/// CPU path computes them (`(code[:-1] + code[1:]) / 2` on f32 tensors: the sum rounded to f32,
/// then halved).
pub fn midpoints() -> [f32; 15] {
    let mut m = [0f32; 15];
    for (i, v) in m.iter_mut().enumerate() {
        *v = (CODE[i] + CODE[i + 1]) / 2.0;
    }
    m
}

/// bitsandbytes clamps the absmax to this before dividing (`absmax.clamp(min=1e-38)`), so a block
/// of subnormals scales by 1e38 rather than by infinity.
pub const MIN_ABSMAX: f32 = 1e-38;

/// Rows one parallel task multiplies (contiguous, so each thread streams its weights).
const ROWS_PER_TASK: usize = 16;

/// NF4-quantized tensor: bitsandbytes' `packed` (u8, two codes a byte) and f32 `absmax`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4 {
    pub n: usize,
    pub packed: Vec<u8>,
    pub absmax: Vec<f32>,
}

impl Nf4 {
    /// Bytes bitsandbytes keeps for this tensor (packed codes + f32 absmax).
    pub fn bytes(&self) -> u64 {
        (self.packed.len() + 4 * self.absmax.len()) as u64
    }
}

/// The code index of a scaled value as `torch.bucketize(scaled, midpoints)` gives it: the number
/// of midpoints strictly below it (a value on a midpoint takes the lower code); NaN, which
/// compares false with everything, falls through torch's binary search to the top code.
#[inline]
pub fn bucket(v: f32, mids: &[f32; 15]) -> u8 {
    if v.is_nan() {
        return 15;
    }
    mids.iter().map(|&m| u8::from(v > m)).sum()
}

/// The largest `|x|` of a block, NaN if any element is NaN (torch's `max` propagates it).
#[inline]
pub fn block_absmax(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| {
        if m.is_nan() || v.is_nan() {
            f32::NAN
        } else {
            m.max(v.abs())
        }
    })
}

/// Quantizes `w` (row-major, any length) to NF4 with blocks of 64, in parallel, following
/// bitsandbytes 0.50's CPU path (`backends/default/ops.py`, `quantize_4bit`) operation for
/// operation: a full block scales by `x * (1 / max(absmax, 1e-38))`, the last, partial block by
/// `x / max(absmax, 1e-38)` (and stores the clamped absmax); scaled values are clamped to
/// [-1, 1] and bucketized; an odd element count is padded with a scaled 0 (code 7 in the last
/// low nibble).
pub fn quantize(w: &[f32]) -> Nf4 {
    let n = w.len();
    let blocks = n.div_ceil(BLOCK);
    let full = n / BLOCK;
    let mut packed = vec![0u8; n.div_ceil(2)];
    let mut absmax = vec![0f32; blocks];
    let mids = midpoints();
    packed
        .par_chunks_mut(BLOCK / 2)
        .zip(absmax.par_iter_mut())
        .enumerate()
        .for_each(|(b, (pk, a))| {
            let x = &w[b * BLOCK..((b + 1) * BLOCK).min(n)];
            let m = block_absmax(x);
            let clamped = if m.is_nan() { m } else { m.max(MIN_ABSMAX) };
            let mut idx = [7u8; BLOCK];
            if b < full {
                *a = m;
                let inv = 1.0f32 / clamped;
                for (i, &v) in idx.iter_mut().zip(x) {
                    *i = bucket((v * inv).clamp(-1.0, 1.0), &mids);
                }
            } else {
                *a = clamped;
                for (i, &v) in idx.iter_mut().zip(x) {
                    *i = bucket((v / clamped).clamp(-1.0, 1.0), &mids);
                }
            }
            // past the end of an odd-length tensor, `idx` keeps 7: bitsandbytes' zero pad
            for (k, byte) in pk[..x.len().div_ceil(2)].iter_mut().enumerate() {
                *byte = (idx[2 * k] << 4) | idx[2 * k + 1];
            }
        });
    Nf4 { n, packed, absmax }
}

/// The code index of element `i`.
#[inline]
pub fn index_at(packed: &[u8], i: usize) -> u8 {
    let b = packed[i / 2];
    if i % 2 == 0 {
        b >> 4
    } else {
        b & 15
    }
}

/// Dequantizes to f32 exactly as bitsandbytes does (`code[idx] * absmax`, one f32 multiply).
pub fn dequantize(q: &Nf4, absmax: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; q.n];
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(c, piece)| {
            for (j, v) in piece.iter_mut().enumerate() {
                let i = c * BLOCK + j;
                *v = CODE[index_at(&q.packed, i) as usize] * absmax[i / BLOCK];
            }
        });
    out
}

/// The absmax of every block of one row, for the matmul kernels.
pub enum Absmax<'a> {
    F32(&'a [f32]),
    Double(&'a DoubleQuant),
}

impl Absmax<'_> {
    #[inline]
    fn get(&self, block: usize) -> f32 {
        match self {
            Absmax::F32(a) => a[block],
            Absmax::Double(d) => d.absmax_at(block),
        }
    }
}

/// `y[b][r] = sum_k x[b][k] * W[r][k]` for an NF4 `W` of shape `[rows, cols]` and `x` of shape
/// `[batch, cols]`; returns `y` as `[batch, rows]`. Rows are split across threads.
pub fn matmul(
    q: &Nf4,
    absmax: &Absmax<'_>,
    rows: usize,
    cols: usize,
    x: &[f32],
    batch: usize,
) -> Vec<f32> {
    assert_eq!(q.n, rows * cols, "NF4 tensor size");
    assert_eq!(x.len(), batch * cols, "input size");
    let mut yt = vec![0f32; rows * batch];
    if cols % BLOCK == 0 {
        let bpr = cols / BLOCK;
        let isa = simd::Isa::best();
        let xs = simd::Split::new(x, batch, cols);
        let chunk = if batch > 2 { simd::CHUNK_COLS } else { cols };
        if batch > 0 {
            yt.par_chunks_mut(batch * ROWS_PER_TASK)
                .enumerate()
                .for_each_init(
                    || vec![0f32; ROWS_PER_TASK * bpr],
                    |decoded, (task, outs)| {
                        let (r0, nr) = (task * ROWS_PER_TASK, outs.len() / batch);
                        let scales: &[f32] = match absmax {
                            Absmax::F32(a) => &a[r0 * bpr..(r0 + nr) * bpr],
                            Absmax::Double(d) => {
                                d.decode_into(isa, r0 * bpr, &mut decoded[..nr * bpr]);
                                &decoded[..nr * bpr]
                            }
                        };
                        let rows = &q.packed[r0 * cols / 2..(r0 + nr) * cols / 2];
                        simd::nf4_rows(isa, rows, scales, &xs, chunk, outs);
                    },
                );
        }
    } else {
        // Blocks straddle rows: the general (slower) path, element by element.
        yt.par_chunks_mut(batch.max(1))
            .enumerate()
            .for_each(|(r, out)| {
                for (b, o) in out.iter_mut().enumerate() {
                    let mut s = 0f32;
                    for k in 0..cols {
                        let i = r * cols + k;
                        s += CODE[index_at(&q.packed, i) as usize]
                            * absmax.get(i / BLOCK)
                            * x[b * cols + k];
                    }
                    *o = s;
                }
            });
    }
    transpose(&yt, rows, batch)
}

/// NF4 with f32 absmax as a [`Format`].
pub struct Nf4Format;

/// The largest half gap between neighbouring NF4 values: the most bucketizing moves a scaled
/// value.
pub fn max_half_gap() -> f64 {
    CODE.windows(2)
        .map(|w| (f64::from(w[1]) - f64::from(w[0])) / 2.0)
        .fold(0.0, f64::max)
}

/// The most quantizing moves one element of a block with stored absmax `a`: half a gap of the
/// scaled grid plus the roundings of the scale, the code lookup and the decode; the whole value
/// where bitsandbytes' 1e-38 clamp sends the block to code 7.
pub fn element_error(a: f32) -> f64 {
    let a = f64::from(a);
    if a <= f64::from(MIN_ABSMAX) {
        a
    } else {
        (max_half_gap() + 4.0 * super::reference::U32) * a
    }
}

/// Per output `Σ_k |x_k| · e_block(k)`, for per-block element errors `e` (`[rows · cols / 64]`
/// blocks, row-major).
pub fn blockwise_worst(e: &[f64], rows: usize, cols: usize, x: &[f32], batch: usize) -> Vec<f64> {
    let mut out = vec![0f64; batch * rows];
    for b in 0..batch {
        let xb = &x[b * cols..(b + 1) * cols];
        for r in 0..rows {
            out[b * rows + r] = xb
                .iter()
                .enumerate()
                .map(|(k, v)| f64::from(*v).abs() * e[(r * cols + k) / BLOCK])
                .sum();
        }
    }
    out
}

impl Format for Nf4Format {
    type Packed = Nf4;
    type Act = ();

    fn id(&self) -> SmokeCheckId {
        SmokeCheckId::Nf4
    }

    fn quantize(&self, t: &LayerTensor) -> Result<Nf4, FormatError> {
        Ok(quantize(&t.w))
    }

    fn decode(&self, _t: &LayerTensor, p: &Nf4) -> Vec<f32> {
        dequantize(p, &p.absmax)
    }

    fn matmul(
        &self,
        t: &LayerTensor,
        p: &Nf4,
        x: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, ()), FormatError> {
        let y = matmul(
            p,
            &Absmax::F32(&p.absmax),
            t.proj.rows,
            t.proj.cols,
            x,
            batch,
        );
        Ok((y, ()))
    }

    fn compressed_bytes(&self, _t: &LayerTensor, p: &Nf4) -> u64 {
        p.bytes()
    }

    fn read_bytes(&self, _t: &LayerTensor, p: &Nf4) -> Option<u64> {
        Some(p.bytes())
    }

    /// A code times `x`, summed per block, scaled, summed: `cols` products and a few scalings.
    fn bound(&self, t: &LayerTensor, _p: &Nf4, _x: &[f32], _batch: usize) -> Bound {
        Bound::f32_roundings(t.proj.cols + 8)
    }

    fn worst_case(&self, t: &LayerTensor, p: &Nf4, x: &[f32], batch: usize) -> Option<Vec<f64>> {
        let e: Vec<f64> = p.absmax.iter().map(|&a| element_error(a)).collect();
        Some(blockwise_worst(&e, t.proj.rows, t.proj.cols, x, batch))
    }

    fn diff(&self, cpu: &Nf4, dev: &Nf4) -> Option<Diff> {
        let what = "packed codes and absmax";
        Some(
            Diff::count(&dev.packed, &cpu.packed, |a, b| a == b, what).and(Diff::count(
                &dev.absmax,
                &cpu.absmax,
                same_bits,
                what,
            )),
        )
    }

    fn report(&self, m: &Measured<'_, Self>) -> Report {
        Report {
            notes: vec![
                bits_per_weight(m.packed.bytes(), m.t),
                format!(
                    "quantize: {:.1} ms ({})",
                    m.quantize_secs * 1e3,
                    metrics::gbs(bytes_f32(m.t.proj.params()), m.quantize_secs, None)
                ),
                BNB_SAME_BYTES.into(),
            ],
            failures: Vec::new(),
        }
    }

    fn dump(&self, _t: &LayerTensor, q: &Nf4, _x: &[f32], _batch: usize, out: &mut Artifacts) {
        out.push(
            "nf4_packed_u8",
            safetensors::Dtype::U8,
            vec![q.packed.len()],
            q.packed.clone(),
        );
        out.push(
            "nf4_absmax_f32",
            safetensors::Dtype::F32,
            vec![q.absmax.len()],
            le_f32(&q.absmax),
        );
        out.push(
            "nf4_code_f32",
            safetensors::Dtype::F32,
            vec![16],
            le_f32(&CODE),
        );
    }
}

/// "4.500 bits per weight".
pub(super) fn bits_per_weight(bytes: u64, t: &LayerTensor) -> String {
    format!(
        "{:.3} bits per weight",
        8.0 * bytes as f64 / t.proj.params() as f64
    )
}

/// What the evidence says about bitsandbytes' own output for these weights.
pub(super) const BNB_SAME_BYTES: &str = "bitsandbytes' quantize_4bit gives these same bytes (bit for bit: fixtures/golden and scripts/bnb-diff.sh), so its format error on this tensor is the one reported";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::smoke::testutil::{golden, Rng};

    #[test]
    fn midpoints_lie_between_codes() {
        let m = midpoints();
        for i in 0..15 {
            assert!(CODE[i] < m[i] && m[i] < CODE[i + 1]);
        }
        assert_eq!(index_of(0.0), 7);
        assert_eq!(
            index_of(m[7]),
            7,
            "a value on a midpoint takes the lower code"
        );
        assert_eq!(index_of(1.0), 15);
        assert_eq!(index_of(-1.0), 0);
    }

    fn index_of(v: f32) -> u8 {
        bucket(v, &midpoints())
    }

    #[test]
    fn golden_nf4_bit_exact() {
        let g = golden("bnb_cpu_256x512.safetensors");
        let x = g.f32("input_f32");
        let code = g.f32("nf4_code_f32");
        assert_eq!(
            code.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            CODE.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "NF4 code table"
        );
        let q = quantize(&x);
        let want_absmax = g.f32("nf4_absmax_f32");
        assert_eq!(bits(&q.absmax), bits(&want_absmax), "absmax");
        let want = g.u8("nf4_packed_u8");
        let bad = q.packed.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(q.packed.len(), want.len());
        assert_eq!(
            bad,
            0,
            "packed bytes differ from bitsandbytes in {bad} of {}",
            want.len()
        );
        let deq = dequantize(&q, &q.absmax);
        assert_eq!(
            bits(&deq),
            bits(&g.f32("nf4_dequant_f32")),
            "dequantized values"
        );
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    #[test]
    fn all_zero_block_and_packing_order() {
        let mut x = vec![0f32; 128];
        x[64] = 1.0; // first element of block 1 -> code 15 in the HIGH nibble of byte 32
        x[65] = -1.0; // -> code 0 in the low nibble
        let q = quantize(&x);
        assert!(q.packed[..32].iter().all(|&b| b == 0x77));
        assert_eq!(q.absmax[0], 0.0);
        assert_eq!(q.packed[32], 0xF0);
        assert_eq!(q.packed[33], 0x77);
    }

    #[test]
    fn bitsandbytes_edge_cases() {
        // an odd count: the missing low nibble is bitsandbytes' zero pad, code 7
        let q = quantize(&[1.0, -1.0, 1.0]);
        assert_eq!(q.packed, vec![0xF0, 0xF7]);
        // a block of subnormals scales by 1/1e-38, not by infinity: all near 0, code 7
        let q = quantize(&[1e-40f32; 64]);
        assert!(q.packed.iter().all(|&b| b == 0x77), "{:x?}", q.packed);
        assert_eq!(q.absmax[0], 1e-40);
        // a partial last block stores its clamped absmax and divides by it
        let mut x = vec![0.5f32; 64];
        x.extend([0.0f32; 3]);
        let q = quantize(&x);
        assert_eq!(q.absmax, vec![0.5, MIN_ABSMAX]);
        assert_eq!(q.packed[32] >> 4, 7);
        // NaN: the block's absmax is NaN and every code the top one
        let mut x = vec![0.25f32; 64];
        x[9] = f32::NAN;
        let q = quantize(&x);
        assert!(q.absmax[0].is_nan());
        assert!(q.packed.iter().all(|&b| b == 0xFF));
        // midpoints are the f32 sum halved, as torch computes them
        assert_eq!(midpoints()[7], (CODE[7] + CODE[8]) / 2.0);
    }

    #[test]
    fn odd_sizes_and_partial_blocks_match_the_scalar_path() {
        let mut rng = Rng::new(7);
        for (rows, cols) in [(3, 5), (7, 70), (5, 64), (2, 130)] {
            let w: Vec<f32> = (0..rows * cols).map(|_| rng.normal() * 0.02).collect();
            let x: Vec<f32> = (0..2 * cols).map(|_| rng.normal()).collect();
            let q = quantize(&w);
            let deq = dequantize(&q, &q.absmax);
            let y = matmul(&q, &Absmax::F32(&q.absmax), rows, cols, &x, 2);
            for b in 0..2 {
                for r in 0..rows {
                    let want: f32 = (0..cols).map(|k| deq[r * cols + k] * x[b * cols + k]).sum();
                    let got = y[b * rows + r];
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{rows}x{cols} b{b} r{r}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
