//! Reading the advisory database: TOML syntax and shape (serde, unknown keys rejected), then the
//! checks only compat can make — ids, specifiers, globs, URLs, dates, duplicate ids across files,
//! packages a condition or test names that nothing else names — each pointing at
//! `file:line:column`. The rules themselves live in `eval.rs`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use pep440_rs::VersionSpecifiers;
use toml::Spanned;

use super::model::*;
use crate::model::{normalize, span_start, LineIndex, TomlFault};

/// A database file that cannot be used, with the place in it that is at fault.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct LoadError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// One line saying how to fix it.
    pub hint: String,
}

/// A loaded, validated advisory. Serializes (JSON) with its conditions as written, for
/// `compat advisories --format json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Advisory {
    pub id: String,
    pub family: String,
    pub title: String,
    /// Normalised name of the affected package.
    pub package: String,
    #[serde(skip)]
    pub affected: VersionSpecifiers,
    #[serde(rename = "affected")]
    pub affected_text: String,
    pub conditions: Vec<Compiled>,
    /// The companion table, normalised: anchor specifier → (package → specifier).
    pub rows: Vec<Row>,
    pub symptom: String,
    pub fix: String,
    pub sources: Vec<String>,
    /// `YYYY-MM-DD`.
    pub checked: String,
    pub note: Option<String>,
    /// Where it was written (`file:line:column`).
    pub origin: String,
    pub tests: Vec<TestCase>,
}

/// A condition with its specifiers and globs parsed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Compiled {
    #[serde(flatten)]
    pub raw: Condition,
    #[serde(skip)]
    pub spec: Option<VersionSpecifiers>,
    #[serde(skip)]
    pub glob: Option<glob::Pattern>,
}

/// One row of a companion table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    #[serde(skip)]
    pub anchor: VersionSpecifiers,
    pub anchor_text: String,
    pub companions: Vec<(String, VersionSpecifiers, String)>,
}

/// One table-driven test, as facts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestCase {
    pub expect: Expect,
    pub name: String,
    pub facts: Facts,
    pub origin: String,
}

/// The whole database.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Database {
    pub advisories: Vec<Advisory>,
}

impl Database {
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.advisories.iter().find(|a| a.id == id)
    }

    /// Ids in `ignore` that name no advisory (a typo in a config file, worth a warning).
    pub fn unknown_ignores<'a>(&self, ignore: &'a Ignore) -> Vec<&'a str> {
        ignore
            .entries
            .iter()
            .filter(|e| self.get(&e.id).is_none())
            .map(|e| e.id.as_str())
            .collect()
    }
}

/// Loads the database from `(origin, text)` pairs (one per family file).
pub fn load_many<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Database, LoadError> {
    let mut db = Database::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (origin, text) in files {
        let doc = parse(text, origin)?;
        let err =
            |span: Range<usize>, message: String, hint: &str| at(text, origin, span, message, hint);
        let stem = Path::new(origin)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if doc.family.get_ref() != stem {
            return Err(err(
                doc.family.span(),
                format!("family `{}` in a file named `{stem}`", doc.family.get_ref()),
                "name each family file after its family (matrices/advisories/<family>.toml)",
            ));
        }
        let lines = LineIndex::new(text);
        for a in &doc.advisories {
            let adv = advisory(a, doc.family.get_ref(), text, origin, &lines)?;
            if let Some(first) = seen.get(&adv.id) {
                return Err(err(
                    a.id.span(),
                    format!("duplicate advisory id `{}` (first at {first})", adv.id),
                    "ids are unique across the whole database; take the next free number",
                ));
            }
            seen.insert(adv.id.clone(), adv.origin.clone());
            db.advisories.push(adv);
        }
    }
    db.advisories.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(db)
}

/// Loads one family file from disk (for `--advisories PATH` style use and tests).
pub fn load_file(path: &Path) -> Result<Database, LoadError> {
    let origin = path.display().to_string();
    let text = crate::input::read_text(path, crate::input::InputKind::Advisory).map_err(|e| {
        LoadError {
            origin: origin.clone(),
            line: e.line(),
            column: 0,
            message: format!("cannot read the advisory file: {}", e.reason()),
            hint: "check the path; advisory files are UTF-8 TOML".into(),
        }
    })?;
    load_many([(origin.as_str(), text.as_str())])
}

