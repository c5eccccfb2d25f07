//! A requirements file from a pull request (no `-r` file exists under the fuzz path).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = std::path::Path::new("/nonexistent-compat-fuzz/requirements.txt");
        let _ = compat::requirements::parse_requirements(text, path, 0);
        let _ = compat::requirements::version_from_filename(text);
    }
});
