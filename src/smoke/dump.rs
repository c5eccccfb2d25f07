//! `--dump DIR`: every compressed tensor, as safetensors, in bitsandbytes' own layouts and dtypes,
//! so anyone can compare them with bitsandbytes directly (same names as `../shared/golden/`).
//!
//! One file per projection, `DIR/<tensor>.safetensors` (e.g. `model.layers.0.mlp.down_proj`):
//!
//! | tensor | dtype, shape | bitsandbytes call it matches |
//! |---|---|---|
//! | `weight` | checkpoint dtype, `[out, in]` | the input |
//! | `input_f32` | f32 `[batch, in]` | the activations used |
//! | `nf4_packed_u8`, `nf4_absmax_f32`, `nf4_code_f32` | u8 `[out·in/2]`, f32 `[out·in/64]`, f32 `[16]` | `quantize_4bit(weight.float(), blocksize=64, quant_type='nf4')` |
//! | `nf4dq_absmax_u8`, `nf4dq_offset_f32`, `nf4dq_absmax2_f32`, `nf4dq_code2_f32` | u8, f32 `[1]`, f32, f32 `[256]` | the same with `compress_statistics=True` (packed codes identical to `nf4_packed_u8`) |
//! | `int8_values_i8`, `int8_row_absmax_f32` | i8 `[out, in]`, f32 `[out]` | `int8_vectorwise_quant(weight.float())` (`CB`, `SCB`) |
//! | `int8t6_values_i8`, `int8t6_row_absmax_f32`, `int8t6_outlier_cols_i64` | i8, f32, i64 | `int8_vectorwise_quant(input, threshold=6.0)` |
//! | `sparse24_mask_u8`, `sparse24_values_f16`, `sparse24_meta_u8` | u8 `[out, in]` (1 = kept), f16 `[out, in/2]`, u8 `[out, in/8]` | 2:4 by magnitude |
//! | `lora_A`, `lora_B` | f32 `[r, in]`, f32 `[out, r]` | peft's `lora_A.weight`, `lora_B.weight` |
//!
//! Each file is written to a temporary file in `DIR` and renamed into place.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::checks::{Artifacts, THRESHOLD};
use super::model::{self, LayerTensor};
use super::{int8, lora, nf4, sparse, SmokeError, SmokeOptions};

