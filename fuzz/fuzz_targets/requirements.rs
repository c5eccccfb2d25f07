//! A requirements file from a pull request (no `-r` file exists under the fuzz path).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As in the compat binary, a panic inside a parser that compat guards with catch_unwind is
    // an error, not a crash: use a quiet hook instead of libFuzzer's aborting one. A panic that
    // escapes is still caught by the harness and reported as a crash.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(text) = std::str::from_utf8(data) {
        let path = std::path::Path::new("/nonexistent-compat-fuzz/requirements.txt");
        let _ = compat::requirements::parse_requirements(text, path, 0);
        let _ = compat::requirements::version_from_filename(text);
    }
});
