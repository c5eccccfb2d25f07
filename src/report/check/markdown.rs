//! The verified matrix in the seed document's own shape: every section of the declared matrix,
//! each claim beside its verdict, and a numbered footnote of evidence for every cell that is not
//! verified (identical evidence shares one footnote). One function per section of the document,
//! in the order they are printed.

use super::Report;
use crate::matrix::{Claim, MatrixDoc};
use crate::verify::{StatementCheck, TableResult, Verdict, Verification};

fn sym(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "✅ verified",
        Verdict::Failed => "❌ failed",
        Verdict::Unverified => "❔ unverified",
        Verdict::NotInstalled => "⬜ not installed",
    }
}

/// Escapes a table cell.
fn esc(s: &str) -> String {
    crate::model::clean(&s.replace('|', "\\|").replace('\n', " ")).into_owned()
}

/// The footnotes, in the order they were first referred to.
struct Notes(Vec<String>);

impl Notes {
    /// The footnote marker for `text`, reusing an identical earlier note.
    fn mark(&mut self, text: String) -> String {
        let n = match self.0.iter().position(|t| *t == text) {
            Some(i) => i + 1,
            None => {
                self.0.push(text);
                self.0.len()
            }
        };
        format!("[^{n}]")
    }
}

fn statement(s: &StatementCheck, notes: &mut Notes) -> String {
    let mut line = format!("{} — **{}**", crate::model::clean(&s.text), sym(s.verdict));
    let mut why = Vec::new();
    if let Some(r) = &s.reason {
        why.push(r.clone());
    }
    why.extend(s.evidence.iter().cloned());
    if !why.is_empty() {
        line.push_str(&notes.mark(why.join("; ")));
    }
    line
}

pub fn render(r: &Report) -> String {
    let mut notes = Notes(Vec::new());
    let v = &r.verification;
    let doc = r.matrix_doc.as_ref().map(|m| &m.doc);
    let mut o = header(r);
    o.push_str(&format!(
        "## {}\n\n",
        doc.and_then(|d| d.section.clone())
            .unwrap_or_else(|| "Testing Results".into())
    ));
    if let Some(b) = doc.and_then(|d| d.basis.as_ref()) {
        o.push_str(&format!(
            "The matrix says: \"{b}\". Below, each claim is checked on this machine.\n\n"
        ));
    }
    for t in &v.tables {
        o.push_str(&table(t, &mut notes));
    }
    if let Some(doc) = doc {
        o.push_str(&known_issues(doc, v, &mut notes));
        o.push_str(&conflicts(doc, v, &mut notes));
        o.push_str(&install(doc, v));
        o.push_str(&performance(doc, r, &mut notes));
        o.push_str(&risks(doc, v));
        o.push_str(&score(doc, v));
        o.push_str(&graph(doc, v, &mut notes));
    }
    o.push_str(&consistency(r));
    o.push_str(&super::advisories::markdown(r, "##"));
    if let Some(next) = &r.next_step {
        o.push_str(&format!(
            "**Next:** nothing of the matrix is installed here; the install order for this host: `{next}`\n\n"
        ));
    }
    if !notes.0.is_empty() {
        o.push_str("## Evidence\n\n");
        for (n, t) in notes.0.iter().enumerate() {
            o.push_str(&format!("[^{}]: {}\n", n + 1, crate::model::clean(t)));
        }
    }
    crate::report::style::finish(o, &crate::report::Styles::plain())
}

/// The title and what was checked, where, with what.
fn header(r: &Report) -> String {
    let i = &r.environment.interpreter;
    let mut o = format!("# {} — verified by compat\n\n", esc(&r.matrix.title));
    o.push_str(&format!(
        "> Checked {} by compat {} against `{}`.\n> Host: {} · {} · {} · {} CPUs · GPU: {}.\n> Python: {} {} at `{}` (chosen by {}, read via {}), {} distributions{}.\n\n",
        r.checked_at,
        r.compat_version,
        r.matrix.origin,
        esc(r.host.hostname.as_deref().unwrap_or("?")),
        esc(r.host.os.as_deref().unwrap_or("?")),
        esc(&r.host.arch),
        r.host.cpus,
        esc(&r.host.gpu_summary()),
        i.implementation,
        i.python_version,
        i.executable.as_ref().unwrap_or(&i.prefix).display(),
        i.source.describe(),
        i.read_from,
        r.environment.distributions,
        r.environment
            .torch
            .as_ref()
            .map(|t| format!(
                "; torch build {} with CUDA {}",
                t.version.as_deref().unwrap_or("?"),
                t.cuda.as_deref().unwrap_or("none")
            ))
            .unwrap_or_default()
    ));
    if let Some(p) = &r.plan {
        o.push_str(&format!(
            "> **Plan**: {} packages from `{}` — nothing was installed; every verdict is about the plan.\n\n",
            p.packages, p.path
        ));
    }
    o
}

