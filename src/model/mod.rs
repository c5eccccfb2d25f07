//! The shared vocabulary: the words every layer uses and nothing else. This module imports
//! nothing else of the crate, so the import graph can point one way: `model` → `matrix` and
//! `knowledge` → the edges (`env`, `probe`, `index`, `requirements`, `smoke`) → the pure rules
//! (`verify`, `install_order`, `risk`) → `report` → `cli`.
//!
//! What does not live here: anything that reads, probes or decides. A type belongs here only
//! when two layers that must not know each other both need it.

pub mod names;
pub mod paths;
pub mod smoke_id;
pub mod source;
pub mod text;
pub mod units;
pub mod vars;
pub mod verdict;

pub use names::{canonical, fnv1a, normalize};
pub use smoke_id::SmokeCheckId;
pub use source::Sourced;
pub use text::{clean, clean_lines, line_col, span_start, LineIndex, TomlFault};
pub use vars::Vars;
pub use verdict::Verdict;
