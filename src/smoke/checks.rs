//! The CPU checks: quantize, multiply, compare with the f32 reference, time, count bytes.
//!
//! Every quantized check compares twice, and both must pass:
//! 1. **kernel vs format reference** — our fast kernel against candle's f32 matmul of the *same*
//!    quantized weights dequantized the plain way (for int8 also the activations). Both compute
//!    the same sums in a different order, so they agree to float rounding: [`Bounds::KERNEL`].
//!    Any kernel bug (nibble order, wrong block's absmax, a dropped outlier column, swapped 2:4
//!    positions) misses this by orders of magnitude;
//! 2. **result vs the f32 reference** — the unquantized matmul, under the format's own error
//!    bound ([`Bounds`]), which catches a quantizer that is self-consistent but wrong (the golden
//!    tests catch it bit for bit; this catches it on the run's real weights).
//!
//! The bounds were set from the error each format makes on Mistral-shaped layers (synthetic and
//! real weights behave alike: the error is set by the format, not by the values) with margin, and
//! the tests below show deliberately broken kernels missing each by a wide factor.

use std::time::Instant;

use super::gemm::{self, Half};
use super::int8::{self, Int8};
use super::lora::{self, Lora};
use super::metrics::{self, max_rel_error};
use super::model::{self, LayerTensor};
use super::nf4::{self, Absmax, DoubleQuant, Nf4};
use super::sparse::{self, Sparse24};
use super::{dump, Level, SmokeCheck, SmokeError, SmokeOptions};
use crate::model::Verdict;

/// The error bounds (`max |y - ref| / max |ref|`), and why each is what it is.
pub struct Bounds;

impl Bounds {
    /// A kernel against the plain dequantize-then-multiply of the same quantized values: only
    /// f32 summation order differs (measured ≤ 1e-6 at Mistral sizes). Any indexing, packing or
    /// scale bug is off by 10% or more.
    pub const KERNEL: f64 = 1e-4;
    /// LLM.int8 against f32: 8-bit row-wise rounding of weights and activations. Measured
    /// 0.006-0.015 on Mistral-shaped layers (synthetic weights, 4 seeds). Without the outlier
    /// decomposition the activations' scale is set by the outlier features (20-60 instead of
    /// ~4): measured 0.056-0.116, so this bound sits between with a factor ~2 each way.
    pub const INT8: f64 = 0.03;
    /// NF4 against f32: 16 levels per block of 64 (steps of up to 0.3 of the block's absmax).
    /// Measured 0.07-0.13 on Mistral shapes, up to 0.16 on 256x256 test layers (the metric is a
    /// maximum, noisier with few outputs). Swapped nibbles give ~1.4, a scale off by 2x ~1.0.
    pub const NF4: f64 = 0.25;
    /// NF4 with double-quantized absmax: the absmax gets an 8-bit error (< 1%) on top; measured
    /// within 0.002 of plain NF4. Forgetting the offset (the absmax mean) gives > 1.
    pub const NF4_DQ: f64 = 0.25;
    /// LoRA forward (and the merged weight's output) against f32: the same f32 arithmetic in
    /// another order (measured ~1e-7). A wrong scale (alpha instead of alpha/r) or a wrong
    /// factor is off by ~100%.
    pub const LORA: f64 = 1e-4;
    /// The 2:4 sparse matmul against the dense f32 matmul of the masked weights (f32 rounding
    /// only); swapped positions are off by ~100%.
    pub const SPARSE: f64 = 1e-4;
    /// fp16 GEMM against f32: fp16 inputs and output (2^-11 relative rounding). Measured up to
    /// 6.7e-4 at K = 4096 and 1.6e-3 at K = 14336 on the CPU (candle's kernel accumulates
    /// K-blocks through fp16); cuBLAS with f32 compute stays under 1e-3. Operands cut to 4
    /// significant bits (an fp8-like path) give > 1e-2.
    pub const FP16: f64 = 4e-3;
    /// bf16 GEMM against f32: 8 significant bits (2^-9 relative rounding). Measured 2.9e-3 to
    /// 4.1e-3.
    pub const BF16: f64 = 1.5e-2;
}

/// The LLM.int8 outlier threshold (bitsandbytes' default).
pub const THRESHOLD: f32 = 6.0;

/// What every check of a run shares.
pub struct Env {
    pub level: Level,
    pub reps: usize,
    pub seed: u64,
    pub lora_rank: usize,
    pub lora_alpha: f32,
    /// The measured memory read bandwidth, GB/s.
    pub bandwidth: Option<f64>,
}

/// Progress bars on stderr (only with `--progress`).
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new(opts: &SmokeOptions, tensors: &[LayerTensor]) -> Self {
        if !opts.progress {
            return Progress(None);
        }
        let per_device = (tensors.len() * 7 + 1) as u64;
        let devices = match opts.device {
            super::DeviceChoice::Auto => 2,
            _ => 1,
        };
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(per_device * devices),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "smoke [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        ) {
            pb.set_style(style);
        }
        Progress(Some(pb))
    }

    pub fn none() -> Self {
        Progress(None)
    }

    pub fn step(&self, msg: &str) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg.to_string());
            pb.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

