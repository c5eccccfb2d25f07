//! The declared compatibility matrix: its model (`model.rs`), the built-in matrices, the loader
//! (`load.rs`) and the checks it makes (`validate.rs`).
//!
//! A matrix is data, never code: it is read from TOML (the built-in ones are embedded in the
//! binary with `include_str!`), checked once by [`load_file`] or [`load_str`], and from then on every other part of
//! compat reads it without further validation. The loader keeps the byte span of every value a
//! user can get wrong, so a bad file is reported as `file:line:column: message` with a hint,
//! and exit code 2 (see `crate::cli`). This module does no other I/O than reading the one file,
//! and knows nothing of the facts a matrix is checked against (that is `verify`).

mod load;
mod model;
mod validate;

pub use load::{load_builtin, load_file, load_str, LoadCause, LoadError};
pub use model::*;
pub use validate::{
    MAX_COLUMNS_PER_TABLE, MAX_GRAPH_NODES, MAX_ISSUES, MAX_LIBRARIES, MAX_STAGES, MAX_TABLES,
};

/// The matrices compiled into the binary: `(id, TOML text)`.
pub const BUILTIN: &[(&str, &str)] = &[(
    "llm-compression",
    include_str!("../../matrices/llm-compression.toml"),
)];

/// The id of the matrix `compat check` uses when none is given.
pub const DEFAULT_BUILTIN: &str = "llm-compression";
