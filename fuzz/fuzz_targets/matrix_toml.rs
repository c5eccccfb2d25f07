//! A matrix file: TOML, then compat's own validation. Errors are fine; panics are bugs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = compat::matrix::load_str(text, "fuzz.toml") {
            // The position must lie inside the text.
            assert!(e.line <= text.lines().count().max(1) + 1);
        }
    }
});
