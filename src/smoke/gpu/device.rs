//! An open GPU: the driver's context and stream, the compiled kernels, cuBLAS, the measured
//! device-to-device bandwidth, memory transfers, kernel timing with CUDA events under the one
//! repetition rule, and cutting a projection to fit free memory. What does not live here:
//! compiling ([`super::nvrtc`]) and launching ([`super::kernels`]).

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::Arc;
use std::time::Instant;

use cudarc::driver::{CudaContext, CudaModule, CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits};

use super::cublas::{BlasHandle, Cublas};
use super::kernels::Kernels;
use super::nvrtc::{Nvrtc, NvrtcError, KERNELS};
use crate::smoke::backend::NotRun;
use crate::smoke::metrics::{median, Reps};
use crate::smoke::model::{LayerTensor, Projection};

/// Why the GPU path, or one GPU check, did not run: a `Skipped` is `unverified` (no device, a
/// library or a shape rule missing), a `Failed` is `failed` (anything else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuError {
    Skipped(String),
    Failed(String),
}

impl From<cudarc::driver::DriverError> for GpuError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        GpuError::Failed(format!("CUDA error: {e:?}"))
    }
}

impl From<GpuError> for NotRun {
    fn from(e: GpuError) -> Self {
        match e {
            GpuError::Skipped(r) => NotRun::Skipped(r),
            GpuError::Failed(r) => NotRun::Failed(r),
        }
    }
}

/// An open GPU 0.
pub struct Gpu {
    pub stream: Arc<CudaStream>,
    pub cc: (i32, i32),
    pub kernels: Kernels,
    pub blas: Result<BlasHandle, GpuError>,
    pub hbm: Option<f64>,
    pub free: usize,
    /// One line: the GPU, its memory, the driver's CUDA version, NVRTC, the bandwidth.
    pub summary: String,
}

impl Gpu {
    /// Opens GPU 0 through the driver (which the caller checked is present), compiles every
    /// kernel file for its architecture and opens cuBLAS. No device is a skip; any other driver
    /// error fails the GPU checks.
    pub fn open() -> Result<Gpu, GpuError> {
        let ctx = CudaContext::new(0).map_err(|e| {
            let no_dev = matches!(
                e.0,
                cudarc::driver::sys::CUresult::CUDA_ERROR_NO_DEVICE
                    | cudarc::driver::sys::CUresult::CUDA_ERROR_NOT_FOUND
            );
            if no_dev {
                GpuError::Skipped(format!("skipped: no CUDA device ({e:?})"))
            } else {
                GpuError::Failed(format!("the CUDA driver could not open GPU 0: {e:?}"))
            }
        })?;
        // SAFETY: this path uses one stream only, so cudarc's cross-stream event tracking is
        // not needed; disabling it before any allocation is what the method documents.
        unsafe { ctx.disable_event_tracking() };
        let cc = ctx.compute_capability().unwrap_or((0, 0));
        let name = ctx.name().unwrap_or_else(|e| format!("GPU 0 ({e:?})"));
        let (free, total) = ctx.mem_get_info().unwrap_or((0, 0));
        let mut driver: c_int = 0;
        // SAFETY: libcuda is loaded and initialised (the context exists); writes one int.
        let _ = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver) };
        // the newest CUDA major the driver runs; NVRTC and cuBLAS above it would not load there
        let max_major = (driver > 0).then_some(driver / 1000);
        let arch = format!("sm_{}{}", cc.0, cc.1);
        let stream = ctx.default_stream();
        let nvrtc = Nvrtc::load(max_major);
        let blas = Cublas::load(max_major).and_then(|l| {
            let v = l.version;
            BlasHandle::new(Arc::new(l), &stream).map(|h| (h, v))
        });
        let mut summary = format!(
            "{name} ({arch}), {} of {} MiB free, driver CUDA {}.{}, NVRTC {}, cuBLAS {}",
            free >> 20,
            total >> 20,
            driver / 1000,
            (driver % 1000) / 10,
            nvrtc
                .as_ref()
                .map(|l| format!("{}.{}", l.version.0, l.version.1))
                .unwrap_or_else(|_| "not found".into()),
            blas.as_ref()
                .map(|(_, v)| format!("{}.{}.{}", v.0, v.1, v.2))
                .unwrap_or_else(|_| "not found".into()),
        );
        let modules = compile_modules(&ctx, &arch, &nvrtc);
        let mut g = Gpu {
            kernels: Kernels::load(stream.clone(), &modules),
            stream,
            cc,
            blas: blas.map(|(h, _)| h),
            hbm: None,
            free,
            summary: String::new(),
        };
        g.hbm = hbm_bandwidth(&g).ok();
        if let Some(b) = g.hbm {
            summary.push_str(&format!(", {b:.0} GB/s measured device-to-device copy"));
        }
        g.summary = summary;
        Ok(g)
    }

    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.cc.0, self.cc.1)
    }

    pub fn sync(&self) -> Result<(), GpuError> {
        Ok(self.stream.synchronize()?)
    }

    pub fn up<T: DeviceRepr>(&self, v: &[T]) -> Result<CudaSlice<T>, GpuError> {
        Ok(self.stream.clone_htod(v)?)
    }

    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        n: usize,
    ) -> Result<CudaSlice<T>, GpuError> {
        Ok(self.stream.alloc_zeros::<T>(n.max(1))?)
    }

    pub fn down<T: DeviceRepr>(&self, d: &CudaSlice<T>) -> Result<Vec<T>, GpuError> {
        Ok(self.stream.clone_dtoh(d)?)
    }

    /// Free device memory now (or at the start, if the driver does not say).
    pub fn free_now(&self) -> usize {
        self.stream
            .context()
            .mem_get_info()
            .map(|f| f.0)
            .unwrap_or(self.free)
    }

    /// Times `f` on the stream with CUDA events: one warm-up run, then as many runs as `reps`
    /// says, each between its own pair of events; the median seconds of one run.
    pub fn time(
        &self,
        reps: Reps,
        mut f: impl FnMut() -> Result<(), GpuError>,
    ) -> Result<f64, GpuError> {
        let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = self.stream.record_event(flags)?;
        f()?;
        let end = self.stream.record_event(flags)?;
        let warmup = f64::from(start.elapsed_ms(&end)?) / 1e3;
        let n = reps.count(warmup);
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            let s = self.stream.record_event(flags)?;
            f()?;
            let e = self.stream.record_event(flags)?;
            events.push((s, e));
        }
        self.sync()?;
        let mut times = Vec::with_capacity(n);
        for (s, e) in &events {
            times.push(f64::from(s.elapsed_ms(e)?) / 1e3);
        }
        Ok(median(&mut times))
    }
}

