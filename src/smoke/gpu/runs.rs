//! How the GPU runs each format: what it uploads, which kernels of [`super::kernels`] quantize and
//! multiply, and what it downloads for the comparison with the CPU's bytes. No `unsafe` here:
//! every launch goes through a typed function that checks its buffers.

use cudarc::driver::CudaSlice;

use super::device::GpuError;
use super::Cuda;
use crate::smoke::backend::{NotRun, Product, Quantized, Runs};
use crate::smoke::formats::gemm::{Gemm, Half};
use crate::smoke::formats::int8::{self, Int8, Int8Llm, THRESHOLD};
use crate::smoke::formats::lora::{LoraFormat, LoraPacked};
use crate::smoke::formats::nf4::{self, Nf4, Nf4Format};
use crate::smoke::formats::nf4_dq::{self, Nf4Dq, Nf4DqFormat};
use crate::smoke::formats::sparse24::{Sparse24, Sparse24Format};
use crate::smoke::formats::Format as _;
use crate::smoke::metrics::Reps;
use crate::smoke::model::LayerTensor;

/// NF4 codes and absmax on the device, and the 16 code values.
pub struct Nf4Resident {
    packed: CudaSlice<u8>,
    absmax: CudaSlice<f32>,
    code: CudaSlice<f32>,
}

impl Cuda {
    /// NF4-quantizes `t` on the GPU; the host copy is downloaded.
    fn nf4_quantize(&self, t: &LayerTensor) -> Result<Quantized<Nf4, Nf4Resident>, GpuError> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let n = rows * cols;
        if cols % 64 != 0 {
            return Err(GpuError::Skipped(format!("skipped: the GPU NF4 kernel needs the input dimension to be a multiple of 64, not {cols}")));
        }
        let w = g.up(&t.w)?;
        let mids = g.up(&nf4::midpoints())?;
        let mut packed = g.zeros::<u8>(n / 2)?;
        let mut absmax = g.zeros::<f32>(n / 64)?;
        let secs = g.time(Reps::ONCE, || {
            g.kernels
                .nf4_quantize(&w, n, &mids, &mut packed, &mut absmax)
        })?;
        let host = Nf4 {
            n,
            packed: g.down(&packed)?,
            absmax: g.down(&absmax)?,
        };
        let code = g.up(&nf4::CODE)?;
        Ok(Quantized {
            host,
            resident: Nf4Resident {
                packed,
                absmax,
                code,
            },
            secs,
        })
    }
}

impl Runs<Nf4Format> for Cuda {
    type Resident = Nf4Resident;

    fn quantize(
        &self,
        _f: &Nf4Format,
        t: &LayerTensor,
    ) -> Result<Quantized<Nf4, Nf4Resident>, NotRun> {
        Ok(self.nf4_quantize(t)?)
    }

    fn matmul(
        &self,
        _f: &Nf4Format,
        t: &LayerTensor,
        q: &Quantized<Nf4, Nf4Resident>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<()>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let r = &q.resident;
        let x_d = g.up(x)?;
        let mut y_d = g.zeros::<f32>(batch * rows)?;
        let secs = g.time(reps, || {
            g.kernels.nf4_gemv(
                &r.packed, &r.absmax, &r.code, &x_d, &mut y_d, rows, cols, batch,
            )
        })?;
        Ok(Product {
            y: g.down(&y_d)?,
            act: (),
            secs,
        })
    }

    fn notes(&self, _f: &Nf4Format) -> Vec<String> {
        vec!["quantized on the GPU (kernels/nf4.cu nf4_quantize), multiplied by nf4_gemv".into()]
    }
}

/// NF4-DQ on the device: NF4's codes, the 8-bit absmax, their scales and code.
pub struct Nf4DqResident {
    nf4: Nf4Resident,
    q: CudaSlice<u8>,
    absmax2: CudaSlice<f32>,
    code2: CudaSlice<f32>,
    offset: f32,
}

impl Runs<Nf4DqFormat> for Cuda {
    type Resident = Nf4DqResident;

