//! pip's `install --dry-run --report` JSON, read into typed structs: a wrong-typed or missing
//! field, or a non-PEP 440 version, must be an error with a line and column, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As in the compat binary, a panic inside a parser that compat guards with catch_unwind is
    // an error, not a crash: use a quiet hook instead of libFuzzer's aborting one. A panic that
    // escapes is still caught by the harness and reported as a crash.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(text) = std::str::from_utf8(data) {
        let p = std::path::Path::new("report.json");
        if let Err(e) = compat::requirements::parse_pip_report(text, p) {
            // Every error names a position inside the text.
            let _ = e.to_string();
            assert!(e.line >= 1 || text.is_empty());
        }
    }
});
