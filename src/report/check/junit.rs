//! JUnit XML: one test case per cell, so CI test viewers list the verified matrix. Failed cells
//! are `<failure>` with their reason, fix and evidence; unverified and not-installed cells are
//! `<skipped>` with the reason (or failures, with `--fail-on unverified`). The dependency
//! consistency check and the environment's findings are suites of their own. The shape follows
//! the JUnit schema CI tools read (`testsuites/testsuite/testcase`, `tests`/`failures`/`errors`
//! required on each suite).

use super::{FailOn, Report};
use crate::model::Verdict;

/// Escapes text for XML. Characters XML 1.0 cannot carry (most C0 controls) and those a
/// terminal would obey when the file is printed (ESC, CR, C1 controls, bidi overrides) become
/// visible escapes (`\x1b`, see `model::text`); tab and newline stay; U+FFFE and U+FFFF, which
/// XML forbids, are dropped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' => o.push(c),
            c if crate::model::text::is_unsafe(c) => crate::model::text::push_escape(&mut o, c),
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => o.push(c),
        }
    }
    o
}

struct Case {
    class: String,
    name: String,
    /// `None` pass; `Some(("failure"|"skipped", message, body))`.
    outcome: Option<(&'static str, String, String)>,
}

fn suite(
    o: &mut String,
    name: &str,
    cases: &[Case],
    props: &[(String, String)],
    timestamp: &str,
    host: &str,
) {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Some(("failure", _, _))))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Some(("skipped", _, _))))
        .count();
    o.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\" timestamp=\"{}\" hostname=\"{}\">\n",
        esc(name),
        cases.len(),
        esc(timestamp),
        esc(host)
    ));
    if !props.is_empty() {
        o.push_str("    <properties>\n");
        for (k, v) in props {
            o.push_str(&format!(
                "      <property name=\"{}\" value=\"{}\"/>\n",
                esc(k),
                esc(v)
            ));
        }
        o.push_str("    </properties>\n");
    }
    for c in cases {
        match &c.outcome {
            None => o.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"/>\n",
                esc(&c.class),
                esc(&c.name)
            )),
            Some((kind, msg, body)) => {
                let ty = if *kind == "failure" {
                    " type=\"failed\""
                } else {
                    ""
                };
                o.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n      <{kind}{ty} message=\"{}\">{}</{kind}>\n    </testcase>\n",
                    esc(&c.class),
                    esc(&c.name),
                    esc(msg),
                    esc(body)
                ));
            }
        }
    }
    o.push_str("  </testsuite>\n");
}

/// Renders the report; with [`FailOn::Unverified`], unverified and not-installed checkable cells
/// are failures.
pub fn render(r: &Report, fail_on: FailOn) -> String {
    let strict = fail_on == FailOn::Unverified;
    let checked_at = r.checked_at.to_string();
    let v = &r.verification;
    let host = r.host.hostname.clone().unwrap_or_else(|| "unknown".into());
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total: usize = v
        .tables
        .iter()
        .flat_map(|t| &t.rows)
        .map(|r| r.cells.len())
        .sum::<usize>()
        + v.consistency.problems.len().max(1)
        + r.advisories.len()
        + r.ignored_advisories.len();
    o.push_str(&format!(
        "<testsuites name=\"compat check {}\" tests=\"{total}\" failures=\"{}\" errors=\"0\" time=\"0\">\n",
        esc(&r.matrix.origin),
        v.counts.failed + v.consistency.problems.len() + r.advisories.len()
    ));
    let props = vec![
        ("matrix".to_string(), r.matrix.origin.clone()),
        ("host.gpu".to_string(), r.host.gpu_summary()),
        (
            "python".to_string(),
            r.environment.interpreter.python_version.clone(),
        ),
        ("compat".to_string(), r.compat_version.to_string()),
    ];
    for (i, t) in v.tables.iter().enumerate() {
        let p: &[(String, String)] = if i == 0 { &props } else { &[] };
        suite(
            &mut o,
            &t.title,
            &cell_cases(t, strict),
            p,
            &checked_at,
            &host,
        );
    }
    suite(
        &mut o,
        "Dependency consistency",
        &consistency_cases(&v.consistency),
        &[],
        &checked_at,
        &host,
    );
    let cases = advisory_cases(r);
    if !cases.is_empty() {
        suite(
            &mut o,
            super::advisories::HEADING,
            &cases,
            &[],
            &checked_at,
            &host,
        );
    }
    o.push_str("</testsuites>\n");
    o
}

