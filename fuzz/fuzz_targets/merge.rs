//! A node's report given to `compat merge`: read, merged, and printed as the fleet table.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match compat::report::Report::from_json(text) {
            Ok(report) => {
                let node = std::path::Path::new("node.json");
                let fleet = compat::fleet::merge(&[(node, report.clone()), (node, report)]);
                let _ = compat::report::fleet::render_table(&fleet);
            }
            Err(e) => {
                let _ = e.to_string();
                let _ = e.line_col();
            }
        }
    }
});
