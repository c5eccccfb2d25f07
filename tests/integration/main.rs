//! compat's integration tests: one test binary (as ripgrep does), a module per command or
//! theme. Every test runs the real `compat` executable (`CARGO_BIN_EXE_compat`) with the
//! user's configuration variables cleared (see `util`), or calls the library's public API on
//! real fixtures.

mod advisories;
mod cli;
mod escapes;
mod fixture_envs;
mod ground_truth;
mod hostile_bounds;
mod hostile_io;
mod hostile_resolver;
mod hostile_robust;
mod hosts;
mod index;
mod install_order;
mod matrix_errors;
mod native_libraries;
mod plans;
mod real_venv;
mod risk;
mod smoke;
mod snapshots;
mod terminal;
mod util;
