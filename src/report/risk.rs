//! `compat risk`'s text forms: the table and Markdown (the JSON form is the [`RiskReport`]
//! serialised).

use crate::matrix::RiskLevel;
use crate::risk::{RiskReport, RiskRow};

fn lvl(l: Option<RiskLevel>) -> &'static str {
    match l {
        Some(RiskLevel::Low) => "LOW",
        Some(RiskLevel::Medium) => "MEDIUM",
        Some(RiskLevel::High) => "HIGH",
        None => "—",
    }
}

pub fn render_table(r: &RiskReport) -> String {
    use comfy_table::{presets, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "seed",
            "now",
            "library",
            "risk",
            "rules fired",
            "evidence",
        ]);
    for row in &r.rows {
        t.add_row(vec![
            lvl(row.claimed_level).to_string(),
            lvl(row.level).to_string(),
            row.subject.clone(),
            format!("{}\nmitigation: {}", row.risk, row.mitigation),
            fired_lines(row, |f| {
                format!("{} ({}): {}", f.rule, lvl(Some(f.level)), f.because)
            })
            .join("\n"),
            row.evidence.join("\n"),
        ]);
    }
    format!(
        "Risk assessment (index: {})\n{t}\nhighest: {}\n{}",
        r.index,
        lvl(r.highest),
        ignored_lines(r)
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    )
}

/// What set a row's level: the rules that fired, or for an advisory row its id.
fn fired_lines(row: &RiskRow, rule: impl Fn(&crate::risk::Fired) -> String) -> Vec<String> {
    let mut out: Vec<String> = row.fired.iter().map(rule).collect();
    if let Some(id) = &row.advisory {
        out.push(format!("advisory {id} ({})", lvl(row.level)));
    }
    out
}

/// One line per ignored advisory hit, with the reason given.
fn ignored_lines(r: &RiskReport) -> Vec<String> {
    r.ignored_advisories
        .iter()
        .map(|i| {
            format!(
                "ignored advisory {} ({} {}): {}",
                i.hit.id, i.hit.package, i.hit.version, i.reason
            )
        })
        .collect()
}

pub fn render_markdown(r: &RiskReport) -> String {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut o = format!("## Risk Assessment\n\nIndex: {}.\n\n| Seed level | Level now | Library | Risk | Mitigation | Rules fired | Evidence |\n|---|---|---|---|---|---|---|\n", r.index);
    for row in &r.rows {
        o.push_str(&format!(
            "| {} | **{}** | {} | {} | {} | {} | {} |\n",
            lvl(row.claimed_level),
            lvl(row.level),
            esc(&row.subject),
            esc(&row.risk),
            esc(&row.mitigation),
            esc(&fired_lines(row, |f| format!(
                "`{}` ({}): {}",
                f.rule,
                lvl(Some(f.level)),
                f.because
            ))
            .join("<br>")),
            esc(&row.evidence.join("<br>"))
        ));
    }
    for l in ignored_lines(r) {
        o.push_str(&format!("\n- {}", esc(&l)));
    }
    if !r.ignored_advisories.is_empty() {
        o.push('\n');
    }
    o
}