    fn quantize(
        &self,
        _f: &Nf4DqFormat,
        t: &LayerTensor,
    ) -> Result<Quantized<Nf4Dq, Nf4DqResident>, NotRun> {
        let g = &self.gpu;
        let q = self.nf4_quantize(t)?;
        // the second-level quantization of the GPU's absmax runs on the CPU
        let host = nf4_dq::from_nf4(q.host);
        let d = &host.dq;
        let resident = Nf4DqResident {
            q: g.up(&d.absmax_u8)?,
            absmax2: g.up(&d.absmax2)?,
            code2: g.up(&d.code2)?,
            offset: d.offset,
            nf4: q.resident,
        };
        Ok(Quantized {
            secs: q.secs + host.dq_secs,
            host,
            resident,
        })
    }

    fn matmul(
        &self,
        _f: &Nf4DqFormat,
        t: &LayerTensor,
        q: &Quantized<Nf4Dq, Nf4DqResident>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<Vec<f32>>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let nq = q.host.dq.absmax_u8.len();
        // the dequantized absmax, written by the timed kernel
        let mut am = g.zeros::<f32>(nq)?;
        let r = &q.resident;
        let x_d = g.up(x)?;
        let mut y_d = g.zeros::<f32>(batch * rows)?;
        let secs = g.time(reps, || {
            g.kernels
                .nf4_dq_absmax(&r.q, nq, &r.absmax2, &r.code2, r.offset, &mut am)?;
            g.kernels.nf4_gemv(
                &r.nf4.packed,
                &am,
                &r.nf4.code,
                &x_d,
                &mut y_d,
                rows,
                cols,
                batch,
            )
        })?;
        Ok(Product {
            y: g.down(&y_d)?,
            act: g.down(&am)?,
            secs,
        })
    }

    fn notes(&self, _f: &Nf4DqFormat) -> Vec<String> {
        vec!["time includes dequantizing the absmax on the GPU; the second-level quantization of the absmax ran on the CPU".into()]
    }
}

/// LLM.int8 weights on the device.
pub struct Int8Resident {
    wq: CudaSlice<i8>,
    sw: CudaSlice<f32>,
}

impl Runs<Int8Llm> for Cuda {
    type Resident = Int8Resident;

    fn quantize(
        &self,
        _f: &Int8Llm,
        t: &LayerTensor,
    ) -> Result<Quantized<Int8, Int8Resident>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        if cols % 16 != 0 {
            return Err(NotRun::Skipped(format!("skipped: the GPU int8 kernel needs the input dimension to be a multiple of 16, not {cols}")));
        }
        let w = g.up(&t.w)?;
        let no_outliers = g.zeros::<u8>(cols)?;
        let mut wq = g.zeros::<i8>(rows * cols)?;
        let mut sw = g.zeros::<f32>(rows)?;
        let secs = g.time(Reps::ONCE, || {
            g.kernels
                .int8_quantize_rows(&w, rows, cols, 0.0, &no_outliers, &mut wq, &mut sw)
        })?;
        let host = Int8 {
            rows,
            cols,
            values: g.down(&wq)?,
            row_absmax: g.down(&sw)?,
            outlier_cols: Vec::new(),
        };
        Ok(Quantized {
            host,
            resident: Int8Resident { wq, sw },
            secs,
        })
    }

    fn matmul(
        &self,
        _f: &Int8Llm,
        t: &LayerTensor,
        q: &Quantized<Int8, Int8Resident>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<Int8>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        // the outlier columns of the activations: a host-side scan, as bitsandbytes' own
        let outliers = int8::quantize(x, batch, cols, THRESHOLD).outlier_cols;
        let mut mask = vec![0u8; cols];
        for &c in &outliers {
            mask[c] = 1;
        }
        let cols_i: Vec<i32> = outliers.iter().map(|&c| c as i32).collect();
        let mask_d = g.up(&mask)?;
        let oc_d = g.up(if cols_i.is_empty() {
            &[0i32][..]
        } else {
            &cols_i
        })?;
        let x_d = g.up(x)?;
        let mut xq_d = g.zeros::<i8>(batch * cols)?;
        let mut sx_d = g.zeros::<f32>(batch)?;
        let mut y_d = g.zeros::<f32>(batch * rows)?;
        let r = &q.resident;
        let secs = g.time(reps, || {
            g.kernels
                .int8_quantize_rows(&x_d, batch, cols, THRESHOLD, &mask_d, &mut xq_d, &mut sx_d)?;
            g.kernels.int8_gemv(
                &r.wq,
                &r.sw,
                &xq_d,
                &sx_d,
                &x_d,
                &oc_d,
                cols_i.len(),
                &mut y_d,
                rows,
                cols,
                batch,
            )
        })?;
        let act = Int8 {
            rows: batch,
            cols,
            values: g.down(&xq_d)?,
            row_absmax: g.down(&sx_d)?,
            outlier_cols: outliers,
        };
        Ok(Product {
            y: g.down(&y_d)?,
            act,
            secs,
        })
    }

    fn notes(&self, _f: &Int8Llm) -> Vec<String> {
        vec!["time includes quantizing the activations on the GPU (their outlier columns come from a host-side scan)".into()]
    }
}

