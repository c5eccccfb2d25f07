//! The CPU kernel benchmark: compat's NF4, NF4-DQ and LLM.int8 dequantize-matmuls against
//! candle's quantized matmul (Q4_0, Q4K, Q8_0) on the same Mistral-7B shapes, batch 1 and 8.
//!
//! `cargo run --release --example kernels [-- --quick]` (bench/run.sh runs it). For each kernel:
//! the median time, GB/s (bytes of the quantized weight one call reads / time), that as a share
//! of the memory read bandwidth compat measures (the same probe `compat smoke` uses), and the
//! ratio against candle (its time / ours: above 1 means compat is faster). The targets (NF4 and
//! NF4-DQ at batch 1: ≥ 50% of the bandwidth and ≥ 2× candle's Q4_0; int8 at batch 1: ≥ 70% and
//! at least as fast as Q8_0) are printed as met or missed, never asserted: this is a benchmark.
//! `COMPAT_SMOKE_ISA=scalar|avx2|avx512` runs compat's kernels on another instruction set.
//!
//! compat's NF4 and NF4-DQ results are checked against the f64 product of their decoded weights
//! before they are timed, so a fast wrong kernel is an error (exit 1), not a figure; int8's
//! integer path is exact and tested in the unit tests and by `compat smoke`.

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use compat::smoke::formats::nf4::{self, Absmax};
use compat::smoke::formats::simd::Isa;
use compat::smoke::formats::{int8, nf4_dq};
use compat::smoke::metrics;
use compat::smoke::model::{self, ModelConfig};

struct Timing {
    ms: f64,
    bytes: u64,
}

