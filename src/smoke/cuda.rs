//! The GPU path: the kernels in `kernels/*.cu`, compiled at run time by NVRTC for the GPU's own
//! architecture, and cuBLAS for the 16-bit GEMMs, all through cudarc with dynamic loading (so
//! building compat needs no CUDA toolkit).
//!
//! Order of business, each step a skip or a failed check, never a crash:
//! 1. `libcuda.so.1` present? (cudarc panics on a missing library, so ask first) — if not, every
//!    GPU check is `unverified`: "skipped: no NVIDIA driver (libcuda.so.1 not found)";
//! 2. the driver opens GPU 0 (no device is a skip; any other error fails the checks with it);
//! 3. NVRTC present? Each kernel file compiles to a CUBIN for `sm_XY` (a CUBIN, not PTX, so a
//!    driver older than NVRTC still loads it); a compile error fails that file's checks with the
//!    compiler log;
//! 4. cuBLAS present? The GEMMs use `cublasGemmEx` (fp16/bf16 in and out, f32 compute).
//!
//! Each GPU check repeats its CPU twin with the same bounds, plus one comparison the CPU cannot
//! make: the GPU quantizers must produce *the same bytes* as the CPU ones (which the golden tests
//! tie to bitsandbytes). Sizes adapt to free memory: a projection that does not fit is cut to
//! its first rows, and the check says so. A GPU below sm_80 fails `gemm-bf16` without running it
//! (no native bf16; the seed's mitigation is fp16 with loss scaling). Any panic inside cudarc is
//! caught and fails the remaining checks.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::sync::Arc;
use std::time::Instant;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

use super::checks::{Bounds, Env, Progress, THRESHOLD};
use super::gemm::{self, Half};
use super::metrics::{self, max_rel_error};
use super::model::{self, LayerTensor};
use super::{int8, lora, nf4, sparse, SmokeCheck, SmokeOptions};
use crate::model::{SmokeCheckId, Verdict};

/// The reason every GPU check gives on a machine without the NVIDIA driver.
pub const NO_DRIVER: &str = "skipped: no NVIDIA driver (libcuda.so.1 not found)";

/// The kernel sources, embedded in the binary.
pub const KERNELS: &[(&str, &str)] = &[
    ("nf4.cu", include_str!("../../kernels/nf4.cu")),
    ("int8.cu", include_str!("../../kernels/int8.cu")),
    ("lora.cu", include_str!("../../kernels/lora.cu")),
    ("sparse24.cu", include_str!("../../kernels/sparse24.cu")),
];

/// What the GPU path produced: a one-line summary (the GPU, or why none) and its checks.
pub struct GpuRun {
    pub summary: String,
    pub checks: Vec<SmokeCheck>,
}

fn all(reason: &str, verdict: Verdict, evidence: &[String]) -> Vec<SmokeCheck> {
    SmokeCheckId::KERNELS
        .iter()
        .map(|id| {
            let mut c = SmokeCheck::new(id.as_str(), "cuda", "—", "—".into());
            c.verdict = verdict;
            c.reason = Some(reason.to_string());
            c.evidence = evidence.to_vec();
            c
        })
        .collect()
}

/// Whether NVRTC can be loaded (cudarc's library names: `libnvrtc.so`, `.so.12`, `.so.11`, …).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the candidate names; no NVRTC function is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// NVRTC's version, when it loads.
pub fn nvrtc_version() -> Option<(i32, i32)> {
    if !nvrtc_present() {
        return None;
    }
    let (mut a, mut b): (c_int, c_int) = (0, 0);
    // SAFETY: NVRTC is present (checked above); the call writes two ints to live locals.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut a, &mut b) };
    (r == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS).then_some((a, b))
}

fn c_chars(v: &[c_char]) -> String {
    let bytes: Vec<u8> = v
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Compiles one kernel source to a CUBIN for `arch` (`sm_90`). The error carries NVRTC's log.
/// Callers must have checked [`nvrtc_present`].
pub fn compile(name: &str, src: &str, arch: &str) -> Result<Vec<u8>, String> {
    use cudarc::nvrtc::{result, sys};
    let csrc = CString::new(src).map_err(|e| format!("{name}: {e}"))?;
    let cname = CString::new(name).map_err(|e| format!("{name}: {e}"))?;
    let prog = result::create_program(&csrc, Some(cname.as_c_str()))
        .map_err(|e| format!("nvrtcCreateProgram({name}): {e:?}"))?;
    let opts = vec![
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
    ];
    // SAFETY: `prog` is the live program created above; the options are owned strings that
    // outlive the call.
    let compiled = unsafe { result::compile_program(prog, &opts) };
    // SAFETY: as above; the log is copied out before the program is destroyed.
    let log = unsafe { result::get_program_log(prog) }
        .map(|l| c_chars(&l))
        .unwrap_or_default();
    let out = match compiled {
        Err(e) => Err(format!(
            "NVRTC {e:?} compiling {name} for {arch} (options {opts:?}):\n{}",
            log.trim()
        )),
        Ok(()) => {
            let mut size: usize = 0;
            // SAFETY: `prog` compiled successfully; the call writes the CUBIN size.
            let r = unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) };
            if r != sys::nvrtcResult::NVRTC_SUCCESS || size == 0 {
                Err(format!("nvrtcGetCUBINSize({name}): {r:?}"))
            } else {
                let mut buf = vec![0u8; size];
                // SAFETY: `buf` has exactly the size NVRTC reported.
                let r = unsafe { sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr() as *mut c_char) };
                if r == sys::nvrtcResult::NVRTC_SUCCESS {
                    Ok(buf)
                } else {
                    Err(format!("nvrtcGetCUBIN({name}): {r:?}"))
                }
            }
        }
    };
    // SAFETY: `prog` is live and not used after this.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

