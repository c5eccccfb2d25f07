//! The terminal report: the header, one comfy-table per matrix table, then why each cell that is
//! not verified is so, the known issues that apply, the dependency-consistency result, the
//! findings, the smoke checks and the score. One function per section, in that order.

use comfy_table::Cell as TCell;

use super::Report;
use crate::matrix::Claim;
use crate::model::{clean, Verdict};
use crate::report::style::{self, paint, Styles};
use crate::verify::{Cell, StatementCheck, TableResult, Verification};

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "✓ verified",
        Verdict::Failed => "✗ FAILED",
        Verdict::Unverified => "? unverified",
        Verdict::NotInstalled => "- not installed",
    }
}

/// Renders the report, in `styles` (the caller decides colour), unwrapped: for pipes and files.
pub fn render(r: &Report, styles: &Styles) -> String {
    render_in(r, styles, None)
}

/// Renders the report for a terminal `width` columns wide (`None`: unwrapped, as [`render`]).
pub fn render_in(r: &Report, styles: &Styles, width: Option<usize>) -> String {
    let v = &r.verification;
    let mut out = header(r, styles);
    for t in &v.tables {
        out.push_str(&matrix_table(t, r.plan.is_some(), styles, width));
    }
    out.push_str(&why(v, styles));
    out.push_str(&statements(v, styles));
    out.push_str(&consistency(v, styles));
    out.push_str(&findings(r, styles));
    out.push_str(&super::advisories::table(r, styles));
    if let Some(sm) = &r.smoke {
        out.push_str(&format!(
            "\n{}\n",
            paint(styles.heading, "Smoke compressions")
        ));
        out.push_str(&super::super::smoke::render_table_in(sm, width));
        out.push('\n');
    }
    out.push_str(&score(r, styles));
    style::fit(style::finish(out, styles), width)
}

/// What was checked: the matrix, the host, the interpreter, the plan, torch's build.
fn header(r: &Report, styles: &Styles) -> String {
    let mut out = String::new();
    let i = &r.environment.interpreter;
    out.push_str(&format!(
        "{} — {} ({})\n",
        paint(styles.heading, "compat check"),
        clean(&r.matrix.title),
        clean(&r.matrix.origin)
    ));
    out.push_str(&format!(
        "host: {} · {} · {} · {} CPUs · GPU: {}\n",
        clean(r.host.hostname.as_deref().unwrap_or("?")),
        clean(r.host.os.as_deref().unwrap_or("?")),
        clean(&r.host.arch),
        r.host.cpus,
        clean(&r.host.gpu_summary())
    ));
    out.push_str(&format!(
        "python: {} {} at {} (from {}, read via {}) · {} distributions · scanned in {:.1} ms\n",
        i.implementation,
        i.python_version,
        clean(
            &i.executable
                .as_ref()
                .unwrap_or(&i.prefix)
                .display()
                .to_string()
        ),
        i.source.describe(),
        i.read_from,
        r.environment.distributions,
        r.environment.scan_ms
    ));
    if let Some(plan) = &r.plan {
        out.push_str(&format!(
            "{} {} packages from {} ({:?}) — nothing is installed; every verdict is about the plan\n",
            paint(styles.plan, "PLAN:"),
            plan.packages,
            clean(&plan.path),
            plan.format
        ));
        for n in &plan.notes {
            out.push_str(&format!("  note: {}\n", clean(n)));
        }
    }
    if let Some(t) = &r.environment.torch {
        out.push_str(&format!(
            "torch build: {} · CUDA {} · HIP {} (torch/version.py)\n",
            clean(t.version.as_deref().unwrap_or("?")),
            clean(t.cuda.as_deref().unwrap_or("none")),
            clean(t.hip.as_deref().unwrap_or("none"))
        ));
    }
    out
}

