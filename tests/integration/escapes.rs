//! Terminal escape sequences from inputs (issue: untrusted inputs, class 4): text from a
//! matrix, a METADATA file, a host profile, a merged report or a path in an error reaches every
//! human format with its control characters shown as escapes (`\x1b`), never raw.

use crate::util::*;
use std::path::Path;

/// Hostile strings: clear the screen, an OSC 8 hyperlink and an OSC 52 clipboard write (both
/// ended by BEL), a carriage-return overwrite, backspaces, the one-byte C1 CSI, a bidi override.
const PAYLOADS: [&str; 7] = [
    "\x1b[2J\x1b[H",
    "\x1b]8;;http://127.0.0.1/x\x07click\x1b]8;;\x07",
    "\x1b]52;c;cm0gLXJmIH4K\x07",
    "real\rFAKE",
    "abc\x08\x08\x08xyz",
    "\u{9b}31mred",
    "\u{202e}gnp.exe",
];

/// All payloads in one string.
fn hostile() -> String {
    PAYLOADS.concat()
}

/// `s` as a TOML basic string, every non-printable character as `\uXXXX`.
fn toml_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) => {
                o.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// No byte a terminal would obey: ESC, BEL, BS, CR, C1 CSI (UTF-8 c2 9b), U+202E (e2 80 ae).
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for bad in ["\x1b", "\x07", "\x08", "\r", "\u{9b}", "\u{202e}"] {
        assert!(
            !text.contains(bad),
            "{what}: raw {bad:?} in the output:\n{text}"
        );
    }
}

fn run_in(args: &[&str]) -> std::process::Output {
    compat().args(args).output().expect("compat runs")
}

/// A copy of the built-in matrix with a hostile title, table title and claim.
fn hostile_matrix(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("matrices/llm-compression.toml")).expect("seed");
    let h = toml_str(&hostile());
    let text = text
        .replacen(
            "title = \"Library Compatibility Matrix\"",
            &format!("title = {h}"),
            1,
        )
        .replacen("title = \"Core Compatibility\"", &format!("title = {h}"), 1)
        .replacen("claimed = \"VERIFIED\"", &format!("claimed = {h}"), 1);
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).expect("write matrix");
    path
}

/// The H100 profile with a hostile name, GPU name and OS.
fn hostile_host(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fixture("hosts/h100-550.toml")).expect("profile");
    let h = toml_str(&hostile());
    let text = text
        .replacen(
            "name = \"NVIDIA H100 80GB HBM3\"",
            &format!("name = {h}"),
            1,
        )
        .replacen("os = \"Ubuntu 22.04.4 LTS\"", &format!("os = {h}"), 1);
    let path = dir.join("hostile-host.toml");
    std::fs::write(&path, text).expect("write profile");
    path
}

