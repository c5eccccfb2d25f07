//! `compat check` on environments made from real packages' metadata (fixtures/envs, see its
//! README), compared with what real `pip check` said about the same files.

use crate::util::*;

fn env(name: &str) -> std::path::PathBuf {
    fixture(&format!("envs/{name}"))
}

fn pip_check(name: &str) -> String {
    std::fs::read_to_string(env(name).join("pip-check.txt")).expect("pip-check.txt")
}

#[test]
fn good_stack_verifies_what_metadata_can_decide() {
    let c = check_json(&env("good-cu124"), &[]);
    let r = &c.report;
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(r.schema, "compat.check/1");
    let i = &r.environment.interpreter;
    assert_eq!(i.read_from, "pyvenv.cfg");
    assert_eq!(i.python_version, "3.11.7");
    let torch = r.environment.torch.as_ref().expect("torch");
    assert_eq!(torch.version.as_deref(), Some("2.4.1+cu124"));
    assert_eq!(torch.cuda.as_deref(), Some("12.4"));
    for lib in [
        "torch",
        "transformers",
        "safetensors",
        "accelerate",
        "bitsandbytes",
        "peft",
    ] {
        assert_eq!(verdict(r, lib, "version"), Verdict::Verified, "{lib}");
        assert_eq!(verdict(r, lib, "pytorch"), Verdict::Verified, "{lib}");
        assert_eq!(verdict(r, lib, "python"), Verdict::Verified, "{lib}");
        // This machine has no GPU (CI runners neither): the CUDA column cannot be decided here.
        assert_eq!(verdict(r, lib, "cuda"), Verdict::Unverified, "{lib}");
        let reason = reason_of(cell(r, lib, "cuda"));
        assert!(reason.starts_with("no GPU on this host"), "{reason}");
    }
    let peft = cell(r, "peft", "pytorch").evidence.join("\n");
    assert!(
        peft.contains("Requires-Dist: torch >=1.13.0 admits 2.4.1+cu124"),
        "{peft}"
    );
    let tf = cell(r, "transformers", "pytorch").evidence.join("\n");
    assert!(
        tf.contains("torch ; extra == 'torch' (through an extra) admits"),
        "{tf}"
    );
    for lib in ["pytest", "wandb", "dvc"] {
        assert_eq!(verdict(r, lib, "version"), Verdict::NotInstalled, "{lib}");
    }
    // Same answer as pip check on the same files.
    assert!(pip_check("good-cu124").contains("No broken requirements found."));
    assert_eq!(compat_problems(r), Vec::new());
    assert!(r.verification.consistency.requirements_checked > 50);
    let score = &r.verification.score;
    assert_eq!(score.claimed_percent, Some(95.0));
    assert_eq!(score.checkable, 42);
    assert_eq!(score.verified, 18);
}

#[test]
fn conflicts_match_pip_check_line_for_line() {
    let c = check_json(&env("conflicts"), &[]);
    let r = &c.report;
    assert_eq!(c.code, 1);
    let pip = pip_check("conflicts");
    assert_eq!(compat_problems(r), pip_check_problems(&pip));
    let mut ours: Vec<&str> = r
        .verification
        .consistency
        .problems
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    let mut theirs: Vec<&str> = pip.lines().filter(|l| !l.is_empty()).collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);

    // torch 2.3.1+cu121 is below the row's minimum and outside the PyTorch 2.4+ column.
    assert_eq!(verdict(r, "torch", "version"), Verdict::Failed);
    assert!(cell(r, "torch", "version")
        .fix
        .as_deref()
        .unwrap_or("")
        .contains("torch>=2.4.0"));
    assert_eq!(verdict(r, "torch", "pytorch"), Verdict::Failed);
    // For the other rows the claim cannot be tried with this torch: unverified, not failed.
    assert_eq!(verdict(r, "peft", "pytorch"), Verdict::Unverified);
    assert_eq!(verdict(r, "accelerate", "version"), Verdict::NotInstalled);
    let tf = r.verification.tables[0].rows[1]
        .broken_requirements
        .join("\n");
    assert!(tf.contains("tokenizers"), "{tf}");
    let past = &r.verification.past_conflicts;
    assert_eq!(
        past[1].verdict,
        Verdict::NotInstalled,
        "PEFT + accelerate: accelerate is gone"
    );
    assert_eq!(
        past[2].verdict,
        Verdict::Failed,
        "torch's pinned CUDA wheels are wrong"
    );
}

