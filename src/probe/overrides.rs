//! The override variables, `COMPAT_OVERRIDE_*`: one per overridable host fact, all read the
//! same way (the idea of rattler's `EnvOverride`). They are what lets a CPU-only CI job reason
//! about the GPU host it builds for, and a test inject facts without touching the process
//! environment (it hands [`apply_overrides`] a fake [`Vars`]).
//!
//! Each fact is a type implementing [`Overridable`]: its variable, how its text is parsed, and
//! which facts it replaces. The rules common to all live once, in the trait's provided methods:
//! an unset variable changes nothing; a set-but-blank one means the fact is *absent* (as with
//! conda's `CONDA_OVERRIDE_CUDA`); a value that does not parse is an error naming the variable;
//! every override in force leaves a note. [`OVERRIDES`] is the table [`apply_overrides`] walks.
//!
//! What does not live here: the facts themselves ([`HostFacts`]) and where the others come
//! from (a profile, `super::host`; the probe, `super::gpu` and `super::toolchains`).

use super::{Gpu, HostFacts, HostProfileError, Source};
use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::{Sourced, Vars};

/// One overridable host fact.
pub trait Overridable {
    /// What the variable holds once parsed.
    type Value;
    /// The variable, e.g. `COMPAT_OVERRIDE_DRIVER_VERSION`.
    const VAR: &'static str;
    /// What it replaces, with an example value.
    const MEANING: &'static str;
    /// The fact as the note names it: "`driver version` overridden by …".
    const FACT: &'static str;

    /// Parses a value that is not blank.
    fn parse(text: &str) -> Result<Self::Value, InvalidValue>;

    /// Puts the value in place of what the facts held; `None`: the fact is absent.
    fn replace(facts: &mut HostFacts, value: Option<Self::Value>);

    /// The variable as `vars` set it; `None` when it is unset.
    fn read(vars: &Vars) -> Result<Option<Setting<Self::Value>>, HostProfileError> {
        let Some(text) = vars.get(Self::VAR) else {
            return Ok(None);
        };
        if text.trim().is_empty() {
            return Ok(Some(Setting { text, value: None }));
        }
        let value = Self::parse(&text).map_err(|source| HostProfileError::Override {
            var: Self::VAR.to_string(),
            source,
        })?;
        Ok(Some(Setting {
            text,
            value: Some(value),
        }))
    }

    /// Reads the variable and, when it is set, replaces the fact and notes that it did.
    fn apply(facts: &mut HostFacts, vars: &Vars) -> Result<(), HostProfileError> {
        if let Some(Setting { text, value }) = Self::read(vars)? {
            Self::replace(facts, value);
            facts.notes.push(format!(
                "{} overridden by {}={text:?}",
                Self::FACT,
                Self::VAR
            ));
        }
        Ok(())
    }
}

/// An override value that does not parse, in its parser's words (`` `nine` is not a compute
/// capability like 8.6 or sm_86 ``: the unit types of `model::units` say why in a sentence).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// An override variable that is set: its text as given, and its value (`None`: blank, so the
/// fact is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub text: String,
    pub value: Option<T>,
}

/// One row of [`OVERRIDES`].
#[derive(Clone, Copy)]
pub struct Override {
    pub var: &'static str,
    pub meaning: &'static str,
    apply: fn(&mut HostFacts, &Vars) -> Result<(), HostProfileError>,
}

impl std::fmt::Debug for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Override")
            .field("var", &self.var)
            .field("meaning", &self.meaning)
            .finish_non_exhaustive()
    }
}

const fn row<T: Overridable>() -> Override {
    Override {
        var: T::VAR,
        meaning: T::MEANING,
        apply: T::apply,
    }
}

/// Every override variable, in the order they are applied.
pub const OVERRIDES: &[Override] = &[
    row::<Driver>(),
    row::<DriverCuda>(),
    row::<GpuArch>(),
    row::<Toolkit>(),
];

/// Applies every `COMPAT_OVERRIDE_*` set in `vars`, in [`OVERRIDES`] order. A set-but-blank
/// variable removes the fact.
pub fn apply_overrides(facts: &mut HostFacts, vars: &Vars) -> Result<(), HostProfileError> {
    for o in OVERRIDES {
        (o.apply)(facts, vars)?;
    }
    Ok(())
}