fn le_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes one projection's artifacts; returns the file.
pub fn write_projection(dir: &Path, t: &LayerTensor, a: &Artifacts) -> Result<PathBuf, SmokeError> {
    let (rows, cols) = (t.proj.rows, t.proj.cols);
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut push = |name: &str, dt: Dtype, shape: Vec<usize>, bytes: Vec<u8>| {
        owned.push((name.to_string(), dt, shape, bytes));
    };
    push("weight", t.dtype, vec![rows, cols], t.raw.clone());
    push("input_f32", Dtype::F32, vec![a.batch, cols], le_f32(&a.x));
    if let Some(q) = &a.nf4 {
        push(
            "nf4_packed_u8",
            Dtype::U8,
            vec![q.packed.len()],
            q.packed.clone(),
        );
        push(
            "nf4_absmax_f32",
            Dtype::F32,
            vec![q.absmax.len()],
            le_f32(&q.absmax),
        );
        push("nf4_code_f32", Dtype::F32, vec![16], le_f32(&nf4::CODE));
    }
    if let Some(d) = &a.nf4_dq {
        push(
            "nf4dq_absmax_u8",
            Dtype::U8,
            vec![d.absmax_u8.len()],
            d.absmax_u8.clone(),
        );
        push("nf4dq_offset_f32", Dtype::F32, vec![1], le_f32(&[d.offset]));
        push(
            "nf4dq_absmax2_f32",
            Dtype::F32,
            vec![d.absmax2.len()],
            le_f32(&d.absmax2),
        );
        push(
            "nf4dq_code2_f32",
            Dtype::F32,
            vec![d.code2.len()],
            le_f32(&d.code2),
        );
    }
    if let Some(w) = &a.int8_w {
        push(
            "int8_values_i8",
            Dtype::I8,
            vec![w.rows, w.cols],
            w.values.iter().map(|v| *v as u8).collect(),
        );
        push(
            "int8_row_absmax_f32",
            Dtype::F32,
            vec![w.rows],
            le_f32(&w.row_absmax),
        );
    }
    if let Some(x) = &a.int8_x {
        push(
            "int8t6_values_i8",
            Dtype::I8,
            vec![x.rows, x.cols],
            x.values.iter().map(|v| *v as u8).collect(),
        );
        push(
            "int8t6_row_absmax_f32",
            Dtype::F32,
            vec![x.rows],
            le_f32(&x.row_absmax),
        );
        push(
            "int8t6_outlier_cols_i64",
            Dtype::I64,
            vec![x.outlier_cols.len()],
            x.outlier_cols
                .iter()
                .flat_map(|c| (*c as i64).to_le_bytes())
                .collect(),
        );
    }
    if let Some(s) = &a.sparse {
        push("sparse24_mask_u8", Dtype::U8, vec![rows, cols], s.mask());
        push(
            "sparse24_values_f16",
            Dtype::F16,
            vec![rows, cols / 2],
            model::from_f32(Dtype::F16, &s.values),
        );
        push(
            "sparse24_meta_u8",
            Dtype::U8,
            vec![rows, cols / 8],
            s.meta.clone(),
        );
    }
    if let Some(l) = &a.lora {
        push("lora_A", Dtype::F32, vec![l.r, cols], le_f32(&l.a));
        push("lora_B", Dtype::F32, vec![rows, l.r], le_f32(&l.b));
    }
    let name = t.proj.name.trim_end_matches(".weight");
    let path = dir.join(format!("{name}.safetensors"));
    let bad = |why: String| SmokeError::Dump {
        path: path.clone(),
        why,
    };
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, dt, s, b)| TensorView::new(*dt, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut meta = HashMap::new();
    meta.insert("tensor".to_string(), t.proj.name.clone());
    meta.insert(
        "format".to_string(),
        "compat smoke dump; layouts as bitsandbytes 0.50 (see src/smoke/dump.rs)".to_string(),
    );
    meta.insert("int8_threshold".to_string(), THRESHOLD.to_string());
    if let Some(l) = &a.lora {
        meta.insert("lora_r".to_string(), l.r.to_string());
        meta.insert("lora_alpha".to_string(), l.alpha.to_string());
    }
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| bad(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| bad(e.to_string()))?;
    tmp.write_all(&bytes).map_err(|e| bad(e.to_string()))?;
    tmp.flush().map_err(|e| bad(e.to_string()))?;
    tmp.persist(&path).map_err(|e| bad(e.to_string()))?;
    Ok(path)
}

/// Quantizes every tensor (no timing, no checks) and writes the files.
pub fn write_all(
    opts: &SmokeOptions,
    tensors: &[LayerTensor],
    dir: &Path,
) -> Result<Vec<PathBuf>, SmokeError> {
    let (b1, _) = opts.level.batches();
    let mut files = Vec::new();
    for t in tensors {
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        let (x, _) = model::activations(opts.seed, b1, cols);
        let q = nf4::quantize(&t.w);
        let dq = nf4::double_quantize(&q.absmax);
        let a = Artifacts {
            int8_w: Some(int8::quantize(&t.w, rows, cols, 0.0)),
            int8_x: Some(int8::quantize(&x, b1, cols, THRESHOLD)),
            nf4: Some(q),
            nf4_dq: Some(dq),
            lora: Some(lora::Lora::seeded(
                rows,
                cols,
                opts.lora_rank,
                opts.lora_alpha,
                opts.seed,
            )),
            sparse: sparse::prune(&t.w, rows, cols).ok(),
            x,
            batch: b1,
        };
        files.push(write_projection(dir, t, &a)?);
    }
    Ok(files)
}
