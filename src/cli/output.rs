//! Where a command's text goes: standard output, or a file written atomically (a temporary file
//! in the same folder, then a rename, so a crash never leaves half a report); and whether the
//! terminal table is coloured (`auto`: never with `TERM=dumb`, else as anstream decides: a
//! terminal, `NO_COLOR`, `CLICOLOR`).

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::args::{ColorChoice, OutputArgs};
use crate::report::Styles;

/// Writes `text` to `--output`, else to standard output.
pub fn emit(out: &OutputArgs, text: &str) -> anyhow::Result<()> {
    match &out.output {
        Some(path) => {
            write_atomic(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                // The reader stopped reading (`compat check | head -1`): end quietly, as other
                // Unix tools do, with the command's own exit code. A full disk or a closed
                // standard output is still an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("cannot write to standard output"),
            }
        }
    }
}

/// The styles for a terminal table: coloured with `--color always`, or with `auto` when the
/// text goes to a terminal that wants colour; plain otherwise (files, pipes, `NO_COLOR`).
pub fn styles(out: &OutputArgs) -> Styles {
    let color = match out.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            out.output.is_none()
                && !dumb_terminal(std::env::var_os("TERM").as_deref())
                && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    };
    Styles::new(color)
}

/// The width to fit human output to: `None` (unwrapped, the same text every time) unless it
/// goes to standard output and that is a terminal; then `COLUMNS` when set to a number, else
/// the terminal's own width; never less than `report::style::MIN_WIDTH`.
pub fn width(out: &OutputArgs) -> Option<usize> {
    use std::io::IsTerminal;
    if out.output.is_some() || !std::io::stdout().is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    let w = columns.or_else(|| {
        terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
    })?;
    Some(w.max(crate::report::style::MIN_WIDTH))
}

/// `TERM=dumb`: a terminal that obeys no escape sequence. anstream honours it, but lets `CI`,
/// `CLICOLOR=1` or `CLICOLOR_FORCE` colour it anyway; compat's `auto` never does (only
/// `--color always` colours a dumb terminal).
fn dumb_terminal(term: Option<&std::ffi::OsStr>) -> bool {
    term.is_some_and(|t| t == "dumb")
}

/// Writes `text` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.txt");
        write_atomic(&path, "one").expect("first");
        write_atomic(&path, "two").expect("second");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        assert!(write_atomic(&dir.path().join("missing/x.txt"), "x").is_err());
    }

    #[test]
    fn only_term_dumb_is_a_dumb_terminal() {
        assert!(dumb_terminal(Some("dumb".as_ref())));
        for t in [None, Some("xterm-256color"), Some(""), Some("dumber")] {
            assert!(!dumb_terminal(t.map(AsRef::as_ref)), "{t:?}");
        }
    }

    #[test]
    fn files_and_never_get_plain_styles() {
        let file = OutputArgs {
            output: Some("r.txt".into()),
            color: ColorChoice::Auto,
        };
        assert_eq!(styles(&file), Styles::plain());
        let never = OutputArgs {
            output: None,
            color: ColorChoice::Never,
        };
        assert_eq!(styles(&never), Styles::plain());
        let always = OutputArgs {
            output: Some("r.txt".into()),
            color: ColorChoice::Always,
        };
        assert_eq!(styles(&always), Styles::colored());
    }
}
