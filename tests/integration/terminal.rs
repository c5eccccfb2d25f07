//! Output on a terminal: run in a pseudo-terminal (util-linux `script`, with `stty cols N`),
//! every line of check, risk, install-order and smoke fits 80 and 100 columns; `TERM=dumb` gets
//! no colour; piped output stays unwrapped.

use crate::util::*;
use compat::report::style::display_width;
use std::process::Command;

/// These tests need `script` (util-linux) on PATH; they fail, not pass, without it.
fn require_script() {
    let ok = Command::new("script")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "these tests need `script` (util-linux) on PATH");
}

/// `compat ARGS` with standard output on a pseudo-terminal `cols` wide (standard error
/// discarded), run from the repository root with `vars` set: its exit code and what the
/// terminal got, line ends as `\n`.
fn on_terminal(cols: usize, args: &str, vars: &[(&str, &str)]) -> (i32, String) {
    require_script();
    let bin = env!("CARGO_BIN_EXE_compat");
    let assign: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let assign = assign.join(" ");
    let mut c = Command::new("script");
    c.current_dir(root())
        .args([
            "-qec",
            // The variables after `stty`: a shell that tracks the window size (bash's
            // checkwinsize) rewrites an exported COLUMNS after each command.
            &format!("stty cols {cols} rows 50; exec env {assign} '{bin}' {args} 2>/dev/null"),
            "/dev/null",
        ])
        .env("TERM", "xterm-256color");
    for k in [
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "COLUMNS",
        "CI",
    ] {
        c.env_remove(k);
    }
    let out = c.output().expect("script runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
    )
}

const COMMANDS: [(&str, &str); 5] = [
    (
        "check",
        "check --python fixtures/envs/good-cu124 --host fixtures/hosts/h100-550.toml",
    ),
    (
        "check (failing: fixes, known issues, broken deps)",
        "check --python fixtures/envs/fatbin-cu124 --host fixtures/hosts/t4-525.toml",
    ),
    ("risk", "risk --offline --python fixtures/envs/good-cu124"),
    (
        "install-order",
        "install-order --format table --host fixtures/hosts/h100-550.toml",
    ),
    (
        "smoke",
        "smoke --device cpu --level quick --weights fixtures/weights/tiny-mistral-bf16 --config fixtures/weights/tiny-mistral-bf16/config.json --host fixtures/hosts/cpu-only.toml",
    ),
];

fn widest(text: &str) -> usize {
    text.lines().map(display_width).max().unwrap_or(0)
}

#[test]
fn every_table_fits_80_and_100_columns_on_a_terminal() {
    for (name, args) in COMMANDS {
        // Piped, the same command is wider than 100 columns: the test can fail.
        let piped = compat()
            .current_dir(root())
            .args(args.split(' '))
            .output()
            .expect("compat runs");
        let piped = String::from_utf8_lossy(&piped.stdout).into_owned();
        assert!(
            widest(&piped) > 100,
            "{name}: piped is {} wide",
            widest(&piped)
        );
        for cols in [80, 100] {
            let (code, text) = on_terminal(cols, &format!("{args} --color never"), &[]);
            assert!(
                code == 0 || code == 1,
                "{name} at {cols}: exit {code}\n{text}"
            );
            assert!(text.contains('┌'), "{name} at {cols}: a table\n{text}");
            for line in text.lines() {
                assert!(
                    display_width(line) <= cols,
                    "{name} at {cols}: a line of {} columns:\n{line}\n\n{text}",
                    display_width(line)
                );
            }
            // With colour on (a terminal, TERM=xterm), the colour takes no columns.
            let (_, colored) = on_terminal(cols, args, &[]);
            assert!(widest(&colored) <= cols, "{name} at {cols}, coloured");
        }
    }
}

#[test]
fn a_narrow_terminal_gets_one_mark_per_cell_and_a_legend() {
    let args = COMMANDS[1].1;
    let (_, narrow) = on_terminal(80, &format!("{args} --color never"), &[]);
    assert!(narrow.contains("✓ verified · ✗ failed"), "{narrow}");
    assert!(!narrow.contains("- not installed ┆"), "{narrow}");
    let (_, wide) = on_terminal(200, &format!("{args} --color never"), &[]);
    assert!(!wide.contains("✓ verified · ✗ failed"), "{wide}");
    assert!(wide.contains("✗ FAILED"), "{wide}");
}

#[test]
fn columns_sets_the_width_and_pipes_are_never_wrapped() {
    let (name, args) = COMMANDS[2];
    let (_, text) = on_terminal(100, &format!("{args} --color never"), &[("COLUMNS", "70")]);
    assert!(
        widest(&text) <= 70,
        "{name}: COLUMNS=70 is honoured:\n{text}"
    );
    // COLUMNS does not wrap a pipe.
    let piped = compat()
        .current_dir(root())
        .args(args.split(' '))
        .env("COLUMNS", "70")
        .output()
        .expect("compat runs");
    assert!(widest(&String::from_utf8_lossy(&piped.stdout)) > 100);
    // --output writes the unwrapped text even from a terminal.
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("risk.txt");
    on_terminal(80, &format!("{args} --output '{}'", file.display()), &[]);
    let written = std::fs::read_to_string(&file).expect("written");
    assert_eq!(written, String::from_utf8_lossy(&piped.stdout));
}

#[test]
fn a_dumb_terminal_gets_no_colour() {
    let args = COMMANDS[0].1;
    let (_, xterm) = on_terminal(100, args, &[]);
    assert!(xterm.contains('\x1b'), "a terminal gets colour:\n{xterm}");
    for vars in [
        vec![("TERM", "dumb")],
        vec![("TERM", "dumb"), ("CI", "true")],
        vec![("TERM", "dumb"), ("CLICOLOR", "1")],
        vec![("TERM", "xterm"), ("NO_COLOR", "1")],
    ] {
        let (_, text) = on_terminal(100, args, &vars);
        assert!(
            !text.contains('\x1b'),
            "{vars:?}: no escape at all:\n{text}"
        );
        assert!(text.contains("result:"), "{vars:?}");
    }
    let (_, forced) = on_terminal(100, &format!("{args} --color always"), &[("TERM", "dumb")]);
    assert!(forced.contains('\x1b'), "--color always still colours");
}
