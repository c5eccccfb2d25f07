//! Advisories: the incompatibilities no package metadata states (C-extension ABI breaks, torch
//! floors beyond Requires-Dist, the torch family's coupling, compiled extensions tied to a torch
//! build, native builds per CUDA and GPU, API breaks between libraries, vendor builds, loader
//! shadowing), kept as sourced data in `matrices/advisories/*.toml` and evaluated against plain
//! facts. `model` holds the types, `load` the validation, `eval` the pure rules.
//!
//! What does not live here: reading an environment or a host (the caller fills [`Facts`]) and
//! presenting hits (the report layer). The schema and every entry are listed in
//! `docs/advisories.md`.
//!
//! ```no_run
//! let db = compat::advisories::builtin()?;
//! let mut facts = compat::advisories::Facts::default();
//! facts.install("torch", "2.2.2+cu121");
//! facts.install("numpy", "2.0.0");
//! for hit in db.evaluate(&facts, &compat::advisories::Ignore::none()) {
//!     println!("{} {}: {}", hit.id, hit.title, hit.fix);
//! }
//! # Ok::<(), compat::advisories::LoadError>(())
//! ```

pub mod config;
pub mod eval;
pub mod facts;
pub mod load;
pub mod model;

pub use config::parse_ignores;
pub use eval::{build_tag, BuildTag};
pub use facts::from_env as facts_from_env;
pub use load::{load_file, load_many, Advisory, Database, LoadError};
pub use model::{Facts, Hit, Ignore, IgnoreEntry, IgnoredHit, Installed, LibraryCopy};

/// The built-in database, one file per family, embedded at build time.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "matrices/advisories/numpy-abi.toml",
        include_str!("../../matrices/advisories/numpy-abi.toml"),
    ),
    (
        "matrices/advisories/torch-floors.toml",
        include_str!("../../matrices/advisories/torch-floors.toml"),
    ),
    (
        "matrices/advisories/torch-family.toml",
        include_str!("../../matrices/advisories/torch-family.toml"),
    ),
    (
        "matrices/advisories/torch-extensions.toml",
        include_str!("../../matrices/advisories/torch-extensions.toml"),
    ),
    (
        "matrices/advisories/native-builds.toml",
        include_str!("../../matrices/advisories/native-builds.toml"),
    ),
    (
        "matrices/advisories/hf-api.toml",
        include_str!("../../matrices/advisories/hf-api.toml"),
    ),
    (
        "matrices/advisories/vendor-builds.toml",
        include_str!("../../matrices/advisories/vendor-builds.toml"),
    ),
    (
        "matrices/advisories/loader-shadowing.toml",
        include_str!("../../matrices/advisories/loader-shadowing.toml"),
    ),
];

/// Loads and validates the built-in database.
pub fn builtin() -> Result<Database, LoadError> {
    load_many(BUILTIN.iter().copied())
}

#[cfg(test)]
mod tests;
