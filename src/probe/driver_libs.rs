//! The NVIDIA driver libraries, checked for every symbol compat calls before the first call.
//!
//! cudarc (with dynamic loading) resolves each CUDA driver function on its first call and
//! panics when the library lacks it; nvml-wrapper's `Drop` calls `nvmlShutdown` the same way.
//! A stub, a half-installed driver or a library of another vendor that merely carries the name
//! would then take the whole report down (`compat smoke --device cuda` exited 101). So, before
//! any call into either crate, this module opens the library those crates would open — the
//! same names, in the same order, through the same `dlopen` search (so `LD_LIBRARY_PATH`
//! decides, as it does for them) — and looks up every symbol of a short fixed list with
//! `dlsym`. A missing symbol is a fact with the library's path and the symbol's name, never a
//! crash. Opening a library runs its initialisers, as the crates' own `dlopen` would; nothing
//! in it is called here.
//!
//! The lists are what compat's calls resolve, read from cudarc 0.19 (`driver::result` and
//! `driver::safe`, built for CUDA 12.8) and nvml-wrapper 0.13; a new call through either crate
//! must add its symbol here (the unit tests check that the lists have no duplicates).

use std::ffi::{c_void, OsStr, OsString};

/// What [`crate::probe::gpu`] calls in libcuda: the driver's CUDA version.
pub const LIBCUDA_PROBE: &[&str] = &["cuInit", "cuDriverGetVersion"];

/// What the GPU smoke test resolves in libcuda through cudarc's safe API: the primary context,
/// the default stream, memory (synchronous and stream-ordered), events, modules and launches,
/// and `cuGetErrorString` (cudarc's `Debug` of a driver error calls it).
pub const LIBCUDA_SMOKE: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuGetErrorString",
    "cuDeviceGet",
    "cuDeviceGetCount",
    "cuDeviceGetAttribute",
    "cuDeviceGetName",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxGetCurrent",
    "cuCtxSetCurrent",
    "cuCtxSynchronize",
    "cuMemGetInfo_v2",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemAllocAsync",
    "cuMemFreeAsync",
    "cuMemsetD8Async",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemcpyDtoDAsync_v2",
    "cuStreamSynchronize",
    "cuEventCreate",
    "cuEventRecord",
    "cuEventSynchronize",
    "cuEventElapsedTime",
    "cuEventDestroy_v2",
    "cuModuleLoadData",
    "cuModuleGetFunction",
    "cuModuleUnload",
    "cuLaunchKernel",
];

/// The NVML symbols without which NVML is not used: starting and stopping it (nvml-wrapper's
/// `Drop` calls `nvmlShutdown` unchecked, and panics without it), the driver version and each
/// GPU's handle and compute capability.
pub const NVML_REQUIRED: &[&str] = &[
    "nvmlInit_v2",
    "nvmlShutdown",
    "nvmlSystemGetDriverVersion",
    "nvmlDeviceGetCount_v2",
    "nvmlDeviceGetHandleByIndex_v2",
    "nvmlDeviceGetCudaComputeCapability",
];

/// The NVML symbols whose absence costs one fact each (nvml-wrapper checks these itself and
/// returns an error): the CUDA version, a GPU's name, UUID and memory.
pub const NVML_OPTIONAL: &[&str] = &[
    "nvmlSystemGetCudaDriverVersion_v2",
    "nvmlDeviceGetName",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetMemoryInfo_v2",
];

/// The name nvml-wrapper opens on Linux.
pub const NVML_NAME: &str = "libnvidia-ml.so.1";

/// The names cudarc tries for libcuda, in its order (`libcuda.so` first, `libcuda.so.1` last).
pub fn libcuda_names() -> Vec<String> {
    ["cuda", "nvcuda"]
        .iter()
        .flat_map(|l| cudarc::get_lib_name_candidates(l))
        .collect()
}

/// One library opened and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibCheck {
    /// The name it was opened by (`libcuda.so.1`).
    pub name: String,
    /// The file the dynamic linker chose, when it says (glibc's `dlinfo`).
    pub path: Option<String>,
    /// The listed symbols it lacks, in the list's order.
    pub missing: Vec<&'static str>,
}

impl LibCheck {
    /// `libcuda.so.1 (/usr/lib/x86_64-linux-gnu/libcuda.so.1)`.
    pub fn describe(&self) -> String {
        match &self.path {
            Some(p) if p != &self.name => format!("{} ({p})", self.name),
            _ => self.name.clone(),
        }
    }

    /// `libcuda.so.1 (PATH) lacks cuLaunchKernel, cuModuleLoadData`, or `None` when it lacks
    /// none of the symbols checked.
    pub fn lacks(&self) -> Option<String> {
        self.lacks_of(&self.missing)
    }

    /// The same sentence for those of `symbols` it lacks.
    pub fn lacks_of(&self, symbols: &[&str]) -> Option<String> {
        let missing: Vec<&str> = self
            .missing
            .iter()
            .copied()
            .filter(|m| symbols.contains(m))
            .collect();
        if missing.is_empty() {
            return None;
        }
        Some(format!(
            "{} lacks {}",
            self.describe(),
            crate::model::clean(&missing.join(", "))
        ))
    }
}

