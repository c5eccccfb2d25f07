//! Lock files and pip reports: pylock.toml, uv.lock, `pip install --report` JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As in the compat binary, a panic inside a parser that compat guards with catch_unwind is
    // an error, not a crash: use a quiet hook instead of libFuzzer's aborting one. A panic that
    // escapes is still caught by the harness and reported as a crash.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(text) = std::str::from_utf8(data) {
        let p = std::path::Path::new("lock");
        let _ = compat::requirements::parse_pylock(text, p);
        let _ = compat::requirements::parse_uv_lock(text, p);
        let _ = compat::requirements::parse_pip_report(text, p);
    }
});
