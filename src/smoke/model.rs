//! Mistral layer shapes and the weights the smoke checks multiply.
//!
//! Shapes come from a Hugging Face `config.json` (Mistral-7B-v0.1's is built in), so a check runs
//! on the shapes the user will actually compress. Weights come from, in order:
//! 1. `--weights PATH`: a `.safetensors` file or a folder of shards (memory-mapped; bf16, f16
//!    and f32 are read; anything else is bad input);
//! 2. the Hugging Face cache, only when the shapes are Mistral-7B-v0.1's: `$HF_HUB_CACHE`, else
//!    `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`,
//!    folder `models--mistralai--Mistral-7B-v0.1/snapshots/*/` (read if present, never
//!    downloaded; a cache without the layer's tensors falls through);
//! 3. seeded synthetic weights: normal with std 0.02, rounded to bf16 as Mistral ships them.
//!
//! The activations are always synthetic and seeded: N(0, 1) with a few systematic large-magnitude
//! input features (±20..60), the outliers LLM.int8 was designed around, rounded to fp16.
//! The report says which weights were used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::Dtype;

use rayon::prelude::*;

pub use super::rng::Rng;
use super::SmokeError;

/// The shapes of a decoder-only transformer of the Mistral/Llama family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    pub name: String,
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub layers: usize,
    pub vocab: usize,
    pub tie_embeddings: bool,
}

/// One linear projection of a decoder layer (shape `[rows, cols]` = `[out, in]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub short: &'static str,
    pub name: String,
    pub rows: usize,
    pub cols: usize,
}

impl Projection {
    pub fn params(&self) -> usize {
        self.rows * self.cols
    }
    pub fn shape(&self) -> String {
        format!("{}x{}", self.rows, self.cols)
    }
}

impl ModelConfig {
    /// Mistral-7B-v0.1 (its `config.json`).
    pub fn mistral_7b_v01() -> Self {
        ModelConfig {
            name: "mistralai/Mistral-7B-v0.1".into(),
            hidden: 4096,
            intermediate: 14336,
            heads: 32,
            kv_heads: 8,
            head_dim: 128,
            layers: 32,
            vocab: 32000,
            tie_embeddings: false,
        }
    }

    /// Parses a Hugging Face `config.json`, e.g.
    /// `{"hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
    ///   "num_key_value_heads": 8, "num_hidden_layers": 32, "vocab_size": 32000}`.
    /// `num_key_value_heads` defaults to the attention heads, `head_dim` (absent or null) to
    /// `hidden_size / num_attention_heads`.
    pub fn parse(text: &str, fallback_name: &str) -> Result<Self, ConfigError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(ConfigError::Json)?;
        let get = |k: &'static str| -> Result<Option<usize>, ConfigError> {
            match v.get(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => x
                    .as_u64()
                    .filter(|n| *n > 0)
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| ConfigError::NotPositive {
                        key: k,
                        value: x.to_string(),
                    }),
            }
        };
        let need = |k: &'static str| get(k)?.ok_or(ConfigError::Missing(k));
        let hidden = need("hidden_size")?;
        let intermediate = need("intermediate_size")?;
        let heads = need("num_attention_heads")?;
        let kv_heads = get("num_key_value_heads")?.unwrap_or(heads);
        let head_dim = match get("head_dim")? {
            Some(d) => d,
            None => {
                if hidden % heads != 0 {
                    return Err(ConfigError::HeadDim { hidden, heads });
                }
                hidden / heads
            }
        };
        let name = v
            .get("_name_or_path")
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| fallback_name.to_string());
        Ok(ModelConfig {
            name,
            hidden,
            intermediate,
            heads,
            kv_heads,
            head_dim,
            layers: get("num_hidden_layers")?.unwrap_or(32),
            vocab: get("vocab_size")?.unwrap_or(32000),
            tie_embeddings: v
                .get("tie_word_embeddings")
                .and_then(|b| b.as_bool())
                .unwrap_or(false),
        })
    }

    /// Reads and parses a `config.json` file.
    pub fn load(path: &Path) -> Result<Self, SmokeError> {
        let bad = |source| SmokeError::Config {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(ConfigError::Io(e)))?;
        Self::parse(&text, &path.display().to_string()).map_err(bad)
    }

    /// Whether these are Mistral-7B-v0.1's shapes (so its cached weights fit).
    pub fn same_shapes_as(&self, o: &ModelConfig) -> bool {
        (
            self.hidden,
            self.intermediate,
            self.heads,
            self.kv_heads,
            self.head_dim,
        ) == (o.hidden, o.intermediate, o.heads, o.kv_heads, o.head_dim)
    }

    /// The seven projections of decoder layer `layer`, in checkpoint order.
    pub fn projections(&self, layer: usize) -> Vec<Projection> {
        let q = self.heads * self.head_dim;
        let kv = self.kv_heads * self.head_dim;
        let p = |short: &'static str, part: &str, rows, cols| Projection {
            short,
            name: format!("model.layers.{layer}.{part}.{short}.weight"),
            rows,
            cols,
        };
        vec![
            p("q_proj", "self_attn", q, self.hidden),
            p("k_proj", "self_attn", kv, self.hidden),
            p("v_proj", "self_attn", kv, self.hidden),
            p("o_proj", "self_attn", self.hidden, q),
            p("gate_proj", "mlp", self.intermediate, self.hidden),
            p("up_proj", "mlp", self.intermediate, self.hidden),
            p("down_proj", "mlp", self.hidden, self.intermediate),
        ]
    }

    /// Parameters of one decoder layer's projections.
    pub fn layer_projection_params(&self) -> u64 {
        self.projections(0).iter().map(|p| p.params() as u64).sum()
    }

    /// All parameters: embeddings, the LM head (unless tied), every layer's projections and two
    /// RMSNorm weights, and the final norm.
    pub fn total_params(&self) -> u64 {
        let h = self.hidden as u64;
        let emb = self.vocab as u64 * h;
        let head = if self.tie_embeddings { 0 } else { emb };
        emb + head + self.layers as u64 * (self.layer_projection_params() + 2 * h) + h
    }

    /// LoRA parameters at rank `r` on q, k, v, o, gate, up and down of every layer:
    /// `r * (in + out)` per projection.
    pub fn lora_params(&self, r: usize) -> u64 {
        let per_layer: u64 = self
            .projections(0)
            .iter()
            .map(|p| (r * (p.rows + p.cols)) as u64)
            .sum();
        per_layer * self.layers as u64
    }
}

