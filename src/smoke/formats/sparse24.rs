//! 2:4 structured sparsity (the sparsegpt row): in every group of 4 consecutive weights of a
//! row, keep the 2 of largest magnitude (ties to the lower index), and multiply with only those.
//!
//! The compressed layout is the one NVIDIA's sparse tensor cores (cuSPARSELt) use in spirit:
//! the kept values (`[rows, cols/2]`, 16-bit when stored) and 2-bit positions, two per group;
//! here one byte holds the positions of two groups (group `2j` in the low nibble, each nibble
//! `i0 | i1 << 2` with `i0 < i1`). Stored bytes: `cols/2 * 2 + cols/8` per row, 56.25% of fp16.

use rayon::prelude::*;

use super::{bytes_f32, same_bits, transpose, Bound, Diff, Format, FormatError, Measured, Report};
use crate::model::SmokeCheckId;
use crate::smoke::dump::Artifacts;
use crate::smoke::model::{self, LayerTensor};

/// A 2:4-pruned matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Sparse24 {
    pub rows: usize,
    pub cols: usize,
    /// The kept values, in column order, `[rows, cols/2]`.
    pub values: Vec<f32>,
    /// Positions: one nibble per group of 4, two groups a byte (`[rows, cols/8]`).
    pub meta: Vec<u8>,
}

impl Sparse24 {
    /// Bytes when stored as cuSPARSELt does: fp16 values plus 2-bit positions.
    pub fn bytes16(&self) -> u64 {
        (2 * self.values.len() + self.meta.len()) as u64
    }

    /// The two kept positions (0..4) of group `g` of row `r`.
    #[inline]
    pub fn positions(&self, r: usize, g: usize) -> (usize, usize) {
        let gi = r * (self.cols / 4) + g;
        let nib = (self.meta[gi / 2] >> ((gi % 2) * 4)) & 15;
        ((nib & 3) as usize, (nib >> 2) as usize)
    }

    /// The mask `[rows, cols]` (1 = kept), as the dump writes it.
    pub fn mask(&self) -> Vec<u8> {
        let mut m = vec![0u8; self.rows * self.cols];
        for r in 0..self.rows {
            for g in 0..self.cols / 4 {
                let (a, b) = self.positions(r, g);
                m[r * self.cols + 4 * g + a] = 1;
                m[r * self.cols + 4 * g + b] = 1;
            }
        }
        m
    }

    /// The pruned matrix as dense f32 (zeros where pruned).
    pub fn densify(&self) -> Vec<f32> {
        let mut d = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            for g in 0..self.cols / 4 {
                let (a, b) = self.positions(r, g);
                let v = &self.values[r * self.cols / 2 + 2 * g..];
                d[r * self.cols + 4 * g + a] = v[0];
                d[r * self.cols + 4 * g + b] = v[1];
            }
        }
        d
    }
}

/// Prunes `w` (`[rows, cols]`, `cols % 8 == 0`) to 2:4 by magnitude.
pub fn prune(w: &[f32], rows: usize, cols: usize) -> Result<Sparse24, FormatError> {
    if cols % 8 != 0 {
        return Err(FormatError::Shape {
            format: "2:4 sparsity",
            multiple: 8,
            cols,
        });
    }
    let mut values = vec![0f32; rows * cols / 2];
    let mut meta = vec![0u8; rows * cols / 8];
    values
        .par_chunks_mut((cols / 2).max(1))
        .zip(meta.par_chunks_mut((cols / 8).max(1)))
        .enumerate()
        .for_each(|(r, (vr, mr))| {
            let row = &w[r * cols..(r + 1) * cols];
            for (g, grp) in row.chunks_exact(4).enumerate() {
                let (i0, i1) = top2(grp);
                vr[2 * g] = grp[i0];
                vr[2 * g + 1] = grp[i1];
                let nib = (i0 as u8) | ((i1 as u8) << 2);
                mr[g / 2] |= nib << ((g % 2) * 4);
            }
        });
    Ok(Sparse24 {
        rows,
        cols,
        values,
        meta,
    })
}

