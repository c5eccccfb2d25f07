//! What a run multiplies: the model's shapes, the projections a level selects, where the weights
//! come from (resolved before any tensor is read), and the tensors themselves.
//!
//! What does not live here: reading safetensors and making synthetic weights ([`super::model`]),
//! and the checks that use them ([`super::check`]).

use std::path::{Path, PathBuf};

use super::metrics::Reps;
use super::model::{self, LayerTensor, ModelConfig, Projection, WeightSource, WeightsError};
use super::{Level, SmokeError, SmokeOptions};

/// Options that make no sense (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("the LoRA rank must be at least 1")]
    LoraRank,
    #[error("the LoRA alpha must be a non-zero number, not {0}")]
    LoraAlpha(f32),
    #[error("--every-tensor needs --weights: the tensors to check")]
    EveryTensorWithoutWeights,
}

/// The model shapes, weights and activations a run uses.
pub struct Workload {
    /// What the report names: the model, or the file of `--every-tensor`.
    pub model: String,
    pub cfg: ModelConfig,
    pub source: WeightSource,
    pub weights_desc: String,
    pub projections: Vec<Projection>,
}

impl Level {
    /// The batch for the quantized matmuls (batch-1 decoding is the memory-bound case they are
    /// built for) and for the 16-bit GEMMs on the CPU.
    pub fn batches(self) -> (usize, usize) {
        match self {
            Level::Quick => (1, 8),
            Level::Full => (1, 32),
        }
    }

    /// How often each kernel is timed, on every device (see [`Reps`]).
    pub fn reps(self) -> Reps {
        match self {
            Level::Quick => Reps {
                min: 2,
                max: 10,
                budget_s: 0.02,
            },
            Level::Full => Reps {
                min: 5,
                max: 50,
                budget_s: 0.05,
            },
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

/// A pool of `COMPAT_SMOKE_THREADS` threads when that variable is a positive number (at most
/// 256); `None` means rayon's global pool.
pub fn thread_pool(vars: &dyn Fn(&str) -> Option<String>) -> Option<rayon::ThreadPool> {
    let n = vars("COMPAT_SMOKE_THREADS")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(n.min(256))
        .build()
        .ok()
}

/// Resolves the config and where the weights come from (reads no tensor yet).
pub fn workload(
    opts: &SmokeOptions,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Workload, SmokeError> {
    if opts.lora_rank == 0 {
        return Err(SmokeError::Options(OptionsError::LoraRank));
    }
    if !opts.lora_alpha.is_finite() || opts.lora_alpha == 0.0 {
        return Err(SmokeError::Options(OptionsError::LoraAlpha(
            opts.lora_alpha,
        )));
    }
    let given = match &opts.weights {
        Some(p) => Some((p.clone(), given_files(p)?)),
        None => None,
    };
    // The config: --config, else a config.json beside the given weights, else Mistral-7B-v0.1.
    let beside = given.as_ref().and_then(|(_, f)| {
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
    let source = match given {
        Some((path, files)) => WeightSource::Given { path, files },
        None => cfg
            .same_shapes_as(&ModelConfig::mistral_7b_v01())
            .then(|| model::find_in_hf_cache(vars))
            .flatten()
            .map_or(WeightSource::Synthetic, |files| WeightSource::HfCache {
                files,
            }),
    };
    let mut weights_desc = describe(&source, opts.seed);
    let mut model = cfg.name.clone();
    let projections = match (&source, opts.every_tensor) {
        (WeightSource::Given { path, files }, true) => {
            let (p, other) = model::every_tensor(files)?;
            model = path.display().to_string();
            weights_desc.push_str(&format!(
                "; every 2-D float tensor ({}), {other} other tensor(s) left out",
                p.len()
            ));
            p
        }
        (_, true) => return Err(SmokeError::Options(OptionsError::EveryTensorWithoutWeights)),
        (_, false) => opts.level.projections(cfg.projections(0)),
    };
    Ok(Workload {
        model,
        cfg,
        source,
        weights_desc,
        projections,
    })
}

/// The shards of `--weights PATH`: the file itself or the folder's `*.safetensors`.
fn given_files(p: &Path) -> Result<Vec<PathBuf>, SmokeError> {
    let bad = |source| SmokeError::Weights {
        path: p.to_path_buf(),
        source,
    };
    let files = model::safetensors_files(p).map_err(|e| bad(WeightsError::Io(e)))?;
    if files.is_empty() {
        return Err(bad(WeightsError::NoFiles));
    }
    Ok(files)
}

/// The report's one-line description of the weights.
fn describe(source: &WeightSource, seed: u64) -> String {
    match source {
        WeightSource::Given { path, files } => format!(
            "checkpoint: {} ({} file(s), --weights {})",
            files[0].display(),
            files.len(),
            path.display()
        ),
        WeightSource::HfCache { files } => format!(
            "checkpoint: mistralai/Mistral-7B-v0.1 from the Hugging Face cache ({})",
            files[0]
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        ),
        WeightSource::Synthetic => format!(
            "synthetic (seed {seed}): N(0, 0.02²) weights rounded to bf16; no checkpoint given and none in the Hugging Face cache"
        ),
    }
}

/// Loads (or makes) the tensors of the selected projections. A Hugging Face cache whose files
/// lack them falls back to synthetic weights (said in the description); a `--weights` that does
/// is bad input.
pub fn load_tensors(w: &mut Workload, seed: u64) -> Result<Vec<LayerTensor>, SmokeError> {
    match &w.source {
        WeightSource::Given { files, .. } => model::load_checkpoint(files, &w.projections),
        WeightSource::HfCache { files } => match model::load_checkpoint(files, &w.projections) {
            Ok(t) => Ok(t),
            Err(e) => {
                w.weights_desc = format!(
                    "synthetic (seed {seed}): N(0, 0.02²) weights rounded to bf16; the Hugging Face cache could not be used ({})",
                    super::chain(&e)
                );
                w.source = WeightSource::Synthetic;
                Ok(synthetic_tensors(&w.projections, seed))
            }
        },
        WeightSource::Synthetic => Ok(synthetic_tensors(&w.projections, seed)),
    }
}

fn synthetic_tensors(projs: &[Projection], seed: u64) -> Vec<LayerTensor> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_variable_sizes_a_pool() {
        let vars = |k: &str| (k == "COMPAT_SMOKE_THREADS").then(|| "3".to_string());
        assert_eq!(thread_pool(&vars).map(|p| p.current_num_threads()), Some(3));
        assert!(thread_pool(&|_| Some("0".into())).is_none());
        assert!(thread_pool(&|_| None).is_none());
    }

    #[test]
    fn one_repetition_rule_per_level() {
        for level in [Level::Quick, Level::Full] {
            let r = level.reps();
            assert!(r.min >= 2 && r.min <= r.max, "{level:?}");
            // a slow kernel runs the minimum, a fast one up to the cap
            assert_eq!(r.count(10.0), r.min);
            assert_eq!(r.count(1e-9), r.max);
        }
    }
}