/// The median of `reps` timed calls after one untimed call, with at least `min` calls and up to
/// `budget_s` seconds in all.
fn time<R>(budget_s: f64, min: usize, mut f: impl FnMut() -> R) -> f64 {
    std::hint::black_box(f());
    let mut v = Vec::new();
    let t_all = Instant::now();
    while v.len() < min || (t_all.elapsed().as_secs_f64() < budget_s && v.len() < 200) {
        let t0 = Instant::now();
        std::hint::black_box(f());
        v.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    metrics::median(&mut v)
}

/// The worst relative difference of `y` from the f64 product of the decoded weight `w`.
fn check(name: &str, y: &[f32], w: &[f32], x: &[f32], rows: usize, cols: usize, batch: usize) {
    let mut worst = 0f64;
    for b in 0..batch {
        for r in 0..rows {
            let (mut s, mut t) = (0f64, 0f64);
            for k in 0..cols {
                let p = f64::from(w[r * cols + k]) * f64::from(x[b * cols + k]);
                s += p;
                t += p.abs();
            }
            worst = worst.max((f64::from(y[b * rows + r]) - s).abs() / t.max(1e-30));
        }
    }
    // f32 rounding of `cols` operations, with room for int8's scaling
    let bound = (cols + 16) as f64 * f64::from(f32::EPSILON);
    if worst > bound {
        eprintln!("kernels: {name} disagrees with its reference: {worst:.2e} > {bound:.1e}");
        std::process::exit(1);
    }
}

fn candle_time(
    dtype: GgmlDType,
    w: &Tensor,
    x: &[f32],
    batch: usize,
    cols: usize,
    budget: f64,
) -> candle_core::Result<Timing> {
    let q = QTensor::quantize(w, dtype)?;
    let bytes = q.storage_size_in_bytes() as u64;
    let mm = QMatMul::from_qtensor(q)?;
    let xt = Tensor::from_slice(x, (batch, cols), &Device::Cpu)?;
    let mut err = None;
    let ms = time(budget, 5, || match mm.forward(&xt) {
        Ok(y) => Some(y),
        Err(e) => {
            err = Some(e);
            None
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(Timing { ms, bytes }),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick { 0.15 } else { 0.6 };
    let bw = metrics::cpu_read_bandwidth(512);
    let threads = rayon::current_num_threads();
    println!(
        "CPU kernels vs candle {} quantized matmul — {} threads, compat's kernels on {}, memory read bandwidth {bw:.1} GB/s (compat's probe, 512 MiB)",
        "0.11",
        threads,
        Isa::best().name()
    );
    println!(
        "{:<10} {:>13} {:>5}  {:<8} {:>8} {:>8} {:>6}  {:>10} {:>10}  target",
        "shape", "", "batch", "kernel", "ms", "GB/s", "of bw", "vs Q4_0", "vs Q8_0"
    );
    let projs = ModelConfig::mistral_7b_v01().projections(0);
    let mut met_all = true;
    for short in ["down_proj", "q_proj"] {
        let Some(p) = projs.iter().find(|p| p.short == short) else {
            continue;
        };
        let (rows, cols) = (p.rows, p.cols);
        let t = model::synthetic(p, 20261128, 6);
        let wt = match Tensor::from_slice(&t.w, (rows, cols), &Device::Cpu) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("kernels: {e}");
                std::process::exit(1);
            }
        };
        let q4 = nf4::quantize(&t.w);
        let dq = nf4_dq::from_nf4(q4.clone());
        let i8w = int8::quantize(&t.w, rows, cols, 0.0);
        for batch in [1usize, 8] {
            let (x, _) = model::activations(7, batch, cols);
            let mut rows_out: Vec<(&str, Timing)> = Vec::new();
            // compat: checked against the decoded weights first, then timed
            let nf4_mm = || nf4::matmul(&q4, &Absmax::F32(&q4.absmax), rows, cols, &x, batch);
            check(
                "nf4",
                &nf4_mm(),
                &nf4::dequantize(&q4, &q4.absmax),
                &x,
                rows,
                cols,
                batch,
            );
            rows_out.push((
                "nf4",
                Timing {
                    ms: time(budget, 5, nf4_mm),
                    bytes: q4.bytes(),
                },
            ));
            let dq_mm = || nf4::matmul(&dq.nf4, &Absmax::Double(&dq.dq), rows, cols, &x, batch);
            let deq = nf4::dequantize(&dq.nf4, &dq.dq.dequantize());
            check("nf4-dq", &dq_mm(), &deq, &x, rows, cols, batch);
            rows_out.push((
                "nf4-dq",
                Timing {
                    ms: time(budget, 5, dq_mm),
                    bytes: dq.dq.bytes(dq.nf4.packed.len()),
                },
            ));
            let i8_mm = || int8::matmul(&i8w, &x, batch, int8::THRESHOLD);
            let i8_ms = time(budget, 5, i8_mm);
            rows_out.push((
                "int8",
                Timing {
                    ms: i8_ms,
                    bytes: i8w.bytes(),
                },
            ));
            for (name, dt) in [
                ("q4_0", GgmlDType::Q4_0),
                ("q4k", GgmlDType::Q4K),
                ("q8_0", GgmlDType::Q8_0),
            ] {
                match candle_time(dt, &wt, &x, batch, cols, budget) {
                    Ok(tm) => rows_out.push((name, tm)),
                    Err(e) => eprintln!("kernels: candle {name}: {e}"),
                }
            }
            let ms_of = |n: &str| rows_out.iter().find(|(k, _)| *k == n).map(|(_, t)| t.ms);
            let (q40, q80) = (ms_of("q4_0"), ms_of("q8_0"));
            for (name, tm) in &rows_out {
                let gbs = tm.bytes as f64 / (tm.ms / 1e3) / 1e9;
                let frac = gbs / bw;
                let ratio =
                    |c: Option<f64>| c.map_or("—".to_string(), |c| format!("{:.2}x", c / tm.ms));
                let ours = !name.starts_with('q');
                let (v4, v8) = if ours {
                    (ratio(q40), ratio(q80))
                } else {
                    (String::new(), String::new())
                };
                // the targets, at batch 1 (memory-bound)
                let target = match (*name, batch) {
                    ("nf4" | "nf4-dq", 1) => {
                        let ok = frac >= 0.5 && q40.is_some_and(|c| c / tm.ms >= 2.0);
                        met_all &= ok;
                        format!(
                            "≥50% of bw, ≥2x Q4_0: {}",
                            if ok { "met" } else { "missed" }
                        )
                    }
                    ("int8", 1) => {
                        let ok = frac >= 0.7 && q80.is_some_and(|c| c / tm.ms >= 1.0);
                        met_all &= ok;
                        format!(
                            "≥70% of bw, ≥1x Q8_0: {}",
                            if ok { "met" } else { "missed" }
                        )
                    }
                    _ => String::new(),
                };
                println!(
                    "{:<10} {:>13} {:>5}  {:<8} {:>8.2} {:>8.1} {:>5.0}%  {:>10} {:>10}  {target}",
                    short,
                    format!("{rows}x{cols}"),
                    batch,
                    name,
                    tm.ms,
                    gbs,
                    100.0 * frac,
                    v4,
                    v8
                );
            }
        }
    }
    println!(
        "kernel targets (batch 1): {}",
        if met_all { "all met" } else { "not all met" }
    );
}
