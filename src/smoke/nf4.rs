//! NF4 (QLoRA / bitsandbytes 4-bit) in bitsandbytes' own format, and our dequantize-matmul.
//!
//! Why our own implementation rather than a crate: the point of the smoke check is to show that
//! the *bitsandbytes format* round-trips and multiplies correctly on this machine, so the bytes we
//! produce must be the bytes bitsandbytes produces. The tests in this file compare them, bit for
//! bit, with bitsandbytes 0.50.2's own output in `../shared/golden/`:
//!
//! - blocks of 64 consecutive row-major elements; `absmax` = max |x| of the block (f32);
//! - `scaled = clip(x * (1/absmax), -1, 1)`, then the code index is found by bucketizing against
//!   the midpoints of the 16 sorted NF4 values (a value exactly on a midpoint takes the lower code);
//!   an all-zero block gives index 7 (the code value 0.0) and absmax 0;
//! - two indices per byte, the *first* element in the *high* nibble: `(i[2k] << 4) | i[2k+1]`;
//! - double quantization (`compress_statistics=True`): `offset = mean(absmax)`, then
//!   `absmax - offset` is quantized blockwise (256) with bitsandbytes' signed 8-bit dynamic code,
//!   one f32 scale (`absmax2`) per 256 values.
//!
//! The matmul kernel never materializes the f32 weights: a 256-entry table turns one packed byte
//! into its two code values, a block's dot product is accumulated in f32 and scaled once by the
//! block's absmax. That is a different rounding order from "dequantize, then multiply", which is
//! why the checks compare the kernel with the dequantized reference under a float-rounding bound
//! and, separately, the quantized result with the f32 reference under the format's error bound.

use super::par;

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
/// Absmax values per second-level block in double quantization.
pub const DQ_BLOCK: usize = 256;

/// The 15 decision thresholds: the midpoints of neighbouring code values, computed in f64 and
/// rounded once to f32 (these are the constants of bitsandbytes' `dQuantizeNF4` tree).
pub fn midpoints() -> [f32; 15] {
    let mut m = [0f32; 15];
    for (i, v) in m.iter_mut().enumerate() {
        *v = ((f64::from(CODE[i]) + f64::from(CODE[i + 1])) / 2.0) as f32;
    }
    m
}

/// One byte -> the code values of its high and low nibble.
const PAIR_LUT: [[f32; 2]; 256] = {
    let mut t = [[0f32; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [CODE[b >> 4], CODE[b & 15]];
        b += 1;
    }
    t
};

/// NF4-quantized tensor: bitsandbytes' `packed` (u8, two codes a byte) and f32 `absmax`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4 {
    pub n: usize,
    pub packed: Vec<u8>,
    pub absmax: Vec<f32>,
}

/// The double-quantized absmax of an [`Nf4`] (bitsandbytes' `state2` plus `offset`).
#[derive(Debug, Clone, PartialEq)]
pub struct DoubleQuant {
    pub absmax_u8: Vec<u8>,
    pub absmax2: Vec<f32>,
    pub code2: Vec<f32>,
    pub offset: f32,
}

impl Nf4 {
    /// Bytes bitsandbytes keeps for this tensor (packed codes + f32 absmax).
    pub fn bytes(&self) -> u64 {
        (self.packed.len() + 4 * self.absmax.len()) as u64
    }
}

impl DoubleQuant {
    /// Bytes of the packed codes plus this compressed absmax (u8 + f32 scales + the 256-value
    /// code + the offset).
    pub fn bytes(&self, packed_len: usize) -> u64 {
        (packed_len + self.absmax_u8.len() + 4 * self.absmax2.len() + 4 * self.code2.len() + 4)
            as u64
    }

    /// The f32 absmax values back (`code2[q] * absmax2[i / 256] + offset`, as bitsandbytes'
    /// `dequantize_blockwise` then `+ offset`).
    pub fn dequantize(&self) -> Vec<f32> {
        self.absmax_u8
            .iter()
            .enumerate()
            .map(|(i, &q)| self.code2[q as usize] * self.absmax2[i / DQ_BLOCK] + self.offset)
            .collect()
    }
}

/// The code indices of one block (`x.len() <= 64`), given its absmax.
#[inline]
fn block_indices(x: &[f32], absmax: f32, mids: &[f32; 15], out: &mut [u8; BLOCK]) {
    if absmax == 0.0 {
        out[..x.len()].fill(7);
        return;
    }
    let inv = 1.0f32 / absmax;
    let mut s = [0f32; BLOCK];
    for (d, &v) in s.iter_mut().zip(x) {
        *d = (v * inv).clamp(-1.0, 1.0);
    }
    let mut idx = [0u8; BLOCK];
    for &m in mids {
        for (i, &v) in idx.iter_mut().zip(s.iter()) {
            *i += u8::from(v > m);
        }
    }
    for ((o, &i), &v) in out.iter_mut().zip(idx.iter()).zip(s.iter()).take(x.len()) {
        // NaN (an infinite input): bitsandbytes' tree sends it to the lowest code; keep that.
        *o = if v.is_nan() { 0 } else { i };
    }
}