#[test]
fn broken_entries_are_findings_not_crashes() {
    let c = check_json(&env("broken"), &[]);
    let r = &c.report;
    let codes: Vec<&str> = r.findings.iter().map(|f| f.code).collect();
    for code in [
        "missing-metadata",
        "bad-encoding",
        "duplicate-distribution",
        "invalid-version",
    ] {
        assert!(codes.contains(&code), "{code} not in {codes:?}");
    }
    // pip 23.2.1 crashes on the Latin-1 METADATA (see fixtures/envs/README.md); with that one
    // file out of its way, pip check reports exactly what compat reports with it in place.
    let truth =
        std::fs::read_to_string(env("broken").join("truth-variants/no-latin1pkg/pip-check.txt"))
            .expect("truth");
    assert_eq!(compat_problems(r), pip_check_problems(&truth));
    // The legacy egg-info is read: its requires.txt names MarkupSafe.
    assert_eq!(r.verification.consistency.problems[0].package, "jinja2");
    assert_eq!(c.code, 1);
}

#[test]
fn markdown_reproduces_every_section_of_the_seed() {
    let out = compat()
        .args(["check", "--format", "markdown", "--python"])
        .arg(env("good-cu124"))
        .output()
        .expect("runs");
    let md = String::from_utf8_lossy(&out.stdout);
    let seed =
        std::fs::read_to_string(root().join("matrices/llm-compression.toml")).expect("matrix");
    for heading in [
        "## Testing Results",
        "### Core Compatibility",
        "### Development Tools",
        "### Monitoring & Data",
        "## Known Issues & Resolutions",
        "### 1. CUDA Memory Management",
        "### 2. Mixed Precision Compatibility",
        "### 3. Notebook + Git Integration",
        "## Dependency Conflicts",
        "### Past Issues",
        "### Current Known Issues",
        "## Installation Order",
        "### Pip vs Conda Strategy",
        "## Performance Benchmarks",
        "### H100 Performance",
        "### A100 Performance",
        "## Risk Assessment",
        "## Final Compatibility Score",
        "## Dependencies Graph",
    ] {
        assert!(md.contains(heading), "missing {heading}");
    }
    for text in [
        "Base requirement",
        "H100/A100 optimized",
        "from accelerate import init_empty_weights, load_checkpoint_and_dispatch",
        "sparsegpt may need specific torch version (will fork if needed)",
        "15-20% faster than 2.0",
        "30% memory reduction",
        "90% memory saving for fine-tuning",
        "| HIGH | bleeding-edge CUDA | Driver compatibility | Conservative CUDA version |",
        "Proceed with selected library stack",
        "(claimed 95% ✅)",
        "     └── nbdime",
        "Very Fast",
    ] {
        assert!(md.contains(text), "missing {text:?}");
    }
    // Every cell that is not verified carries a footnote, and every footnote is defined.
    for line in md.lines().filter(|l| l.starts_with("| torch ")) {
        assert!(
            line.contains("CUDA") || line.contains("❔ unverified[^"),
            "{line}"
        );
    }
    let refs = md.matches("[^").count();
    let defs = md.lines().filter(|l| l.starts_with("[^")).count();
    assert!(defs > 5 && refs > defs, "{refs} refs, {defs} defs");
    assert!(seed.contains("Base requirement"));
}

#[test]
fn table_has_no_colour_when_piped_and_output_is_atomic() {
    let out = compat()
        .args(["check", "--python"])
        .arg(env("good-cu124"))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "escape codes in piped output");
    assert!(
        text.contains("Score: 18 of 42 checkable cells verified (43%) — the matrix claims 95%"),
        "{text}"
    );
    let forced = compat()
        .args(["check", "--color", "always", "--python"])
        .arg(env("good-cu124"))
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&forced.stdout).contains('\x1b'));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("report.json");
    let out = compat()
        .args(["check", "--format", "json", "--output"])
        .arg(&path)
        .arg("--python")
        .arg(env("conflicts"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let written =
        Report::from_json(&std::fs::read_to_string(&path).expect("written")).expect("a report");
    assert_eq!(written.exit_code, 1);
    let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(leftovers, 1, "a temporary file was left behind");
}
