//! Unit tests: the built-in database loads, every advisory's own trigger and near-miss
//! environments behave (table-driven from the data), the good-cu124 fixture raises nothing, and
//! the loader points at the faulty place.

use std::path::Path;

use super::eval::{build_tag, official_torch_cxx11_abi};
use super::model::Expect;
use super::*;

fn db() -> Database {
    match builtin() {
        Ok(db) => db,
        Err(e) => panic!("built-in advisory database: {e} ({})", e.hint),
    }
}

#[test]
fn builtin_has_forty_sourced_advisories_in_eight_families() {
    let db = db();
    assert!(
        db.advisories.len() >= 40,
        "{} advisories",
        db.advisories.len()
    );
    let mut families: Vec<&str> = db.advisories.iter().map(|a| a.family.as_str()).collect();
    families.sort();
    families.dedup();
    assert_eq!(families.len(), 8, "{families:?}");
    for a in &db.advisories {
        assert!(!a.sources.is_empty(), "{}", a.id);
        assert!(a.checked.len() == 10, "{}: {}", a.id, a.checked);
    }
}

/// Every advisory carries at least one environment that must trigger it and one near miss
/// that must not; each is evaluated against that advisory alone.
#[test]
fn every_advisory_fires_on_its_trigger_and_not_on_its_near_miss() {
    let db = db();
    let mut failures = Vec::new();
    let mut cases = 0;
    for a in &db.advisories {
        for t in &a.tests {
            cases += 1;
            let hit = eval::evaluate_one(a, &t.facts);
            let ok = match t.expect {
                Expect::Hit => hit
                    .as_ref()
                    .is_some_and(|h| h.evidence.len() > a.conditions.len()),
                Expect::Miss => hit.is_none(),
            };
            if !ok {
                failures.push(format!(
                    "{} {:?} `{}` at {}: got {:?}",
                    a.id, t.expect, t.name, t.origin, hit
                ));
            }
        }
        assert!(a.tests.iter().any(|t| t.expect == Expect::Hit), "{}", a.id);
        assert!(a.tests.iter().any(|t| t.expect == Expect::Miss), "{}", a.id);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(cases >= 80, "{cases} cases");
}

/// The same environments through the public entry point: a trigger is reported with its id,
/// and ignoring that id removes it.
#[test]
fn evaluate_reports_the_id_and_ignore_removes_it() {
    let db = db();
    for a in &db.advisories {
        let Some(t) = a.tests.iter().find(|t| t.expect == Expect::Hit) else {
            continue;
        };
        let hits = db.evaluate(&t.facts, &Ignore::none());
        let hit = hits.iter().find(|h| h.id == a.id);
        let hit = hit.unwrap_or_else(|| panic!("{} not reported: {hits:?}", a.id));
        assert_eq!(hit.symptom, a.symptom);
        assert_eq!(hit.fix, a.fix);
        let ignore = Ignore {
            entries: vec![IgnoreEntry {
                id: a.id.clone(),
                reason: "accepted in this test".into(),
            }],
        };
        assert!(!db.evaluate(&t.facts, &ignore).iter().any(|h| h.id == a.id));
    }
    let stray = Ignore {
        entries: vec![IgnoreEntry {
            id: "COMPAT-2026-9999".into(),
            reason: "typo".into(),
        }],
    };
    assert_eq!(db.unknown_ignores(&stray), vec!["COMPAT-2026-9999"]);
}

/// The packages of fixtures/envs/good-cu124 (read from its dist-info folder names), torch built
/// for CUDA 12.4, on an H100 (sm_90) under Linux x86_64: no advisory fires.
#[test]
fn nothing_fires_on_good_cu124() {
    let site = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/envs/good-cu124/lib/python3.11/site-packages");
    let mut facts = Facts {
        torch_cuda: Some("12.4".into()),
        gpus: vec!["9.0".into()],
        system: Some("Linux".into()),
        machine: Some("x86_64".into()),
        ..Facts::default()
    };
    let entries = std::fs::read_dir(&site).unwrap_or_else(|e| panic!("{}: {e}", site.display()));
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".dist-info") {
            let (n, v) = stem.split_once('-').unwrap_or((stem, ""));
            facts.install(n, v);
        }
    }
    assert!(facts.packages.len() > 30, "{:?}", facts.packages.keys());
    assert!(facts.packages.contains_key("torch"));
    let hits = db().evaluate(&facts, &Ignore::none());
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn build_tags_are_read_from_wheel_names_and_local_labels() {
    let fa = Installed {
        version: "2.6.3".into(),
        wheel: Some(
            "flash_attn-2.6.3+cu123torch2.4cxx11abiFALSE-cp311-cp311-linux_x86_64.whl".into(),
        ),
        ..Installed::default()
    };
    let t = build_tag(&fa).expect("tag");
    assert_eq!(
        (t.torch, t.cuda, t.cxx11_abi),
        (Some((2, 4)), Some((12, 3)), Some(false))
    );
    let pyg = Installed {
        version: "2.1.2+pt210cu128".into(),
        ..Installed::default()
    };
    let t = build_tag(&pyg).expect("tag");
    assert_eq!((t.torch, t.cuda), (Some((2, 10)), Some((12, 8))));
    assert!(build_tag(&Installed {
        version: "2.6.3".into(),
        ..Installed::default()
    })
    .is_none());
    let xf = Installed {
        version: "0.0.24".into(),
        built_for: Some(model::BuiltFor {
            torch: Some("2.2.0+cu121".into()),
            cuda: Some("1201".into()),
            from: "xformers/cpp_lib.json".into(),
        }),
        ..Installed::default()
    };
    let t = build_tag(&xf).expect("tag from the build record");
    assert_eq!((t.torch, t.cuda), (Some((2, 2)), Some((12, 1))));
    assert!(t.from.contains("cpp_lib.json"));
}

