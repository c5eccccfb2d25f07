//! The checks only compat can make on a matrix that TOML and serde accepted: specifiers that
//! parse, ids that are unique, references that name a table, a column or a library of the
//! matrix, a statement check that fits its section. One function per section, in file order;
//! the first fault is reported, with the span of the value at fault and a hint.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use pep440_rs::VersionSpecifiers;
use toml::Spanned;

use super::model::*;
use crate::model::{normalize, SmokeCheckId};

/// What is wrong, where, and how to fix it.
#[derive(Debug)]
pub(super) struct Invalid {
    pub span: Range<usize>,
    pub message: String,
    pub hint: String,
}

fn invalid(span: Range<usize>, message: String, hint: impl Into<String>) -> Invalid {
    Invalid {
        span,
        message,
        hint: hint.into(),
    }
}

/// The parsed `version` specifier of each library, by normalized name.
pub(super) type Specs = HashMap<String, VersionSpecifiers>;

/// Checks a parsed matrix and returns its libraries' version specifiers.
pub(super) fn validate(doc: &MatrixDoc) -> Result<Specs, Invalid> {
    schema(doc)?;
    counts(doc)?;
    let tables = tables(doc)?;
    let (libs, specs) = libraries(doc, &tables)?;
    let refs = References { libs: &libs };
    known_issues(doc, &refs)?;
    conflicts(doc, &refs)?;
    install(doc, &refs)?;
    for g in &doc.performance {
        for c in &g.claims {
            if let Some(l) = &c.library {
                refs.library(l)?;
            }
        }
    }
    for r in &doc.risks {
        r.libraries.iter().try_for_each(|l| refs.library(l))?;
    }
    graph(doc, &refs)?;
    Ok(specs)
}

/// The most entries of each kind a matrix may hold. The built-in matrix has 3 tables of at
/// most 4 columns, 16 libraries, 3 known issues, 5 install stages and 5 risks; the limits are
/// far above any real matrix, and keep the tables, the install script and the graph that are
/// printed from it to a size a person can read. (The file itself is bounded by
/// [`crate::input::InputKind::Matrix`]'s byte limit.)
pub const MAX_TABLES: usize = 64;
/// See [`MAX_TABLES`].
pub const MAX_COLUMNS_PER_TABLE: usize = 64;
/// See [`MAX_TABLES`].
pub const MAX_LIBRARIES: usize = 2000;
/// See [`MAX_TABLES`]: known issues, and current conflicts.
pub const MAX_ISSUES: usize = 1000;
/// See [`MAX_TABLES`].
pub const MAX_STAGES: usize = 200;
/// See [`MAX_TABLES`]: nodes of all graph groups together.
pub const MAX_GRAPH_NODES: usize = 5000;

/// Each list within its bound; the error points at the first entry past it.
fn counts(doc: &MatrixDoc) -> Result<(), Invalid> {
    fn bound<T>(
        items: &[T],
        max: usize,
        what: &str,
        span: impl Fn(&T) -> Range<usize>,
    ) -> Result<(), Invalid> {
        match items.get(max) {
            None => Ok(()),
            Some(past) => Err(invalid(
                span(past),
                format!(
                    "too many {what}: {} here, and a matrix may have at most {max}",
                    items.len()
                ),
                format!("split the matrix into several files of at most {max} {what}"),
            )),
        }
    }
    bound(&doc.tables, MAX_TABLES, "tables", |t| t.id.span())?;
    for t in &doc.tables {
        bound(
            &t.columns,
            MAX_COLUMNS_PER_TABLE,
            "columns in a table",
            |c| c.id.span(),
        )?;
    }
    bound(&doc.libraries, MAX_LIBRARIES, "libraries", |l| {
        l.name.span()
    })?;
    bound(&doc.known_issues, MAX_ISSUES, "known issues", |i| {
        i.id.span()
    })?;
    if let Some(c) = &doc.conflicts {
        bound(&c.current, MAX_ISSUES, "current conflicts", |i| i.id.span())?;
    }
    if let Some(i) = &doc.install {
        bound(&i.stages, MAX_STAGES, "install stages", |s| s.order.span())?;
    }
    let nodes: Vec<&GraphNode> = doc.graph.iter().flat_map(|g| &g.nodes).collect();
    bound(&nodes, MAX_GRAPH_NODES, "graph nodes", |n| n.name.span())?;
    Ok(())
}

fn schema(doc: &MatrixDoc) -> Result<(), Invalid> {
    if *doc.schema.get_ref() == 1 {
        return Ok(());
    }
    Err(invalid(
        doc.schema.span(),
        format!("unsupported matrix schema {}", doc.schema.get_ref()),
        "this compat reads schema = 1",
    ))
}