/// `COMPAT_OVERRIDE_DRIVER_VERSION`: the NVIDIA driver version.
pub struct Driver;

impl Overridable for Driver {
    type Value = DriverVersion;
    const VAR: &'static str = "COMPAT_OVERRIDE_DRIVER_VERSION";
    const MEANING: &'static str = "the NVIDIA driver version, e.g. 550.54.15";
    const FACT: &'static str = "driver version";

    fn parse(text: &str) -> Result<DriverVersion, InvalidValue> {
        text.parse()
            .map_err(|e: crate::model::units::UnitError| InvalidValue(e.to_string()))
    }

    fn replace(facts: &mut HostFacts, value: Option<DriverVersion>) {
        facts.driver = value.map(|v| Sourced::new(v, Source::Override(Self::VAR)));
    }
}

/// `COMPAT_OVERRIDE_CUDA_DRIVER`: the highest CUDA the driver supports. It replaces libcuda's
/// cross-check too, which would otherwise contradict it.
pub struct DriverCuda;

impl Overridable for DriverCuda {
    type Value = CudaVersion;
    const VAR: &'static str = "COMPAT_OVERRIDE_CUDA_DRIVER";
    const MEANING: &'static str = "the highest CUDA the driver supports, e.g. 12.4";
    const FACT: &'static str = "driver CUDA version";

    fn parse(text: &str) -> Result<CudaVersion, InvalidValue> {
        text.parse()
            .map_err(|e: crate::model::units::UnitError| InvalidValue(e.to_string()))
    }

    fn replace(facts: &mut HostFacts, value: Option<CudaVersion>) {
        facts.driver_cuda = value.map(|v| Sourced::new(v, Source::Override(Self::VAR)));
        facts.libcuda_cuda = None;
    }
}

/// `COMPAT_OVERRIDE_GPU_ARCH`: one compute capability per GPU. A GPU the host already knew at
/// the same position with the same capability keeps its name and memory.
pub struct GpuArch;

impl Overridable for GpuArch {
    type Value = Vec<ComputeCapability>;
    const VAR: &'static str = "COMPAT_OVERRIDE_GPU_ARCH";
    const MEANING: &'static str =
        "the GPUs' compute capabilities, comma-separated, e.g. 9.0 or sm_80,sm_80";
    const FACT: &'static str = "GPUs";

    /// `9.0`, `sm_80, sm_80`: empty parts are skipped.
    fn parse(text: &str) -> Result<Vec<ComputeCapability>, InvalidValue> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse()
                    .map_err(|e: crate::model::units::UnitError| InvalidValue(e.to_string()))
            })
            .collect()
    }

    fn replace(facts: &mut HostFacts, value: Option<Vec<ComputeCapability>>) {
        let gpus = value
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, cc)| {
                let known = facts.gpus.get(i).filter(|g| g.compute_capability == cc);
                Gpu {
                    index: i as u32,
                    name: known
                        .map(|g| g.name.clone())
                        .unwrap_or_else(|| format!("GPU with compute capability {cc}")),
                    uuid: None,
                    compute_capability: cc,
                    memory_total_mib: known.and_then(|g| g.memory_total_mib),
                    memory_free_mib: None,
                    source: Source::Override(Self::VAR).to_string(),
                }
            })
            .collect();
        facts.gpus = gpus;
    }
}

/// `COMPAT_OVERRIDE_CUDA_TOOLKIT`: the CUDA toolkit (nvcc) release, as text.
pub struct Toolkit;

impl Overridable for Toolkit {
    type Value = String;
    const VAR: &'static str = "COMPAT_OVERRIDE_CUDA_TOOLKIT";
    const MEANING: &'static str = "the CUDA toolkit (nvcc) release, e.g. 12.4.131";
    const FACT: &'static str = "CUDA toolkit";

    fn parse(text: &str) -> Result<String, InvalidValue> {
        Ok(text.trim().to_string())
    }

