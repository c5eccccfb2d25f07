//! The `compat` executable: parse the flags, run the command, map the outcome to an exit code
//! (0 or 1 from the command, 2 for any error, printed by `cli::fail`). Everything else is the
//! library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match compat::cli::run(compat::cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => compat::cli::fail(&error),
    }
}
