//! The one generic check and the one judge, for every format on every device: quantize on the
//! device, compare its bytes with the CPU's reference quantization (off the CPU), run the
//! device's kernel under the one repetition rule, and judge it against the format's own
//! product.
//!
//! The verdict asks one question, whether the kernel is right: its output against the format's
//! product computed exactly (f64) from the stored codes and scales, under the f32 rounding bound
//! of that many terms in any order ([`crate::smoke::formats::reference`]). The bound depends on
//! the arithmetic, not on the weights, so outlier features, zero and constant blocks, subnormals
//! and odd shapes pass a correct kernel and fail a wrong one alike; the tests below show
//! deliberately broken kernels (swapped nibbles, a shifted block, a wrong scale, a wrong sparse
//! index, a dropped outlier column) missing it by orders of magnitude. Off the CPU the device's
//! stored bytes must also be the CPU's, which are bitsandbytes' own.
//!
//! What the format costs against the original weights is a measurement, reported beside the
//! verdict with the format's worst case on those weights; it never decides it (a checkpoint
//! whose statistics make a format lossy is not a broken stack).

use super::backend::{Backend, DeviceInfo, NotRun, Runs};
use super::dump::Artifacts;
use super::formats::reference::{self, Bound};
use super::formats::{gemm, Diff, Format, Formats, Input, Measured};
use super::metrics::{self, Reps};
use super::model::{self, LayerTensor};
use super::progress::Progress;
use super::{Device, Level, SmokeCheck};
use crate::model::Verdict;

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

/// Why a weight cannot be checked: its first value that is not finite, with its position.
pub fn non_finite(t: &LayerTensor) -> Option<String> {
    let i = t.w.iter().position(|v| !v.is_finite())?;
    let cols = t.proj.cols.max(1);
    Some(format!(
        "`{}` holds {} at [{}, {}] (element {i}): no format quantizes a non-finite weight; fix the checkpoint",
        layer_name(t),
        t.w[i],
        i / cols,
        i % cols
    ))
}

/// What the judge weighs.
pub struct Judged {
    pub kernel_error: f64,
    pub bound: Bound,
    /// The output where the kernel is furthest off: its index, the kernel's and the reference's
    /// values.
    pub worst: (usize, f32, f64),
    pub batch_rows: usize,
    pub format_error: Option<f64>,
    pub format_bound: Option<f64>,
    pub failures: Vec<String>,
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
    if let Some(why) = non_finite(t) {
        return (c.fail(why), None);
    }
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
    let packed = cpu.as_ref().unwrap_or(&q.host);
    let refp = f.reference(t, packed, a.x, a.batch);
    if let Some(why) = f.out_of_range(&refp) {
        return (c.skip(why), cpu.or(Some(q.host)));
    }
    let bound = f.bound(t, packed, a.x, a.batch);
    let (kernel_error, at) = reference::kernel_error(&prod.y, &refp, bound);
    let (format_error, format_bound) = if f.has_format_error() {
        let worst = f.worst_case(t, packed, a.x, a.batch);
        (
            Some(reference::format_error(&refp, a.f32_ref)),
            worst.map(|w| reference::relative_bound(&w, a.f32_ref)),
        )
    } else {
        (None, None)
    };
    let report = f.report(&Measured {
        t,
        packed,
        x: a.x,
        batch: a.batch,
        y: &prod.y,
        reference: &refp,
        bound,
        f32_ref: a.f32_ref,
        quantize_secs: q.secs,
    });
    let judged = Judged {
        kernel_error,
        bound,
        worst: (
            at,
            prod.y.get(at).copied().unwrap_or(f32::NAN),
            refp.y.get(at).copied().unwrap_or(f64::NAN),
        ),
        batch_rows: t.proj.rows,
        format_error,
        format_bound,
        failures: report.failures,
    };
    let mut c = judge(c, &judged, &diffs);
    c.compressed_bytes = Some(f.compressed_bytes(t, packed));
    c.fp16_bytes = Some(2 * t.proj.params() as u64);
    c.time_ms = Some(prod.secs * 1e3);
    match f.read_bytes(t, packed) {
        Some(bytes) => c.throughput = Some(metrics::gbs(bytes, prod.secs, dev.bandwidth())),
        None => {
            let flop = 2.0 * (a.batch * t.proj.rows * t.proj.cols) as f64;
            c.throughput = Some(metrics::flops(flop, prod.secs));
        }
    }
    c.evidence.extend(report.notes);
    c.evidence.extend(dev.notes(f));
    (c, Some(cpu.unwrap_or(q.host)))
}