#[test]
fn a_hostile_matrix_and_host_profile_print_escaped_in_every_human_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let matrix = hostile_matrix(tmp.path());
    let host = hostile_host(tmp.path());
    let (m, h) = (
        matrix.to_str().expect("utf-8"),
        host.to_str().expect("utf-8"),
    );
    let env = fixture("envs/good-cu124");
    let env = env.to_str().expect("utf-8");
    for format in ["table", "markdown", "summary", "junit"] {
        let out = run_in(&[
            "check", "--color", "never", "--format", format, "--matrix", m, "--host", h,
            "--python", env,
        ]);
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{format}: {out:?}"
        );
        assert_clean(format, &out.stdout);
        assert_clean(format, &out.stderr);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("\\x1b[2J"),
            "{format}: the escape is shown:\n{text}"
        );
    }
    // With colour on, only compat's own colour sequences are raw: no clear, no OSC.
    let out = run_in(&[
        "check", "--color", "always", "--matrix", m, "--host", h, "--python", env,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\x1b[1m"), "coloured");
    for bad in ["\x1b[2J", "\x1b]", "\x07", "\r", "\u{9b}", "\u{202e}"] {
        assert!(!text.contains(bad), "raw {bad:?} with colour on");
    }
    for args in [
        vec![
            "install-order",
            "--format",
            "table",
            "--matrix",
            m,
            "--host",
            h,
        ],
        vec!["risk", "--offline", "--matrix", m, "--python", env],
        vec![
            "risk",
            "--offline",
            "--format",
            "markdown",
            "--matrix",
            m,
            "--python",
            env,
        ],
        vec!["probe", "--host", h, "--python", env],
    ] {
        let out = run_in(&args);
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{args:?}: {out:?}"
        );
        assert_clean(&args.join(" "), &out.stdout);
        assert_clean(&args.join(" "), &out.stderr);
    }
}

#[test]
fn hostile_metadata_prints_escaped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = tmp.path().join("env");
    copy_tree(&fixture("envs/good-cu124"), &env);
    let md = env.join("lib/python3.11/site-packages/urllib3-2.8.0.dist-info/METADATA");
    let text = std::fs::read_to_string(&md).expect("METADATA");
    let h = hostile();
    let text = text
        .replacen("Name: urllib3", &format!("Name: urllib3{h}"), 1)
        .replacen("Version: 2.8.0", &format!("Version: 2.8.0{h}"), 1)
        .replacen("Summary: ", &format!("Summary: {h}"), 1);
    std::fs::write(&md, text).expect("write");
    let peft = env.join("lib/python3.11/site-packages/peft-0.12.0.dist-info/METADATA");
    if let Ok(text) = std::fs::read_to_string(&peft) {
        std::fs::write(
            &peft,
            text.replacen("Version: 0.12.0", &format!("Version: 0.12.0{h}"), 1),
        )
        .expect("write");
    }
    let e = env.to_str().expect("utf-8");
    for format in ["table", "markdown", "summary", "junit"] {
        let out = run_in(&[
            "check", "--color", "never", "--format", format, "--python", e,
        ]);
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{format}: {out:?}"
        );
        assert_clean(format, &out.stdout);
        assert_clean(format, &out.stderr);
    }
    let out = run_in(&["check", "--color", "never", "--python", e]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\\x1b"),
        "the hostile METADATA reached the table, escaped:\n{text}"
    );
    let out = run_in(&["probe", "--python", e]);
    assert_clean("probe", &out.stdout);
    let out = run_in(&["risk", "--offline", "--python", e]);
    assert_clean("risk", &out.stdout);
}

#[test]
fn a_hostile_merge_input_prints_escaped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run_in(&[
        "check",
        "--format",
        "json",
        "--host",
        "fixtures/hosts/h100-550.toml",
        "--python",
        fixture("envs/good-cu124").to_str().expect("utf-8"),
    ]);
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let h = hostile();
    v["host"]["hostname"] = h.clone().into();
    v["matrix"]["title"] = h.clone().into();
    if let Some(g) = v["host"]["gpus"].get_mut(0) {
        g["name"] = h.clone().into();
    }
    let a = tmp.path().join("a.json");
    std::fs::write(&a, serde_json::to_vec(&v).expect("json")).expect("write");
    let out = compat()
        .current_dir(root())
        .args(["merge", "--color", "never"])
        .arg(&a)
        .output()
        .expect("merge runs");
    assert!(out.status.code().is_some_and(|c| c < 2), "{out:?}");
    assert_clean("merge", &out.stdout);
    assert_clean("merge", &out.stderr);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\\x1b"),
        "shown escaped"
    );
}

#[test]
fn error_messages_print_escaped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let h = hostile();
    let missing = tmp.path().join(format!("no{h}.toml"));
    let out = compat()
        .args(["check", "--matrix"])
        .arg(&missing)
        .output()
        .expect("compat runs");
    assert_eq!(out.status.code(), Some(2));
    assert_clean("missing matrix", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("\\x1b[2J"));
    // A file whose TOML is broken on a hostile line: the snippet is escaped too.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, format!("id = \"x\"\n[{h}\n")).expect("write");
    let out = compat()
        .args(["check", "--matrix"])
        .arg(&bad)
        .output()
        .expect("compat runs");
    assert_eq!(out.status.code(), Some(2));
    assert_clean("broken matrix", &out.stderr);
    for args in [
        vec!["install-order", "--host"],
        vec!["check", "--requirements"],
        vec!["merge"],
    ] {
        let out = compat().args(&args).arg(&missing).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_clean(&args.join(" "), &out.stderr);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        let ft = e.file_type().expect("file type");
        if ft.is_dir() {
            copy_tree(&e.path(), &target);
        } else if ft.is_file() {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// The `pip install …` commands in a text, each to the end of its line or to the backtick that
/// closes it in markdown.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("pip install") {
            let cmd = &rest[i..];
            let end = cmd.find('`').unwrap_or(cmd.len());
            out.push(cmd[..end].to_string());
            rest = &cmd[end..];
        }
    }
    out
}