/// One matrix table: a row per library, a column per claim.
fn matrix_table(t: &TableResult, planned: bool, styles: &Styles, width: Option<usize>) -> String {
    let mut out = format!(
        "\n{}{}\n",
        paint(styles.heading, &clean(&t.title)),
        t.claimed
            .as_ref()
            .map(|c| format!(" (the matrix claims: {})", clean(c)))
            .unwrap_or_default()
    );
    let full = build_table(t, planned, width, false);
    // A terminal too narrow for the full marks gets the compact ones (✓ ✗ ? -) and a legend.
    let fits = |tb: &comfy_table::Table| {
        let cols: usize = tb
            .column_max_content_widths()
            .iter()
            .map(|w| usize::from(*w) + 3)
            .sum();
        width.is_none_or(|w| cols < w)
    };
    if fits(&full) {
        out.push_str(&full.to_string());
        out.push('\n');
    } else {
        out.push_str(&build_table(t, planned, width, true).to_string());
        out.push_str("\n✓ verified · ✗ failed · ? unverified · - not installed · ⚠ broken deps\n");
    }
    out
}

/// The comfy-table of one matrix table; `compact`: the verdicts as one mark each.
fn build_table(
    t: &TableResult,
    planned: bool,
    width: Option<usize>,
    compact: bool,
) -> comfy_table::Table {
    let mut table = style::table_in(width);
    let mut header = vec![
        TCell::new("Library"),
        TCell::new(if planned { "Planned" } else { "Installed" }),
    ];
    header.extend(t.columns.iter().map(|c| style::cell(&c.title)));
    table.set_header(header);
    for row in &t.rows {
        let installed = match (&row.installed, row.broken_requirements.len(), compact) {
            (None, _, _) => "—".to_string(),
            (Some(v), 0, _) => v.clone(),
            (Some(v), n, true) => format!("{v} ⚠{n}"),
            (Some(v), 1, false) => format!("{v} ⚠ 1 broken dep"),
            (Some(v), n, false) => format!("{v} ⚠ {n} broken deps"),
        };
        let mut cells = vec![style::cell(&row.library), style::cell(&installed)];
        cells.extend(row.cells.iter().map(|c| {
            let text = match (compact, c.claim.clone(), c.verdict) {
                (true, Claim::Rating(_) | Claim::NotApplicable, Verdict::Unverified) => {
                    cell_text(c)
                }
                (true, _, v) => short_mark(v).to_string(),
                (false, _, _) => cell_text(c),
            };
            style::cell(&text)
        }));
        table.add_row(cells);
    }
    table
}

/// The verdict as one mark, for narrow terminals.
fn short_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "✓",
        Verdict::Failed => "✗",
        Verdict::Unverified => "?",
        Verdict::NotInstalled => "-",
    }
}

/// A cell as the table shows it: the verdict's mark, or what the claim is when no check exists.
fn cell_text(c: &Cell) -> String {
    match (&c.claim, c.verdict) {
        (Claim::Rating(r), Verdict::Unverified)
            if c.kind == crate::matrix::ColumnKind::Qualitative =>
        {
            format!("\"{r}\" (rating)")
        }
        (Claim::NotApplicable, Verdict::Unverified) => "N/A".to_string(),
        _ => mark(c.verdict).to_string(),
    }
}

/// `library · column` of every cell with the same key, in first-seen order.
type Grouped<K> = Vec<(K, Vec<String>)>;

fn group<K: PartialEq>(groups: &mut Grouped<K>, key: K, who: String) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, w)) => w.push(who),
        None => groups.push((key, vec![who])),
    }
}

