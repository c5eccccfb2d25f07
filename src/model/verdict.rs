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

/// Why a cell or a statement check came out as it did, as a stable kebab-case code: the
/// machine-readable twin of its `reason` sentence (cargo-deny's pattern). A code never changes
/// meaning; a new situation gets a new code. `docs/report-schema.md` lists every code with the
/// same meaning as [`ReasonCode::meaning`] (a unit test keeps them in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonCode {
    NotInstalled,
    NoVersionDeclared,
    VersionNotPep440,
    VersionOutsideSpec,
    Rating,
    ClaimNotApplicable,
    NoClaim,
    NoTarget,
    NoMetadata,
    RequiresPythonExcludes,
    RequiresPythonUnparsable,
    WheelTagMismatch,
    OtherPython,
    TorchNotInstalled,
    TorchOutsideTarget,
    OtherTorch,
    RequirementExcludesTorch,
    NoDriver,
    NoGpu,
    DriverTooOld,
    DriverTooOldForTorch,
    DriverTooOldForBnb,
    TorchBuildUnknown,
    TorchNotCuda,
    TorchCudaUnreadable,
    TorchArchsUnknown,
    TorchArchsUnsure,
    ArchNotInBuild,
    TorchFamilyCudaMismatch,
    TorchOtherCuda,
    BnbLibrariesUnknown,
    BnbNoLibraryForCuda,
    BnbArchNotInBuild,
    GpuBelowBnbFloor,
    PredatesFix,
    BrokenRequirement,
    NeedsCodeRun,
    ArchDroppedByNewestCuda,
    NoNativeBf16,
    EdgeNotDeclared,
    EdgeConditional,
}

impl ReasonCode {
    /// Every code, in the order of the schema document.
    pub const ALL: [ReasonCode; 41] = [
        ReasonCode::NotInstalled,
        ReasonCode::NoVersionDeclared,
        ReasonCode::VersionNotPep440,
        ReasonCode::VersionOutsideSpec,
        ReasonCode::Rating,
        ReasonCode::ClaimNotApplicable,
        ReasonCode::NoClaim,
        ReasonCode::NoTarget,
        ReasonCode::NoMetadata,
        ReasonCode::RequiresPythonExcludes,
        ReasonCode::RequiresPythonUnparsable,
        ReasonCode::WheelTagMismatch,
        ReasonCode::OtherPython,
        ReasonCode::TorchNotInstalled,
        ReasonCode::TorchOutsideTarget,
        ReasonCode::OtherTorch,
        ReasonCode::RequirementExcludesTorch,
        ReasonCode::NoDriver,
        ReasonCode::NoGpu,
        ReasonCode::DriverTooOld,
        ReasonCode::DriverTooOldForTorch,
        ReasonCode::DriverTooOldForBnb,
        ReasonCode::TorchBuildUnknown,
        ReasonCode::TorchNotCuda,
        ReasonCode::TorchCudaUnreadable,
        ReasonCode::TorchArchsUnknown,
        ReasonCode::TorchArchsUnsure,
        ReasonCode::ArchNotInBuild,
        ReasonCode::TorchFamilyCudaMismatch,
        ReasonCode::TorchOtherCuda,
        ReasonCode::BnbLibrariesUnknown,
        ReasonCode::BnbNoLibraryForCuda,
        ReasonCode::BnbArchNotInBuild,
        ReasonCode::GpuBelowBnbFloor,
        ReasonCode::PredatesFix,
        ReasonCode::BrokenRequirement,
        ReasonCode::NeedsCodeRun,
        ReasonCode::ArchDroppedByNewestCuda,
        ReasonCode::NoNativeBf16,
        ReasonCode::EdgeNotDeclared,
        ReasonCode::EdgeConditional,
    ];

