//! Reading a matrix: TOML syntax and shape (serde, unknown keys rejected), then the checks only
//! compat can make (specifiers, duplicates, references), each pointing at `file:line:column`.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use pep440_rs::VersionSpecifiers;
use toml::Spanned;

use super::model::*;
use crate::model::{line_col, normalize, SmokeCheckId};

/// A matrix that cannot be used, with the place in the file that is at fault.
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

/// Loads a built-in matrix by id.
pub fn load_builtin(id: &str) -> Result<Matrix, LoadError> {
    match super::BUILTIN.iter().find(|(i, _)| *i == id) {
        Some((id, text)) => load_str(text, &format!("builtin:{id}")),
        None => Err(LoadError {
            origin: format!("builtin:{id}"),
            line: 0,
            column: 0,
            message: format!("no built-in matrix named `{id}`"),
            hint: format!(
                "built-in matrices: {}; or pass a file with --matrix PATH",
                super::BUILTIN
                    .iter()
                    .map(|(i, _)| *i)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Loads a matrix file.
pub fn load_file(path: &Path) -> Result<Matrix, LoadError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| LoadError {
        origin: origin.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read the matrix: {e}"),
        hint: "check the path given to --matrix".into(),
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let (line, column) = line_col(&text, at);
            return Err(LoadError {
                origin,
                line,
                column,
                message: "the matrix is not valid UTF-8".into(),
                hint: "TOML files must be UTF-8; re-save the file as UTF-8".into(),
            });
        }
    };
    load_str(&text, &origin)
}

/// Parses and validates matrix text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str) -> Result<Matrix, LoadError> {
    let err = |span: Option<Range<usize>>, message: String, hint: &str| {
        let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        LoadError {
            origin: origin.to_string(),
            line,
            column,
            message,
            hint: hint.to_string(),
        }
    };
    let doc: MatrixDoc = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        let hint = if msg.contains("unknown field") {
            "remove the key or fix its spelling; the schema is described in matrices/llm-compression.toml"
        } else if msg.contains("missing field") {
            "add the missing key; the schema is described in matrices/llm-compression.toml"
        } else if msg.contains("unknown variant") {
            "use one of the values listed in the message"
        } else {
            "fix the TOML syntax at this place"
        };
        err(e.span(), msg, hint)
    })?;
    let specs = validate(&doc).map_err(|(span, message, hint)| err(Some(span), message, hint))?;
    Ok(Matrix {
        origin: origin.to_string(),
        doc,
        specs,
    })
}

