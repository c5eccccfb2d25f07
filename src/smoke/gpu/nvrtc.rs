//! NVRTC: the kernels in `kernels/*.cu`, embedded in the binary, compiled at run time to a CUBIN
//! for the GPU's own architecture (a CUBIN, not PTX, so a driver older than NVRTC still loads
//! it). What does not live here: loading the CUBIN into a context ([`super::device`]) and
//! launching its kernels ([`super::kernels`]).

use std::ffi::{c_char, c_int, CString};

/// The kernel sources, embedded in the binary.
pub const KERNELS: &[(&str, &str)] = &[
    ("nf4.cu", include_str!("../../../kernels/nf4.cu")),
    ("int8.cu", include_str!("../../../kernels/int8.cu")),
    ("lora.cu", include_str!("../../../kernels/lora.cu")),
    ("sparse24.cu", include_str!("../../../kernels/sparse24.cu")),
];

/// Why a kernel file did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvrtcError {
    #[error("{file}: the source holds a NUL byte")]
    Nul { file: String },
    #[error("nvrtcCreateProgram({file}): {code}")]
    Create { file: String, code: String },
    #[error("NVRTC {code} compiling {file} for {arch} (options {options:?}):\n{log}")]
    Compile {
        file: String,
        arch: String,
        options: Vec<String>,
        code: String,
        log: String,
    },
    #[error("{call}({file}): {code}")]
    Cubin {
        call: &'static str,
        file: String,
        code: String,
    },
}

/// Whether NVRTC can be loaded (cudarc's library names: `libnvrtc.so`, `.so.12`, `.so.11`, …).
pub fn present() -> bool {
    // SAFETY: only tries to dlopen the candidate names; no NVRTC function is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// NVRTC's version, when it loads.
pub fn version() -> Option<(i32, i32)> {
    if !present() {
        return None;
    }
    let (mut a, mut b): (c_int, c_int) = (0, 0);
    // SAFETY: NVRTC is present (checked above); the call writes two ints to live locals.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut a, &mut b) };
    (r == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS).then_some((a, b))
}

fn c_chars(v: &[c_char]) -> String {
    let bytes: Vec<u8> = v
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Compiles one kernel source to a CUBIN for `arch` (`sm_90`). The error carries NVRTC's log.
/// Callers must have checked [`present`].
pub fn compile(name: &str, src: &str, arch: &str) -> Result<Vec<u8>, NvrtcError> {
    use cudarc::nvrtc::{result, sys};
    let nul = || NvrtcError::Nul { file: name.into() };
    let csrc = CString::new(src).map_err(|_| nul())?;
    let cname = CString::new(name).map_err(|_| nul())?;
    let prog =
        result::create_program(&csrc, Some(cname.as_c_str())).map_err(|e| NvrtcError::Create {
            file: name.into(),
            code: format!("{e:?}"),
        })?;
    let opts = vec![
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
    ];
    // SAFETY: `prog` is the live program created above; the options are owned strings that
    // outlive the call.
    let compiled = unsafe { result::compile_program(prog, &opts) };
    // SAFETY: as above; the log is copied out before the program is destroyed.
    let log = unsafe { result::get_program_log(prog) }
        .map(|l| c_chars(&l))
        .unwrap_or_default();
    let cubin_err = |call, r: sys::nvrtcResult| NvrtcError::Cubin {
        call,
        file: name.into(),
        code: format!("{r:?}"),
    };
    let out = match compiled {
        Err(e) => Err(NvrtcError::Compile {
            file: name.into(),
            arch: arch.into(),
            options: opts.clone(),
            code: format!("{e:?}"),
            log: log.trim().to_string(),
        }),
        Ok(()) => {
            let mut size: usize = 0;
            // SAFETY: `prog` compiled successfully; the call writes the CUBIN size.
            let r = unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) };
            if r != sys::nvrtcResult::NVRTC_SUCCESS || size == 0 {
                Err(cubin_err("nvrtcGetCUBINSize", r))
            } else {
                let mut buf = vec![0u8; size];
                // SAFETY: `buf` has exactly the size NVRTC reported.
                let r = unsafe { sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr() as *mut c_char) };
                if r == sys::nvrtcResult::NVRTC_SUCCESS {
                    Ok(buf)
                } else {
                    Err(cubin_err("nvrtcGetCUBIN", r))
                }
            }
        }
    };
    // SAFETY: `prog` is live and not used after this.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

/// Compiles every kernel in `kernels/` for `arch`; returns each file's CUBIN size or the
/// compiler's error. Used by the checks and by the NVRTC test that CI runs.
pub fn compile_all(arch: &str) -> Vec<(&'static str, Result<usize, NvrtcError>)> {
    KERNELS
        .iter()
        .map(|(n, s)| (*n, compile(n, s, arch).map(|b| b.len())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel compiles with NVRTC for the architectures CI targets. Ignored by default
    /// (it needs NVRTC on the library path, so it is reported as ignored, never as passed,
    /// where there is none); `.ci/run` installs NVRTC from the nvidia-cuda-nvrtc-cu12 wheel and
    /// runs it with `--ignored` (see kernels/README.md), where a missing NVRTC is a failure.
    #[test]
    #[ignore = "needs NVRTC: .ci/run installs it and runs this with --ignored"]
    fn kernels_compile_with_nvrtc() {
        assert!(
            present(),
            "NVRTC not found (libnvrtc.so / .so.12 on LD_LIBRARY_PATH)"
        );
        for arch in ["sm_75", "sm_80", "sm_86", "sm_89", "sm_90"] {
            for (name, r) in compile_all(arch) {
                match r {
                    Ok(size) => assert!(size > 0, "{name} {arch}"),
                    Err(e) => panic!("{name} does not compile for {arch}:\n{e}"),
                }
            }
        }
    }

    #[test]
    #[ignore = "needs NVRTC: .ci/run installs it and runs this with --ignored"]
    fn a_compile_error_carries_the_log() {
        assert!(
            present(),
            "NVRTC not found (libnvrtc.so / .so.12 on LD_LIBRARY_PATH)"
        );
        let e = compile(
            "bad.cu",
            "extern \"C\" __global__ void k() { undeclared_thing(); }",
            "sm_80",
        )
        .expect_err("does not compile");
        assert!(e.to_string().contains("undeclared_thing"), "{e}");
    }
}