/// The one judge: verified when the device's bytes equal the CPU's and the kernel meets its
/// rounding bound against the format's own product; failed with every reason otherwise. The
/// format error is reported, never judged.
pub fn judge(mut c: SmokeCheck, j: &Judged, diffs: &[Diff]) -> SmokeCheck {
    c.kernel_error = Some(j.kernel_error);
    c.kernel_bound = Some(j.bound.rel);
    c.format_error = j.format_error;
    c.format_bound = j.format_bound;
    let mut why = Vec::new();
    if !diffs.is_empty() {
        c.same_bytes = Some(diffs.iter().all(|d| d.differ == 0));
    }
    for d in diffs {
        c.evidence.push(format!(
            "{} {} vs the CPU's (bitsandbytes') bytes: {} of {} differ",
            c.device, d.what, d.differ, d.total
        ));
        if d.differ > 0 {
            why.push(format!(
                "the {} {} differ from the CPU's in {} of {}",
                c.device, d.what, d.differ, d.total
            ));
        }
    }
    c.evidence.push(format!(
        "kernel vs the format's own product (exact, from the stored codes and scales): {:.2e} of the terms' sum (bound {:.1e}: f32 rounding of {} operations in any order)",
        j.kernel_error, j.bound.rel, j.bound.roundings
    ));
    if j.kernel_error.is_nan() || j.kernel_error > j.bound.rel {
        let (i, y, r) = j.worst;
        let rows = j.batch_rows.max(1);
        why.push(format!(
            "the kernel disagrees with the format's own product: {:.3e} of the terms' sum > {:.1e}, worst at batch {} row {} ({y} vs {r})",
            j.kernel_error,
            j.bound.rel,
            i / rows,
            i % rows
        ));
    }
    if let Some(fe) = j.format_error {
        let worst = j
            .format_bound
            .map(|b| format!(", worst case for this format on these weights {b:.2e}"))
            .unwrap_or_default();
        c.evidence.push(format!(
            "format error against the f32 product of the original weights: {fe:.2e}{worst} (a measurement, not the verdict)"
        ));
        if let Some(b) = j.format_bound.filter(|b| fe > *b * (1.0 + 1e-9)) {
            c.evidence.push(format!(
                "caveat: the format error {fe:.2e} exceeds the format's worst case {b:.2e}: the quantizer is not producing this format"
            ));
        }
    }
    why.extend(j.failures.iter().cloned());
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

    /// A broken kernel fails, and misses its bound by at least `factor`.
    fn assert_fails(c: &SmokeCheck, factor: f64) {
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        let (e, b) = (c.kernel_error.unwrap_or(0.0), c.kernel_bound.unwrap_or(1.0));
        assert!(
            e >= factor * b,
            "a broken kernel must miss its bound by {factor}x: {e:.3e} vs {b:.3e}\n{c:?}"
        );
        assert!(
            c.reason
                .as_deref()
                .is_some_and(|r| r.contains("disagrees with the format's own product")),
            "{c:?}"
        );
    }

    fn cpu() -> Cpu {
        Cpu { bandwidth: None }
    }

    #[test]
    fn correct_kernels_pass_every_check() {
        let fm = Formats::new(8, 16.0, 1);
        for short in ["q_proj", "down_proj"] {
            let (t, _, _) = setup(short);
            let checks = projection(&cpu(), &fm, &t, &env(), &Progress::none(), None);
            assert_eq!(checks.len(), 7);
            for c in checks {
                assert_eq!(c.verdict, Verdict::Verified, "{c:?}");
                let (e, b) = (c.kernel_error.unwrap_or(1.0), c.kernel_bound.unwrap_or(0.0));
                assert!(e <= b, "{c:?}");
                if let (Some(fe), Some(fb)) = (c.format_error, c.format_bound) {
                    assert!(fe <= fb, "the format error within its worst case: {c:?}");
                }
            }
        }
    }

    fn swap_nibbles(packed: &mut [u8]) {
        for v in packed.iter_mut() {
            *v = v.rotate_left(4);
        }
    }

    /// An NF4 kernel that reads the weights through `tamper` first.
    fn nf4_kernel<'a>(tamper: impl Fn(&mut nf4::Nf4) + Sync + 'a) -> Tampered<'a, Nf4Format> {
        Tampered::<Nf4Format>::cpu().kernel(move |_, t, q, x, b| {
            let mut s = q.clone();
            tamper(&mut s);
            let y = nf4::matmul(&s, &Absmax::F32(&s.absmax), t.proj.rows, t.proj.cols, x, b);
            (y, ())
        })
    }

    #[test]
    fn nf4_swapped_nibbles_shifted_block_and_wrong_scale_fail() {
        // reads the low nibble first
        assert_fails(
            &run(
                &Nf4Format,
                &nf4_kernel(|q| swap_nibbles(&mut q.packed)),
                "down_proj",
            ),
            10.0,
        );
        // uses the next block's absmax
        assert_fails(
            &run(
                &Nf4Format,
                &nf4_kernel(|q| q.absmax.rotate_left(1)),
                "down_proj",
            ),
            10.0,
        );
        // a scale 1% off
        let off = nf4_kernel(|q| q.absmax.iter_mut().for_each(|a| *a *= 1.01));
        assert_fails(&run(&Nf4Format, &off, "down_proj"), 10.0);
        // a device whose quantizer and kernel agree on the wrong nibble order: its bytes are not
        // bitsandbytes'
        let consistent = Tampered::<Nf4Format>::cpu().quantizer(|q| swap_nibbles(&mut q.packed));
        let c = run(&Nf4Format, &consistent, "down_proj");
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        assert_eq!(c.same_bytes, Some(false));
        assert!(
            c.reason.as_deref().is_some_and(|r| r.contains("differ")),
            "{c:?}"
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
    fn int8_without_outliers_with_a_wrong_scale_or_code_fails() {
        // 4096 input features, as Mistral's q_proj (its 4 outlier features), fewer rows
        let p = Projection {
            short: "q_proj",
            name: "model.layers.0.self_attn.q_proj.weight".into(),
            rows: 64,
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
        assert_fails(&run_on(&Int8Llm, &no_decomp, &t, &x, 1, &r), 10.0);
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
        // a row scale 0.1% off
        let scale = Tampered::<Int8Llm>::cpu().kernel(|_, _, w, x, b| {
            let mut w2 = w.clone();
            w2.row_absmax.iter_mut().for_each(|a| *a *= 1.001);
            int8::matmul(&w2, x, b, THRESHOLD)
        });
        assert_fails(&run_on(&Int8Llm, &scale, &t, &x, 1, &r), 10.0);
        // one int8 code off by one, in the kernel's copy
        let code = Tampered::<Int8Llm>::cpu().kernel(|_, _, w, x, b| {
            let mut w2 = w.clone();
            w2.values[5] = w2.values[5].wrapping_add(1);
            int8::matmul(&w2, x, b, THRESHOLD)
        });
        assert_fails(&run_on(&Int8Llm, &code, &t, &x, 1, &r), 2.0);
        // and a device whose stored bytes differ in one code
        let bytes =
            Tampered::<Int8Llm>::cpu().quantizer(|w| w.values[3] = w.values[3].wrapping_add(1));
        let c = run_on(&Int8Llm, &bytes, &t, &x, 1, &r);
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
    fn sparse_with_swapped_or_wrong_indices_fails() {
        let swapped = Tampered::<Sparse24Format>::cpu().kernel(|_, _, s, x, b| {
            let mut s2 = s.clone();
            for m in s2.meta.iter_mut() {
                // exchange the two positions of each group
                let f = |n: u8| ((n & 3) << 2) | (n >> 2);
                *m = f(*m & 15) | (f(*m >> 4) << 4);
            }
            (sparse24::matmul(&s2, x, b), ())
        });
        assert_fails(&run(&Sparse24Format, &swapped, "q_proj"), 10.0);
        // one group's second index moved to a position it does not keep
        let wrong = Tampered::<Sparse24Format>::cpu().kernel(|_, _, s, x, b| {
            let mut s2 = s.clone();
            let lo = s2.meta[0] & 15;
            let (i0, i1) = (lo & 3, lo >> 2);
            let moved = (0..4u8).find(|p| *p != i0 && *p != i1).unwrap_or(i1);
            s2.meta[0] = (s2.meta[0] & 0xF0) | i0 | (moved << 2);
            (sparse24::matmul(&s2, x, b), ())
        });
        let c = run(&Sparse24Format, &wrong, "q_proj");
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
    }

    #[test]
    fn gemm_at_lower_precision_fails() {
        let (t, _, _) = setup("q_proj");
        let (x, _) = model::activations(9, 4, t.proj.cols);
        let r = gemm::matmul_f32(&x, 4, &t.w, t.proj.rows, t.proj.cols).expect("reference");
        // operands truncated to 4 significant bits (an fp8-like path)
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
    fn a_non_finite_weight_fails_every_check_naming_its_position() {
        let (mut t, x, r) = setup("q_proj");
        t.w[3 * t.proj.cols + 5] = f32::NAN;
        let c = run_on(&Nf4Format, &cpu(), &t, &x, 1, &r);
        assert_eq!(c.verdict, Verdict::Failed);
        let why = c.reason.unwrap_or_default();
        assert!(
            why.contains("NaN at [3, 5]") && why.contains("q_proj"),
            "{why}"
        );
        t.w[0] = f32::NEG_INFINITY;
        let c = run_on(&Int8Llm, &cpu(), &t, &x, 1, &r);
        assert!(c.reason.unwrap_or_default().contains("-inf at [0, 0]"));
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

    /// Prints the kernel and format errors on tiny and Mistral shapes over several seeds:
    /// `cargo test --release --lib calibrate_bounds -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn calibrate_bounds() {
        let fm = Formats::new(16, 32.0, 1);
        let mistral = crate::smoke::ModelConfig::mistral_7b_v01().projections(0);
        let tiny = tiny().projections(0);
        for p in [&tiny[0], &tiny[6], &mistral[0], &mistral[1], &mistral[6]] {
            for seed in 1..=2u64 {
                let t = model::synthetic(p, seed, 1);
                let env = RunEnv { seed, ..env() };
                let line: Vec<String> = projection(&cpu(), &fm, &t, &env, &Progress::none(), None)
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {:.1e}/{:.1e} fmt {:.1e}/{:.1e}",
                            c.id,
                            c.kernel_error.unwrap_or(f64::NAN),
                            c.kernel_bound.unwrap_or(f64::NAN),
                            c.format_error.unwrap_or(f64::NAN),
                            c.format_bound.unwrap_or(f64::NAN)
                        )
                    })
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

    /// The 16-bit GEMM kernel's error against the exact product of the rounded operands, at
    /// Mistral's K (the accumulation depth), few rows:
    /// `cargo test --lib calibrate_gemm -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn calibrate_gemm() {
        for cols in [4096usize, 14336] {
            let p = Projection {
                short: "down_proj",
                name: "w".into(),
                rows: 64,
                cols,
            };
            for seed in 1..=3u64 {
                let t = model::synthetic(&p, seed, 1);
                let (x, _) = model::activations(seed, 8, cols);
                let r = gemm::matmul_f32(&x, 8, &t.w, p.rows, cols).expect("reference");
                for h in [Half::F16, Half::BF16] {
                    let c = run_on(&Gemm(h), &cpu(), &t, &x, 8, &r);
                    println!(
                        "K {cols} seed {seed} {:?}: kernel {:.2e} bound {:.2e} format {:.2e}/{:.2e} {:?}",
                        h,
                        c.kernel_error.unwrap_or(f64::NAN),
                        c.kernel_bound.unwrap_or(f64::NAN),
                        c.format_error.unwrap_or(f64::NAN),
                        c.format_bound.unwrap_or(f64::NAN),
                        c.verdict
                    );
                }
            }
        }
    }
}
