//! Core metadata (`METADATA`, `PKG-INFO`) read exactly as Python's `importlib.metadata` reads
//! it: a pure function from the file's bytes to its headers. Reading files and turning errors
//! into findings is the scanner's job, not this file's.
//!
//! What `importlib.metadata` does (CPython 3.11 to 3.13, `PathDistribution.metadata`):
//!
//! 1. `Path.read_text(encoding="utf-8")`: strict UTF-8 (a byte that is not UTF-8 raises
//!    `UnicodeDecodeError`, so the distribution has no readable metadata at all; there is no
//!    `surrogateescape`), and universal newlines (`\r\n` and a lone `\r` become `\n`). A UTF-8
//!    byte order mark is kept as U+FEFF, which no header name may contain.
//! 2. `email.message_from_string` with the `compat32` policy (`email.feedparser`): a line
//!    belongs to the header block while it matches `^(From |[\x21-\x39\x3b-\x7e]*:|[\t ])`;
//!    the first line that does not ends the block. If that line is empty it is dropped,
//!    otherwise it is the first line of the body. So a whitespace-only line is a continuation
//!    (setuptools writes them inside multi-line `License` fields), and a line without a colon
//!    or with a space in its name ends the headers. A continuation before any header is
//!    dropped; `From ` on the first line is the envelope, elsewhere it is dropped; a line
//!    starting with `:` is dropped. A header's raw value is the text after the first colon,
//!    leading spaces and tabs stripped, with its continuation lines appended as they are
//!    (newlines included), trailing newlines stripped; trailing spaces stay.
//! 3. `importlib.metadata._adapters.Message` re-indents every value that contains a newline:
//!    `textwrap.dedent(" " * 8 + value)`.
//! 4. `metadata["Name"]` is the first header of that name (case-insensitive), `get_all` every
//!    one, in file order.
//!
//! Why not `mailparse` (which uv uses): it differs from Python on cases that occur in real
//! files or hostile ones, and each would be a wrong fact here. mailparse 0.18 refuses a lone CR
//! ("unexpected lone CR") where Python reads the file; it takes a line without a colon as a
//! header with an empty value and goes on, where Python ends the headers there; it accepts
//! spaces in header names; it strips only spaces, not tabs, before a value; `get_value` unfolds
//! continuation lines and decodes RFC 2047 encoded words, where Python keeps the raw text and
//! then dedents it; and it knows nothing of the envelope line. The header grammar above is a
//! dozen lines, so it is written here, to Python's rules, and the differential test in
//! `tests/integration/ground_truth.rs` checks it against Python on a corpus of real files (and
//! counts how often mailparse would disagree).

use thiserror::Error;

/// The headers of one core metadata file, as `importlib.metadata` returns them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub metadata_version: Option<String>,
    /// `metadata["Name"]`: the first `Name` header, `None` when there is none.
    pub name: Option<String>,
    pub version: Option<String>,
    /// Every `Requires-Dist`, in file order.
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    /// Every `Provides-Extra`, in file order.
    pub provides_extra: Vec<String>,
    /// Every header in file order, names as written, values as `importlib.metadata` returns
    /// them (after its re-indentation). Repeated headers stay repeated.
    pub headers: Vec<(String, String)>,
    /// The text after the header block (the long description), newlines normalised to `\n`.
    pub body: String,
    /// What Python's email parser notes as defects and then ignores.
    pub defects: Vec<Defect>,
}

impl Metadata {
    /// The first header of that name (case-insensitive), as `metadata[name]`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header of that name, in file order, as `metadata.get_all(name)`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A line Python's parser skips, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// A continuation line before the first header.
    FirstLineIsContinuation { line: usize },
    /// A `From ` line inside the headers.
    MisplacedEnvelope { line: usize },
    /// A line starting with `:`.
    MissingHeaderName { line: usize },
    /// The header block ended on a line that is not empty (it starts the body).
    MissingHeaderBodySeparator { line: usize },
}

/// Why a metadata file cannot be read.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum MetadataError {
    /// Python raises `UnicodeDecodeError` and the distribution has no metadata. `lossy` is
    /// what the headers would be with invalid bytes replaced by U+FFFD, for a caller that
    /// reports the finding and still wants to show something.
    #[error(
        "line {line}, column {column}: byte 0x{byte:02x} is not UTF-8; Python's \
         importlib.metadata cannot read this file (UnicodeDecodeError at offset {offset})"
    )]
    NotUtf8 {
        offset: usize,
        line: usize,
        column: usize,
        byte: u8,
        lossy: Box<Metadata>,
    },
}

