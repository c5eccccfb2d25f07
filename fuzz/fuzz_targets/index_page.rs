//! Package-index answers (PEP 691 JSON, PEP 503 HTML, PEP 658 metadata): network input.
#![no_main]
use compat::index::{parse_html_page, parse_json_page, parse_metadata, FetchSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let url = "http://127.0.0.1/simple/torch/";
    let _ = parse_json_page("torch", url, &body, FetchSource::Network);
    let _ = parse_html_page("torch", url, &body, FetchSource::Network);
    let _ = parse_metadata(&body, FetchSource::Network);
});
