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
            row.fired
                .iter()
                .map(|f| format!("{} ({}): {}", f.rule, lvl(Some(f.level)), f.because))
                .collect::<Vec<_>>()
                .join("\n"),
            row.evidence.join("\n"),
        ]);
    }
    format!(
        "Risk assessment (index: {})\n{t}\nhighest: {}\n",
        r.index,
        lvl(r.highest)
    )
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
            esc(&row
                .fired
                .iter()
                .map(|f| format!("`{}` ({}): {}", f.rule, lvl(Some(f.level)), f.because))
                .collect::<Vec<_>>()
                .join("<br>")),
            esc(&row.evidence.join("<br>"))
        ));
    }
    o
}