/// A projection's weights: the checkpoint's own bytes and dtype, and the values as f32.
#[derive(Debug, Clone)]
pub struct LayerTensor {
    pub proj: Projection,
    pub dtype: Dtype,
    pub raw: Vec<u8>,
    pub w: Vec<f32>,
}

/// Where the weights of a run come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightSource {
    /// `--weights PATH`: its safetensors shards. A file that cannot be used is bad input.
    Given {
        path: PathBuf,
        files: Vec<PathBuf>,
    },
    /// Mistral-7B-v0.1's shards in the Hugging Face cache; unusable ones fall back to synthetic.
    HfCache {
        files: Vec<PathBuf>,
    },
    Synthetic,
}

/// Why a `config.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Io(std::io::Error),
    #[error("not JSON")]
    Json(#[source] serde_json::Error),
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{key}` is not a positive integer: {value}")]
    NotPositive { key: &'static str, value: String },
    #[error("`hidden_size` {hidden} is not a multiple of `num_attention_heads` {heads} and `head_dim` is not given")]
    HeadDim { hidden: usize, heads: usize },
}

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error(transparent)]
    Io(std::io::Error),
    #[error("no .safetensors files there")]
    NoFiles,
    #[error("not a safetensors file")]
    NotSafetensors(#[source] safetensors::SafeTensorError),
    #[error("no tensor `{name}` in {files} file(s){}", if sample.is_empty() { String::new() } else { format!(" (layer 0 has: {})", sample.join(", ")) })]
    MissingTensor {
        name: String,
        files: usize,
        sample: Vec<String>,
    },
    #[error("`{name}` has shape {shape:?}, the config says [{rows}, {cols}]")]
    Shape {
        name: String,
        shape: Vec<usize>,
        rows: usize,
        cols: usize,
    },
    #[error("`{name}`")]
    Decode {
        name: String,
        #[source]
        source: DecodeError,
    },
}

/// Why tensor bytes cannot be decoded to f32.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("dtype {0:?} is not bf16, f16 or f32")]
    Dtype(Dtype),
    #[error("{len} bytes is not a whole number of {dtype:?} values")]
    Length { len: usize, dtype: Dtype },
}

/// Why a test checkpoint could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Safetensors(#[from] safetensors::SafeTensorError),
}

/// The Hugging Face hub cache folders to look in, in order (see the module comment).
pub fn hf_cache_dirs(vars: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let set = |k: &str| vars(k).filter(|v| !v.trim().is_empty());
    let mut out = Vec::new();
    if let Some(v) = set("HF_HUB_CACHE") {
        out.push(PathBuf::from(v));
    }
    if let Some(v) = set("HF_HOME") {
        out.push(PathBuf::from(v).join("hub"));
    }
    if let Some(v) = set("XDG_CACHE_HOME") {
        out.push(PathBuf::from(v).join("huggingface/hub"));
    }
    if let Some(v) = set("HOME") {
        out.push(PathBuf::from(v).join(".cache/huggingface/hub"));
    }
    out
}

/// The `*.safetensors` files of a Mistral-7B-v0.1 snapshot in the HF cache, if one has any.
pub fn find_in_hf_cache(vars: &dyn Fn(&str) -> Option<String>) -> Option<Vec<PathBuf>> {
    for dir in hf_cache_dirs(vars) {
        let snaps = dir.join("models--mistralai--Mistral-7B-v0.1/snapshots");
        let Ok(rd) = std::fs::read_dir(&snaps) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs {
            if let Ok(files) = safetensors_files(&d) {
                if !files.is_empty() {
                    return Some(files);
                }
            }
        }
    }
    None
}

/// `path` itself if it is a file, else the `*.safetensors` files in the folder, sorted.
pub fn safetensors_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    Ok(files)
}

/// Memory-maps the shards (only the pages of the tensors read later are touched).
fn map_files(files: &[PathBuf]) -> Result<Vec<memmap2::Mmap>, SmokeError> {
    let mut maps = Vec::new();
    for f in files {
        let bad = |source| SmokeError::Weights {
            path: f.clone(),
            source,
        };
        let file = std::fs::File::open(f).map_err(|e| bad(WeightsError::Io(e)))?;
        // SAFETY: the map is only read; a checkpoint changed underneath us while mapped could
        // give wrong values (which the checks would report) but not unsound reads of our memory
        // beyond the mapping, whose length is fixed here.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| bad(WeightsError::Io(e)))?;
        maps.push(map);
    }
    Ok(maps)
}

fn parse_files<'a>(
    files: &[PathBuf],
    maps: &'a [memmap2::Mmap],
) -> Result<Vec<safetensors::SafeTensors<'a>>, SmokeError> {
    files
        .iter()
        .zip(maps)
        .map(|(f, m)| {
            safetensors::SafeTensors::deserialize(m).map_err(|e| SmokeError::Weights {
                path: f.clone(),
                source: WeightsError::NotSafetensors(e),
            })
        })
        .collect()
}

/// Every 2-D bf16, f16 or f32 tensor of the shards, by name (`--every-tensor`): each is
/// checked as a `[out, in]` weight under its own name. Tensors of other ranks or dtypes are
/// left out; the count of those is returned beside.
pub fn every_tensor(files: &[PathBuf]) -> Result<(Vec<Projection>, usize), SmokeError> {
    let maps = map_files(files)?;
    let parsed = parse_files(files, &maps)?;
    let mut out = Vec::new();
    let mut other = 0;
    for st in &parsed {
        for (name, view) in st.tensors() {
            let float = matches!(view.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16);
            match view.shape() {
                [rows, cols] if float && *rows > 0 && *cols > 0 => out.push(Projection {
                    short: "tensor",
                    name,
                    rows: *rows,
                    cols: *cols,
                }),
                _ => other += 1,
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok((out, other))
}

/// Reads the tensors of `projs` from safetensors shards (memory-mapped; only the pages of the
/// wanted tensors are read).
pub fn load_checkpoint(
    files: &[PathBuf],
    projs: &[Projection],
) -> Result<Vec<LayerTensor>, SmokeError> {
    let maps = map_files(files)?;
    let parsed = parse_files(files, &maps)?;
    let mut out = Vec::new();
    for p in projs {
        let found = parsed
            .iter()
            .zip(files)
            .find_map(|(st, f)| st.tensor(&p.name).ok().map(|t| (t, f)));
        let Some((t, f)) = found else {
            let sample: Vec<String> = parsed
                .iter()
                .flat_map(|st| st.names().into_iter().map(str::to_string))
                .filter(|n| n.contains(".layers.0."))
                .take(5)
                .collect();
            return Err(SmokeError::Weights {
                path: files.first().cloned().unwrap_or_default(),
                source: WeightsError::MissingTensor {
                    name: p.name.clone(),
                    files: files.len(),
                    sample,
                },
            });
        };
        if t.shape() != [p.rows, p.cols] {
            return Err(SmokeError::Weights {
                path: f.clone(),
                source: WeightsError::Shape {
                    name: p.name.clone(),
                    shape: t.shape().to_vec(),
                    rows: p.rows,
                    cols: p.cols,
                },
            });
        }
        let raw = t.data().to_vec();
        let w = to_f32(t.dtype(), &raw).map_err(|source| SmokeError::Weights {
            path: f.clone(),
            source: WeightsError::Decode {
                name: p.name.clone(),
                source,
            },
        })?;
        out.push(LayerTensor {
            proj: p.clone(),
            dtype: t.dtype(),
            raw,
            w,
        });
    }
    Ok(out)
}

/// Little-endian bf16 / f16 / f32 bytes to f32 values (parallel).
pub fn to_f32(dtype: Dtype, raw: &[u8]) -> Result<Vec<f32>, DecodeError> {
    let size = match dtype {
        Dtype::F32 => 4,
        Dtype::F16 | Dtype::BF16 => 2,
        other => return Err(DecodeError::Dtype(other)),
    };
    if raw.len() % size != 0 {
        return Err(DecodeError::Length {
            len: raw.len(),
            dtype,
        });
    }
    let mut out = vec![0f32; raw.len() / size];
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(i, piece)| {
            let start = i * (1 << 16) * size;
            let src = &raw[start..start + piece.len() * size];
            match dtype {
                Dtype::F32 => {
                    for (o, c) in piece.iter_mut().zip(src.chunks_exact(4)) {
                        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                }
                Dtype::F16 => {
                    for (o, c) in piece.iter_mut().zip(src.chunks_exact(2)) {
                        *o = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
                    }
                }
                _ => {
                    for (o, c) in piece.iter_mut().zip(src.chunks_exact(2)) {
                        *o = half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
                    }
                }
            }
        });
    Ok(out)
}

/// f32 values to little-endian bytes of `dtype` (round to nearest even).
pub fn from_f32(dtype: Dtype, w: &[f32]) -> Vec<u8> {
    match dtype {
        Dtype::F16 => w
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
            .collect(),
        Dtype::BF16 => w
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes())
            .collect(),
        _ => w.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// Seeded synthetic weights for `p`: N(0, 0.02²), rounded to bf16 (Mistral's dtype).
pub fn synthetic(p: &Projection, seed: u64, tensor_id: u64) -> LayerTensor {
    const ROWS_PER_STREAM: usize = 16;
    let mut w = vec![0f32; p.params()];
    let cols = p.cols;
    w.par_chunks_mut(ROWS_PER_STREAM * cols.max(1))
        .enumerate()
        .for_each(|(i, chunk)| {
            let mut rng = Rng::stream(seed, tensor_id, i as u64);
            for v in chunk.iter_mut() {
                *v = half::bf16::from_f32(0.02 * rng.normal()).to_f32();
            }
        });
    LayerTensor {
        proj: p.clone(),
        dtype: Dtype::BF16,
        raw: from_f32(Dtype::BF16, &w),
        w,
    }
}

/// Seeded activations `[batch, cols]`: N(0, 1) with systematic outlier features (±20..60, a
/// fixed sign per feature), rounded to fp16. Returns the values and the outlier features.
pub fn activations(seed: u64, batch: usize, cols: usize) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::stream(seed, 0xAC7, cols as u64);
    let n_out = (cols / 1024).clamp(1, 6).min(cols);
    let mut feats: Vec<usize> = Vec::new();
    while feats.len() < n_out {
        let f = (rng.next_u64() % cols as u64) as usize;
        if !feats.contains(&f) {
            feats.push(f);
        }
    }
    feats.sort_unstable();
    let signs: Vec<f32> = feats
        .iter()
        .map(|_| if rng.uniform() < 0.5 { -1.0 } else { 1.0 })
        .collect();
    let mut x = vec![0f32; batch * cols];
    for b in 0..batch {
        for k in 0..cols {
            x[b * cols + k] = rng.normal();
        }
        for (f, s) in feats.iter().zip(&signs) {
            x[b * cols + f] = s * (20.0 + 40.0 * rng.uniform());
        }
    }
    for v in x.iter_mut() {
        *v = half::f16::from_f32(*v).to_f32();
    }
    (x, feats)
}

/// A tiny checkpoint (for tests and fixtures): the 7 projections of layer 0 of `cfg`, synthetic,
/// stored as `dtype`.
pub fn write_tiny_checkpoint(
    cfg: &ModelConfig,
    dtype: Dtype,
    seed: u64,
    path: &Path,
) -> Result<(), WriteError> {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = cfg
        .projections(0)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = synthetic(p, seed, i as u64);
            (p.name.clone(), vec![p.rows, p.cols], from_f32(dtype, &t.w))
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(dtype, s.clone(), b).map(|v| (n.clone(), v))
        })
        .collect::<Result<_, _>>()?;
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    let bytes = safetensors::serialize(views, Some(meta.into_iter().collect()))?;
    Ok(std::fs::write(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistral_config_parses_to_the_built_in_shapes() {
        let text = r#"{"_name_or_path": "mistralai/Mistral-7B-v0.1", "architectures": ["MistralForCausalLM"],
            "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
            "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000,
            "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false,
            "torch_dtype": "bfloat16"}"#;
        let c = ModelConfig::parse(text, "x").expect("parses");
        assert_eq!(c, ModelConfig::mistral_7b_v01());
        let p = c.projections(3);
        assert_eq!(p[0].name, "model.layers.3.self_attn.q_proj.weight");
        assert_eq!((p[1].rows, p[1].cols), (1024, 4096));
        assert_eq!((p[6].rows, p[6].cols), (4096, 14336));
        assert_eq!(p[6].name, "model.layers.3.mlp.down_proj.weight");
        // Mistral-7B-v0.1 has 7,241,732,096 parameters.
        assert_eq!(c.total_params(), 7_241_732_096);
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = ModelConfig::parse(r#"{"hidden_size": 64}"#, "x").unwrap_err();
        assert_eq!(e.to_string(), "`intermediate_size` is missing");
        let e = ModelConfig::parse(r#"{"hidden_size": "a"}"#, "x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`hidden_size` is not a positive integer: \"a\""
        );
        let e = ModelConfig::parse("{", "x").unwrap_err();
        assert!(crate::smoke::chain(&e).starts_with("not JSON: EOF"), "{e}");
        let c = ModelConfig::parse(
            r#"{"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "head_dim": null}"#,
            "x",
        )
        .expect("ok");
        assert_eq!((c.kv_heads, c.head_dim), (4, 16));
    }

    #[test]
    fn hf_cache_order() {
        let vars = |k: &str| match k {
            "HF_HOME" => Some("/h".to_string()),
            "HOME" => Some("/root".to_string()),
            "HF_HUB_CACHE" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            hf_cache_dirs(&vars),
            vec![
                PathBuf::from("/h/hub"),
                PathBuf::from("/root/.cache/huggingface/hub")
            ]
        );
    }

    #[test]
    fn hf_cache_snapshot_is_found() {
        let dir = tempfile::tempdir().expect("tmp");
        let snap = dir
            .path()
            .join("models--mistralai--Mistral-7B-v0.1/snapshots/abc");
        std::fs::create_dir_all(&snap).expect("mkdir");
        let vars = |k: &str| (k == "HF_HUB_CACHE").then(|| dir.path().display().to_string());
        assert_eq!(find_in_hf_cache(&vars), None, "no safetensors yet");
        std::fs::write(snap.join("model-00001-of-00002.safetensors"), b"x").expect("write");
        assert_eq!(
            find_in_hf_cache(&vars),
            Some(vec![snap.join("model-00001-of-00002.safetensors")])
        );
    }

    #[test]
    fn activations_have_outliers_above_the_threshold() {
        let (x, feats) = activations(3, 2, 4096);
        assert_eq!(feats.len(), 4);
        for &f in &feats {
            assert!(x[f].abs() >= 20.0 && x[4096 + f].abs() >= 20.0);
        }
        let normal_max = x
            .iter()
            .enumerate()
            .filter(|(i, _)| !feats.contains(&(i % 4096)))
            .fold(0f32, |m, (_, v)| m.max(v.abs()));
        assert!(normal_max < 6.0, "{normal_max}");
    }
}
