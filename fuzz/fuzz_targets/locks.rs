//! Lock files and pip reports: pylock.toml, uv.lock, `pip install --report` JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let p = std::path::Path::new("lock");
        let _ = compat::requirements::parse_pylock(text, p);
        let _ = compat::requirements::parse_uv_lock(text, p);
        let _ = compat::requirements::parse_pip_report(text, p);
    }
});