/// A LoRA adapter and the base weight on the device.
pub struct LoraResident {
    w: CudaSlice<f32>,
    a: CudaSlice<f32>,
    b: CudaSlice<f32>,
}

impl Runs<LoraFormat> for Cuda {
    type Resident = LoraResident;

    fn quantize(
        &self,
        f: &LoraFormat,
        t: &LayerTensor,
    ) -> Result<Quantized<LoraPacked, LoraResident>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let adapter = f.adapter(t);
        let w = g.up(&t.w)?;
        let a = g.up(&adapter.a)?;
        let b = g.up(&adapter.b)?;
        let mut merged_d = g.zeros::<f32>(rows * cols)?;
        let secs = g.time(Reps::ONCE, || {
            g.kernels.lora_merge(
                &w,
                &a,
                &b,
                rows,
                cols,
                adapter.r,
                adapter.scale(),
                &mut merged_d,
            )
        })?;
        let merged = g.down(&merged_d)?;
        Ok(Quantized {
            host: LoraPacked { adapter, merged },
            resident: LoraResident { w, a, b },
            secs,
        })
    }

    fn matmul(
        &self,
        _f: &LoraFormat,
        t: &LayerTensor,
        q: &Quantized<LoraPacked, LoraResident>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<()>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let l = &q.host.adapter;
        let r = &q.resident;
        let x_d = g.up(x)?;
        let mut base = g.zeros::<f32>(batch * rows)?;
        let mut ax = g.zeros::<f32>(batch * l.r)?;
        let mut bax = g.zeros::<f32>(batch * rows)?;
        let mut y_d = g.zeros::<f32>(batch * rows)?;
        let k = &g.kernels;
        let secs = g.time(reps, || {
            k.gemv_f32(&r.w, &x_d, &mut base, rows, cols, batch)?;
            k.gemv_f32(&r.a, &x_d, &mut ax, l.r, cols, batch)?;
            k.gemv_f32(&r.b, &ax, &mut bax, rows, l.r, batch)?;
            k.add_scaled(&base, &bax, l.scale(), batch * rows, &mut y_d)
        })?;
        Ok(Product {
            y: g.down(&y_d)?,
            act: (),
            secs,
        })
    }

    fn notes(&self, _f: &LoraFormat) -> Vec<String> {
        vec![
            "forward W x + s B (A x) and the merge W + s B A both on the GPU (kernels/lora.cu)"
                .into(),
        ]
    }
}

/// 2:4 values and positions on the device (one byte of positions per group).
pub struct SparseResident {
    values: CudaSlice<f32>,
    pos: CudaSlice<u8>,
}

impl Runs<Sparse24Format> for Cuda {
    type Resident = SparseResident;

