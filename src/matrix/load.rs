//! Reading a matrix: the file (UTF-8), TOML syntax and shape (serde, unknown keys rejected),
//! then the checks only compat can make ([`super::validate`]), each error pointing at
//! `file:line:column` with a hint.

use std::path::Path;

use super::model::*;
use super::validate::validate;
use crate::model::{line_col, span_start, TomlFault};

/// A matrix that cannot be used, with the place in the file that is at fault.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct LoadError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    /// The fault in one line (with the cause's own words, where there is one).
    pub message: String,
    /// One line saying how to fix it.
    pub hint: String,
    /// The error underneath: reading the file, decoding it, or parsing its TOML.
    #[source]
    pub source: Option<Box<LoadCause>>,
}

/// What a [`LoadError`] was caused by, where something else failed first.
#[derive(Debug, thiserror::Error)]
pub enum LoadCause {
    #[error(transparent)]
    Read(#[from] crate::input::InputError),
    #[error(transparent)]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
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
            source: None,
        }),
    }
}

/// Loads a matrix file.
pub fn load_file(path: &Path) -> Result<Matrix, LoadError> {
    let origin = path.display().to_string();
    let bytes =
        crate::input::read_bytes(path, crate::input::InputKind::Matrix).map_err(|e| LoadError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the matrix: {}", e.reason()),
            hint: "check the path given to --matrix: a regular TOML file".into(),
            source: Some(Box::new(e.into())),
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
                source: Some(Box::new(e.into())),
            });
        }
    };
    load_str(&text, &origin)
}

/// Parses and validates matrix text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str) -> Result<Matrix, LoadError> {
    let doc: MatrixDoc = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        let hint = match TomlFault::of(&message) {
            TomlFault::UnknownKey => "remove the key or fix its spelling; the schema is described in matrices/llm-compression.toml",
            TomlFault::MissingKey => "add the missing key; the schema is described in matrices/llm-compression.toml",
            TomlFault::UnknownValue => "use one of the values listed in the message",
            TomlFault::Other => "fix the TOML syntax at this place",
        };
        let (line, column) = span_start(text, e.span());
        LoadError {
            origin: origin.to_string(),
            line,
            column,
            message,
            hint: hint.to_string(),
            source: Some(Box::new(LoadCause::Toml(e))),
        }
    })?;
    let specs = validate(&doc).map_err(|v| {
        let (line, column) = span_start(text, Some(v.span));
        LoadError {
            origin: origin.to_string(),
            line,
            column,
            message: v.message,
            hint: v.hint,
            source: None,
        }
    })?;
    Ok(Matrix {
        origin: origin.to_string(),
        doc,
        specs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{MAX_LIBRARIES, MAX_STAGES, MAX_TABLES};

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

    /// The built-in matrix with `n` more libraries of the `core` table.
    fn with_libraries(n: usize) -> String {
        let mut t = BUILTIN.to_string();
        for i in 0..n {
            t.push_str(&format!(
                "\n[[libraries]]\nname = \"extra{i}\"\ntable = \"core\"\nversion = \">=1\"\nclaims = {{ pytorch = \"yes\", cuda = \"yes\", python = \"yes\" }}\n"
            ));
        }
        t
    }

    #[test]
    fn entry_counts_are_bounded() {
        let builtin = load_str(BUILTIN, "b").expect("builtin").doc.libraries.len();
        let fits = with_libraries(MAX_LIBRARIES - builtin);
        assert!(load_str(&fits, "m.toml").is_ok());
        let over = with_libraries(MAX_LIBRARIES - builtin + 5);
        let e = fails(&over);
        let line = over
            .lines()
            .position(|l| l == format!("name = \"extra{}\"", MAX_LIBRARIES - builtin))
            .expect("line")
            + 1;
        assert_eq!((e.line, e.column), (line, 8), "{e}");
        assert!(
            e.message
                .contains(&format!("too many libraries: {} here", MAX_LIBRARIES + 5)),
            "{e}"
        );

        let mut stages = BUILTIN.to_string();
        for i in 0..MAX_STAGES {
            stages.push_str(&format!(
                "\n[[install.stages]]\norder = {}\ntitle = \"s\"\nlibraries = []\n",
                100 + i
            ));
        }
        let e = fails(&stages);
        assert!(e.message.contains("too many install stages"), "{e}");

        let mut tables = BUILTIN.to_string();
        for i in 0..MAX_TABLES {
            tables.push_str(&format!(
                "\n[[tables]]\nid = \"t{i}\"\ntitle = \"T\"\ncolumns = []\n"
            ));
        }
        let e = fails(&tables);
        assert!(e.message.contains("too many tables"), "{e}");
        assert!(e.to_string().starts_with("m.toml:"), "{e}");
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
    fn errors_keep_their_cause() {
        use std::error::Error;
        let e = fails("schema = 1\nid = \"x\"\ntitle = \n");
        assert!(
            matches!(e.source.as_deref(), Some(LoadCause::Toml(_))),
            "{e:?}"
        );
        assert!(e.source().is_some());
        let e = load_file(Path::new("/nonexistent/matrix.toml")).expect_err("no such file");
        assert!(
            matches!(e.source.as_deref(), Some(LoadCause::Read(_))),
            "{e:?}"
        );
        assert!(e.message.starts_with("cannot read the matrix: "), "{e}");
        // A check only compat makes has no cause underneath.
        let t = format!("{BUILTIN}\n[[libraries]]\nname = \"Torch\"\n");
        assert!(fails(&t).source.is_none());
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a\nbé c", 5), (2, 3));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
