//! `compat smoke`: the compressions the seed's stack exists for, run for real on Mistral layers.
//!
//! A matrix row that says "bitsandbytes ✅" is only evidence once an 8-bit and a 4-bit
//! quantize-and-multiply actually ran correctly here. This module runs them, on the CPU always
//! and on the GPU when there is one, each checked against an f32 reference with an error bound
//! that a wrong kernel cannot meet:
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
//! What lives here: shapes and weights ([`model`]), the formats and CPU kernels ([`nf4`],
//! [`int8`], [`lora`], [`sparse`], [`gemm`]), the checks and their bounds ([`checks`]), the CUDA
//! path ([`cuda`], kernels in `kernels/*.cu`), the seed's claims ([`claims`]), `--dump`
//! ([`dump`](mod@dump)) and the table. What does not: deciding matrix cells (that is `verify`, fed
//! by [`SmokeReport`]) and the CLI.
//!
//! A check that could not run is `unverified` with the reason (no GPU is a skip, never a pass);
//! one that ran and missed its bound is `failed` with the numbers. [`SmokeError`] is only for
//! bad input: an unreadable config or checkpoint.

pub mod checks;
pub mod claims;
pub mod cuda;
pub mod dump;
pub mod gemm;
pub mod int8;
pub mod lora;
pub mod metrics;
pub mod model;
pub mod nf4;
pub mod par;
pub mod sparse;
mod table;
#[cfg(test)]
pub(crate) mod testutil;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::model::Verdict;
pub use checks::Bounds;
pub use model::{ModelConfig, Projection, WeightSource};
pub use table::render_table;

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// One layer's `q_proj` and `down_proj`, batch 1 for the quantized matmuls, 8 for the GEMMs.
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
            lora_rank: 16,
            lora_alpha: 32.0,
            seed: 20261128,
            progress: false,
        }
    }
}

/// Bad input: the tool cannot run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("cannot read model config `{path}`: {why}")]
    Config { path: PathBuf, why: String },
    #[error("cannot read weights `{path}`: {why}")]
    Weights { path: PathBuf, why: String },
    #[error("cannot write `{path}`: {why}")]
    Dump { path: PathBuf, why: String },
    #[error("invalid smoke options: {0}")]
    Options(String),
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

    /// The checks with `id`, on `device` (`cpu` or `cuda`).
    pub fn checks_for<'a>(
        &'a self,
        id: &'a str,
        device: &'a str,
    ) -> impl Iterator<Item = &'a SmokeCheck> {
        self.checks
            .iter()
            .filter(move |c| c.id == id && c.device == device)
    }

    /// One verdict for a check id on a device: failed if any projection failed, verified if all
    /// ran and passed, else unverified (none ran, or some were skipped).
    pub fn verdict(&self, id: &str, device: &str) -> Option<Verdict> {
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
    /// One of [`crate::model::SmokeCheckId`], as its kebab-case id.
    pub id: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// The tensor (`model.layers.0.mlp.down_proj`), or `model.layers.0` for a whole layer.
    pub layer: String,
    /// `[out]x[in]` and the batch.
    pub shape: String,
    pub verdict: Verdict,
    /// Why it is not verified.
    pub reason: Option<String>,
    /// `max |y - ref| / max |ref|` against the f32 reference.
    pub max_rel_error: Option<f64>,
    pub bound: Option<f64>,
    pub compressed_bytes: Option<u64>,
    pub fp16_bytes: Option<u64>,
    /// The kernel's time (median of the repetitions).
    pub time_ms: Option<f64>,
    pub throughput: Option<String>,
    pub evidence: Vec<String>,
}

impl SmokeCheck {
    pub(crate) fn new(id: &str, device: &str, layer: &str, shape: String) -> Self {
        SmokeCheck {
            id: id.into(),
            device: device.into(),
            layer: layer.into(),
            shape,
            verdict: Verdict::Unverified,
            reason: None,
            max_rel_error: None,
            bound: None,
            compressed_bytes: None,
            fp16_bytes: None,
            time_ms: None,
            throughput: None,
            evidence: Vec::new(),
        }
    }

