//! The advisories section of the check report, for the table, Markdown and summary renderers:
//! each hit with its id, package and version, title, evidence, symptom and fix, then the hits an
//! ignore list set aside, with their reasons. Nothing is printed when there is neither. (JUnit
//! renders its own suite in `junit.rs`.)

use super::Report;
use crate::model::clean;
use crate::report::style::{paint, Styles};

/// The heading every format uses.
pub const HEADING: &str = "Advisories (what no metadata states)";

/// The terminal section.
pub fn table(r: &Report, styles: &Styles) -> String {
    if r.advisories.is_empty() && r.ignored_advisories.is_empty() {
        return String::new();
    }
    let mut o = format!("\n{}\n", paint(styles.heading, HEADING));
    for h in &r.advisories {
        o.push_str(&format!(
            "  {} {} {} {}: {}\n",
            paint(styles.failed, "✗"),
            paint(styles.failed, &h.id),
            clean(&h.package),
            clean(&h.version),
            clean(&h.title)
        ));
        for e in &h.evidence {
            o.push_str(&format!("      evidence: {}\n", clean(e)));
        }
        o.push_str(&format!("      symptom: {}\n", h.symptom));
        o.push_str(&format!("      fix: {}\n", h.fix));
    }
    for i in &r.ignored_advisories {
        o.push_str(&format!(
            "  {} {} {} {}: {} (ignored: {})\n",
            paint(styles.warning, "-"),
            i.hit.id,
            clean(&i.hit.package),
            clean(&i.hit.version),
            clean(&i.hit.title),
            clean(&i.reason)
        ));
    }
    o
}

fn cell(s: &str) -> String {
    clean(&s.replace('|', "\\|").replace('\n', " ")).into_owned()
}

/// A Markdown table of the hits, then the ignored ones; `level` is the heading's `#`s.
pub fn markdown(r: &Report, level: &str) -> String {
    if r.advisories.is_empty() && r.ignored_advisories.is_empty() {
        return String::new();
    }
    let mut o = format!("{level} {HEADING}\n\n");
    if !r.advisories.is_empty() {
        o.push_str(
            "| id | package | title | evidence | symptom | fix |\n|---|---|---|---|---|---|\n",
        );
        for h in &r.advisories {
            o.push_str(&format!(
                "| {} | {} {} | {} | {} | `{}` | {} |\n",
                h.id,
                h.package,
                h.version,
                cell(&h.title),
                cell(&h.evidence.join("; ")),
                cell(&h.symptom).replace('`', "'"),
                cell(&h.fix)
            ));
        }
        o.push('\n');
    }
    if !r.ignored_advisories.is_empty() {
        o.push_str("Ignored:\n\n");
        for i in &r.ignored_advisories {
            o.push_str(&format!(
                "- {} ({} {}): {} — ignored: {}\n",
                i.hit.id, i.hit.package, i.hit.version, i.hit.title, i.reason
            ));
        }
        o.push('\n');
    }
    o
}