/// The positions of the two largest magnitudes of 4 values (ties to the lower index), ascending.
#[inline]
pub fn top2(g: &[f32]) -> (usize, usize) {
    let a: [f32; 4] = [g[0].abs(), g[1].abs(), g[2].abs(), g[3].abs()];
    // rank each element: how many others beat it (larger, or equal with a lower index)
    let mut keep = [false; 4];
    for i in 0..4 {
        let beaten = (0..4)
            .filter(|&j| j != i && (a[j] > a[i] || (a[j] == a[i] && j < i)))
            .count();
        keep[i] = beaten < 2;
    }
    let mut it = (0..4).filter(|&i| keep[i]);
    let i0 = it.next().unwrap_or(0);
    let i1 = it.next().unwrap_or(1);
    (i0, i1)
}

/// The sparse matmul: `y[b][n] = sum over kept k of W[n][k] x[b][k]`, `[batch, rows]`.
pub fn matmul(s: &Sparse24, x: &[f32], batch: usize) -> Vec<f32> {
    let cols = s.cols;
    let mut yt = vec![0f32; s.rows * batch];
    yt.par_chunks_mut(batch.max(1))
        .enumerate()
        .for_each(|(r, out)| {
            let vals = &s.values[r * cols / 2..(r + 1) * cols / 2];
            let meta = &s.meta[r * cols / 8..(r + 1) * cols / 8];
            for (b, o) in out.iter_mut().enumerate() {
                let xr = &x[b * cols..(b + 1) * cols];
                let mut acc = [0f32; 2];
                for (m, (v, xs)) in meta
                    .iter()
                    .zip(vals.chunks_exact(4).zip(xr.chunks_exact(8)))
                {
                    let lo = m & 15;
                    let hi = m >> 4;
                    acc[0] += v[0] * xs[(lo & 3) as usize] + v[1] * xs[(lo >> 2) as usize];
                    acc[1] += v[2] * xs[4 + (hi & 3) as usize] + v[3] * xs[4 + (hi >> 2) as usize];
                }
                *o = acc[0] + acc[1];
            }
        });
    transpose(&yt, s.rows, batch)
}

/// A mask that is not 2:4 by magnitude: the first violation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MaskError {
    #[error("row {row} group {group} keeps {kept} of 4")]
    Count {
        row: usize,
        group: usize,
        kept: usize,
    },
    #[error("row {row} group {group} drops |{dropped}| but keeps |{kept}|")]
    Order {
        row: usize,
        group: usize,
        dropped: f32,
        kept: f32,
    },
}

/// Whether every group keeps exactly 2 and the kept magnitudes are the largest (the structural
/// part of the check). Returns the first violation.
pub fn verify_mask(w: &[f32], s: &Sparse24) -> Result<(), MaskError> {
    let m = s.mask();
    for r in 0..s.rows {
        for g in 0..s.cols / 4 {
            let o = r * s.cols + 4 * g;
            let kept: Vec<usize> = (0..4).filter(|&i| m[o + i] == 1).collect();
            if kept.len() != 2 {
                return Err(MaskError::Count {
                    row: r,
                    group: g,
                    kept: kept.len(),
                });
            }
            let min_kept = kept
                .iter()
                .map(|&i| w[o + i].abs())
                .fold(f32::INFINITY, f32::min);
            let max_dropped = (0..4)
                .filter(|i| !kept.contains(i))
                .map(|i| w[o + i].abs())
                .fold(0f32, f32::max);
            if max_dropped > min_kept {
                return Err(MaskError::Order {
                    row: r,
                    group: g,
                    dropped: max_dropped,
                    kept: min_kept,
                });
            }
        }
    }
    Ok(())
}

/// 2:4 sparsity by magnitude as a [`Format`].
pub struct Sparse24Format;

impl Format for Sparse24Format {
    type Packed = Sparse24;
    type Act = ();

    fn id(&self) -> SmokeCheckId {
        SmokeCheckId::Sparse24
    }

    fn quantize(&self, t: &LayerTensor) -> Result<Sparse24, FormatError> {
        prune(&t.w, t.proj.rows, t.proj.cols)
    }

    fn decode(&self, _t: &LayerTensor, p: &Sparse24) -> Vec<f32> {
        p.densify()
    }

    fn matmul(
        &self,
        _t: &LayerTensor,
        p: &Sparse24,
        x: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, ()), FormatError> {
        Ok((matmul(p, x, batch), ()))
    }

    fn compressed_bytes(&self, _t: &LayerTensor, p: &Sparse24) -> u64 {
        p.bytes16()
    }

