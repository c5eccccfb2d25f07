//! The GPU device: the kernels in `kernels/*.cu`, compiled at run time by NVRTC for the GPU's own
//! architecture, and cuBLAS for the 16-bit GEMMs, all through cudarc with dynamic loading (so
//! building compat needs no CUDA toolkit).
//!
//! Order of business, each step a skip or a failed check, never a crash:
//! 1. `libcuda.so.1` present, with every symbol cudarc will resolve for these calls? (cudarc
//!    panics on a missing library or symbol, so ask first: [`crate::probe::driver_libs`]) — if
//!    not there, every GPU check is `unverified`: "skipped: no NVIDIA driver (libcuda.so.1 not
//!    found)"; if it lacks a symbol, they are `unverified` with the library and the symbol's
//!    name, and `compat smoke --device cuda` refuses to run (exit 2, see [`driver_unusable`]);
//! 2. the driver opens GPU 0 (no device is a skip; any other error fails the checks with it);
//! 3. NVRTC 13 or 12 present? Each kernel file compiles to a CUBIN for `sm_XY`; a compile error
//!    fails that file's checks with the compiler log;
//! 4. cuBLAS 13 or 12 present? The GEMMs use `cublasGemmEx` (fp16/bf16 in and out, f32 compute).
//!
//! The checks are the CPU's, through the same generic check ([`crate::smoke::check`]): the GPU is
//! a [`Backend`](crate::smoke::backend::Backend) like the CPU, with one comparison the CPU cannot make — the GPU quantizers must
//! produce *the same bytes* as the CPU ones (which the golden tests tie to bitsandbytes). Sizes
//! adapt to free memory: a projection that does not fit is cut to its first rows, and the check
//! says so. A GPU below sm_80 fails `gemm-bf16` without running it (no native bf16; the seed's
//! mitigation is fp16 with loss scaling). Any panic inside cudarc is caught and fails the
//! remaining checks.
//!
//! | file | what |
//! |---|---|
//! | [`device`] | the context, memory, event timing, bandwidth, fitting a projection |
//! | [`nvrtc`] | the embedded kernel sources and their compilation |
//! | [`kernels`] | one typed launch per kernel: the only launch `unsafe` |
//! | [`cublas`] | cuBLAS 12 or 13, loaded by name, for the 16-bit GEMMs |
//! | [`runs`] | each format on the GPU: uploads, launches, downloads |

pub mod cublas;
pub mod device;
pub mod kernels;
pub mod nvrtc;
pub mod runs;

use super::backend::DeviceInfo;
use super::check::{self, RunEnv};
use super::formats::Formats;
use super::model::LayerTensor;
use super::progress::Progress;
use super::{Device, Level, SmokeCheck, SmokeOptions};
use crate::model::{SmokeCheckId, Verdict};
pub use device::{Gpu, GpuError};

/// The reason every GPU check gives on a machine without the NVIDIA driver.
pub const NO_DRIVER: &str = "skipped: no NVIDIA driver (libcuda.so.1 not found)";

/// Why the CUDA driver found is unusable for these checks: `libcuda.so.1 (PATH) lacks
/// cuLaunchKernel, ...`; `None` when it has every symbol, or when there is no libcuda at all
/// (that is [`NO_DRIVER`], a skip).
pub fn driver_unusable() -> Option<String> {
    use crate::probe::driver_libs::{check_first, libcuda_names, LIBCUDA_SMOKE};
    check_first(&libcuda_names(), LIBCUDA_SMOKE)
        .and_then(|l| l.lacks())
        .map(|lacks| {
            format!("{lacks}: the GPU checks need them (a stub or incomplete NVIDIA driver?)")
        })
}

/// The GPU as a [`Backend`](crate::smoke::backend::Backend).
pub struct Cuda {
    pub gpu: Gpu,
}

impl DeviceInfo for Cuda {
    fn device(&self) -> Device {
        Device::Cuda
    }

    fn bandwidth(&self) -> Option<f64> {
        self.gpu.hbm
    }

    fn gemm_batch(&self, level: Level) -> usize {
        match level {
            Level::Quick => 64,
            Level::Full => 256,
        }
    }
}

/// What the GPU path produced: a one-line summary (the GPU, or why none) and its checks.
pub struct GpuRun {
    pub summary: String,
    pub checks: Vec<SmokeCheck>,
}

/// One row per GPU check, all with the same outcome (the GPU path did not get as far as them).
fn all(reason: &str, verdict: Verdict, evidence: &[String]) -> Vec<SmokeCheck> {
    SmokeCheckId::KERNELS
        .iter()
        .map(|&id| {
            let mut c = SmokeCheck::new(id, Device::Cuda, "—", "—".into());
            c.verdict = verdict;
            c.reason = Some(reason.to_string());
            c.evidence = evidence.to_vec();
            c
        })
        .collect()
}

/// Runs the GPU checks (see the module comment). Never panics: a panic inside cudarc fails the
/// checks with its message.
pub fn run(
    opts: &SmokeOptions,
    host: &crate::probe::HostFacts,
    tensors: &[LayerTensor],
    progress: &Progress,
) -> GpuRun {
    use crate::probe::driver_libs::{check_first, libcuda_names, LIBCUDA_SMOKE};
    let Some(lib) = check_first(&libcuda_names(), LIBCUDA_SMOKE) else {
        let evidence: Vec<String> = if host.gpus.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "the host facts list {} GPU(s) ({}), but libcuda.so.1 cannot be loaded",
                host.gpus.len(),
                host.gpu_summary()
            )]
        };
        return GpuRun {
            summary: NO_DRIVER.into(),
            checks: all(NO_DRIVER, Verdict::Unverified, &evidence),
        };
    };
    if let Some(lacks) = lib.lacks() {
        let why = format!("skipped: {lacks}: cudarc would panic at the first call");
        return GpuRun {
            summary: why.clone(),
            checks: all(&why, Verdict::Unverified, &[]),
        };
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_opened(opts, tensors, progress)
    }));
    match r {
        Ok(g) => g,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            let why = format!("the CUDA path panicked: {msg}");
            GpuRun {
                summary: why.clone(),
                checks: all(&why, Verdict::Failed, &[]),
            }
        }
    }
}

fn run_opened(opts: &SmokeOptions, tensors: &[LayerTensor], progress: &Progress) -> GpuRun {
    let gpu = match Gpu::open() {
        Ok(g) => g,
        Err(GpuError::Skipped(s)) => {
            return GpuRun {
                checks: all(&s, Verdict::Unverified, &[]),
                summary: s,
            }
        }
        Err(GpuError::Failed(s)) => {
            return GpuRun {
                checks: all(&s, Verdict::Failed, &[]),
                summary: s,
            }
        }
    };
    let cuda = Cuda { gpu };
    let env = RunEnv {
        level: opts.level,
        reps: opts.level.reps(),
        seed: opts.seed,
    };
    let fm = Formats::new(opts.lora_rank, opts.lora_alpha, opts.seed);
    let mut checks = Vec::new();
    for t in tensors {
        let cut = device::fit(t, cuda.gpu.free_now());
        let (t, note) = match &cut {
            Some((c, n)) => (c, Some(n)),
            None => (t, None),
        };
        for mut c in check::projection(&cuda, &fm, t, &env, progress, None) {
            if let Some(n) = note {
                c.evidence.push(n.clone());
            }
            checks.push(c);
        }
    }
    GpuRun {
        summary: cuda.gpu.summary.clone(),
        checks,
    }
}
