//! How each [`Reason`] is worded: its `reason` sentence (`Display`) and, for the reasons that
//! fail a cell, its `fix`. The sentences are the report's; change one and the report changes.

use std::fmt;

use super::{ArchFix, Reason};
use crate::model::text::{pip_install, reinstall_pinned};
use crate::model::units::ComputeCapability;
use crate::model::SmokeCheckId;

impl Reason {
    /// What to do about it, for the reasons that fail a cell.
    pub fn fix(&self) -> Option<String> {
        use Reason as R;
        Some(match self {
            R::VersionOutsideSpec { package, spec, .. } => {
                match pip_install("", package, &spec.to_string()) {
                    Some(cmd) => cmd,
                    None => format!("install a release of {package} that satisfies {spec}"),
                }
            }
            R::RequiresPythonExcludes {
                package,
                target: (major, minor),
                ..
            } => format!(
                "install a release of {package} whose Requires-Python admits {major}.{minor}"
            ),
            R::WheelTagMismatch {
                package,
                version,
                target: (major, minor),
                ..
            } => {
                match reinstall_pinned(package, version) {
                    Some(cmd) => cmd,
                    None => format!(
                        "reinstall {package} {version} from a wheel built for CPython {major}.{minor}"
                    ),
                }
            }
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
            R::TorchFamilyCudaMismatch { fix, .. } => fix.clone(),
            R::ArchNotInBuild { fix, .. } | R::FatbinNoKernels { fix, .. } => match fix {
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

fn needs_code_run(
    f: &mut fmt::Formatter<'_>,
    package: &str,
    others: &[String],
    smoke: &[SmokeCheckId],
) -> fmt::Result {
    write!(f, "whether {package} itself works")?;
    if !others.is_empty() {
        write!(f, " with this {}", others.join(" and "))?;
    }
    f.write_str(" needs its own code run")?;
    if !smoke.is_empty() {
        let ops: Vec<&str> = smoke.iter().map(|s| operation(*s)).collect();
        let one = ops.len() == 1;
        write!(
            f,
            "; compat's {} smoke check{} (`compat smoke`) exercise{} the operation, not the package",
            ops.join(" and "),
            if one { "" } else { "s" },
            if one { "s" } else { "" }
        )?;
    }
    Ok(())
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.general_words(f)
            .or_else(|| self.torch_words(f))
            .or_else(|| self.cuda_words(f))
            .or_else(|| self.bitsandbytes_words(f))
            .or_else(|| self.statement_words(f))
            // Every reason is worded by one of the groups; the code is the last resort.
            .unwrap_or_else(|| f.write_str(self.code().as_str()))
    }
}

impl Reason {
    /// The sentences of any cell, the version and python columns; `None` for the other reasons.
    fn general_words(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use Reason as R;
        Some(match self {
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
            _ => return None,
        })
    }

    /// The sentences of the pytorch column; `None` for the other reasons.
    fn torch_words(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use Reason as R;
        Some(match self {
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
            _ => return None,
        })
    }

    /// The sentences of the driver and torch's CUDA build; `None` for the other reasons.
    fn cuda_words(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use Reason as R;
        Some(match self {
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
            R::TorchArchsUnsure { torch, cuda, jit } => write!(
                f,
                "the GPU architectures of torch {torch} {} wheels are marked unsure in compat's tables{} and no installed torch library could be read: install it and check again",
                cuda.tag(),
                if jit.is_empty() {
                    String::new()
                } else {
                    format!(" ({} would run only through PTX nobody checked)", jit.join(", "))
                }
            ),
            R::FatbinNoKernels {
                torch,
                library,
                sass,
                ptx,
                missing,
                ptx_blocked,
            ..
            } => write!(
                f,
                "torch {torch} has no kernels for {}: fatbin:{library} carries SASS {} and PTX {}{} (\"no kernel image is available\")",
                missing.join(", "),
                if sass.is_empty() { "none".to_string() } else { sass.join(" ") },
                if ptx.is_empty() { "none".to_string() } else { ptx.join(" ") },
                ptx_blocked.as_ref().map(|b| format!(", and {b}")).unwrap_or_default()
            ),
            R::TorchFamilyCudaMismatch {
                package,
                version,
                package_cuda,
                torch,
                torch_cuda,
                rule,
                ..
            } => write!(
                f,
                "{package} {version} is built for CUDA {package_cuda} but torch {torch} for CUDA {torch_cuda}; {package} needs {rule}: its compiled ops refuse to load or crash (pip check cannot see this: PEP 440 ignores local labels)"
            ),
            R::TorchOtherCuda { built, target } => write!(
                f,
                "this environment's torch is built for CUDA {built}, not {target}: the CUDA {target} claim is not exercised here (everything else checked out)"
            ),
            _ => return None,
        })
    }

    /// The sentences of bitsandbytes; `None` for the other reasons.
    fn bitsandbytes_words(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use Reason as R;
        Some(match self {
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
            _ => return None,
        })
    }

    /// The sentences of the document's statements; `None` for the other reasons.
    fn statement_words(&self, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        use Reason as R;
        Some(match self {
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
            } => needs_code_run(f, package, others, smoke),
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
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words a POSIX shell splits `line` into, or `None` when the line holds anything the
    /// shell would treat as more than words (an unquoted `;`, `$`, backtick, `|`, `&`, `<`,
    /// `>`, `(`, newline, a backslash or double quote outside single quotes, an open quote).
    fn sh_words(line: &str) -> Option<Vec<String>> {
        let mut words = Vec::new();
        let mut cur: Option<String> = None;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                ' ' => words.extend(cur.take()),
                '\'' => {
                    let w = cur.get_or_insert_with(String::new);
                    loop {
                        match chars.next()? {
                            '\'' => break,
                            c => w.push(c),
                        }
                    }
                }
                c if c.is_ascii_alphanumeric() || "_-./:=@%+,~".contains(c) => {
                    cur.get_or_insert_with(String::new).push(c)
                }
                _ => return None,
            }
        }
        words.extend(cur);
        Some(words)
    }

    const HOSTILE: [&str; 6] = [
        "1.0; rm -rf /",
        "$(touch x)",
        "`touch x`",
        "1.0\nrm -rf /",
        "it's",
        "\"; touch x; \"",
    ];

    #[test]
    fn a_version_that_is_not_pep_440_never_reaches_a_command() {
        for version in HOSTILE {
            let r = Reason::WheelTagMismatch {
                package: "torch".into(),
                version: version.into(),
                tags: vec!["cp310".into()],
                target: (3, 11),
            };
            let fix = r.fix().expect("a fix");
            assert!(!fix.contains("pip install"), "{fix}");
            assert!(
                fix.starts_with("reinstall torch ") && fix.ends_with("for CPython 3.11"),
                "{fix}"
            );
        }
        let r = Reason::WheelTagMismatch {
            package: "torch".into(),
            version: "2.4.1+cu124".into(),
            tags: vec!["cp310".into()],
            target: (3, 11),
        };
        assert_eq!(
            r.fix().as_deref(),
            Some("pip install --force-reinstall torch==2.4.1+cu124")
        );
    }

    #[test]
    fn a_hostile_package_name_never_reaches_a_command_unquoted() {
        for package in
            HOSTILE
                .iter()
                .copied()
                .chain(["--index-url=http://evil", "-rrequirements.txt", "a b"])
        {
            let spec: pep440_rs::VersionSpecifiers = ">=1.0".parse().expect("spec");
            for r in [
                Reason::VersionOutsideSpec {
                    package: package.into(),
                    installed: "0.1".into(),
                    spec,
                },
                Reason::WheelTagMismatch {
                    package: package.into(),
                    version: "1.0".into(),
                    tags: vec!["cp310".into()],
                    target: (3, 11),
                },
            ] {
                let fix = r.fix().expect("a fix");
                assert!(!fix.contains("pip install"), "{package:?}: {fix}");
            }
        }
        // A valid name is one word, quoted when the spec needs it.
        let r = Reason::VersionOutsideSpec {
            package: "Flash_Attn".into(),
            installed: "2.5".into(),
            spec: ">=2.6,<3".parse().expect("spec"),
        };
        let fix = r.fix().expect("a fix");
        let words = sh_words(&fix).expect("plain words");
        assert_eq!(words.len(), 3, "{fix}");
        assert!(words[2].starts_with("Flash_Attn>=2.6"), "{fix}");
    }
}