/// Compiles every kernel in `kernels/` for `arch`; returns each file's CUBIN size or the
/// compiler's error. Used by the checks and by the NVRTC test that CI runs for sm_75..sm_90.
pub fn compile_all(arch: &str) -> Vec<(&'static str, Result<usize, String>)> {
    KERNELS
        .iter()
        .map(|(n, s)| (*n, compile(n, s, arch).map(|b| b.len())))
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
    // SAFETY: only tries to dlopen the candidate names of libcuda; calls nothing in it.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        let mut checks = all(NO_DRIVER, Verdict::Unverified, &[]);
        if !host.gpus.is_empty() {
            for c in &mut checks {
                c.evidence.push(format!(
                    "the host facts list {} GPU(s) ({}), but libcuda.so.1 cannot be loaded",
                    host.gpus.len(),
                    host.gpu_summary()
                ));
            }
        }
        return GpuRun {
            summary: NO_DRIVER.into(),
            checks,
        };
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_inner(opts, tensors, progress)
    }));
    match r {
        Ok(g) => g,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            GpuRun {
                summary: format!("the CUDA path panicked: {msg}"),
                checks: all(
                    &format!("the CUDA path panicked: {msg}"),
                    Verdict::Failed,
                    &[],
                ),
            }
        }
    }
}

/// An open GPU: context, stream, compiled modules, cuBLAS.
struct Gpu {
    stream: Arc<CudaStream>,
    cc: (i32, i32),
    modules: HashMap<&'static str, Result<Arc<CudaModule>, String>>,
    blas: Result<cudarc::cublas::CudaBlas, String>,
    hbm: Option<f64>,
    free: usize,
}

fn derr(e: cudarc::driver::DriverError) -> String {
    format!("CUDA error: {e:?}")
}

impl Gpu {
    fn func(&self, file: &str, name: &str) -> Result<CudaFunction, String> {
        match self.modules.get(file) {
            Some(Ok(m)) => m
                .load_function(name)
                .map_err(|e| format!("loading kernel {name} from {file}: {e:?}")),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("no kernel file {file}")),
        }
    }

    fn sync(&self) -> Result<(), String> {
        self.stream.synchronize().map_err(derr)
    }

    fn up<T: cudarc::driver::DeviceRepr>(&self, v: &[T]) -> Result<CudaSlice<T>, String> {
        self.stream.clone_htod(v).map_err(derr)
    }

    fn zeros<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        n: usize,
    ) -> Result<CudaSlice<T>, String> {
        self.stream.alloc_zeros::<T>(n.max(1)).map_err(derr)
    }

    fn down<T: cudarc::driver::DeviceRepr>(&self, d: &CudaSlice<T>) -> Result<Vec<T>, String> {
        self.stream.clone_dtoh(d).map_err(derr)
    }

    /// Times `f` (one warm-up, then `reps` runs, synchronized): median-free mean seconds.
    fn time(&self, reps: usize, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
        f()?;
        self.sync()?;
        let t0 = Instant::now();
        for _ in 0..reps.max(1) {
            f()?;
        }
        self.sync()?;
        Ok(t0.elapsed().as_secs_f64() / reps.max(1) as f64)
    }
}

fn cfg1d(n: usize, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: ((n as u64).div_ceil(u64::from(block)).max(1) as u32, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One warp per row, 8 warps a block.
fn cfg_rows(rows: usize) -> LaunchConfig {
    cfg1d(rows * 32, 256)
}

fn run_inner(opts: &SmokeOptions, tensors: &[LayerTensor], progress: &Progress) -> GpuRun {
    let ctx = match CudaContext::new(0) {
        Ok(c) => c,
        Err(e) => {
            let no_dev = matches!(
                e.0,
                cudarc::driver::sys::CUresult::CUDA_ERROR_NO_DEVICE
                    | cudarc::driver::sys::CUresult::CUDA_ERROR_NOT_FOUND
            );
            let msg = format!("the CUDA driver could not open GPU 0: {e:?}");
            return if no_dev {
                let s = format!("skipped: no CUDA device ({e:?})");
                GpuRun {
                    summary: s.clone(),
                    checks: all(&s, Verdict::Unverified, &[]),
                }
            } else {
                GpuRun {
                    summary: msg.clone(),
                    checks: all(&msg, Verdict::Failed, &[]),
                }
            };
        }
    };
    // SAFETY: this path uses one stream only, so cudarc's cross-stream event tracking is not
    // needed; disabling it before any allocation is what the method documents.
    unsafe { ctx.disable_event_tracking() };
    let cc = ctx.compute_capability().unwrap_or((0, 0));
    let name = ctx.name().unwrap_or_else(|e| format!("GPU 0 ({e:?})"));
    let (free, total) = ctx.mem_get_info().unwrap_or((0, 0));
    let mut driver: c_int = 0;
    // SAFETY: libcuda is loaded and initialised (the context exists); writes one int.
    let _ = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver) };
    let arch = format!("sm_{}{}", cc.0, cc.1);
    let stream = ctx.default_stream();
    let nvrtc = nvrtc_version();
    let mut summary = format!(
        "{name} ({arch}), {} of {} MiB free, driver CUDA {}.{}, NVRTC {}",
        free >> 20,
        total >> 20,
        driver / 1000,
        (driver % 1000) / 10,
        nvrtc
            .map(|(a, b)| format!("{a}.{b}"))
            .unwrap_or_else(|| "not found".into())
    );
    let mut modules = HashMap::new();
    for (file, src) in KERNELS {
        let m = if nvrtc.is_none() {
            Err("skipped: NVRTC not found (cudarc looks for libnvrtc.so, libnvrtc.so.12, libnvrtc.so.11 on the library path; with CUDA 13 only, link libnvrtc.so to libnvrtc.so.13 on LD_LIBRARY_PATH)".to_string())
        } else {
            compile(file, src, &arch).and_then(|cubin| {
                ctx.load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
                    .map_err(|e| format!("loading the {file} CUBIN for {arch}: {e:?}"))
            })
        };
        modules.insert(*file, m);
    }
    // SAFETY: only tries to dlopen the candidate names of cuBLAS.
    let blas = if unsafe { cudarc::cublas::sys::is_culib_present() } {
        cudarc::cublas::CudaBlas::new(stream.clone()).map_err(|e| format!("cublasCreate: {e:?}"))
    } else {
        Err(
            "skipped: cuBLAS not found (libcublas.so / .so.12 / .so.11 on the library path)"
                .to_string(),
        )
    };
    let mut g = Gpu {
        stream,
        cc,
        modules,
        blas,
        hbm: None,
        free,
    };
    g.hbm = hbm_bandwidth(&g).ok();
    if let Some(b) = g.hbm {
        summary.push_str(&format!(", {b:.0} GB/s measured device-to-device copy"));
    }
    let env = Env {
        level: opts.level,
        reps: match opts.level {
            super::Level::Quick => 10,
            super::Level::Full => 50,
        },
        seed: opts.seed,
        lora_rank: opts.lora_rank,
        lora_alpha: opts.lora_alpha,
        bandwidth: g.hbm,
    };
    let mut checks = Vec::new();
    for t in tensors {
        let free_now = g
            .stream
            .context()
            .mem_get_info()
            .map(|f| f.0)
            .unwrap_or(g.free);
        let cut = fit(t, free_now);
        let (t, note) = match &cut {
            Some((c, n)) => (c, Some(n)),
            None => (t, None),
        };
        for mut c in projection(&g, t, &env, progress) {
            if let Some(n) = note {
                c.evidence.push(n.clone());
            }
            checks.push(c);
        }
    }
    GpuRun { summary, checks }
}

