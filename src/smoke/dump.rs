//! `--dump DIR`: every compressed tensor, as safetensors, in bitsandbytes' own layouts and dtypes,
//! so anyone can compare them with bitsandbytes directly (same names as `../shared/golden/`).
//!
//! One file per projection, `DIR/<tensor>.safetensors` (e.g. `model.layers.0.mlp.down_proj`;
//! see [`file_name`]):
//!
//! | tensor | dtype, shape | bitsandbytes call it matches |
//! |---|---|---|
//! | `weight` | checkpoint dtype, `[out, in]` | the input |
//! | `input_f32` | f32 `[batch, in]` | the activations used |
//! | `nf4_packed_u8`, `nf4_absmax_f32`, `nf4_code_f32` | u8 `[out·in/2]`, f32 `[out·in/64]`, f32 `[16]` | `quantize_4bit(weight.float(), blocksize=64, quant_type='nf4')` |
//! | `nf4dq_absmax_u8`, `nf4dq_offset_f32`, `nf4dq_absmax2_f32`, `nf4dq_code2_f32` | u8, f32 `[1]`, f32, f32 `[256]` | the same with `compress_statistics=True` (packed codes identical to `nf4_packed_u8`) |
//! | `int8_values_i8`, `int8_row_absmax_f32` | i8 `[out, in]`, f32 `[out]` | `int8_vectorwise_quant(weight.float())` (`CB`, `SCB`) |
//! | `int8t6_values_i8`, `int8t6_row_absmax_f32`, `int8t6_outlier_cols_i64` | i8, f32, i64 | `int8_vectorwise_quant(input, threshold=6.0)` |
//! | `int8t6w_values_i8`, `int8t6w_row_absmax_f32`, `int8t6w_outlier_cols_i64` | i8, f32, i64 | `int8_vectorwise_quant(weight.float(), threshold=6.0)` (the outlier path on the weight's own values, for the differential test) |
//! | `sparse24_mask_u8`, `sparse24_values_f16`, `sparse24_meta_u8` | u8 `[out, in]` (1 = kept), f16 `[out, in/2]`, u8 `[out, in/8]` | 2:4 by magnitude |
//! | `lora_A`, `lora_B` | f32 `[r, in]`, f32 `[out, r]` | peft's `lora_A.weight`, `lora_B.weight` |
//!
//! Each format adds its own tensors ([`super::formats::Format::dump`]); this file collects them
//! ([`Artifacts`]) and writes each file to a temporary file in `DIR`, renamed into place.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::formats::{Format, Formats};
use super::model::{self, LayerTensor};
use super::{SmokeError, SmokeOptions};

/// Why a dump file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Safetensors(#[from] safetensors::SafeTensorError),
    #[error(transparent)]
    Persist(#[from] tempfile::PersistError),
}

pub fn le_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Everything the checks of one projection produced that `--dump` writes.
#[derive(Default)]
pub struct Artifacts {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl Artifacts {
    pub fn push(&mut self, name: &str, dtype: Dtype, shape: Vec<usize>, bytes: Vec<u8>) {
        self.tensors.push((name.to_string(), dtype, shape, bytes));
    }

    pub fn meta(&mut self, key: &str, value: String) {
        self.meta.insert(key.to_string(), value);
    }

    /// The weight in its checkpoint dtype and the activations used.
    pub fn input(&mut self, t: &LayerTensor, x: &[f32], batch: usize) {
        self.push(
            "weight",
            t.dtype,
            vec![t.proj.rows, t.proj.cols],
            t.raw.clone(),
        );
        self.push("input_f32", Dtype::F32, vec![batch, t.proj.cols], le_f32(x));
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|t| t.0.as_str())
    }
}

pub fn create_dir(dir: &Path) -> Result<(), SmokeError> {
    std::fs::create_dir_all(dir).map_err(|e| SmokeError::Dump {
        path: dir.to_path_buf(),
        source: DumpError::Io(e),
    })
}

/// The dump file's name for a tensor: its name without `.weight`, every character outside
/// `[A-Za-z0-9._-]` replaced by `_` and a leading `.` escaped, so a tensor name read from a
/// checkpoint can never leave `DIR` or hide a file.
pub fn file_name(tensor: &str) -> String {
    let stem: String = tensor
        .trim_end_matches(".weight")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = if stem.is_empty() || stem.starts_with('.') {
        format!("_{stem}")
    } else {
        stem
    };
    format!("{stem}.safetensors")
}

/// Writes one projection's artifacts; returns the file.
pub fn write_projection(dir: &Path, t: &LayerTensor, a: &Artifacts) -> Result<PathBuf, SmokeError> {
    let path = dir.join(file_name(&t.proj.name));
    write_file(dir, &path, t, a).map_err(|source| SmokeError::Dump {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn write_file(dir: &Path, path: &Path, t: &LayerTensor, a: &Artifacts) -> Result<(), DumpError> {
    let views: Vec<(String, TensorView<'_>)> = a
        .tensors
        .iter()
        .map(|(n, dt, s, b)| TensorView::new(*dt, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<_, _>>()?;
    let mut meta = a.meta.clone();
    meta.insert("tensor".to_string(), t.proj.name.clone());
    meta.insert(
        "format".to_string(),
        "compat smoke dump; layouts as bitsandbytes 0.50 (see src/smoke/dump.rs)".to_string(),
    );
    let bytes = safetensors::serialize(views, Some(meta))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&bytes)?;
    tmp.flush()?;
    tmp.persist(path)?;
    Ok(())
}

/// Adds format `f`'s tensors for weight `t` (quantized here; a format that does not apply to
/// the shape adds nothing).
fn add<F: Format>(f: &F, t: &LayerTensor, x: &[f32], batch: usize, a: &mut Artifacts) {
    if let Ok(p) = f.quantize(t) {
        f.dump(t, &p, x, batch, a);
    }
}

/// Quantizes every tensor (no timing, no checks) and writes the files.
pub fn write_all(
    opts: &SmokeOptions,
    tensors: &[LayerTensor],
    dir: &Path,
) -> Result<Vec<PathBuf>, SmokeError> {
    let (b1, _) = opts.level.batches();
    let fm = Formats::new(opts.lora_rank, opts.lora_alpha, opts.seed);
    let mut files = Vec::new();
    for t in tensors {
        let (x, _) = model::activations(opts.seed, b1, t.proj.cols);
        let mut a = Artifacts::default();
        a.input(t, &x, b1);
        add(&fm.int8, t, &x, b1, &mut a);
        add(&fm.nf4, t, &x, b1, &mut a);
        add(&fm.nf4_dq, t, &x, b1, &mut a);
        add(&fm.lora, t, &x, b1, &mut a);
        add(&fm.sparse, t, &x, b1, &mut a);
        files.push(write_projection(dir, t, &a)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn tensor_names_cannot_leave_the_folder() {
        assert_eq!(
            file_name("model.layers.0.mlp.down_proj.weight"),
            "model.layers.0.mlp.down_proj.safetensors"
        );
        assert_eq!(
            file_name("../../etc/passwd"),
            "_.._.._etc_passwd.safetensors"
        );
        assert_eq!(file_name(".hidden"), "_.hidden.safetensors");
        assert_eq!(file_name(""), "_.safetensors");
        assert_eq!(file_name("a/b c"), "a_b_c.safetensors");
    }
}