/// Every kernel file compiled for `arch` and loaded into `ctx`, or why not: no NVRTC is a skip,
/// a compile or load error a failure (with NVRTC's log).
fn compile_modules(
    ctx: &Arc<CudaContext>,
    arch: &str,
    nvrtc: &Result<Nvrtc, NvrtcError>,
) -> HashMap<&'static str, Result<Arc<CudaModule>, GpuError>> {
    KERNELS
        .iter()
        .map(|(file, src)| {
            let m = match nvrtc {
                Err(e) => Err(GpuError::Skipped(format!("skipped: {e}"))),
                Ok(l) => l
                    .compile(file, src, arch)
                    .map_err(|e| GpuError::Failed(e.to_string()))
                    .and_then(|cubin| {
                        ctx.load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
                            .map_err(|e| {
                                GpuError::Failed(format!(
                                    "loading the {file} CUBIN for {arch}: {e:?}"
                                ))
                            })
                    }),
            };
            (*file, m)
        })
        .collect()
}

/// Device-to-device copy bandwidth (read + write bytes per second), 256 MiB or a quarter of free
/// memory, best of 5.
fn hbm_bandwidth(g: &Gpu) -> Result<f64, GpuError> {
    let n = (256usize << 20).min(g.free / 4).max(1 << 20);
    let src = g.zeros::<u8>(n)?;
    let mut dst = g.zeros::<u8>(n)?;
    let mut best = f64::INFINITY;
    g.stream.memcpy_dtod(&src, &mut dst)?;
    g.sync()?;
    for _ in 0..5 {
        let t0 = Instant::now();
        g.stream.memcpy_dtod(&src, &mut dst)?;
        g.sync()?;
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok(2.0 * n as f64 / best / 1e9)
}

/// Bytes of GPU memory a projection's checks need at most (f32 weights and a merged copy, plus
/// the compressed forms), per weight.
pub const BYTES_PER_WEIGHT: usize = 10;

/// A copy of the projection cut to its first rows, when it does not fit in free memory.
pub fn fit(t: &LayerTensor, free: usize) -> Option<(LayerTensor, String)> {
    let need = t.proj.params() * BYTES_PER_WEIGHT + (256 << 20);
    if free == 0 || need <= free {
        return None;
    }
    let rows = ((free.saturating_sub(256 << 20)) / (t.proj.cols * BYTES_PER_WEIGHT) / 64 * 64)
        .clamp(64, t.proj.rows);
    let esz = t.raw.len() / t.proj.params().max(1);
    let s = LayerTensor {
        proj: Projection {
            rows,
            ..t.proj.clone()
        },
        dtype: t.dtype,
        raw: t.raw[..(rows * t.proj.cols * esz).min(t.raw.len())].to_vec(),
        w: t.w[..(rows * t.proj.cols).min(t.w.len())].to_vec(),
    };
    Some((
        s,
        format!(
            "cut to the first {rows} of {} rows to fit {} MiB of free GPU memory",
            t.proj.rows,
            free >> 20
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::model::ModelConfig;

    #[test]
    fn fitting_cuts_rows_to_free_memory() {
        let p = ModelConfig::mistral_7b_v01().projections(0)[6].clone();
        let t = LayerTensor {
            proj: p.clone(),
            dtype: safetensors::Dtype::F32,
            raw: vec![0u8; 4 * 64 * p.cols],
            w: vec![0f32; 64 * p.cols],
        };
        assert!(fit(&t, 0).is_none(), "unknown free memory: no cut");
        assert!(fit(&t, usize::MAX).is_none(), "fits");
        let free = (p.params() * BYTES_PER_WEIGHT) / 2 + (256 << 20);
        let (s, note) = fit(&t, free).expect("cut");
        assert!(
            s.proj.rows < p.rows && s.proj.rows % 64 == 0,
            "{}",
            s.proj.rows
        );
        assert!(note.contains("cut to the first"));
    }
}
