//! NVRTC: the kernels in `kernels/*.cu`, embedded in the binary, compiled at run time to a CUBIN
//! for the GPU's own architecture (a CUBIN, not PTX, so a driver older than NVRTC still loads
//! it).
//!
//! NVRTC is loaded here by its library name rather than through cudarc, whose build for CUDA
//! 12.8 looks for `libnvrtc.so.12` and older only: a host with CUDA 13 alone would have none. The
//! candidates are `libnvrtc.so.13` then `libnvrtc.so.12` (never a major above what the driver
//! supports: a CUBIN from NVRTC 13 needs a CUDA 13 driver), then the unversioned `libnvrtc.so`.
//! The eight functions used have the same signatures in CUDA 12 and 13; CI compiles every kernel
//! with NVRTC 12 and 13 from their wheels (`scripts/cuda-libs.sh`).
//!
//! What does not live here: loading the CUBIN into a context ([`super::device`]) and launching
//! its kernels ([`super::kernels`]).

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;

/// The kernel sources, embedded in the binary.
pub const KERNELS: &[(&str, &str)] = &[
    ("nf4.cu", include_str!("../../../kernels/nf4.cu")),
    ("int8.cu", include_str!("../../../kernels/int8.cu")),
    ("lora.cu", include_str!("../../../kernels/lora.cu")),
    ("sparse24.cu", include_str!("../../../kernels/sparse24.cu")),
];

/// The CUDA majors whose NVRTC is looked for, newest first.
pub const MAJORS: [i32; 2] = [13, 12];

/// The NVRTC functions compat calls, all present in CUDA 12 and 13.
pub const SYMBOLS: &[&str] = &[
    "nvrtcVersion",
    "nvrtcCreateProgram",
    "nvrtcCompileProgram",
    "nvrtcGetProgramLogSize",
    "nvrtcGetProgramLog",
    "nvrtcGetCUBINSize",
    "nvrtcGetCUBIN",
    "nvrtcDestroyProgram",
];

/// Why NVRTC could not be used, or a kernel file did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvrtcError {
    #[error("NVRTC not found (looked for {tried})")]
    NotFound { tried: String },
    #[error("`{lib}` lacks the NVRTC function {symbol}")]
    Symbol { lib: String, symbol: String },
    #[error("{file}: the source holds a NUL byte")]
    Nul { file: String },
    #[error("{call}({file}): NVRTC error {code}")]
    Call {
        call: &'static str,
        file: String,
        code: i32,
    },
    #[error("NVRTC error {code} compiling {file} for {arch} (options {options:?}):\n{log}")]
    Compile {
        file: String,
        arch: String,
        options: Vec<String>,
        code: i32,
        log: String,
    },
}

type Prog = *mut c_void;
type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;
type CreateFn = unsafe extern "C" fn(
    *mut Prog,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type CompileFn = unsafe extern "C" fn(Prog, c_int, *const *const c_char) -> c_int;
type SizeFn = unsafe extern "C" fn(Prog, *mut usize) -> c_int;
type CopyFn = unsafe extern "C" fn(Prog, *mut c_char) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut Prog) -> c_int;

/// A loaded NVRTC: the library (kept open) and its functions.
pub struct Nvrtc {
    /// The file or name it was loaded from.
    pub path: String,
    pub version: (i32, i32),
    create: CreateFn,
    compile: CompileFn,
    log_size: SizeFn,
    log: CopyFn,
    cubin_size: SizeFn,
    cubin: CopyFn,
    destroy: DestroyFn,
    _lib: libloading::Library,
}

/// The library names to try, newest major first, none above `max_major`.
pub fn candidates(max_major: Option<i32>) -> Vec<String> {
    let mut v: Vec<String> = MAJORS
        .iter()
        .filter(|m| max_major.is_none_or(|x| **m <= x))
        .map(|m| format!("libnvrtc.so.{m}"))
        .collect();
    v.push("libnvrtc.so".into());
    v
}

impl Nvrtc {
    /// The first candidate that loads and whose version is within `max_major`.
    pub fn load(max_major: Option<i32>) -> Result<Nvrtc, NvrtcError> {
        let names = candidates(max_major);
        for n in &names {
            if let Ok(l) = Nvrtc::open(Path::new(n)) {
                if max_major.is_none_or(|m| l.version.0 <= m) {
                    return Ok(l);
                }
            }
        }
        Err(NvrtcError::NotFound {
            tried: format!("{} on the library path", names.join(", ")),
        })
    }

