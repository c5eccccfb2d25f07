//! The human-readable smoke report (comfy-table, no colour): one row per check with the kernel
//! error (the verdict's comparison) and the format error (a measurement) apart, then why each
//! check that is not verified is so, then the seed's claims with what was measured. Rendering
//! only: the report is `crate::smoke::SmokeReport`, made by `compat smoke`.

use comfy_table::{presets, ContentArrangement, Table};

use crate::model::Verdict;
use crate::smoke::{SmokeCheck, SmokeReport};

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "verified",
        Verdict::Failed => "FAILED",
        Verdict::Unverified => "unverified",
        Verdict::NotInstalled => "not installed",
    }
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map(|e| format!("{e:.digits$e}"))
        .unwrap_or_else(|| "—".into())
}

fn table(header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    t
}

/// One row per check.
fn checks(r: &SmokeReport) -> Table {
    let mut t = table(vec![
        "check",
        "device",
        "tensor",
        "shape",
        "verdict",
        "kernel error",
        "bound",
        "format error",
        "worst case",
        "size vs fp16",
        "time",
        "throughput",
    ]);
    for c in &r.checks {
        let size = match (c.compressed_bytes, c.fp16_bytes) {
            (Some(a), Some(b)) if b > 0 => format!(
                "{} / {} ({:.1}%)",
                mb(a),
                mb(b),
                100.0 * a as f64 / b as f64
            ),
            _ => "—".into(),
        };
        t.add_row(vec![
            c.id.to_string(),
            c.device.to_string(),
            c.layer.trim_start_matches("model.").to_string(),
            c.shape.clone(),
            mark(c.verdict).to_string(),
            num(c.kernel_error, 2),
            num(c.kernel_bound, 1),
            num(c.format_error, 2),
            num(c.format_bound, 1),
            size,
            c.time_ms
                .map(|ms| format!("{ms:.2} ms"))
                .unwrap_or_else(|| "—".into()),
            c.throughput.clone().unwrap_or_else(|| "—".into()),
        ]);
    }
    t
}

/// Why each check that is not verified is so, once per distinct reason.
fn not_verified(checks: &[SmokeCheck]) -> String {
    let mut out = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in checks.iter().filter(|c| c.verdict != Verdict::Verified) {
        let line = format!(
            "  {} {} {}: {}",
            c.id,
            c.device,
            c.layer.trim_start_matches("model."),
            c.reason.as_deref().unwrap_or("(no reason given)")
        );
        if seen.insert(line.clone()) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("not verified:\n{out}")
    }
}

fn claims(r: &SmokeReport) -> Table {
    let mut t = table(vec!["library", "claim", "measured", "holds"]);
    for m in &r.claims {
        t.add_row(vec![
            m.library.clone(),
            m.claim.clone(),
            m.measured
                .clone()
                .unwrap_or_else(|| format!("not measured: {}", m.how)),
            match m.holds {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "—".into(),
            },
        ]);
    }
    t
}

/// Renders the report as text tables.
pub fn render_table(r: &SmokeReport) -> String {
    let mut out = format!(
        "compat smoke — {}\nweights: {}\nGPU: {}\n",
        r.model,
        r.weights,
        r.gpu.as_deref().unwrap_or("not requested (--device cpu)")
    );
    out.push_str(&format!("{}\n", checks(r)));
    out.push_str("kernel error: the kernel against the format's own product, exact from the stored codes and scales, as a fraction of the sum of its terms' magnitudes; the bound is f32 rounding and decides the verdict. format error: what the format costs against the original weights' product (a measurement), beside the format's worst case on these weights.\n");
    out.push_str(&not_verified(&r.checks));
    if !r.claims.is_empty() {
        out.push_str(&format!("claims:\n{}\n", claims(r)));
    }
    let count = |v: Verdict| r.checks.iter().filter(|c| c.verdict == v).count();
    let (verified, failed) = (count(Verdict::Verified), count(Verdict::Failed));
    out.push_str(&format!(
        "{verified} verified, {failed} failed, {} unverified in {:.0} ms\n",
        r.checks.len() - verified - failed,
        r.total_ms
    ));
    out
}
