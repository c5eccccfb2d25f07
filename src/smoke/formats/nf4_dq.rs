//! NF4 with double-quantized absmax (bitsandbytes `compress_statistics=True`, QLoRA's "double
//! quantization"): the packed 4-bit codes are NF4's ([`super::nf4`]); the f32 absmax of each block
//! of 64 is stored again in 8 bits.
//!
//! bitsandbytes' recipe, reproduced bit for bit (the golden test and `scripts/bnb-diff.sh`):
//! `offset = absmax.mean()` (torch's cascade sum over the count, f32: [`super::torch_ops`]),
//! then `absmax - offset` is quantized blockwise (256 values a block) with bitsandbytes' signed
//! 8-bit dynamic code, one f32 scale (`absmax2`) per block; decoding is `code2[q] * absmax2[i /
//! 256] + offset`, a rounded product, then a rounded sum.

use super::nf4::{self, Absmax, Nf4};
use super::{Bound, Diff, Format, FormatError, Measured, Report};
use crate::model::SmokeCheckId;
use crate::smoke::dump::{le_f32, Artifacts};
use crate::smoke::model::LayerTensor;

/// Absmax values per second-level block in double quantization.
pub const DQ_BLOCK: usize = 256;

/// The double-quantized absmax of an [`Nf4`] (bitsandbytes' `state2` plus `offset`).
#[derive(Debug, Clone, PartialEq)]
pub struct DoubleQuant {
    pub absmax_u8: Vec<u8>,
    pub absmax2: Vec<f32>,
    pub code2: Vec<f32>,
    pub offset: f32,
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
        (0..self.absmax_u8.len())
            .map(|i| self.absmax_at(i))
            .collect()
    }

    /// The absmax of blocks `start..start + out.len()`, decoded into `out` (as [`Self::absmax_at`],
    /// bit for bit), a run of blocks with one second-level scale at a time.
    pub fn decode_into(&self, isa: super::simd::Isa, start: usize, out: &mut [f32]) {
        let Ok(code2) = <&[f32; 256]>::try_from(self.code2.as_slice()) else {
            for (j, o) in out.iter_mut().enumerate() {
                *o = self.absmax_at(start + j);
            }
            return;
        };
        let end = start + out.len();
        let mut i = start;
        while i < end {
            let seg = ((i / DQ_BLOCK + 1) * DQ_BLOCK).min(end);
            super::simd::dq_decode(
                isa,
                &self.absmax_u8[i..seg],
                code2,
                self.absmax2[i / DQ_BLOCK],
                self.offset,
                &mut out[i - start..seg - start],
            );
            i = seg;
        }
    }

    /// The absmax of block `i`, decoded.
    #[inline]
    pub fn absmax_at(&self, i: usize) -> f32 {
        self.code2[self.absmax_u8[i] as usize] * self.absmax2[i / DQ_BLOCK] + self.offset
    }
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
    // `absmax.mean()`: torch's cascade sum divided by the count, in f32
    let offset = if absmax.is_empty() {
        0.0
    } else {
        super::torch_ops::mean(absmax, super::torch_ops::SUM_LANES)
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

/// The stored form of NF4-DQ: NF4's packed codes and the double-quantized absmax (the f32
/// absmax is not kept). `dq_secs` is how long the double quantization took.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4Dq {
    pub nf4: Nf4,
    pub dq: DoubleQuant,
    pub dq_secs: f64,
}

/// NF4 with double-quantized absmax as a [`Format`].
pub struct Nf4DqFormat;

impl Format for Nf4DqFormat {
    type Packed = Nf4Dq;
    /// The dequantized absmax, where the device materializes it (the GPU's `nf4_dq_absmax`
    /// kernel); empty on the CPU, whose kernel decodes each block's absmax on the fly.
    type Act = Vec<f32>;

    fn id(&self) -> SmokeCheckId {
        SmokeCheckId::Nf4Dq
    }

    fn quantize(&self, t: &LayerTensor) -> Result<Nf4Dq, FormatError> {
        Ok(from_nf4(nf4::quantize(&t.w)))
    }

    fn decode(&self, _t: &LayerTensor, p: &Nf4Dq) -> Vec<f32> {
        nf4::dequantize(&p.nf4, &p.dq.dequantize())
    }

    fn matmul(
        &self,
        t: &LayerTensor,
        p: &Nf4Dq,
        x: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), FormatError> {
        let y = nf4::matmul(
            &p.nf4,
            &Absmax::Double(&p.dq),
            t.proj.rows,
            t.proj.cols,
            x,
            batch,
        );
        Ok((y, Vec::new()))
    }

    fn compressed_bytes(&self, _t: &LayerTensor, p: &Nf4Dq) -> u64 {
        p.dq.bytes(p.nf4.packed.len())
    }

    fn read_bytes(&self, _t: &LayerTensor, p: &Nf4Dq) -> Option<u64> {
        Some(p.dq.bytes(p.nf4.packed.len()))
    }