    /// The code as the report writes it.
    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    /// What the code means, one line (the schema document's wording).
    pub fn meaning(self) -> &'static str {
        self.describe().1
    }

    fn describe(self) -> (&'static str, &'static str) {
        use ReasonCode::*;
        match self {
            NotInstalled => ("not-installed", "a library the cell or statement is about is not installed"),
            NoVersionDeclared => ("no-version-declared", "the matrix names no version for the row"),
            VersionNotPep440 => ("version-not-pep440", "an installed version (the row's or torch's) is not PEP 440"),
            VersionOutsideSpec => ("version-outside-spec", "the installed version does not satisfy the matrix's specifier"),
            Rating => ("rating", "the claim is a rating in words, which no check can decide"),
            ClaimNotApplicable => ("claim-not-applicable", "the matrix claims N/A"),
            NoClaim => ("no-claim", "the matrix makes no claim in this cell"),
            NoTarget => ("no-target", "the column has no target of its kind"),
            NoMetadata => ("no-metadata", "the distribution's metadata could not be had: its Requires-Python and Requires-Dist are unknown"),
            RequiresPythonExcludes => ("requires-python-excludes", "the distribution's Requires-Python excludes the column's Python"),
            RequiresPythonUnparsable => ("requires-python-unparsable", "the distribution's Requires-Python cannot be parsed"),
            WheelTagMismatch => ("wheel-tag-mismatch", "the installed wheel is tagged for another CPython"),
            OtherPython => ("other-python", "the interpreter is another Python than the column's, so the claim is not tried here"),
            TorchNotInstalled => ("torch-not-installed", "torch is not installed, so there is no torch (or CUDA build) to check against"),
            TorchOutsideTarget => ("torch-outside-target", "the installed torch is not the column's PyTorch"),
            OtherTorch => ("other-torch", "the installed torch is outside the column's target, so the claim is not tried here"),
            RequirementExcludesTorch => ("requirement-excludes-torch", "a requirement the distribution declares on torch excludes the installed torch"),
            NoDriver => ("no-driver", "the host has no NVIDIA driver (or the host profile names none)"),
            NoGpu => ("no-gpu", "the driver reports no GPU"),
            DriverTooOld => ("driver-too-old", "the driver cannot run builds for the column's CUDA release"),
            DriverTooOldForTorch => ("driver-too-old-for-torch", "the driver cannot run the CUDA release torch is built for"),
            DriverTooOldForBnb => ("driver-too-old-for-bnb", "the driver cannot run the CUDA library bitsandbytes selects"),
            TorchBuildUnknown => ("torch-build-unknown", "which build of torch this is (CUDA, ROCm, CPU) is unknown"),
            TorchNotCuda => ("torch-not-cuda", "torch is a CPU-only or ROCm build"),
            TorchCudaUnreadable => ("torch-cuda-unreadable", "torch/version.py names a CUDA release compat cannot read"),
            TorchArchsUnknown => ("torch-archs-unknown", "the GPU architectures of the torch build are not in compat's tables"),
            TorchArchsUnsure => ("torch-archs-unsure", "the torch build's GPU architectures are marked unsure in compat's tables and no installed library was read"),
            ArchNotInBuild => ("arch-not-in-build", "torch's build has no kernels for a GPU of the host"),
            TorchFamilyCudaMismatch => ("torch-family-cuda-mismatch", "a package built against torch is built for another CUDA than torch"),
            TorchOtherCuda => ("torch-other-cuda", "torch is built for another CUDA release than the column's, so the claim is not exercised here"),
            BnbLibrariesUnknown => ("bnb-libraries-unknown", "the installed bitsandbytes shows no CUDA libraries"),
            BnbNoLibraryForCuda => ("bnb-no-library-for-cuda", "none of bitsandbytes' CUDA libraries loads with torch's CUDA"),
            BnbArchNotInBuild => ("bnb-arch-not-in-build", "bitsandbytes' selected CUDA library has no kernels for a GPU of the host"),
            GpuBelowBnbFloor => ("gpu-below-bnb-floor", "a GPU is below the compute capability floor of bitsandbytes' kernels"),
            PredatesFix => ("predates-fix", "the installed release predates the fix the document names"),
            BrokenRequirement => ("broken-requirement", "an installed requirement between the named libraries is broken"),
            NeedsCodeRun => ("needs-code-run", "whether the package works needs its own code run; metadata cannot say"),
            ArchDroppedByNewestCuda => ("arch-dropped-by-newest-cuda", "the newest CUDA release no longer supports a GPU of the host"),
            NoNativeBf16 => ("no-native-bf16", "a GPU of the host has no native bf16"),
            EdgeNotDeclared => ("edge-not-declared", "the package declares no requirement the graph's edge draws"),
            EdgeConditional => ("edge-conditional", "the package requires the other only through an extra or a marker that does not hold here"),
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ReasonCode;

    #[test]
    fn reason_codes_are_unique_kebab_case_and_documented() {
        let doc = include_str!("../../docs/report-schema.md");
        let mut seen = std::collections::HashSet::new();
        for code in ReasonCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{s}"
            );
            assert_eq!(
                serde_json::to_string(&code).expect("serialises"),
                format!("\"{s}\""),
                "as_str and serde disagree"
            );
            assert!(
                doc.contains(&format!("| `{s}` | {} |", code.meaning())),
                "docs/report-schema.md lacks `{s}` with its meaning"
            );
        }
        // ALL lists every variant, in declaration order.
        for (i, code) in ReasonCode::ALL.into_iter().enumerate() {
            assert_eq!(code as usize, i, "{code}");
        }
        assert_eq!(
            ReasonCode::EdgeConditional as usize + 1,
            ReasonCode::ALL.len()
        );
    }
}
