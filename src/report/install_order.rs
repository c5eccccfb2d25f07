//! `compat install-order`'s text forms: the shell script and the table (the JSON form is the
//! [`InstallOrder`] serialised).

use crate::install_order::InstallOrder;

/// The install order as a shell script.
pub fn render_shell(p: &InstallOrder) -> String {
    // Every comment is one line: text from the matrix or the host profile (a stage title, a
    // GPU name) has its newlines and control characters escaped, so none can end the comment
    // and start a command.
    let line = |t: &str| crate::model::clean(t).into_owned();
    let mut o = String::from("#!/bin/sh\n# Install plan by `compat install-order`\n");
    o.push_str(&format!("# host: {}\n", line(&p.host)));
    for n in &p.notes {
        o.push_str(&format!("# note: {}\n", line(n)));
    }
    o.push_str("set -eu\n");
    for s in &p.steps {
        o.push_str(&format!("\n# {}. {}\n", s.order, line(&s.title)));
        for w in &s.why {
            o.push_str(&format!("#   why: {}\n", line(w)));
        }
        for c in &s.commands {
            o.push_str(c);
            o.push('\n');
        }
    }
    o
}

/// The install order as a table, unwrapped: for pipes and files.
pub fn render_table(p: &InstallOrder) -> String {
    render_table_in(p, None)
}

/// The install order as a table for a terminal `width` columns wide (`None`: as
/// [`render_table`]).
pub fn render_table_in(p: &InstallOrder, width: Option<usize>) -> String {
    use crate::model::clean;
    use crate::report::style::{self, cell, cell_lines};
    let mut o = format!(
        "Install plan for {}\ntorch: {} {}\n",
        clean(&p.host),
        clean(&p.torch.requirement),
        p.torch
            .variant
            .map(|v| format!("({})", v.tag()))
            .unwrap_or_else(|| "(CPU build)".into())
    );
    for r in &p.torch.reasons {
        o.push_str(&format!("  because {}\n", clean(r)));
    }
    for r in &p.torch.rejected {
        o.push_str(&format!("  passed over: {}\n", clean(r)));
    }
    let mut t = style::table_in(width);
    t.set_header(vec!["#", "stage", "installs", "why"]);
    // On a terminal each step's reasons are numbered notes under the table.
    let mut notes = style::Notes::default();
    for s in &p.steps {
        let why = match width {
            Some(_) if !s.why.is_empty() => cell(&notes.mark(&s.why.join("; "))),
            _ => cell_lines(&s.why),
        };
        t.add_row(vec![
            cell(&s.order.to_string()),
            cell(&s.title),
            cell_lines(&s.requirements),
            why,
        ]);
    }
    o.push_str(&t.to_string());
    o.push('\n');
    if let Some(w) = width {
        o.push_str(&notes.render(w));
    }
    for n in &p.notes {
        o.push_str(&format!("note: {}\n", clean(n)));
    }
    o.push_str("\ncommands:\n");
    for s in &p.steps {
        for c in &s.commands {
            o.push_str(&format!("  {}\n", clean(c)));
        }
    }
    style::fit(style::finish(o, &style::Styles::plain()), width)
}
