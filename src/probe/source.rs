//! Where a host fact came from, as data. The reports carry it as text (`nvml`,
//! `override:COMPAT_OVERRIDE_GPU_ARCH`, `host-profile:h100.toml`, …): [`Source`] is the one place
//! those strings are spelled, and [`Source::parse`] reads them back.

use std::fmt;

/// The source of one host fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// NVML (`libnvidia-ml.so.1`).
    Nvml,
    /// The CUDA driver API (`libcuda.so.1`).
    Libcuda,
    /// `nvidia-smi`, when NVML cannot be loaded.
    NvidiaSmi,
    /// `nvcc --version` on PATH.
    Nvcc,
    /// An override variable (`COMPAT_OVERRIDE_*`).
    Override(&'static str),
    /// A host profile, named as it was given.
    Profile(String),
}

impl Source {
    /// Reads a source string back; `None` for text no probe writes. An override variable that
    /// is not one of [`super::OVERRIDES`] is not read back either.
    pub fn parse(text: &str) -> Option<Source> {
        Some(match text {
            "nvml" => Source::Nvml,
            "libcuda" => Source::Libcuda,
            "nvidia-smi" => Source::NvidiaSmi,
            "nvcc" => Source::Nvcc,
            _ => {
                if let Some(origin) = text.strip_prefix("host-profile:") {
                    Source::Profile(origin.to_string())
                } else {
                    let var = text.strip_prefix("override:")?;
                    let known = super::OVERRIDES.iter().find(|o| o.var == var)?;
                    Source::Override(known.var)
                }
            }
        })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Nvml => f.write_str("nvml"),
            Source::Libcuda => f.write_str("libcuda"),
            Source::NvidiaSmi => f.write_str("nvidia-smi"),
            Source::Nvcc => f.write_str("nvcc"),
            Source::Override(var) => write!(f, "override:{var}"),
            Source::Profile(origin) => write!(f, "host-profile:{origin}"),
        }
    }
}

impl From<Source> for String {
    fn from(s: Source) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_back() {
        for s in [
            Source::Nvml,
            Source::Libcuda,
            Source::NvidiaSmi,
            Source::Nvcc,
            Source::Override("COMPAT_OVERRIDE_GPU_ARCH"),
            Source::Profile("fixtures/hosts/h100-550.toml".into()),
        ] {
            assert_eq!(Source::parse(&s.to_string()), Some(s));
        }
        assert_eq!(Source::parse("override:PATH"), None);
        assert_eq!(Source::parse("guess"), None);
    }
}
