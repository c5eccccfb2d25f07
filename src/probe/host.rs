//! Host profiles: a host's facts as TOML, captured on the real machine with
//! `compat probe --format toml` and used anywhere with `--host PATH` instead of probing.
//!
//! ```toml
//! schema = 1
//! name = "h100-550"
//! os = "Ubuntu 22.04.4 LTS"
//! arch = "x86_64"
//! [driver]
//! version = "550.54.15"
//! cuda = "12.4"
//! [toolkit]
//! nvcc = "12.4.131"
//! [[gpus]]
//! name = "NVIDIA H100 80GB HBM3"
//! compute_capability = "9.0"
//! memory_total_mib = 81559
//! count = 8
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Gpu, HostFacts, NoDriver, Source};
use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::Sourced;

/// Why there are no host facts: a profile that cannot be read or is not one, or an override
/// value that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum HostProfileError {
    /// Not a host profile; `source` is the TOML error when there is one.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
        #[source]
        source: Option<Box<toml::de::Error>>,
    },
    #[error("cannot read host profile {path}: {}", source.reason())]
    Read {
        path: String,
        #[source]
        source: crate::input::InputError,
    },
    /// An override variable's value does not parse.
    #[error("{var}: {source}")]
    Override {
        var: String,
        #[source]
        source: super::overrides::InvalidValue,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub schema: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<ProfileDriver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolkit: Option<ProfileToolkit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<toml::Spanned<ProfileGpu>>,
}

/// The most GPUs one `[[gpus]]` entry may count. The largest single nodes sold hold 16 GPUs
/// (and a few 32); a larger count is a typo or a hostile profile, and each GPU is a fact kept
/// in memory and printed.
pub const MAX_GPUS_PER_ENTRY: u32 = 64;

/// The most GPUs a host profile may describe, all `[[gpus]]` entries together (so also the
/// most entries, as each counts at least one GPU).
pub const MAX_GPUS: u32 = 256;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDriver {
    pub version: Option<DriverVersion>,
    /// The highest CUDA the driver supports.
    pub cuda: Option<CudaVersion>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileToolkit {
    pub nvcc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileGpu {
    pub name: String,
    pub compute_capability: ComputeCapability,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Identical GPUs on the host: 1 to [`MAX_GPUS_PER_ENTRY`], 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<toml::Spanned<u32>>,
}

/// Reads a host profile into facts whose source is `host-profile`.
pub fn load_profile(path: &Path) -> Result<HostFacts, HostProfileError> {
    let shown = path.display().to_string();
    let text =
        crate::input::read_text(path, crate::input::InputKind::HostProfile).map_err(|source| {
            HostProfileError::Read {
                path: shown.clone(),
                source,
            }
        })?;
    parse_profile(&text, &shown)
}

/// Parses profile text; `origin` names it in errors and in the facts' sources.
pub fn parse_profile(text: &str, origin: &str) -> Result<HostFacts, HostProfileError> {
    let p: Profile = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| crate::model::line_col(text, s.start))
            .unwrap_or((1, 1));
        HostProfileError::Invalid {
            path: origin.to_string(),
            line,
            column,
            message: e.message().trim().to_string(),
            source: Some(Box::new(e)),
        }
    })?;
    if p.schema != 1 {
        return Err(HostProfileError::Invalid {
            path: origin.to_string(),
            line: 1,
            column: 1,
            message: format!(
                "unsupported host profile schema {} (this compat reads 1)",
                p.schema
            ),
            source: None,
        });
    }
    let src: String = Source::Profile(origin.to_string()).into();
    let invalid_at = |at: usize, message: String| {
        let (line, column) = crate::model::line_col(text, at);
        HostProfileError::Invalid {
            path: origin.to_string(),
            line,
            column,
            message,
            source: None,
        }
    };
    let mut total: u32 = 0;
    for entry in &p.gpus {
        let (count, at) = match &entry.get_ref().count {
            Some(c) => (*c.get_ref(), c.span().start),
            None => (1, entry.span().start),
        };
        if count == 0 {
            return Err(invalid_at(
                at,
                "`count = 0`: a [[gpus]] entry describes at least one GPU (remove the entry for none)".into(),
            ));
        }
        if count > MAX_GPUS_PER_ENTRY {
            return Err(invalid_at(
                at,
                format!("`count = {count}` is more GPUs than one entry may count ({MAX_GPUS_PER_ENTRY})"),
            ));
        }
        total += count;
        if total > MAX_GPUS {
            return Err(invalid_at(
                at,
                format!("the [[gpus]] entries up to here count {total} GPUs, more than a host profile may describe ({MAX_GPUS})"),
            ));
        }
    }
    let mut gpus = Vec::new();
    for g in p.gpus.iter().map(toml::Spanned::get_ref) {
        let count = g.count.as_ref().map_or(1, |c| *c.get_ref());
        for _ in 0..count {
            gpus.push(Gpu {
                index: gpus.len() as u32,
                name: g.name.clone(),
                uuid: g.uuid.clone(),
                compute_capability: g.compute_capability,
                memory_total_mib: g.memory_total_mib,
                memory_free_mib: None,
                source: src.clone(),
            });
        }
    }
    let driver = p.driver.clone().unwrap_or_default();
    let mut notes = vec![format!(
        "facts from host profile {origin}{}",
        p.name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    )];
    let no_driver = (driver.version.is_none() && gpus.is_empty()).then_some(NoDriver::Profile);
    if let Some(why) = no_driver {
        notes.push(why.to_string());
    }
    Ok(HostFacts {
        hostname: p.hostname.clone(),
        os: p.os.clone(),
        kernel: p.kernel.clone(),
        arch: p.arch.clone().unwrap_or_else(|| "x86_64".into()),
        cpus: p.cpus.unwrap_or(0),
        driver: driver.version.map(|v| Sourced::new(v, src.clone())),
        driver_cuda: driver.cuda.map(|v| Sourced::new(v, src.clone())),
        libcuda_cuda: None,
        gpus,
        toolkit: p
            .toolkit
            .as_ref()
            .and_then(|t| t.nvcc.clone())
            .map(|v| Sourced::new(v, src.clone())),
        toolchains: Vec::new(),
        notes,
        profile: Some(origin.to_string()),
        no_driver,
    })
}

