//! The one generic check and the one judge, for every format on every device: quantize on the
//! device, compare its bytes with the CPU's reference quantization (off the CPU), run the
//! device's kernel under the one repetition rule, let the format judge the result against its
//! references, and fill one [`SmokeCheck`].
//!
//! Every quantized check compares twice, and both must pass:
//! 1. **kernel vs format reference** — the device's kernel against candle's f32 matmul of the
//!    *same* quantized weights dequantized the plain way (for int8 also the activations). Both
//!    compute the same sums in a different order, so they agree to float rounding:
//!    [`Bounds::KERNEL`]. Any kernel bug (nibble order, wrong block's absmax, a dropped outlier
//!    column, swapped 2:4 positions) misses this by orders of magnitude;
//! 2. **result vs the f32 reference** — the unquantized matmul, under the format's own error
//!    bound ([`Bounds`]), which catches a quantizer that is self-consistent but wrong (the golden
//!    tests catch it bit for bit; this catches it on the run's real weights).
//!
//! The bounds were set from the error each format makes on Mistral-shaped layers (synthetic and
//! real weights behave alike: the error is set by the format, not by the values) with margin, and
//! the tests below show deliberately broken kernels missing each by a wide factor.

use super::backend::{Backend, DeviceInfo, NotRun, Runs};
use super::dump::Artifacts;
use super::formats::{gemm, Assessment, Diff, Format, Formats, Input, Measured};
use super::metrics::Reps;
use super::model::{self, LayerTensor};
use super::progress::Progress;
use super::{Device, Level, SmokeCheck};
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

/// What every check of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct RunEnv {
    pub level: Level,
    pub reps: Reps,
    pub seed: u64,
}

/// The activations of a check and the f32 reference product of the original weights.
pub struct Activations<'a> {
    pub x: &'a [f32],
    pub batch: usize,
    pub f32_ref: &'a [f32],
}

pub fn layer_name(t: &LayerTensor) -> String {
    t.proj.name.trim_end_matches(".weight").to_string()
}

pub fn shape(t: &LayerTensor, batch: usize) -> String {
    format!("{} · batch {batch}", t.proj.shape())
}

/// A check that could not run: `unverified` for a skip, `failed` otherwise.
pub fn not_run(c: SmokeCheck, e: NotRun) -> SmokeCheck {
    match e {
        NotRun::Skipped(r) => c.skip(r),
        NotRun::Failed(r) => c.fail(r),
    }
}

/// The one check: format `f` on device `dev` for weight `t` (see the module comment). Returns the
/// check and the reference quantization (for `--dump`).
pub fn check<F, B>(
    f: &F,
    dev: &B,
    t: &LayerTensor,
    a: &Activations<'_>,
    env: &RunEnv,
) -> (SmokeCheck, Option<F::Packed>)
where
    F: Format,
    B: Runs<F> + DeviceInfo + ?Sized,
{
    let shape = format!("{}{}", shape(t, a.batch), f.shape_note());
    let c = SmokeCheck::new(f.id(), dev.device(), &layer_name(t), shape);
    let q = match dev.quantize(f, t) {
        Ok(q) => q,
        Err(e) => return (not_run(c, e), None),
    };
    // The reference quantization: on the CPU it is what ran; elsewhere the CPU makes it again,
    // and the device's bytes must be the same.
    let cpu = match dev.device() {
        Device::Cpu => None,
        _ => match f.quantize(t) {
            Ok(p) => Some(p),
            Err(e) => return (not_run(c, e.into()), None),
        },
    };
    let prod = match dev.matmul(f, t, &q, a.x, a.batch, env.reps) {
        Ok(p) => p,
        Err(e) => return (not_run(c, e), None),
    };
    let diffs: Vec<Diff> = match &cpu {
        Some(p) => [f.diff(p, &q.host), f.diff_act(p, a.x, a.batch, &prod.act)]
            .into_iter()
            .flatten()
            .collect(),
        None => Vec::new(),
    };
    let reference = cpu.as_ref().unwrap_or(&q.host);
    let assessment = f.assess(&Measured {
        t,
        packed: reference,
        x: a.x,
        batch: a.batch,
        y: &prod.y,
        f32_ref: a.f32_ref,
        quantize_secs: q.secs,
        kernel_secs: prod.secs,
        bandwidth: dev.bandwidth(),
    });
    let mut c = judge(c, &assessment, &diffs);
    c.compressed_bytes = Some(assessment.compressed_bytes);
    c.fp16_bytes = Some(2 * t.proj.params() as u64);
    c.time_ms = Some(prod.secs * 1e3);
    c.throughput = Some(assessment.throughput);
    c.evidence.extend(assessment.notes);
    c.evidence.extend(dev.notes(f));
    (c, Some(cpu.unwrap_or(q.host)))
}