    fn quantize(
        &self,
        _f: &Sparse24Format,
        t: &LayerTensor,
    ) -> Result<Quantized<Sparse24, SparseResident>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        if cols % 8 != 0 {
            return Err(NotRun::Skipped(format!(
                "skipped: 2:4 sparsity needs the input dimension to be a multiple of 8, not {cols}"
            )));
        }
        let groups = rows * cols / 4;
        let w = g.up(&t.w)?;
        let mut values = g.zeros::<f32>(rows * cols / 2)?;
        let mut pos = g.zeros::<u8>(groups)?;
        let secs = g.time(Reps::ONCE, || {
            g.kernels.sparse24_prune(&w, groups, &mut values, &mut pos)
        })?;
        // the CPU packs two groups a byte (group 2j in the low nibble)
        let per_group = g.down(&pos)?;
        let meta = per_group
            .chunks(2)
            .map(|p| p[0] | (p.get(1).copied().unwrap_or(0) << 4))
            .collect();
        let host = Sparse24 {
            rows,
            cols,
            values: g.down(&values)?,
            meta,
        };
        Ok(Quantized {
            host,
            resident: SparseResident { values, pos },
            secs,
        })
    }

    fn matmul(
        &self,
        _f: &Sparse24Format,
        t: &LayerTensor,
        q: &Quantized<Sparse24, SparseResident>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<()>, NotRun> {
        let g = &self.gpu;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let r = &q.resident;
        let x_d = g.up(x)?;
        let mut y_d = g.zeros::<f32>(batch * rows)?;
        let secs = g.time(reps, || {
            g.kernels
                .sparse24_gemv(&r.values, &r.pos, &x_d, &mut y_d, rows, cols, batch)
        })?;
        Ok(Product {
            y: g.down(&y_d)?,
            act: (),
            secs,
        })
    }

    fn notes(&self, _f: &Sparse24Format) -> Vec<String> {
        vec!["pruned on the GPU; our own sparse kernel (not cuSPARSELt's tensor-core path)".into()]
    }
}

/// The 16-bit weight on the device.
pub struct GemmResident {
    w: CudaSlice<u16>,
}

impl Runs<Gemm> for Cuda {
    type Resident = GemmResident;

    fn quantize(
        &self,
        f: &Gemm,
        t: &LayerTensor,
    ) -> Result<Quantized<candle_core::Tensor, GemmResident>, NotRun> {
        let g = &self.gpu;
        if f.0 == Half::BF16 && g.cc.0 < 8 {
            return Err(NotRun::Failed(format!(
                "bf16 needs compute capability 8.0 or newer for native support; this GPU is {}. Not emulated: use the seed's mitigation, fp16 with automatic loss scaling (torch.float16 + GradScaler)",
                g.arch()
            )));
        }
        if let Err(e) = &g.blas {
            return Err(e.clone().into());
        }
        let t0 = std::time::Instant::now();
        // rounding to 16 bits happens on the host for both devices
        let host = f.quantize(t)?;
        let w = g.up(&f.0.bits(&t.w))?;
        Ok(Quantized {
            host,
            resident: GemmResident { w },
            secs: t0.elapsed().as_secs_f64(),
        })
    }

    fn matmul(
        &self,
        f: &Gemm,
        t: &LayerTensor,
        q: &Quantized<candle_core::Tensor, GemmResident>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<()>, NotRun> {
        let g = &self.gpu;
        let blas = g.blas.as_ref().map_err(|e| NotRun::from(e.clone()))?;
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let dt = match f.0 {
            Half::F16 => super::cublas::CUDA_R_16F,
            Half::BF16 => super::cublas::CUDA_R_16BF,
        };
        let x_d = g.up(&f.0.bits(x))?;
        let mut y_d = g.zeros::<u16>(batch * rows)?;
        let secs = g.time(reps, || {
            super::kernels::gemm_16(
                blas,
                &g.stream,
                dt,
                &q.resident.w,
                &x_d,
                &mut y_d,
                rows,
                cols,
                batch,
            )
        })?;
        Ok(Product {
            y: f.0.widen(&g.down(&y_d)?),
            act: (),
            secs,
        })
    }

    fn notes(&self, f: &Gemm) -> Vec<String> {
        vec![format!(
            "cuBLAS cublasGemmEx, {} in and out, f32 compute, on {}",
            f.0.name(),
            self.gpu.arch()
        )]
    }
}