/// Tables and their columns: unique ids, and a target where the kind needs one.
fn tables(doc: &MatrixDoc) -> Result<HashMap<&str, &Table>, Invalid> {
    let mut tables: HashMap<&str, &Table> = HashMap::new();
    for t in &doc.tables {
        if tables.insert(t.id.get_ref(), t).is_some() {
            return Err(dup(&t.id, "table"));
        }
        let mut cols = HashSet::new();
        for c in &t.columns {
            if !cols.insert(c.id.get_ref().as_str()) || c.id.get_ref() == "version" {
                return Err(invalid(
                    c.id.span(),
                    format!(
                        "duplicate column `{}` in table `{}`",
                        c.id.get_ref(),
                        t.id.get_ref()
                    ),
                    "column ids are unique within a table, and `version` is implicit",
                ));
            }
            column_target(c)?;
        }
    }
    Ok(tables)
}

fn column_target(c: &Column) -> Result<(), Invalid> {
    match (&c.target, c.kind) {
        (Some(target), kind) => parse_target(kind, target.get_ref()).map(|_| ()).map_err(|e| {
            // One line for the location message: the error and, for a specifier, its cause.
            let message = match &e {
                TargetError::Specifier { source, .. } => format!("{e}: {source}"),
                _ => e.to_string(),
            };
            invalid(
                target.span(),
                message,
                "pytorch targets are PEP 440 specifiers (`>=2.4`); python and cuda targets are MAJOR.MINOR",
            )
        }),
        (None, ColumnKind::Pytorch | ColumnKind::Python | ColumnKind::Cuda) => Err(invalid(
            c.id.span(),
            format!("column `{}` needs a `target`", c.id.get_ref()),
            "add target = \">=2.4\" (pytorch) or target = \"3.11\" (python, cuda)",
        )),
        (None, _) => Ok(()),
    }
}

/// Libraries: valid unique names, version specifiers, smoke check ids, and claims that fit the
/// columns of the row's table.
fn libraries(
    doc: &MatrixDoc,
    tables: &HashMap<&str, &Table>,
) -> Result<(HashSet<String>, Specs), Invalid> {
    let mut libs: HashSet<String> = HashSet::new();
    let mut specs = HashMap::new();
    for l in &doc.libraries {
        let name = normalize(l.name.get_ref());
        if pep508_rs::PackageName::new(l.name.get_ref().clone()).is_err() {
            return Err(invalid(
                l.name.span(),
                format!("`{}` is not a valid Python package name", l.name.get_ref()),
                "package names are letters, digits, `-`, `_` and `.` (PEP 508)",
            ));
        }
        if !libs.insert(name.clone()) {
            return Err(invalid(
                l.name.span(),
                format!("duplicate library `{}`", l.name.get_ref()),
                "each library is one row; merge the two rows",
            ));
        }
        if let Some(v) = &l.version {
            let spec = specifier(
                v,
                "use a PEP 440 specifier set, e.g. \">=2.4.0\" or \">=4.44,<5\"",
            )?;
            specs.insert(name.clone(), spec);
        }
        for id in &l.smoke {
            if SmokeCheckId::parse(id.get_ref()).is_none() {
                return Err(invalid(
                    id.span(),
                    format!("`{}` is not a smoke check", id.get_ref()),
                    format!("smoke checks: {}", SmokeCheckId::list()),
                ));
            }
        }
        claims(l, tables)?;
    }
    Ok((libs, specs))
}