    fn read_bytes(&self, _t: &LayerTensor, p: &Sparse24) -> Option<u64> {
        Some(bytes_f32(p.values.len()) + p.meta.len() as u64)
    }

    /// Half the products of a dense row.
    fn bound(&self, t: &LayerTensor, _p: &Sparse24, _x: &[f32], _batch: usize) -> Bound {
        Bound::f32_roundings(t.proj.cols / 2 + 8)
    }

    fn diff(&self, cpu: &Sparse24, dev: &Sparse24) -> Option<Diff> {
        let what = "kept values and positions";
        Some(
            Diff::count(&dev.values, &cpu.values, same_bits, what).and(Diff::count(
                &dev.meta,
                &cpu.meta,
                |a, b| a == b,
                what,
            )),
        )
    }

    fn report(&self, m: &Measured<'_, Self>) -> Report {
        let s = m.packed;
        let mut failures = Vec::new();
        if let Err(e) = verify_mask(&m.t.w, s) {
            failures.push(format!("the mask is not 2:4 by magnitude: {e}"));
        }
        Report {
            notes: vec![
                format!(
                    "mask: exactly 2 of every 4, the kept magnitudes the largest ({} groups); prune {:.1} ms",
                    s.rows * s.cols / 4,
                    m.quantize_secs * 1e3
                ),
                "the format error is what pruning itself does to the output: not bounded, that is the model's accuracy question".into(),
                "bytes as stored for sparse tensor cores: fp16 values + 2-bit positions".into(),
            ],
            failures,
        }
    }

    fn dump(&self, t: &LayerTensor, s: &Sparse24, _x: &[f32], _batch: usize, out: &mut Artifacts) {
        let (rows, cols) = (t.proj.rows, t.proj.cols);
        out.push(
            "sparse24_mask_u8",
            safetensors::Dtype::U8,
            vec![rows, cols],
            s.mask(),
        );
        out.push(
            "sparse24_values_f16",
            safetensors::Dtype::F16,
            vec![rows, cols / 2],
            model::from_f32(safetensors::Dtype::F16, &s.values),
        );
        out.push(
            "sparse24_meta_u8",
            safetensors::Dtype::U8,
            vec![rows, cols / 8],
            s.meta.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::model::Rng;

    #[test]
    fn exactly_two_of_each_four_by_magnitude() {
        let mut rng = Rng::new(2);
        let (rows, cols) = (13, 48);
        let mut w: Vec<f32> = (0..rows * cols).map(|_| rng.normal()).collect();
        w[4..8].copy_from_slice(&[1.0, -1.0, 1.0, 0.5]); // ties: keep the first two
        let s = prune(&w, rows, cols).expect("prunes");
        verify_mask(&w, &s).expect("2:4");
        let m = s.mask();
        for g in m.chunks_exact(4) {
            assert_eq!(g.iter().map(|&v| u32::from(v)).sum::<u32>(), 2);
        }
        assert_eq!(&m[4..8], &[1, 1, 0, 0]);
        assert_eq!(s.bytes16() * 10000 / (2 * (rows * cols) as u64), 5625);
    }

    #[test]
    fn sparse_matmul_equals_dense_masked() {
        let mut rng = Rng::new(3);
        let (rows, cols, batch) = (7, 64, 2);
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.normal()).collect();
        let x: Vec<f32> = (0..batch * cols).map(|_| rng.normal()).collect();
        let s = prune(&w, rows, cols).expect("prunes");
        let d = s.densify();
        let y = matmul(&s, &x, batch);
        for b in 0..batch {
            for r in 0..rows {
                let want: f32 = (0..cols).map(|k| d[r * cols + k] * x[b * cols + k]).sum();
                assert!(
                    (y[b * rows + r] - want).abs() < 1e-4,
                    "{} vs {want}",
                    y[b * rows + r]
                );
            }
        }
    }

    #[test]
    fn a_mask_keeping_the_smallest_is_caught() {
        let w = [0.1f32, 0.9, 0.2, 0.8, 1.0, 2.0, 3.0, 4.0];
        let mut s = prune(&w, 1, 8).expect("prunes");
        s.meta[0] = (2 << 2) | ((1 << 2) << 4); // positions (0, 2) and (0, 1): keeps 0.1, 0.2 and 1.0, 2.0
        assert!(verify_mask(&w, &s).is_err());
    }
}
