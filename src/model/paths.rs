//! Paths as text: a file name on Unix is bytes, and one that is not UTF-8 cannot be serialised
//! by serde (`PathBuf`'s `Serialize` errors, and the whole report with it). Every path a report
//! carries goes through these, which write it with replacement characters (U+FFFD) instead; the
//! code that found such a path says so in a finding of its own.

use std::path::{Path, PathBuf};

use serde::Serializer;

/// The path as text, invalid UTF-8 replaced by U+FFFD.
pub fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Whether the path (every byte of it) is UTF-8.
pub fn is_utf8(p: &Path) -> bool {
    p.to_str().is_some()
}

/// `#[serde(serialize_with = "crate::model::paths::ser")]` for a `PathBuf`.
pub fn ser<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// `#[serde(serialize_with = "crate::model::paths::ser_opt")]` for an `Option<PathBuf>`.
pub fn ser_opt<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// `#[serde(serialize_with = "crate::model::paths::ser_vec")]` for a `Vec<PathBuf>`.
pub fn ser_vec<S: Serializer>(v: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| p.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[derive(serde::Serialize)]
    struct Paths {
        #[serde(serialize_with = "ser")]
        one: PathBuf,
        #[serde(serialize_with = "ser_opt")]
        some: Option<PathBuf>,
        #[serde(serialize_with = "ser_opt")]
        none: Option<PathBuf>,
        #[serde(serialize_with = "ser_vec")]
        many: Vec<PathBuf>,
    }

    #[test]
    fn non_utf8_paths_serialise_with_replacement_characters() {
        let bad = PathBuf::from(OsStr::from_bytes(b"/site/caf\xe9.dist-info"));
        assert!(!is_utf8(&bad));
        // what serde does without the helpers: an error, and the whole document with it
        assert!(serde_json::to_string(&bad).is_err());
        let p = Paths {
            one: bad.clone(),
            some: Some(bad.clone()),
            none: None,
            many: vec![bad, PathBuf::from("/ok")],
        };
        let j = serde_json::to_string(&p).expect("lossy paths serialise");
        assert_eq!(
            j,
            r#"{"one":"/site/caf\u{fffd}.dist-info","some":"/site/caf\u{fffd}.dist-info","none":null,"many":["/site/caf\u{fffd}.dist-info","/ok"]}"#
                .replace("\\u{fffd}", "\u{fffd}")
        );
        assert_eq!(lossy(Path::new("/ok")), "/ok");
    }
}
