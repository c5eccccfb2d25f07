//! Every launch of a kernel in `kernels/*.cu`, and the one cuBLAS call: one typed Rust function
//! per kernel that checks its buffers' lengths and the shape rules, then launches. This is the
//! only file in the smoke path with launch `unsafe`; each block's `// SAFETY:` line rests on the
//! checks just above it and on [`SIGNATURES`], which a test compares with the `.cu` sources, so
//! a changed kernel signature fails the build's tests rather than a launch.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::Arc;

use cudarc::driver::{
    CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

use super::cublas::{self, BlasHandle};
use super::device::GpuError;

/// A kernel's C signature as `kernels/*.cu` declares it: its file, name and parameter types.
pub struct Signature {
    pub file: &'static str,
    pub name: &'static str,
    pub params: &'static [&'static str],
}

/// Every kernel the GPU checks launch, with the parameter types the launches below push, in
/// order.
pub const SIGNATURES: &[Signature] = &[
    Signature {
        file: "nf4.cu",
        name: "nf4_quantize",
        params: &[
            "const float*",
            "long long",
            "const float*",
            "unsigned char*",
            "float*",
        ],
    },
    Signature {
        file: "nf4.cu",
        name: "nf4_dq_absmax",
        params: &[
            "const unsigned char*",
            "const float*",
            "const float*",
            "float",
            "long long",
            "float*",
        ],
    },
    Signature {
        file: "nf4.cu",
        name: "nf4_gemv",
        params: &[
            "const unsigned char*",
            "const float*",
            "const float*",
            "const float*",
            "float*",
            "int",
            "int",
            "int",
        ],
    },
    Signature {
        file: "int8.cu",
        name: "int8_quantize_rows",
        params: &[
            "const float*",
            "int",
            "int",
            "float",
            "const unsigned char*",
            "signed char*",
            "float*",
        ],
    },
    Signature {
        file: "int8.cu",
        name: "int8_gemv",
        params: &[
            "const signed char*",
            "const float*",
            "const signed char*",
            "const float*",
            "const float*",
            "const int*",
            "int",
            "float*",
            "int",
            "int",
            "int",
        ],
    },
    Signature {
        file: "lora.cu",
        name: "gemv_f32",
        params: &[
            "const float*",
            "const float*",
            "float*",
            "int",
            "int",
            "int",
        ],
    },
    Signature {
        file: "lora.cu",
        name: "add_scaled",
        params: &[
            "const float*",
            "const float*",
            "float",
            "long long",
            "float*",
        ],
    },
    Signature {
        file: "lora.cu",
        name: "lora_merge",
        params: &[
            "const float*",
            "const float*",
            "const float*",
            "int",
            "int",
            "int",
            "float",
            "float*",
        ],
    },
    Signature {
        file: "sparse24.cu",
        name: "sparse24_prune",
        params: &["const float*", "long long", "float*", "unsigned char*"],
    },
    Signature {
        file: "sparse24.cu",
        name: "sparse24_gemv",
        params: &[
            "const float*",
            "const unsigned char*",
            "const float*",
            "float*",
            "int",
            "int",
            "int",
        ],
    },
];