    pub(crate) fn skipped(
        id: &str,
        device: &str,
        layer: &str,
        shape: String,
        reason: &str,
    ) -> Self {
        let mut c = SmokeCheck::new(id, device, layer, shape);
        c.reason = Some(reason.to_string());
        c
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

/// The model shapes, weights and activations a run uses.
pub(crate) struct Workload {
    pub cfg: ModelConfig,
    pub source: WeightSource,
    pub weights_desc: String,
    pub projections: Vec<Projection>,
}

impl Level {
    /// The batch for the quantized matmuls (batch-1 decoding is the memory-bound case they are
    /// built for) and for the 16-bit GEMMs.
    pub fn batches(self) -> (usize, usize) {
        match self {
            Level::Quick => (1, 8),
            Level::Full => (1, 32),
        }
    }

    /// Timed repetitions of each kernel.
    pub fn reps(self) -> usize {
        match self {
            Level::Quick => 2,
            Level::Full => 5,
        }
    }

    pub fn projections(self, all: Vec<Projection>) -> Vec<Projection> {
        match self {
            Level::Quick => all
                .into_iter()
                .filter(|p| p.short == "q_proj" || p.short == "down_proj")
                .collect(),
            Level::Full => all,
        }
    }
}

/// Resolves the config and where the weights come from (reads no tensor yet).
pub(crate) fn workload(
    opts: &SmokeOptions,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Workload, SmokeError> {
    if opts.lora_rank == 0 {
        return Err(SmokeError::Options(
            "the LoRA rank must be at least 1".into(),
        ));
    }
    if !opts.lora_alpha.is_finite() || opts.lora_alpha == 0.0 {
        return Err(SmokeError::Options(format!(
            "the LoRA alpha must be a non-zero number, not {}",
            opts.lora_alpha
        )));
    }
    let weight_files = match &opts.weights {
        Some(p) => {
            let files = model::safetensors_files(p).map_err(|e| SmokeError::Weights {
                path: p.clone(),
                why: e.to_string(),
            })?;
            if files.is_empty() {
                return Err(SmokeError::Weights {
                    path: p.clone(),
                    why: "no .safetensors files there".into(),
                });
            }
            Some((files, format!("--weights {}", p.display())))
        }
        None => None,
    };
    // The config: --config, else a config.json beside the given weights, else Mistral-7B-v0.1.
    let beside = weight_files.as_ref().and_then(|(f, _)| {
        f.first()
            .and_then(|p| p.parent())
            .map(|d| d.join("config.json"))
            .filter(|c| c.is_file())
    });
    let cfg = match (&opts.config, &beside) {
        (Some(c), _) => ModelConfig::load(c)?,
        (None, Some(c)) => ModelConfig::load(c)?,
        (None, None) => ModelConfig::mistral_7b_v01(),
    };
    let (source, weights_desc) = match weight_files {
        Some((files, origin)) => (
            WeightSource::Checkpoint {
                files: files.clone(),
                origin: origin.clone(),
            },
            format!(
                "checkpoint: {} ({} file(s), {origin})",
                files[0].display(),
                files.len()
            ),
        ),
        None => {
            let cached = cfg
                .same_shapes_as(&ModelConfig::mistral_7b_v01())
                .then(|| model::find_in_hf_cache(vars))
                .flatten();
            match cached {
                Some(files) => (
                    WeightSource::Checkpoint {
                        files: files.clone(),
                        origin: "Hugging Face cache".into(),
                    },
                    format!(
                        "checkpoint: mistralai/Mistral-7B-v0.1 from the Hugging Face cache ({})",
                        files[0].parent().map(|d| d.display().to_string()).unwrap_or_default()
                    ),
                ),
                None => (
                    WeightSource::Synthetic,
                    format!(
                        "synthetic (seed {}): N(0, 0.02²) weights rounded to bf16; no checkpoint given and none in the Hugging Face cache",
                        opts.seed
                    ),
                ),
            }
        }
    };
    let projections = opts.level.projections(cfg.projections(0));
    Ok(Workload {
        cfg,
        source,
        weights_desc,
        projections,
    })
}

/// Loads (or makes) the tensors of the selected projections. A Hugging Face cache whose files
/// lack them falls back to synthetic weights (said in the description); a `--weights` that does
/// is bad input.
pub(crate) fn load_tensors(
    w: &mut Workload,
    seed: u64,
) -> Result<Vec<model::LayerTensor>, SmokeError> {
    match &w.source {
        WeightSource::Checkpoint { files, origin } => {
            match model::load_checkpoint(files, &w.projections) {
                Ok(t) => Ok(t),
                Err(e) if origin == "Hugging Face cache" => {
                    w.weights_desc = format!(
                    "synthetic (seed {seed}): N(0, 0.02²) weights rounded to bf16; the Hugging Face cache could not be used ({e})"
                );
                    w.source = WeightSource::Synthetic;
                    Ok(synthetic_tensors(&w.projections, seed))
                }
                Err(e) => Err(e),
            }
        }
        WeightSource::Synthetic => Ok(synthetic_tensors(&w.projections, seed)),
    }
}

fn synthetic_tensors(projs: &[Projection], seed: u64) -> Vec<model::LayerTensor> {
    projs
        .iter()
        .map(|p| {
            let id = CHECK_ORDER.iter().position(|s| *s == p.short).unwrap_or(0) as u64;
            model::synthetic(p, seed, id)
        })
        .collect()
}

/// The projection order (stable stream ids for synthetic weights).
const CHECK_ORDER: &[&str] = &[
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// Runs the smoke checks. `host` gives the GPU facts; the GPU itself is opened through the CUDA
/// driver only after checking that `libcuda` is present.
pub fn run(opts: &SmokeOptions, host: &crate::probe::HostFacts) -> Result<SmokeReport, SmokeError> {
    let t0 = Instant::now();
    let vars = |k: &str| std::env::var(k).ok();
    let mut w = workload(opts, &vars)?;
    let tensors = load_tensors(&mut w, opts.seed)?;
    if let Some(dir) = &opts.dump {
        std::fs::create_dir_all(dir).map_err(|e| SmokeError::Dump {
            path: dir.clone(),
            why: e.to_string(),
        })?;
    }
    let progress = checks::Progress::new(opts, &tensors);
    let mut out = Vec::new();
    let mut dumped = false;
    if opts.device != DeviceChoice::Cuda {
        out.extend(checks::run_cpu(opts, &tensors, &progress)?);
        dumped = opts.dump.is_some();
    }
    let gpu = match opts.device {
        DeviceChoice::Cpu => None,
        DeviceChoice::Auto | DeviceChoice::Cuda => {
            let g = cuda::run(opts, host, &tensors, &progress);
            out.extend(g.checks);
            Some(g.summary)
        }
    };
    progress.finish();
    if let (Some(dir), false) = (&opts.dump, dumped) {
        dump::write_all(opts, &tensors, dir)?;
    }
    let claims = claims::measure(&w.cfg, opts, &out);
    Ok(SmokeReport {
        model: w.cfg.name.clone(),
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
    let mut w = workload(opts, &vars)?;
    let tensors = load_tensors(&mut w, opts.seed)?;
    std::fs::create_dir_all(dir).map_err(|e| SmokeError::Dump {
        path: dir.to_path_buf(),
        why: e.to_string(),
    })?;
    dump::write_all(opts, &tensors, dir)
}