/// Quantizes `w` (row-major, any length) to NF4 with blocks of 64, in parallel.
pub fn quantize(w: &[f32]) -> Nf4 {
    let n = w.len();
    let blocks = n.div_ceil(BLOCK);
    let mut packed = vec![0u8; n.div_ceil(2)];
    let mut absmax = vec![0f32; blocks];
    let mids = midpoints();
    par::for_chunks2(&mut packed, BLOCK / 2, &mut absmax, 1, |first, pk, am| {
        let mut idx = [0u8; BLOCK];
        for (j, a) in am.iter_mut().enumerate() {
            let b = first + j;
            let x = &w[b * BLOCK..((b + 1) * BLOCK).min(n)];
            let m = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            *a = m;
            block_indices(x, m, &mids, &mut idx);
            let bytes = &mut pk[j * BLOCK / 2..(j * BLOCK / 2 + x.len().div_ceil(2))];
            for (k, byte) in bytes.iter_mut().enumerate() {
                let hi = idx[2 * k];
                let lo = if 2 * k + 1 < x.len() {
                    idx[2 * k + 1]
                } else {
                    0
                };
                *byte = (hi << 4) | lo;
            }
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
    par::for_chunks(&mut out, BLOCK, |first, piece| {
        for (j, v) in piece.iter_mut().enumerate() {
            let i = first * BLOCK + j;
            *v = CODE[index_at(&q.packed, i) as usize] * absmax[i / BLOCK];
        }
    });
    out
}

/// bitsandbytes' signed 8-bit dynamic code (`create_dynamic_map(signed=True)`), 256 values,
/// ascending. Built as bitsandbytes builds it: for each exponent `i` in 0..7, the means of
/// neighbouring points of `linspace(0.1, 1, 2^i + 1)` scaled by `10^(i-6)`, both signs, plus 0
/// and 1. The golden test checks it against bitsandbytes' own `code2`, bit for bit.
pub fn dynamic_code() -> Vec<f32> {
    let mut data: Vec<f64> = Vec::with_capacity(256);
    let max_exp = 7i32;
    let non_sign_bits = 7i32;
    let linspace = |items: usize| -> Vec<f32> {
        // torch.linspace(0.1, 1, items, float32) on the CPU: the first half counts up from the
        // start, the second half down from the end, in f32, each a fused multiply-add (torch's
        // kernel is compiled with FMA contraction; plain multiply-then-add differs in 42 of the
        // 256 values).
        let start = 0.1f32;
        let end = 1.0f32;
        let step = (end - start) / (items as f32 - 1.0);
        let half = items / 2;
        (0..items)
            .map(|i| {
                if i < half {
                    step.mul_add(i as f32, start)
                } else {
                    (-step).mul_add((items - i - 1) as f32, end)
                }
            })
            .collect()
    };
    for i in 0..max_exp {
        let items = (1usize << (i + non_sign_bits - max_exp)) + 1;
        let b = linspace(items);
        // torch multiplies an f32 tensor by a Python scalar in f32.
        let scale = 10f64.powi(-(max_exp - 1) + i) as f32;
        let means: Vec<f32> = b.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
        for &m in &means {
            data.push(f64::from(scale * m));
        }
        for &m in &means {
            data.push(f64::from(-scale * m));
        }
    }
    data.push(0.0);
    data.push(1.0);
    while data.len() < 256 {
        data.push(0.0);
    }
    let mut v: Vec<f32> = data.into_iter().map(|d| d as f32).collect();
    v.sort_by(f32::total_cmp);
    v
}

/// Entries of bitsandbytes' CPU 8-bit quantization table.
const LUT_SIZE: usize = 65536;

/// bitsandbytes' CPU blockwise 8-bit quantizer does not search the code: it discretizes [-1, 1]
/// into 65536 bins and precomputes, for each bin, the first code whose upper midpoint (f32
/// `0.5 * (c[i] + c[i+1])`) is not below the bin's value `-1 + 2i/65535`. A value then maps
/// to bin `trunc(((v + 1) * 0.5) * 65535 + 0.5)`. This is not always the nearest code (a value
/// just past a midpoint can share a bin with values before it), so reproducing bitsandbytes'
/// bytes needs the same table.
fn build_lut(code: &[f32]) -> Vec<u8> {
    let mids: Vec<f32> = code.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    let mut lut = vec![0u8; LUT_SIZE];
    let mut idx = 0usize;
    for (i, e) in lut.iter_mut().enumerate() {
        let val = -1.0f32 + (2.0f32 * i as f32) / (LUT_SIZE - 1) as f32;
        while idx < mids.len() && mids[idx] < val {
            idx += 1;
        }
        *e = idx as u8;
    }
    lut
}

/// The table bin of a normalized value (separate multiply and add, as bitsandbytes rounds).
#[inline]
fn lut_bin(v: f32) -> usize {
    let v = v.clamp(-1.0, 1.0);
    (((v + 1.0) * 0.5) * (LUT_SIZE - 1) as f32 + 0.5) as usize
}

/// Double-quantizes an absmax vector (bitsandbytes `compress_statistics=True`).
pub fn double_quantize(absmax: &[f32]) -> DoubleQuant {
    // torch's f32 mean; summing in f64 and rounding once gives the correctly rounded mean, which
    // is what torch's cascaded sum gives for these sizes (checked against the golden offset).
    let offset = if absmax.is_empty() {
        0.0
    } else {
        (absmax.iter().map(|&v| f64::from(v)).sum::<f64>() / absmax.len() as f64) as f32
    };
    let code2 = dynamic_code();
    let lut = build_lut(&code2);
    let centred: Vec<f32> = absmax.iter().map(|&a| a - offset).collect();
    let mut absmax_u8 = vec![0u8; centred.len()];
    let mut absmax2 = vec![0f32; centred.len().div_ceil(DQ_BLOCK)];
    for (b, chunk) in centred.chunks(DQ_BLOCK).enumerate() {
        let m = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        absmax2[b] = m;
        if m == 0.0 {
            continue;
        }
        let inv = 1.0f32 / m;
        for (j, &v) in chunk.iter().enumerate() {
            absmax_u8[b * DQ_BLOCK + j] = lut[lut_bin(v * inv)];
        }
    }
    DoubleQuant {
        absmax_u8,
        absmax2,
        code2,
        offset,
    }
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
            Absmax::Double(d) => {
                d.code2[d.absmax_u8[block] as usize] * d.absmax2[block / DQ_BLOCK] + d.offset
            }
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
        par::for_chunks(&mut yt, batch, |first_row, piece| {
            let mut scales = vec![0f32; bpr];
            let mut acc = vec![0f32; batch];
            for (j, out) in piece.chunks_mut(batch).enumerate() {
                let r = first_row + j;
                for (s, sc) in scales.iter_mut().enumerate() {
                    *sc = absmax.get(r * bpr + s);
                }
                let row = &q.packed[r * cols / 2..(r + 1) * cols / 2];
                acc.fill(0.0);
                for (blk, bytes) in row.chunks_exact(BLOCK / 2).enumerate() {
                    let xo = blk * BLOCK;
                    for (b, a) in acc.iter_mut().enumerate() {
                        let xs = &x[b * cols + xo..b * cols + xo + BLOCK];
                        *a += scales[blk] * block_dot(bytes, xs);
                    }
                }
                out.copy_from_slice(&acc);
            }
        });
    } else {
        // Blocks straddle rows: the general (slower) path, element by element.
        par::for_chunks(&mut yt, batch, |first_row, piece| {
            for (j, out) in piece.chunks_mut(batch).enumerate() {
                let r = first_row + j;
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
            }
        });
    }
    transpose(&yt, rows, batch)
}

/// The dot product of one packed block (32 bytes) with 64 inputs, in code units.
#[inline]
fn block_dot(bytes: &[u8], xs: &[f32]) -> f32 {
    let mut a = [0f32; 4];
    for (bq, xq) in bytes.chunks_exact(4).zip(xs.chunks_exact(8)) {
        for t in 0..4 {
            let [hi, lo] = PAIR_LUT[bq[t] as usize];
            a[t] += hi * xq[2 * t] + lo * xq[2 * t + 1];
        }
    }
    (a[0] + a[1]) + (a[2] + a[3])
}

/// `[rows, cols]` -> `[cols, rows]`.
pub fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

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
        let mut o = [0u8; BLOCK];
        block_indices(&[v], 1.0, &midpoints(), &mut o);
        o[0]
    }

    #[test]
    fn golden_nf4_bit_exact() {
        let Some(g) = golden("bnb_cpu_256x512.safetensors") else {
            return;
        };
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

    #[test]
    fn golden_nf4_double_quant_bit_exact() {
        let Some(g) = golden("bnb_cpu_doublequant_outliers.safetensors") else {
            return;
        };
        let x = g.f32("input_f32");
        let q = quantize(&x);
        assert_eq!(q.packed, g.u8("nf4dq_packed_u8"), "packed bytes");
        let dq = double_quantize(&q.absmax);
        assert_eq!(
            bits(&dq.code2),
            bits(&g.f32("nf4dq_code2_f32")),
            "8-bit dynamic code"
        );
        assert_eq!(
            dq.offset.to_bits(),
            g.f32("nf4dq_offset_f32")[0].to_bits(),
            "offset"
        );
        assert_eq!(
            bits(&dq.absmax2),
            bits(&g.f32("nf4dq_absmax2_f32")),
            "absmax2"
        );
        let want = g.u8("nf4dq_absmax_u8");
        let bad = dq
            .absmax_u8
            .iter()
            .zip(&want)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(bad, 0, "absmax codes differ in {bad} of {}", want.len());
        let deq = dequantize(&q, &dq.dequantize());
        assert_eq!(
            bits(&deq),
            bits(&g.f32("nf4dq_dequant_f32")),
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