    fn replace(facts: &mut HostFacts, value: Option<String>) {
        facts.toolkit = value.map(|v| Sourced::new(v, Source::Override(Self::VAR)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::host::parse_profile;

    fn a100() -> HostFacts {
        parse_profile(
            "schema = 1\n[driver]\nversion = \"550.54.15\"\ncuda = \"12.4\"\n[[gpus]]\nname = \"A100\"\ncompute_capability = \"8.0\"\n",
            "p",
        )
        .expect("profile")
    }

    #[test]
    fn overrides_replace_single_facts_and_empty_means_absent() {
        let mut f = a100();
        let vars = Vars::from_pairs([
            ("COMPAT_OVERRIDE_CUDA_DRIVER", "13.0"),
            ("COMPAT_OVERRIDE_GPU_ARCH", "sm_70, 7.0"),
        ]);
        apply_overrides(&mut f, &vars).expect("overrides");
        assert_eq!(f.cuda().map(|c| c.value), Some(CudaVersion::new(13, 0)));
        assert_eq!(f.gpus.len(), 2);
        assert_eq!(
            f.min_compute_capability(),
            Some(ComputeCapability::new(7, 0))
        );
        assert_eq!(f.gpus[0].source, "override:COMPAT_OVERRIDE_GPU_ARCH");
        assert_eq!(
            f.driver.as_ref().map(|d| d.source.as_str()),
            Some("host-profile:p"),
            "an unset variable changes nothing"
        );
        let empty = Vars::from_pairs([
            ("COMPAT_OVERRIDE_CUDA_DRIVER", ""),
            ("COMPAT_OVERRIDE_GPU_ARCH", " "),
        ]);
        apply_overrides(&mut f, &empty).expect("overrides");
        assert!(f.cuda().is_none());
        assert!(f.gpus.is_empty());
        let bad = Vars::from_pairs([("COMPAT_OVERRIDE_GPU_ARCH", "nine")]);
        let e = apply_overrides(&mut f, &bad).expect_err("not a capability");
        assert!(
            e.to_string().starts_with("COMPAT_OVERRIDE_GPU_ARCH: "),
            "{e}"
        );
    }

    #[test]
    fn every_override_leaves_a_note_in_table_order() {
        let mut f = a100();
        let vars = Vars::from_pairs(OVERRIDES.iter().map(|o| (o.var, "")))
            .with("COMPAT_OVERRIDE_DRIVER_VERSION", " 470.82.01")
            .with("COMPAT_OVERRIDE_CUDA_TOOLKIT", " 12.4.131 ");
        apply_overrides(&mut f, &vars).expect("overrides");
        assert_eq!(
            &f.notes[1..],
            [
                "driver version overridden by COMPAT_OVERRIDE_DRIVER_VERSION=\" 470.82.01\"",
                "driver CUDA version overridden by COMPAT_OVERRIDE_CUDA_DRIVER=\"\"",
                "GPUs overridden by COMPAT_OVERRIDE_GPU_ARCH=\"\"",
                "CUDA toolkit overridden by COMPAT_OVERRIDE_CUDA_TOOLKIT=\" 12.4.131 \"",
            ]
        );
        assert_eq!(
            f.driver.map(|d| (d.value.to_string(), d.source)),
            Some((
                "470.82.01".to_string(),
                "override:COMPAT_OVERRIDE_DRIVER_VERSION".to_string()
            ))
        );
        assert_eq!(f.toolkit.map(|t| t.value), Some("12.4.131".to_string()));
    }

    #[test]
    fn one_fact_can_be_read_alone() {
        let vars = Vars::from_pairs([("COMPAT_OVERRIDE_GPU_ARCH", "8.0,,sm_90")]);
        let set = GpuArch::read(&vars).expect("parses").expect("set");
        assert_eq!(set.text, "8.0,,sm_90");
        assert_eq!(
            set.value,
            Some(vec![
                ComputeCapability::new(8, 0),
                ComputeCapability::new(9, 0)
            ])
        );
        assert!(Driver::read(&vars).expect("unset is fine").is_none());
    }

    #[test]
    fn the_table_names_each_variable_once() {
        let mut vars: Vec<&str> = OVERRIDES.iter().map(|o| o.var).collect();
        vars.sort_unstable();
        vars.dedup();
        assert_eq!(vars.len(), OVERRIDES.len());
        assert!(OVERRIDES
            .iter()
            .all(|o| o.var.starts_with("COMPAT_OVERRIDE_") && !o.meaning.is_empty()));
    }
}
