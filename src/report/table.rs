//! The terminal report: one comfy-table per matrix table, then why each cell that is not
//! verified is so, the dependency-consistency result, the findings and the score.

use comfy_table::{presets, Cell as TCell, ContentArrangement, Table};

use super::Report;
use crate::model::Verdict;

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "✓ verified",
        Verdict::Failed => "✗ FAILED",
        Verdict::Unverified => "? unverified",
        Verdict::NotInstalled => "- not installed",
    }
}

struct Paint(bool);

impl Paint {
    fn c(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Renders the report for a terminal. `color` is decided by the caller (NO_COLOR, tty).
pub fn render(r: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let i = &r.environment.interpreter;
    out.push_str(&format!(
        "{} — {} ({})\n",
        p.c("1", "compat check"),
        r.matrix.title,
        r.matrix.origin
    ));
    out.push_str(&format!(
        "host: {} · {} · {} · {} CPUs · GPU: {}\n",
        r.host.hostname.as_deref().unwrap_or("?"),
        r.host.os.as_deref().unwrap_or("?"),
        r.host.arch,
        r.host.cpus,
        r.host.gpu_summary()
    ));
    out.push_str(&format!(
        "python: {} {} at {} (from {}, read via {}) · {} distributions · scanned in {:.1} ms\n",
        i.implementation,
        i.python_version,
        i.executable.as_ref().unwrap_or(&i.prefix).display(),
        i.source.describe(),
        i.read_from,
        r.environment.distributions,
        r.environment.scan_ms
    ));
    if let Some(plan) = &r.plan {
        out.push_str(&format!(
            "{} {} packages from {} ({:?}) — nothing is installed; every verdict is about the plan\n",
            p.c("1;36", "PLAN:"),
            plan.packages,
            plan.path,
            plan.format
        ));
        for n in &plan.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
    }
    if let Some(t) = &r.environment.torch {
        out.push_str(&format!(
            "torch build: {} · CUDA {} · HIP {} (torch/version.py)\n",
            t.version.as_deref().unwrap_or("?"),
            t.cuda.as_deref().unwrap_or("none"),
            t.hip.as_deref().unwrap_or("none")
        ));
    }
    let v = &r.verification;
    for t in &v.tables {
        out.push('\n');
        out.push_str(&format!(
            "{}{}\n",
            p.c("1", &t.title),
            t.claimed
                .as_ref()
                .map(|c| format!(" (the matrix claims: {c})"))
                .unwrap_or_default()
        ));
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        let mut header = vec![
            TCell::new("Library"),
            TCell::new(if r.plan.is_some() {
                "Planned"
            } else {
                "Installed"
            }),
        ];
        for c in &t.columns {
            header.push(TCell::new(&c.title));
        }
        table.set_header(header);
        for row in &t.rows {
            let mut cells = vec![
                TCell::new(&row.library),
                TCell::new(match (&row.installed, row.broken_requirements.len()) {
                    (None, _) => "—".to_string(),
                    (Some(v), 0) => v.clone(),
                    (Some(v), 1) => format!("{v} ⚠ 1 broken dep"),
                    (Some(v), n) => format!("{v} ⚠ {n} broken deps"),
                }),
            ];
            for c in &row.cells {
                let text = match (&c.claim, c.verdict) {
                    (crate::matrix::Claim::Rating(r), Verdict::Unverified)
                        if c.kind == "qualitative" =>
                    {
                        format!("\"{r}\" (rating)")
                    }
                    (crate::matrix::Claim::NotApplicable, Verdict::Unverified) => "N/A".to_string(),
                    _ => mark(c.verdict).to_string(),
                };
                cells.push(TCell::new(text));
            }
            table.add_row(cells);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }

    // Why: failed cells with their fix (identical failures grouped), then unverified reasons.
    let mut failed: Vec<((String, String), Vec<String>)> = Vec::new();
    let mut unverified: Vec<(String, Vec<String>)> = Vec::new();
    for t in &v.tables {
        for row in &t.rows {
            for c in &row.cells {
                let reason = c.reason.clone().unwrap_or_default();
                match c.verdict {
                    Verdict::Failed => {
                        let key = (reason, c.fix.clone().unwrap_or_default());
                        let who = format!("{} · {}", row.library, c.title);
                        match failed.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, w)) => w.push(who),
                            None => failed.push((key, vec![who])),
                        }
                    }
                    Verdict::Unverified if c.checkable => {
                        let key = reason;
                        let who = format!("{} · {}", row.library, c.title);
                        match unverified.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, w)) => w.push(who),
                            None => unverified.push((key, vec![who])),
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if !failed.is_empty() {
        out.push_str(&format!("\n{}\n", p.c("31;1", "Failed cells")));
        for ((reason, fix), who) in failed {
            out.push_str(&format!("  {}: {reason}\n", who.join(", ")));
            if !fix.is_empty() {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
    }
    let mut caveats: Vec<(String, Vec<String>)> = Vec::new();
    for t in &v.tables {
        for row in &t.rows {
            for c in row.cells.iter().filter(|c| c.verdict == Verdict::Verified) {
                for cav in &c.caveats {
                    let who = format!("{} · {}", row.library, c.title);
                    match caveats.iter_mut().find(|(k, _)| k == cav) {
                        Some((_, w)) => w.push(who),
                        None => caveats.push((cav.clone(), vec![who])),
                    }
                }
            }
        }
    }
    if !caveats.is_empty() {
        out.push_str(&format!("\n{}\n", p.c("33", "Verified with caveats")));
        for (cav, who) in caveats {
            out.push_str(&format!("  {}: {cav}\n", who.join(", ")));
        }
    }
    if !unverified.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            p.c("33", "Unverified (cannot be decided here)")
        ));
        for (reason, who) in unverified {
            let who = if who.len() > 4 {
                format!("{} cells", who.len())
            } else {
                who.join(", ")
            };
            out.push_str(&format!("  {reason}: {who}\n"));
        }
    }

    // The known issues as they stand on this host.
    let applies: Vec<_> = v
        .known_issues
        .iter()
        .chain(&v.current_conflicts)
        .filter(|s| s.verdict == Verdict::Failed)
        .collect();
    if !applies.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            p.c("33;1", "Known issues that apply here")
        ));
        for s in applies {
            out.push_str(&format!(
                "  {}: {}\n",
                s.text,
                s.reason.as_deref().unwrap_or("")
            ));
        }
    }

    // Statements of the document.
    let statements: Vec<_> = v
        .past_conflicts
        .iter()
        .filter(|s| s.verdict == Verdict::Failed)
        .collect();
    if !statements.is_empty() {
        out.push_str(&format!(
            "\n{}\n",
            p.c(
                "31;1",
                "Conflicts the matrix calls resolved, not resolved here"
            )
        ));
        for s in statements {
            out.push_str(&format!(
                "  {}: {}\n",
                s.text,
                s.reason.as_deref().unwrap_or("")
            ));
        }
    }

    let c = &v.consistency;
    out.push_str(&format!(
        "\n{} {} distributions, {} requirements checked: ",
        p.c("1", "Dependency consistency (as pip check):"),
        c.distributions,
        c.requirements_checked
    ));
    if c.ok() {
        out.push_str(&p.c("32", "no broken requirements"));
        out.push('\n');
    } else {
        out.push_str(&p.c("31;1", &format!("{} problems", c.problems.len())));
        out.push('\n');
        for pr in &c.problems {
            out.push_str(&format!("  {}\n", pr.message));
        }
    }
    if !r.findings.is_empty() {
        out.push_str(&format!(
            "\n{} {}\n",
            p.c("33;1", "Findings in the environment:"),
            r.findings.len()
        ));
        for f in &r.findings {
            out.push_str(&format!("  [{}] {}\n", f.code, f.message));
        }
    }

    if let Some(sm) = &r.smoke {
        out.push_str(&format!("\n{}\n", p.c("1", "Smoke compressions")));
        out.push_str(&super::smoke::render_table(sm));
        out.push('\n');
    }
    let s = &v.score;
    out.push_str(&format!(
        "\n{} {} of {} checkable cells verified ({:.0}%){}\n",
        p.c("1", "Score:"),
        s.verified,
        s.checkable,
        s.percent,
        s.claimed_percent
            .map(|c| format!(" — the matrix claims {c:.0}%"))
            .unwrap_or_default()
    ));
    let n = &v.counts;
    out.push_str(&format!(
        "cells: {} verified · {} failed · {} unverified · {} not installed\n",
        n.verified, n.failed, n.unverified, n.not_installed
    ));
    if !s.undecided.is_empty() {
        let parts: Vec<String> = s
            .undecided
            .iter()
            .map(|u| format!("{} {}", u.cells, u.reason))
            .collect();
        out.push_str(&format!(
            "checkable but undecided here: {}\n",
            parts.join("; ")
        ));
    }
    out.push_str(&format!(
        "result: {}\n",
        if r.exit_code == 0 {
            p.c("32;1", "nothing failed (exit 0)")
        } else {
            p.c("31;1", "FAILED (exit 1)")
        }
    ));
    out
}