/// The one judge: verified when the device's bytes equal the CPU's, the kernel agrees with the
/// format reference and the result is within the format's bound; failed with every reason
/// otherwise.
pub fn judge(mut c: SmokeCheck, a: &Assessment, diffs: &[Diff]) -> SmokeCheck {
    c.max_rel_error = Some(a.error);
    c.bound = Some(a.bound);
    let mut why = Vec::new();
    for d in diffs {
        c.evidence.push(format!(
            "{} {} vs the CPU's reference: {} of {} differ",
            c.device, d.what, d.differ, d.total
        ));
        if d.differ > 0 {
            why.push(format!(
                "the {} {} differ from the CPU's reference in {} of {}",
                c.device, d.what, d.differ, d.total
            ));
        }
    }
    if let Some(k) = a.kernel {
        c.evidence.push(format!(
            "kernel vs {}: max rel. error {:.2e} (bound {:.0e})",
            k.what, k.error, k.bound
        ));
        if k.error.is_nan() || k.error > k.bound {
            why.push(format!(
                "the kernel disagrees with {}: {:.3e} > {:.0e}",
                k.what, k.error, k.bound
            ));
        }
    }
    if a.error.is_nan() || a.error > a.bound {
        why.push(format!(
            "error against the f32 reference {:.3e} exceeds the bound {:.1e}",
            a.error, a.bound
        ));
    }
    why.extend(a.failures.iter().cloned());
    if why.is_empty() {
        c.verdict = Verdict::Verified;
        c.reason = None;
        c
    } else {
        c.fail(why.join("; "))
    }
}

/// The two sets of activations of a projection (see [`Input`]) with their f32 references, or
/// why a reference could not be computed.
struct Inputs {
    decode: (Vec<f32>, usize, Result<Vec<f32>, String>),
    gemm: (Vec<f32>, usize, Result<Vec<f32>, String>),
}

impl Inputs {
    fn new<B: DeviceInfo + ?Sized>(dev: &B, t: &LayerTensor, env: &RunEnv) -> Self {
        let make = |seed: u64, batch: usize| {
            let (x, _) = model::activations(seed, batch, t.proj.cols);
            let r = gemm::matmul_f32(&x, batch, &t.w, t.proj.rows, t.proj.cols)
                .map_err(|e| format!("the f32 reference matmul failed: {}", super::chain(&e)));
            (x, batch, r)
        };
        Inputs {
            decode: make(env.seed, env.level.batches().0),
            gemm: make(env.seed ^ 0x6E, dev.gemm_batch(env.level)),
        }
    }

    fn get(&self, input: Input) -> (Result<Activations<'_>, &str>, usize) {
        let (x, batch, r) = match input {
            Input::Decode => &self.decode,
            Input::Gemm => &self.gemm,
        };
        let a = r.as_ref().map(|f32_ref| Activations {
            x,
            batch: *batch,
            f32_ref,
        });
        (a.map_err(String::as_str), *batch)
    }
}

/// Runs check `f` and, with `dump`, adds its tensors.
fn one<F, B>(
    f: &F,
    dev: &B,
    t: &LayerTensor,
    inputs: &Inputs,
    env: &RunEnv,
    progress: &Progress,
    dump: &mut Option<&mut Artifacts>,
) -> SmokeCheck
where
    F: Format,
    B: Runs<F> + DeviceInfo + ?Sized,
{
    let c = match inputs.get(f.input()) {
        (Ok(a), _) => {
            let (c, packed) = check(f, dev, t, &a, env);
            if let (Some(out), Some(p)) = (dump.as_deref_mut(), &packed) {
                f.dump(t, p, a.x, a.batch, out);
            }
            c
        }
        (Err(why), batch) => {
            SmokeCheck::new(f.id(), dev.device(), &layer_name(t), shape(t, batch)).fail(why)
        }
    };
    progress.step(&format!("{} {} {}", c.id, c.device, t.proj.short));
    c
}

