//! Python package names as PEP 503 normalises them: the one normaliser of the crate (through
//! pep508_rs's `PackageName`, which validates as PEP 508 does).

use std::str::FromStr;

/// PEP 503 normalization of a valid PEP 508 name: lower case, every run of `-`, `_` and `.`
/// becomes one `-`. `None` for a name that is not valid (which also keeps `/`, `?` and `..` out
/// of URLs and cache file names).
///
/// ```text
/// Flash_Attn  -> flash-attn
/// zope.interface -> zope-interface
/// ../etc -> None
/// ```
pub fn canonical(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        // pep508_rs 0.9 accepts the empty name; PEP 508 does not.
        return None;
    }
    pep508_rs::PackageName::from_str(name)
        .ok()
        .map(|n| n.to_string())
}

/// [`canonical`], or for a name that is not valid PEP 508, the name trimmed and lower-cased (so
/// that a broken name in site-packages still compares with itself).
pub fn normalize(name: &str) -> String {
    canonical(name).unwrap_or_else(|| name.trim().to_ascii_lowercase())
}

/// FNV-1a, 64 bits: stable across runs and Rust versions, unlike `std`'s hasher, which is what
/// file names need. Not a security boundary: a collision only means a cache miss or a wrong
/// hit between two indexes, and every entry records its URL.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names() {
        assert_eq!(canonical("Flash_Attn").as_deref(), Some("flash-attn"));
        assert_eq!(
            canonical("zope.interface").as_deref(),
            Some("zope-interface")
        );
        assert_eq!(canonical("a-_.b").as_deref(), Some("a-b"));
        assert_eq!(canonical(" Torch ").as_deref(), Some("torch"));
        assert_eq!(canonical("../etc"), None);
        assert_eq!(canonical("torch/x"), None);
        assert_eq!(canonical("-torch"), None);
        assert_eq!(canonical(""), None);
        assert_eq!(normalize("Not/Valid"), "not/valid");
    }
}
