//! A short Markdown summary for a CI job's step summary: the result, the counts, every failed
//! cell with its fix, the broken requirements. The full verified matrix is `--format markdown`.

use super::Report;
use crate::model::{clean, Verdict};

pub fn render(r: &Report) -> String {
    let v = &r.verification;
    let mut o = String::new();
    let ok = r.exit_code == 0;
    o.push_str(&format!(
        "### {} compat check — {}\n\n",
        if ok { "✅" } else { "❌" },
        clean(&r.matrix.title)
    ));
    o.push_str(&format!(
        "Host: {} · Python {} · {} distributions{}\n\n",
        clean(&r.host.gpu_summary()),
        r.environment.interpreter.python_version,
        r.environment.distributions,
        r.environment
            .torch
            .as_ref()
            .and_then(|t| t.version.clone())
            .map(|t| format!(" · torch {t}"))
            .unwrap_or_default()
    ));
    if let Some(p) = &r.plan {
        o.push_str(&format!(
            "Checked the **plan** {} ({} packages): nothing was installed.\n\n",
            p.path, p.packages
        ));
    }
    let n = &v.counts;
    o.push_str(&format!(
        "| verified | failed | unverified | not installed | score | claimed |\n|---|---|---|---|---|---|\n| {} | {} | {} | {} | {:.0}% ({}/{}) | {} |\n\n",
        n.verified,
        n.failed,
        n.unverified,
        n.not_installed,
        v.score.percent,
        v.score.verified,
        v.score.checkable,
        v.score.claimed_percent.map(|c| format!("{c:.0}%")).unwrap_or_default()
    ));
    let failed: Vec<String> = v
        .tables
        .iter()
        .flat_map(|t| &t.rows)
        .flat_map(|row| row.cells.iter().map(move |c| (row, c)))
        .filter(|(_, c)| c.verdict == Verdict::Failed)
        .map(|(row, c)| {
            format!(
                "| {} | {} | {} | {} |",
                clean(&row.library),
                clean(&c.title),
                clean(c.reason.as_deref().unwrap_or("")).replace('|', "\\|"),
                c.fix
                    .as_deref()
                    .map(|f| format!("`{f}`"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !failed.is_empty() {
        o.push_str("**Failed cells**\n\n| library | column | why | fix |\n|---|---|---|---|\n");
        o.push_str(&failed.join("\n"));
        o.push_str("\n\n");
    }
    if !v.consistency.problems.is_empty() {
        o.push_str("**Broken requirements** (as `pip check`)\n\n");
        for p in &v.consistency.problems {
            o.push_str(&format!("- {}\n", clean(&p.message)));
        }
        o.push('\n');
    }
    o.push_str(&super::advisories::markdown(r, "####"));
    if !r.findings.is_empty() {
        o.push_str(&format!("**Findings**: {}\n\n", r.findings.len()));
    }
    if let Some(next) = &r.next_step {
        o.push_str(&format!(
            "**Next:** nothing of the matrix is installed here; the install order for this host: `{next}`\n\n"
        ));
    }
    o.push_str(&format!("Exit code {}.\n", r.exit_code));
    crate::report::style::finish(o, &crate::report::Styles::plain())
}
