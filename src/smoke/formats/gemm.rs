//! The f32 reference and the fp16/bf16 GEMMs on the CPU, through candle.
//!
//! candle is an independent implementation (the `gemm` crate underneath), which is what a
//! reference must be: every quantized kernel here is compared with a candle f32 matmul, never
//! with itself. candle's CPU bf16 matmul widens to f32 and narrows the result (bf16 inputs and
//! output, f32 accumulation), so the bf16 check measures bf16's precision here, not native bf16
//! arithmetic; native bf16 is the GPU path's job.

use candle_core::{DType, Device, Tensor};

use super::{reference, Bound, Format, FormatError, Input, Reference};
use crate::model::SmokeCheckId;
use crate::smoke::model::LayerTensor;

/// A candle operation failed.
#[derive(Debug, thiserror::Error)]
#[error("candle")]
pub struct CandleError(#[from] pub candle_core::Error);

/// `y = x W^T` in f32: `x` is `[batch, cols]`, `W` is `[rows, cols]`; returns `[batch, rows]`.
pub fn matmul_f32(
    x: &[f32],
    batch: usize,
    w: &[f32],
    rows: usize,
    cols: usize,
) -> Result<Vec<f32>, CandleError> {
    let dev = Device::Cpu;
    let xt = Tensor::from_slice(x, (batch, cols), &dev)?;
    let wt = Tensor::from_slice(w, (rows, cols), &dev)?;
    let y = xt.matmul(&wt.t()?)?;
    Ok(y.flatten_all()?.to_vec1::<f32>()?)
}

/// A 16-bit float type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    F16,
    BF16,
}

impl Half {
    pub fn dtype(self) -> DType {
        match self {
            Half::F16 => DType::F16,
            Half::BF16 => DType::BF16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Half::F16 => "fp16",
            Half::BF16 => "bf16",
        }
    }

    /// `v` rounded to this type (nearest, ties to even), as its bits.
    pub fn bits(self, v: &[f32]) -> Vec<u16> {
        match self {
            Half::F16 => v
                .iter()
                .map(|f| half::f16::from_f32(*f).to_bits())
                .collect(),
            Half::BF16 => v
                .iter()
                .map(|f| half::bf16::from_f32(*f).to_bits())
                .collect(),
        }
    }

    /// Bits of this type widened to f32.
    pub fn widen(self, v: &[u16]) -> Vec<f32> {
        match self {
            Half::F16 => v
                .iter()
                .map(|b| half::f16::from_bits(*b).to_f32())
                .collect(),
            Half::BF16 => v
                .iter()
                .map(|b| half::bf16::from_bits(*b).to_f32())
                .collect(),
        }
    }
}

impl Half {
    /// The unit roundoff (2⁻¹¹ for fp16, 2⁻⁸ for bf16) and half the smallest subnormal step.
    pub fn roundoff(self) -> (f64, f64) {
        match self {
            Half::F16 => (2f64.powi(-11), 2f64.powi(-25)),
            Half::BF16 => (2f64.powi(-8), 2f64.powi(-134)),
        }
    }

    /// `v` rounded to this type and back.
    pub fn round(self, v: &[f32]) -> Vec<f32> {
        self.widen(&self.bits(v))
    }
}

/// A 16-bit GEMM as a [`Format`]: both operands rounded to fp16 or bf16, the output too.
pub struct Gemm(pub Half);

/// How many times a 16-bit GEMM kernel may round a partial sum to 16 bits besides the output:
/// none. candle's CPU kernel and cuBLAS with `CUBLAS_COMPUTE_32F` accumulate in f32 and round the
/// output once; measured against the exact product at K = 4096 and 14336, candle stays within
/// half the bound (`check::tests::calibrate_gemm`), and operands cut to 4 significant bits miss
/// it (`gemm_at_lower_precision_fails`).
pub const PARTIAL_ROUNDINGS: usize = 0;

impl Format for Gemm {
    /// The weight in 16-bit, as a candle tensor `[rows, cols]`.
    type Packed = Tensor;
    type Act = ();

    fn id(&self) -> SmokeCheckId {
        match self.0 {
            Half::F16 => SmokeCheckId::GemmFp16,
            Half::BF16 => SmokeCheckId::GemmBf16,
        }
    }

    fn input(&self) -> Input {
        Input::Gemm
    }

    fn quantize(&self, t: &LayerTensor) -> Result<Tensor, FormatError> {
        let w = Tensor::from_slice(&t.w, (t.proj.rows, t.proj.cols), &Device::Cpu)
            .and_then(|w| w.to_dtype(self.0.dtype()))
            .map_err(CandleError)?;
        Ok(w)
    }

    fn decode(&self, t: &LayerTensor, _p: &Tensor) -> Vec<f32> {
        self.0.round(&t.w)
    }