/// Reads a METADATA or PKG-INFO file's bytes as `importlib.metadata` does.
pub fn parse_metadata(bytes: &[u8]) -> Result<Metadata, MetadataError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(parse_text(text)),
        Err(e) => {
            let offset = e.valid_up_to();
            let before = &bytes[..offset];
            let line_start = before
                .iter()
                .rposition(|&b| b == b'\n' || b == b'\r')
                .map_or(0, |i| i + 1);
            let line = 1 + count_line_ends(before);
            let column = 1 + String::from_utf8_lossy(&before[line_start..])
                .chars()
                .count();
            Err(MetadataError::NotUtf8 {
                offset,
                line,
                column,
                byte: bytes.get(offset).copied().unwrap_or(0),
                lossy: Box::new(parse_text(&String::from_utf8_lossy(bytes))),
            })
        }
    }
}

fn count_line_ends(b: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' => {
                n += 1;
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

/// Python's header line pattern: `^(From |[\x21-\x39\x3b-\x7e]*:|[\t ])`.
fn is_header_line(line: &str) -> bool {
    if line.starts_with("From ") || line.starts_with([' ', '\t']) {
        return true;
    }
    let name_len = line
        .bytes()
        .take_while(|b| matches!(b, 0x21..=0x39 | 0x3b..=0x7e))
        .count();
    line.as_bytes().get(name_len) == Some(&b':')
}

/// Parses decoded text: universal newlines, then the `compat32` header grammar.
pub(crate) fn parse_text(text: &str) -> Metadata {
    parse_with(text, false)
}

/// The headers [`parse_fields`] keeps.
const FIELDS: [&str; 7] = [
    "Metadata-Version",
    "Name",
    "Version",
    "Requires-Python",
    "Requires-Dist",
    "Provides-Extra",
    "Summary",
];

/// The same grammar as [`parse_text`], keeping only the fields a scan uses ([`FIELDS`], in
/// `headers` too) and no body: a large environment's METADATA files are mostly classifiers and
/// long descriptions, which a check never reads. Every kept field is what [`parse_text`] gives.
pub(crate) fn parse_fields(text: &str) -> Metadata {
    parse_with(text, true)
}

fn parse_with(text: &str, lean: bool) -> Metadata {
    // Universal newlines: a carriage return becomes a line feed, in a copy made only when there
    // is one. The lean parse reads no body, so it copies only when the header block (or the
    // line that ends it) holds one, which its line loop finds: a carriage return further on
    // cannot move where the block ends.
    let universal = |t: &str| t.replace("\r\n", "\n").replace('\r', "\n");
    if !lean && text.contains('\r') {
        return parse_lines(&universal(text), lean, false).unwrap_or_default();
    }
    match parse_lines(text, lean, lean) {
        Some(md) => md,
        None => parse_lines(&universal(text), lean, false).unwrap_or_default(),
    }
}

/// The lines of `text`, each with its `\n` (the last one may lack it): `split_inclusive`,
/// found with memchr (METADATA lines are short; the search's setup was most of the cost).
fn lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest.as_bytes()).map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// The header grammar on `text`; `None` when `stop_at_cr` and a header line (or the line that
/// ends the block) holds a carriage return, which needs the universal-newline copy first.
fn parse_lines(text: &str, lean: bool, stop_at_cr: bool) -> Option<Metadata> {
    let keep = |name: &str| !lean || FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
    let mut md = Metadata::default();
    // The header lines with their `\n` (the last one may lack it), as the feed parser yields
    // them; the body (often a whole README) is not split into lines.
    let mut headers: Vec<&str> = Vec::new();
    let mut body_start = text.len();
    let mut pos = 0;
    // The end of the last line looked at: the header lines and the one that ends the block.
    let mut examined = text.len();
    for (i, line) in lines_inclusive(text).enumerate() {
        if !is_header_line(line) {
            examined = pos + line.len();
            if line == "\n" {
                body_start = pos + 1;
            } else {
                md.defects
                    .push(Defect::MissingHeaderBodySeparator { line: i + 1 });
                body_start = pos;
            }
            break;
        }
        headers.push(line);
        pos += line.len();
    }
    // One search over the block, not one per line.
    if stop_at_cr && memchr::memchr(b'\r', &text.as_bytes()[..examined]).is_some() {
        return None;
    }

    // `FeedParser._parse_headers`.
    let mut raw: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    let mut pushed_back: Option<&str> = None;
    // A header that is not kept (lean): its continuation lines are skipped with it.
    let mut skipping = false;
    for (lineno, line) in headers.iter().enumerate() {
        if line.starts_with([' ', '\t']) {
            match current.as_mut() {
                Some((_, value)) => value.push_str(line),
                None if skipping => {}
                None => md
                    .defects
                    .push(Defect::FirstLineIsContinuation { line: lineno + 1 }),
            }
            continue;
        }
        skipping = false;
        if let Some(h) = current.take() {
            raw.push(h);
        }
        if line.starts_with("From ") {
            if lineno == 0 {
                continue; // the envelope (unixfrom), not a header
            }
            if lineno == headers.len() - 1 {
                // Python pushes it back in front of what is left: the first line of the body.
                pushed_back = Some(line);
                break;
            }
            md.defects
                .push(Defect::MisplacedEnvelope { line: lineno + 1 });
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue; // unreachable: `is_header_line` saw a colon
        };
        if name.is_empty() {
            md.defects
                .push(Defect::MissingHeaderName { line: lineno + 1 });
            continue;
        }
        if !keep(name) {
            skipping = true;
            continue;
        }
        current = Some((
            name.to_string(),
            value.trim_start_matches([' ', '\t']).to_string(),
        ));
    }
    if let Some(h) = current.take() {
        raw.push(h);
    }
    if !lean {
        md.body = format!(
            "{}{}",
            pushed_back.unwrap_or_default(),
            text.get(body_start..).unwrap_or_default()
        );
    }

    md.headers = raw
        .into_iter()
        .map(|(k, v)| {
            let v = v.trim_end_matches(['\r', '\n']);
            let v = if v.contains('\n') {
                dedent(&format!("        {v}"))
            } else {
                v.to_string()
            };
            (k, v)
        })
        .collect();
    md.metadata_version = md.get("Metadata-Version").map(str::to_string);
    md.name = md.get("Name").map(str::to_string);
    md.version = md.get("Version").map(str::to_string);
    md.requires_python = md.get("Requires-Python").map(str::to_string);
    md.requires_dist = md.get_all("Requires-Dist").map(str::to_string).collect();
    md.provides_extra = md.get_all("Provides-Extra").map(str::to_string).collect();
    Some(md)
}

