//! The newest GCC major each CUDA release's nvcc accepts as its host compiler
//! (`nvcc-host-compilers.toml`). nvcc refuses a GCC newer than its `crt/host_config.h` allows, so
//! a wheel that builds CUDA extensions at install time fails on such a machine long before any
//! GPU code runs. The check is on the GCC major only.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::table::Table;
use super::{Knowledge, KnowledgeError};
use crate::model::units::CudaVersion;

pub(super) const FILE: &str = "nvcc-host-compilers.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NvccFile {
    schema: Spanned<u32>,
    release: Vec<Spanned<NvccRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NvccRow {
    cuda: Spanned<String>,
    max_gcc_major: u32,
    source: String,
    #[serde(default)]
    unsure: bool,
}

/// One CUDA release's host-compiler limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCompilerRelease {
    pub cuda: CudaVersion,
    /// The newest GCC major its `crt/host_config.h` accepts.
    pub max_gcc_major: u32,
    pub source: String,
    /// Set where the row could not be confirmed from the header or NVIDIA's guide.
    pub unsure: bool,
}

/// Whether nvcc of one CUDA release accepts a GCC as host compiler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCompilerSupport {
    /// Whether the GCC major is at most [`Self::max_gcc_major`].
    pub supported: bool,
    /// The newest GCC major the release accepts.
    pub max_gcc_major: u32,
    /// Where that limit comes from; ends with `[unconfirmed]` when it could not be confirmed.
    pub source: String,
}

#[derive(Debug, Clone)]
pub(super) struct NvccTable {
    releases: Vec<HostCompilerRelease>,
}

impl NvccTable {
    /// Every row a `major.minor` release with a source, in ascending order, no release twice,
    /// and a newer release never accepting an older GCC than the one before it.
    pub(super) fn parse(t: Table<'_>) -> Result<NvccTable, KnowledgeError> {
        let f: NvccFile = t.parse()?;
        t.check_schema(&f.schema)?;
        let mut releases: Vec<HostCompilerRelease> = Vec::new();
        for row in f.release {
            let span = row.span();
            let r = row.into_inner();
            let text = r.cuda.get_ref();
            let cuda = parse_release(text).ok_or_else(|| {
                t.invalid(
                    Some(r.cuda.span()),
                    format!("release `{text}` is not major.minor"),
                )
            })?;
            t.check_source(span.clone(), &format!("release {text}"), &r.source)?;
            if let Some(prev) = releases.last() {
                if prev.cuda >= cuda {
                    return Err(t.invalid(
                        Some(span),
                        format!("release {cuda} is listed twice or after {}", prev.cuda),
                    ));
                }
                if prev.max_gcc_major > r.max_gcc_major {
                    return Err(t.invalid(
                        Some(span),
                        format!(
                            "release {cuda} accepts GCC up to {}, less than {}'s {}",
                            r.max_gcc_major, prev.cuda, prev.max_gcc_major
                        ),
                    ));
                }
            }
            releases.push(HostCompilerRelease {
                cuda,
                max_gcc_major: r.max_gcc_major,
                source: r.source,
                unsure: r.unsure,
            });
        }
        Ok(NvccTable { releases })
    }
}

/// `12.4` exactly: two numbers, no patch.
fn parse_release(s: &str) -> Option<CudaVersion> {
    let (a, b) = s.split_once('.')?;
    let num = |x: &str| {
        (!x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
            .then(|| x.parse().ok())
            .flatten()
    };
    Some(CudaVersion::new(num(a)?, num(b)?))
}

/// `(12, 4)` of an nvcc version as `nvcc --version` or a profile writes it: `12.4.131`, `12.4`,
/// `V12.4.131`.
fn nvcc_release(version: &str) -> Option<CudaVersion> {
    let v = version.trim().trim_start_matches(['V', 'v']);
    let (major, rest) = v.split_once('.')?;
    Some(CudaVersion::new(major.parse().ok()?, leading_number(rest)?))
}

fn leading_number(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Knowledge {
    /// Every release of the host-compiler table, ascending.
    pub fn nvcc_host_compilers(&self) -> &[HostCompilerRelease] {
        &self.nvcc.releases
    }

    /// The row for the CUDA release of an nvcc version (`12.4.131` → `12.4`).
    pub fn nvcc_release(&self, nvcc_version: &str) -> Option<&HostCompilerRelease> {
        let key = nvcc_release(nvcc_version)?;
        self.nvcc.releases.iter().find(|r| r.cuda == key)
    }

    /// Whether nvcc of a CUDA release (`12.4.131`, `12.4`) accepts a GCC (`11.4.0`, `13`) as
    /// host compiler: nvcc checks the GCC major only. `None` when either version cannot be read
    /// or the table has no row for the release (CUDA 12.7 does not exist; releases before 11.8
    /// are not in the table).
    pub fn nvcc_supports_gcc(
        &self,
        nvcc_version: &str,
        gcc_version: &str,
    ) -> Option<HostCompilerSupport> {
        let gcc_major = leading_number(gcc_version.trim())?;
        let row = self.nvcc_release(nvcc_version)?;
        Some(HostCompilerSupport {
            supported: gcc_major <= row.max_gcc_major,
            max_gcc_major: row.max_gcc_major,
            source: if row.unsure {
                format!("{} [unconfirmed]", row.source)
            } else {
                row.source.clone()
            },
        })
    }
}
