//! The on-disk shape of the TOML tables in `matrices/knowledge/`, exactly as written there.
//! `mod.rs` turns these into the checked, typed [`super::Knowledge`]; nothing else reads them.
//!
//! Every struct denies unknown fields so a misspelt key in a table is a load error (caught by
//! the `builtin_tables_are_valid` test), not a silently ignored row attribute.

use serde::Deserialize;

use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToolkitFile {
    pub schema: u32,
    pub toolkit: Vec<ToolkitRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToolkitRow {
    pub release: String,
    pub label: String,
    pub linux_x86_64: DriverVersion,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the table
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MinorCompatFile {
    pub schema: u32,
    pub caveat: String,
    pub caveat_source: String,
    pub floor: Vec<MinorFloorRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MinorFloorRow {
    pub major: u32,
    pub floor: DriverVersion,
    /// The driver branch where NVIDIA's table ends the range (newer drivers still run it
    /// through ordinary backward compatibility).
    #[serde(default)]
    #[allow(dead_code)]
    pub upper: Option<String>,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
    #[serde(default)]
    #[allow(dead_code)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TorchFile {
    pub schema: u32,
    pub release: Vec<TorchReleaseRow>,
    pub build: Vec<TorchBuildRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TorchReleaseRow {
    pub torch: String,
    pub variants: Vec<CudaVersion>,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
    #[serde(default)]
    #[allow(dead_code)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TorchBuildRow {
    pub torch: String,
    pub cuda: CudaVersion,
    pub sass: Vec<ComputeCapability>,
    #[serde(default)]
    pub ptx: Option<ComputeCapability>,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
    #[serde(default)]
    #[allow(dead_code)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ArchSupportFile {
    pub schema: u32,
    pub range: Vec<ArchRangeRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ArchRangeRow {
    pub from: CudaVersion,
    pub to: CudaVersion,
    pub min: ComputeCapability,
    pub max: ComputeCapability,
    #[serde(default)]
    pub deprecated_below: Option<ComputeCapability>,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrecisionFile {
    pub schema: u32,
    pub fp16: Threshold,
    pub bf16_native: Threshold,
    pub int8_tensor_cores: Threshold,
    pub fp8: Threshold,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Threshold {
    pub min: ComputeCapability,
    /// Archs below `min` that still work but are deprecated (fp16 on 6.x).
    #[serde(default)]
    pub deprecated_min: Option<ComputeCapability>,
    /// Exact archs below `min` that also qualify (fp8 on 8.9).
    #[serde(default)]
    pub also: Vec<ComputeCapability>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BnbFile {
    pub schema: u32,
    pub latest_known: String,
    pub library_pattern: String,
    pub library_source: String,
    pub override_env: String,
    pub selection_rule: String,
    pub selection_source: String,
    pub fallback_since: String,
    pub builds: Vec<BnbBuildsRow>,
    pub archs: Vec<BnbArchRow>,
    pub floors: BnbFloorsRow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BnbBuildsRow {
    pub bnb: String,
    pub cuda: Vec<CudaVersion>,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BnbArchRow {
    pub bnb: String,
    pub cuda_from: CudaVersion,
    pub cuda_to: CudaVersion,
    pub min: ComputeCapability,
    pub max: ComputeCapability,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
    #[serde(default)]
    #[allow(dead_code)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BnbFloorsRow {
    pub nf4: ComputeCapability,
    pub optim_8bit: ComputeCapability,
    pub llm_int8_tensor_cores: ComputeCapability,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GpuFile {
    pub schema: u32,
    pub gpu: Vec<GpuRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GpuRow {
    pub name: String,
    #[serde(rename = "match")]
    pub keys: Vec<String>,
    pub cc: ComputeCapability,
    pub source: String,
    #[serde(default)]
    pub unsure: bool,
    #[serde(default)]
    #[allow(dead_code)]
    pub note: Option<String>,
}