/// The checks of one projection on one device, in report order. With `dump`, collects what
/// `--dump` writes for it.
pub fn projection<B: Backend + ?Sized>(
    dev: &B,
    fm: &Formats,
    t: &LayerTensor,
    env: &RunEnv,
    progress: &Progress,
    mut dump: Option<&mut Artifacts>,
) -> Vec<SmokeCheck> {
    let inputs = Inputs::new(dev, t, env);
    if let Some(out) = dump.as_deref_mut() {
        out.input(t, &inputs.decode.0, inputs.decode.1);
    }
    let d = &mut dump;
    vec![
        one(&fm.int8, dev, t, &inputs, env, progress, d),
        one(&fm.nf4, dev, t, &inputs, env, progress, d),
        one(&fm.nf4_dq, dev, t, &inputs, env, progress, d),
        one(&fm.lora, dev, t, &inputs, env, progress, d),
        one(&fm.sparse, dev, t, &inputs, env, progress, d),
        one(&fm.fp16, dev, t, &inputs, env, progress, d),
        one(&fm.bf16, dev, t, &inputs, env, progress, d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SmokeCheckId;
    use crate::smoke::cpu::Cpu;
    use crate::smoke::formats::gemm::{Gemm, Half};
    use crate::smoke::formats::int8::{self, Int8Llm, THRESHOLD};
    use crate::smoke::formats::lora::{self, LoraFormat};
    use crate::smoke::formats::nf4::{self, Absmax, Nf4Format};
    use crate::smoke::formats::nf4_dq::Nf4DqFormat;
    use crate::smoke::formats::sparse24::{self, Sparse24Format};
    use crate::smoke::model::Projection;
    use crate::smoke::testutil::{setup, tiny, Tampered};

    fn env() -> RunEnv {
        RunEnv {
            level: Level::Quick,
            reps: Reps::ONCE,
            seed: 1,
        }
    }

    /// Check `f` on the tiny layer `short`, batch 1.
    fn run<F: Format, B: Runs<F> + DeviceInfo>(f: &F, dev: &B, short: &str) -> SmokeCheck {
        let (t, x, r) = setup(short);
        run_on(f, dev, &t, &x, 1, &r)
    }

    fn run_on<F: Format, B: Runs<F> + DeviceInfo>(
        f: &F,
        dev: &B,
        t: &LayerTensor,
        x: &[f32],
        batch: usize,
        r: &[f32],
    ) -> SmokeCheck {
        let a = Activations {
            x,
            batch,
            f32_ref: r,
        };
        check(f, dev, t, &a, &env()).0
    }

    /// The kernel comparison's error, from the evidence.
    fn kernel_error(c: &SmokeCheck) -> Option<f64> {
        c.evidence
            .iter()
            .find(|e| e.starts_with("kernel vs"))
            .and_then(|e| e.split("error ").nth(1))
            .and_then(|e| e.split(' ').next())
            .and_then(|e| e.parse::<f64>().ok())
    }

    fn assert_fails(c: &SmokeCheck, factor: f64) {
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        let worst = c.max_rel_error.unwrap_or(0.0) / c.bound.unwrap_or(1.0);
        let kworst = kernel_error(c).map(|k| k / Bounds::KERNEL).unwrap_or(0.0);
        assert!(
            worst.max(kworst) >= factor,
            "a broken kernel must miss its bound by {factor}x: {c:?}"
        );
    }

    #[test]
    fn correct_kernels_pass_every_check() {
        let fm = Formats::new(8, 16.0, 1);
        let cpu = Cpu { bandwidth: None };
        for short in ["q_proj", "down_proj"] {
            let (t, _, _) = setup(short);
            let checks = projection(&cpu, &fm, &t, &env(), &Progress::none(), None);
            assert_eq!(checks.len(), 7);
            for c in checks {
                assert_eq!(c.verdict, Verdict::Verified, "{c:?}");
            }
        }
    }

    fn swap_nibbles(packed: &mut [u8]) {
        for v in packed.iter_mut() {
            *v = v.rotate_left(4);
        }
    }

    #[test]
    fn nf4_wrong_nibble_order_and_wrong_scale_fail() {
        // the kernel reads the low nibble first
        let swapped = Tampered::<Nf4Format>::cpu().kernel(|_, t, q, x, b| {
            let mut s = q.clone();
            swap_nibbles(&mut s.packed);
            let y = nf4::matmul(&s, &Absmax::F32(&s.absmax), t.proj.rows, t.proj.cols, x, b);
            (y, ())
        });
        assert_fails(&run(&Nf4Format, &swapped, "down_proj"), 10.0);
        // the kernel uses the next block's absmax
        let shifted = Tampered::<Nf4Format>::cpu().kernel(|_, t, q, x, b| {
            let mut am = q.absmax.clone();
            am.rotate_left(1);
            let y = nf4::matmul(q, &Absmax::F32(&am), t.proj.rows, t.proj.cols, x, b);
            (y, ())
        });
        assert_fails(&run(&Nf4Format, &shifted, "down_proj"), 10.0);
        // a device whose quantizer and kernel agree on the wrong nibble order: its bytes are
        // not bitsandbytes', and the result misses the f32 bound
        let consistent = Tampered::<Nf4Format>::cpu().quantizer(|q| swap_nibbles(&mut q.packed));
        let c = run(&Nf4Format, &consistent, "down_proj");
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        assert!(
            c.reason.as_deref().is_some_and(|r| r.contains("differ")),
            "{c:?}"
        );
        assert!(c.max_rel_error.unwrap_or(0.0) > 3.0 * Bounds::NF4, "{c:?}");
        // and a correct kernel keeps its margin
        let ok = run(&Nf4Format, &Cpu { bandwidth: None }, "down_proj");
        assert!(
            ok.max_rel_error.unwrap_or(1.0) < Bounds::NF4 / 1.5,
            "{ok:?}"
        );
    }

    #[test]
    fn nf4_dq_without_the_offset_fails() {
        let no_offset = Tampered::<Nf4DqFormat>::cpu().kernel(|_, t, q, x, b| {
            let mut d = q.dq.clone();
            d.offset = 0.0;
            let y = nf4::matmul(&q.nf4, &Absmax::Double(&d), t.proj.rows, t.proj.cols, x, b);
            (y, Vec::new())
        });
        assert_fails(&run(&Nf4DqFormat, &no_offset, "q_proj"), 10.0);
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
        let no_decomp = Tampered::<Int8Llm>::cpu().kernel(|_, _, w, x, b| {
            let (y, _) = int8::matmul(w, x, b, 0.0);
            (y, int8::quantize(x, b, w.cols, THRESHOLD))
        });
        let c = run_on(&Int8Llm, &no_decomp, &t, &x, 1, &r);
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        assert!(c.max_rel_error.unwrap_or(0.0) > Bounds::INT8 * 1.5, "{c:?}");
        // zeroes the outlier columns but never adds them back
        let dropped = Tampered::<Int8Llm>::cpu().kernel(|_, _, w, x, b| {
            let xq = int8::quantize(x, b, w.cols, THRESHOLD);
            let mut x2 = x.to_vec();
            for &col in &xq.outlier_cols {
                for bb in 0..b {
                    x2[bb * w.cols + col] = 0.0;
                }
            }
            (int8::matmul(w, &x2, b, THRESHOLD).0, xq)
        });
        assert_fails(&run_on(&Int8Llm, &dropped, &t, &x, 1, &r), 10.0);
        let ok = run_on(&Int8Llm, &Cpu { bandwidth: None }, &t, &x, 1, &r);
        assert!(
            ok.max_rel_error.unwrap_or(1.0) < Bounds::INT8 / 1.5,
            "{ok:?}"
        );
    }

    #[test]
    fn a_device_whose_int8_bytes_differ_fails() {
        let off_by_one =
            Tampered::<Int8Llm>::cpu().quantizer(|w| w.values[3] = w.values[3].wrapping_add(1));
        let c = run(&Int8Llm, &off_by_one, "q_proj");
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        assert!(
            c.reason.as_deref().is_some_and(|r| r.contains("in 1 of")),
            "{c:?}"
        );
    }

    #[test]
    fn lora_with_the_wrong_scale_or_merge_fails() {
        let f = LoraFormat {
            rank: 8,
            alpha: 16.0,
            seed: 1,
        };
        // scale = alpha instead of alpha / r
        let alpha_not_over_r = Tampered::<LoraFormat>::cpu().kernel(|_, t, p, x, b| {
            let mut l2 = p.adapter.clone();
            l2.alpha *= l2.r as f32;
            (lora::forward(&t.w, t.proj.rows, t.proj.cols, &l2, x, b), ())
        });
        assert_fails(&run(&f, &alpha_not_over_r, "q_proj"), 100.0);
        // a device whose merged weight uses the factors in the wrong order
        let bad_merge = Tampered::<LoraFormat>::cpu().quantizer(|p| {
            let mut l2 = p.adapter.clone();
            l2.b.reverse();
            let rows = l2.b.len() / l2.r;
            let cols = l2.a.len() / l2.r;
            let base: Vec<f32> = p
                .merged
                .iter()
                .zip(lora::merge(&vec![0.0; rows * cols], rows, cols, &p.adapter))
                .map(|(m, d)| m - d)
                .collect();
            p.merged = lora::merge(&base, rows, cols, &l2);
        });
        let c = run(&f, &bad_merge, "q_proj");
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        assert!(
            c.reason
                .as_deref()
                .is_some_and(|r| r.contains("merged weight")),
            "{c:?}"
        );
    }

    #[test]
    fn sparse_with_swapped_positions_fails() {
        let swapped = Tampered::<Sparse24Format>::cpu().kernel(|_, _, s, x, b| {
            let mut s2 = s.clone();
            for m in s2.meta.iter_mut() {
                // exchange the two positions of each group
                let f = |n: u8| ((n & 3) << 2) | (n >> 2);
                *m = f(*m & 15) | (f(*m >> 4) << 4);
            }
            (sparse24::matmul(&s2, x, b), ())
        });
        assert_fails(&run(&Sparse24Format, &swapped, "q_proj"), 100.0);
    }

    #[test]
    fn gemm_at_lower_precision_fails() {
        let (t, _, _) = setup("q_proj");
        let (x, _) = model::activations(9, 4, t.proj.cols);
        let r = gemm::matmul_f32(&x, 4, &t.w, t.proj.rows, t.proj.cols).expect("reference");
        // operands truncated to 4 significant bits (an fp8-like path) fail both
        for h in [Half::F16, Half::BF16] {
            let fp8ish = Tampered::<Gemm>::cpu().kernel(|f, t, _, x, b| {
                let cut = |v: &f32| f32::from_bits(v.to_bits() & 0xFFF0_0000);
                let mut t2 = t.clone();
                t2.w = t.w.iter().map(cut).collect();
                let x2: Vec<f32> = x.iter().map(cut).collect();
                let p = f.quantize(&t2).expect("16-bit");
                f.matmul(&t2, &p, &x2, b).expect("matmul")
            });
            assert_fails(&run_on(&Gemm(h), &fp8ish, &t, &x, 4, &r), 2.0);
        }
    }

    #[test]
    fn a_kernel_that_is_not_run_is_a_skip_or_a_failure() {
        let c = SmokeCheck::new(SmokeCheckId::Nf4, Device::Cuda, "l", "s".into());
        let s = not_run(c.clone(), NotRun::Skipped("skipped: no NVRTC".into()));
        assert_eq!(s.verdict, Verdict::Unverified);
        let f = not_run(c, NotRun::Failed("compile error".into()));
        assert_eq!(f.verdict, Verdict::Failed);
        assert_eq!(tiny().hidden, 256);
    }

    /// Prints the errors the bounds are set from, on tiny and Mistral shapes over several seeds:
    /// `cargo test --release --lib calibrate_bounds -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn calibrate_bounds() {
        let fm = Formats::new(16, 32.0, 1);
        let cpu = Cpu { bandwidth: None };
        let mistral = crate::smoke::ModelConfig::mistral_7b_v01().projections(0);
        let tiny = tiny().projections(0);
        for p in [&tiny[0], &tiny[6], &mistral[0], &mistral[1], &mistral[6]] {
            for seed in 1..=4u64 {
                let t = model::synthetic(p, seed, 1);
                let env = RunEnv { seed, ..env() };
                let line: Vec<String> = projection(&cpu, &fm, &t, &env, &Progress::none(), None)
                    .iter()
                    .map(|c| format!("{} {:.2e}", c.id, c.max_rel_error.unwrap_or(f64::NAN)))
                    .collect();
                println!(
                    "{:>9} {:>10} seed {seed}: {}",
                    p.short,
                    p.shape(),
                    line.join("  ")
                );
            }
        }
    }
}