impl LoadError {
    /// The error at `span` of `text` (read from `origin`).
    pub fn at(text: &str, origin: &str, span: Range<usize>, message: String, hint: &str) -> Self {
        let (line, column) = span_start(text, Some(span));
        LoadError {
            origin: origin.to_string(),
            line,
            column,
            message,
            hint: hint.to_string(),
        }
    }
}

fn at(text: &str, origin: &str, span: Range<usize>, message: String, hint: &str) -> LoadError {
    LoadError::at(text, origin, span, message, hint)
}

fn parse(text: &str, origin: &str) -> Result<FamilyDoc, LoadError> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        let hint = match TomlFault::of(&msg) {
            TomlFault::UnknownKey => {
                "remove the key or fix its spelling; the schema is in docs/advisories.md"
            }
            TomlFault::MissingKey => "add the missing key; the schema is in docs/advisories.md",
            TomlFault::UnknownValue => {
                "use one of the values listed in the message (docs/advisories.md lists the condition kinds)"
            }
            TomlFault::Other => "fix the TOML at this place",
        };
        at(text, origin, e.span().unwrap_or(0..0), msg, hint)
    })
}

fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 16
        && id.starts_with("COMPAT-")
        && b[7..11].iter().all(u8::is_ascii_digit)
        && b[11] == b'-'
        && b[12..16].iter().all(u8::is_ascii_digit)
        && &id[12..16] != "0000"
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The file an advisory is read from, for errors at a place in it.
struct Src<'a> {
    text: &'a str,
    origin: &'a str,
    lines: &'a LineIndex,
}

impl Src<'_> {
    fn err(&self, span: Range<usize>, message: String, hint: &str) -> LoadError {
        at(self.text, self.origin, span, message, hint)
    }

    fn place(&self, span: Range<usize>) -> String {
        let (l, c) = self.lines.line_col(self.text, span.start);
        format!("{}:{l}:{c}", self.origin)
    }

    fn spec(&self, s: &Spanned<String>) -> Result<VersionSpecifiers, LoadError> {
        VersionSpecifiers::from_str(s.get_ref()).map_err(|e| {
            self.err(
                s.span(),
                format!("bad PEP 440 specifier `{}`: {e}", s.get_ref()),
                "write a specifier such as `>=2.0,<2.3` or `==0.19.*`",
            )
        })
    }

    fn name(&self, n: &str, span: Range<usize>) -> Result<String, LoadError> {
        if valid_name(n) {
            Ok(normalize(n))
        } else {
            Err(self.err(
                span,
                format!("`{n}` is not a package name"),
                "use the distribution name (letters, digits, `-`, `_`, `.`)",
            ))
        }
    }
}

/// The packages an advisory names (its own, its conditions', its rows'), each with the place.
type Named = Vec<(String, Range<usize>)>;

fn advisory(
    a: &AdvisoryDoc,
    family: &str,
    text: &str,
    origin: &str,
    lines: &LineIndex,
) -> Result<Advisory, LoadError> {
    let src = Src {
        text,
        origin,
        lines,
    };
    let id = a.id.get_ref().clone();
    if !valid_id(&id) {
        return Err(src.err(
            a.id.span(),
            format!("bad advisory id `{id}`"),
            "ids look like COMPAT-2024-0001 (year, then a number from 0001)",
        ));
    }
    let package = src.name(a.package.get_ref(), a.package.span())?;
    let affected = src.spec(&a.affected)?;
    let mut named: Named = vec![(package.clone(), a.package.span())];
    let (conditions, has_table) = conditions(&src, a, &mut named)?;
    let rows = companion_rows(&src, a, has_table, &mut named)?;
    let checked = sources_and_texts(&src, a, &id)?;
    let tests = tests(&src, a, &id, &named)?;
    Ok(Advisory {
        id,
        family: family.to_string(),
        title: a.title.clone(),
        package,
        affected,
        affected_text: a.affected.get_ref().clone(),
        conditions,
        rows,
        symptom: a.symptom.trim().to_string(),
        fix: a.fix.trim().to_string(),
        sources: a.sources.iter().map(|s| s.get_ref().clone()).collect(),
        checked,
        note: a.note.as_ref().map(|n| n.trim().to_string()),
        origin: src.place(a.id.span()),
        tests,
    })
}

