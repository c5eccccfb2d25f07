//! The human-readable smoke report (comfy-table, no colour): one row per check, then why each
//! check that is not verified is so, then the seed's claims with what was measured. Rendering
//! only: the report is `crate::smoke::SmokeReport`, made by `compat smoke`.

use comfy_table::{presets, ContentArrangement, Table};

use crate::model::Verdict;
use crate::smoke::SmokeReport;

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "verified",
        Verdict::Failed => "FAILED",
        Verdict::Unverified => "unverified",
        Verdict::NotInstalled => "not installed",
    }
}

fn mb(b: Option<u64>) -> String {
    b.map(|b| format!("{:.1} MB", b as f64 / 1e6))
        .unwrap_or_else(|| "—".into())
}

/// Renders the report as text tables.
pub fn render_table(r: &SmokeReport) -> String {
    let mut out = format!(
        "compat smoke — {}\nweights: {}\nGPU: {}\n",
        r.model,
        r.weights,
        r.gpu.as_deref().unwrap_or("not requested (--device cpu)")
    );
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "check",
            "device",
            "tensor",
            "shape",
            "verdict",
            "error",
            "bound",
            "size vs fp16",
            "time",
            "throughput",
        ]);
    for c in &r.checks {
        let size = match (c.compressed_bytes, c.fp16_bytes) {
            (Some(a), Some(b)) if b > 0 => format!(
                "{} / {} ({:.1}%)",
                mb(Some(a)),
                mb(Some(b)),
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
            c.max_rel_error
                .map(|e| format!("{e:.2e}"))
                .unwrap_or_else(|| "—".into()),
            c.bound
                .map(|e| format!("{e:.1e}"))
                .unwrap_or_else(|| "—".into()),
            size,
            c.time_ms
                .map(|ms| format!("{ms:.2} ms"))
                .unwrap_or_else(|| "—".into()),
            c.throughput.clone().unwrap_or_else(|| "—".into()),
        ]);
    }
    out.push_str(&format!("{t}\n"));
    let notes: Vec<String> = r
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Verified)
        .map(|c| {
            format!(
                "  {} {} {}: {}",
                c.id,
                c.device,
                c.layer.trim_start_matches("model."),
                c.reason.as_deref().unwrap_or("(no reason given)")
            )
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("not verified:\n");
        let mut seen = std::collections::BTreeSet::new();
        for n in notes {
            if seen.insert(n.clone()) {
                out.push_str(&n);
                out.push('\n');
            }
        }
    }
    let mut c = Table::new();
    c.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec!["library", "claim", "measured", "holds"]);
    for m in &r.claims {
        c.add_row(vec![
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
    out.push_str(&format!("claims:\n{c}\n"));
    let verified = r
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Verified)
        .count();
    let failed = r
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .count();
    out.push_str(&format!(
        "{verified} verified, {failed} failed, {} unverified in {:.0} ms\n",
        r.checks.len() - verified - failed,
        r.total_ms
    ));
    out
}