/// Device-to-device copy bandwidth (read + write bytes per second), 256 MiB or a quarter of free
/// memory, best of 5.
fn hbm_bandwidth(g: &Gpu) -> Result<f64, String> {
    let n = (256usize << 20).min(g.free / 4).max(1 << 20);
    let src = g.zeros::<u8>(n)?;
    let mut dst = g.zeros::<u8>(n)?;
    let mut best = f64::INFINITY;
    g.stream.memcpy_dtod(&src, &mut dst).map_err(derr)?;
    g.sync()?;
    for _ in 0..5 {
        let t0 = Instant::now();
        g.stream.memcpy_dtod(&src, &mut dst).map_err(derr)?;
        g.sync()?;
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok(2.0 * n as f64 / best / 1e9)
}

/// Bytes of GPU memory a projection's checks need at most (f32 weights and a merged copy, plus
/// the compressed forms), per weight.
const BYTES_PER_WEIGHT: usize = 10;

/// A copy of the projection cut to its first rows, when it does not fit in free memory.
fn fit(t: &LayerTensor, free: usize) -> Option<(LayerTensor, String)> {
    let need = t.proj.params() * BYTES_PER_WEIGHT + (256 << 20);
    if free == 0 || need <= free {
        return None;
    }
    let rows = ((free.saturating_sub(256 << 20)) / (t.proj.cols * BYTES_PER_WEIGHT) / 64 * 64)
        .clamp(64, t.proj.rows);
    let esz = t.raw.len() / t.proj.params().max(1);
    let s = LayerTensor {
        proj: super::Projection {
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

fn layer_name(t: &LayerTensor) -> String {
    t.proj.name.trim_end_matches(".weight").to_string()
}

/// A check that could not run: `unverified` when the reason is a skip (a missing library),
/// `failed` otherwise (a compile error, a launch failure, out of memory).
fn not_run(id: &str, t: &LayerTensor, batch: usize, e: String) -> SmokeCheck {
    if e.starts_with("skipped") {
        SmokeCheck::skipped(
            id,
            "cuda",
            &layer_name(t),
            format!("{} · batch {batch}", t.proj.shape()),
            &e,
        )
    } else {
        check(id, t, batch).fail(e)
    }
}

fn check(id: &str, t: &LayerTensor, batch: usize) -> SmokeCheck {
    SmokeCheck::new(
        id,
        "cuda",
        &layer_name(t),
        format!("{} · batch {batch}", t.proj.shape()),
    )
}

/// The verdict from the three comparisons (same bytes as the CPU, kernel vs format reference,
/// result vs f32).
fn judge(
    c: &mut SmokeCheck,
    err: f64,
    bound: f64,
    kernel: Option<f64>,
    bytes_mismatch: Option<(usize, usize, &str)>,
) {
    c.max_rel_error = Some(err);
    c.bound = Some(bound);
    let mut why = Vec::new();
    if let Some((bad, total, what)) = bytes_mismatch {
        c.evidence.push(format!(
            "GPU {what} vs CPU (bitsandbytes' format): {} of {total} differ",
            bad
        ));
        if bad > 0 {
            why.push(format!(
                "the GPU {what} differ from bitsandbytes' format in {bad} of {total}"
            ));
        }
    }
    if let Some(ke) = kernel {
        c.evidence.push(format!(
            "kernel vs dequantize-then-matmul (candle f32 on the CPU): {ke:.2e} (bound {:.0e})",
            Bounds::KERNEL
        ));
        if ke.is_nan() || ke > Bounds::KERNEL {
            why.push(format!(
                "the GPU kernel disagrees with the format reference: {ke:.3e}"
            ));
        }
    }
    if err.is_nan() || err > bound {
        why.push(format!(
            "error against the f32 reference {err:.3e} exceeds the bound {bound:.1e}"
        ));
    }
    if why.is_empty() {
        c.verdict = Verdict::Verified;
        c.reason = None;
    } else {
        c.verdict = Verdict::Failed;
        c.reason = Some(why.join("; "));
    }
}

fn projection(g: &Gpu, t: &LayerTensor, env: &Env, progress: &Progress) -> Vec<SmokeCheck> {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let (x1, _) = model::activations(env.seed, 1, cols);
    let mut out = Vec::new();
    let reference = match gemm::matmul_f32(&x1, 1, &t.w, rows, cols) {
        Ok(r) => r,
        Err(e) => {
            for id in SmokeCheckId::KERNELS {
                out.push(check(id.as_str(), t, 1).fail(format!("the f32 reference failed: {e}")));
            }
            return out;
        }
    };
    let run = |id: &str, r: Result<SmokeCheck, String>| -> SmokeCheck {
        progress.step(&format!("cuda {id} {}", t.proj.short));
        r.unwrap_or_else(|e| not_run(id, t, 1, e))
    };
    out.push(run("int8-llm", gpu_int8(g, t, &x1, &reference, env)));
    match gpu_nf4(g, t, &x1, &reference, env) {
        Ok((a, b)) => {
            progress.step("cuda nf4");
            progress.step("cuda nf4-dq");
            out.push(a);
            out.push(b);
        }
        Err(e) => {
            progress.step("cuda nf4");
            progress.step("cuda nf4-dq");
            out.push(not_run("nf4", t, 1, e.clone()));
            out.push(not_run("nf4-dq", t, 1, e));
        }
    }
    out.push(run("lora", gpu_lora(g, t, &x1, &reference, env)));
    out.push(run("sparse-2-4", gpu_sparse(g, t, &x1, env)));
    let bg = match env.level {
        super::Level::Quick => 64,
        super::Level::Full => 256,
    };
    let (xg, _) = model::activations(env.seed ^ 0x6E, bg, cols);
    let refg = gemm::matmul_f32(&xg, bg, &t.w, rows, cols);
    for h in [Half::F16, Half::BF16] {
        let id = super::checks::gemm_id(h);
        let c = match &refg {
            Ok(r) => gpu_gemm(g, t, &xg, bg, r, env, h),
            Err(e) => Err(format!("the f32 reference failed: {e}")),
        };
        progress.step(&format!("cuda {id} {}", t.proj.short));
        out.push(c.unwrap_or_else(|e| not_run(id, t, bg, e)));
    }
    out
}

fn gpu_nf4(
    g: &Gpu,
    t: &LayerTensor,
    x: &[f32],
    reference: &[f32],
    env: &Env,
) -> Result<(SmokeCheck, SmokeCheck), String> {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let n = rows * cols;
    if cols % 64 != 0 {
        let why = format!("skipped: the GPU NF4 kernel needs the input dimension to be a multiple of 64, not {cols}");
        return Ok((
            SmokeCheck::skipped("nf4", "cuda", &layer_name(t), t.proj.shape(), &why),
            SmokeCheck::skipped("nf4-dq", "cuda", &layer_name(t), t.proj.shape(), &why),
        ));
    }
    let fq = g.func("nf4.cu", "nf4_quantize")?;
    let fg = g.func("nf4.cu", "nf4_gemv")?;
    let fd = g.func("nf4.cu", "nf4_dq_absmax")?;
    let w_d = g.up(&t.w)?;
    let mids = g.up(&nf4::midpoints())?;
    let code = g.up(&nf4::CODE)?;
    let mut packed_d = g.zeros::<u8>(n / 2)?;
    let mut absmax_d = g.zeros::<f32>(n / 64)?;
    let n_i64 = n as i64;
    let tq = g.time(1, || {
        let mut b = g.stream.launch_builder(&fq);
        b.arg(&w_d)
            .arg(&n_i64)
            .arg(&mids)
            .arg(&mut packed_d)
            .arg(&mut absmax_d);
        // SAFETY: the kernel's arguments match its signature in kernels/nf4.cu (f32*, i64,
        // f32*, u8*, f32*), the buffers hold n, 15, n/2 and n/64 elements, and the grid covers
        // the n/64 blocks with a bound check.
        unsafe { b.launch(cfg1d(n / 64, 256)) }
            .map(|_| ())
            .map_err(derr)
    })?;
    drop(w_d);
    let packed = g.down(&packed_d)?;
    let absmax = g.down(&absmax_d)?;
    let cpu = nf4::quantize(&t.w);
    let bad_bytes = packed
        .iter()
        .zip(&cpu.packed)
        .filter(|(a, b)| a != b)
        .count()
        + absmax
            .iter()
            .zip(&cpu.absmax)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
    let x_d = g.up(x)?;
    let mut y_d = g.zeros::<f32>(rows)?;
    let (r_i, c_i, b_i) = (rows as i32, cols as i32, 1i32);
    let fp16 = 2 * n as u64;
    // NF4 with f32 absmax
    let tk = g.time(env.reps, || {
        let mut b = g.stream.launch_builder(&fg);
        b.arg(&packed_d)
            .arg(&absmax_d)
            .arg(&code)
            .arg(&x_d)
            .arg(&mut y_d)
            .arg(&r_i)
            .arg(&c_i)
            .arg(&b_i);
        // SAFETY: arguments match nf4_gemv (u8*, f32*, f32*, f32*, f32*, int, int, int); packed
        // holds rows*cols/2 bytes, absmax rows*cols/64, x cols, y rows; cols % 64 == 0 (checked)
        // keeps the 16-byte vector loads aligned and in bounds; one warp per row.
        unsafe { b.launch(cfg_rows(rows)) }
            .map(|_| ())
            .map_err(derr)
    })?;
    let y = g.down(&y_d)?;
    let deq = nf4::dequantize(&cpu, &cpu.absmax);
    let fmt = gemm::matmul_f32(x, 1, &deq, rows, cols)?;
    drop(deq);
    let mut c = check("nf4", t, 1);
    judge(
        &mut c,
        max_rel_error(&y, reference),
        Bounds::NF4,
        Some(max_rel_error(&y, &fmt)),
        Some((
            bad_bytes,
            packed.len() + absmax.len(),
            "packed codes and absmax",
        )),
    );
    c.compressed_bytes = Some(cpu.bytes());
    c.fp16_bytes = Some(fp16);
    c.time_ms = Some(tk * 1e3);
    c.throughput = Some(metrics::gbs(cpu.bytes(), tk, env.bandwidth));
    c.evidence
        .push(format!("quantize on the GPU: {:.2} ms", tq * 1e3));
    // NF4 with double-quantized absmax (the second-level quantization runs on the CPU)
    let dq = nf4::double_quantize(&absmax);
    let q_d = g.up(&dq.absmax_u8)?;
    let a2_d = g.up(&dq.absmax2)?;
    let c2_d = g.up(&dq.code2)?;
    let mut am_d = g.zeros::<f32>(dq.absmax_u8.len())?;
    let nq = dq.absmax_u8.len() as i64;
    let off = dq.offset;
    let tk2 = g.time(env.reps, || {
        {
            let mut b = g.stream.launch_builder(&fd);
            b.arg(&q_d)
                .arg(&a2_d)
                .arg(&c2_d)
                .arg(&off)
                .arg(&nq)
                .arg(&mut am_d);
            // SAFETY: arguments match nf4_dq_absmax (u8*, f32*, f32*, float, i64, f32*); the
            // buffers hold nq, nq/256 (rounded up), 256 and nq elements; bound-checked grid.
            unsafe { b.launch(cfg1d(nq as usize, 256)) }.map_err(derr)?;
        }
        let mut b = g.stream.launch_builder(&fg);
        b.arg(&packed_d)
            .arg(&am_d)
            .arg(&code)
            .arg(&x_d)
            .arg(&mut y_d)
            .arg(&r_i)
            .arg(&c_i)
            .arg(&b_i);
        // SAFETY: as for the nf4 launch above, with the dequantized absmax (same length).
        unsafe { b.launch(cfg_rows(rows)) }
            .map(|_| ())
            .map_err(derr)
    })?;
    let y2 = g.down(&y_d)?;
    let am_gpu = g.down(&am_d)?;
    let am_cpu = dq.dequantize();
    let bad = am_gpu
        .iter()
        .zip(&am_cpu)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    let deq = nf4::dequantize(&cpu, &am_cpu);
    let fmt2 = gemm::matmul_f32(x, 1, &deq, rows, cols)?;
    drop(deq);
    let mut d = check("nf4-dq", t, 1);
    judge(
        &mut d,
        max_rel_error(&y2, reference),
        Bounds::NF4_DQ,
        Some(max_rel_error(&y2, &fmt2)),
        Some((bad, am_gpu.len(), "dequantized absmax")),
    );
    let bytes = dq.bytes(cpu.packed.len());
    d.compressed_bytes = Some(bytes);
    d.fp16_bytes = Some(fp16);
    d.time_ms = Some(tk2 * 1e3);
    d.throughput = Some(metrics::gbs(bytes, tk2, env.bandwidth));
    d.evidence.push("time includes dequantizing the absmax on the GPU; the second-level quantization of the absmax ran on the CPU".into());
    Ok((c, d))
}

fn gpu_int8(
    g: &Gpu,
    t: &LayerTensor,
    x: &[f32],
    reference: &[f32],
    env: &Env,
) -> Result<SmokeCheck, String> {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    if cols % 16 != 0 {
        return Ok(SmokeCheck::skipped(
            "int8-llm",
            "cuda",
            &layer_name(t),
            t.proj.shape(),
            &format!("skipped: the GPU int8 kernel needs the input dimension to be a multiple of 16, not {cols}"),
        ));
    }
    let fq = g.func("int8.cu", "int8_quantize_rows")?;
    let fg = g.func("int8.cu", "int8_gemv")?;
    // outlier columns of the activations (a host-side scan of one row)
    let cpu_x = int8::quantize(x, 1, cols, THRESHOLD);
    let mut mask = vec![0u8; cols];
    for &c in &cpu_x.outlier_cols {
        mask[c] = 1;
    }
    let zero_mask = g.zeros::<u8>(cols)?;
    let mask_d = g.up(&mask)?;
    let w_d = g.up(&t.w)?;
    let x_d = g.up(x)?;
    let mut wq_d = g.zeros::<i8>(rows * cols)?;
    let mut sw_d = g.zeros::<f32>(rows)?;
    let mut xq_d = g.zeros::<i8>(cols)?;
    let mut sx_d = g.zeros::<f32>(1)?;
    let (r_i, c_i, one) = (rows as i32, cols as i32, 1i32);
    let zero_t = 0.0f32;
    let tq = g.time(1, || {
        let mut b = g.stream.launch_builder(&fq);
        b.arg(&w_d)
            .arg(&r_i)
            .arg(&c_i)
            .arg(&zero_t)
            .arg(&zero_mask)
            .arg(&mut wq_d)
            .arg(&mut sw_d);
        // SAFETY: arguments match int8_quantize_rows (f32*, int, int, float, u8*, i8*, f32*);
        // w and wq hold rows*cols, the mask cols, sw rows; one 256-thread block per row.
        unsafe {
            b.launch(LaunchConfig {
                grid_dim: (rows as u32, 1, 1),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            })
        }
        .map(|_| ())
        .map_err(derr)
    })?;
    drop(w_d);
    let cols_i: Vec<i32> = cpu_x.outlier_cols.iter().map(|&c| c as i32).collect();
    let oc_d = g.up(if cols_i.is_empty() {
        &[0i32][..]
    } else {
        &cols_i
    })?;
    let n_out = cols_i.len() as i32;
    let mut y_d = g.zeros::<f32>(rows)?;
    let th = THRESHOLD;
    let tk = g.time(env.reps, || {
        {
            let mut b = g.stream.launch_builder(&fq);
            b.arg(&x_d)
                .arg(&one)
                .arg(&c_i)
                .arg(&th)
                .arg(&mask_d)
                .arg(&mut xq_d)
                .arg(&mut sx_d);
            // SAFETY: as above for one activation row of cols elements.
            unsafe {
                b.launch(LaunchConfig {
                    grid_dim: (1, 1, 1),
                    block_dim: (256, 1, 1),
                    shared_mem_bytes: 0,
                })
            }
            .map_err(derr)?;
        }
        let mut b = g.stream.launch_builder(&fg);
        b.arg(&wq_d)
            .arg(&sw_d)
            .arg(&xq_d)
            .arg(&sx_d)
            .arg(&x_d)
            .arg(&oc_d)
            .arg(&n_out)
            .arg(&mut y_d)
            .arg(&r_i)
            .arg(&c_i)
            .arg(&one);
        // SAFETY: arguments match int8_gemv (i8*, f32*, i8*, f32*, f32*, int*, int, f32*, int,
        // int, int); cols % 16 == 0 (checked) keeps the 16-byte loads aligned and in bounds;
        // the outlier indices are < cols; one warp per row.
        unsafe { b.launch(cfg_rows(rows)) }
            .map(|_| ())
            .map_err(derr)
    })?;
    let y = g.down(&y_d)?;
    let wq = g.down(&wq_d)?;
    let sw = g.down(&sw_d)?;
    let xq = g.down(&xq_d)?;
    let cpu_w = int8::quantize(&t.w, rows, cols, 0.0);
    let bad = wq.iter().zip(&cpu_w.values).filter(|(a, b)| a != b).count()
        + sw.iter()
            .zip(&cpu_w.row_absmax)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count()
        + xq.iter().zip(&cpu_x.values).filter(|(a, b)| a != b).count();
    // format reference, as on the CPU
    let mut wd = int8::dequantize(&cpu_w);
    let mut xd = int8::dequantize(&cpu_x);
    for &col in &cpu_x.outlier_cols {
        xd[col] = half::f16::from_f32(x[col]).to_f32();
        for r in 0..rows {
            wd[r * cols + col] = half::f16::from_f32(wd[r * cols + col]).to_f32();
        }
    }
    let fmt = gemm::matmul_f32(&xd, 1, &wd, rows, cols)?;
    drop(wd);
    let mut c = check("int8-llm", t, 1);
    judge(
        &mut c,
        max_rel_error(&y, reference),
        Bounds::INT8,
        Some(max_rel_error(&y, &fmt)),
        Some((
            bad,
            wq.len() + sw.len() + xq.len(),
            "int8 values and row absmax",
        )),
    );
    let bytes = cpu_w.bytes() + 8 * cols_i.len() as u64;
    c.compressed_bytes = Some(bytes);
    c.fp16_bytes = Some(2 * (rows * cols) as u64);
    c.time_ms = Some(tk * 1e3);
    c.throughput = Some(metrics::gbs(cpu_w.bytes(), tk, env.bandwidth));
    c.evidence.push(format!(
        "{} outlier column(s) in fp16; time includes quantizing the activations; weight quantization {:.2} ms",
        cols_i.len(),
        tq * 1e3
    ));
    Ok(c)
}

fn gpu_lora(
    g: &Gpu,
    t: &LayerTensor,
    x: &[f32],
    base_ref: &[f32],
    env: &Env,
) -> Result<SmokeCheck, String> {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let fgemv = g.func("lora.cu", "gemv_f32")?;
    let fadd = g.func("lora.cu", "add_scaled")?;
    let fmerge = g.func("lora.cu", "lora_merge")?;
    let l = lora::Lora::seeded(rows, cols, env.lora_rank, env.lora_alpha, env.seed);
    let s = l.scale();
    let w_d = g.up(&t.w)?;
    let a_d = g.up(&l.a)?;
    let b_d = g.up(&l.b)?;
    let x_d = g.up(x)?;
    let mut base_d = g.zeros::<f32>(rows)?;
    let mut ax_d = g.zeros::<f32>(l.r)?;
    let mut bax_d = g.zeros::<f32>(rows)?;
    let mut y_d = g.zeros::<f32>(rows)?;
    let (r_i, c_i, rank_i, one) = (rows as i32, cols as i32, l.r as i32, 1i32);
    let n_i64 = rows as i64;
    let gemv = |w: &CudaSlice<f32>,
                xs: &CudaSlice<f32>,
                y: &mut CudaSlice<f32>,
                rr: &i32,
                cc: &i32|
     -> Result<(), String> {
        let mut b = g.stream.launch_builder(&fgemv);
        b.arg(w).arg(xs).arg(y).arg(rr).arg(cc).arg(&one);
        // SAFETY: arguments match gemv_f32 (f32*, f32*, f32*, int, int, int); w holds rr*cc,
        // x cc and y rr elements (batch 1); one warp per row.
        unsafe { b.launch(cfg_rows(*rr as usize)) }
            .map(|_| ())
            .map_err(derr)
    };
    let tk = g.time(env.reps, || {
        gemv(&w_d, &x_d, &mut base_d, &r_i, &c_i)?;
        gemv(&a_d, &x_d, &mut ax_d, &rank_i, &c_i)?;
        gemv(&b_d, &ax_d, &mut bax_d, &r_i, &rank_i)?;
        let mut b = g.stream.launch_builder(&fadd);
        b.arg(&base_d).arg(&bax_d).arg(&s).arg(&n_i64).arg(&mut y_d);
        // SAFETY: arguments match add_scaled (f32*, f32*, float, i64, f32*), all `rows` long.
        unsafe { b.launch(cfg1d(rows, 256)) }
            .map(|_| ())
            .map_err(derr)
    })?;
    let y = g.down(&y_d)?;
    let mut merged_d = g.zeros::<f32>(rows * cols)?;
    let t1 = Instant::now();
    {
        let mut b = g.stream.launch_builder(&fmerge);
        b.arg(&w_d)
            .arg(&a_d)
            .arg(&b_d)
            .arg(&r_i)
            .arg(&c_i)
            .arg(&rank_i)
            .arg(&s)
            .arg(&mut merged_d);
        // SAFETY: arguments match lora_merge (f32*, f32*, f32*, int, int, int, float, f32*);
        // w and merged hold rows*cols, a r*cols, b rows*r; one thread per element, bound-checked.
        unsafe { b.launch(cfg1d(rows * cols, 256)) }.map_err(derr)?;
    }
    g.sync()?;
    let tm = t1.elapsed().as_secs_f64();
    let mut ym_d = g.zeros::<f32>(rows)?;
    gemv(&merged_d, &x_d, &mut ym_d, &r_i, &c_i)?;
    let ym = g.down(&ym_d)?;
    let reference = gemm::matmul_f32(x, 1, &l.a, l.r, cols)
        .and_then(|ax| gemm::matmul_f32(&ax, 1, &l.b, rows, l.r))
        .map(|bax| {
            base_ref
                .iter()
                .zip(&bax)
                .map(|(b, d)| b + s * d)
                .collect::<Vec<f32>>()
        })?;
    let mut c = check("lora", t, 1);
    c.shape = format!("{} · r {} · alpha {}", c.shape, l.r, l.alpha);
    let me = max_rel_error(&ym, &reference);
    judge(
        &mut c,
        max_rel_error(&y, &reference),
        Bounds::LORA,
        None,
        None,
    );
    c.evidence.push(format!(
        "merged weight's output vs reference: {me:.2e} (bound {:.0e}); merge {:.2} ms",
        Bounds::LORA,
        tm * 1e3
    ));
    if me.is_nan() || me > Bounds::LORA {
        c = c.fail(format!(
            "the merged weight's output differs from the reference by {me:.3e}"
        ));
    }
    c.compressed_bytes = Some(l.bytes16());
    c.fp16_bytes = Some(2 * (rows * cols) as u64);
    c.time_ms = Some(tk * 1e3);
    c.throughput = Some(metrics::gbs(
        4 * (rows * cols + l.a.len() + l.b.len()) as u64,
        tk,
        env.bandwidth,
    ));
    Ok(c)
}

fn gpu_sparse(g: &Gpu, t: &LayerTensor, x: &[f32], env: &Env) -> Result<SmokeCheck, String> {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let cpu = match sparse::prune(&t.w, rows, cols) {
        Ok(s) => s,
        Err(e) => {
            return Ok(SmokeCheck::skipped(
                "sparse-2-4",
                "cuda",
                &layer_name(t),
                t.proj.shape(),
                &format!("skipped: {e}"),
            ))
        }
    };
    let fp = g.func("sparse24.cu", "sparse24_prune")?;
    let fg = g.func("sparse24.cu", "sparse24_gemv")?;
    let groups = rows * cols / 4;
    let w_d = g.up(&t.w)?;
    let mut v_d = g.zeros::<f32>(rows * cols / 2)?;
    let mut p_d = g.zeros::<u8>(groups)?;
    let g_i64 = groups as i64;
    let tp = g.time(1, || {
        let mut b = g.stream.launch_builder(&fp);
        b.arg(&w_d).arg(&g_i64).arg(&mut v_d).arg(&mut p_d);
        // SAFETY: arguments match sparse24_prune (f32*, i64, f32*, u8*); w holds 4*groups,
        // values 2*groups, pos groups; one thread per group, bound-checked.
        unsafe { b.launch(cfg1d(groups, 256)) }
            .map(|_| ())
            .map_err(derr)
    })?;
    drop(w_d);
    let vals = g.down(&v_d)?;
    let pos = g.down(&p_d)?;
    let mut bad = vals
        .iter()
        .zip(&cpu.values)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    for r in 0..rows {
        for gi in 0..cols / 4 {
            let (a, b) = cpu.positions(r, gi);
            let p = pos[r * cols / 4 + gi];
            if (p & 3) as usize != a || (p >> 2) as usize != b {
                bad += 1;
            }
        }
    }
    let x_d = g.up(x)?;
    let mut y_d = g.zeros::<f32>(rows)?;
    let (r_i, c_i, one) = (rows as i32, cols as i32, 1i32);
    let tk = g.time(env.reps, || {
        let mut b = g.stream.launch_builder(&fg);
        b.arg(&v_d)
            .arg(&p_d)
            .arg(&x_d)
            .arg(&mut y_d)
            .arg(&r_i)
            .arg(&c_i)
            .arg(&one);
        // SAFETY: arguments match sparse24_gemv (f32*, u8*, f32*, f32*, int, int, int); values
        // hold rows*cols/2, pos rows*cols/4, x cols, y rows; positions are < 4; one warp a row.
        unsafe { b.launch(cfg_rows(rows)) }
            .map(|_| ())
            .map_err(derr)
    })?;
    let y = g.down(&y_d)?;
    let dense = cpu.densify();
    let reference = gemm::matmul_f32(x, 1, &dense, rows, cols)?;
    drop(dense);
    let mut c = check("sparse-2-4", t, 1);
    judge(
        &mut c,
        max_rel_error(&y, &reference),
        Bounds::SPARSE,
        None,
        Some((bad, vals.len() + pos.len(), "kept values and positions")),
    );
    c.compressed_bytes = Some(cpu.bytes16());
    c.fp16_bytes = Some(2 * (rows * cols) as u64);
    c.time_ms = Some(tk * 1e3);
    c.throughput = Some(metrics::gbs(
        4 * vals.len() as u64 + pos.len() as u64,
        tk,
        env.bandwidth,
    ));
    c.evidence.push(format!(
        "prune on the GPU: {:.2} ms; our own sparse kernel (not cuSPARSELt's tensor-core path)",
        tp * 1e3
    ));
    Ok(c)
}

fn gpu_gemm(
    g: &Gpu,
    t: &LayerTensor,
    x: &[f32],
    batch: usize,
    reference: &[f32],
    env: &Env,
    h: Half,
) -> Result<SmokeCheck, String> {
    use cudarc::cublas::sys::{
        cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType_t,
    };
    use cudarc::driver::{DevicePtr, DevicePtrMut};
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let id = super::checks::gemm_id(h);
    let mut c = SmokeCheck::new(
        id,
        "cuda",
        &layer_name(t),
        format!("{} · batch {batch}", t.proj.shape()),
    );
    c.compressed_bytes = Some(2 * (rows * cols) as u64);
    c.fp16_bytes = Some(2 * (rows * cols) as u64);
    if h == Half::BF16 && g.cc.0 < 8 {
        return Ok(c.fail(format!(
            "bf16 needs compute capability 8.0 or newer for native support; this GPU is sm_{}{}. Not emulated: use the seed's mitigation, fp16 with automatic loss scaling (torch.float16 + GradScaler)",
            g.cc.0, g.cc.1
        )));
    }
    let blas = match &g.blas {
        Ok(b) => b,
        Err(e) if e.starts_with("skipped") => {
            let mut s = SmokeCheck::skipped(id, "cuda", &layer_name(t), c.shape.clone(), e);
            s.compressed_bytes = c.compressed_bytes;
            s.fp16_bytes = c.fp16_bytes;
            return Ok(s);
        }
        Err(e) => return Ok(c.fail(e.clone())),
    };
    let to16 = |v: &[f32]| -> Vec<u16> {
        match h {
            Half::F16 => v
                .iter()
                .map(|f| half::f16::from_f32(*f).to_bits())
                .collect(),
            Half::BF16 => v
                .iter()
                .map(|f| half::bf16::from_f32(*f).to_bits())
                .collect(),
        }
    };
    let dt = match h {
        Half::F16 => cudaDataType_t::CUDA_R_16F,
        Half::BF16 => cudaDataType_t::CUDA_R_16BF,
    };
    let w_d = g.up(&to16(&t.w))?;
    let x_d = g.up(&to16(x))?;
    let mut y_d = g.zeros::<u16>(rows * batch)?;
    let alpha = 1.0f32;
    let beta = 0.0f32;
    let tk = g.time(env.reps, || {
        let (wp, _gw) = w_d.device_ptr(&g.stream);
        let (xp, _gx) = x_d.device_ptr(&g.stream);
        let (yp, _gy) = y_d.device_ptr_mut(&g.stream);
        // SAFETY: column-major view: C (rows x batch, ld rows) = W^T' ... i.e. W is [rows, cols]
        // row-major = a cols x rows column-major matrix (ld cols), used transposed; x is
        // [batch, cols] row-major = cols x batch column-major (ld cols); y is [batch, rows]
        // row-major = rows x batch column-major (ld rows). All three buffers hold exactly those
        // sizes in 16-bit; alpha/beta are f32 as CUBLAS_COMPUTE_32F requires.
        unsafe {
            cudarc::cublas::result::gemm_ex(
                *blas.handle(),
                cublasOperation_t::CUBLAS_OP_T,
                cublasOperation_t::CUBLAS_OP_N,
                rows as c_int,
                batch as c_int,
                cols as c_int,
                (&alpha) as *const f32 as *const _,
                wp as *const _,
                dt,
                cols as c_int,
                xp as *const _,
                dt,
                cols as c_int,
                (&beta) as *const f32 as *const _,
                yp as *mut _,
                dt,
                rows as c_int,
                cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| format!("cublasGemmEx: {e:?}"))
    })?;
    let y16 = g.down(&y_d)?;
    let y: Vec<f32> = match h {
        Half::F16 => y16
            .iter()
            .map(|b| half::f16::from_bits(*b).to_f32())
            .collect(),
        Half::BF16 => y16
            .iter()
            .map(|b| half::bf16::from_bits(*b).to_f32())
            .collect(),
    };
    let bound = match h {
        Half::F16 => Bounds::FP16,
        Half::BF16 => Bounds::BF16,
    };
    judge(&mut c, max_rel_error(&y, reference), bound, None, None);
    c.time_ms = Some(tk * 1e3);
    c.throughput = Some(metrics::flops(2.0 * (batch * rows * cols) as f64, tk));
    c.evidence.push(format!(
        "cuBLAS cublasGemmEx, {} in and out, f32 compute, on {}",
        if h == Half::F16 { "fp16" } else { "bf16" },
        format_args!("sm_{}{}", g.cc.0, g.cc.1)
    ));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel compiles with NVRTC for the architectures CI targets. Ignored by default
    /// (it needs NVRTC on the library path, so it is reported as ignored, never as passed,
    /// where there is none); `.ci/run` installs NVRTC from the nvidia-cuda-nvrtc-cu12 wheel and
    /// runs it with `--ignored` (see kernels/README.md), where a missing NVRTC is a failure.
    #[test]
    #[ignore = "needs NVRTC: .ci/run installs it and runs this with --ignored"]
    fn kernels_compile_with_nvrtc() {
        assert!(
            nvrtc_present(),
            "NVRTC not found (libnvrtc.so / .so.12 on LD_LIBRARY_PATH)"
        );
        for arch in ["sm_75", "sm_80", "sm_86", "sm_89", "sm_90"] {
            for (name, r) in compile_all(arch) {
                match r {
                    Ok(size) => assert!(size > 0, "{name} {arch}"),
                    Err(e) => panic!("{name} does not compile for {arch}:\n{e}"),
                }
            }
        }
    }

    #[test]
    #[ignore = "needs NVRTC: .ci/run installs it and runs this with --ignored"]
    fn a_compile_error_carries_the_log() {
        assert!(
            nvrtc_present(),
            "NVRTC not found (libnvrtc.so / .so.12 on LD_LIBRARY_PATH)"
        );
        let e = compile(
            "bad.cu",
            "extern \"C\" __global__ void k() { undeclared_thing(); }",
            "sm_80",
        )
        .expect_err("does not compile");
        assert!(e.contains("undeclared_thing"), "{e}");
    }

    #[test]
    fn fitting_cuts_rows_to_free_memory() {
        let p = model::ModelConfig::mistral_7b_v01().projections(0)[6].clone();
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
