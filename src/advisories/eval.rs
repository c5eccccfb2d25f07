//! The evaluator: pure, over [`Facts`]. An advisory bites when its package is installed in the
//! affected range and every condition holds; a condition about a fact nobody filled (no GPU
//! list, no torch CUDA version, no wheel name) does not hold, so an unknown never becomes a hit.
//! Reading the environment to fill the facts is the caller's job (the env scan, the host probe).

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use super::load::{Advisory, Compiled, Database};
use super::model::*;
use crate::model::normalize;

impl Database {
    /// Every advisory that bites in `facts`, less those in `ignore`, in id order.
    pub fn evaluate(&self, facts: &Facts, ignore: &Ignore) -> Vec<Hit> {
        self.advisories
            .iter()
            .filter(|a| !ignore.contains(&a.id))
            .filter_map(|a| evaluate_one(a, facts))
            .collect()
    }
}

/// The hit of one advisory, if it bites.
pub fn evaluate_one(a: &Advisory, facts: &Facts) -> Option<Hit> {
    let installed = facts.packages.get(&a.package)?;
    let version = Version::from_str(&installed.version).ok()?;
    if !a.affected.contains(&version.clone().without_local()) {
        return None;
    }
    let mut evidence = vec![format!(
        "{} {} is installed (affected: {})",
        a.package, installed.version, a.affected_text
    )];
    for c in &a.conditions {
        evidence.extend(condition(a, c, facts)?);
    }
    Some(Hit {
        id: a.id.clone(),
        title: a.title.clone(),
        family: a.family.clone(),
        package: a.package.clone(),
        version: installed.version.clone(),
        evidence,
        symptom: a.symptom.clone(),
        fix: a.fix.clone(),
        sources: a.sources.clone(),
    })
}

fn parse(v: &str) -> Option<Version> {
    Version::from_str(v.trim()).ok()
}

fn local_label(v: &str) -> &str {
    v.split_once('+').map(|(_, l)| l).unwrap_or("")
}

fn contains(spec: &Option<VersionSpecifiers>, v: &Version) -> bool {
    spec.as_ref()
        .is_none_or(|s| s.contains(&v.clone().without_local()))
}

fn glob_ok(glob: &Option<glob::Pattern>, text: &str) -> bool {
    glob.as_ref().is_none_or(|g| g.matches(text))
}

fn same_machine(want: &str, have: &str) -> bool {
    let canon = |m: &str| match m.to_ascii_lowercase().as_str() {
        "amd64" | "x86_64" | "x64" => "x86_64".to_string(),
        "arm64" | "aarch64" => "aarch64".to_string(),
        other => other.to_string(),
    };
    canon(want) == canon(have)
}

/// `Some(evidence)` when the condition holds.
fn condition(a: &Advisory, c: &Compiled, facts: &Facts) -> Option<Vec<String>> {
    match &c.raw {
        Condition::Package {
            name,
            pre,
            installer,
            ..
        } => {
            let p = facts.packages.get(&normalize(name))?;
            let v = parse(&p.version)?;
            let pre_ok = pre.is_none_or(|want| (v.is_pre() || v.is_dev()) == want);
            let installer_ok = match installer {
                None => true,
                Some(want) => p
                    .installer
                    .as_deref()
                    .is_some_and(|have| have.trim().eq_ignore_ascii_case(want)),
            };
            (installer_ok
                && pre_ok
                && contains(&c.spec, &v)
                && glob_ok(&c.glob, local_label(&p.version)))
            .then(|| {
                let by = match (installer, &p.installer) {
                    (Some(_), Some(i)) => format!(" (installed by {})", i.trim()),
                    _ => String::new(),
                };
                vec![format!(
                    "{} {} is installed{by}",
                    normalize(name),
                    p.version
                )]
            })
        }
        Condition::Missing { name } => (!facts.packages.contains_key(&normalize(name)))
            .then(|| vec![format!("{} is not installed", normalize(name))]),
        Condition::TorchCuda { .. } => {
            facts.packages.get("torch")?;
            let cuda = facts.torch_cuda.as_deref()?;
            contains(&c.spec, &parse(cuda)?).then(|| {
                vec![format!(
                    "torch is built for CUDA {cuda} (torch.version.cuda)"
                )]
            })
        }
        Condition::TorchCpu {} => {
            let t = facts.packages.get("torch")?;
            let label = local_label(&t.version);
            (facts.torch_cuda.is_none() && !label.starts_with("cu")).then(|| {
                vec![format!(
                    "torch {} has no CUDA (torch.version.cuda is None)",
                    t.version
                )]
            })
        }
        Condition::Gpu { .. } => {
            let hits: Vec<String> = facts
                .gpus
                .iter()
                .enumerate()
                .filter(|(_, cc)| parse(cc).is_some_and(|v| contains(&c.spec, &v)))
                .map(|(i, cc)| {
                    format!(
                        "GPU {i} has compute capability {cc} (sm_{})",
                        cc.replace('.', "")
                    )
                })
                .collect();
            (!hits.is_empty()).then_some(hits)
        }
        Condition::Platform { system, machine } => {
            let sys_ok = match system {
                Some(want) => facts
                    .system
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(want)),
                None => true,
            };
            let mach_ok = match machine {
                Some(want) => facts
                    .machine
                    .as_deref()
                    .is_some_and(|h| same_machine(want, h)),
                None => true,
            };
            (sys_ok && mach_ok).then(|| {
                vec![format!(
                    "platform {} {}",
                    facts.system.as_deref().unwrap_or("?"),
                    facts.machine.as_deref().unwrap_or("?")
                )]
            })
        }
        Condition::Env { var, .. } => {
            let v = facts.env.get(var).filter(|v| !v.is_empty())?;
            glob_ok(&c.glob, v).then(|| vec![format!("{var}={v}")])
        }
        Condition::LibraryOnPath { variable, .. } => {
            let hits: Vec<String> = facts
                .libraries
                .iter()
                .filter(|l| variable.as_ref().is_none_or(|v| *v == l.variable))
                .filter(|l| glob_ok(&c.glob, &l.file))
                .map(|l| format!("{} names {}, which holds {}", l.variable, l.dir, l.file))
                .collect();
            (!hits.is_empty()).then_some(hits)
        }
        Condition::BuildMismatch { package, against } => {
            build_mismatch(&normalize(package), *against, facts)
        }
        Condition::PrereleaseBelowFloor { on } => prerelease_below_floor(&normalize(on), facts),
        Condition::CompanionTable {} => companion_table(a, facts),
    }
}

