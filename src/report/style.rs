//! The look of every terminal table: one comfy-table preset and the colours, as anstyle styles.
//!
//! Whether to colour is not decided here (that needs the terminal and `NO_COLOR`, which the
//! CLI asks anstream about): a renderer is handed [`Styles`], either [`Styles::colored`] or
//! [`Styles::plain`]. A plain style renders as nothing at all, so plain output is exactly the
//! text, byte for byte, and untrusted text in it is never rewritten.

use anstyle::{AnsiColor, Style};
use comfy_table::{presets, ContentArrangement, Table};

/// The styles of the terminal report, by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Styles {
    /// Titles and headings.
    pub heading: Style,
    /// The banner that says a plan, not an installed environment, was checked.
    pub plan: Style,
    /// Failures.
    pub failed: Style,
    /// Caveats and what cannot be decided here.
    pub warning: Style,
    /// Findings and known issues that apply.
    pub alert: Style,
    /// Nothing broken.
    pub ok: Style,
    /// The passing result line.
    pub passed: Style,
}

impl Styles {
    /// Styles that render as nothing: for pipes, files and `--color never`.
    pub const fn plain() -> Styles {
        Styles {
            heading: Style::new(),
            plan: Style::new(),
            failed: Style::new(),
            warning: Style::new(),
            alert: Style::new(),
            ok: Style::new(),
            passed: Style::new(),
        }
    }

    /// ANSI colours for a terminal.
    pub const fn colored() -> Styles {
        Styles {
            heading: Style::new().bold(),
            plan: Style::new().bold().fg_color(Some(color(AnsiColor::Cyan))),
            failed: Style::new().bold().fg_color(Some(color(AnsiColor::Red))),
            warning: Style::new().fg_color(Some(color(AnsiColor::Yellow))),
            alert: Style::new().bold().fg_color(Some(color(AnsiColor::Yellow))),
            ok: Style::new().fg_color(Some(color(AnsiColor::Green))),
            passed: Style::new().bold().fg_color(Some(color(AnsiColor::Green))),
        }
    }

    /// [`Styles::colored`] when `color`, else [`Styles::plain`].
    pub const fn new(color: bool) -> Styles {
        if color {
            Styles::colored()
        } else {
            Styles::plain()
        }
    }
}

const fn color(c: AnsiColor) -> anstyle::Color {
    anstyle::Color::Ansi(c)
}

/// `text` in `style`: the style's escape, the text, the reset; only the text for a plain style.
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// A table in the house preset: UTF-8 rules, condensed, never wrapped (a pipe and a terminal
/// get the same layout).
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_styles_add_no_bytes() {
        let s = Styles::plain();
        for style in [
            s.heading, s.plan, s.failed, s.warning, s.alert, s.ok, s.passed,
        ] {
            assert_eq!(paint(style, "text \x1b[0m"), "text \x1b[0m");
        }
    }

    #[test]
    fn colored_styles_wrap_the_text_and_reset() {
        let s = Styles::colored();
        let painted = paint(s.failed, "FAILED");
        assert!(painted.starts_with("\x1b["), "{painted:?}");
        assert!(painted.contains("FAILED"));
        assert!(painted.ends_with("\x1b[0m"), "{painted:?}");
        assert_ne!(paint(s.ok, "x"), paint(s.warning, "x"));
    }
}