#[test]
fn torch_abi_is_inferred_only_for_official_wheels() {
    assert_eq!(official_torch_cxx11_abi("2.5.1+cu124"), Some(false));
    assert_eq!(official_torch_cxx11_abi("2.6.0+cu124"), Some(false));
    assert_eq!(official_torch_cxx11_abi("2.6.0+cu126"), Some(true));
    assert_eq!(official_torch_cxx11_abi("2.7.0"), Some(true));
    assert_eq!(official_torch_cxx11_abi("2.5.0a0+e000cf0ad9.nv24.10"), None);
}

#[test]
fn unknown_facts_never_fire() {
    // Every advisory whose conditions read a fact other than package versions stays silent
    // when that fact is missing: clear GPUs, CUDA, env and libraries from each trigger.
    let db = db();
    for a in &db.advisories {
        for t in a.tests.iter().filter(|t| t.expect == Expect::Hit) {
            let mut f = t.facts.clone();
            let reads_more = f.torch_cuda.is_some()
                || !f.gpus.is_empty()
                || !f.env.is_empty()
                || !f.libraries.is_empty();
            if !reads_more {
                continue;
            }
            f.torch_cuda = None;
            f.gpus.clear();
            f.env.clear();
            f.libraries.clear();
            // A torch without a CUDA version reads as a CPU build; that is a fact, not unknown.
            if a.conditions
                .iter()
                .any(|c| matches!(c.raw, model::Condition::TorchCpu {}))
            {
                continue;
            }
            assert!(
                eval::evaluate_one(a, &f).is_none(),
                "{} fired without its facts",
                a.id
            );
        }
    }
}

fn load_err(text: &str) -> LoadError {
    match load_many([("matrices/advisories/x.toml", text)]) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e,
    }
}

const GOOD: &str = r#"family = "x"
title = "t"

[[advisory]]
id = "COMPAT-2026-0001"
title = "t"
package = "a"
affected = "<2"
when = [{ kind = "package", name = "b", version = ">=1" }]
symptom = "s"
fix = "f"
sources = ["https://example.org/1"]
checked = 2026-12-01

[[advisory.test]]
expect = "hit"
packages = { a = "1.0", b = "1.0" }

[[advisory.test]]
expect = "miss"
packages = { a = "2.0", b = "1.0" }
"#;

#[test]
fn a_minimal_family_loads() {
    let db = load_many([("matrices/advisories/x.toml", GOOD)]).expect("loads");
    assert_eq!(db.advisories.len(), 1);
    assert_eq!(db.advisories[0].origin, "matrices/advisories/x.toml:5:6");
}

