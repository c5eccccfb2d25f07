//! The look of every terminal table: one comfy-table preset and the colours, as anstyle styles.
//!
//! Whether to colour is not decided here (that needs the terminal and `NO_COLOR`, which the
//! CLI decides): a renderer is handed [`Styles`], either [`Styles::colored`] or
//! [`Styles::plain`]. A plain style renders as nothing at all.
//!
//! Text from inputs is made safe here too: [`cell`] cleans a table cell's value (no control
//! character, no line break of its own: see `model::text`), and [`finish`], the last step of
//! every human renderer, escapes any control character still in the document except its line
//! breaks and, when coloured, the colour sequences of [`Styles::colored`] itself.

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

/// A table cell holding `text`, cleaned: every control character (a line break too) and bidi
/// override shown as an escape, so it cannot move the cursor or stretch the table.
pub fn cell(text: &str) -> comfy_table::Cell {
    comfy_table::Cell::new(crate::model::clean(text))
}

/// A table cell of several lines, each one cleaned as [`cell`] cleans its text.
pub fn cell_lines<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> comfy_table::Cell {
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| crate::model::clean(l.as_ref()).into_owned())
        .collect();
    comfy_table::Cell::new(lines.join("\n"))
}

/// The last step of every human renderer: `text` with every control character and bidi
/// override escaped (see `model::text`) except line breaks and — when `styles` colour — the
/// exact escape sequences [`paint`] writes for them. Text that slipped through a renderer
/// uncleaned can then at worst recolour a span; it can never clear the screen, move the cursor,
/// write the clipboard or hide a link.
pub fn finish(text: String, styles: &Styles) -> String {
    let ours: Vec<String> = if *styles == Styles::plain() {
        Vec::new()
    } else {
        let s = styles;
        let mut v: Vec<String> = [
            s.heading, s.plan, s.failed, s.warning, s.alert, s.ok, s.passed,
        ]
        .iter()
        .flat_map(|st| [format!("{st}"), format!("{st:#}")])
        // anstyle writes one sequence per attribute (`ESC[1m ESC[31m`): allow each.
        .flat_map(|e| {
            e.split('\x1b')
                .filter(|p| !p.is_empty())
                .map(|p| format!("\x1b{p}"))
                .collect::<Vec<_>>()
        })
        .collect();
        v.sort();
        v.dedup();
        v
    };
    if !text
        .chars()
        .any(|c| c != '\n' && crate::model::text::is_unsafe(c))
    {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' {
            if let Some(e) = ours.iter().find(|e| rest.starts_with(e.as_str())) {
                out.push_str(e);
                rest = &rest[e.len()..];
                continue;
            }
        }
        if c != '\n' && crate::model::text::is_unsafe(c) {
            crate::model::text::push_escape(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A table in the house preset: UTF-8 rules, condensed, never wrapped (a pipe and a terminal
/// get the same layout).
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// A table in the house preset that fits `width` columns when one is given (a terminal: the
/// columns share the width and their text wraps, comfy-table's dynamic arrangement), else
/// [`table`]: unwrapped, as pipes and files get it.
pub fn table_in(width: Option<usize>) -> Table {
    let mut t = table();
    if let Some(w) = width {
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(w).unwrap_or(u16::MAX));
    }
    t
}

/// The narrowest width output is fitted to: below it columns get too narrow to read, and the
/// terminal's own line wrapping is the lesser evil.
pub const MIN_WIDTH: usize = 20;

/// Long texts set under a table as numbered notes, so that the table itself stays narrow: the
/// cell shows the note's marker (`[3]`), the note its whole text. Identical texts share a note.
#[derive(Debug, Default)]
pub struct Notes(Vec<String>);

impl Notes {
    /// The marker of `text`'s note (cleaned, see [`cell`]).
    pub fn mark(&mut self, text: &str) -> String {
        let text = crate::model::clean(text).into_owned();
        let n = match self.0.iter().position(|t| *t == text) {
            Some(i) => i + 1,
            None => {
                self.0.push(text);
                self.0.len()
            }
        };
        format!("[{n}]")
    }

    /// The notes, one paragraph each (`[n] text`), wrapped to `width`; nothing when there are
    /// none.
    pub fn render(&self, width: usize) -> String {
        let mut o = String::new();
        for (i, t) in self.0.iter().enumerate() {
            o.push_str(&wrap_line(&format!("[{}] {t}", i + 1), width, 4));
            o.push('\n');
        }
        o
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `text` with every line wider than `width` wrapped at spaces (or, where a word alone is
/// too wide, inside it), each continuation indented two columns past the line's own indent.
/// Lines that fit, tables among them, are left as they are. `None`: `text` unchanged (pipes and
/// files are never wrapped).
pub fn fit(text: String, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text;
    };
    if text.lines().all(|l| display_width(l) <= width) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if display_width(body) <= width {
            out.push_str(line);
        } else {
            let indent = body.len() - body.trim_start_matches(' ').len();
            out.push_str(&wrap_line(body, width, indent + 2));
            out.push_str(nl);
        }
    }
    out
}

/// One line wrapped to `width`, continuations indented by `hang` spaces.
fn wrap_line(line: &str, width: usize, hang: usize) -> String {
    let hang = hang.min(width / 2);
    let mut out = String::new();
    let mut col = 0;
    let pad = " ".repeat(hang);
    let lead = line.len() - line.trim_start_matches(' ').len();
    out.push_str(&line[..lead]);
    col += lead;
    for (i, word) in line[lead..].split(' ').enumerate() {
        let w = display_width(word);
        let space = usize::from(i > 0);
        if col > hang && col + space + w > width {
            out.push('\n');
            out.push_str(&pad);
            col = hang;
        } else if i > 0 {
            out.push(' ');
            col += 1;
        }
        // A word wider than a whole line: cut it.
        let mut rest = word;
        while col + display_width(rest) > width && !rest.is_empty() {
            let mut taken = 0;
            let mut end = 0;
            for (j, c) in rest.char_indices() {
                let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if col + taken + cw > width && end > 0 {
                    break;
                }
                taken += cw;
                end = j + c.len_utf8();
            }
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            if !rest.is_empty() {
                out.push('\n');
                out.push_str(&pad);
                col = hang;
            }
        }
        out.push_str(rest);
        col += display_width(rest);
    }
    out
}

/// Columns `s` takes on a terminal: East Asian wide characters count two, compat's own colour
/// sequences (`ESC [ … m`) none.
pub fn display_width(s: &str) -> usize {
    let mut w = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        w += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
    }
    w
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
    fn finish_escapes_controls_but_keeps_line_breaks_and_our_own_colours() {
        let raw = "title \x1b]52;c;eA==\x07 \u{9b}2J\r\n".to_string();
        let plain = finish(raw.clone(), &Styles::plain());
        assert_eq!(plain, "title \\x1b]52;c;eA==\\x07 \\u{9b}2J\\r\n");
        let s = Styles::colored();
        let painted = format!("{}\n{raw}", paint(s.failed, "FAILED"));
        let colored = finish(painted, &s);
        assert!(
            colored.starts_with(&paint(s.failed, "FAILED")),
            "{colored:?}"
        );
        assert!(colored.ends_with(&plain), "{colored:?}");
        assert_eq!(finish("\x1b[2J".into(), &s), "\\x1b[2J");
        assert_eq!(finish("ok\n".into(), &s), "ok\n");
    }

    #[test]
    fn cells_hold_one_line_of_clean_text() {
        let mut t = table();
        t.add_row([cell("a\nb\x1b[2J"), cell_lines(["x\ry", "z"])]);
        let text = t.to_string();
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text}");
        assert!(text.contains("a\\nb\\x1b[2J"), "{text}");
        assert!(text.contains("x\\ry"), "{text}");
    }

    #[test]
    fn fit_wraps_only_lines_too_wide_with_a_hanging_indent() {
        let text = "short\n  a b c d e f g h i j k l m n o p\n".to_string();
        assert_eq!(fit(text.clone(), None), text);
        let fitted = fit(text, Some(12));
        assert_eq!(
            fitted,
            "short\n  a b c d e\n    f g h i\n    j k l m\n    n o p\n"
        );
        let long = fit("x".repeat(25), Some(10));
        assert!(long.lines().all(|l| display_width(l) <= 10), "{long}");
        assert_eq!(long.replace(['\n', ' '], ""), "x".repeat(25));
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width(&paint(Styles::colored().failed, "ab")), 2);
    }

    #[test]
    fn a_fitted_table_is_no_wider_than_asked() {
        for width in [40, 80, 100] {
            let mut t = table_in(Some(width));
            t.set_header(["library", "why", "evidence"]);
            t.add_row([
                cell("bitsandbytes"),
                cell(&"word ".repeat(40)),
                cell(&"y".repeat(90)),
            ]);
            let text = t.to_string();
            assert!(
                text.lines().all(|l| display_width(l) <= width),
                "{width}:\n{text}"
            );
        }
        let mut notes = Notes::default();
        assert_eq!(notes.mark("one"), "[1]");
        assert_eq!(notes.mark("two"), "[2]");
        assert_eq!(notes.mark("one"), "[1]");
        assert_eq!(notes.render(80), "[1] one\n[2] two\n");
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
