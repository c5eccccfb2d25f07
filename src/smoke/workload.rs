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
    /// At most this many rows of each projection are multiplied (all its columns): the quick
    /// level's smoke-sized slice; `None` for whole tensors.
    pub rows_limit: Option<usize>,
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

    /// The rows of each projection a level multiplies: quick takes the first [`QUICK_ROWS`] rows
    /// of each (every column, so the inner dimension, the block layout and the row stride stay
    /// the model's), which makes it a smoke test of seconds rather than a benchmark; full takes
    /// whole tensors.
    pub fn rows_limit(self) -> Option<usize> {
        match self {
            Level::Quick => Some(QUICK_ROWS),
            Level::Full => None,
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

/// The output rows of each projection the quick level multiplies (a multiple of 64 so every
/// format's blocks stay whole): 512 of `q_proj`'s 4096 and of `down_proj`'s 4096, an eighth of
/// the layer's weights that quick used to read, so the whole quick run stays within about two
/// seconds on two cores.
pub const QUICK_ROWS: usize = 512;

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
    let rows_limit = opts.level.rows_limit().filter(|_| !opts.every_tensor);
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
    if let Some(n) = rows_limit.filter(|n| projections.iter().any(|p| p.rows > *n)) {
        weights_desc.push_str(&format!(
            "; quick level: the first {n} rows of each projection (all its columns; its GB/s are partly cache bandwidth), --level full for whole tensors"
        ));
    }
    Ok(Workload {
        model,
        cfg,
        source,
        weights_desc,
        projections,
        rows_limit,
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
    let mut tensors = load_whole(w, seed)?;
    if let Some(n) = w.rows_limit {
        for t in &mut tensors {
            first_rows(t, n);
        }
    }
    Ok(tensors)
}

/// Keeps the first `n` rows of `t` (its values and its stored bytes); a tensor of `n` rows or
/// fewer is left whole.
pub fn first_rows(t: &mut LayerTensor, n: usize) {
    if t.proj.rows <= n {
        return;
    }
    let keep = n * t.proj.cols;
    let per = t.raw.len() / t.w.len().max(1);
    t.w.truncate(keep);
    t.w.shrink_to_fit();
    t.raw.truncate(keep * per);
    t.raw.shrink_to_fit();
    t.proj.rows = n;
}

fn load_whole(w: &mut Workload, seed: u64) -> Result<Vec<LayerTensor>, SmokeError> {
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
                Ok(synthetic_tensors(&w.projections, seed, w.rows_limit))
            }
        },
        WeightSource::Synthetic => Ok(synthetic_tensors(&w.projections, seed, w.rows_limit)),
    }
}

/// Synthetic weights; with `rows_limit` only the rows that are kept are made (the same values as
/// the whole tensor's first rows: each group of rows has its own random stream).
fn synthetic_tensors(
    projs: &[Projection],
    seed: u64,
    rows_limit: Option<usize>,
) -> Vec<LayerTensor> {
    projs
        .iter()
        .map(|p| {
            let id = CHECK_ORDER.iter().position(|s| *s == p.short).unwrap_or(0) as u64;
            let mut p = p.clone();
            if let Some(n) = rows_limit {
                p.rows = p.rows.min(n);
            }
            model::synthetic(&p, seed, id)
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
    fn quick_multiplies_the_first_rows_of_the_same_weights() {
        let p = ModelConfig::mistral_7b_v01().projections(0)[6].clone();
        let small = Projection {
            rows: 40,
            cols: 128,
            ..p.clone()
        };
        let whole = synthetic_tensors(std::slice::from_ref(&small), 3, None);
        let quick = synthetic_tensors(std::slice::from_ref(&small), 3, Some(16));
        assert_eq!(quick[0].proj.rows, 16);
        assert_eq!(quick[0].proj.cols, 128);
        assert_eq!(quick[0].w, whole[0].w[..16 * 128]);
        assert_eq!(quick[0].raw, whole[0].raw[..2 * 16 * 128]);
        let mut cut = whole[0].clone();
        first_rows(&mut cut, 16);
        assert_eq!(cut.w, quick[0].w);
        assert_eq!(cut.raw, quick[0].raw);
        let mut short = quick[0].clone();
        first_rows(&mut short, 100);
        assert_eq!(short.proj.rows, 16, "fewer rows than the limit: whole");

        let opts = SmokeOptions {
            level: Level::Quick,
            ..Default::default()
        };
        let w = workload(&opts, &|_| None).expect("workload");
        assert_eq!(w.rows_limit, Some(QUICK_ROWS));
        assert!(
            w.weights_desc.contains("first 512 rows"),
            "{}",
            w.weights_desc
        );
        let full = SmokeOptions {
            level: Level::Full,
            ..Default::default()
        };
        let w = workload(&full, &|_| None).expect("workload");
        assert_eq!(w.rows_limit, None);
        assert_eq!(w.projections.len(), 7);
        assert!(!w.weights_desc.contains("quick"), "{}", w.weights_desc);
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