/// One matrix table: the counts, then each claim with its verdict and a footnote of why.
fn table(t: &TableResult, notes: &mut Notes) -> String {
    let counts = t
        .rows
        .iter()
        .flat_map(|r| &r.cells)
        .fold([0usize; 4], |mut a, c| {
            a[c.verdict as usize] += 1;
            a
        });
    let mut o = format!(
        "### {}{}\n\nHere: {} verified, {} failed, {} unverified, {} not installed.\n\n",
        t.title,
        t.claimed
            .as_ref()
            .map(|c| format!(" (claimed ✅ {c})"))
            .unwrap_or_default(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    let mut head = vec!["Library".to_string()];
    head.extend(t.columns.iter().map(|c| c.title.clone()));
    if t.notes_column {
        head.push("Notes".into());
    }
    o.push_str(&format!("| {} |\n", head.join(" | ")));
    o.push_str(&format!("|{}\n", "---|".repeat(head.len())));
    for row in &t.rows {
        let mut cells = vec![if row.broken_requirements.is_empty() {
            row.library.clone()
        } else {
            format!(
                "{} ⚠{}",
                row.library,
                notes.mark(row.broken_requirements.join(" "))
            )
        }];
        for c in &row.cells {
            let claim = match (&c.claim, c.column.as_str()) {
                (_, "version") => format!(
                    "{}{}",
                    row.version_text.as_deref().unwrap_or(""),
                    row.installed
                        .as_ref()
                        .map(|i| format!(" (installed {i})"))
                        .unwrap_or_default()
                ),
                (Claim::Missing, _) => String::new(),
                (cl, _) => cl.seed_text(),
            };
            let mut text = format!("{claim} → {}", sym(c.verdict));
            if c.verdict == Verdict::Verified && !c.caveats.is_empty() {
                text.push_str(&format!(
                    " (with caveat){}",
                    notes.mark(c.caveats.join("; "))
                ));
            }
            if c.verdict != Verdict::Verified {
                let mut why = Vec::new();
                if let Some(r) = &c.reason {
                    why.push(r.clone());
                }
                if let Some(f) = &c.fix {
                    why.push(format!("fix: `{f}`"));
                }
                if c.verdict != Verdict::NotInstalled {
                    why.extend(c.evidence.iter().cloned());
                }
                text.push_str(&notes.mark(why.join("; ")));
            }
            cells.push(esc(&text));
        }
        if t.notes_column {
            cells.push(esc(row.notes.as_deref().unwrap_or("")));
        }
        o.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    o.push('\n');
    o
}

/// "`name` `version` is installed" or "`name` is not installed", for the sections that only say
/// what is installed.
fn installed(v: &Verification, name: &str) -> String {
    let n = crate::model::normalize(name);
    let version = v
        .installed
        .iter()
        .find(|(k, _)| crate::model::normalize(k) == n)
        .and_then(|(_, v)| v.clone());
    match version {
        Some(ver) => format!("{name} {ver} is installed"),
        None => format!("{name} is not installed"),
    }
}

fn known_issues(doc: &MatrixDoc, v: &Verification, notes: &mut Notes) -> String {
    if doc.known_issues.is_empty() {
        return String::new();
    }
    let mut o = String::from("## Known Issues & Resolutions\n\n");
    for (n, k) in doc.known_issues.iter().enumerate() {
        o.push_str(&format!(
            "### {}. {}\n**Issue**: {}\n**Solution**: {}\n",
            n + 1,
            k.title,
            k.issue,
            k.solution
        ));
        if let Some(code) = &k.solution_code {
            o.push_str(&format!(
                "```{}\n{}\n```\n",
                k.solution_language.as_deref().unwrap_or(""),
                code
            ));
        }
        match v.known_issues.get(n) {
            Some(s) => o.push_str(&format!("**Here**: {}\n", statement(s, notes))),
            None => {
                let libs: Vec<String> = k
                    .libraries
                    .iter()
                    .map(|l| installed(v, l.get_ref()))
                    .collect();
                if !libs.is_empty() {
                    o.push_str(&format!("**Here**: {}.\n", libs.join("; ")));
                }
            }
        }
        o.push('\n');
    }
    o
}

fn conflicts(doc: &MatrixDoc, v: &Verification, notes: &mut Notes) -> String {
    let Some(c) = &doc.conflicts else {
        return String::new();
    };
    let mut o = format!(
        "## Dependency Conflicts{}\n\n### Past Issues (claimed fixed):\n",
        c.claimed
            .as_ref()
            .map(|c| format!(" (claimed {c})"))
            .unwrap_or_default()
    );
    for s in &v.past_conflicts {
        o.push_str(&format!("- {}\n", statement(s, notes)));
    }
    o.push_str("\n### Current Known Issues:\n");
    for (s, cur) in v.current_conflicts.iter().zip(&c.current) {
        let plan = cur
            .plan
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let mut s = s.clone();
        s.text = format!("⚠️ {}{plan}", s.text);
        o.push_str(&format!("- {}\n", statement(&s, notes)));
    }
    o.push('\n');
    o
}

/// The declared installation order and strategy, with what is installed of each stage.
fn install(doc: &MatrixDoc, v: &Verification) -> String {
    let Some(inst) = &doc.install else {
        return String::new();
    };
    let mut o = String::from("## Installation Order\n\n### Critical Installation Sequence:\n");
    for s in &inst.stages {
        let libs: Vec<String> = s
            .libraries
            .iter()
            .map(|l| {
                let name = l.get_ref();
                match v
                    .tables
                    .iter()
                    .flat_map(|t| &t.rows)
                    .find(|r| &r.library == name)
                    .and_then(|r| r.installed.clone())
                {
                    Some(ver) => format!("{name} {ver}"),
                    None => format!("{name} (not installed)"),
                }
            })
            .collect();
        o.push_str(&format!(
            "{}. **{}**{} — here: {}{}\n",
            s.order.get_ref(),
            s.title,
            s.detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            libs.join(", "),
            s.note
                .as_ref()
                .map(|n| format!(". Note: {n}"))
                .unwrap_or_default()
        ));
    }
    if !inst.strategy.is_empty() {
        o.push_str("\n### Pip vs Conda Strategy:\n");
        for s in &inst.strategy {
            o.push_str(&format!(
                "- **{}**: {}{}\n",
                capitalize(&s.tool),
                s.what,
                s.why
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ));
        }
    }
    o.push_str(
        "\nThe order and strategy are reproduced as declared; this report does not check them.\n\n",
    );
    o
}

/// The performance claims, each with what the smoke checks measured here, when they did.
fn performance(doc: &MatrixDoc, r: &Report, notes: &mut Notes) -> String {
    if doc.performance.is_empty() {
        return String::new();
    }
    let mut o = String::from("## Performance Benchmarks\n\n");
    for g in &doc.performance {
        o.push_str(&format!(
            "### {} Performance{}:\n",
            g.gpu,
            if g.estimated {
                " (claimed; estimated)"
            } else {
                ""
            }
        ));
        for c in &g.claims {
            let measured = r.smoke.as_ref().and_then(|sm| {
                let lib = c
                    .library
                    .as_ref()
                    .map(|l| l.get_ref().to_ascii_lowercase())?;
                sm.claims
                    .iter()
                    .find(|m| m.library.to_ascii_lowercase() == lib)
            });
            if let Some(m) = measured.filter(|m| m.measured.is_some()) {
                let verdict = match m.holds {
                    Some(true) => Verdict::Verified,
                    Some(false) => Verdict::Failed,
                    None => Verdict::Unverified,
                };
                o.push_str(&format!(
                    "- **{}**: {} — measured here: {} — {}{}\n",
                    c.subject,
                    c.claim,
                    m.measured.as_deref().unwrap_or(""),
                    sym(verdict),
                    notes.mark(format!(
                        "{} (on this machine's {}; the claim is for {})",
                        m.how,
                        r.smoke
                            .as_ref()
                            .and_then(|s| s.gpu.clone())
                            .unwrap_or_else(|| "CPU".into()),
                        g.gpu
                    ))
                ));
                continue;
            }
            let why = if c.metric == "qualitative" {
                "a qualitative statement: no measurement can decide it".to_string()
            } else if r.smoke.is_some() {
                format!(
                    "not measurable by compat's smoke checks on this machine (the claim is for {})",
                    g.gpu
                )
            } else {
                format!(
                    "not measured: run `compat check --smoke quick` (the claim is for {})",
                    g.gpu
                )
            };
            o.push_str(&format!(
                "- **{}**: {} — {}{}\n",
                c.subject,
                c.claim,
                sym(Verdict::Unverified),
                notes.mark(why)
            ));
        }
        o.push('\n');
    }
    o
}

/// The matrix's risk table, with what is installed of each library.
fn risks(doc: &MatrixDoc, v: &Verification) -> String {
    if doc.risks.is_empty() {
        return String::new();
    }
    let mut o = String::from("## Risk Assessment\n\n| Risk Level | Library | Risk | Mitigation | Here |\n|---|---|---|---|---|\n");
    for k in &doc.risks {
        let here: Vec<String> = k
            .libraries
            .iter()
            .map(|l| installed(v, l.get_ref()))
            .collect();
        let here = if here.is_empty() {
            "not assessed in this report".to_string()
        } else {
            here.join("; ")
        };
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            format!("{:?}", k.level).to_uppercase(),
            esc(&k.subject),
            esc(&k.risk),
            esc(&k.mitigation),
            esc(&here)
        ));
    }
    o.push_str("\nRisk levels are the matrix's own; this report only adds what is installed.\n\n");
    o
}

/// The score here beside the one the matrix claims, and the matrix's own assessment.
fn score(doc: &MatrixDoc, v: &Verification) -> String {
    let s = &v.score;
    let mut o = format!(
        "## Final Compatibility Score: {:.0}% verified here{}\n\n{} of {} checkable cells verified; {} failed, {} not installed, {} unverified here{}.\n\n",
        s.percent,
        s.claimed_percent.map(|c| format!(" (claimed {c:.0}% ✅)")).unwrap_or_default(),
        s.verified,
        s.checkable,
        v.counts.failed,
        v.counts.not_installed,
        s.undecided.iter().map(|u| u.cells).sum::<usize>(),
        if s.undecided.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                s.undecided.iter().map(|u| format!("{}: {}", u.cells, u.reason)).collect::<Vec<_>>().join("; ")
            )
        }
    );
    if let Some(sc) = &doc.score {
        for (label, text) in [
            ("Assessment", &sc.assessment),
            ("Recommendation", &sc.recommendation),
            ("Next Steps", &sc.next_steps),
        ] {
            if let Some(t) = text {
                o.push_str(&format!("**{label}** (the matrix's): {t}\n"));
            }
        }
        o.push('\n');
    }
    o
}

