//! The process environment as compat reads it: one [`Vars`], taken once at the top
//! ([`Vars::from_process`]) and handed down to every edge that looks at a variable (the
//! interpreter discovery, the host probe and its overrides, the index discovery and its cache
//! folder), so that tests hand them a fake one ([`Vars::from_pairs`]) instead of setting the
//! process environment.
//!
//! What does not live here: what any variable means. Each reader documents its own.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// A snapshot of environment variables. Values are kept as the OS gave them, so a PATH that is
/// not UTF-8 still works; [`Vars::get`] answers only for values that are text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    values: BTreeMap<String, OsString>,
}

impl Vars {
    /// compat's cache folder: `$XDG_CACHE_HOME/compat`, else `~/.cache/compat`, else a folder
    /// under the system's temporary folder (a user without a home still gets a working cache).
    pub fn cache_root(&self) -> std::path::PathBuf {
        use std::path::PathBuf;
        self.nonempty_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                self.nonempty_os("HOME")
                    .map(|h| PathBuf::from(h).join(".cache"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("compat-cache"))
            .join("compat")
    }

    /// The variables of this process, taken now. (Names that are not UTF-8 are left out: no
    /// reader asks for one.)
    pub fn from_process() -> Self {
        Vars {
            values: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
                .collect(),
        }
    }

    /// Exactly these variables, for tests: `Vars::from_pairs([("PATH", "/usr/bin")])`.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<OsString>,
    {
        Vars {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The same variables with `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<OsString>) -> Self {
        self.values.insert(name.into(), value.into());
        self
    }

    /// The value of `name` as text, as `std::env::var(name).ok()` gives it: `None` when it is
    /// unset or not UTF-8. A set-but-empty variable is `Some("")`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .and_then(|v| v.to_str())
            .map(str::to_string)
    }

    /// [`Vars::get`], with an empty value counted as unset.
    pub fn nonempty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The raw value of `name`, as `std::env::var_os(name)` gives it (for PATH).
    pub fn get_os(&self, name: &str) -> Option<&OsStr> {
        self.values.get(name).map(OsString::as_os_str)
    }

    /// [`Vars::get_os`], with an empty value counted as unset.
    pub fn nonempty_os(&self, name: &str) -> Option<&OsStr> {
        self.get_os(name).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unset_differ_until_asked_not_to() {
        let v = Vars::from_pairs([("A", ""), ("B", "x")]);
        assert_eq!(v.get("A").as_deref(), Some(""));
        assert_eq!(v.nonempty("A"), None);
        assert_eq!(v.get("B").as_deref(), Some("x"));
        assert_eq!(v.get("C"), None);
        assert_eq!(v.get_os("B"), Some(OsStr::new("x")));
        assert_eq!(v.nonempty_os("A"), None);
        let v = v.with("C", "y");
        assert_eq!(v.get("C").as_deref(), Some("y"));
    }

    #[cfg(unix)]
    #[test]
    fn values_that_are_not_text_are_kept_raw() {
        use std::os::unix::ffi::OsStringExt;
        let raw = OsString::from_vec(vec![b'/', 0xff]);
        let v = Vars::from_pairs([("PATH", raw.clone())]);
        assert_eq!(v.get("PATH"), None);
        assert_eq!(v.get_os("PATH"), Some(raw.as_os_str()));
    }

    #[test]
    fn the_process_environment_is_read() {
        let v = Vars::from_process();
        assert_eq!(v.get_os("PATH"), std::env::var_os("PATH").as_deref());
    }
}
