//! The `compat` executable: parse the flags, run the command, map the outcome to an exit code
//! (0 or 1 from the command, 2 for any error, printed by `cli::fail`). Everything else is the
//! library.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

/// mimalloc: a check allocates and frees hundreds of thousands of small strings (metadata
/// headers, requirements, TOML tables); glibc's malloc spent a quarter of a large check's
/// instructions on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before anything is opened: a closed standard stream must not lend its descriptor to a file.
    compat::cli::guard_standard_streams(STDOUT_WAS_CLOSED.load(Ordering::SeqCst));
    match compat::cli::run(compat::cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => compat::cli::fail(&error),
    }
}

/// Whether standard output was closed when the process started (`compat check >&-`). Rust's
/// runtime opens `/dev/null` on a closed standard descriptor before `main`, after which a
/// closed stdout cannot be told from `> /dev/null`; this is recorded before that, by a function
/// in `.init_array`, which the loader runs before the runtime's start-up.
static STDOUT_WAS_CLOSED: AtomicBool = AtomicBool::new(false);

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static RECORD_STDOUT: extern "C" fn() = record_stdout;

#[cfg(target_os = "linux")]
extern "C" fn record_stdout() {
    // SAFETY: F_GETFD only asks whether descriptor 1 is open; it touches no memory.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        STDOUT_WAS_CLOSED.store(true, Ordering::SeqCst);
    }
}