/// The matrix's dependency graph as a tree, then each edge checked against the metadata.
fn graph(doc: &MatrixDoc, v: &Verification, notes: &mut Notes) -> String {
    if doc.graph.is_empty() {
        return String::new();
    }
    let mut o = String::from("## Dependencies Graph\n\n```\n");
    for (gi, g) in doc.graph.iter().enumerate() {
        if gi > 0 {
            o.push('\n');
        }
        match &g.root {
            Some(_) => o.push_str(&format!("{}\n", g.title)),
            None => o.push_str(&format!("{}:\n", g.title)),
        }
        let top: Vec<_> = g
            .nodes
            .iter()
            .filter(|n| {
                g.root.as_ref().map(|r| r.get_ref()) == n.under.as_ref().map(|u| u.get_ref())
                    || n.under.is_none()
            })
            .collect();
        for (ti, n) in top.iter().enumerate() {
            let last = ti + 1 == top.len();
            o.push_str(&format!(
                "{}── {}\n",
                if last { "└" } else { "├" },
                n.name.get_ref()
            ));
            let kids: Vec<_> = g
                .nodes
                .iter()
                .filter(|k| k.under.as_ref().map(|u| u.get_ref()) == Some(n.name.get_ref()))
                .collect();
            for (ki, k) in kids.iter().enumerate() {
                o.push_str(&format!(
                    "{}    {}── {}\n",
                    if last { " " } else { "│" },
                    if ki + 1 == kids.len() { "└" } else { "├" },
                    k.name.get_ref()
                ));
            }
        }
    }
    o.push_str("```\n\nEach edge against the packages' own metadata:\n");
    for e in &v.graph_edges {
        o.push_str(&format!("- {}\n", statement(e, notes)));
    }
    o.push('\n');
    o
}

/// The dependency-consistency result and the environment's findings.
fn consistency(r: &Report) -> String {
    let c = &r.verification.consistency;
    let mut o = format!(
        "## Dependency consistency (as `pip check`)\n\n{} distributions, {} requirements checked: {}\n",
        c.distributions,
        c.requirements_checked,
        if c.ok() { "no broken requirements.".to_string() } else { format!("**{} problems**.", c.problems.len()) }
    );
    for p in &c.problems {
        o.push_str(&format!("- `{}` — {}\n", p.code, p.message));
    }
    o.push('\n');
    if !r.findings.is_empty() {
        o.push_str("## Findings in the environment\n\n");
        for f in &r.findings {
            o.push_str(&format!("- `{}` — {}\n", f.code, esc(&f.message)));
        }
        o.push('\n');
    }
    o
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
