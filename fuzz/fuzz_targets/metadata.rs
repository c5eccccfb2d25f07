//! The files of an installed distribution: METADATA/PKG-INFO, WHEEL, requires.txt, pyvenv.cfg,
//! .pth and torch/version.py, and every Requires-Dist line through PEP 508.
#![no_main]
use compat::env::metadata::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As in the compat binary, a panic inside a parser that compat guards with catch_unwind is
    // an error, not a crash: use a quiet hook instead of libFuzzer's aborting one. A panic that
    // escapes is still caught by the harness and reported as a crash.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let text = String::from_utf8_lossy(data);
    let md = parse_core_metadata(&text);
    for line in md.requires_dist.iter().chain(requires_txt_to_requires_dist(&text).iter()) {
        let _ = parse_requirement(line);
    }
    if let Some(v) = &md.version {
        let _ = v.parse::<pep440_rs::Version>();
    }
    if let Some(rp) = &md.requires_python {
        let _ = rp.parse::<pep440_rs::VersionSpecifiers>();
    }
    let _ = parse_wheel(&text);
    let _ = parse_pyvenv_cfg(&text);
    let _ = pth_paths(&text);
    let _ = parse_torch_version_py(&text);
});
