//! Why a cell or a statement check came out as it did, as data: each [`Reason`] holds the facts
//! that decided it, and words them here, in one place, into the `reason` sentence (and, for a
//! failed cell, the `fix`). Every reason has a stable [`ReasonCode`]. The rules in `cells/` and
//! `statements.rs` only build reasons; they write no sentences of their own.
//!
//! `mod.rs` holds the reasons and their codes; `words.rs` their sentences and fixes.
//!
//! What does not live here: the evidence lines (what held), which are written where they are
//! found.

mod words;

use pep440_rs::{Version, VersionSpecifiers};

use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::verdict::ReasonCode;
use crate::model::SmokeCheckId;

/// A reason with its facts. Names are as the rule saw them (a distribution's own name, a
/// normalized package name, a version as installed).
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    // ---- any cell
    /// `library` is not installed `place` ("in this environment", "in this plan").
    NotInstalled {
        library: String,
        place: String,
    },
    /// A qualitative column; `rating` is the claim's words where the row makes one.
    Rating {
        rating: Option<String>,
    },
    ClaimNotApplicable,
    NoClaim,
    /// The column has no target of its kind (`what`: "CUDA", "Python", "torch").
    NoTarget {
        what: &'static str,
    },
    /// No metadata was read for the distribution (`word`: "installed", "planned").
    NoMetadata {
        word: String,
        name: String,
        version: String,
    },

    // ---- version column
    NoVersionDeclared,
    VersionNotPep440 {
        version: String,
    },
    VersionOutsideSpec {
        package: String,
        installed: String,
        spec: VersionSpecifiers,
    },

    // ---- python column
    RequiresPythonExcludes {
        name: String,
        version: String,
        package: String,
        requires_python: String,
        python: Version,
        target: (u64, u64),
    },
    RequiresPythonUnparsable {
        requires_python: String,
    },
    WheelTagMismatch {
        package: String,
        version: String,
        tags: Vec<String>,
        target: (u64, u64),
    },
    OtherPython {
        interpreter: String,
        target: (u64, u64),
    },

    // ---- pytorch column
    TorchNotInstalled {
        place: String,
    },
    TorchVersionNotPep440 {
        version: String,
    },
    TorchOutsideTarget {
        torch: String,
        spec: VersionSpecifiers,
    },
    OtherTorch {
        torch: String,
        spec: VersionSpecifiers,
    },
    RequirementExcludesTorch {
        name: String,
        version: String,
        package: String,
        requirement: String,
        through_extra: bool,
        torch: String,
    },

    // ---- cuda and gpu columns
    /// No driver: from the host profile named, or from probing (`why` is the probe's note).
    NoDriver {
        profile: Option<String>,
        why: String,
    },
    NoGpu,
    /// The driver cannot run builds for the column's CUDA release. `driver` describes the
    /// driver; `alternative` is a torch variant of the installed release that would run here.
    DriverTooOld {
        driver: String,
        target: CudaVersion,
        needs: DriverVersion,
        full_support: Option<DriverVersion>,
        alternative: Option<CudaVersion>,
    },
    /// Torch is not installed, so there is no CUDA build to judge.
    NoTorchBuild,
    TorchBuildUnknown {
        planned: bool,
    },
    /// A CPU-only build (`hip` is `None`) or a ROCm build.
    TorchNotCuda {
        torch: String,
        hip: Option<String>,
        target: CudaVersion,
    },
    TorchCudaUnreadable {
        text: String,
    },
    DriverTooOldForTorch {
        driver: String,
        torch: String,
        cuda: CudaVersion,
        needs: DriverVersion,
        alternative: Option<CudaVersion>,
    },
    TorchVersionUnreadable {
        version: String,
    },
    TorchArchsUnknown {
        torch: Version,
        cuda: CudaVersion,
    },
    TorchArchsUnsure {
        torch: Version,
        cuda: CudaVersion,
        /// The GPUs the table would cover only through PTX nobody checked, if any.
        jit: Vec<String>,
    },
    /// The installed torch libraries' fatbins have no kernel a GPU can run.
    FatbinNoKernels {
        torch: String,
        /// The library without kernels for the GPUs, and what its fatbin carries.
        library: String,
        sass: Vec<String>,
        ptx: Vec<String>,
        /// The GPUs without kernels, as `name (sm_XY)`.
        missing: Vec<String>,
        /// Why the PTX present does not reach them, if it would by architecture.
        ptx_blocked: Option<String>,
        fix: ArchFix,
    },
    /// A package built against torch is built for another CUDA than torch.
    TorchFamilyCudaMismatch {
        package: String,
        version: String,
        /// Where its CUDA variant was read.
        package_cuda: String,
        torch: String,
        torch_cuda: String,
        /// The rule: "exact CUDA major.minor" or "the same CUDA major".
        rule: String,
        fix: String,
    },
    ArchNotInBuild {
        torch: String,
        /// The GPUs without kernels, as `name (sm_XY)`.
        missing: Vec<String>,
        sass: Vec<ComputeCapability>,
        ptx: Option<ComputeCapability>,
        fix: ArchFix,
    },
    TorchOtherCuda {
        built: CudaVersion,
        target: CudaVersion,
    },
    BnbLibrariesUnknown {
        version: String,
    },
    BnbNoLibraryForCuda {
        version: String,
        available: Vec<CudaVersion>,
        torch_cuda: CudaVersion,
    },
    DriverTooOldForBnb {
        driver: String,
        library: CudaVersion,
        needs: DriverVersion,
    },
    BnbArchNotInBuild {
        library: CudaVersion,
        lowest: ComputeCapability,
        highest: ComputeCapability,
        /// The GPUs outside the range, as `name (sm_XY)`.
        outside: Vec<String>,
    },
    GpuBelowBnbFloor {
        gpu: String,
        cc: ComputeCapability,
        floor: ComputeCapability,
    },

    // ---- statements
    /// The statement's libraries that are not installed.
    NoneInstalled {
        missing: Vec<String>,
    },
    /// `library` is not installed in this environment.
    NotInstalledHere {
        library: String,
    },
    PredatesFix {
        library: String,
        version: String,
        spec: VersionSpecifiers,
    },
    /// pip-check sentences of the broken requirements.
    BrokenRequirement {
        messages: Vec<String>,
    },
    /// Whether `package` works with `others` needs its own code run; `smoke` are the smoke
    /// checks that exercise its operation.
    NeedsCodeRun {
        package: String,
        others: Vec<String>,
        smoke: Vec<SmokeCheckId>,
    },
    ArchDroppedByNewestCuda {
        newest: CudaVersion,
        /// The GPUs it drops, as `name (sm_XY)`.
        gpus: Vec<String>,
    },
    NoNativeBf16 {
        /// The GPUs without it, as `name (sm_XY)`.
        gpus: Vec<String>,
        floor: ComputeCapability,
    },
    EdgeNotDeclared {
        package: String,
        version: String,
        to: String,
    },
    EdgeConditional {
        package: String,
        version: String,
        to: String,
    },
}

