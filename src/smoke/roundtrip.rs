//! `safetensors-roundtrip`: a whole layer written to a safetensors file in its own dtype and read
//! back memory-mapped, names, dtypes, shapes and every byte compared. A file-format check, so it
//! runs on the CPU only and is not a [`super::formats::Format`].

use std::time::Instant;

use safetensors::Dtype;

use super::model::{self, DecodeError, LayerTensor};
use super::{metrics, Device, SmokeCheck};
use crate::model::{SmokeCheckId, Verdict};

/// Why the round trip failed.
#[derive(Debug, thiserror::Error)]
pub enum RoundtripError {
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Format {
        what: String,
        #[source]
        source: safetensors::SafeTensorError,
    },
    #[error("{written} tensors written, {read} read back")]
    Count { written: usize, read: usize },
    #[error(
        "{name}: read back as {got_dtype:?} {got_shape:?}, written as {dtype:?} [{rows}, {cols}]"
    )]
    Header {
        name: String,
        got_dtype: Dtype,
        got_shape: Vec<usize>,
        dtype: Dtype,
        rows: usize,
        cols: usize,
    },
    #[error("{name}: bytes differ from offset {offset}")]
    Bytes { name: String, offset: usize },
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("{name}: values differ after decoding")]
    Values { name: String },
}

/// Writes every tensor of the layer (its own dtype and bytes) to a safetensors file, reads it
/// back memory-mapped, and compares names, dtypes, shapes and bytes.
pub fn roundtrip(tensors: &[LayerTensor]) -> SmokeCheck {
    let layer = tensors
        .first()
        .map(|t| {
            let n = &t.proj.name;
            n.split(".self_attn")
                .next()
                .unwrap_or(n)
                .split(".mlp")
                .next()
                .unwrap_or(n)
                .to_string()
        })
        .unwrap_or_default();
    let total: u64 = tensors.iter().map(|t| t.raw.len() as u64).sum();
    let mut c = SmokeCheck::new(
        SmokeCheckId::SafetensorsRoundtrip,
        Device::Cpu,
        &layer,
        format!("{} tensors, {:.1} MB", tensors.len(), total as f64 / 1e6),
    );
    let t0 = Instant::now();
    match write_and_read(tensors) {
        Ok(notes) => {
            let dt = t0.elapsed().as_secs_f64();
            c.verdict = Verdict::Verified;
            c.kernel_error = Some(0.0);
            c.kernel_bound = Some(0.0);
            c.time_ms = Some(dt * 1e3);
            c.throughput = Some(format!(
                "{} write + read",
                metrics::gbs(2 * total, dt, None)
            ));
            c.evidence = notes;
        }
        Err(e) => c = c.fail(super::chain(&e)),
    }
    c.compressed_bytes = Some(total);
    c.fp16_bytes = Some(tensors.iter().map(|t| 2 * t.proj.params() as u64).sum());
    c
}

fn write_and_read(tensors: &[LayerTensor]) -> Result<Vec<String>, RoundtripError> {
    let io = |what| move |source| RoundtripError::Io { what, source };
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|t| {
            safetensors::tensor::TensorView::new(t.dtype, vec![t.proj.rows, t.proj.cols], &t.raw)
                .map(|v| (t.proj.name.clone(), v))
                .map_err(|source| RoundtripError::Format {
                    what: t.proj.name.clone(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    let mut file = tempfile::NamedTempFile::new().map_err(io("temporary file"))?;
    let bytes = safetensors::serialize(views, None).map_err(|source| RoundtripError::Format {
        what: "serialize".into(),
        source,
    })?;
    std::io::Write::write_all(&mut file, &bytes).map_err(io("write"))?;
    std::io::Write::flush(&mut file).map_err(io("write"))?;
    drop(bytes);
    let f = std::fs::File::open(file.path()).map_err(io("reopen"))?;
    // SAFETY: the temporary file is ours alone and not modified while mapped.
    let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io("mmap"))?;
    let st =
        safetensors::SafeTensors::deserialize(&map).map_err(|source| RoundtripError::Format {
            what: "read back".into(),
            source,
        })?;
    if st.len() != tensors.len() {
        return Err(RoundtripError::Count {
            written: tensors.len(),
            read: st.len(),
        });
    }
    let mut dtypes = Vec::new();
    for t in tensors {
        let v = st
            .tensor(&t.proj.name)
            .map_err(|source| RoundtripError::Format {
                what: t.proj.name.clone(),
                source,
            })?;
        if v.dtype() != t.dtype || v.shape() != [t.proj.rows, t.proj.cols] {
            return Err(RoundtripError::Header {
                name: t.proj.name.clone(),
                got_dtype: v.dtype(),
                got_shape: v.shape().to_vec(),
                dtype: t.dtype,
                rows: t.proj.rows,
                cols: t.proj.cols,
            });
        }
        if v.data() != t.raw.as_slice() {
            let offset = v
                .data()
                .iter()
                .zip(&t.raw)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(RoundtripError::Bytes {
                name: t.proj.name.clone(),
                offset,
            });
        }
        let back = model::to_f32(v.dtype(), v.data())?;
        if back
            .iter()
            .zip(&t.w)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            return Err(RoundtripError::Values {
                name: t.proj.name.clone(),
            });
        }
        dtypes.push(format!("{:?}", t.dtype));
    }
    dtypes.dedup();
    Ok(vec![
        format!(
            "{} tensors ({}), {} bytes: names, dtypes, shapes and every byte identical after a memory-mapped reload",
            tensors.len(),
            dtypes.join(", "),
            map.len()
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::testutil::tiny;

    #[test]
    fn roundtrip_of_bf16_f16_f32_layers() {
        for dt in [Dtype::BF16, Dtype::F16, Dtype::F32] {
            let tensors: Vec<LayerTensor> = tiny()
                .projections(0)
                .iter()
                .take(2)
                .map(|p| {
                    let mut t = model::synthetic(p, 3, 0);
                    t.raw = model::from_f32(dt, &t.w);
                    t.w = model::to_f32(dt, &t.raw).expect("decode");
                    t.dtype = dt;
                    t
                })
                .collect();
            let c = roundtrip(&tensors);
            assert_eq!(c.verdict, Verdict::Verified, "{dt:?}: {c:?}");
        }
    }

    #[test]
    fn a_changed_byte_is_named() {
        let mut t = model::synthetic(&tiny().projections(0)[0], 3, 0);
        t.w[5] += 1.0; // the decoded values no longer match the bytes written
        let c = roundtrip(&[t]);
        assert_eq!(c.verdict, Verdict::Failed);
        assert!(
            c.reason
                .as_deref()
                .is_some_and(|r| r.contains("values differ")),
            "{c:?}"
        );
    }
}
