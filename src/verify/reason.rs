//! Why a cell or a statement check came out as it did, as data: each [`Reason`] holds the facts
//! that decided it, and words them here, in one place, into the `reason` sentence (and, for a
//! failed cell, the `fix`). Every reason has a stable [`ReasonCode`]. The rules in `cells/` and
//! `statements.rs` only build reasons; they write no sentences of their own.
//!
//! What does not live here: the evidence lines (what held), which are written where they are
//! found.

use std::fmt;

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
            R::ArchNotInBuild { .. } => C::ArchNotInBuild,
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

    /// What to do about it, for the reasons that fail a cell.
    pub fn fix(&self) -> Option<String> {
        use Reason as R;
        Some(match self {
            R::VersionOutsideSpec { package, spec, .. } => format!("pip install '{package}{spec}'"),
            R::RequiresPythonExcludes {
                package,
                target: (major, minor),
                ..
            } => format!(
                "install a release of {package} whose Requires-Python admits {major}.{minor}"
            ),
            R::WheelTagMismatch {
                package, version, ..
            } => format!("pip install --force-reinstall {package}=={version}"),
            R::TorchOutsideTarget { spec, .. } => format!(
                "install torch{spec} from the CUDA wheel index that fits the driver (`compat install-order` prints the command)"
            ),
            R::RequirementExcludesTorch { package, torch, .. } => format!(
                "install a release of {package} that admits torch {torch}, or a torch it admits"
            ),
            R::DriverTooOld {
                needs,
                alternative,
                target,
                ..
            } => format!(
                "upgrade the NVIDIA driver to >= {needs}{}",
                alternative
                    .map(|a| format!(
                        ", or install torch's {} wheels (runs here, but not the CUDA {target} the matrix names)",
                        a.tag()
                    ))
                    .unwrap_or_default()
            ),
            R::TorchNotCuda { target, .. } => format!(
                "reinstall torch from PyTorch's {} wheel index (--index-url …/whl/{})",
                target.tag(),
                target.tag()
            ),
            R::DriverTooOldForTorch { alternative, .. } => format!(
                "upgrade the driver{}",
                alternative
                    .map(|a| format!(", or install torch's {} wheels", a.tag()))
                    .unwrap_or_default()
            ),
            R::ArchNotInBuild { fix, .. } => match fix {
                ArchFix::Variant { torch, variant } => format!(
                    "install torch {torch} from the {} wheels, which cover these GPUs",
                    variant.tag()
                ),
                ArchFix::Release { release, variant } => format!(
                    "install torch>={release} from its {} wheels (the first release whose wheels cover these GPUs and run on this driver)",
                    variant.tag()
                ),
                ArchFix::UpgradeDriver => "no torch release in compat's tables covers these GPUs on this driver: upgrade the driver".into(),
            },
            R::BnbNoLibraryForCuda {
                available,
                torch_cuda,
                ..
            } => format!(
                "install a bitsandbytes release built for CUDA {}.x, or torch built for CUDA {}",
                torch_cuda.major,
                available
                    .last()
                    .map(|c| c.to_string())
                    .unwrap_or_default()
            ),
            R::DriverTooOldForBnb { needs, .. } => format!("upgrade the driver to >= {needs}"),
            R::BnbArchNotInBuild { .. } => {
                "install a bitsandbytes release whose CUDA build covers these GPUs".into()
            }
            R::GpuBelowBnbFloor { floor, .. } => {
                format!("use a GPU of compute capability {floor} or newer")
            }
            _ => return None,
        })
    }
}

fn sms(ccs: &[ComputeCapability]) -> String {
    ccs.iter().map(|c| c.sm()).collect::<Vec<_>>().join(", ")
}

