//! The human-readable smoke report (comfy-table, no colour): one row per check with the kernel
//! error (the verdict's comparison) and the format error (a measurement) apart, then why each
//! check that is not verified is so, then the seed's claims with what was measured. Rendering
//! only: the report is `crate::smoke::SmokeReport`, made by `compat smoke`.

use comfy_table::Table;

use crate::report::style::{cell, Notes};

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

fn table(header: Vec<&str>, width: Option<usize>) -> Table {
    let mut t = crate::report::style::table_in(width);
    t.set_header(header);
    t
}

/// On a terminal: one row per check in four columns of two lines each — the check with its
/// verdict and device, the tensor with its shape, the kernel error with its bound above the
/// format error with its worst case, the size against fp16 above the time (the throughput is
/// in the JSON and the piped table).
fn checks_compact(r: &SmokeReport, width: Option<usize>) -> Table {
    use crate::report::style::cell_lines;
    let mut t = table(vec!["check", "tensor", "errors", "size · time"], width);
    for c in &r.checks {
        let size = match (c.compressed_bytes, c.fp16_bytes) {
            (Some(a), Some(b)) if b > 0 => format!("{:.1}% of fp16", 100.0 * a as f64 / b as f64),
            _ => "—".into(),
        };
        let time = c
            .time_ms
            .map(|ms| format!("{ms:.2} ms"))
            .unwrap_or_else(|| "—".into());
        t.add_row(vec![
            cell_lines([
                c.id.to_string(),
                format!("{} · {}", mark(c.verdict), c.device),
            ]),
            cell_lines([c.layer.trim_start_matches("model."), &c.shape]),
            cell_lines([
                format!(
                    "kernel {} (bound {})",
                    num(c.kernel_error, 2),
                    num(c.kernel_bound, 1)
                ),
                format!(
                    "format {} (worst {})",
                    num(c.format_error, 2),
                    num(c.format_bound, 1)
                ),
            ]),
            cell_lines([size, time]),
        ]);
    }
    t
}

/// One row per check (on a terminal: [`checks_compact`]).
fn checks(r: &SmokeReport, width: Option<usize>) -> Table {
    if width.is_some() {
        return checks_compact(r, width);
    }
    let mut t = table(
        vec![
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
        ],
        width,
    );
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
            cell(&c.id.to_string()),
            cell(&c.device.to_string()),
            cell(c.layer.trim_start_matches("model.")),
            cell(&c.shape),
            cell(mark(c.verdict)),
            cell(&num(c.kernel_error, 2)),
            cell(&num(c.kernel_bound, 1)),
            cell(&num(c.format_error, 2)),
            cell(&num(c.format_bound, 1)),
            cell(&size),
            cell(
                &c.time_ms
                    .map(|ms| format!("{ms:.2} ms"))
                    .unwrap_or_else(|| "—".into()),
            ),
            cell(c.throughput.as_deref().unwrap_or("—")),
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

/// The claims with what was measured; on a terminal each measurement is a numbered note.
fn claims(r: &SmokeReport, width: Option<usize>, notes: &mut Notes) -> Table {
    let mut t = table(vec!["library", "claim", "measured", "holds"], width);
    for m in &r.claims {
        let measured = m
            .measured
            .clone()
            .unwrap_or_else(|| format!("not measured: {}", m.how));
        t.add_row(vec![
            cell(&m.library),
            cell(&m.claim),
            match width {
                Some(_) => cell(&notes.mark(&measured)),
                None => cell(&measured),
            },
            cell(match m.holds {
                Some(true) => "yes",
                Some(false) => "no",
                None => "—",
            }),
        ]);
    }
    t
}

/// Renders the report as text tables, unwrapped: for pipes and files.
pub fn render_table(r: &SmokeReport) -> String {
    render_table_in(r, None)
}

/// Renders the report for a terminal `width` columns wide (`None`: as [`render_table`]).
pub fn render_table_in(r: &SmokeReport, width: Option<usize>) -> String {
    let mut out = format!(
        "compat smoke — {}\nweights: {}\nGPU: {}\n",
        crate::model::clean(&r.model),
        crate::model::clean(&r.weights),
        crate::model::clean(r.gpu.as_deref().unwrap_or("not requested (--device cpu)"))
    );
    out.push_str(&format!("{}\n", checks(r, width)));
    out.push_str("kernel error: the kernel against the format's own product, exact from the stored codes and scales, as a fraction of the sum of its terms' magnitudes; the bound is f32 rounding and decides the verdict. format error: what the format costs against the original weights' product (a measurement), beside the format's worst case on these weights.\n");
    out.push_str(&not_verified(&r.checks));
    if !r.claims.is_empty() {
        let mut notes = Notes::default();
        out.push_str(&format!("claims:\n{}\n", claims(r, width, &mut notes)));
        if let Some(w) = width {
            out.push_str(&notes.render(w));
        }
    }
    let count = |v: Verdict| r.checks.iter().filter(|c| c.verdict == v).count();
    let (verified, failed) = (count(Verdict::Verified), count(Verdict::Failed));
    out.push_str(&format!(
        "{verified} verified, {failed} failed, {} unverified in {:.0} ms\n",
        r.checks.len() - verified - failed,
        r.total_ms
    ));
    let out = crate::report::style::finish(out, &crate::report::Styles::plain());
    crate::report::style::fit(out, width)
}