type Invalid = (Range<usize>, String, &'static str);

fn validate(doc: &MatrixDoc) -> Result<HashMap<String, VersionSpecifiers>, Invalid> {
    if *doc.schema.get_ref() != 1 {
        return Err((
            doc.schema.span(),
            format!("unsupported matrix schema {}", doc.schema.get_ref()),
            "this compat reads schema = 1",
        ));
    }

    // Tables and their columns.
    let mut tables: HashMap<&str, &Table> = HashMap::new();
    for t in &doc.tables {
        if tables.insert(t.id.get_ref(), t).is_some() {
            return Err(dup(&t.id, "table"));
        }
        let mut cols = HashSet::new();
        for c in &t.columns {
            if !cols.insert(c.id.get_ref().as_str()) || c.id.get_ref() == "version" {
                return Err((
                    c.id.span(),
                    format!(
                        "duplicate column `{}` in table `{}`",
                        c.id.get_ref(),
                        t.id.get_ref()
                    ),
                    "column ids are unique within a table, and `version` is implicit",
                ));
            }
            match (&c.target, c.kind) {
                (Some(target), kind) => {
                    parse_target(kind, target.get_ref())
                        .map_err(|m| (target.span(), m, "pytorch targets are PEP 440 specifiers (`>=2.4`); python and cuda targets are MAJOR.MINOR"))?;
                }
                (None, ColumnKind::Pytorch | ColumnKind::Python | ColumnKind::Cuda) => {
                    return Err((
                        c.id.span(),
                        format!("column `{}` needs a `target`", c.id.get_ref()),
                        "add target = \">=2.4\" (pytorch) or target = \"3.11\" (python, cuda)",
                    ));
                }
                (None, _) => {}
            }
        }
    }

    // Libraries.
    let mut libs: HashSet<String> = HashSet::new();
    let mut specs = HashMap::new();
    for l in &doc.libraries {
        let name = normalize(l.name.get_ref());
        if pep508_rs::PackageName::new(l.name.get_ref().clone()).is_err() {
            return Err((
                l.name.span(),
                format!("`{}` is not a valid Python package name", l.name.get_ref()),
                "package names are letters, digits, `-`, `_` and `.` (PEP 508)",
            ));
        }
        if !libs.insert(name.clone()) {
            return Err((
                l.name.span(),
                format!("duplicate library `{}`", l.name.get_ref()),
                "each library is one row; merge the two rows",
            ));
        }
        if let Some(v) = &l.version {
            let spec: VersionSpecifiers = v.get_ref().parse().map_err(|e| {
                (
                    v.span(),
                    format!("bad version specifier `{}`: {e}", v.get_ref()),
                    "use a PEP 440 specifier set, e.g. \">=2.4.0\" or \">=4.44,<5\"",
                )
            })?;
            specs.insert(name.clone(), spec);
        }
        for id in &l.smoke {
            if SmokeCheckId::parse(id.get_ref()).is_none() {
                return Err((
                    id.span(),
                    format!("`{}` is not a smoke check", id.get_ref()),
                    "smoke checks: int8-llm, nf4, nf4-dq, lora, sparse-2-4, gemm-fp16, gemm-bf16, safetensors-roundtrip",
                ));
            }
        }
        match &l.table {
            Some(t) => {
                let Some(table) = tables.get(t.get_ref().as_str()) else {
                    return Err(dangling(t, "table"));
                };
                for (col, claim) in &l.claims {
                    let Some(c) = table
                        .columns
                        .iter()
                        .find(|c| c.id.get_ref() == col.get_ref())
                    else {
                        return Err((
                            col.span(),
                            format!("table `{}` has no column `{}`", t.get_ref(), col.get_ref()),
                            "claims are keyed by the column ids of the row's table",
                        ));
                    };
                    if c.kind != ColumnKind::Qualitative
                        && !matches!(
                            claim.get_ref().to_ascii_lowercase().as_str(),
                            "yes" | "no" | "n/a"
                        )
                    {
                        return Err((
                            claim.span(),
                            format!(
                                "claim `{}` in column `{}` is not yes, no or n/a",
                                claim.get_ref(),
                                col.get_ref()
                            ),
                            "only qualitative columns take words; write \"yes\", \"no\" or \"n/a\"",
                        ));
                    }
                }
            }
            None => {
                if let Some((k, _)) = l.claims.iter().next() {
                    return Err((
                        k.span(),
                        format!(
                            "library `{}` is in no table, so it can make no claims",
                            l.name.get_ref()
                        ),
                        "add table = \"<id>\" to the library, or remove its claims",
                    ));
                }
            }
        }
    }

    let check = |r: &Spanned<String>| -> Result<(), Invalid> {
        if libs.contains(&normalize(r.get_ref())) {
            Ok(())
        } else {
            Err(dangling(r, "library"))
        }
    };

    let mut ids = HashSet::new();
    for k in &doc.known_issues {
        if !ids.insert(k.id.get_ref().as_str()) {
            return Err(dup(&k.id, "known issue"));
        }
        k.libraries.iter().try_for_each(check)?;
        if let Some(c) = &k.check {
            if !matches!(
                c.get_ref(),
                CheckKind::MitigationInstalled | CheckKind::Bf16Native | CheckKind::GpuArch
            ) {
                return Err((
                    c.span(),
                    format!(
                        "known issue `{}` cannot be checked by `{}`",
                        k.id.get_ref(),
                        c.get_ref().as_str()
                    ),
                    "a known issue's check is mitigation-installed, bf16-native or gpu-arch",
                ));
            }
        }
    }
    if let Some(c) = &doc.conflicts {
        for p in &c.past {
            p.libraries.iter().try_for_each(check)?;
            if let Some(f) = &p.fixed_in {
                check(&f.library)?;
                f.version
                    .get_ref()
                    .parse::<VersionSpecifiers>()
                    .map_err(|e| {
                        (
                            f.version.span(),
                            format!("bad version specifier `{}`: {e}", f.version.get_ref()),
                            "use a PEP 440 specifier set, e.g. \">=0.12\"",
                        )
                    })?;
            }
        }
        let mut ids = HashSet::new();
        for cur in &c.current {
            if !ids.insert(cur.id.get_ref().as_str()) {
                return Err(dup(&cur.id, "conflict"));
            }
            cur.libraries.iter().try_for_each(check)?;
            if let Some(c) = &cur.check {
                if !matches!(
                    c.get_ref(),
                    CheckKind::DeclaredRequirements | CheckKind::GpuArch
                ) {
                    return Err((
                        c.span(),
                        format!(
                            "conflict `{}` cannot be checked by `{}`",
                            cur.id.get_ref(),
                            c.get_ref().as_str()
                        ),
                        "a current conflict's check is declared-requirements or gpu-arch",
                    ));
                }
            }
        }
    }
    if let Some(i) = &doc.install {
        let mut orders = HashSet::new();
        let mut placed: HashMap<String, u32> = HashMap::new();
        for s in &i.stages {
            if !orders.insert(*s.order.get_ref()) {
                return Err((
                    s.order.span(),
                    format!("two install stages have order {}", s.order.get_ref()),
                    "give each stage its own order number",
                ));
            }
            for l in &s.libraries {
                check(l)?;
                if let Some(prev) = placed.insert(normalize(l.get_ref()), *s.order.get_ref()) {
                    return Err((
                        l.span(),
                        format!(
                            "`{}` is installed by stage {prev} and again here",
                            l.get_ref()
                        ),
                        "a library belongs to one install stage",
                    ));
                }
            }
        }
        for s in &i.strategy {
            s.libraries.iter().try_for_each(check)?;
        }
    }
    for g in &doc.performance {
        for c in &g.claims {
            if let Some(l) = &c.library {
                check(l)?;
            }
        }
    }
    for r in &doc.risks {
        r.libraries.iter().try_for_each(check)?;
    }
    for g in &doc.graph {
        let mut drawn: HashSet<String> = HashSet::new();
        if let Some(r) = &g.root {
            check(r)?;
            drawn.insert(normalize(r.get_ref()));
        }
        for n in &g.nodes {
            check(&n.name)?;
            if let Some(u) = &n.under {
                check(u)?;
                if !drawn.contains(&normalize(u.get_ref())) {
                    return Err((
                        u.span(),
                        format!("`{}` is drawn under `{}`, which is not drawn above it in this group", n.name.get_ref(), u.get_ref()),
                        "list a node after the node it is drawn under (or make that the group's root)",
                    ));
                }
                if n.edge.is_none() {
                    return Err((
                        n.name.span(),
                        format!(
                            "node `{}` is drawn under `{}` but says nothing of the edge",
                            n.name.get_ref(),
                            u.get_ref()
                        ),
                        "add edge = \"requires-parent\" or edge = \"parent-requires\"",
                    ));
                }
            }
            drawn.insert(normalize(n.name.get_ref()));
        }
    }
    Ok(specs)
}

fn dup(id: &Spanned<String>, what: &str) -> Invalid {
    (
        id.span(),
        format!("duplicate {what} `{}`", id.get_ref()),
        "ids are unique; rename or merge one of them",
    )
}

fn dangling(r: &Spanned<String>, what: &str) -> Invalid {
    (
        r.span(),
        format!("`{}` names no {what} of this matrix", r.get_ref()),
        if what == "table" {
            "use the id of a [[tables]] entry"
        } else {
            "add a [[libraries]] entry for it (one without a table is allowed), or fix the name"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILTIN: &str = include_str!("../../matrices/llm-compression.toml");

    fn fails(text: &str) -> LoadError {
        match load_str(text, "m.toml") {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn builtin_loads_with_every_seed_row() {
        let m = load_str(BUILTIN, "builtin").expect("builtin matrix loads");
        let core: Vec<_> = m.rows("core").map(|l| l.name().to_string()).collect();
        assert_eq!(
            core,
            [
                "torch",
                "transformers",
                "safetensors",
                "accelerate",
                "bitsandbytes",
                "peft"
            ]
        );
        assert_eq!(m.rows("dev").count(), 6);
        assert_eq!(m.rows("monitoring").count(), 4);
        assert_eq!(m.doc.known_issues.len(), 3);
        assert_eq!(m.doc.risks.len(), 5);
        assert_eq!(m.doc.install.as_ref().map(|i| i.stages.len()), Some(5));
        assert_eq!(m.doc.score.as_ref().map(|s| s.claimed_percent), Some(95.0));
        assert!(m
            .spec("torch")
            .expect("torch spec")
            .contains(&"2.4.0+cu124".parse().expect("v")));
        assert!(!m
            .spec("torch")
            .expect("torch spec")
            .contains(&"2.3.1".parse().expect("v")));
    }

    #[test]
    fn unknown_key_points_at_it() {
        let t = BUILTIN.replacen(
            "notes = \"Base requirement\"",
            "notes = \"x\"\nnotez = 1",
            1,
        );
        let e = fails(&t);
        let line = t
            .lines()
            .position(|l| l.starts_with("notez"))
            .expect("line")
            + 1;
        assert_eq!((e.line, e.column), (line, 1), "{e}");
        assert!(e.message.contains("unknown field `notez`"), "{e}");
    }

    #[test]
    fn bad_specifier_points_at_value() {
        let t = BUILTIN.replacen("version = \">=4.44\"", "version = \">=4.44.x\"", 1);
        let e = fails(&t);
        let line = t
            .lines()
            .position(|l| l.contains(">=4.44.x"))
            .expect("line")
            + 1;
        assert_eq!((e.line, e.column), (line, 11), "{e}");
        assert!(e.message.contains("bad version specifier"), "{e}");
    }

    #[test]
    fn duplicate_row_is_rejected() {
        let t = format!("{BUILTIN}\n[[libraries]]\nname = \"Torch\"\n");
        let e = fails(&t);
        assert!(e.message.contains("duplicate library `Torch`"), "{e}");
        assert_eq!(e.line, t.lines().count());
    }

    #[test]
    fn dangling_references_are_rejected() {
        for (from, to) in [
            (
                "subject = \"wandb\"\nlibraries = [\"wandb\"]",
                "subject = \"wandb\"\nlibraries = [\"wandbx\"]",
            ),
            ("{ name = \"dvc\" }", "{ name = \"dvcx\" }"),
            (
                "libraries = [\"bitsandbytes\", \"peft\"]\n\n[[install",
                "libraries = [\"bitsandbytes\", \"pef\"]\n\n[[install",
            ),
            ("table = \"dev\"", "table = \"devtools\""),
        ] {
            let t = BUILTIN.replacen(from, to, 1);
            assert_ne!(t, BUILTIN, "pattern {from:?} not found");
            let e = fails(&t);
            assert!(e.message.contains("names no"), "{e}");
            assert!(e.line > 1 && !e.hint.is_empty());
        }
    }

    #[test]
    fn checks_are_validated_per_section() {
        let t = BUILTIN.replacen(
            "check = \"gpu-arch\"",
            "check = \"mitigation-installed\"",
            1,
        );
        let e = fails(&t);
        assert!(
            e.message
                .contains("conflict `old-gpu-arch` cannot be checked by `mitigation-installed`"),
            "{e}"
        );
        let t = BUILTIN.replacen(
            "check = \"bf16-native\"",
            "check = \"declared-requirements\"",
            1,
        );
        assert!(fails(&t).message.contains("known issue `mixed-precision`"));
        let t = BUILTIN.replacen("check = \"bf16-native\"", "check = \"bf16\"", 1);
        assert!(fails(&t).message.contains("unknown variant `bf16`"));
        // `topic`, the older name of a conflict's check, still reads.
        let t = BUILTIN.replacen("check = \"gpu-arch\"", "topic = \"gpu-arch\"", 1);
        let m = load_str(&t, "m.toml").expect("topic is an alias");
        let c = m.doc.conflicts.as_ref().expect("conflicts");
        assert_eq!(c.current[1].check(), CheckKind::GpuArch);
    }

    #[test]
    fn the_implicit_version_kind_cannot_be_declared() {
        let t = BUILTIN.replacen("kind = \"gpu\"", "kind = \"version\"", 1);
        let e = fails(&t);
        assert!(e.message.contains("unknown variant `version`"), "{e}");
        assert!(!e.message.contains("`version`, `pytorch`"), "{e}");
    }

    #[test]
    fn syntax_error_has_position() {
        let e = fails("schema = 1\nid = \"x\"\ntitle = \n");
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a\nbé c", 5), (2, 3));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
