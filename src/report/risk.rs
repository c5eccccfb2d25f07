//! `compat risk`'s text forms: the table and Markdown (the JSON form is the [`RiskReport`]
//! serialised).

use crate::matrix::RiskLevel;
use crate::risk::RiskReport;

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
            cell_lines(row.fired.iter().map(|f| {
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
            "Risk assessment (index: {})\n{t}\n{}highest: {}\n",
            crate::model::clean(&r.index),
            notes.render(w),
            lvl(r.highest)
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
            cell_lines(
                row.fired
                    .iter()
                    .map(|f| format!("{} ({}): {}", f.rule, lvl(Some(f.level)), f.because)),
            ),
            cell_lines(&row.evidence),
        ]);
    }
    style::finish(
        format!(
            "Risk assessment (index: {})\n{t}\nhighest: {}\n",
            crate::model::clean(&r.index),
            lvl(r.highest)
        ),
        &style::Styles::plain(),
    )
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
            esc(&row
                .fired
                .iter()
                .map(|f| format!("`{}` ({}): {}", f.rule, lvl(Some(f.level)), f.because))
                .collect::<Vec<_>>()
                .join("<br>")),
            esc(&row.evidence.join("<br>"))
        ));
    }
    crate::report::style::finish(o, &crate::report::Styles::plain())
}