/// The conditions with their specifiers and globs parsed, adding the packages they name to
/// `named`; and whether one of them is the companion table.
fn conditions(
    src: &Src<'_>,
    a: &AdvisoryDoc,
    named: &mut Named,
) -> Result<(Vec<Compiled>, bool), LoadError> {
    let mut out = Vec::new();
    let mut has_table = false;
    for c in &a.conditions {
        let span = c.span();
        let bad_spec = |s: &str| {
            VersionSpecifiers::from_str(s).map_err(|e| {
                src.err(
                    span.clone(),
                    format!("bad PEP 440 specifier `{s}`: {e}"),
                    "write a specifier such as `>=2.0,<2.3`",
                )
            })
        };
        let bad_glob = |g: &str| {
            glob::Pattern::new(g).map_err(|e| {
                src.err(
                    span.clone(),
                    format!("bad glob `{g}`: {e}"),
                    "globs use `*`, `?` and `[...]`",
                )
            })
        };
        let (spec, glob) = match c.get_ref() {
            Condition::Package {
                name,
                version,
                local,
                ..
            } => {
                named.push((src.name(name, span.clone())?, span.clone()));
                (
                    version.as_deref().map(bad_spec).transpose()?,
                    local.as_deref().map(bad_glob).transpose()?,
                )
            }
            Condition::Missing { name: n }
            | Condition::BuildMismatch { package: n, .. }
            | Condition::PrereleaseBelowFloor { on: n } => {
                named.push((src.name(n, span.clone())?, span.clone()));
                (None, None)
            }
            Condition::TorchCuda { version } => (Some(bad_spec(version)?), None),
            Condition::Gpu { capability } => (Some(bad_spec(capability)?), None),
            Condition::Env { var, matches } => {
                if var.is_empty() {
                    return Err(src.err(span, "empty variable name".into(), "name the variable"));
                }
                (None, matches.as_deref().map(bad_glob).transpose()?)
            }
            Condition::LibraryOnPath { file, .. } => (None, Some(bad_glob(file)?)),
            Condition::Platform { system, machine } => {
                if system.is_none() && machine.is_none() {
                    return Err(src.err(
                        span,
                        "a platform condition names neither system nor machine".into(),
                        "add system = \"Linux\" and/or machine = \"x86_64\"",
                    ));
                }
                (None, None)
            }
            Condition::TorchCpu {} => (None, None),
            Condition::CompanionTable {} => {
                has_table = true;
                (None, None)
            }
        };
        out.push(Compiled {
            raw: c.get_ref().clone(),
            spec,
            glob,
        });
    }
    Ok((out, has_table))
}

/// The `[[advisory.row]]` companion table (present exactly when a `companion_table` condition
/// is), adding the companions to `named`.
fn companion_rows(
    src: &Src<'_>,
    a: &AdvisoryDoc,
    has_table: bool,
    named: &mut Named,
) -> Result<Vec<Row>, LoadError> {
    if has_table == a.rows.is_empty() {
        let span = a.rows.first().map(|r| r.span()).unwrap_or(a.id.span());
        return Err(src.err(
            span,
            "a companion table needs both `kind = \"companion_table\"` and `[[advisory.row]]` rows"
                .into(),
            "add the missing half, or remove the other",
        ));
    }
    let mut rows = Vec::new();
    for r in &a.rows {
        let map = r.get_ref();
        let Some(anchor) = map.get("anchor") else {
            return Err(src.err(
                r.span(),
                "a row without `anchor`".into(),
                "each row says which versions of the affected package it is for: anchor = \"2.4.*\"",
            ));
        };
        let anchor_text = anchor.get_ref().clone();
        let anchor_spec = src.spec(anchor)?;
        let mut companions = Vec::new();
        for (name, s) in map.iter().filter(|(k, _)| k.as_str() != "anchor") {
            if !valid_name(name) {
                return Err(src.err(
                    s.span(),
                    format!("`{name}` is not a package name"),
                    "row keys are package names",
                ));
            }
            named.push((normalize(name), s.span()));
            companions.push((normalize(name), src.spec(s)?, s.get_ref().clone()));
        }
        rows.push(Row {
            anchor: anchor_spec,
            anchor_text,
            companions,
        });
    }
    Ok(rows)
}

