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

/// The risk table, unwrapped: for pipes and files.
pub fn render_table(r: &RiskReport) -> String {
    render_table_in(r, None)
}

/// The risk table for a terminal `width` columns wide (`None`: as [`render_table`]): the seed's
/// and today's level in one column, each rule's reason and each row's evidence as numbered
/// notes under the table.
pub fn render_table_in(r: &RiskReport, width: Option<usize>) -> String {
    use crate::report::style::{self, cell, cell_lines, Notes};
    let Some(w) = width else {
        return render_wide(r);
    };
    let mut notes = Notes::default();
    let mut t = style::table_in(width);
    t.set_header(vec![
        "seed → now",
        "library",
        "risk",
        "rules fired",
        "evidence",
    ]);
    for row in &r.rows {
        let evidence = if row.evidence.is_empty() {
            "—".to_string()
        } else {
            notes.mark(&row.evidence.join("; "))
        };
        t.add_row(vec![
            cell(&format!("{} → {}", lvl(row.claimed_level), lvl(row.level))),
            cell(&row.subject),
            cell_lines([row.risk.clone(), format!("mitigation: {}", row.mitigation)]),
            cell_lines(fired_lines(row, |f| {
                format!(
                    "{} ({}) {}",
                    f.rule,
                    lvl(Some(f.level)),
                    notes.mark(&f.because)
                )
            })),
            cell(&evidence),
        ]);
    }
    let out = style::finish(
        format!(
            "Risk assessment (index: {})\n{t}\n{}highest: {}\n{}",
            crate::model::clean(&r.index),
            notes.render(w),
            lvl(r.highest),
            ignored_text(r)
        ),
        &style::Styles::plain(),
    );
    style::fit(out, width)
}

/// The risk table with every text in its cell, unwrapped.
fn render_wide(r: &RiskReport) -> String {
    use crate::report::style::{self, cell, cell_lines};
    let mut t = style::table();
    t.set_header(vec![
        "seed",
        "now",
        "library",
        "risk",
        "rules fired",
        "evidence",
    ]);
    for row in &r.rows {
        t.add_row(vec![
            cell(lvl(row.claimed_level)),
            cell(lvl(row.level)),
            cell(&row.subject),
            cell_lines([row.risk.clone(), format!("mitigation: {}", row.mitigation)]),
            cell_lines(fired_lines(row, |f| {
                format!("{} ({}): {}", f.rule, lvl(Some(f.level)), f.because)
            })),
            cell_lines(&row.evidence),
        ]);
    }
    style::finish(
        format!(
            "Risk assessment (index: {})\n{t}\nhighest: {}\n{}",
            crate::model::clean(&r.index),
            lvl(r.highest),
            ignored_text(r)
        ),
        &style::Styles::plain(),
    )
}

/// What set a row's level: the rules that fired, or for an advisory row its id.
fn fired_lines(row: &RiskRow, rule: impl FnMut(&crate::risk::Fired) -> String) -> Vec<String> {
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

/// The ignored hits as lines under a table.
fn ignored_text(r: &RiskReport) -> String {
    ignored_lines(r).iter().map(|l| format!("{l}\n")).collect()
}

pub fn render_markdown(r: &RiskReport) -> String {
    let esc = |s: &str| crate::model::clean(&s.replace('|', "\\|").replace('\n', " ")).into_owned();
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
    crate::report::style::finish(o, &crate::report::Styles::plain())
}
