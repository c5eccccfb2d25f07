//! `compat advisories`: the database as a table (id, package, affected versions, title, sources)
//! and one advisory whole (`compat advisories show ID`). The JSON forms are the serialized
//! [`Advisory`] values. Loading and evaluating the database is `advisories`' job.

use serde::Serialize;

use crate::advisories::{Advisory, Database};
use crate::report::style;

/// One entry of the JSON list: what identifies the advisory and where it came from.
#[derive(Debug, Serialize)]
pub struct ListEntry<'a> {
    pub id: &'a str,
    pub family: &'a str,
    pub package: &'a str,
    pub affected: &'a str,
    pub title: &'a str,
    pub sources: &'a [String],
    pub checked: &'a str,
}

/// The JSON list's entries.
pub fn list_entries(db: &Database) -> Vec<ListEntry<'_>> {
    db.advisories
        .iter()
        .map(|a| ListEntry {
            id: &a.id,
            family: &a.family,
            package: &a.package,
            affected: &a.affected_text,
            title: &a.title,
            sources: &a.sources,
            checked: &a.checked,
        })
        .collect()
}

/// Every advisory, one row each.
pub fn list_table(db: &Database) -> String {
    let mut t = style::table();
    t.set_header(["Id", "Package", "Affected", "Title", "Sources"]);
    for a in &db.advisories {
        t.add_row([
            style::cell(&a.id),
            style::cell(&a.package),
            style::cell(&a.affected_text),
            style::cell(&a.title),
            style::cell_lines(&a.sources),
        ]);
    }
    style::finish(
        format!("{t}\n{} advisories\n", db.advisories.len()),
        &style::Styles::plain(),
    )
}

/// One advisory whole, as text.
pub fn show(a: &Advisory) -> String {
    let mut o = format!("{} — {}\n", a.id, a.title);
    o.push_str(&format!("family:   {}\n", a.family));
    o.push_str(&format!("package:  {} {}\n", a.package, a.affected_text));
    if !a.conditions.is_empty() {
        o.push_str("when (all hold):\n");
        for c in &a.conditions {
            let text = serde_json::to_string(&c.raw).unwrap_or_else(|_| format!("{:?}", c.raw));
            o.push_str(&format!("  - {text}\n"));
        }
    }
    if !a.rows.is_empty() {
        o.push_str("companion table:\n");
        for r in &a.rows {
            let comps: Vec<String> = r
                .companions
                .iter()
                .map(|(p, _, s)| format!("{p} {s}"))
                .collect();
            o.push_str(&format!(
                "  {} {} → {}\n",
                a.package,
                r.anchor_text,
                comps.join(", ")
            ));
        }
    }
    o.push_str(&format!("symptom:  {}\n", a.symptom));
    o.push_str(&format!("fix:      {}\n", a.fix));
    if let Some(n) = &a.note {
        o.push_str(&format!("note:     {n}\n"));
    }
    o.push_str("sources:\n");
    for s in &a.sources {
        o.push_str(&format!("  - {s}\n"));
    }
    o.push_str(&format!("checked:  {}\n", a.checked));
    o.push_str(&format!("defined:  {}\n", a.origin));
    style::finish(o, &style::Styles::plain())
}
