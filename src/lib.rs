//! compat verifies GPU machine-learning environments against a declared compatibility matrix.
//!
//! The flow is one-directional (see `shared/DESIGN.md`): edges do I/O and return plain data
//! ([`env`] reads a Python environment), the core is pure ([`verify`] turns a [`matrix::Matrix`]
//! and the facts into verdicts), and [`report`] only presents. [`app`] wires the commands.

pub mod app;
pub mod env;
pub mod fleet;
pub mod index;
pub mod install_order;
pub mod knowledge;
pub mod matrix;
pub mod model;
pub mod probe;
pub mod process;
pub mod report;
pub mod requirements;
pub mod risk;
pub mod smoke;
pub mod verify;
