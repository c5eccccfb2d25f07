//! The outcomes the rules hand to the reports: the [`Verdict`] every cell and check gets, and
//! the [`RiskLevel`] of a risk row.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Verified,
    Failed,
    Unverified,
    NotInstalled,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Failed => "failed",
            Verdict::Unverified => "unverified",
            Verdict::NotInstalled => "not-installed",
        }
    }
}

/// How risky a row of the risk table is: the matrix's claim, and what `compat risk` computes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}
