//! The f32 reference and the fp16/bf16 GEMMs on the CPU, through candle.
//!
//! candle is an independent implementation (the `gemm` crate underneath), which is what a
//! reference must be: every quantized kernel here is compared with a candle f32 matmul, never
//! with itself. candle's CPU bf16 matmul widens to f32 and narrows the result (bf16 inputs and
//! output, f32 accumulation), so the bf16 check measures bf16's precision here, not native bf16
//! arithmetic; native bf16 is the GPU path's job.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};

fn err(e: candle_core::Error) -> String {
    format!("candle: {e}")
}

/// `y = x W^T` in f32: `x` is `[batch, cols]`, `W` is `[rows, cols]`; returns `[batch, rows]`.
pub fn matmul_f32(
    x: &[f32],
    batch: usize,
    w: &[f32],
    rows: usize,
    cols: usize,
) -> Result<Vec<f32>, String> {
    let dev = Device::Cpu;
    let xt = Tensor::from_slice(x, (batch, cols), &dev).map_err(err)?;
    let wt = Tensor::from_slice(w, (rows, cols), &dev).map_err(err)?;
    let y = xt.matmul(&wt.t().map_err(err)?).map_err(err)?;
    y.flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(err)
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
}

/// The result of a timed 16-bit GEMM.
pub struct HalfRun {
    pub y: Vec<f32>,
    /// Median seconds of one matmul (conversion excluded).
    pub secs: f64,
}

/// `y = x W^T` with both operands rounded to `h` (round to nearest even), the matmul run `reps`
/// times; returns the output widened to f32.
pub fn matmul_half(
    x: &[f32],
    batch: usize,
    w: &[f32],
    rows: usize,
    cols: usize,
    h: Half,
    reps: usize,
) -> Result<HalfRun, String> {
    let dev = Device::Cpu;
    let xt = Tensor::from_slice(x, (batch, cols), &dev)
        .and_then(|t| t.to_dtype(h.dtype()))
        .map_err(err)?;
    let wt = Tensor::from_slice(w, (rows, cols), &dev)
        .and_then(|t| t.to_dtype(h.dtype()))
        .map_err(err)?;
    let wtt = wt.t().map_err(err)?;
    let mut times = Vec::new();
    let mut y = None;
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        let out = xt.matmul(&wtt).map_err(err)?;
        times.push(t0.elapsed().as_secs_f64());
        y = Some(out);
    }
    let y = y.ok_or("no run")?;
    let v = y
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(err)?;
    Ok(HalfRun {
        y: v,
        secs: super::metrics::median(&mut times),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_matches_a_hand_product() {
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // [2, 3]
        let w = [1.0f32, 0.0, -1.0, 0.5, 0.5, 0.5]; // [2, 3]
        let y = matmul_f32(&x, 2, &w, 2, 3).expect("matmul");
        assert_eq!(y, vec![-2.0, 3.0, -2.0, 7.5]);
        let h = matmul_half(&x, 2, &w, 2, 3, Half::BF16, 1).expect("bf16");
        assert_eq!(h.y, y);
    }
}
