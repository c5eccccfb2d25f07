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
    /// Median with the weights evicted from every cache before each call (what a decoder
    /// reading layer after layer sees).
    ms: f64,
    /// Median with the weights left in cache by the previous call.
    hot_ms: f64,
    bytes: u64,
}

/// Reads a buffer larger than the last-level cache (twice its size, from sysfs; 1 GiB when it
/// cannot be read), so the next call finds its weights in memory, not in cache.
struct Evict {
    buf: Vec<u64>,
}

impl Evict {
    fn new() -> Evict {
        let l3 = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size")
            .ok()
            .and_then(|s| s.trim().trim_end_matches('K').parse::<usize>().ok())
            .map_or(512 << 20, |k| k << 10);
        let bytes = (2 * l3).clamp(64 << 20, 2 << 30);
        Evict {
            buf: vec![1u64; bytes / 8],
        }
    }

    fn mib(&self) -> usize {
        (self.buf.len() * 8) >> 20
    }

    fn run(&self) {
        use rayon::prelude::*;
        let s: u64 = self
            .buf
            .par_chunks(1 << 16)
            .map(|c| c.iter().sum::<u64>())
            .sum();
        std::hint::black_box(s);
    }
}

/// How long to time each kernel: at least `min` calls, more while they take less than
/// `budget_s` in all.
#[derive(Clone, Copy)]
struct Reps {
    budget_s: f64,
    min: usize,
}

/// The medians (cold, hot) in ms of timed calls after one untimed call: at least `min` calls
/// each, more while the calls themselves take less than `budget_s`.
fn time<R>(ev: &Evict, reps: Reps, mut f: impl FnMut() -> R) -> (f64, f64) {
    let Reps { budget_s, min } = reps;
    std::hint::black_box(f());
    let mut run = |cold: bool| {
        let mut v = Vec::new();
        let mut spent = 0.0;
        while v.len() < min || (spent < budget_s && v.len() < 100) {
            if cold {
                ev.run();
            }
            let t0 = Instant::now();
            std::hint::black_box(f());
            let dt = t0.elapsed().as_secs_f64();
            spent += dt;
            v.push(dt * 1e3);
        }
        metrics::median(&mut v)
    };
    let cold = run(true);
    let hot = run(false);
    (cold, hot)
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
    ev: &Evict,
    dtype: GgmlDType,
    w: &Tensor,
    x: &[f32],
    batch: usize,
    cols: usize,
    reps: Reps,
) -> candle_core::Result<Timing> {
    let q = QTensor::quantize(w, dtype)?;
    let bytes = q.storage_size_in_bytes() as u64;
    let mm = QMatMul::from_qtensor(q)?;
    let xt = Tensor::from_slice(x, (batch, cols), &Device::Cpu)?;
    let mut err = None;
    let (ms, hot_ms) = time(ev, reps, || match mm.forward(&xt) {
        Ok(y) => Some(y),
        Err(e) => {
            err = Some(e);
            None
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(Timing { ms, hot_ms, bytes }),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick {
        Reps {
            budget_s: 0.02,
            min: 3,
        }
    } else {
        Reps {
            budget_s: 0.1,
            min: 7,
        }
    };
    let ev = Evict::new();
    let bw = metrics::cpu_read_bandwidth(ev.mib());
    let threads = rayon::current_num_threads();
    println!(
        "CPU kernels vs candle 0.11 quantized matmul — {} threads, compat's kernels on {}, memory read bandwidth {bw:.1} GB/s (compat's probe over {} MiB, twice the last-level cache)",
        threads,
        Isa::best().name(),
        ev.mib()
    );
    println!(
        "ms: median with the caches emptied before each call (GB/s, share of bandwidth and ratios are of it); hot: the weights left in cache by the previous call; ratio: candle's time / compat's"
    );
    println!(
        "{:<10} {:>13} {:>5}  {:<8} {:>8} {:>8} {:>6} {:>8}  {:>8} {:>8} {:>8}  target",
        "shape",
        "",
        "batch",
        "kernel",
        "ms",
        "GB/s",
        "of bw",
        "hot ms",
        "vs Q4_0",
        "vs Q4K",
        "vs Q8_0"
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
            let (ms, hot_ms) = time(&ev, reps, nf4_mm);
            rows_out.push((
                "nf4",
                Timing {
                    ms,
                    hot_ms,
                    bytes: q4.bytes(),
                },
            ));
            let dq_mm = || nf4::matmul(&dq.nf4, &Absmax::Double(&dq.dq), rows, cols, &x, batch);
            let deq = nf4::dequantize(&dq.nf4, &dq.dq.dequantize());
            check("nf4-dq", &dq_mm(), &deq, &x, rows, cols, batch);
            let (ms, hot_ms) = time(&ev, reps, dq_mm);
            rows_out.push((
                "nf4-dq",
                Timing {
                    ms,
                    hot_ms,
                    bytes: dq.dq.bytes(dq.nf4.packed.len()),
                },
            ));
            let i8_mm = || int8::matmul(&i8w, &x, batch, int8::THRESHOLD);
            let (ms, hot_ms) = time(&ev, reps, i8_mm);
            rows_out.push((
                "int8",
                Timing {
                    ms,
                    hot_ms,
                    bytes: i8w.bytes(),
                },
            ));
            for (name, dt) in [
                ("q4_0", GgmlDType::Q4_0),
                ("q4k", GgmlDType::Q4K),
                ("q8_0", GgmlDType::Q8_0),
            ] {
                match candle_time(&ev, dt, &wt, &x, batch, cols, reps) {
                    Ok(tm) => rows_out.push((name, tm)),
                    Err(e) => eprintln!("kernels: candle {name}: {e}"),
                }
            }
            let ms_of = |n: &str| rows_out.iter().find(|(k, _)| *k == n).map(|(_, t)| t.ms);
            let (q40, q4k, q80) = (ms_of("q4_0"), ms_of("q4k"), ms_of("q8_0"));
            for (name, tm) in &rows_out {
                let gbs = tm.bytes as f64 / (tm.ms / 1e3) / 1e9;
                let frac = gbs / bw;
                let ratio =
                    |c: Option<f64>| c.map_or("—".to_string(), |c| format!("{:.2}x", c / tm.ms));
                let ours = !name.starts_with('q');
                let (v4, vk, v8) = if ours {
                    (ratio(q40), ratio(q4k), ratio(q80))
                } else {
                    (String::new(), String::new(), String::new())
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
                    "{:<10} {:>13} {:>5}  {:<8} {:>8.2} {:>8.1} {:>5.0}% {:>8.2}  {:>8} {:>8} {:>8}  {target}",
                    short,
                    format!("{rows}x{cols}"),
                    batch,
                    name,
                    tm.ms,
                    gbs,
                    100.0 * frac,
                    tm.hot_ms,
                    v4,
                    vk,
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