#[test]
fn loader_errors_point_at_the_place() {
    let e = load_err(&GOOD.replace("fix = \"f\"", "fix = \"f\"\nfixx = 1"));
    assert_eq!(
        (e.line, e.message.contains("unknown field")),
        (12, true),
        "{e}"
    );

    let e = load_err(&GOOD.replace("affected = \"<2\"", "affected = \"<<2\""));
    assert_eq!((e.line, e.column), (8, 12), "{e}");
    assert!(e.message.contains("specifier"), "{e}");

    let e = load_err(&GOOD.replace("COMPAT-2026-0001", "COMPAT-26-1"));
    assert_eq!((e.line, e.column), (5, 6), "{e}");

    let e = load_err(&GOOD.replace("kind = \"package\"", "kind = \"pakage\""));
    assert!(e.message.contains("unknown variant"), "{e}");

    let e = load_err(&GOOD.replace(
        "b = \"1.0\" }\n\n[[advisory.test]]",
        "c = \"1.0\" }\n\n[[advisory.test]]",
    ));
    assert!(e.message.contains("`c`"), "{e}");

    let e = load_err(&GOOD.replace("family = \"x\"", "family = \"y\""));
    assert_eq!(e.line, 1, "{e}");

    let e = load_err(&GOOD.replace("expect = \"miss\"", "expect = \"hit\""));
    assert!(e.message.contains("miss"), "{e}");

    let e = load_err(&GOOD.replace("https://example.org/1", "example.org"));
    assert!(e.message.contains("https"), "{e}");

    let e = load_err(&GOOD.replace("checked = 2026-12-01", "checked = \"yesterday\""));
    assert!(
        e.message.contains("date") || e.message.contains("invalid type"),
        "{e}"
    );

    let two = match load_many([
        ("matrices/advisories/x.toml", GOOD),
        (
            "matrices/advisories/y.toml",
            &GOOD.replace("family = \"x\"", "family = \"y\""),
        ),
    ]) {
        Ok(_) => panic!("duplicate ids loaded"),
        Err(e) => e,
    };
    assert!(two.message.contains("duplicate advisory id"), "{two}");
    assert_eq!(two.origin, "matrices/advisories/y.toml");
}

/// docs/advisories.md lists every advisory with its title, affected range and every one of its
/// sources, and lists no id the database lacks.
#[test]
fn the_doc_lists_every_advisory_and_source() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/advisories.md"))
            .expect("docs/advisories.md");
    for a in &db().advisories {
        let line = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", a.id)))
            .unwrap_or_else(|| panic!("{} is not in the table of docs/advisories.md", a.id));
        assert!(
            line.contains(&format!("| {} |", a.title)),
            "{}: the doc's title is not the database's",
            a.id
        );
        assert!(
            line.contains(&format!("`{} {}`", a.package, a.affected_text)),
            "{}: the doc's affected range is not the database's",
            a.id
        );
        for s in &a.sources {
            assert!(
                line.contains(s.as_str()),
                "{}: source {s} missing from the doc",
                a.id
            );
        }
    }
    let db = db();
    for line in doc.lines().filter(|l| l.starts_with("| COMPAT-")) {
        let id = line.split('|').nth(1).unwrap_or("").trim();
        assert!(
            db.get(id).is_some(),
            "the doc lists {id}, which the database lacks"
        );
    }
}

/// The database serializes for `--format json`: each entry with its id, affected range as
/// written, conditions as written and sources.
#[test]
fn the_database_serializes_as_written() {
    let db = db();
    let json = serde_json::to_value(&db).expect("serializes");
    let first = &json["advisories"][0];
    assert_eq!(first["id"], "COMPAT-2026-0001");
    assert_eq!(first["affected"], "<2.3");
    assert_eq!(first["conditions"][0]["kind"], "package");
    assert_eq!(first["conditions"][0]["name"], "numpy");
    assert!(first["sources"].as_array().is_some_and(|s| !s.is_empty()));
    let table = json["advisories"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["id"] == "COMPAT-2026-0010"))
        .expect("the coupling table");
    assert!(table["rows"].as_array().is_some_and(|r| r.len() > 10));
}