/// What to install when torch's build has no kernels for a GPU.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchFix {
    /// Another CUDA variant of the installed release covers the GPUs.
    Variant {
        torch: Version,
        variant: CudaVersion,
    },
    /// The first release (`2.x`) with a variant that covers them and runs on this driver.
    Release {
        release: String,
        variant: CudaVersion,
    },
    /// No release in the tables covers them on this driver.
    UpgradeDriver,
}

impl Reason {
    pub fn code(&self) -> ReasonCode {
        use Reason as R;
        use ReasonCode as C;
        match self {
            R::NotInstalled { .. } | R::NoneInstalled { .. } | R::NotInstalledHere { .. } => {
                C::NotInstalled
            }
            R::Rating { .. } => C::Rating,
            R::ClaimNotApplicable => C::ClaimNotApplicable,
            R::NoClaim => C::NoClaim,
            R::NoTarget { .. } => C::NoTarget,
            R::NoMetadata { .. } => C::NoMetadata,
            R::NoVersionDeclared => C::NoVersionDeclared,
            R::VersionNotPep440 { .. }
            | R::TorchVersionNotPep440 { .. }
            | R::TorchVersionUnreadable { .. } => C::VersionNotPep440,
            R::VersionOutsideSpec { .. } => C::VersionOutsideSpec,
            R::RequiresPythonExcludes { .. } => C::RequiresPythonExcludes,
            R::RequiresPythonUnparsable { .. } => C::RequiresPythonUnparsable,
            R::WheelTagMismatch { .. } => C::WheelTagMismatch,
            R::OtherPython { .. } => C::OtherPython,
            R::TorchNotInstalled { .. } | R::NoTorchBuild => C::TorchNotInstalled,
            R::TorchOutsideTarget { .. } => C::TorchOutsideTarget,
            R::OtherTorch { .. } => C::OtherTorch,
            R::RequirementExcludesTorch { .. } => C::RequirementExcludesTorch,
            R::NoDriver { .. } => C::NoDriver,
            R::NoGpu => C::NoGpu,
            R::DriverTooOld { .. } => C::DriverTooOld,
            R::TorchBuildUnknown { .. } => C::TorchBuildUnknown,
            R::TorchNotCuda { .. } => C::TorchNotCuda,
            R::TorchCudaUnreadable { .. } => C::TorchCudaUnreadable,
            R::DriverTooOldForTorch { .. } => C::DriverTooOldForTorch,
            R::TorchArchsUnknown { .. } => C::TorchArchsUnknown,
            R::ArchNotInBuild { .. } | R::FatbinNoKernels { .. } => C::ArchNotInBuild,
            R::TorchArchsUnsure { .. } => C::TorchArchsUnsure,
            R::TorchFamilyCudaMismatch { .. } => C::TorchFamilyCudaMismatch,
            R::TorchOtherCuda { .. } => C::TorchOtherCuda,
            R::BnbLibrariesUnknown { .. } => C::BnbLibrariesUnknown,
            R::BnbNoLibraryForCuda { .. } => C::BnbNoLibraryForCuda,
            R::DriverTooOldForBnb { .. } => C::DriverTooOldForBnb,
            R::BnbArchNotInBuild { .. } => C::BnbArchNotInBuild,
            R::GpuBelowBnbFloor { .. } => C::GpuBelowBnbFloor,
            R::PredatesFix { .. } => C::PredatesFix,
            R::BrokenRequirement { .. } => C::BrokenRequirement,
            R::NeedsCodeRun { .. } => C::NeedsCodeRun,
            R::ArchDroppedByNewestCuda { .. } => C::ArchDroppedByNewestCuda,
            R::NoNativeBf16 { .. } => C::NoNativeBf16,
            R::EdgeNotDeclared { .. } => C::EdgeNotDeclared,
            R::EdgeConditional { .. } => C::EdgeConditional,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};

    /// One reason of every variant, with made-up facts.
    fn every_reason() -> Vec<Reason> {
        let s = |x: &str| x.to_string();
        let cuda = CudaVersion::new(12, 4);
        let cc = ComputeCapability::new(7, 0);
        let spec: VersionSpecifiers = ">=2.4".parse().expect("spec");
        let driver = DriverVersion(vec![550, 54, 15]);
        let v: Version = "2.4.1".parse().expect("version");
        vec![
            Reason::NotInstalled {
                library: s("x"),
                place: s("here"),
            },
            Reason::Rating {
                rating: Some(s("Good")),
            },
            Reason::Rating { rating: None },
            Reason::ClaimNotApplicable,
            Reason::NoClaim,
            Reason::NoTarget { what: "CUDA" },
            Reason::NoMetadata {
                word: s("planned"),
                name: s("x"),
                version: s("1"),
            },
            Reason::NoVersionDeclared,
            Reason::VersionNotPep440 { version: s("x") },
            Reason::VersionOutsideSpec {
                package: s("x"),
                installed: s("1"),
                spec: spec.clone(),
            },
            Reason::RequiresPythonExcludes {
                name: s("x"),
                version: s("1"),
                package: s("x"),
                requires_python: s(">=3.12"),
                python: "3.11.0".parse().expect("version"),
                target: (3, 11),
            },
            Reason::RequiresPythonUnparsable {
                requires_python: s("?"),
            },
            Reason::WheelTagMismatch {
                package: s("x"),
                version: s("1"),
                tags: vec![s("cp312")],
                target: (3, 11),
            },
            Reason::OtherPython {
                interpreter: s("3.12.1"),
                target: (3, 11),
            },
            Reason::TorchNotInstalled { place: s("here") },
            Reason::TorchVersionNotPep440 { version: s("x") },
            Reason::TorchOutsideTarget {
                torch: s("2.3.1"),
                spec: spec.clone(),
            },
            Reason::OtherTorch {
                torch: s("2.3.1"),
                spec: spec.clone(),
            },
            Reason::RequirementExcludesTorch {
                name: s("x"),
                version: s("1"),
                package: s("x"),
                requirement: s("torch<2"),
                through_extra: true,
                torch: s("2.4.1"),
            },
            Reason::NoDriver {
                profile: None,
                why: s("no NVIDIA driver"),
            },
            Reason::NoDriver {
                profile: Some(s("h.toml")),
                why: s(""),
            },
            Reason::NoGpu,
            Reason::DriverTooOld {
                driver: s("driver 470"),
                target: cuda,
                needs: driver.clone(),
                full_support: Some(driver.clone()),
                alternative: Some(CudaVersion::new(11, 8)),
            },
            Reason::NoTorchBuild,
            Reason::TorchBuildUnknown { planned: true },
            Reason::TorchBuildUnknown { planned: false },
            Reason::TorchNotCuda {
                torch: s("2.4.1"),
                hip: Some(s("6.1")),
                target: cuda,
            },
            Reason::TorchCudaUnreadable { text: s("x") },
            Reason::DriverTooOldForTorch {
                driver: s("driver 470"),
                torch: s("2.4.1"),
                cuda,
                needs: driver.clone(),
                alternative: None,
            },
            Reason::TorchVersionUnreadable { version: s("x") },
            Reason::TorchArchsUnknown {
                torch: v.clone(),
                cuda,
            },
            Reason::ArchNotInBuild {
                torch: s("2.9.0"),
                missing: vec![s("V100 (sm_70)")],
                sass: vec![ComputeCapability::new(7, 5)],
                ptx: None,
                fix: ArchFix::Variant {
                    torch: v.clone(),
                    variant: cuda,
                },
            },
            Reason::ArchNotInBuild {
                torch: s("2.9.0"),
                missing: vec![s("V100 (sm_70)")],
                sass: vec![ComputeCapability::new(7, 5)],
                ptx: Some(cc),
                fix: ArchFix::Release {
                    release: s("2.4"),
                    variant: cuda,
                },
            },
            Reason::ArchNotInBuild {
                torch: s("2.9.0"),
                missing: vec![s("V100 (sm_70)")],
                sass: vec![ComputeCapability::new(7, 5)],
                ptx: None,
                fix: ArchFix::UpgradeDriver,
            },
            Reason::TorchOtherCuda {
                built: CudaVersion::new(12, 6),
                target: cuda,
            },
            Reason::BnbLibrariesUnknown { version: s("0.45") },
            Reason::BnbNoLibraryForCuda {
                version: s("0.45"),
                available: vec![cuda],
                torch_cuda: CudaVersion::new(13, 0),
            },
            Reason::DriverTooOldForBnb {
                driver: s("driver 470"),
                library: cuda,
                needs: driver.clone(),
            },
            Reason::BnbArchNotInBuild {
                library: cuda,
                lowest: cc,
                highest: cc,
                outside: vec![s("P4 (sm_61)")],
            },
            Reason::GpuBelowBnbFloor {
                gpu: s("K80"),
                cc: ComputeCapability::new(3, 7),
                floor: ComputeCapability::new(6, 0),
            },
            Reason::NoneInstalled {
                missing: vec![s("x")],
            },
            Reason::NotInstalledHere { library: s("x") },
            Reason::PredatesFix {
                library: s("x"),
                version: s("1"),
                spec,
            },
            Reason::BrokenRequirement {
                messages: vec![s("x 1 requires y, which is not installed.")],
            },
            Reason::NeedsCodeRun {
                package: s("x"),
                others: vec![],
                smoke: SmokeCheckId::ALL.to_vec(),
            },
            Reason::ArchDroppedByNewestCuda {
                newest: CudaVersion::new(13, 0),
                gpus: vec![s("V100 (sm_70)")],
            },
            Reason::NoNativeBf16 {
                gpus: vec![s("T4 (sm_75)")],
                floor: ComputeCapability::new(8, 0),
            },
            Reason::EdgeNotDeclared {
                package: s("x"),
                version: s("1"),
                to: s("y"),
            },
            Reason::EdgeConditional {
                package: s("x"),
                version: s("1"),
                to: s("y"),
            },
            Reason::TorchArchsUnsure {
                torch: "2.9.0".parse().unwrap(),
                cuda: CudaVersion::new(13, 0),
                jit: vec![s("GPU (sm_100)")],
            },
            Reason::TorchFamilyCudaMismatch {
                package: s("torchvision"),
                version: s("0.19.1+cu118"),
                package_cuda: s("11.8"),
                torch: s("2.4.1+cu124"),
                torch_cuda: s("12.4"),
                rule: s("exactly torch's CUDA major.minor"),
                fix: s("reinstall"),
            },
        ]
    }

    #[test]
    fn every_reason_is_worded_and_every_code_is_used() {
        let mut codes = std::collections::BTreeSet::new();
        for r in every_reason() {
            let words = r.to_string();
            assert!(
                !words.is_empty() && words != r.code().as_str(),
                "{r:?} has no sentence of its own"
            );
            assert!(!words.contains("  ") && !words.ends_with(' '), "{words:?}");
            codes.insert(r.code());
        }
        assert_eq!(codes.len(), ReasonCode::ALL.len(), "a code no reason gives");
    }

    #[test]
    fn a_code_run_names_the_package_its_peers_and_its_smoke_checks() {
        let r = Reason::NeedsCodeRun {
            package: "sparsegpt".into(),
            others: vec!["torch".into()],
            smoke: vec![SmokeCheckId::Sparse24],
        };
        assert_eq!(
            r.to_string(),
            "whether sparsegpt itself works with this torch needs its own code run; compat's 2:4 smoke check (`compat smoke`) exercises the operation, not the package"
        );
        assert_eq!(r.code(), ReasonCode::NeedsCodeRun);
        let r = Reason::NeedsCodeRun {
            package: "x".into(),
            others: vec!["torch".into()],
            smoke: vec![],
        };
        assert_eq!(
            r.to_string(),
            "whether x itself works with this torch needs its own code run"
        );
    }

    #[test]
    fn failing_reasons_carry_a_fix_and_undecided_ones_none() {
        assert!(Reason::NoClaim.fix().is_none());
        let r = Reason::VersionOutsideSpec {
            package: "ruff".into(),
            installed: "0.4.10".into(),
            spec: ">=0.5".parse().expect("spec"),
        };
        assert_eq!(r.fix().as_deref(), Some("pip install 'ruff>=0.5'"));
        assert_eq!(r.to_string(), "installed 0.4.10 does not satisfy >=0.5");
    }
}
