//! compat verifies GPU machine-learning environments against a declared compatibility matrix.
//!
//! # The flow of data (one direction)
//!
//! The diagram of `DESIGN.md`, with the module that does each step:
//!
//! ```text
//! matrices/*.toml ──load [matrix]──▶ Matrix (declared)                          ─┐
//! matrices/knowledge ──load [knowledge]──▶ Knowledge                            ─┤
//! host: NVML, libcuda, which ──probe [probe]──▶ HostFacts                       ─┤
//! python env: site-packages, .nv_fatbin ──scan [env]──▶ PythonEnv               ─┼─▶ verify (pure) [verify] ─▶ Verification ─▶ [report]: table | markdown | json | junit | summary
//! plan: requirements, locks ──read [requirements]──▶ planned PythonEnv          ─┤
//! package index (optional) ──fetch [index]──▶ Project facts                     ─┤
//! kernels/*.cu + CPU kernels ──run [smoke]──▶ SmokeReport                       ─┘
//!
//! Matrix + HostFacts + Knowledge ──[plan] (pure)──▶ install order ─▶ shell | table | json
//! Matrix + PythonEnv + HostFacts + index facts ──[risk] (pure)──▶ risk report
//! many nodes' reports (JSON) ──read back typed [fleet]──▶ fleet matrix ─▶ [report::fleet]
//! ```
//!
//! # The layers
//!
//! - [`model`]: the shared vocabulary (verdicts, version units, package names, sourced facts,
//!   smoke check ids, text spans). It imports nothing else of the crate. Beside it, [`input`]:
//!   the one bounded reader of untrusted files (regular files only, a byte limit per kind).
//! - [`matrix`] (the declared model) and [`knowledge`] (public facts as data tables).
//! - The edges, which do I/O and return plain data: [`env`](mod@env), [`probe`], [`index`],
//!   [`requirements`], [`smoke`], and [`process`], the one way to run another program.
//! - The pure rules: [`verify`], [`plan`] (the install order), [`risk`].
//! - [`report`]: presentation only, and the typed model of the check report that is written
//!   and read back ([`report::Report`]).
//! - [`fleet`]: many nodes' reports, read back with `report`'s types and grouped into the
//!   fleet matrix (whose document and table are `report::fleet`).
//! - [`cli`]: wiring only — flags in, library calls, text out, exit codes. `main.rs` parses
//!   the flags and maps the outcome to an exit code.
//!
//! Imports point down this list, never up (siblings within a layer may use each other).

pub mod advisories;
pub mod cli;
pub mod env;
pub mod fleet;
pub mod index;
pub mod input;
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
