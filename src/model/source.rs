//! A fact and where it came from.

use serde::{Deserialize, Serialize};

/// A value and where it came from: a probe (`nvml`, `libcuda`, `nvidia-smi`, `nvcc`), an
/// override (`override:VAR`), a host profile (`host-profile:PATH`), or a public document (a
/// knowledge table row's source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: String,
    /// The source is known but the value is not confirmed (FACTS.md marked it `(?)` and no
    /// document settled it). A verdict never rests on an unsure fact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsure: bool,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: impl Into<String>) -> Self {
        Sourced {
            value,
            source: source.into(),
            unsure: false,
        }
    }
}