/// Python's `textwrap.dedent`: whitespace-only lines emptied, then the longest common leading
/// run of spaces and tabs of the other lines removed.
fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            if !l.is_empty() && l.bytes().all(|b| b == b' ' || b == b'\t') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut margin: Option<&str> = None;
    for line in &lines {
        let indent_len = line
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        if indent_len == line.len() {
            continue; // empty: no indent to count
        }
        let indent = &line[..indent_len];
        margin = Some(match margin {
            None => indent,
            Some(m) if indent.starts_with(m) => m,
            Some(m) if m.starts_with(indent) => indent,
            Some(m) => {
                let common = m
                    .bytes()
                    .zip(indent.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &m[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    lines
        .iter()
        .map(|l| l.strip_prefix(margin).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every METADATA and PKG-INFO under fixtures/ (real packages' files and hostile ones) and
    /// the metadata fuzz seeds: the lean parse keeps exactly what the full one says of its
    /// fields, in order, with the same defects.
    #[test]
    fn the_lean_parse_agrees_with_the_full_one_on_every_kept_field() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.is_file() {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("fixtures"), &mut files);
        files.retain(|p| {
            p.file_name()
                .is_some_and(|n| n == "METADATA" || n == "PKG-INFO")
        });
        walk(&root.join("fuzz/corpus/metadata"), &mut files);
        assert!(files.len() > 20, "only {} files", files.len());
        let mut texts: Vec<String> = files
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned())
            .collect();
        texts.extend(
            [
                "Name: a\nClassifier: x\n  folded\n\tmore\nRequires-Dist: b\n   \n  c\n\nbody",
                " lead\nName: a\nSummary: one\n two\n",
                "From x\nName: a\nbad line\nVersion: 1\n",
                "Name: a\r\nLicense: x\r\n  y\rVersion: 2\r\n\r\nbody\r\n",
                ":x\nname: lower\nREQUIRES-DIST: up\nFrom late\n",
                "Name: a\nVersion: 1\n\nbody\r\nmore\rx",
                "Name: a\nVersion: 1\r\n\r\nbody",
                "Name: a\nVersion: 1\rRequires-Dist: b\n\n",
                "Name: a\nnot a header\r\nVersion: 2\n",
            ]
            .map(String::from),
        );
        for text in &texts {
            let (full, lean) = (parse_text(text), parse_fields(text));
            let head = text.chars().take(60).collect::<String>();
            assert_eq!(lean.metadata_version, full.metadata_version, "{head:?}");
            assert_eq!(lean.name, full.name, "{head:?}");
            assert_eq!(lean.version, full.version, "{head:?}");
            assert_eq!(lean.requires_python, full.requires_python, "{head:?}");
            assert_eq!(lean.requires_dist, full.requires_dist, "{head:?}");
            assert_eq!(lean.provides_extra, full.provides_extra, "{head:?}");
            assert_eq!(lean.get("Summary"), full.get("Summary"), "{head:?}");
            assert_eq!(lean.defects, full.defects, "{head:?}");
            let kept: Vec<_> = full
                .headers
                .iter()
                .filter(|(k, _)| FIELDS.iter().any(|f| f.eq_ignore_ascii_case(k)))
                .cloned()
                .collect();
            assert_eq!(lean.headers, kept, "{head:?}");
        }
    }

    fn parse(s: &str) -> Metadata {
        match parse_metadata(s.as_bytes()) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn whitespace_only_line_is_a_continuation() {
        let md = parse(
            "Metadata-Version: 2.1\nName: wandb\nLicense: MIT\n        \n        More text\n\
             Requires-Python: >=3.8\nRequires-Dist: click\nRequires-Dist: pyyaml\n\nBody\n",
        );
        assert_eq!(md.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(md.requires_dist, ["click", "pyyaml"]);
        assert_eq!(md.get("License"), Some("MIT\n\nMore text"));
        assert_eq!(md.body, "Body\n");
    }

    #[test]
    fn cr_only_and_crlf_read_like_lf() {
        let lf = parse("Name: a\nVersion: 1\nRequires-Dist: b\n\nbody\n");
        let cr = parse("Name: a\rVersion: 1\rRequires-Dist: b\r\rbody\r");
        let crlf = parse("Name: a\r\nVersion: 1\r\nRequires-Dist: b\r\n\r\nbody\r\n");
        assert_eq!(lf, cr);
        assert_eq!(lf, crlf);
        assert_eq!(lf.requires_dist, ["b"]);
    }

    #[test]
    fn first_header_wins_and_repeats_are_kept() {
        let md = parse("Name: a\nName: b\nProvides-Extra: x\nprovides-extra: y\n");
        assert_eq!(md.name.as_deref(), Some("a"));
        assert_eq!(md.get_all("name").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(md.provides_extra, ["x", "y"]);
    }

    #[test]
    fn a_line_without_colon_ends_the_headers() {
        let md = parse("Name: a\nnot a header\nVersion: 1\n");
        assert_eq!(md.version, None);
        assert_eq!(md.body, "not a header\nVersion: 1\n");
        assert_eq!(md.defects, [Defect::MissingHeaderBodySeparator { line: 2 }]);
        // A space in the name ends them too.
        assert_eq!(parse("Name: a\nBad Name: x\nVersion: 1\n").version, None);
    }

    #[test]
    fn values_keep_trailing_spaces_and_lose_leading_tabs() {
        let md = parse("Version:\t 1.0 \nName:a\n");
        assert_eq!(md.version.as_deref(), Some("1.0 "));
        assert_eq!(md.name.as_deref(), Some("a"));
    }

    #[test]
    fn odd_lines_are_skipped_as_python_skips_them() {
        let md = parse("From someone\n  cont\n: nameless\nName: a\nFrom x\nVersion: 1\n");
        assert_eq!(md.name.as_deref(), Some("a"));
        assert_eq!(md.version.as_deref(), Some("1"));
        assert_eq!(md.headers.len(), 2);
        assert_eq!(md.defects.len(), 3);
        // `From ` as the last header line goes to the body.
        let md = parse("Name: a\nFrom the body");
        assert_eq!(md.body, "From the body");
        let md = parse("Name: a\nFrom x\n\nbody");
        assert_eq!(md.body, "From x\nbody");
    }

    #[test]
    fn a_bom_hides_the_first_header() {
        let md = parse("\u{feff}Name: a\nVersion: 1\n");
        assert_eq!(md.name, None);
        assert_eq!(md.version, None);
    }

    #[test]
    fn latin1_is_an_error_with_position_and_a_lossy_reading() {
        let err = parse_metadata(b"Name: a\r\nAuthor: Andr\xe9\nVersion: 1\n");
        let Err(MetadataError::NotUtf8 {
            offset,
            line,
            column,
            byte,
            lossy,
        }) = err
        else {
            panic!("{err:?}");
        };
        assert_eq!((offset, line, column, byte), (21, 2, 13, 0xe9));
        assert_eq!(lossy.version.as_deref(), Some("1"));
        // A truncated multi-byte character at the end is refused as well.
        assert!(parse_metadata(b"Name: \xc3").is_err());
    }

    #[test]
    fn dedent_matches_textwrap() {
        assert_eq!(dedent("        a\n  b\n   \n  c"), "      a\nb\n\nc");
        assert_eq!(dedent("        a\n\tb"), "        a\n\tb");
        assert_eq!(dedent("  x"), "x");
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut seed: u32 = 7;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let alphabet = b"Na:e \t\r\n\xc3\xa9From ";
                    alphabet[(seed >> 16) as usize % alphabet.len()]
                })
                .collect();
            let _ = parse_metadata(&bytes);
        }
    }
}