/// Why: failed cells with their fix (identical failures grouped), verified cells' caveats, then
/// the reasons checkable cells are unverified.
fn why(v: &Verification, styles: &Styles) -> String {
    let mut failed: Grouped<(String, String)> = Vec::new();
    let mut caveats: Grouped<String> = Vec::new();
    let mut unverified: Grouped<String> = Vec::new();
    for row in v.tables.iter().flat_map(|t| &t.rows) {
        for c in &row.cells {
            let who = || format!("{} · {}", clean(&row.library), clean(&c.title));
            let reason = clean(c.reason.as_deref().unwrap_or_default()).into_owned();
            match c.verdict {
                Verdict::Failed => {
                    let key = (
                        reason,
                        clean(c.fix.as_deref().unwrap_or_default()).into_owned(),
                    );
                    group(&mut failed, key, who());
                }
                Verdict::Unverified if c.checkable => group(&mut unverified, reason, who()),
                Verdict::Verified => {
                    for cav in &c.caveats {
                        group(&mut caveats, clean(cav).into_owned(), who());
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = String::new();
    if !failed.is_empty() {
        out.push_str(&format!("\n{}\n", paint(styles.failed, "Failed cells")));
        for ((reason, fix), who) in failed {
            out.push_str(&format!("  {}: {reason}\n", who.join(", ")));
            if !fix.is_empty() {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
    }
    if !caveats.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            paint(styles.warning, "Verified with caveats")
        ));
        for (cav, who) in caveats {
            out.push_str(&format!("  {}: {cav}\n", who.join(", ")));
        }
    }
    if !unverified.is_empty() {
        let title = "Unverified (cannot be decided here)";
        out.push_str(&format!("\n{}\n", paint(styles.warning, title)));
        for (reason, who) in unverified {
            let who = if who.len() > 4 {
                format!("{} cells", who.len())
            } else {
                who.join(", ")
            };
            out.push_str(&format!("  {reason}: {who}\n"));
        }
    }
    out
}

/// The known issues as they stand on this host, and the conflicts the matrix calls resolved
/// that are not resolved here.
fn statements(v: &Verification, styles: &Styles) -> String {
    let failed = |s: &&StatementCheck| s.verdict == Verdict::Failed;
    let applies: Vec<_> = v
        .known_issues
        .iter()
        .chain(&v.current_conflicts)
        .filter(failed)
        .collect();
    let unresolved: Vec<_> = v.past_conflicts.iter().filter(failed).collect();
    let mut out = String::new();
    for (title, style, list) in [
        ("Known issues that apply here", styles.alert, applies),
        (
            "Conflicts the matrix calls resolved, not resolved here",
            styles.failed,
            unresolved,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{}\n", paint(style, title)));
        for s in list {
            out.push_str(&format!(
                "  {}: {}\n",
                clean(&s.text),
                clean(s.reason.as_deref().unwrap_or(""))
            ));
        }
    }
    out
}

/// The dependency-consistency result, as `pip check` would print it.
fn consistency(v: &Verification, styles: &Styles) -> String {
    let c = &v.consistency;
    let mut out = format!(
        "\n{} {} distributions, {} requirements checked: ",
        paint(styles.heading, "Dependency consistency (as pip check):"),
        c.distributions,
        c.requirements_checked
    );
    if c.ok() {
        out.push_str(&paint(styles.ok, "no broken requirements"));
        out.push('\n');
    } else {
        let problems = format!("{} problems", c.problems.len());
        out.push_str(&paint(styles.failed, &problems));
        out.push('\n');
        for pr in &c.problems {
            out.push_str(&format!("  {}\n", clean(&pr.message)));
        }
    }
    out
}

/// Odd entries found while reading the environment.
fn findings(r: &Report, styles: &Styles) -> String {
    if r.findings.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n{} {}\n",
        paint(styles.alert, "Findings in the environment:"),
        r.findings.len()
    );
    for f in &r.findings {
        out.push_str(&format!("  [{}] {}\n", f.code, clean(&f.message)));
    }
    out
}

/// The score, the counts, what is undecided and the result.
fn score(r: &Report, styles: &Styles) -> String {
    let v = &r.verification;
    let s = &v.score;
    let mut out = format!(
        "\n{} {} of {} checkable cells verified ({:.0}%){}\n",
        paint(styles.heading, "Score:"),
        s.verified,
        s.checkable,
        s.percent,
        s.claimed_percent
            .map(|c| format!(" — the matrix claims {c:.0}%"))
            .unwrap_or_default()
    );
    let n = &v.counts;
    out.push_str(&format!(
        "cells: {} verified · {} failed · {} unverified · {} not installed\n",
        n.verified, n.failed, n.unverified, n.not_installed
    ));
    if !s.undecided.is_empty() {
        let parts: Vec<String> = s
            .undecided
            .iter()
            .map(|u| format!("{} {}", u.cells, clean(&u.reason)))
            .collect();
        out.push_str(&format!(
            "checkable but undecided here: {}\n",
            parts.join("; ")
        ));
    }
    if let Some(next) = &r.next_step {
        out.push_str(&format!(
            "{} nothing of the matrix is installed here; the install order for this host: {next}\n",
            paint(styles.heading, "next:"),
            next = clean(next)
        ));
    }
    out.push_str(&format!(
        "result: {}\n",
        if r.exit_code == 0 {
            paint(styles.passed, "nothing failed (exit 0)")
        } else {
            paint(styles.failed, "FAILED (exit 1)")
        }
    ));
    out
}