/// The operation a smoke check exercises, as the reasons name it.
fn operation(id: SmokeCheckId) -> &'static str {
    match id {
        SmokeCheckId::Int8Llm => "LLM.int8",
        SmokeCheckId::Nf4 => "NF4",
        SmokeCheckId::Nf4Dq => "NF4 double-quantization",
        SmokeCheckId::Lora => "LoRA",
        SmokeCheckId::Sparse24 => "2:4",
        SmokeCheckId::GemmFp16 => "fp16 GEMM",
        SmokeCheckId::GemmBf16 => "bf16 GEMM",
        SmokeCheckId::SafetensorsRoundtrip => "safetensors round-trip",
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Reason as R;
        match self {
            R::NotInstalled { library, place } => write!(f, "{library} is not installed {place}"),
            R::Rating { rating: Some(r) } => write!(f, "a rating (\"{r}\"), not a checkable claim"),
            R::Rating { rating: None } => f.write_str("a rating, not a checkable claim"),
            R::ClaimNotApplicable => f.write_str("the matrix claims N/A: nothing to check"),
            R::NoClaim => f.write_str("the matrix makes no claim here"),
            R::NoTarget { what } => write!(f, "the column has no {what} target"),
            R::NoMetadata { word, name, version } => write!(
                f,
                "no metadata for {word} {name} {version}: its Requires-Python and Requires-Dist are unknown (offline, or no index)"
            ),
            R::NoVersionDeclared => f.write_str("the matrix names no version for this row"),
            R::VersionNotPep440 { version } => {
                write!(f, "installed version `{version}` is not PEP 440")
            }
            R::VersionOutsideSpec { installed, spec, .. } => {
                write!(f, "installed {installed} does not satisfy {spec}")
            }
            R::RequiresPythonExcludes {
                name,
                version,
                requires_python,
                python,
                ..
            } => write!(
                f,
                "{name} {version} declares Requires-Python {requires_python}, which excludes Python {python}"
            ),
            R::RequiresPythonUnparsable { requires_python } => {
                write!(f, "Requires-Python `{requires_python}` cannot be parsed")
            }
            R::WheelTagMismatch {
                tags,
                target: (major, minor),
                ..
            } => write!(
                f,
                "the installed wheel is tagged {}, not for CPython {major}.{minor}",
                tags.join(", ")
            ),
            R::OtherPython {
                interpreter,
                target: (major, minor),
            } => write!(
                f,
                "the interpreter is Python {interpreter}, not {major}.{minor}: run with --python pointing at a {major}.{minor} environment"
            ),
            R::TorchNotInstalled { place } => write!(f, "torch is not installed {place}"),
            R::TorchVersionNotPep440 { version } => {
                write!(f, "installed torch version `{version}` is not PEP 440")
            }
            R::TorchOutsideTarget { torch, spec } => {
                write!(f, "torch {torch} is not PyTorch {spec}")
            }
            R::OtherTorch { torch, spec } => write!(
                f,
                "installed torch {torch} is outside {spec}, so this claim cannot be tried here"
            ),
            R::RequirementExcludesTorch {
                name,
                version,
                requirement,
                through_extra,
                torch,
                ..
            } => write!(
                f,
                "{name} {version} requires `{requirement}`{}, but torch is {torch}",
                if *through_extra {
                    " (through an extra)"
                } else {
                    ""
                }
            ),
            R::NoDriver {
                profile: Some(p), ..
            } => write!(
                f,
                "no GPU on this host: the host profile {p} has no NVIDIA driver"
            ),
            R::NoDriver { profile: None, why } => write!(
                f,
                "no GPU on this host ({why}): pass --host PROFILE to check against a GPU host"
            ),
            R::NoGpu => f.write_str("the driver reports no GPU"),
            R::DriverTooOld {
                driver,
                target,
                needs,
                full_support,
                ..
            } => write!(
                f,
                "{driver} cannot run CUDA {target} builds: they need a CUDA {} driver (>= {needs}){}",
                target.major,
                full_support
                    .as_ref()
                    .map(|d| format!(" ({d} for full support)"))
                    .unwrap_or_default()
            ),
            R::NoTorchBuild => f.write_str(
                "torch is not installed: there is no CUDA build to check against the driver and GPUs",
            ),
            R::TorchBuildUnknown { planned: true } => f.write_str(
                "the plan does not say which CUDA build of torch it installs (no +cuXYZ version, no CUDA index, no pinned CUDA runtime)",
            ),
            R::TorchBuildUnknown { planned: false } => f.write_str(
                "torch/version.py is missing or unreadable: torch's CUDA build is unknown",
            ),
            R::TorchNotCuda { torch, hip, .. } => {
                let what = match hip {
                    Some(h) => format!("a ROCm build (HIP {h})"),
                    None => "a CPU-only build".to_string(),
                };
                write!(f, "torch {torch} is {what}: it cannot use the NVIDIA GPU")
            }
            R::TorchCudaUnreadable { text } => write!(
                f,
                "torch/version.py names CUDA `{text}`, which compat cannot read"
            ),
            R::DriverTooOldForTorch {
                driver,
                torch,
                cuda,
                needs,
                ..
            } => write!(
                f,
                "{driver}; torch {torch} needs a CUDA {} driver (>= {needs})",
                cuda.major
            ),
            R::TorchVersionUnreadable { version } => {
                write!(f, "torch version `{version}` is not PEP 440")
            }
            R::TorchArchsUnknown { torch, cuda } => write!(
                f,
                "the GPU architectures of torch {torch} {} wheels are not in compat's tables",
                cuda.tag()
            ),
            R::ArchNotInBuild {
                torch,
                missing,
                sass,
                ptx,
                ..
            } => write!(
                f,
                "torch {torch} has no kernels for {}: its build covers {}{}",
                missing.join(", "),
                sms(sass),
                ptx.map(|p| format!(" + PTX {}", p.sm()))
                    .unwrap_or_default()
            ),
            R::TorchOtherCuda { built, target } => write!(
                f,
                "this environment's torch is built for CUDA {built}, not {target}: the CUDA {target} claim is not exercised here (everything else checked out)"
            ),
            R::BnbLibrariesUnknown { version } => write!(
                f,
                "no libbitsandbytes_cuda*.so in bitsandbytes {version}: compat cannot tell which CUDA builds it ships"
            ),
            R::BnbNoLibraryForCuda {
                version,
                available,
                torch_cuda,
            } => write!(
                f,
                "bitsandbytes {version} ships CUDA libraries for {} but torch is built for CUDA {torch_cuda}: none of them loads (bitsandbytes never crosses a major version)",
                available
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            R::DriverTooOldForBnb {
                driver,
                library,
                needs,
            } => write!(
                f,
                "{driver} cannot run bitsandbytes' CUDA {library} library: it needs >= {needs}"
            ),
            R::BnbArchNotInBuild {
                library,
                lowest,
                highest,
                outside,
            } => write!(
                f,
                "bitsandbytes' CUDA {library} library is compiled for {}–{}; it has no kernels for {}",
                lowest.sm(),
                highest.sm(),
                outside.join(", ")
            ),
            R::GpuBelowBnbFloor { gpu, cc, floor } => write!(
                f,
                "{gpu} ({}) is below {}, the floor of bitsandbytes' 4-bit and 8-bit kernels",
                cc.sm(),
                floor.sm()
            ),
            R::NoneInstalled { missing } => write!(f, "not installed: {}", missing.join(", ")),
            R::NotInstalledHere { library } => {
                write!(f, "{library} is not installed in this environment")
            }
            R::PredatesFix {
                library,
                version,
                spec,
            } => write!(f, "{library} {version} predates the fix ({spec})"),
            R::BrokenRequirement { messages } => f.write_str(&messages.join(" ")),
            R::NeedsCodeRun {
                package,
                others,
                smoke,
            } => {
                write!(
                    f,
                    "whether {package} itself works with this {} needs its own code run",
                    others.join(" and ")
                )?;
                if !smoke.is_empty() {
                    let ops: Vec<&str> = smoke.iter().map(|s| operation(*s)).collect();
                    write!(
                        f,
                        "; compat's {} smoke check{} (`compat smoke`) exercise{} the operation, not the package",
                        ops.join(" and "),
                        if ops.len() == 1 { "" } else { "s" },
                        if ops.len() == 1 { "s" } else { "" }
                    )?;
                }
                Ok(())
            }
            R::ArchDroppedByNewestCuda { newest, gpus } => write!(
                f,
                "CUDA {newest} does not support {}: keep this host on CUDA {}.x wheels",
                gpus.join(", "),
                newest.major.saturating_sub(1)
            ),
            R::NoNativeBf16 { gpus, floor } => write!(
                f,
                "no native bf16 on {} (it needs {}; emulation is not support): use torch.float16 with automatic loss scaling",
                gpus.join(", "),
                floor.sm()
            ),
            R::EdgeNotDeclared {
                package,
                version,
                to,
            } => write!(
                f,
                "{package} {version} declares no requirement on {to}: the edge is the document's, not the package's"
            ),
            R::EdgeConditional {
                package,
                version,
                to,
            } => write!(
                f,
                "{package} {version} requires {to} only through an extra or a marker that does not hold here"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