    /// NF4's, with the absmax decoded by one product and one sum more.
    fn bound(&self, t: &LayerTensor, _p: &Nf4Dq, _x: &[f32], _batch: usize) -> Bound {
        Bound::f32_roundings(t.proj.cols + 10)
    }

    /// NF4's worst case, plus what the 8-bit absmax moves each block's scale.
    fn worst_case(&self, t: &LayerTensor, p: &Nf4Dq, x: &[f32], batch: usize) -> Option<Vec<f64>> {
        let dq = p.dq.dequantize();
        let e: Vec<f64> = p
            .nf4
            .absmax
            .iter()
            .zip(&dq)
            .map(|(&a, &d)| {
                nf4::element_error(a)
                    + (f64::from(d) - f64::from(a)).abs()
                    + f64::from(d).abs() * super::reference::U32
            })
            .collect();
        Some(nf4::blockwise_worst(&e, t.proj.rows, t.proj.cols, x, batch))
    }

    fn diff(&self, cpu: &Nf4Dq, dev: &Nf4Dq) -> Option<Diff> {
        let what = "packed codes and double-quantized absmax";
        Some(
            Diff::count(&dev.nf4.packed, &cpu.nf4.packed, |a, b| a == b, what)
                .and(Diff::count(
                    &dev.dq.absmax_u8,
                    &cpu.dq.absmax_u8,
                    |a, b| a == b,
                    what,
                ))
                .and(Diff::count(
                    &dev.dq.absmax2,
                    &cpu.dq.absmax2,
                    super::same_bits,
                    what,
                ))
                .and(Diff::count(
                    &[dev.dq.offset],
                    &[cpu.dq.offset],
                    super::same_bits,
                    what,
                )),
        )
    }

    fn diff_act(&self, cpu: &Nf4Dq, _x: &[f32], _batch: usize, dev: &Vec<f32>) -> Option<Diff> {
        (!dev.is_empty()).then(|| {
            Diff::count(
                dev,
                &cpu.dq.dequantize(),
                super::same_bits,
                "dequantized absmax",
            )
        })
    }

    fn report(&self, m: &Measured<'_, Self>) -> Report {
        let p = m.packed;
        Report {
            notes: vec![
                nf4::bits_per_weight(p.dq.bytes(p.nf4.packed.len()), m.t),
                format!(
                    "double quantization of {} absmax values: {:.1} ms; offset {:.6}",
                    p.nf4.absmax.len(),
                    p.dq_secs * 1e3,
                    p.dq.offset
                ),
                nf4::BNB_SAME_BYTES.into(),
            ],
            failures: Vec::new(),
        }
    }

    fn dump(&self, _t: &LayerTensor, p: &Nf4Dq, _x: &[f32], _batch: usize, out: &mut Artifacts) {
        let d = &p.dq;
        out.push(
            "nf4dq_absmax_u8",
            safetensors::Dtype::U8,
            vec![d.absmax_u8.len()],
            d.absmax_u8.clone(),
        );
        out.push(
            "nf4dq_offset_f32",
            safetensors::Dtype::F32,
            vec![1],
            le_f32(&[d.offset]),
        );
        out.push(
            "nf4dq_absmax2_f32",
            safetensors::Dtype::F32,
            vec![d.absmax2.len()],
            le_f32(&d.absmax2),
        );
        out.push(
            "nf4dq_code2_f32",
            safetensors::Dtype::F32,
            vec![d.code2.len()],
            le_f32(&d.code2),
        );
    }
}

/// NF4-DQ from an NF4 quantization (its absmax double-quantized, timed).
pub fn from_nf4(nf4: Nf4) -> Nf4Dq {
    let t0 = std::time::Instant::now();
    let dq = double_quantize(&nf4.absmax);
    Nf4Dq {
        dq_secs: t0.elapsed().as_secs_f64(),
        nf4,
        dq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::testutil::golden;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    #[test]
    fn decoding_a_run_of_blocks_is_absmax_at_on_every_path() {
        let mut rng = crate::smoke::testutil::Rng::new(3);
        let absmax: Vec<f32> = (0..1000).map(|_| rng.normal().abs() * 0.05).collect();
        let dq = double_quantize(&absmax);
        for isa in super::super::simd::Isa::supported_all() {
            for (start, len) in [(0, 1000), (200, 500), (255, 2), (999, 1), (10, 0)] {
                let mut out = vec![0f32; len];
                dq.decode_into(isa, start, &mut out);
                for (j, v) in out.iter().enumerate() {
                    assert_eq!(
                        v.to_bits(),
                        dq.absmax_at(start + j).to_bits(),
                        "{} block {}",
                        isa.name(),
                        start + j
                    );
                }
            }
        }
    }

    #[test]
    fn golden_nf4_double_quant_bit_exact() {
        let g = golden("bnb_cpu_doublequant_outliers.safetensors");
        let x = g.f32("input_f32");
        let q = nf4::quantize(&x);
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
        let deq = nf4::dequantize(&q, &dq.dequantize());
        assert_eq!(
            bits(&deq),
            bits(&g.f32("nf4dq_dequant_f32")),
            "dequantized values"
        );
    }
}