/// A row's claims: only in its table's columns, and only yes, no or n/a outside qualitative ones.
fn claims(l: &Library, tables: &HashMap<&str, &Table>) -> Result<(), Invalid> {
    let Some(t) = &l.table else {
        return match l.claims.iter().next() {
            Some((k, _)) => Err(invalid(
                k.span(),
                format!(
                    "library `{}` is in no table, so it can make no claims",
                    l.name.get_ref()
                ),
                "add table = \"<id>\" to the library, or remove its claims",
            )),
            None => Ok(()),
        };
    };
    let Some(table) = tables.get(t.get_ref().as_str()) else {
        return Err(dangling(t, Referent::Table));
    };
    for (col, claim) in &l.claims {
        let Some(c) = table
            .columns
            .iter()
            .find(|c| c.id.get_ref() == col.get_ref())
        else {
            return Err(invalid(
                col.span(),
                format!("table `{}` has no column `{}`", t.get_ref(), col.get_ref()),
                "claims are keyed by the column ids of the row's table",
            ));
        };
        let word = claim.get_ref().to_ascii_lowercase();
        if c.kind != ColumnKind::Qualitative && !matches!(word.as_str(), "yes" | "no" | "n/a") {
            return Err(invalid(
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
    Ok(())
}

/// The libraries of the matrix, for checking references to them.
struct References<'a> {
    libs: &'a HashSet<String>,
}

impl References<'_> {
    fn library(&self, r: &Spanned<String>) -> Result<(), Invalid> {
        if self.libs.contains(&normalize(r.get_ref())) {
            Ok(())
        } else {
            Err(dangling(r, Referent::Library))
        }
    }
}

/// A statement's `check` must be one its section knows how to run.
fn statement_check(
    check: &Option<Spanned<CheckKind>>,
    allowed: &[CheckKind],
    what: &str,
    id: &Spanned<String>,
    hint: &str,
) -> Result<(), Invalid> {
    match check {
        Some(c) if !allowed.contains(c.get_ref()) => Err(invalid(
            c.span(),
            format!(
                "{what} `{}` cannot be checked by `{}`",
                id.get_ref(),
                c.get_ref().as_str()
            ),
            hint,
        )),
        _ => Ok(()),
    }
}

fn known_issues(doc: &MatrixDoc, refs: &References<'_>) -> Result<(), Invalid> {
    let mut ids = HashSet::new();
    for k in &doc.known_issues {
        if !ids.insert(k.id.get_ref().as_str()) {
            return Err(dup(&k.id, "known issue"));
        }
        k.libraries.iter().try_for_each(|l| refs.library(l))?;
        statement_check(
            &k.check,
            &[
                CheckKind::MitigationInstalled,
                CheckKind::Bf16Native,
                CheckKind::GpuArch,
            ],
            "known issue",
            &k.id,
            "a known issue's check is mitigation-installed, bf16-native or gpu-arch",
        )?;
    }
    Ok(())
}

fn conflicts(doc: &MatrixDoc, refs: &References<'_>) -> Result<(), Invalid> {
    let Some(c) = &doc.conflicts else {
        return Ok(());
    };
    for p in &c.past {
        p.libraries.iter().try_for_each(|l| refs.library(l))?;
        if let Some(f) = &p.fixed_in {
            refs.library(&f.library)?;
            specifier(&f.version, "use a PEP 440 specifier set, e.g. \">=0.12\"")?;
        }
    }
    let mut ids = HashSet::new();
    for cur in &c.current {
        if !ids.insert(cur.id.get_ref().as_str()) {
            return Err(dup(&cur.id, "conflict"));
        }
        cur.libraries.iter().try_for_each(|l| refs.library(l))?;
        statement_check(
            &cur.check,
            &[CheckKind::DeclaredRequirements, CheckKind::GpuArch],
            "conflict",
            &cur.id,
            "a current conflict's check is declared-requirements or gpu-arch",
        )?;
    }
    Ok(())
}

/// Install stages: unique orders, known libraries, each library in one stage.
fn install(doc: &MatrixDoc, refs: &References<'_>) -> Result<(), Invalid> {
    let Some(i) = &doc.install else {
        return Ok(());
    };
    let mut orders = HashSet::new();
    let mut placed: HashMap<String, u32> = HashMap::new();
    for s in &i.stages {
        if !orders.insert(*s.order.get_ref()) {
            return Err(invalid(
                s.order.span(),
                format!("two install stages have order {}", s.order.get_ref()),
                "give each stage its own order number",
            ));
        }
        for l in &s.libraries {
            refs.library(l)?;
            if let Some(prev) = placed.insert(normalize(l.get_ref()), *s.order.get_ref()) {
                return Err(invalid(
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
        s.libraries.iter().try_for_each(|l| refs.library(l))?;
    }
    Ok(())
}

/// Graph groups: known libraries, each node under one drawn above it, with the edge's direction.
fn graph(doc: &MatrixDoc, refs: &References<'_>) -> Result<(), Invalid> {
    for g in &doc.graph {
        let mut drawn: HashSet<String> = HashSet::new();
        if let Some(r) = &g.root {
            refs.library(r)?;
            drawn.insert(normalize(r.get_ref()));
        }
        for n in &g.nodes {
            refs.library(&n.name)?;
            if let Some(u) = &n.under {
                refs.library(u)?;
                if !drawn.contains(&normalize(u.get_ref())) {
                    return Err(invalid(
                        u.span(),
                        format!(
                            "`{}` is drawn under `{}`, which is not drawn above it in this group",
                            n.name.get_ref(),
                            u.get_ref()
                        ),
                        "list a node after the node it is drawn under (or make that the group's root)",
                    ));
                }
                if n.edge.is_none() {
                    return Err(invalid(
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
    Ok(())
}

fn specifier(v: &Spanned<String>, hint: &str) -> Result<VersionSpecifiers, Invalid> {
    v.get_ref().parse().map_err(|e| {
        invalid(
            v.span(),
            format!("bad version specifier `{}`: {e}", v.get_ref()),
            hint,
        )
    })
}

fn dup(id: &Spanned<String>, what: &str) -> Invalid {
    invalid(
        id.span(),
        format!("duplicate {what} `{}`", id.get_ref()),
        "ids are unique; rename or merge one of them",
    )
}

/// What a dangling reference should have named.
#[derive(Debug, Clone, Copy)]
enum Referent {
    Table,
    Library,
}

fn dangling(r: &Spanned<String>, what: Referent) -> Invalid {
    let (word, hint) = match what {
        Referent::Table => ("table", "use the id of a [[tables]] entry"),
        Referent::Library => (
            "library",
            "add a [[libraries]] entry for it (one without a table is allowed), or fix the name",
        ),
    };
    invalid(
        r.span(),
        format!("`{}` names no {word} of this matrix", r.get_ref()),
        hint,
    )
}