/// Opens the first of `names` that the dynamic linker finds, as the crates do, and looks up
/// each of `symbols` in it. `None` when no name can be opened.
pub fn check_first<S: AsRef<OsStr>>(names: &[S], symbols: &[&'static str]) -> Option<LibCheck> {
    names.iter().find_map(|n| check(n.as_ref(), symbols).ok())
}

/// Opens `name` (a bare name goes through the `dlopen` search) and looks up each of `symbols`.
pub fn check(name: &OsStr, symbols: &[&'static str]) -> Result<LibCheck, libloading::Error> {
    // SAFETY: opening a library runs its initialisers, exactly as the crate that would open it
    // next does; the same flags (RTLD_LAZY | RTLD_LOCAL) as libloading's `Library::new`, which
    // cudarc and nvml-wrapper use. Nothing in the library is called.
    let lib = unsafe { libloading::os::unix::Library::new(name) }?;
    let (lib, path) = loaded_path(lib);
    let missing = symbols
        .iter()
        .copied()
        .filter(|s| {
            // SAFETY: the symbol is only looked up, never called or read through.
            unsafe { lib.get::<*const c_void>(s.as_bytes()) }.is_err()
        })
        .collect();
    Ok(LibCheck {
        name: OsString::from(name).to_string_lossy().into_owned(),
        path,
        missing,
    })
}

/// The file behind an opened library, from glibc's `dlinfo(RTLD_DI_LINKMAP)`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn loaded_path(
    lib: libloading::os::unix::Library,
) -> (libloading::os::unix::Library, Option<String>) {
    /// The head of glibc's `struct link_map`: only these two fields are read.
    #[repr(C)]
    struct LinkMapHead {
        #[allow(dead_code)]
        l_addr: usize,
        l_name: *const std::ffi::c_char,
    }
    let raw = lib.into_raw();
    let mut map: *const LinkMapHead = std::ptr::null();
    // SAFETY: `raw` is a live handle from dlopen; RTLD_DI_LINKMAP writes one pointer to the
    // library's `struct link_map`, whose first two fields are `l_addr` and `l_name`, and which
    // lives as long as the handle; `l_name` is a NUL-terminated string (empty for the main
    // program). The handle is given back to a `Library` before returning, so it is closed once.
    unsafe {
        let r = libc::dlinfo(
            raw,
            libc::RTLD_DI_LINKMAP,
            (&mut map as *mut *const LinkMapHead).cast::<c_void>(),
        );
        let path = if r == 0 && !map.is_null() && !(*map).l_name.is_null() {
            let s = std::ffi::CStr::from_ptr((*map).l_name).to_string_lossy();
            (!s.is_empty()).then(|| s.into_owned())
        } else {
            None
        };
        (libloading::os::unix::Library::from_raw(raw), path)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn loaded_path(
    lib: libloading::os::unix::Library,
) -> (libloading::os::unix::Library, Option<String>) {
    (lib, None)
}

/// Catches a panic from inside a driver crate (the second line behind the symbol checks) and
/// says what it was.
pub fn catch<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        format!("{what} panicked: {}", crate::model::clean(&msg))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_no_duplicates_and_probe_is_within_smoke() {
        for list in [LIBCUDA_SMOKE, LIBCUDA_PROBE, NVML_REQUIRED, NVML_OPTIONAL] {
            let mut v = list.to_vec();
            v.sort();
            v.dedup();
            assert_eq!(v.len(), list.len(), "{list:?}");
        }
        assert!(LIBCUDA_PROBE.iter().all(|s| LIBCUDA_SMOKE.contains(s)));
        assert!(NVML_OPTIONAL.iter().all(|s| !NVML_REQUIRED.contains(s)));
    }

    #[test]
    fn libcuda_names_are_cudarcs_order() {
        let names = libcuda_names();
        assert_eq!(names.first().map(String::as_str), Some("libcuda.so"));
        assert!(names.iter().any(|n| n == "libcuda.so.1"));
    }

    #[test]
    fn a_library_that_is_not_there_is_none() {
        assert!(check_first(&["libcompat-no-such-library.so.7"], LIBCUDA_SMOKE).is_none());
    }

    #[test]
    fn libc_has_what_it_has_and_lacks_what_it_lacks() {
        // libc.so.6 is loaded in every test process: a real library to look symbols up in.
        let c = check_first(&["libc.so.6"], &["malloc", "cuLaunchKernel", "free"]).expect("libc");
        assert_eq!(c.missing, vec!["cuLaunchKernel"]);
        let lacks = c.lacks().expect("lacks one");
        assert!(lacks.starts_with("libc.so.6"), "{lacks}");
        assert!(lacks.ends_with("lacks cuLaunchKernel"), "{lacks}");
        if let Some(p) = &c.path {
            assert!(p.contains("libc"), "{p}");
        }
        assert_eq!(c.lacks_of(&["malloc"]), None);
        let none = check_first(&["libc.so.6"], &["malloc"]).expect("libc");
        assert_eq!(none.lacks(), None);
    }

    #[test]
    fn a_panic_is_caught_with_its_message() {
        let r: Result<(), String> = catch("NVML", || panic!("Expected function, got error."));
        assert_eq!(
            r.expect_err("caught"),
            "NVML panicked: Expected function, got error."
        );
        assert_eq!(catch("x", || 3), Ok(3));
    }
}