    /// NVRTC from one file or library name.
    pub fn open(path: &Path) -> Result<Nvrtc, NvrtcError> {
        let shown = path.display().to_string();
        // SAFETY: loading runs the library's initialisers; NVRTC's are those of a plain shared
        // library with no preconditions on the caller.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|_| NvrtcError::NotFound {
            tried: shown.clone(),
        })?;
        let missing = |symbol: &str| NvrtcError::Symbol {
            lib: shown.clone(),
            symbol: symbol.into(),
        };
        for s in SYMBOLS {
            // SAFETY: only looks the symbol up; nothing is called through this pointer.
            if unsafe { lib.get::<*const c_void>(s.as_bytes()) }.is_err() {
                return Err(missing(s));
            }
        }
        macro_rules! sym {
            ($name:literal, $ty:ty) => {
                // SAFETY: the symbol is NVRTC's function of that name, whose C signature (the
                // same in CUDA 12 and 13) is the type given; the pointer is copied out and used
                // only while `lib` is held by the returned value.
                *unsafe { lib.get::<$ty>(concat!($name, "\0").as_bytes()) }
                    .map_err(|_| missing($name))?
            };
        }
        let version_fn: VersionFn = sym!("nvrtcVersion", VersionFn);
        let (mut a, mut b): (c_int, c_int) = (0, 0);
        // SAFETY: writes two ints to live locals.
        let r = unsafe { version_fn(&mut a, &mut b) };
        if r != 0 {
            return Err(NvrtcError::Call {
                call: "nvrtcVersion",
                file: shown,
                code: r,
            });
        }
        Ok(Nvrtc {
            version: (a, b),
            create: sym!("nvrtcCreateProgram", CreateFn),
            compile: sym!("nvrtcCompileProgram", CompileFn),
            log_size: sym!("nvrtcGetProgramLogSize", SizeFn),
            log: sym!("nvrtcGetProgramLog", CopyFn),
            cubin_size: sym!("nvrtcGetCUBINSize", SizeFn),
            cubin: sym!("nvrtcGetCUBIN", CopyFn),
            destroy: sym!("nvrtcDestroyProgram", DestroyFn),
            path: shown,
            _lib: lib,
        })
    }

    /// Compiles one kernel source to a CUBIN for `arch` (`sm_90`). The error carries NVRTC's log.
    pub fn compile(&self, name: &str, src: &str, arch: &str) -> Result<Vec<u8>, NvrtcError> {
        let nul = || NvrtcError::Nul { file: name.into() };
        let csrc = CString::new(src).map_err(|_| nul())?;
        let cname = CString::new(name).map_err(|_| nul())?;
        let options = vec![
            format!("--gpu-architecture={arch}"),
            "--std=c++17".to_string(),
        ];
        let copts: Vec<CString> = options
            .iter()
            .map(|o| CString::new(o.as_str()).map_err(|_| nul()))
            .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = copts.iter().map(|c| c.as_ptr()).collect();
        let call = |call, code| NvrtcError::Call {
            call,
            file: name.into(),
            code,
        };
        let mut prog: Prog = std::ptr::null_mut();
        // SAFETY: `prog` is a live out-parameter; the source and name are NUL-terminated strings
        // that outlive the call; no headers are passed (count 0, null arrays).
        let r = unsafe {
            (self.create)(
                &mut prog,
                csrc.as_ptr(),
                cname.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if r != 0 {
            return Err(call("nvrtcCreateProgram", r));
        }
        // SAFETY: `prog` is the program created above; `ptrs` holds `options.len()` pointers
        // to NUL-terminated strings that outlive the call.
        let compiled = unsafe { (self.compile)(prog, ptrs.len() as c_int, ptrs.as_ptr()) };
        let out = if compiled != 0 {
            Err(NvrtcError::Compile {
                file: name.into(),
                arch: arch.into(),
                options,
                code: compiled,
                log: self.read(prog, self.log_size, self.log).map_or_else(
                    |_| String::new(),
                    |l| {
                        String::from_utf8_lossy(&l)
                            .trim_end_matches('\0')
                            .trim()
                            .to_string()
                    },
                ),
            })
        } else {
            self.read(prog, self.cubin_size, self.cubin)
                .map_err(|code| call("nvrtcGetCUBIN", code))
        };
        // SAFETY: `prog` is live and not used after this.
        let _ = unsafe { (self.destroy)(&mut prog) };
        out
    }

    /// A size-then-copy NVRTC output (the log, the CUBIN) of `prog`.
    fn read(&self, prog: Prog, size: SizeFn, copy: CopyFn) -> Result<Vec<u8>, i32> {
        let mut n: usize = 0;
        // SAFETY: `prog` is a live program; writes one size.
        let r = unsafe { size(prog, &mut n) };
        if r != 0 {
            return Err(r);
        }
        let mut buf = vec![0u8; n.max(1)];
        // SAFETY: `buf` holds at least the `n` bytes NVRTC reported.
        let r = unsafe { copy(prog, buf.as_mut_ptr() as *mut c_char) };
        if r != 0 {
            return Err(r);
        }
        buf.truncate(n);
        Ok(buf)
    }

    /// Compiles every kernel in `kernels/` for `arch`; each file's CUBIN size or its error.
    pub fn compile_all(&self, arch: &str) -> Vec<(&'static str, Result<usize, NvrtcError>)> {
        KERNELS
            .iter()
            .map(|(n, s)| (*n, self.compile(n, s, arch).map(|b| b.len())))
            .collect()
    }
}

/// The GPU architectures an NVRTC of this version compiles for, as CI checks them: CUDA 13
/// dropped everything below Turing (sm_75); Blackwell (sm_100, sm_120) arrived in 12.8.
pub fn archs(version: (i32, i32)) -> Vec<&'static str> {
    let mut v = vec!["sm_75", "sm_80", "sm_86", "sm_89", "sm_90"];
    if version >= (12, 8) {
        v.extend(["sm_100", "sm_120"]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NVRTC libraries of `COMPAT_TEST_NVRTC` (paths separated by `:`).
    fn libraries() -> Vec<Nvrtc> {
        let paths = std::env::var("COMPAT_TEST_NVRTC").unwrap_or_default();
        assert!(
            !paths.is_empty(),
            "set COMPAT_TEST_NVRTC to NVRTC libraries (scripts/cuda-libs.sh does)"
        );
        paths
            .split(':')
            .map(|p| Nvrtc::open(Path::new(p)).unwrap_or_else(|e| panic!("{p}: {e}")))
            .collect()
    }

    /// Every kernel compiles with each NVRTC given, for every architecture it supports; the
    /// majors given must include 12 and 13. Ignored by default (it needs the libraries);
    /// `scripts/cuda-libs.sh` installs them from their wheels and runs it with `--ignored`.
    #[test]
    #[ignore = "needs NVRTC 12 and 13: scripts/cuda-libs.sh"]
    fn every_kernel_compiles_with_nvrtc_12_and_13() {
        let libs = libraries();
        let mut majors: Vec<i32> = libs.iter().map(|l| l.version.0).collect();
        majors.sort_unstable();
        majors.dedup();
        assert_eq!(majors, vec![12, 13], "NVRTC majors given");
        for l in &libs {
            let archs = archs(l.version);
            for arch in &archs {
                for (name, r) in l.compile_all(arch) {
                    match r {
                        Ok(size) => assert!(size > 0, "{name} {arch}"),
                        Err(e) => panic!(
                            "NVRTC {:?}: {name} does not compile for {arch}:\n{e}",
                            l.version
                        ),
                    }
                }
            }
            println!(
                "NVRTC {}.{} ({}): {} kernel files compile for {}",
                l.version.0,
                l.version.1,
                l.path,
                KERNELS.len(),
                archs.join(" ")
            );
        }
    }

    #[test]
    #[ignore = "needs NVRTC 12 and 13: scripts/cuda-libs.sh"]
    fn a_compile_error_carries_the_log() {
        for l in libraries() {
            let e = l
                .compile(
                    "bad.cu",
                    "extern \"C\" __global__ void k() { undeclared_thing(); }",
                    "sm_80",
                )
                .expect_err("does not compile");
            assert!(e.to_string().contains("undeclared_thing"), "{e}");
        }
    }

    #[test]
    fn candidates_never_exceed_the_drivers_major() {
        assert_eq!(candidates(Some(12)), vec!["libnvrtc.so.12", "libnvrtc.so"]);
        assert_eq!(
            candidates(Some(13)),
            vec!["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
        );
        assert_eq!(candidates(None).len(), 3);
        assert!(archs((13, 0)).contains(&"sm_120"));
        assert!(!archs((12, 4)).contains(&"sm_100"));
        let missing = Nvrtc::open(Path::new("/nonexistent/libnvrtc.so.99"));
        assert!(matches!(missing, Err(NvrtcError::NotFound { .. })));
    }
}
