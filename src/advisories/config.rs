//! The ignore list of a `compat.toml` (cargo-deny style): which advisories a project has looked
//! at and set aside, each with the reason why.
//!
//! ```toml
//! [[advisories.ignore]]
//! id = "COMPAT-2024-0001"
//! reason = "we pin numpy<2 in the image; the check runs before the pin"
//! ```
//!
//! Parsed from text with its origin and validated against a [`Database`]: unknown keys, an
//! empty reason and an id that names no advisory are errors at `file:line:column`. Finding the
//! file (the current directory, `--config`) is the command's job.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::load::{Database, LoadError};
use super::model::{Ignore, IgnoreEntry};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigDoc {
    #[serde(default)]
    advisories: Option<AdvisoriesDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvisoriesDoc {
    #[serde(default)]
    ignore: Vec<Spanned<IgnoreDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreDoc {
    id: Spanned<String>,
    #[serde(default)]
    reason: Option<Spanned<String>>,
}

fn at(text: &str, origin: &str, span: Range<usize>, message: String, hint: &str) -> LoadError {
    LoadError::at(text, origin, span, message, hint)
}

/// The ignore list of the config file `text` (read from `origin`), checked against `db`.
pub fn parse_ignores(text: &str, origin: &str, db: &Database) -> Result<Ignore, LoadError> {
    let doc: ConfigDoc = toml::from_str(text).map_err(|e| {
        at(
            text,
            origin,
            e.span().unwrap_or(0..0),
            e.message().to_string(),
            "the config takes `[[advisories.ignore]]` tables with `id` and `reason` (docs/advisories.md)",
        )
    })?;
    let mut ignore = Ignore::none();
    for entry in doc.advisories.map(|a| a.ignore).unwrap_or_default() {
        let span = entry.span();
        let entry = entry.into_inner();
        let id = entry.id.get_ref().trim().to_string();
        if db.get(&id).is_none() {
            return Err(at(
                text,
                origin,
                entry.id.span(),
                format!("`{id}` names no advisory"),
                "`compat advisories` lists every id",
            ));
        }
        let reason = match &entry.reason {
            Some(r) if !r.get_ref().trim().is_empty() => r.get_ref().trim().to_string(),
            Some(r) => {
                return Err(at(
                    text,
                    origin,
                    r.span(),
                    format!("the ignore of `{id}` has an empty reason"),
                    "say why the advisory does not apply (cargo-deny asks the same)",
                ))
            }
            None => {
                return Err(at(
                    text,
                    origin,
                    span,
                    format!("the ignore of `{id}` gives no reason"),
                    "add `reason = \"...\"`: say why the advisory does not apply",
                ))
            }
        };
        ignore.entries.push(IgnoreEntry { id, reason });
    }
    Ok(ignore)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Database {
        super::super::builtin().expect("the built-in database loads")
    }

    #[test]
    fn a_valid_list_reads_with_its_reasons() {
        let db = db();
        let id = db.advisories[0].id.clone();
        let text = format!("[[advisories.ignore]]\nid = \"{id}\"\nreason = \"pinned\"\n");
        let ig = parse_ignores(&text, "compat.toml", &db).expect("valid");
        assert_eq!(ig.reason(&id), Some("pinned"));
    }

    #[test]
    fn errors_name_the_place() {
        let db = db();
        let id = db.advisories[0].id.clone();
        let e = parse_ignores(
            "[[advisories.ignore]]\nid = \"COMPAT-1999-9999\"\nreason = \"x\"\n",
            "compat.toml",
            &db,
        )
        .expect_err("unknown id");
        assert_eq!((e.line, e.column), (2, 6), "{e}");
        let e = parse_ignores(
            &format!("[[advisories.ignore]]\nid = \"{id}\"\n"),
            "c.toml",
            &db,
        )
        .expect_err("no reason");
        assert!(e.message.contains("no reason"), "{e}");
        let e = parse_ignores(
            &format!("[[advisories.ignore]]\nid = \"{id}\"\nreason = \"x\"\nuntil = 1\n"),
            "c.toml",
            &db,
        )
        .expect_err("unknown key");
        assert_eq!(e.line, 4, "{e}");
        let e = parse_ignores("[advisory]\n", "c.toml", &db).expect_err("unknown table");
        assert_eq!(e.line, 1, "{e}");
    }
}
