//! Toolchains found on PATH and their versions. (Being written: this placeholder only keeps the
//! crate compiling until the real module lands.)

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Toolchain {
    pub name: String,
    pub path: Option<std::path::PathBuf>,
    pub version: Option<String>,
    pub raw: Option<String>,
    pub error: Option<String>,
}

pub fn probe(_path: Option<&std::ffi::OsStr>, _timeout: std::time::Duration) -> Vec<Toolchain> {
    Vec::new()
}