/// Checks the sources (https URLs, at least one), the texts (not empty) and the `checked` date;
/// returns the date as `YYYY-MM-DD`.
fn sources_and_texts(src: &Src<'_>, a: &AdvisoryDoc, id: &str) -> Result<String, LoadError> {
    if a.sources.is_empty() {
        return Err(src.err(
            a.id.span(),
            format!("advisory `{id}` has no sources"),
            "every advisory cites the threads, notes or changelogs it rests on",
        ));
    }
    for s in &a.sources {
        if !s.get_ref().starts_with("https://") || s.get_ref().contains(char::is_whitespace) {
            return Err(src.err(
                s.span(),
                format!("`{}` is not an https URL", s.get_ref()),
                "sources are URLs of public pages",
            ));
        }
    }
    let checked = a.checked.get_ref();
    let checked_text = match (&checked.date, &checked.time) {
        (Some(d), None) => d.to_string(),
        _ => {
            return Err(src.err(
                a.checked.span(),
                "`checked` must be a date without a time".into(),
                "write checked = 2026-12-01",
            ))
        }
    };
    for (what, t) in [
        ("title", &a.title),
        ("symptom", &a.symptom),
        ("fix", &a.fix),
    ] {
        if t.trim().is_empty() {
            return Err(src.err(
                a.id.span(),
                format!("advisory `{id}` has an empty {what}"),
                "say it in a sentence",
            ));
        }
    }
    Ok(checked_text)
}

/// The tests as facts: at least one hit and one near miss; every package the advisory names
/// must appear in some test, and every package a test installs must be named by the advisory.
fn tests(
    src: &Src<'_>,
    a: &AdvisoryDoc,
    id: &str,
    named: &Named,
) -> Result<Vec<TestCase>, LoadError> {
    let mut tests = Vec::new();
    for t in &a.tests {
        let doc = t.get_ref();
        let facts = doc.facts().map_err(|m| {
            src.err(
                t.span(),
                format!("test {m}"),
                "add the package to the test's `packages`",
            )
        })?;
        tests.push(TestCase {
            expect: doc.expect,
            name: doc.name.clone(),
            facts,
            origin: src.place(t.span()),
        });
    }
    for want in [Expect::Hit, Expect::Miss] {
        if !tests.iter().any(|t| t.expect == want) {
            return Err(src.err(
                a.id.span(),
                format!("advisory `{id}` has no `expect = \"{want:?}\"` test").to_lowercase(),
                "add [[advisory.test]] environments: one that triggers it, one near miss that must not",
            ));
        }
    }
    let in_tests: BTreeMap<&str, ()> = tests
        .iter()
        .flat_map(|t| t.facts.packages.keys().map(|k| (k.as_str(), ())))
        .collect();
    for (n, span) in named {
        if !in_tests.contains_key(n.as_str()) {
            return Err(src.err(
                span.clone(),
                format!(
                    "package `{n}` is named here but installed in none of the advisory's tests"
                ),
                "install it in the triggering test, so the condition is exercised",
            ));
        }
    }
    // A pre-release condition reads every package's Requires-Dist, so its tests may install any.
    let open = a
        .conditions
        .iter()
        .any(|c| matches!(c.get_ref(), Condition::PrereleaseBelowFloor { .. }));
    for n in in_tests.keys() {
        if !open && !named.iter().any(|(m, _)| m == n) && !is_context(n) {
            return Err(src.err(
                a.id.span(),
                format!("a test of `{id}` installs `{n}`, which the advisory names nowhere"),
                "remove it from the test, or name it in a condition",
            ));
        }
    }
    Ok(tests)
}

/// Packages a test may install without the advisory naming them: torch, whose CUDA build and
/// version many conditions read implicitly.
fn is_context(name: &str) -> bool {
    name == "torch"
}