fn cfg1d(n: usize, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: ((n as u64).div_ceil(u64::from(block)).max(1) as u32, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One warp per row, 8 warps a block.
fn cfg_rows(rows: usize) -> LaunchConfig {
    cfg1d(rows * 32, 256)
}

/// One block of 256 threads per row.
fn cfg_block_per_row(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows.max(1) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Fails a launch whose buffers or shape break the kernel's rules.
fn need(ok: bool, kernel: &str, what: &str) -> Result<(), GpuError> {
    if ok {
        Ok(())
    } else {
        Err(GpuError::Failed(format!(
            "{kernel}: refused to launch: {what}"
        )))
    }
}

/// `i32` of a size, or a refusal.
fn int(v: usize, kernel: &str) -> Result<i32, GpuError> {
    i32::try_from(v).map_err(|_| GpuError::Failed(format!("{kernel}: {v} does not fit an int")))
}

/// The kernels, loaded from the compiled modules (or why a file's kernels are not available).
pub struct Kernels {
    funcs: HashMap<&'static str, Result<CudaFunction, GpuError>>,
    stream: Arc<CudaStream>,
}

impl Kernels {
    /// Loads every kernel of [`SIGNATURES`] from its file's module.
    pub fn load(
        stream: Arc<CudaStream>,
        modules: &HashMap<&'static str, Result<Arc<CudaModule>, GpuError>>,
    ) -> Self {
        let funcs = SIGNATURES
            .iter()
            .map(|s| {
                let f = match modules.get(s.file) {
                    Some(Ok(m)) => m.load_function(s.name).map_err(|e| {
                        GpuError::Failed(format!(
                            "loading kernel {} from {}: {e:?}",
                            s.name, s.file
                        ))
                    }),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err(GpuError::Failed(format!("no kernel file {}", s.file))),
                };
                (s.name, f)
            })
            .collect();
        Kernels { funcs, stream }
    }

    fn get(&self, name: &str) -> Result<&CudaFunction, GpuError> {
        match self.funcs.get(name) {
            Some(Ok(f)) => Ok(f),
            Some(Err(e)) => Err(e.clone()),
            None => Err(GpuError::Failed(format!("no kernel {name}"))),
        }
    }

    /// Whether a kernel can be launched, or why not.
    pub fn available(&self, name: &str) -> Result<(), GpuError> {
        self.get(name).map(|_| ())
    }

    /// `nf4_quantize`: `w` (`n` floats) to packed codes (`n/2` bytes) and absmax (`n/64`).
    pub fn nf4_quantize(
        &self,
        w: &CudaSlice<f32>,
        n: usize,
        mids: &CudaSlice<f32>,
        packed: &mut CudaSlice<u8>,
        absmax: &mut CudaSlice<f32>,
    ) -> Result<(), GpuError> {
        let k = "nf4_quantize";
        need(
            w.len() >= n && mids.len() >= 15,
            k,
            "input shorter than n or fewer than 15 midpoints",
        )?;
        need(
            packed.len() >= n.div_ceil(2) && absmax.len() >= n.div_ceil(64),
            k,
            "outputs too short",
        )?;
        let f = self.get(k)?;
        let n_i64 = n as i64;
        let mut b = self.stream.launch_builder(f);
        b.arg(w).arg(&n_i64).arg(mids).arg(packed).arg(absmax);
        // SAFETY: the arguments are nf4_quantize's (SIGNATURES), in order; every buffer holds at
        // least what the kernel touches for `n` (checked above); one thread per block of 64,
        // and the kernel returns for a block index past the end.
        unsafe { b.launch(cfg1d(n.div_ceil(64), 256)) }?;
        Ok(())
    }

    /// `nf4_dq_absmax`: `n` double-quantized absmax codes back to f32.
    pub fn nf4_dq_absmax(
        &self,
        q: &CudaSlice<u8>,
        n: usize,
        absmax2: &CudaSlice<f32>,
        code2: &CudaSlice<f32>,
        offset: f32,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), GpuError> {
        let k = "nf4_dq_absmax";
        need(
            q.len() >= n && out.len() >= n,
            k,
            "codes or output shorter than n",
        )?;
        need(
            absmax2.len() >= n.div_ceil(256) && code2.len() >= 256,
            k,
            "scales or code too short",
        )?;
        let f = self.get(k)?;
        let n_i64 = n as i64;
        let mut b = self.stream.launch_builder(f);
        b.arg(q)
            .arg(absmax2)
            .arg(code2)
            .arg(&offset)
            .arg(&n_i64)
            .arg(out);
        // SAFETY: the arguments are nf4_dq_absmax's (SIGNATURES), in order; the lengths are
        // checked above and every code indexes the 256-value code; the kernel bound-checks `i`.
        unsafe { b.launch(cfg1d(n, 256)) }?;
        Ok(())
    }

    /// `nf4_gemv`: `y[b][r] = x[b] . dequant(W[r])`, one warp per row.
    #[allow(clippy::too_many_arguments)]
    pub fn nf4_gemv(
        &self,
        packed: &CudaSlice<u8>,
        absmax: &CudaSlice<f32>,
        code: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
        rows: usize,
        cols: usize,
        batch: usize,
    ) -> Result<(), GpuError> {
        let k = "nf4_gemv";
        need(
            cols % 64 == 0,
            k,
            "the input dimension is not a multiple of 64",
        )?;
        need(
            packed.len() >= rows * cols / 2 && absmax.len() >= rows * cols / 64,
            k,
            "weights too short",
        )?;
        need(
            code.len() >= 16 && x.len() >= batch * cols && y.len() >= batch * rows,
            k,
            "code, input or output too short",
        )?;
        let f = self.get(k)?;
        let (r, c, bt) = (int(rows, k)?, int(cols, k)?, int(batch, k)?);
        let mut b = self.stream.launch_builder(f);
        b.arg(packed)
            .arg(absmax)
            .arg(code)
            .arg(x)
            .arg(y)
            .arg(&r)
            .arg(&c)
            .arg(&bt);
        // SAFETY: the arguments are nf4_gemv's (SIGNATURES), in order; the lengths are checked
        // above, and cols % 64 == 0 keeps its 16-byte vector loads aligned and in bounds; one
        // warp per row, and the kernel returns for a warp past the last row.
        unsafe { b.launch(cfg_rows(rows)) }?;
        Ok(())
    }

    /// `int8_quantize_rows`: row-wise int8 with `threshold` (0: none) and an outlier mask.
    #[allow(clippy::too_many_arguments)]
    pub fn int8_quantize_rows(
        &self,
        x: &CudaSlice<f32>,
        rows: usize,
        cols: usize,
        threshold: f32,
        outlier: &CudaSlice<u8>,
        q: &mut CudaSlice<i8>,
        row_absmax: &mut CudaSlice<f32>,
    ) -> Result<(), GpuError> {
        let k = "int8_quantize_rows";
        need(
            x.len() >= rows * cols && q.len() >= rows * cols,
            k,
            "input or output shorter than rows x cols",
        )?;
        need(
            outlier.len() >= cols && row_absmax.len() >= rows,
            k,
            "mask or absmax too short",
        )?;
        let f = self.get(k)?;
        let (r, c) = (int(rows, k)?, int(cols, k)?);
        let mut b = self.stream.launch_builder(f);
        b.arg(x)
            .arg(&r)
            .arg(&c)
            .arg(&threshold)
            .arg(outlier)
            .arg(q)
            .arg(row_absmax);
        // SAFETY: the arguments are int8_quantize_rows' (SIGNATURES), in order; the lengths are
        // checked above; one 256-thread block per row (the kernel's shared reduction assumes
        // 256), and it returns for a block past the last row.
        unsafe { b.launch(cfg_block_per_row(rows)) }?;
        Ok(())
    }

    /// `int8_gemv`: the int8 product, rescaled, plus the outlier columns in fp16.
    #[allow(clippy::too_many_arguments)]
    pub fn int8_gemv(
        &self,
        wq: &CudaSlice<i8>,
        sw: &CudaSlice<f32>,
        xq: &CudaSlice<i8>,
        sx: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        outlier_cols: &CudaSlice<i32>,
        n_outliers: usize,
        y: &mut CudaSlice<f32>,
        rows: usize,
        cols: usize,
        batch: usize,
    ) -> Result<(), GpuError> {
        let k = "int8_gemv";
        need(
            cols % 16 == 0,
            k,
            "the input dimension is not a multiple of 16",
        )?;
        need(
            wq.len() >= rows * cols && sw.len() >= rows,
            k,
            "weights too short",
        )?;
        need(
            xq.len() >= batch * cols && x.len() >= batch * cols && sx.len() >= batch,
            k,
            "activations too short",
        )?;
        need(
            outlier_cols.len() >= n_outliers && y.len() >= batch * rows,
            k,
            "outlier list or output too short",
        )?;
        let f = self.get(k)?;
        let (r, c, bt, no) = (
            int(rows, k)?,
            int(cols, k)?,
            int(batch, k)?,
            int(n_outliers, k)?,
        );
        let mut b = self.stream.launch_builder(f);
        b.arg(wq)
            .arg(sw)
            .arg(xq)
            .arg(sx)
            .arg(x)
            .arg(outlier_cols)
            .arg(&no);
        b.arg(y).arg(&r).arg(&c).arg(&bt);
        // SAFETY: the arguments are int8_gemv's (SIGNATURES), in order; the lengths are checked
        // above, cols % 16 == 0 keeps its 16-byte loads aligned and in bounds, and the caller's
        // outlier indices are < cols (they come from a scan of the activations); one warp per
        // row, bound-checked.
        unsafe { b.launch(cfg_rows(rows)) }?;
        Ok(())
    }

    /// `gemv_f32`: `y[b][r] = w[r] . x[b]`.
    pub fn gemv_f32(
        &self,
        w: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
        rows: usize,
        cols: usize,
        batch: usize,
    ) -> Result<(), GpuError> {
        let k = "gemv_f32";
        need(
            w.len() >= rows * cols && x.len() >= batch * cols && y.len() >= batch * rows,
            k,
            "buffers too short",
        )?;
        let f = self.get(k)?;
        let (r, c, bt) = (int(rows, k)?, int(cols, k)?, int(batch, k)?);
        let mut b = self.stream.launch_builder(f);
        b.arg(w).arg(x).arg(y).arg(&r).arg(&c).arg(&bt);
        // SAFETY: the arguments are gemv_f32's (SIGNATURES), in order; the lengths are checked
        // above (its float4 path runs only when cols % 4 == 0); one warp per row, bound-checked.
        unsafe { b.launch(cfg_rows(rows)) }?;
        Ok(())
    }

    /// `add_scaled`: `out = base + s * delta`, `n` elements.
    pub fn add_scaled(
        &self,
        base: &CudaSlice<f32>,
        delta: &CudaSlice<f32>,
        s: f32,
        n: usize,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), GpuError> {
        let k = "add_scaled";
        need(
            base.len() >= n && delta.len() >= n && out.len() >= n,
            k,
            "buffers shorter than n",
        )?;
        let f = self.get(k)?;
        let n_i64 = n as i64;
        let mut b = self.stream.launch_builder(f);
        b.arg(base).arg(delta).arg(&s).arg(&n_i64).arg(out);
        // SAFETY: the arguments are add_scaled's (SIGNATURES), in order; all three hold `n`
        // (checked above); one thread per element, bound-checked.
        unsafe { b.launch(cfg1d(n, 256)) }?;
        Ok(())
    }

    /// `lora_merge`: `merged = w + s * B A`.
    #[allow(clippy::too_many_arguments)]
    pub fn lora_merge(
        &self,
        w: &CudaSlice<f32>,
        a: &CudaSlice<f32>,
        bm: &CudaSlice<f32>,
        rows: usize,
        cols: usize,
        r: usize,
        s: f32,
        merged: &mut CudaSlice<f32>,
    ) -> Result<(), GpuError> {
        let k = "lora_merge";
        need(
            w.len() >= rows * cols && merged.len() >= rows * cols,
            k,
            "weights shorter than rows x cols",
        )?;
        need(
            a.len() >= r * cols && bm.len() >= rows * r,
            k,
            "adapter factors too short",
        )?;
        let f = self.get(k)?;
        let (ri, ci, rk) = (int(rows, k)?, int(cols, k)?, int(r, k)?);
        let mut b = self.stream.launch_builder(f);
        b.arg(w)
            .arg(a)
            .arg(bm)
            .arg(&ri)
            .arg(&ci)
            .arg(&rk)
            .arg(&s)
            .arg(merged);
        // SAFETY: the arguments are lora_merge's (SIGNATURES), in order; the lengths are checked
        // above; one thread per element, bound-checked.
        unsafe { b.launch(cfg1d(rows * cols, 256)) }?;
        Ok(())
    }

    /// `sparse24_prune`: 2:4 by magnitude, one byte of positions per group (GPU layout).
    pub fn sparse24_prune(
        &self,
        w: &CudaSlice<f32>,
        groups: usize,
        values: &mut CudaSlice<f32>,
        pos: &mut CudaSlice<u8>,
    ) -> Result<(), GpuError> {
        let k = "sparse24_prune";
        need(
            w.len() >= 4 * groups && values.len() >= 2 * groups && pos.len() >= groups,
            k,
            "buffers too short",
        )?;
        let f = self.get(k)?;
        let g = groups as i64;
        let mut b = self.stream.launch_builder(f);
        b.arg(w).arg(&g).arg(values).arg(pos);
        // SAFETY: the arguments are sparse24_prune's (SIGNATURES), in order; the lengths are
        // checked above; one thread per group, bound-checked.
        unsafe { b.launch(cfg1d(groups, 256)) }?;
        Ok(())
    }

    /// `sparse24_gemv`: the sparse product from kept values and positions.
    #[allow(clippy::too_many_arguments)]
    pub fn sparse24_gemv(
        &self,
        values: &CudaSlice<f32>,
        pos: &CudaSlice<u8>,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
        rows: usize,
        cols: usize,
        batch: usize,
    ) -> Result<(), GpuError> {
        let k = "sparse24_gemv";
        need(
            cols % 4 == 0,
            k,
            "the input dimension is not a multiple of 4",
        )?;
        need(
            values.len() >= rows * cols / 2 && pos.len() >= rows * cols / 4,
            k,
            "weights too short",
        )?;
        need(
            x.len() >= batch * cols && y.len() >= batch * rows,
            k,
            "input or output too short",
        )?;
        let f = self.get(k)?;
        let (r, c, bt) = (int(rows, k)?, int(cols, k)?, int(batch, k)?);
        let mut b = self.stream.launch_builder(f);
        b.arg(values)
            .arg(pos)
            .arg(x)
            .arg(y)
            .arg(&r)
            .arg(&c)
            .arg(&bt);
        // SAFETY: the arguments are sparse24_gemv's (SIGNATURES), in order; the lengths are
        // checked above; positions are < 4 by construction (2-bit fields), so every x index
        // stays inside its group; one warp per row, bound-checked.
        unsafe { b.launch(cfg_rows(rows)) }?;
        Ok(())
    }
}

/// `y = x W^T` in 16-bit with f32 compute (`cublasGemmEx`): `w` is `[rows, cols]`, `x`
/// `[batch, cols]`, `y` `[batch, rows]`, all row-major 16-bit of `cudaDataType` `dt`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_16(
    blas: &BlasHandle,
    stream: &Arc<CudaStream>,
    dt: c_int,
    w: &CudaSlice<u16>,
    x: &CudaSlice<u16>,
    y: &mut CudaSlice<u16>,
    rows: usize,
    cols: usize,
    batch: usize,
) -> Result<(), GpuError> {
    use cudarc::driver::{DevicePtr, DevicePtrMut};
    let k = "cublasGemmEx";
    need(
        w.len() >= rows * cols && x.len() >= batch * cols && y.len() >= batch * rows,
        k,
        "buffers too short",
    )?;
    need(
        dt == cublas::CUDA_R_16F || dt == cublas::CUDA_R_16BF,
        k,
        "not a 16-bit type",
    )?;
    let (m, n, kk) = (int(rows, k)?, int(batch, k)?, int(cols, k)?);
    let alpha = 1.0f32;
    let beta = 0.0f32;
    let (wp, _gw) = w.device_ptr(stream);
    let (xp, _gx) = x.device_ptr(stream);
    let (yp, _gy) = y.device_ptr_mut(stream);
    // SAFETY: the handle is bound to `stream` (BlasHandle::new). Column-major view: W [rows,
    // cols] row-major is a cols x rows column-major matrix (ld cols), used transposed; x [batch,
    // cols] row-major is cols x batch (ld cols); y [batch, rows] row-major is rows x batch (ld
    // rows). The lengths and the type are checked above; the device pointers stay valid while
    // their guards live (to the end of this function); alpha and beta are f32 as
    // CUBLAS_COMPUTE_32F requires.
    let status = unsafe {
        (blas.lib.gemm_ex)(
            blas.handle,
            cublas::OP_T,
            cublas::OP_N,
            m,
            n,
            kk,
            (&alpha) as *const f32 as *const c_void,
            wp as usize as *const c_void,
            dt,
            kk,
            xp as usize as *const c_void,
            dt,
            kk,
            (&beta) as *const f32 as *const c_void,
            yp as usize as *mut c_void,
            dt,
            m,
            cublas::COMPUTE_32F,
            cublas::GEMM_DEFAULT,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(GpuError::Failed(format!("cublasGemmEx: status {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter types of every `extern "C" __global__` kernel in a source, by name.
    fn declared(src: &str) -> HashMap<String, Vec<String>> {
        let mut out = HashMap::new();
        let mut rest = src;
        while let Some(i) = rest.find("__global__ void ") {
            let after = &rest[i + "__global__ void ".len()..];
            let open = after.find('(').expect("(");
            let close = after.find(')').expect(")");
            let name = after[..open].trim().to_string();
            let params = after[open + 1..close]
                .split(',')
                .map(|p| {
                    let p = p.replace("__restrict__", "");
                    // drop the parameter's name (the trailing identifier)
                    let p = p.trim_end();
                    let ty = p.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_');
                    let words: Vec<&str> = ty.split_whitespace().collect();
                    words.join(" ").replace(" *", "*")
                })
                .collect();
            out.insert(name, params);
            rest = &after[close..];
        }
        out
    }

    #[test]
    fn signatures_match_the_cuda_sources() {
        let mut seen = 0;
        for (file, src) in super::super::nvrtc::KERNELS {
            let decl = declared(src);
            for s in SIGNATURES.iter().filter(|s| s.file == *file) {
                let got = decl
                    .get(s.name)
                    .unwrap_or_else(|| panic!("{} is not declared in kernels/{file}", s.name));
                assert_eq!(got, &s.params.to_vec(), "{} in kernels/{file}", s.name);
                seen += 1;
            }
            for name in decl.keys() {
                assert!(
                    SIGNATURES.iter().any(|s| s.name == name),
                    "kernels/{file} declares {name}, which no launch covers"
                );
            }
        }
        assert_eq!(seen, SIGNATURES.len());
    }

    #[test]
    fn the_signature_parser_reads_pointers_and_scalars() {
        let d = declared(
            "extern \"C\" __global__ void k(const float* __restrict__ a, long long n,\n unsigned char *p) {}",
        );
        assert_eq!(d["k"], vec!["const float*", "long long", "unsigned char*"]);
    }
}
