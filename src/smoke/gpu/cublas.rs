//! cuBLAS for the 16-bit GEMMs, loaded by its library name: `libcublas.so.13` then `.so.12`
//! (never a major above the driver's), then `libcublas.so` — cudarc's build for CUDA 12.8 looks
//! for `.so.12` and older only. Five functions are used ([`SYMBOLS`]), with the same signatures
//! in CUDA 12 and 13; CI resolves every one of them from the nvidia-cublas-cu12 and
//! nvidia-cublas wheels (`scripts/cuda-libs.sh`).

use std::ffi::{c_int, c_void};
use std::path::Path;
use std::sync::Arc;

use super::device::GpuError;

/// The CUDA majors whose cuBLAS is looked for, newest first.
pub const MAJORS: [i32; 2] = [13, 12];

/// Every cuBLAS function compat calls.
pub const SYMBOLS: &[&str] = &[
    "cublasCreate_v2",
    "cublasDestroy_v2",
    "cublasSetStream_v2",
    "cublasGemmEx",
    "cublasGetProperty",
];

/// `cudaDataType` of fp16 and bf16, `cublasComputeType_t` f32, `CUBLAS_GEMM_DEFAULT`, the
/// operations (the same values in CUDA 12 and 13).
pub const CUDA_R_16F: c_int = 2;
pub const CUDA_R_16BF: c_int = 14;
pub const COMPUTE_32F: c_int = 68;
pub const GEMM_DEFAULT: c_int = -1;
pub const OP_N: c_int = 0;
pub const OP_T: c_int = 1;

type Handle = *mut c_void;
type CreateFn = unsafe extern "C" fn(*mut Handle) -> c_int;
type DestroyFn = unsafe extern "C" fn(Handle) -> c_int;
type SetStreamFn = unsafe extern "C" fn(Handle, *mut c_void) -> c_int;
type PropertyFn = unsafe extern "C" fn(c_int, *mut c_int) -> c_int;
/// `cublasGemmEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C,
/// Ctype, ldc, computeType, algo)`.
pub type GemmExFn = unsafe extern "C" fn(
    Handle,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    *const c_void,
    *const c_void,
    c_int,
    c_int,
    *const c_void,
    c_int,
    c_int,
    *const c_void,
    *mut c_void,
    c_int,
    c_int,
    c_int,
    c_int,
) -> c_int;

/// A loaded cuBLAS: the library (kept open) and its functions.
pub struct Cublas {
    pub path: String,
    /// `cublasGetProperty`'s major, minor and patch.
    pub version: (i32, i32, i32),
    create: CreateFn,
    destroy: DestroyFn,
    set_stream: SetStreamFn,
    pub(super) gemm_ex: GemmExFn,
    _lib: libloading::Library,
}

/// The library names to try, newest major first, none above `max_major`.
pub fn candidates(max_major: Option<i32>) -> Vec<String> {
    let mut v: Vec<String> = MAJORS
        .iter()
        .filter(|m| max_major.is_none_or(|x| **m <= x))
        .map(|m| format!("libcublas.so.{m}"))
        .collect();
    v.push("libcublas.so".into());
    v
}

impl Cublas {
    /// The first candidate that loads, within `max_major`.
    pub fn load(max_major: Option<i32>) -> Result<Cublas, GpuError> {
        let names = candidates(max_major);
        for n in &names {
            if let Ok(l) = Cublas::open(Path::new(n)) {
                if max_major.is_none_or(|m| l.version.0 <= m) {
                    return Ok(l);
                }
            }
        }
        Err(GpuError::Skipped(format!(
            "skipped: cuBLAS not found (looked for {} on the library path)",
            names.join(", ")
        )))
    }

