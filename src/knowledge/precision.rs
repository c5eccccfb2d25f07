//! What a compute capability allows (`precision.toml`): fp16, native bf16, int8 tensor cores
//! and fp8, each by the gate the libraries themselves apply.

use serde::Deserialize;
use toml::Spanned;

use super::table::Table;
use super::{Knowledge, KnowledgeError};
use crate::model::units::ComputeCapability;

pub(super) const FILE: &str = "precision.toml";

/// What a GPU's compute capability allows, per the gate each library applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precision {
    /// fp16 is supported (>= 7.0).
    pub fp16: bool,
    /// fp16 works but is deprecated (6.x: DeepSpeed refuses it unless DS_ALLOW_DEPRECATED_FP16=1).
    pub fp16_deprecated: bool,
    /// bf16 in hardware (>= 8.0); below, torch emulates it (slowly).
    pub bf16_native: bool,
    /// int8 tensor-core matmul (IMMA, >= 7.5).
    pub int8_tensor_cores: bool,
    /// fp8 matmul (`torch._scaled_mm`: 8.9 or >= 9.0).
    pub fp8: bool,
    pub sources: PrecisionSources,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecisionSources {
    pub fp16: String,
    pub bf16_native: String,
    pub int8_tensor_cores: String,
    pub fp8: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrecisionFile {
    schema: Spanned<u32>,
    fp16: Spanned<ThresholdRow>,
    bf16_native: Spanned<ThresholdRow>,
    int8_tensor_cores: Spanned<ThresholdRow>,
    fp8: Spanned<ThresholdRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdRow {
    min: ComputeCapability,
    /// Archs below `min` that still work but are deprecated (fp16 on 6.x).
    #[serde(default)]
    deprecated_min: Option<ComputeCapability>,
    /// Exact archs below `min` that also qualify (fp8 on 8.9).
    #[serde(default)]
    also: Vec<ComputeCapability>,
    source: String,
}

#[derive(Debug, Clone)]
struct Threshold {
    min: ComputeCapability,
    deprecated_min: Option<ComputeCapability>,
    also: Vec<ComputeCapability>,
    source: String,
}

impl Threshold {
    fn admits(&self, cc: ComputeCapability) -> bool {
        cc >= self.min || self.also.contains(&cc)
    }
}

#[derive(Debug, Clone)]
pub(super) struct PrecisionTable {
    fp16: Threshold,
    bf16: Threshold,
    int8: Threshold,
    fp8: Threshold,
}

impl PrecisionTable {
    pub(super) fn parse(t: Table<'_>) -> Result<PrecisionTable, KnowledgeError> {
        let f: PrecisionFile = t.parse()?;
        t.check_schema(&f.schema)?;
        let threshold = |name: &str, row: Spanned<ThresholdRow>| {
            let span = row.span();
            let r = row.into_inner();
            t.check_source(span, name, &r.source)?;
            Ok::<_, KnowledgeError>(Threshold {
                min: r.min,
                deprecated_min: r.deprecated_min,
                also: r.also,
                source: r.source,
            })
        };
        Ok(PrecisionTable {
            fp16: threshold("fp16", f.fp16)?,
            bf16: threshold("bf16_native", f.bf16_native)?,
            int8: threshold("int8_tensor_cores", f.int8_tensor_cores)?,
            fp8: threshold("fp8", f.fp8)?,
        })
    }
}

impl Knowledge {
    /// The lowest compute capability with native bf16 (`sm_80`).
    pub fn bf16_native_floor(&self) -> ComputeCapability {
        self.precision.bf16.min
    }

    /// What a compute capability allows.
    pub fn precision(&self, cc: ComputeCapability) -> Precision {
        let p = &self.precision;
        let fp16 = p.fp16.admits(cc);
        Precision {
            fp16,
            fp16_deprecated: !fp16 && p.fp16.deprecated_min.is_some_and(|d| cc >= d),
            bf16_native: p.bf16.admits(cc),
            int8_tensor_cores: p.int8.admits(cc),
            fp8: p.fp8.admits(cc),
            sources: PrecisionSources {
                fp16: p.fp16.source.clone(),
                bf16_native: p.bf16.source.clone(),
                int8_tensor_cores: p.int8.source.clone(),
                fp8: p.fp8.source.clone(),
            },
        }
    }
}
