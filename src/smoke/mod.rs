//! `compat smoke`: the compressions the seed's stack exists for, run for real on Mistral layers.
//!
//! A matrix row that says "bitsandbytes ✅" is only evidence once an 8-bit and a 4-bit
//! quantize-and-multiply actually ran correctly here. This module runs them, on the CPU always
//! and on the GPU when there is one:
//!
//! | id | what | library row |
//! |---|---|---|
//! | `int8-llm` | LLM.int8 vector-wise int8 with outlier decomposition (threshold 6.0) | bitsandbytes |
//! | `nf4` | NF4, blocks of 64, bitsandbytes' own format | bitsandbytes |
//! | `nf4-dq` | the same with double-quantized absmax | bitsandbytes |
//! | `lora` | LoRA forward and merge | peft |
//! | `sparse-2-4` | 2:4 pruning by magnitude and the sparse matmul | sparsegpt |
//! | `gemm-fp16`, `gemm-bf16` | 16-bit GEMM (candle on the CPU, cuBLAS on the GPU) | torch |
//! | `safetensors-roundtrip` | a whole layer written and read back, bytes identical | safetensors |
//!
//! The verdict is whether the kernel computed its format right: the kernel against that format's
//! own product, computed exactly from the stored codes and scales, under the f32 rounding bound
//! (a wrong packing, block, scale or index cannot meet it, whatever the weights' statistics). What
//! the format costs against the original weights is measured and reported beside it, with the
//! format's worst case on those weights, and never decides the verdict.
//!
//! One pipeline serves both devices. Each format is a type implementing [`formats::Format`]
//! (quantize, decode, the CPU matmul, the bytes it keeps, how its result is judged); each device
//! is a [`backend::Backend`] that runs every format's kernels ([`cpu::Cpu`], [`gpu::Cuda`]); the
//! one generic check and the one judge are in [`check`]. What lives here besides: shapes and
//! weights ([`model`], [`workload`]), timing and error metrics ([`metrics`]), the whole-layer
//! file check ([`roundtrip`]), the seed's claims ([`claims`]) and `--dump` ([`dump`](mod@dump)).
//! What does not: deciding matrix cells (that is `verify`, fed by [`SmokeReport`]), rendering the
//! report (`report::smoke`) and the CLI.
//!
//! A check that could not run is `unverified` with the reason (no GPU is a skip, never a pass);
//! one that ran and missed its bound is `failed` with the numbers; a weight that holds inf or NaN
//! fails every check of its tensor, naming the position. [`SmokeError`] is only for
//! bad input: an unreadable config or checkpoint, an unwritable dump folder.

pub mod backend;
pub mod check;
pub mod claims;
pub mod cpu;
pub mod dump;
pub mod formats;
pub mod gpu;
pub mod hard;
pub mod metrics;
pub mod model;
pub mod progress;
pub mod rng;
pub mod roundtrip;
#[cfg(test)]
pub(crate) mod testutil;
pub mod workload;

use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::model::{SmokeCheckId, Verdict};
pub use formats::{gemm, int8, lora, nf4, sparse24};
pub use model::{ModelConfig, Projection, WeightSource};

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// The first 512 rows of one layer's `q_proj` and `down_proj` (every column), batch 1 for the
    /// quantized matmuls, 8 for the GEMMs.
    Quick,
    /// Every projection of one decoder layer, batch 1 and 32.
    Full,
}

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// The CPU, and the GPU when one is usable (its checks are `unverified` when not).
    Auto,
    Cpu,
    /// The GPU only (the f32 references still run on the CPU).
    Cuda,
}

/// The device a check ran on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Cuda,
}

impl Device {
    pub const ALL: [Device; 2] = [Device::Cpu, Device::Cuda];

