//! The f32 reference and the fp16/bf16 GEMMs on the CPU, through candle.
//!
//! candle is an independent implementation (the `gemm` crate underneath), which is what a
//! reference must be: every quantized kernel here is compared with a candle f32 matmul, never
//! with itself. candle's CPU bf16 matmul widens to f32 and narrows the result (bf16 inputs and
//! output, f32 accumulation), so the bf16 check measures bf16's precision here, not native bf16
//! arithmetic; native bf16 is the GPU path's job.

use candle_core::{DType, Device, Tensor};

use super::{Assessment, Format, FormatError, Input, Measured};
use crate::model::SmokeCheckId;
use crate::smoke::metrics::{self, max_rel_error};
use crate::smoke::model::LayerTensor;
use crate::smoke::Bounds;

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

/// A 16-bit GEMM as a [`Format`]: both operands rounded to fp16 or bf16, the output too.
pub struct Gemm(pub Half);

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

    fn bound(&self) -> f64 {
        match self.0 {
            Half::F16 => Bounds::FP16,
            Half::BF16 => Bounds::BF16,
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

    fn decode(&self, _t: &LayerTensor, p: &Tensor) -> Vec<f32> {
        p.to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .unwrap_or_default()
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

    /// Both devices round on the host: nothing to compare.
    fn diff(&self, _cpu: &Tensor, _dev: &Tensor) -> Option<super::Diff> {
        None
    }

    fn assess(&self, m: &Measured<'_, Self>) -> Assessment {
        let (rows, cols) = (m.t.proj.rows, m.t.proj.cols);
        Assessment {
            error: max_rel_error(m.y, m.f32_ref),
            bound: self.bound(),
            kernel: None,
            failures: Vec::new(),
            compressed_bytes: 2 * m.t.proj.params() as u64,
            throughput: metrics::flops(2.0 * (m.batch * rows * cols) as f64, m.kernel_secs),
            notes: Vec::new(),
        }
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
        assert_eq!(g.matmul(&t, &p, &x, 2).expect("bf16").0, y);
    }
}
