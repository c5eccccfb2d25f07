//! The smoke checks by id: the one list that the matrix loader validates against, the smoke
//! runner runs and the reports name.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SmokeCheckId {
    #[serde(rename = "int8-llm")]
    Int8Llm,
    #[serde(rename = "nf4")]
    Nf4,
    #[serde(rename = "nf4-dq")]
    Nf4Dq,
    #[serde(rename = "lora")]
    Lora,
    #[serde(rename = "sparse-2-4")]
    Sparse24,
    #[serde(rename = "gemm-fp16")]
    GemmFp16,
    #[serde(rename = "gemm-bf16")]
    GemmBf16,
    #[serde(rename = "safetensors-roundtrip")]
    SafetensorsRoundtrip,
}

impl SmokeCheckId {
    /// Every check, in report order.
    pub const ALL: [SmokeCheckId; 8] = [
        SmokeCheckId::Int8Llm,
        SmokeCheckId::Nf4,
        SmokeCheckId::Nf4Dq,
        SmokeCheckId::Lora,
        SmokeCheckId::Sparse24,
        SmokeCheckId::GemmFp16,
        SmokeCheckId::GemmBf16,
        SmokeCheckId::SafetensorsRoundtrip,
    ];

    /// The checks that run a kernel on a layer (all but the round trip, which is a file-format
    /// check): the ones a GPU runs too.
    pub const KERNELS: [SmokeCheckId; 7] = [
        SmokeCheckId::Int8Llm,
        SmokeCheckId::Nf4,
        SmokeCheckId::Nf4Dq,
        SmokeCheckId::Lora,
        SmokeCheckId::Sparse24,
        SmokeCheckId::GemmFp16,
        SmokeCheckId::GemmBf16,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SmokeCheckId::Int8Llm => "int8-llm",
            SmokeCheckId::Nf4 => "nf4",
            SmokeCheckId::Nf4Dq => "nf4-dq",
            SmokeCheckId::Lora => "lora",
            SmokeCheckId::Sparse24 => "sparse-2-4",
            SmokeCheckId::GemmFp16 => "gemm-fp16",
            SmokeCheckId::GemmBf16 => "gemm-bf16",
            SmokeCheckId::SafetensorsRoundtrip => "safetensors-roundtrip",
        }
    }

    pub fn parse(id: &str) -> Option<SmokeCheckId> {
        Self::ALL.into_iter().find(|c| c.as_str() == id)
    }

    /// `int8-llm, nf4, ...`: for hints.
    pub fn list() -> String {
        Self::ALL.map(SmokeCheckId::as_str).join(", ")
    }
}

impl fmt::Display for SmokeCheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SmokeCheckId;

    #[test]
    fn ids_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for id in SmokeCheckId::ALL {
            assert!(seen.insert(id.as_str()), "{id} twice");
            assert_eq!(SmokeCheckId::parse(id.as_str()), Some(id));
            let json = serde_json::to_string(&id).expect("serialises");
            assert_eq!(json, format!("\"{}\"", id.as_str()));
        }
        assert!(SmokeCheckId::KERNELS
            .iter()
            .all(|k| SmokeCheckId::ALL.contains(k)));
        assert_eq!(SmokeCheckId::parse("nf8"), None);
    }
}