    /// `y = x W^T` with `x` rounded to the same type, the output widened to f32.
    fn matmul(
        &self,
        t: &LayerTensor,
        p: &Tensor,
        x: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, ()), FormatError> {
        let y = Tensor::from_slice(x, (batch, t.proj.cols), &Device::Cpu)
            .and_then(|x| x.to_dtype(self.0.dtype()))
            .and_then(|x| x.matmul(&p.t()?))
            .and_then(|y| y.to_dtype(DType::F32))
            .and_then(|y| y.flatten_all())
            .and_then(|y| y.to_vec1::<f32>())
            .map_err(CandleError)?;
        Ok((y, ()))
    }

    fn compressed_bytes(&self, t: &LayerTensor, _p: &Tensor) -> u64 {
        2 * t.proj.params() as u64
    }

    fn read_bytes(&self, _t: &LayerTensor, _p: &Tensor) -> Option<u64> {
        None
    }

    /// Both operands rounded to the 16-bit type, multiplied exactly.
    fn reference(&self, t: &LayerTensor, _p: &Tensor, x: &[f32], batch: usize) -> Reference {
        let w = self.0.round(&t.w);
        let x = self.0.round(x);
        reference::of_decoded(&w, t.proj.rows, t.proj.cols, &x, batch)
    }

    fn out_of_range(&self, r: &Reference) -> Option<String> {
        let max = match self.0 {
            Half::F16 => 65504.0,
            Half::BF16 => 3.389_531_389_251_535_5e38,
        };
        let big = r.y.iter().fold(0f64, |m, v| m.max(v.abs()));
        (big > max).then(|| {
            format!(
                "skipped: the product reaches {big:.3e}, beyond {}'s largest value {max:.0}: the format cannot hold it",
                self.0.name()
            )
        })
    }

    /// f32 accumulation, the 16-bit output and [`PARTIAL_ROUNDINGS`] partial sums in 16 bits.
    fn bound(&self, t: &LayerTensor, _p: &Tensor, _x: &[f32], _batch: usize) -> Bound {
        let (u, eta) = self.0.roundoff();
        Bound::f32_roundings(t.proj.cols + 8).narrowed(u, eta, PARTIAL_ROUNDINGS)
    }

    /// Rounding each operand to 16 bits (`u·|v|`, or the subnormal step) and the output once.
    fn worst_case(
        &self,
        t: &LayerTensor,
        _p: &Tensor,
        x: &[f32],
        batch: usize,
    ) -> Option<Vec<f64>> {
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let (u, eta) = self.0.roundoff();
        let w16 = self.0.round(&t.w);
        let x16 = self.0.round(x);
        let mut out = vec![0f64; batch * rows];
        for b in 0..batch {
            for r in 0..rows {
                let mut s = 0f64;
                let mut y = 0f64;
                for k in 0..cols {
                    let (w, wh) = (f64::from(t.w[r * cols + k]), f64::from(w16[r * cols + k]));
                    let (xv, xh) = (f64::from(x[b * cols + k]), f64::from(x16[b * cols + k]));
                    s += xh.abs() * (u * w.abs() + eta) + w.abs() * (u * xv.abs() + eta);
                    y += wh * xh;
                }
                out[b * rows + r] = s + u * y.abs() + eta;
            }
        }
        Some(out)
    }

    /// Both devices round on the host: nothing to compare.
    fn diff(&self, _cpu: &Tensor, _dev: &Tensor) -> Option<super::Diff> {
        None
    }

    fn cpu_notes(&self) -> Vec<String> {
        vec![format!(
            "candle CPU matmul, {} inputs and output{}",
            self.0.name(),
            if self.0 == Half::BF16 {
                " (candle widens bf16 to f32 to multiply on the CPU)"
            } else {
                ""
            }
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::model::Projection;

    #[test]
    fn reference_matches_a_hand_product() {
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2, 3]
        let w = [1.0f32, 0.0, -1.0, 0.5, 0.5, 0.5]; // [2, 3]
        let y = matmul_f32(&x, 2, &w, 2, 3).expect("matmul");
        assert_eq!(y, vec![-2.0, 3.0, -2.0, 7.5]);
        let t = LayerTensor {
            proj: Projection {
                short: "q_proj",
                name: "w".into(),
                rows: 2,
                cols: 3,
            },
            dtype: safetensors::Dtype::F32,
            raw: Vec::new(),
            w: w.to_vec(),
        };
        let g = Gemm(Half::BF16);
        let p = g.quantize(&t).expect("bf16");
        assert_eq!(g.decode(&t, &p), w.to_vec());
        assert_eq!(Half::F16.round(&[1.0 + 1e-4]), vec![1.0]);
        assert_eq!(g.matmul(&t, &p, &x, 2).expect("bf16").0, y);
    }
}