/// Everything a check produced that `--dump` writes.
#[derive(Default)]
pub struct Artifacts {
    pub x: Vec<f32>,
    pub batch: usize,
    pub int8_w: Option<Int8>,
    pub int8_x: Option<Int8>,
    pub nf4: Option<Nf4>,
    pub nf4_dq: Option<DoubleQuant>,
    pub lora: Option<Lora>,
    pub sparse: Option<Sparse24>,
}

/// Runs every CPU check on every tensor, and the whole-layer round trip.
pub fn run_cpu(
    opts: &SmokeOptions,
    tensors: &[LayerTensor],
    progress: &Progress,
) -> Result<Vec<SmokeCheck>, SmokeError> {
    // Big enough to defeat the caches for Mistral layers, no bigger than the work itself.
    let cap = match opts.level {
        Level::Quick => 256,
        Level::Full => 512,
    };
    let layer_mib = tensors.iter().map(|t| 4 * t.proj.params()).sum::<usize>() >> 20;
    let mib = (2 * layer_mib).clamp(16, cap);
    let env = Env {
        level: opts.level,
        reps: opts.level.reps(),
        seed: opts.seed,
        lora_rank: opts.lora_rank,
        lora_alpha: opts.lora_alpha,
        bandwidth: Some(metrics::cpu_read_bandwidth(mib)),
    };
    let mut out = Vec::new();
    for t in tensors {
        let (checks, arts) = projection(t, &env, opts.dump.is_some(), progress);
        out.extend(checks);
        if let (Some(dir), Some(a)) = (&opts.dump, arts) {
            dump::write_projection(dir, t, &a)?;
        }
    }
    out.push(roundtrip(tensors, &env));
    progress.step("safetensors round trip");
    Ok(out)
}

fn layer_name(t: &LayerTensor) -> String {
    t.proj.name.trim_end_matches(".weight").to_string()
}

fn shape(t: &LayerTensor, batch: usize) -> String {
    format!("{} · batch {batch}", t.proj.shape())
}

/// The checks of one projection.
pub fn projection(
    t: &LayerTensor,
    env: &Env,
    keep: bool,
    progress: &Progress,
) -> (Vec<SmokeCheck>, Option<Artifacts>) {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let (b1, bg) = env.level.batches();
    let (x1, _) = model::activations(env.seed, b1, cols);
    let mut arts = Artifacts {
        x: x1.clone(),
        batch: b1,
        ..Default::default()
    };
    let mut out = Vec::new();
    let reference = match gemm::matmul_f32(&x1, b1, &t.w, rows, cols) {
        Ok(r) => r,
        Err(e) => {
            for id in crate::model::SmokeCheckId::KERNELS {
                out.push(
                    SmokeCheck::new(id.as_str(), "cpu", &layer_name(t), shape(t, b1))
                        .fail(format!("the f32 reference matmul failed: {e}")),
                );
            }
            return (out, None);
        }
    };
    let (c, wq, xq) = int8_check(t, &x1, b1, &reference, env, &int8::matmul);
    out.push(c);
    progress.step(&format!("int8-llm {}", t.proj.short));
    let (c, cdq, q, dq) = nf4_checks(t, &x1, b1, &reference, env, &nf4::matmul);
    out.push(c);
    out.push(cdq);
    progress.step(&format!("nf4 {}", t.proj.short));
    progress.step(&format!("nf4-dq {}", t.proj.short));
    let (c, l) = lora_check(t, &x1, b1, &reference, env, &lora::forward, &lora::merge);
    out.push(c);
    progress.step(&format!("lora {}", t.proj.short));
    let (c, s) = sparse_check(t, &x1, b1, &reference, env, &sparse::matmul);
    out.push(c);
    progress.step(&format!("sparse-2-4 {}", t.proj.short));
    let (xg, _) = model::activations(env.seed ^ 0x6E, bg, cols);
    match gemm::matmul_f32(&xg, bg, &t.w, rows, cols) {
        Ok(refg) => {
            for h in [Half::F16, Half::BF16] {
                out.push(gemm_check(t, &xg, bg, &refg, env, h, &gemm::matmul_half));
                progress.step(&format!("{} {}", gemm_id(h), t.proj.short));
            }
        }
        Err(e) => {
            for h in [Half::F16, Half::BF16] {
                out.push(
                    SmokeCheck::new(gemm_id(h), "cpu", &layer_name(t), shape(t, bg))
                        .fail(format!("the f32 reference matmul failed: {e}")),
                );
            }
        }
    }
    if !keep {
        return (out, None);
    }
    arts.int8_w = Some(wq);
    arts.int8_x = Some(xq);
    arts.nf4 = Some(q);
    arts.nf4_dq = Some(dq);
    arts.lora = Some(l);
    arts.sparse = s;
    (out, Some(arts))
}

pub fn gemm_id(h: Half) -> &'static str {
    match h {
        Half::F16 => "gemm-fp16",
        Half::BF16 => "gemm-bf16",
    }
}