    /// cuBLAS from one file or library name; every symbol of [`SYMBOLS`] must resolve.
    pub fn open(path: &Path) -> Result<Cublas, GpuError> {
        let shown = path.display().to_string();
        // SAFETY: loading runs cuBLAS's initialisers, which have no preconditions on the caller
        // (its dependency libcublasLt must be on the library path, or loading fails).
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| GpuError::Skipped(format!("skipped: cannot load `{shown}`: {e}")))?;
        for s in SYMBOLS {
            // SAFETY: only looks the symbol up; nothing is called through this pointer.
            if unsafe { lib.get::<*const c_void>(s.as_bytes()) }.is_err() {
                return Err(GpuError::Failed(format!(
                    "`{shown}` lacks the cuBLAS function {s}"
                )));
            }
        }
        macro_rules! sym {
            ($name:literal, $ty:ty) => {
                // SAFETY: the symbol is cuBLAS's function of that name, whose C signature (the
                // same in CUDA 12 and 13) is the type given; the pointer is copied out and used
                // only while `lib` is held by the returned value.
                *unsafe { lib.get::<$ty>(concat!($name, "\0").as_bytes()) }.map_err(|_| {
                    GpuError::Failed(format!("`{shown}` lacks the cuBLAS function {}", $name))
                })?
            };
        }
        let property: PropertyFn = sym!("cublasGetProperty", PropertyFn);
        let mut v = [0 as c_int; 3];
        for (kind, out) in v.iter_mut().enumerate() {
            // SAFETY: MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL are 0, 1, 2; writes one int; no
            // context or GPU is needed.
            let r = unsafe { property(kind as c_int, out) };
            if r != 0 {
                return Err(GpuError::Failed(format!(
                    "cublasGetProperty({kind}) in `{shown}`: status {r}"
                )));
            }
        }
        Ok(Cublas {
            version: (v[0], v[1], v[2]),
            create: sym!("cublasCreate_v2", CreateFn),
            destroy: sym!("cublasDestroy_v2", DestroyFn),
            set_stream: sym!("cublasSetStream_v2", SetStreamFn),
            gemm_ex: sym!("cublasGemmEx", GemmExFn),
            path: shown,
            _lib: lib,
        })
    }
}

/// A cuBLAS handle bound to one CUDA stream; destroyed on drop.
pub struct BlasHandle {
    pub(super) handle: Handle,
    pub(super) lib: Arc<Cublas>,
}

impl BlasHandle {
    /// `cublasCreate` and `cublasSetStream` onto `stream`.
    pub fn new(
        lib: Arc<Cublas>,
        stream: &Arc<cudarc::driver::CudaStream>,
    ) -> Result<BlasHandle, GpuError> {
        let stream = stream.cu_stream() as *mut c_void;
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: a live out-parameter; the caller made a CUDA context current on this thread.
        let r = unsafe { (lib.create)(&mut handle) };
        if r != 0 {
            return Err(GpuError::Failed(format!("cublasCreate: status {r}")));
        }
        let h = BlasHandle { handle, lib };
        // SAFETY: `handle` was just created; `stream` is a live stream of the current context.
        let r = unsafe { (h.lib.set_stream)(h.handle, stream) };
        if r != 0 {
            return Err(GpuError::Failed(format!("cublasSetStream: status {r}")));
        }
        Ok(h)
    }
}

impl Drop for BlasHandle {
    fn drop(&mut self) {
        // SAFETY: `handle` is live (created in `new`) and not used after this.
        let _ = unsafe { (self.lib.destroy)(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every symbol compat calls resolves from each cuBLAS of `COMPAT_TEST_CUBLAS` (paths
    /// separated by `:`), and their majors are 12 and 13. No GPU is needed:
    /// `cublasGetProperty` runs without one. `scripts/cuda-libs.sh` runs it with `--ignored`.
    #[test]
    #[ignore = "needs cuBLAS 12 and 13: scripts/cuda-libs.sh"]
    fn every_cublas_symbol_resolves_in_12_and_13() {
        let paths = std::env::var("COMPAT_TEST_CUBLAS").unwrap_or_default();
        assert!(
            !paths.is_empty(),
            "set COMPAT_TEST_CUBLAS (scripts/cuda-libs.sh does)"
        );
        let mut majors = Vec::new();
        for p in paths.split(':') {
            let l = Cublas::open(Path::new(p)).unwrap_or_else(|e| panic!("{p}: {e:?}"));
            println!(
                "cuBLAS {}.{}.{} ({}): {} resolve",
                l.version.0,
                l.version.1,
                l.version.2,
                l.path,
                SYMBOLS.join(", ")
            );
            majors.push(l.version.0);
        }
        majors.sort_unstable();
        majors.dedup();
        assert_eq!(majors, vec![12, 13], "cuBLAS majors given");
    }

    #[test]
    fn candidates_never_exceed_the_drivers_major() {
        assert_eq!(
            candidates(Some(12)),
            vec!["libcublas.so.12", "libcublas.so"]
        );
        assert_eq!(candidates(Some(13))[0], "libcublas.so.13");
        assert!(matches!(
            Cublas::open(Path::new("/nonexistent/libcublas.so.99")),
            Err(GpuError::Skipped(_))
        ));
    }
}