    pub fn as_str(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct SmokeOptions {
    pub level: Level,
    pub device: DeviceChoice,
    /// A Hugging Face `config.json`; Mistral-7B-v0.1 when absent.
    pub config: Option<PathBuf>,
    /// A `.safetensors` file or a folder of shards.
    pub weights: Option<PathBuf>,
    /// Write every compressed tensor here (see [`dump()`]).
    pub dump: Option<PathBuf>,
    /// Check every 2-D float tensor of `weights` under its own name instead of a model's
    /// projections (no config: the shapes are the tensors').
    pub every_tensor: bool,
    pub lora_rank: usize,
    pub lora_alpha: f32,
    pub seed: u64,
    /// Progress bars on stderr.
    pub progress: bool,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        SmokeOptions {
            level: Level::Quick,
            device: DeviceChoice::Auto,
            config: None,
            weights: None,
            dump: None,
            every_tensor: false,
            lora_rank: 16,
            lora_alpha: 32.0,
            seed: 20261128,
            progress: false,
        }
    }
}

/// Bad input: the tool cannot run (exit 2). Each variant names the file and carries the cause.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("cannot read model config `{path}`")]
    Config {
        path: PathBuf,
        #[source]
        source: model::ConfigError,
    },
    #[error("cannot read weights `{path}`")]
    Weights {
        path: PathBuf,
        #[source]
        source: model::WeightsError,
    },
    #[error("cannot write `{path}`")]
    Dump {
        path: PathBuf,
        #[source]
        source: dump::DumpError,
    },
    #[error("invalid smoke options")]
    Options(#[source] workload::OptionsError),
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SmokeReport {
    pub model: String,
    /// Which weights were used: the checkpoint and how it was found, or the synthetic recipe.
    pub weights: String,
    pub checks: Vec<SmokeCheck>,
    pub claims: Vec<ClaimMeasurement>,
    /// The GPU used, or why none was.
    pub gpu: Option<String>,
    pub total_ms: f64,
}

impl SmokeReport {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Failed)
    }

