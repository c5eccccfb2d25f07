//! A host profile (`--host`), and the override values of COMPAT_OVERRIDE_*.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(mut facts) = compat::probe::host::parse_profile(text, "fuzz.toml") {
            let back = compat::probe::to_profile_toml(&facts);
            assert!(compat::probe::host::parse_profile(&back, "again").is_ok(), "a written profile reads back");
            let vars = compat::model::Vars::from_pairs([("COMPAT_OVERRIDE_GPU_ARCH", text)]);
            let _ = compat::probe::apply_overrides(&mut facts, &vars);
        }
        let _ = text.parse::<compat::model::units::DriverVersion>();
        let _ = text.parse::<compat::model::units::CudaVersion>();
        let _ = text.parse::<compat::model::units::ComputeCapability>();
    }
});