/// What built a wheel, as its file name or local version label says (`+cu123torch2.4cxx11abiFALSE`,
/// `+pt24cu124`, `+cu121`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildTag {
    pub torch: Option<(u64, u64)>,
    pub cuda: Option<(u64, u64)>,
    pub cxx11_abi: Option<bool>,
    /// Where it was read (the wheel file name or the version).
    pub from: String,
}

/// Reads the build tag from the wheel name if known, else from the installed version's label,
/// else from the package's own build record ([`Installed::built_for`]).
pub fn build_tag(p: &Installed) -> Option<BuildTag> {
    let (label, from) = match &p.wheel {
        Some(w) => {
            // name-version(+label)-pyver-abi-plat.whl: the version is the second field.
            let v = w.split('-').nth(1)?;
            (local_label(v).to_string(), format!("wheel {w}"))
        }
        None => (
            local_label(&p.version).to_string(),
            format!("version {}", p.version),
        ),
    };
    if label.is_empty() {
        return p.built_for.as_ref().and_then(recorded_tag);
    }
    let l = label.to_ascii_lowercase();
    let mut tag = BuildTag {
        from,
        ..BuildTag::default()
    };
    let digits_after = |key: &str| -> Option<String> {
        let i = l.find(key)? + key.len();
        let d: String = l[i..].chars().take_while(char::is_ascii_digit).collect();
        (!d.is_empty()).then_some(d)
    };
    if let Some(d) = digits_after("cu") {
        // cu118, cu121, cu123, cu12 (major only)
        let (maj, min) = if d.len() >= 3 {
            (d[..2].parse().ok()?, d[2..].parse().ok()?)
        } else {
            (d.parse().ok()?, 0)
        };
        tag.cuda = Some((maj, min));
    }
    if let Some(i) = l.find("torch") {
        let rest = &l[i + 5..];
        let mut parts = rest.split(|ch: char| !ch.is_ascii_digit());
        let maj = parts.next().and_then(|s| s.parse().ok());
        let min = parts.next().and_then(|s| s.parse().ok());
        if let (Some(maj), Some(min)) = (maj, min) {
            tag.torch = Some((maj, min));
        }
    } else if let Some(d) = digits_after("pt") {
        // pt24 = torch 2.4, pt113 = torch 1.13
        if d.len() >= 2 {
            tag.torch = Some((d[..1].parse().ok()?, d[1..].parse().ok()?));
        }
    }
    if l.contains("cxx11abitrue") {
        tag.cxx11_abi = Some(true);
    } else if l.contains("cxx11abifalse") {
        tag.cxx11_abi = Some(false);
    }
    Some(tag)
}

/// A build record's torch `major.minor` and CUDA (`12.1`, or xformers' `1201`).
fn recorded_tag(b: &BuiltFor) -> Option<BuildTag> {
    let torch = b.torch.as_deref().and_then(parse).and_then(|v| {
        let r = v.release();
        Some((*r.first()?, *r.get(1).unwrap_or(&0)))
    });
    let cuda = b.cuda.as_deref().and_then(|c| {
        let c = c.trim();
        if let Some((maj, min)) = c.split_once('.') {
            Some((maj.parse().ok()?, min.split('.').next()?.parse().ok()?))
        } else {
            let n: u64 = c.parse().ok()?;
            // xformers writes major*100 + minor (1201 = 12.1, 1108 = 11.8); 118 = 11.8
            if n >= 1000 {
                Some((n / 100, n % 100))
            } else {
                Some((n / 10, n % 10))
            }
        }
    });
    (torch.is_some() || cuda.is_some()).then(|| BuildTag {
        torch,
        cuda,
        cxx11_abi: None,
        from: format!("build record {}", b.from),
    })
}