/// Splits `cmd` as POSIX sh would split plain words and single-quoted strings, and fails on
/// anything a shell would treat as more than a word: `;`, `|`, `&`, `$`, a backtick, `<`, `>`,
/// parentheses, a double quote or a backslash outside single quotes.
fn sh_words(cmd: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = cmd.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => cur.push(q),
                        None => return Err(format!("unclosed quote in {cmd:?}")),
                    }
                }
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            ';' | '|' | '&' | '$' | '`' | '<' | '>' | '(' | ')' | '"' | '\\' | '\n' | '!' => {
                return Err(format!("{c:?} outside quotes in {cmd:?}"))
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[test]
fn a_version_that_is_not_pep_440_never_reaches_a_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = tmp.path().join("env");
    copy_tree(&fixture("envs/good-cu124"), &env);
    let site = env.join("lib/python3.11/site-packages");
    // numpy: built for another CPython (a reinstall fix), its version a command.
    let numpy = site.join("numpy-1.26.4.dist-info");
    let wheel = std::fs::read_to_string(numpy.join("WHEEL")).expect("WHEEL");
    std::fs::write(
        numpy.join("WHEEL"),
        wheel.replace("cp311-cp311", "cp310-cp310"),
    )
    .expect("write");
    // A second copy of urllib3 (a duplicate fix), also with a command for a version.
    let urllib3 = site.join("urllib3-2.8.0.dist-info");
    let stale = site.join("urllib3-2.7.0.dist-info");
    copy_tree(&urllib3, &stale);
    let cases = [
        "1.26.4;touch PWNED",
        "1.26.4$(touch PWNED)",
        "1.26.4`touch PWNED`",
        "1.26.4 && touch PWNED",
        "1.26.4'; touch PWNED; '",
    ];
    for version in cases {
        // The copy Python loads (the duplicate fix would name its version).
        for (dir, old) in [(&numpy, "Version: 1.26.4"), (&urllib3, "Version: 2.8.0")] {
            let md = std::fs::read_to_string(fixture(&format!(
                "envs/good-cu124/lib/python3.11/site-packages/{}/METADATA",
                if dir == &numpy {
                    "numpy-1.26.4.dist-info"
                } else {
                    "urllib3-2.8.0.dist-info"
                }
            )))
            .expect("METADATA");
            std::fs::write(
                dir.join("METADATA"),
                md.replacen(old, &format!("Version: {version}"), 1),
            )
            .expect("write");
        }
        let e = env.to_str().expect("utf-8");
        for format in ["table", "markdown", "json"] {
            let out = run_in(&[
                "check", "--color", "never", "--format", format, "--python", e,
            ]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.code().is_some_and(|c| c < 2), "{format}: {text}");
            assert!(
                text.contains("PWNED"),
                "{version:?} {format}: the hostile version is not in the report at all:\n{text}"
            );
            for cmd in commands(&text) {
                assert!(
                    !cmd.contains("PWNED"),
                    "{version:?} {format}: a non-PEP 440 version in a command: {cmd}"
                );
                if format != "json" {
                    sh_words(cmd.trim_end_matches(['.', ',']))
                        .unwrap_or_else(|e| panic!("{version:?} {format}: not plain words: {e}"));
                }
            }
        }
    }
    // A valid version that a shell would still expand (`!` is history expansion in bash) is
    // quoted: the command stays, one word.
    let md = std::fs::read_to_string(fixture(
        "envs/good-cu124/lib/python3.11/site-packages/urllib3-2.8.0.dist-info/METADATA",
    ))
    .expect("METADATA");
    std::fs::write(
        urllib3.join("METADATA"),
        md.replacen("Version: 2.8.0", "Version: 1!2.8.0", 1),
    )
    .expect("write");
    let out = run_in(&[
        "check",
        "--color",
        "never",
        "--python",
        env.to_str().expect("utf-8"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let cmds: Vec<String> = commands(&text)
        .into_iter()
        .filter(|c| c.contains("urllib3"))
        .collect();
    assert!(
        !cmds.is_empty(),
        "no reinstall command for urllib3 1!2.8.0:\n{text}"
    );
    for cmd in cmds {
        let words = sh_words(cmd.trim_end_matches(['.', ','])).expect("plain words");
        assert!(words.iter().any(|w| w == "urllib3==1!2.8.0"), "{cmd}");
        assert!(cmd.contains("'urllib3==1!2.8.0'"), "{cmd}");
    }
}