/// One case per cell of a table: verified passes, failed fails, the rest is skipped (a failure
/// with `--fail-on unverified` for a checkable cell).
fn cell_cases(t: &crate::verify::TableResult, strict: bool) -> Vec<Case> {
    let mut cases = Vec::new();
    for row in &t.rows {
        for c in &row.cells {
            let body = {
                let mut b = c.evidence.join("\n");
                if let Some(f) = &c.fix {
                    b = format!("fix: {f}\n{b}");
                }
                if !c.caveats.is_empty() {
                    b.push_str(&format!("\ncaveats: {}", c.caveats.join("; ")));
                }
                b
            };
            let reason = c.reason.clone().unwrap_or_default();
            let outcome = match c.verdict {
                Verdict::Verified => None,
                Verdict::Failed => Some(("failure", reason, body)),
                Verdict::Unverified | Verdict::NotInstalled if strict && c.checkable => {
                    Some(("failure", format!("{}: {reason}", c.verdict.as_str()), body))
                }
                Verdict::Unverified | Verdict::NotInstalled => {
                    Some(("skipped", format!("{}: {reason}", c.verdict.as_str()), body))
                }
            };
            cases.push(Case {
                class: format!("compat.{}.{}", t.id, row.library),
                name: format!("{} {}", row.library, c.title),
                outcome,
            });
        }
    }
    cases
}

/// One failing case per broken requirement, or one passing case naming what was checked.
fn consistency_cases(c: &crate::verify::Consistency) -> Vec<Case> {
    if c.problems.is_empty() {
        return vec![Case {
            class: "compat.consistency".into(),
            name: format!(
                "{} distributions, {} requirements",
                c.distributions, c.requirements_checked
            ),
            outcome: None,
        }];
    }
    c.problems
        .iter()
        .map(|p| Case {
            class: "compat.consistency".into(),
            name: format!("{} requires {}", p.package, p.dependency),
            outcome: Some((
                "failure",
                p.message.clone(),
                format!("Requires-Dist: {}", p.requirement),
            )),
        })
        .collect()
}

/// A failing case per advisory hit, a skipped one per ignored hit (with its reason).
fn advisory_cases(r: &Report) -> Vec<Case> {
    let mut cases: Vec<Case> = r
        .advisories
        .iter()
        .map(|h| Case {
            class: format!("compat.advisories.{}", h.package),
            name: format!("{} {} {}", h.id, h.package, h.version),
            outcome: Some((
                "failure",
                format!("{}: {}", h.id, h.title),
                format!(
                    "fix: {}\nsymptom: {}\n{}",
                    h.fix,
                    h.symptom,
                    h.evidence.join("\n")
                ),
            )),
        })
        .collect();
    cases.extend(r.ignored_advisories.iter().map(|i| Case {
        class: format!("compat.advisories.{}", i.hit.package),
        name: format!("{} {} {}", i.hit.id, i.hit.package, i.hit.version),
        outcome: Some((
            "skipped",
            format!("{} ignored: {}", i.hit.id, i.reason),
            i.hit.title.clone(),
        )),
    }));
    cases
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn xml_text_holds_no_control_a_terminal_or_an_xml_parser_would_choke_on() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(
            esc("\x1b[2J\x07\x08\r\u{9b}\u{202e}x"),
            "\\x1b[2J\\x07\\x08\\r\\u{9b}\\u{202e}x"
        );
        assert_eq!(esc("one\n\ttwo\u{FFFF}"), "one\n\ttwo");
    }
}