/// Writes facts as a host profile that [`parse_profile`] reads back.
pub fn to_profile_toml(f: &HostFacts) -> String {
    let mut gpus: Vec<toml::Spanned<ProfileGpu>> = Vec::new();
    for g in &f.gpus {
        gpus.push(toml::Spanned::new(
            0..0,
            ProfileGpu {
                name: g.name.clone(),
                compute_capability: g.compute_capability,
                memory_total_mib: g.memory_total_mib,
                uuid: g.uuid.clone(),
                count: None,
            },
        ));
    }
    let p = Profile {
        schema: 1,
        name: f.hostname.clone(),
        description: Some("captured with `compat probe --format toml`".into()),
        hostname: f.hostname.clone(),
        os: f.os.clone(),
        kernel: f.kernel.clone(),
        arch: Some(f.arch.clone()),
        cpus: Some(f.cpus),
        driver: (f.driver.is_some() || f.cuda().is_some()).then(|| ProfileDriver {
            version: f.driver.as_ref().map(|d| d.value.clone()),
            cuda: f.cuda().map(|c| c.value),
        }),
        toolkit: f.toolkit.as_ref().map(|t| ProfileToolkit {
            nvcc: Some(t.value.clone()),
        }),
        gpus,
    };
    let body = toml::to_string(&p).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"));
    format!("# compat host profile: use it with `compat check --host THIS_FILE`\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_round_trip() {
        let f = parse_profile(
            "schema = 1\nname = \"h100\"\n[driver]\nversion = \"550.54.15\"\ncuda = \"12.4\"\n[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\nmemory_total_mib = 81559\ncount = 2\n",
            "h100.toml",
        )
        .expect("profile");
        assert_eq!(f.gpus.len(), 2);
        assert_eq!(
            f.driver.as_ref().map(|d| d.value.to_string()),
            Some("550.54.15".into())
        );
        assert_eq!(f.gpus[1].source, "host-profile:h100.toml");
        let again = parse_profile(&to_profile_toml(&f), "again").expect("round trip");
        assert_eq!(again.gpus.len(), 2);
        assert_eq!(
            again.driver_cuda.map(|c| c.value),
            Some(CudaVersion::new(12, 4))
        );
    }

    #[test]
    fn profile_errors_have_positions() {
        let e =
            parse_profile("schema = 1\n[driver]\nversion = \"5x0\"\n", "p.toml").expect_err("bad");
        assert!(e.to_string().starts_with("p.toml:3:"), "{e}");
        let e = parse_profile(
            "schema = 1\n[[gpus]]\nname = \"x\"\ncompute_capability = \"9.0\"\nvram = 1\n",
            "p.toml",
        )
        .expect_err("unknown key");
        assert!(
            e.to_string().contains("p.toml:5:1: unknown field `vram`"),
            "{e}"
        );
    }

    fn gpus(entries: &[&str]) -> String {
        let mut t = String::from("schema = 1\n");
        for e in entries {
            t.push_str("[[gpus]]\nname = \"G\"\ncompute_capability = \"9.0\"\n");
            t.push_str(e);
            t.push('\n');
        }
        t
    }

    #[test]
    fn gpu_counts_are_bounded_and_point_at_the_count() {
        let e = parse_profile(&gpus(&["count = 0"]), "p.toml").expect_err("zero");
        assert!(e.to_string().starts_with("p.toml:5:9: `count = 0`"), "{e}");
        let e = parse_profile(&gpus(&["count = 4294967295"]), "p.toml").expect_err("huge");
        assert!(
            e.to_string().starts_with(
                "p.toml:5:9: `count = 4294967295` is more GPUs than one entry may count (64)"
            ),
            "{e}"
        );
        let e = parse_profile(&gpus(&["count = 65"]), "p.toml").expect_err("65");
        assert!(e.to_string().contains("(64)"), "{e}");
        assert!(matches!(
            parse_profile(&gpus(&["count = 4294967296"]), "p.toml"),
            Err(HostProfileError::Invalid { line: 5, .. })
        ));
        let e = parse_profile(&gpus(&["count = -1"]), "p.toml").expect_err("negative");
        assert!(e.to_string().starts_with("p.toml:5:"), "{e}");
        // 4 × 64 = 256 is the most; one GPU more, in a fifth entry without a count, is refused
        // at that entry.
        let four = ["count = 64"; 4];
        assert_eq!(
            parse_profile(&gpus(&four), "p").expect("256").gpus.len(),
            256
        );
        let mut five = four.to_vec();
        five.push("");
        let e = parse_profile(&gpus(&five), "p.toml").expect_err("257");
        assert!(
            e.to_string()
                .starts_with("p.toml:18:1: the [[gpus]] entries up to here count 257 GPUs"),
            "{e}"
        );
        // Many entries of one GPU each: the 257th is refused.
        let many = vec![""; 300];
        let e = parse_profile(&gpus(&many), "p.toml").expect_err("300 entries");
        assert!(e.to_string().contains("count 257 GPUs"), "{e}");
        assert_eq!(
            parse_profile(&gpus(&["count = 64"]), "p")
                .expect("64")
                .gpus
                .len(),
            64
        );
        assert_eq!(parse_profile(&gpus(&[""]), "p").expect("1").gpus.len(), 1);
    }

    #[test]
    fn errors_carry_their_causes() {
        use std::error::Error;
        let e = load_profile(Path::new("/nonexistent/h.toml")).expect_err("missing");
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<crate::input::InputError>())
            .is_some());
        assert!(e
            .to_string()
            .starts_with("cannot read host profile /nonexistent/h.toml: "));
        let e = parse_profile("schema = \"one\"\n", "p").expect_err("bad type");
        assert!(e.source().is_some(), "{e}");
        let e = parse_profile("schema = 2\n", "p").expect_err("schema 2");
        assert!(e.source().is_none(), "{e}");
    }
}