    /// The checks with `id`, on `device`.
    pub fn checks_for(
        &self,
        id: SmokeCheckId,
        device: Device,
    ) -> impl Iterator<Item = &SmokeCheck> + '_ {
        self.checks
            .iter()
            .filter(move |c| c.id == id && c.device == device)
    }

    /// One verdict for a check id on a device: failed if any projection failed, verified if all
    /// ran and passed, else unverified (none ran, or some were skipped).
    pub fn verdict(&self, id: SmokeCheckId, device: Device) -> Option<Verdict> {
        let v: Vec<Verdict> = self.checks_for(id, device).map(|c| c.verdict).collect();
        if v.is_empty() {
            None
        } else if v.contains(&Verdict::Failed) {
            Some(Verdict::Failed)
        } else if v.iter().all(|x| *x == Verdict::Verified) {
            Some(Verdict::Verified)
        } else {
            Some(Verdict::Unverified)
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SmokeCheck {
    pub id: SmokeCheckId,
    pub device: Device,
    /// The tensor (`model.layers.0.mlp.down_proj`), or `model.layers.0` for a whole layer.
    pub layer: String,
    /// `[out]x[in]` and the batch.
    pub shape: String,
    pub verdict: Verdict,
    /// Why it is not verified.
    pub reason: Option<String>,
    /// The verdict's comparison: the kernel against the same format's product computed exactly
    /// from the stored codes and scales, as `max |y - ref| / Σ|terms|` over the outputs (see
    /// [`formats::reference`]).
    pub kernel_error: Option<f64>,
    /// The f32 rounding a correct kernel can make, in the same units: `kernel_error` above it
    /// fails the check, whatever the weights.
    pub kernel_bound: Option<f64>,
    /// What the format costs, a measurement and never the verdict: `max |ref - f32 product of
    /// the original weights| / max |f32 product|`. `None` where the difference is not an error
    /// (LoRA's adapter).
    pub format_error: Option<f64>,
    /// The format's worst case on these weights, in the same units (from its stored scales),
    /// where the format is a quantization or a rounding.
    pub format_bound: Option<f64>,
    /// Off the CPU: whether the device's stored bytes are the CPU's (bitsandbytes') bytes.
    pub same_bytes: Option<bool>,
    pub compressed_bytes: Option<u64>,
    pub fp16_bytes: Option<u64>,
    /// The kernel's time: the median of the repetitions (see [`metrics::Reps`]).
    pub time_ms: Option<f64>,
    /// GB/s read (and the share of the device's measured bandwidth), or FLOP/s for a GEMM.
    pub throughput: Option<String>,
    pub evidence: Vec<String>,
}

impl SmokeCheck {
    pub(crate) fn new(id: SmokeCheckId, device: Device, layer: &str, shape: String) -> Self {
        SmokeCheck {
            id,
            device,
            layer: layer.into(),
            shape,
            verdict: Verdict::Unverified,
            reason: None,
            kernel_error: None,
            kernel_bound: None,
            format_error: None,
            format_bound: None,
            same_bytes: None,
            compressed_bytes: None,
            fp16_bytes: None,
            time_ms: None,
            throughput: None,
            evidence: Vec::new(),
        }
    }

    pub(crate) fn skip(mut self, reason: impl Into<String>) -> Self {
        self.verdict = Verdict::Unverified;
        self.reason = Some(reason.into());
        self
    }

    pub(crate) fn fail(mut self, reason: impl Into<String>) -> Self {
        self.verdict = Verdict::Failed;
        self.reason = Some(reason.into());
        self
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ClaimMeasurement {
    pub library: String,
    pub claim: String,
    pub measured: Option<String>,
    /// `None` when it could not be measured here.
    pub holds: Option<bool>,
    /// What was counted or timed, exactly.
    pub how: String,
}

/// An error and its causes on one line (`a: b: c`), for a check's reason.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Runs the smoke checks. `host` gives the GPU facts; the GPU itself is opened through the CUDA
/// driver only after checking that `libcuda` is present. The CPU kernels run on rayon's pool
/// (`COMPAT_SMOKE_THREADS` sets its size for this run, as `RAYON_NUM_THREADS` does globally).
pub fn run(opts: &SmokeOptions, host: &crate::probe::HostFacts) -> Result<SmokeReport, SmokeError> {
    let vars = |k: &str| std::env::var(k).ok();
    match workload::thread_pool(&vars) {
        Some(pool) => pool.install(|| run_here(opts, host, &vars)),
        None => run_here(opts, host, &vars),
    }
}

fn run_here(
    opts: &SmokeOptions,
    host: &crate::probe::HostFacts,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<SmokeReport, SmokeError> {
    let t0 = Instant::now();
    let mut w = workload::workload(opts, vars)?;
    let tensors = workload::load_tensors(&mut w, opts.seed)?;
    if let Some(dir) = &opts.dump {
        dump::create_dir(dir)?;
    }
    let progress = progress::Progress::new(opts, &tensors);
    let mut out = Vec::new();
    let mut dumped = false;
    if opts.device != DeviceChoice::Cuda {
        out.extend(cpu::run(opts, &tensors, &progress)?);
        dumped = opts.dump.is_some();
    }
    let gpu = match opts.device {
        DeviceChoice::Cpu => None,
        DeviceChoice::Auto | DeviceChoice::Cuda => {
            let g = gpu::run(opts, host, &tensors, &progress);
            out.extend(g.checks);
            Some(g.summary)
        }
    };
    progress.finish();
    if let (Some(dir), false) = (&opts.dump, dumped) {
        dump::write_all(opts, &tensors, dir)?;
    }
    // the seed's claims are about a model; tensors of no model have none
    let claims = if opts.every_tensor {
        Vec::new()
    } else {
        claims::measure(&w.cfg, opts, &out)
    };
    Ok(SmokeReport {
        model: w.model.clone(),
        weights: w.weights_desc.clone(),
        checks: out,
        claims,
        gpu,
        total_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// `--dump DIR` on its own: loads the weights of `opts` and writes every compressed tensor as
/// safetensors in bitsandbytes' own layouts and dtypes (see [`dump`](mod@dump)), each file
/// atomically. Returns the files written.
pub fn dump(opts: &SmokeOptions, dir: &std::path::Path) -> Result<Vec<PathBuf>, SmokeError> {
    let vars = |k: &str| std::env::var(k).ok();
    let mut w = workload::workload(opts, &vars)?;
    let tensors = workload::load_tensors(&mut w, opts.seed)?;
    dump::create_dir(dir)?;
    dump::write_all(opts, &tensors, dir)
}