fn build_mismatch(package: &str, against: BuildField, facts: &Facts) -> Option<Vec<String>> {
    let p = facts.packages.get(package)?;
    let torch = facts.packages.get("torch")?;
    let tag = build_tag(p)?;
    let tv = parse(&torch.version)?;
    let release = tv.release();
    match against {
        BuildField::TorchMinor => {
            let (maj, min) = tag.torch?;
            let have = (*release.first()?, *release.get(1).unwrap_or(&0));
            (have != (maj, min)).then(|| {
                vec![format!(
                    "{package}'s {} was built for torch {maj}.{min}; torch {} is installed",
                    tag.from, torch.version
                )]
            })
        }
        BuildField::CudaMajor => {
            let (maj, min) = tag.cuda?;
            let cuda = facts.torch_cuda.as_deref()?;
            let have: u64 = cuda.split('.').next()?.parse().ok()?;
            (have != maj).then(|| {
                vec![format!(
                    "{package}'s {} was built for CUDA {maj}.{min}; torch is built for CUDA {cuda}",
                    tag.from
                )]
            })
        }
        BuildField::Cuda => {
            let (maj, min) = tag.cuda?;
            let cuda = facts.torch_cuda.as_deref()?;
            let mut parts = cuda.split('.');
            let have: (u64, u64) = (
                parts.next()?.parse().ok()?,
                parts.next().unwrap_or("0").parse().ok()?,
            );
            (have != (maj, min)).then(|| {
                vec![format!(
                    "{package}'s {} was built for CUDA {maj}.{min}; torch is built for CUDA {cuda}",
                    tag.from
                )]
            })
        }
        BuildField::Cxx11Abi => {
            let built = tag.cxx11_abi?;
            let (have, how) = match facts.torch_cxx11_abi {
                Some(h) => (h, "read from the torch build"),
                None => (
                    official_torch_cxx11_abi(&torch.version)?,
                    "inferred from the version of PyTorch's own wheels",
                ),
            };
            let word = |b: bool| if b { "TRUE" } else { "FALSE" };
            (built != have).then(|| {
                vec![format!(
                    "{package}'s {} uses cxx11abi{}; torch {} uses cxx11abi{} ({how})",
                    tag.from,
                    word(built),
                    torch.version,
                    word(have)
                )]
            })
        }
    }
}

/// The C++ ABI of PyTorch's own Linux wheels, from the version alone: the CXX11 ABI from 2.7
/// on, and in 2.6 only for the CUDA 12.6 build; the pre-CXX11 ABI before (pytorch/pytorch
/// issue 143962, flash-attention issue 1644). A pre-release or dev build (NVIDIA's containers,
/// nightlies) is someone else's build: unknown.
pub fn official_torch_cxx11_abi(version: &str) -> Option<bool> {
    let v = parse(version)?;
    if v.is_pre() || v.is_dev() {
        return None;
    }
    let r = v.release();
    let minor = (*r.first()?, *r.get(1).unwrap_or(&0));
    Some(match minor {
        (2, 6) => local_label(version) == "cu126",
        m => m >= (2, 7),
    })
}

fn prerelease_below_floor(on: &str, facts: &Facts) -> Option<Vec<String>> {
    let target = facts.packages.get(on)?;
    let v = parse(&target.version)?.without_local();
    if !(v.is_pre() || v.is_dev()) {
        return None;
    }
    let final_release = Version::new(v.release().iter().copied());
    let mut out = Vec::new();
    for (name, p) in &facts.packages {
        for line in &p.requires {
            let Ok(req) = line.parse::<pep508_rs::Requirement>() else {
                continue;
            };
            if req.name.to_string() != on {
                continue;
            }
            if let Some(m) = req.marker.contents() {
                if m.to_string().contains("extra") {
                    continue;
                }
            }
            let Some(pep508_rs::VersionOrUrl::VersionSpecifier(spec)) = &req.version_or_url else {
                continue;
            };
            if !spec.contains(&v) && spec.contains(&final_release) {
                out.push(format!(
                    "{name} requires `{line}`; {on} {} is a pre-release of {final_release}, which does not satisfy it",
                    target.version
                ));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn companion_table(a: &Advisory, facts: &Facts) -> Option<Vec<String>> {
    let anchor = facts.packages.get(&a.package)?;
    let av = parse(&anchor.version)?.without_local();
    let mut out = Vec::new();
    for row in a.rows.iter().filter(|r| r.anchor.contains(&av)) {
        for (name, spec, text) in &row.companions {
            let Some(p) = facts.packages.get(name) else {
                continue;
            };
            let Some(v) = parse(&p.version) else { continue };
            if !spec.contains(&v.without_local()) {
                out.push(format!(
                    "{name} {} is installed; {} {} pairs with {name} {text}",
                    p.version, a.package, row.anchor_text
                ));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}