/// Sets the verdict from the two comparisons.
fn judge(c: &mut SmokeCheck, err: f64, bound: f64, kernel: Option<(f64, f64, &str)>) {
    c.max_rel_error = Some(err);
    c.bound = Some(bound);
    let mut why = Vec::new();
    if let Some((ke, kb, what)) = kernel {
        c.evidence.push(format!(
            "kernel vs {what}: max rel. error {ke:.2e} (bound {kb:.0e})"
        ));
        if ke.is_nan() || ke > kb {
            why.push(format!(
                "the kernel disagrees with {what}: {ke:.3e} > {kb:.0e}"
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

fn bytes_f32(n: usize) -> u64 {
    4 * n as u64
}

/// The LLM.int8 kernel signature (weights, activations, batch, threshold).
pub type Int8Kernel = dyn Fn(&Int8, &[f32], usize, f32) -> (Vec<f32>, Int8) + Sync;

/// LLM.int8: weight row-wise int8 (threshold 0), activations with threshold 6.0, int8 matmul
/// with the outlier columns in fp16.
pub fn int8_check(
    t: &LayerTensor,
    x: &[f32],
    batch: usize,
    reference: &[f32],
    env: &Env,
    kernel: &Int8Kernel,
) -> (SmokeCheck, Int8, Int8) {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let mut c = SmokeCheck::new("int8-llm", "cpu", &layer_name(t), shape(t, batch));
    let t0 = Instant::now();
    let wq = int8::quantize(&t.w, rows, cols, 0.0);
    let tq = t0.elapsed().as_secs_f64();
    let ((y, xq), tk) = metrics::timed(env.reps, || kernel(&wq, x, batch, THRESHOLD));
    // The format reference: dequantized weights and activations, the outlier columns restored
    // in fp16 with the weight's dequantized columns, multiplied by candle in f32.
    let mut wd = int8::dequantize(&wq);
    let mut xd = int8::dequantize(&xq);
    let outliers = xq.outlier_cols.clone();
    for &col in &outliers {
        for b in 0..batch {
            xd[b * cols + col] = half::f16::from_f32(x[b * cols + col]).to_f32();
        }
        for r in 0..rows {
            wd[r * cols + col] = half::f16::from_f32(wd[r * cols + col]).to_f32();
        }
    }
    let fmt = gemm::matmul_f32(&xd, batch, &wd, rows, cols);
    drop(wd);
    let ke = match &fmt {
        Ok(f) => max_rel_error(&y, f),
        Err(_) => f64::NAN,
    };
    let err = max_rel_error(&y, reference);
    judge(
        &mut c,
        err,
        Bounds::INT8,
        Some((ke, Bounds::KERNEL, "dequantize-then-matmul (candle f32)")),
    );
    if let Err(e) = fmt {
        c = c.fail(format!("the format reference failed: {e}"));
    }
    c.compressed_bytes = Some(wq.bytes() + 8 * outliers.len() as u64);
    c.fp16_bytes = Some(2 * t.proj.params() as u64);
    c.time_ms = Some(tk * 1e3);
    c.throughput = Some(metrics::gbs(wq.bytes(), tk, env.bandwidth));
    c.evidence.push(format!(
        "outlier input features (|x| >= {THRESHOLD}): {} column(s) {:?}, multiplied in fp16",
        outliers.len(),
        &outliers[..outliers.len().min(8)]
    ));
    c.evidence.push(format!(
        "quantize weights: {:.1} ms ({})",
        tq * 1e3,
        metrics::gbs(bytes_f32(t.proj.params()), tq, None)
    ));
    c.evidence.push(format!(
        "bytes: int8 values {} + f32 row absmax {} + i64 outlier columns {}",
        wq.values.len(),
        4 * wq.row_absmax.len(),
        8 * outliers.len()
    ));
    (c, wq, xq)
}

/// The NF4 matmul kernel signature.
pub type Nf4Kernel = dyn Fn(&Nf4, &Absmax<'_>, usize, usize, &[f32], usize) -> Vec<f32> + Sync;

/// NF4 (blocks of 64) with f32 absmax, and with double-quantized absmax.
pub fn nf4_checks(
    t: &LayerTensor,
    x: &[f32],
    batch: usize,
    reference: &[f32],
    env: &Env,
    kernel: &Nf4Kernel,
) -> (SmokeCheck, SmokeCheck, Nf4, DoubleQuant) {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let t0 = Instant::now();
    let q = nf4::quantize(&t.w);
    let tq = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let dq = nf4::double_quantize(&q.absmax);
    let tdq = t1.elapsed().as_secs_f64();
    let fp16 = 2 * t.proj.params() as u64;
    let mut checks = Vec::new();
    for (id, absmax_f32, bound) in [
        ("nf4", q.absmax.clone(), Bounds::NF4),
        ("nf4-dq", dq.dequantize(), Bounds::NF4_DQ),
    ] {
        let mut c = SmokeCheck::new(id, "cpu", &layer_name(t), shape(t, batch));
        let src = if id == "nf4" {
            Absmax::F32(&q.absmax)
        } else {
            Absmax::Double(&dq)
        };
        let (y, tk) = metrics::timed(env.reps, || kernel(&q, &src, rows, cols, x, batch));
        let deq = nf4::dequantize(&q, &absmax_f32);
        let fmt = gemm::matmul_f32(x, batch, &deq, rows, cols);
        drop(deq);
        let ke = fmt
            .as_ref()
            .map(|f| max_rel_error(&y, f))
            .unwrap_or(f64::NAN);
        judge(
            &mut c,
            max_rel_error(&y, reference),
            bound,
            Some((ke, Bounds::KERNEL, "dequantize-then-matmul (candle f32)")),
        );
        if let Err(e) = fmt {
            c = c.fail(format!("the format reference failed: {e}"));
        }
        let bytes = if id == "nf4" {
            q.bytes()
        } else {
            dq.bytes(q.packed.len())
        };
        c.compressed_bytes = Some(bytes);
        c.fp16_bytes = Some(fp16);
        c.time_ms = Some(tk * 1e3);
        c.throughput = Some(metrics::gbs(bytes, tk, env.bandwidth));
        c.evidence.push(format!(
            "{:.3} bits per weight",
            8.0 * bytes as f64 / t.proj.params() as f64
        ));
        if id == "nf4" {
            c.evidence.push(format!(
                "quantize: {:.1} ms ({})",
                tq * 1e3,
                metrics::gbs(bytes_f32(t.proj.params()), tq, None)
            ));
        } else {
            c.evidence.push(format!(
                "double quantization of {} absmax values: {:.1} ms; offset {:.6}",
                q.absmax.len(),
                tdq * 1e3,
                dq.offset
            ));
        }
        checks.push(c);
    }
    let cdq = checks
        .pop()
        .unwrap_or_else(|| SmokeCheck::new("nf4-dq", "cpu", "", String::new()));
    let c = checks
        .pop()
        .unwrap_or_else(|| SmokeCheck::new("nf4", "cpu", "", String::new()));
    (c, cdq, q, dq)
}

/// The LoRA forward and merge signatures.
pub type LoraForward = dyn Fn(&[f32], usize, usize, &Lora, &[f32], usize) -> Vec<f32> + Sync;
pub type LoraMerge = dyn Fn(&[f32], usize, usize, &Lora) -> Vec<f32> + Sync;

/// LoRA: forward against the f32 reference `W x + s B (A x)` (candle), and the merged weight's
/// output against the same.
pub fn lora_check(
    t: &LayerTensor,
    x: &[f32],
    batch: usize,
    base_ref: &[f32],
    env: &Env,
    forward: &LoraForward,
    merge: &LoraMerge,
) -> (SmokeCheck, Lora) {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let mut c = SmokeCheck::new("lora", "cpu", &layer_name(t), shape(t, batch));
    c.shape = format!(
        "{} · r {} · alpha {}",
        c.shape, env.lora_rank, env.lora_alpha
    );
    let l = Lora::seeded(rows, cols, env.lora_rank, env.lora_alpha, env.seed);
    let (y, tk) = metrics::timed(env.reps, || forward(&t.w, rows, cols, &l, x, batch));
    // reference: W x (already computed) + s * ((x A^T) B^T), candle f32
    let reference = gemm::matmul_f32(x, batch, &l.a, l.r, cols)
        .and_then(|ax| gemm::matmul_f32(&ax, batch, &l.b, rows, l.r))
        .map(|bax| {
            base_ref
                .iter()
                .zip(&bax)
                .map(|(b, d)| b + l.scale() * d)
                .collect::<Vec<f32>>()
        });
    let reference = match reference {
        Ok(r) => r,
        Err(e) => return (c.fail(format!("the f32 reference failed: {e}")), l),
    };
    let t1 = Instant::now();
    let merged = merge(&t.w, rows, cols, &l);
    let tm = t1.elapsed().as_secs_f64();
    let ym = gemm::matmul_f32(x, batch, &merged, rows, cols);
    drop(merged);
    let me = ym
        .as_ref()
        .map(|m| max_rel_error(m, &reference))
        .unwrap_or(f64::NAN);
    let err = max_rel_error(&y, &reference);
    judge(
        &mut c,
        err,
        Bounds::LORA,
        Some((me, Bounds::LORA, "the merged weight's output")),
    );
    let delta = max_rel_error(base_ref, &reference);
    c.evidence.push(format!(
        "the adapter changes the output by {:.0}% of its scale (B random, not peft's zero init)",
        100.0 * delta
    ));
    c.evidence
        .push(format!("merge W + (alpha/r) B A: {:.1} ms", tm * 1e3));
    c.compressed_bytes = Some(l.bytes16());
    c.fp16_bytes = Some(2 * t.proj.params() as u64);
    c.time_ms = Some(tk * 1e3);
    let read = bytes_f32(t.proj.params() + l.a.len() + l.b.len());
    c.throughput = Some(metrics::gbs(read, tk, env.bandwidth));
    (c, l)
}

/// The 2:4 sparse matmul signature.
pub type SparseKernel = dyn Fn(&Sparse24, &[f32], usize) -> Vec<f32> + Sync;

/// 2:4 by magnitude: the mask's structure, then the sparse matmul against the dense f32 matmul
/// of the masked weights.
pub fn sparse_check(
    t: &LayerTensor,
    x: &[f32],
    batch: usize,
    full_ref: &[f32],
    env: &Env,
    kernel: &SparseKernel,
) -> (SmokeCheck, Option<Sparse24>) {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let mut c = SmokeCheck::new("sparse-2-4", "cpu", &layer_name(t), shape(t, batch));
    let t0 = Instant::now();
    let s = match sparse::prune(&t.w, rows, cols) {
        Ok(s) => s,
        Err(e) => return (c.fail(e), None),
    };
    let tp = t0.elapsed().as_secs_f64();
    if let Err(e) = sparse::verify_mask(&t.w, &s) {
        return (
            c.fail(format!("the mask is not 2:4 by magnitude: {e}")),
            Some(s),
        );
    }
    c.evidence.push(format!(
        "mask: exactly 2 of every 4, the kept magnitudes the largest ({} groups); prune {:.1} ms",
        rows * cols / 4,
        tp * 1e3
    ));
    let (y, tk) = metrics::timed(env.reps, || kernel(&s, x, batch));
    let dense = s.densify();
    let reference = gemm::matmul_f32(x, batch, &dense, rows, cols);
    drop(dense);
    match reference {
        Ok(r) => {
            judge(&mut c, max_rel_error(&y, &r), Bounds::SPARSE, None);
            c.evidence.push(format!(
                "pruning itself moves the output by {:.0}% of its scale (not bounded: that is the model's accuracy question)",
                100.0 * max_rel_error(&r, full_ref)
            ));
        }
        Err(e) => return (c.fail(format!("the f32 reference failed: {e}")), Some(s)),
    }
    c.compressed_bytes = Some(s.bytes16());
    c.fp16_bytes = Some(2 * t.proj.params() as u64);
    c.time_ms = Some(tk * 1e3);
    c.throughput = Some(metrics::gbs(
        bytes_f32(s.values.len()) + s.meta.len() as u64,
        tk,
        env.bandwidth,
    ));
    c.evidence
        .push("bytes as stored for sparse tensor cores: fp16 values + 2-bit positions".into());
    (c, Some(s))
}

/// The 16-bit GEMM signature.
pub type GemmKernel = dyn Fn(&[f32], usize, &[f32], usize, usize, Half, usize) -> Result<gemm::HalfRun, String>
    + Sync;

/// fp16 / bf16 GEMM (candle) against f32.
pub fn gemm_check(
    t: &LayerTensor,
    x: &[f32],
    batch: usize,
    reference: &[f32],
    env: &Env,
    h: Half,
    kernel: &GemmKernel,
) -> SmokeCheck {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let mut c = SmokeCheck::new(gemm_id(h), "cpu", &layer_name(t), shape(t, batch));
    let bound = match h {
        Half::F16 => Bounds::FP16,
        Half::BF16 => Bounds::BF16,
    };
    match kernel(x, batch, &t.w, rows, cols, h, env.reps) {
        Ok(run) => {
            judge(&mut c, max_rel_error(&run.y, reference), bound, None);
            c.time_ms = Some(run.secs * 1e3);
            c.throughput = Some(metrics::flops(2.0 * (batch * rows * cols) as f64, run.secs));
            c.evidence.push(format!(
                "candle CPU matmul, {} inputs and output{}",
                if h == Half::F16 { "fp16" } else { "bf16" },
                if h == Half::BF16 {
                    " (candle widens bf16 to f32 to multiply on the CPU)"
                } else {
                    ""
                }
            ));
        }
        Err(e) => c = c.fail(e),
    }
    c.compressed_bytes = Some(2 * t.proj.params() as u64);
    c.fp16_bytes = Some(2 * t.proj.params() as u64);
    c
}

/// Writes every tensor of the layer (its own dtype and bytes) to a safetensors file, reads it
/// back memory-mapped, and compares names, dtypes, shapes and bytes.
pub fn roundtrip(tensors: &[LayerTensor], env: &Env) -> SmokeCheck {
    let layer = tensors
        .first()
        .map(|t| {
            let n = &t.proj.name;
            n.split(".self_attn")
                .next()
                .unwrap_or(n)
                .split(".mlp")
                .next()
                .unwrap_or(n)
                .to_string()
        })
        .unwrap_or_default();
    let total: u64 = tensors.iter().map(|t| t.raw.len() as u64).sum();
    let mut c = SmokeCheck::new(
        "safetensors-roundtrip",
        "cpu",
        &layer,
        format!("{} tensors, {:.1} MB", tensors.len(), total as f64 / 1e6),
    );
    let t0 = Instant::now();
    match roundtrip_inner(tensors) {
        Ok(notes) => {
            let dt = t0.elapsed().as_secs_f64();
            c.verdict = Verdict::Verified;
            c.max_rel_error = Some(0.0);
            c.bound = Some(0.0);
            c.time_ms = Some(dt * 1e3);
            c.throughput = Some(format!(
                "{} write + read",
                metrics::gbs(2 * total, dt, None)
            ));
            c.evidence = notes;
        }
        Err(e) => c = c.fail(e),
    }
    let _ = env;
    c.compressed_bytes = Some(total);
    c.fp16_bytes = Some(tensors.iter().map(|t| 2 * t.proj.params() as u64).sum());
    c
}

fn roundtrip_inner(tensors: &[LayerTensor]) -> Result<Vec<String>, String> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|t| {
            safetensors::tensor::TensorView::new(t.dtype, vec![t.proj.rows, t.proj.cols], &t.raw)
                .map(|v| (t.proj.name.clone(), v))
                .map_err(|e| format!("{}: {e}", t.proj.name))
        })
        .collect::<Result<_, _>>()?;
    let mut file = tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
    let bytes = safetensors::serialize(views, None).map_err(|e| format!("serialize: {e}"))?;
    std::io::Write::write_all(&mut file, &bytes).map_err(|e| format!("write: {e}"))?;
    std::io::Write::flush(&mut file).map_err(|e| format!("write: {e}"))?;
    drop(bytes);
    let f = std::fs::File::open(file.path()).map_err(|e| format!("reopen: {e}"))?;
    // SAFETY: the temporary file is ours alone and not modified while mapped.
    let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| format!("mmap: {e}"))?;
    let st = safetensors::SafeTensors::deserialize(&map).map_err(|e| format!("read back: {e}"))?;
    if st.len() != tensors.len() {
        return Err(format!(
            "{} tensors written, {} read back",
            tensors.len(),
            st.len()
        ));
    }
    let mut dtypes = Vec::new();
    for t in tensors {
        let v = st
            .tensor(&t.proj.name)
            .map_err(|e| format!("{}: {e}", t.proj.name))?;
        if v.dtype() != t.dtype || v.shape() != [t.proj.rows, t.proj.cols] {
            return Err(format!(
                "{}: read back as {:?} {:?}, written as {:?} [{}, {}]",
                t.proj.name,
                v.dtype(),
                v.shape(),
                t.dtype,
                t.proj.rows,
                t.proj.cols
            ));
        }
        if v.data() != t.raw.as_slice() {
            let first = v
                .data()
                .iter()
                .zip(&t.raw)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!("{}: bytes differ from offset {first}", t.proj.name));
        }
        let back = model::to_f32(v.dtype(), v.data())?;
        if back
            .iter()
            .zip(&t.w)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            return Err(format!("{}: values differ after decoding", t.proj.name));
        }
        dtypes.push(format!("{:?}", t.dtype));
    }
    dtypes.dedup();
    Ok(vec![
        format!(
            "{} tensors ({}), {} bytes: names, dtypes, shapes and every byte identical after a memory-mapped reload",
            tensors.len(),
            dtypes.join(", "),
            map.len()
        ),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::smoke::model::{ModelConfig, Projection};

    /// A small Mistral-like layer for tests (debug builds are slow).
    pub fn tiny() -> ModelConfig {
        ModelConfig::parse(
            r#"{"_name_or_path": "tiny-mistral", "hidden_size": 256, "intermediate_size": 512,
                "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000}"#,
            "tiny",
        )
        .expect("tiny config")
    }

    fn env() -> Env {
        Env {
            level: Level::Quick,
            reps: 1,
            seed: 1,
            lora_rank: 8,
            lora_alpha: 16.0,
            bandwidth: None,
        }
    }

    fn proj(short: &str) -> Projection {
        tiny()
            .projections(0)
            .into_iter()
            .find(|p| p.short == short)
            .expect("projection")
    }

    fn setup(short: &str) -> (LayerTensor, Vec<f32>, Vec<f32>) {
        let p = proj(short);
        let t = model::synthetic(&p, 9, 1);
        let (x, _) = model::activations(9, 1, p.cols);
        let r = gemm::matmul_f32(&x, 1, &t.w, p.rows, p.cols).expect("reference");
        (t, x, r)
    }

    #[test]
    fn correct_kernels_pass_every_check() {
        for short in ["q_proj", "down_proj"] {
            let (t, x, r) = setup(short);
            let (c, _, _) = int8_check(&t, &x, 1, &r, &env(), &int8::matmul);
            assert_eq!(c.verdict, Verdict::Verified, "{c:?}");
            let (a, b, _, _) = nf4_checks(&t, &x, 1, &r, &env(), &nf4::matmul);
            assert_eq!(a.verdict, Verdict::Verified, "{a:?}");
            assert_eq!(b.verdict, Verdict::Verified, "{b:?}");
            let (c, _) = lora_check(&t, &x, 1, &r, &env(), &lora::forward, &lora::merge);
            assert_eq!(c.verdict, Verdict::Verified, "{c:?}");
            let (c, _) = sparse_check(&t, &x, 1, &r, &env(), &sparse::matmul);
            assert_eq!(c.verdict, Verdict::Verified, "{c:?}");
            for h in [Half::F16, Half::BF16] {
                let c = gemm_check(&t, &x, 1, &r, &env(), h, &gemm::matmul_half);
                assert_eq!(c.verdict, Verdict::Verified, "{c:?}");
            }
        }
    }

    fn assert_fails(c: &SmokeCheck, factor: f64) {
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        let kernel_err = c
            .evidence
            .iter()
            .find(|e| e.starts_with("kernel vs"))
            .and_then(|e| e.split("error ").nth(1))
            .and_then(|e| e.split(' ').next())
            .and_then(|e| e.parse::<f64>().ok());
        let worst = c.max_rel_error.unwrap_or(0.0) / c.bound.unwrap_or(1.0);
        let kworst = kernel_err.map(|k| k / Bounds::KERNEL).unwrap_or(0.0);
        assert!(
            worst.max(kworst) >= factor,
            "a broken kernel must miss its bound by {factor}x: {c:?}"
        );
    }

    #[test]
    fn nf4_wrong_nibble_order_and_wrong_scale_fail() {
        let (t, x, r) = setup("down_proj");
        // reads the low nibble first
        let swapped = |q: &Nf4, a: &Absmax<'_>, rows: usize, cols: usize, x: &[f32], b: usize| {
            let mut s = q.clone();
            for v in s.packed.iter_mut() {
                *v = v.rotate_left(4);
            }
            nf4::matmul(&s, a, rows, cols, x, b)
        };
        let (c, d, _, _) = nf4_checks(&t, &x, 1, &r, &env(), &swapped);
        assert_fails(&c, 10.0);
        assert_fails(&d, 10.0);
        // uses the next block's absmax
        let shifted = |q: &Nf4, _a: &Absmax<'_>, rows: usize, cols: usize, x: &[f32], b: usize| {
            let mut am = q.absmax.clone();
            am.rotate_left(1);
            nf4::matmul(q, &Absmax::F32(&am), rows, cols, x, b)
        };
        let (c, _, _, _) = nf4_checks(&t, &x, 1, &r, &env(), &shifted);
        assert_fails(&c, 10.0);
        // and the f32 bound alone catches a quantizer that packs the first element in the low
        // nibble, even when its kernel agrees with it
        let q = nf4::quantize(&t.w);
        let mut bad = q.clone();
        for v in bad.packed.iter_mut() {
            *v = v.rotate_left(4);
        }
        let y = nf4::matmul(
            &bad,
            &Absmax::F32(&bad.absmax),
            t.proj.rows,
            t.proj.cols,
            &x,
            1,
        );
        assert!(
            max_rel_error(&y, &r) > 3.0 * Bounds::NF4,
            "{}",
            max_rel_error(&y, &r)
        );
        let y = nf4::matmul(&q, &Absmax::F32(&q.absmax), t.proj.rows, t.proj.cols, &x, 1);
        assert!(
            max_rel_error(&y, &r) < Bounds::NF4 / 1.5,
            "margin: {}",
            max_rel_error(&y, &r)
        );
    }

    #[test]
    fn nf4_dq_without_the_offset_fails() {
        let (t, x, r) = setup("q_proj");
        let no_offset =
            |q: &Nf4, a: &Absmax<'_>, rows: usize, cols: usize, x: &[f32], b: usize| match a {
                Absmax::Double(d) => {
                    let mut d2 = (*d).clone();
                    d2.offset = 0.0;
                    nf4::matmul(q, &Absmax::Double(&d2), rows, cols, x, b)
                }
                other => nf4::matmul(q, other, rows, cols, x, b),
            };
        let (c, d, _, _) = nf4_checks(&t, &x, 1, &r, &env(), &no_offset);
        assert_eq!(c.verdict, Verdict::Verified);
        assert_fails(&d, 10.0);
    }

    #[test]
    fn int8_without_outlier_decomposition_fails() {
        // 4096 input features, as Mistral's q_proj (its 4 outlier features), fewer rows
        let p = Projection {
            short: "q_proj",
            name: "model.layers.0.self_attn.q_proj.weight".into(),
            rows: 256,
            cols: 4096,
        };
        let t = model::synthetic(&p, 9, 1);
        let (x, _) = model::activations(9, 1, p.cols);
        let r = gemm::matmul_f32(&x, 1, &t.w, p.rows, p.cols).expect("reference");
        // quantizes the activations with the outliers inside their rows' scale
        let no_decomp = |w: &Int8, x: &[f32], b: usize, _t: f32| int8::matmul(w, x, b, 0.0);
        let (c, _, _) = int8_check(&t, &x, 1, &r, &env(), &no_decomp);
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        assert!(c.max_rel_error.unwrap_or(0.0) > Bounds::INT8 * 1.5, "{c:?}");
        // zeroes the outlier columns but never adds them back
        let dropped = |w: &Int8, x: &[f32], b: usize, th: f32| {
            let (_, xq) = int8::matmul(w, x, b, th);
            let mut x2 = x.to_vec();
            for &col in &xq.outlier_cols {
                for bb in 0..b {
                    x2[bb * w.cols + col] = 0.0;
                }
            }
            let (y, _) = int8::matmul(w, &x2, b, th);
            (y, xq)
        };
        let (c, _, _) = int8_check(&t, &x, 1, &r, &env(), &dropped);
        assert_fails(&c, 10.0);
        let (ok, _, _) = int8_check(&t, &x, 1, &r, &env(), &int8::matmul);
        assert!(
            ok.max_rel_error.unwrap_or(1.0) < Bounds::INT8 / 1.5,
            "margin: {ok:?}"
        );
    }

    #[test]
    fn lora_with_the_wrong_scale_fails() {
        let (t, x, r) = setup("q_proj");
        let alpha_not_over_r =
            |w: &[f32], rows: usize, cols: usize, l: &Lora, x: &[f32], b: usize| {
                let mut l2 = l.clone();
                l2.alpha = l.alpha * l.r as f32; // scale = alpha instead of alpha / r
                lora::forward(w, rows, cols, &l2, x, b)
            };
        let (c, _) = lora_check(&t, &x, 1, &r, &env(), &alpha_not_over_r, &lora::merge);
        assert_fails(&c, 100.0);
        let bad_merge = |w: &[f32], rows: usize, cols: usize, l: &Lora| {
            let mut l2 = l.clone();
            l2.b.reverse();
            lora::merge(w, rows, cols, &l2)
        };
        let (c, _) = lora_check(&t, &x, 1, &r, &env(), &lora::forward, &bad_merge);
        assert_fails(&c, 100.0);
    }

    #[test]
    fn sparse_with_swapped_positions_fails() {
        let (t, x, r) = setup("q_proj");
        let swapped = |s: &Sparse24, x: &[f32], b: usize| {
            let mut s2 = s.clone();
            for m in s2.meta.iter_mut() {
                // exchange the two positions of each group
                let f = |n: u8| ((n & 3) << 2) | (n >> 2);
                *m = f(*m & 15) | (f(*m >> 4) << 4);
            }
            sparse::matmul(&s2, x, b)
        };
        let (c, _) = sparse_check(&t, &x, 1, &r, &env(), &swapped);
        assert_fails(&c, 100.0);
    }

    #[test]
    fn gemm_at_lower_precision_fails() {
        let p = proj("q_proj");
        let t = model::synthetic(&p, 9, 1);
        let (x, _) = model::activations(9, 4, p.cols);
        let r = gemm::matmul_f32(&x, 4, &t.w, p.rows, p.cols).expect("reference");
        // operands truncated to 4 significant bits (an fp8-like path) fail both
        let fp8ish =
            |x: &[f32], b: usize, w: &[f32], rows: usize, cols: usize, h: Half, reps: usize| {
                let cut = |v: &f32| f32::from_bits(v.to_bits() & 0xFFF0_0000);
                let x2: Vec<f32> = x.iter().map(cut).collect();
                let w2: Vec<f32> = w.iter().map(cut).collect();
                gemm::matmul_half(&x2, b, &w2, rows, cols, h, reps)
            };
        for h in [Half::F16, Half::BF16] {
            let c = gemm_check(&t, &x, 4, &r, &env(), h, &fp8ish);
            assert_fails(&c, 2.0);
        }
    }

    #[test]
    fn roundtrip_of_bf16_f16_f32_layers() {
        for dt in [
            safetensors::Dtype::BF16,
            safetensors::Dtype::F16,
            safetensors::Dtype::F32,
        ] {
            let tensors: Vec<LayerTensor> = tiny()
                .projections(0)
                .iter()
                .take(2)
                .map(|p| {
                    let mut t = model::synthetic(p, 3, 0);
                    t.raw = model::from_f32(dt, &t.w);
                    t.w = model::to_f32(dt, &t.raw).expect("decode");
                    t.dtype = dt;
                    t
                })
                .collect();
            let c = roundtrip(&tensors, &env());
            assert_eq!(c.verdict, Verdict::Verified, "{dt:?}: {c:?}");
        }
    }

    /// Prints the errors the bounds are set from, on tiny and Mistral shapes over several seeds:
    /// `cargo test --release --lib calibrate_bounds -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn calibrate_bounds() {
        let mistral = ModelConfig::mistral_7b_v01().projections(0);
        let tiny = tiny().projections(0);
        for p in [&tiny[0], &tiny[6], &mistral[0], &mistral[1], &mistral[6]] {
            for seed in 1..=4u64 {
                let t = model::synthetic(p, seed, 1);
                let (x, _) = model::activations(seed, 1, p.cols);
                let r = gemm::matmul_f32(&x, 1, &t.w, p.rows, p.cols).expect("ref");
                let wq = int8::quantize(&t.w, p.rows, p.cols, 0.0);
                let e8 = max_rel_error(&int8::matmul(&wq, &x, 1, THRESHOLD).0, &r);
                let e8n = max_rel_error(&int8::matmul(&wq, &x, 1, 0.0).0, &r);
                let q = nf4::quantize(&t.w);
                let e4 = max_rel_error(
                    &nf4::matmul(&q, &Absmax::F32(&q.absmax), p.rows, p.cols, &x, 1),
                    &r,
                );
                let dq = nf4::double_quantize(&q.absmax);
                let e4d = max_rel_error(
                    &nf4::matmul(&q, &Absmax::Double(&dq), p.rows, p.cols, &x, 1),
                    &r,
                );
                let (xg, _) = model::activations(seed, 8, p.cols);
                let rg = gemm::matmul_f32(&xg, 8, &t.w, p.rows, p.cols).expect("ref");
                let f16 = max_rel_error(
                    &gemm::matmul_half(&xg, 8, &t.w, p.rows, p.cols, Half::F16, 1)
                        .expect("f16")
                        .y,
                    &rg,
                );
                let b16 = max_rel_error(
                    &gemm::matmul_half(&xg, 8, &t.w, p.rows, p.cols, Half::BF16, 1)
                        .expect("bf16")
                        .y,
                    &rg,
                );
                println!(
                    "{:>9} {:>10} seed {seed}: int8 {e8:.4} (no decomposition {e8n:.4})  nf4 {e4:.4}  nf4-dq {e4d:.4}  fp16 {f16:.2e}  bf16 {b16:.2e}",
                    p.short,
                    p.shape()
                );
            }
        }
    }
}
