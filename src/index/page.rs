//! Pure parsers for what an index serves: a project page (PEP 691 JSON, or the PEP 503 HTML that
//! older mirrors still serve) into a [`Project`], and a release's core metadata file (PEP 658)
//! into a [`ReleaseMetadata`]. They take text and return data; fetching is `super::client`'s job.
//!
//! Why both page forms: the JSON form carries upload times (PEP 700), but the mirrors and proxies
//! that pip configurations point at often serve only HTML. The HTML form gives the same files,
//! yank state and `Requires-Python`, without upload times. It is read with `tl` (tags and
//! attributes) and `html-escape` (character references), as uv's Simple API client reads it.
//!
//! A page lists *files*; a release is the group of files that share a version. The version is
//! read from each file name (wheel names are regular; an sdist's is found by matching the
//! project's normalized name), and files whose version is not PEP 440 are left out, as pip does.

use std::collections::BTreeMap;

use html_escape::decode_html_entities;
use pep440_rs::Version;
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::{redact_url, FetchSource, Project, Release, ReleaseMetadata};
use crate::model::canonical;

/// Why a page or a metadata file could not be read. The message names its cause.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not Simple API JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    #[error("the page declares Simple API version {0}; compat reads version 1.x")]
    ApiVersion(String),
    #[error("neither Simple API JSON nor an HTML page of links")]
    NotAPage,
    #[error("cannot parse the HTML page ({0})")]
    Html(#[source] tl::ParseError),
    #[error("no `Metadata-Version` or `Name` header: not a core metadata file")]
    NotMetadata,
}

/// One file of a project page, in either form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PageFile {
    filename: String,
    /// Absolute, fragment removed.
    url: String,
    requires_python: Option<String>,
    /// `None`: not yanked; `Some(reason)`: yanked, with the reason when one is given.
    yanked: Option<Option<String>>,
    /// The index serves `{url}.metadata` (PEP 658 / 714).
    has_metadata: bool,
    upload_time: Option<String>,
}

#[derive(Deserialize)]
struct JsonPage {
    #[serde(default)]
    meta: Option<JsonMeta>,
    #[serde(default)]
    name: Option<String>,
    files: Vec<Value>,
    /// PEP 700 (API 1.1): every version, including those without files.
    #[serde(default)]
    versions: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct JsonMeta {
    #[serde(rename = "api-version", default)]
    api_version: Option<String>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<Value>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<Value>,
    #[serde(rename = "data-dist-info-metadata", default)]
    data_dist_info_metadata: Option<Value>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<Value>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
}

/// Parses a PEP 691 JSON project page. `page_url` is the URL it came from (after redirects):
/// relative file URLs are resolved against it.
///
/// ```text
/// {"meta": {"api-version": "1.1"}, "name": "torch", "versions": ["2.4.0"],
///  "files": [{"filename": "torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl",
///             "url": "../../packages/torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl",
///             "hashes": {"sha256": "…"}, "requires-python": ">=3.8.0",
///             "core-metadata": {"sha256": "…"}, "upload-time": "2024-07-24T18:24:47.017935Z",
///             "yanked": false}]}
/// ```
///
/// A file entry that does not have the required keys is skipped; a page that is not JSON, has no
/// `files`, or declares an API major version other than 1 is an error (the text says why).
pub fn parse_json_page(
    name: &str,
    page_url: &str,
    body: &str,
    source: FetchSource,
) -> Result<Project, PageError> {
    let page: JsonPage = serde_json::from_str(body).map_err(PageError::NotJson)?;
    if let Some(v) = page.meta.as_ref().and_then(|m| m.api_version.as_deref()) {
        let major = v.split('.').next().unwrap_or("");
        if major != "1" {
            return Err(PageError::ApiVersion(v.to_string()));
        }
    }
    let base = Url::parse(page_url).ok();
    let files: Vec<PageFile> = page
        .files
        .into_iter()
        .filter_map(|v| serde_json::from_value::<JsonFile>(v).ok())
        .map(|f| {
            let has_metadata = [
                &f.core_metadata,
                &f.data_dist_info_metadata,
                &f.dist_info_metadata,
            ]
            .iter()
            .any(|v| flag_is_set(v.as_ref()));
            let yanked = match f.yanked {
                Some(Value::Bool(true)) => Some(None),
                Some(Value::String(reason)) => Some(Some(reason).filter(|r| !r.trim().is_empty())),
                _ => None,
            };
            PageFile {
                url: resolve(base.as_ref(), &f.url),
                filename: f.filename,
                requires_python: f.requires_python.filter(|s| !s.trim().is_empty()),
                yanked,
                has_metadata,
                upload_time: f.upload_time.filter(|s| !s.is_empty()),
            }
        })
        .collect();
    let name = page.name.unwrap_or_else(|| name.to_string());
    Ok(build_project(
        &name,
        page_url,
        files,
        page.versions.unwrap_or_default(),
        source,
    ))
}

/// A `core-metadata`-style value: `true`, or a (possibly empty) dictionary of hashes.
fn flag_is_set(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(_)) => true,
        _ => false,
    }
}

/// Parses a PEP 503 HTML project page: one `<a>` per file, with `data-requires-python`,
/// `data-yanked` and `data-core-metadata` (or `data-dist-info-metadata`) attributes.
///
/// ```text
/// <a href="../../packages/peft-0.12.0-py3-none-any.whl#sha256=…"
///    data-requires-python="&gt;=3.8.0" data-core-metadata="sha256=…">peft-0.12.0-py3-none-any.whl</a>
/// ```
pub fn parse_html_page(
    name: &str,
    page_url: &str,
    body: &str,
    source: FetchSource,
) -> Result<Project, PageError> {
    let dom = tl::parse(body, tl::ParserOptions::default()).map_err(PageError::Html)?;
    let parser = dom.parser();
    let tags = || dom.nodes().iter().filter_map(tl::Node::as_tag);
    let named = |tag: &tl::HTMLTag, want: &str| tag.name().as_utf8_str().eq_ignore_ascii_case(want);
    let mut base = Url::parse(page_url).ok();
    // A <base href> changes what relative links are relative to.
    if let Some(href) = tags()
        .find(|t| named(t, "base"))
        .and_then(|t| attr(t, "href"))
    {
        base = match &base {
            Some(b) => b.join(&href).ok(),
            None => Url::parse(&href).ok(),
        };
    }
    let mut files = Vec::new();
    let mut anchors = 0usize;
    for a in tags().filter(|t| named(t, "a")) {
        anchors += 1;
        let Some(href) = attr(a, "href") else {
            continue;
        };
        let url = resolve(base.as_ref(), &href);
        let text = decode_html_entities(a.inner_text(parser).trim()).into_owned();
        let filename = if text.is_empty() {
            url.rsplit('/').next().unwrap_or("").to_string()
        } else {
            text
        };
        let has_metadata = ["data-core-metadata", "data-dist-info-metadata"]
            .iter()
            .any(|k| attr(a, k).is_some_and(|v| v != "false"));
        files.push(PageFile {
            filename,
            url,
            requires_python: attr(a, "data-requires-python").filter(|s| !s.trim().is_empty()),
            yanked: attr(a, "data-yanked").map(|r| Some(r).filter(|r| !r.trim().is_empty())),
            has_metadata,
            upload_time: None,
        });
    }
    let lower = body.to_ascii_lowercase();
    if anchors == 0 && !lower.contains("<html") && !lower.contains("<body") {
        return Err(PageError::NotAPage);
    }
    Ok(build_project(name, page_url, files, Vec::new(), source))
}

/// A tag's attribute by name (compared without case, as HTML does), its character references
/// decoded; an attribute without a value is `""`. The first of two with the same name wins.
fn attr(tag: &tl::HTMLTag, name: &str) -> Option<String> {
    tag.attributes()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| decode_html_entities(v.as_deref().unwrap_or("")).into_owned())
}

/// Parses a page in the form its content type names; with no useful content type, by its first
/// character (`{` is JSON, `<` is HTML).
pub fn parse_page(
    name: &str,
    page_url: &str,
    content_type: Option<&str>,
    body: &str,
    source: FetchSource,
) -> Result<Project, PageError> {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let html = if ct.contains("json") {
        false
    } else if ct.contains("html") {
        true
    } else {
        body.trim_start().starts_with('<')
    };
    if html {
        parse_html_page(name, page_url, body, source)
    } else {
        parse_json_page(name, page_url, body, source)
    }
}

/// Reads `Requires-Dist` and `Requires-Python` from a core metadata file (the header block of
/// a wheel's `METADATA`). A text without `Metadata-Version` or `Name` is not metadata (an error
/// page served with status 200, for instance) and is an error.
///
/// ```text
/// Metadata-Version: 2.1
/// Name: torch
/// Version: 2.4.0
/// Requires-Python: >=3.8.0
/// Requires-Dist: filelock
/// Requires-Dist: nvidia-cuda-runtime-cu12==12.1.105; platform_system == "Linux" and platform_machine == "x86_64"
/// ```
pub fn parse_metadata(text: &str, source: FetchSource) -> Result<ReleaseMetadata, PageError> {
    let md = crate::env::metadata::parse_core_metadata(text);
    if md.metadata_version.is_none() && md.name.is_none() {
        return Err(PageError::NotMetadata);
    }
    Ok(ReleaseMetadata {
        requires_dist: md.requires_dist,
        requires_python: md.requires_python,
        source,
    })
}

/// Resolves a file URL against the page URL and drops its fragment (`#sha256=…`).
fn resolve(base: Option<&Url>, href: &str) -> String {
    let joined = match base {
        Some(b) => b.join(href).ok(),
        None => Url::parse(href).ok(),
    };
    match joined {
        Some(mut u) => {
            u.set_fragment(None);
            u.to_string()
        }
        None => href.split('#').next().unwrap_or(href).to_string(),
    }
}

/// The PEP 658 metadata URL of a file: its URL with `.metadata` appended to the path.
fn metadata_url(file_url: &str) -> String {
    match Url::parse(file_url) {
        Ok(mut u) => {
            let path = format!("{}.metadata", u.path());
            u.set_path(&path);
            u.to_string()
        }
        Err(_) => format!("{file_url}.metadata"),
    }
}

/// The version text in a distribution file name, or `None` for a file that is not a wheel,
/// sdist or egg of this project.
///
/// ```text
/// torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl -> 2.4.0
/// python-dateutil-2.9.0.post0.tar.gz            -> 2.9.0.post0   (project python-dateutil)
/// ```
pub fn version_from_filename(filename: &str, project: &str) -> Option<String> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        return matches!(parts.len(), 5 | 6).then(|| parts[1].to_string());
    }
    if let Some(stem) = filename.strip_suffix(".egg") {
        return stem.split('-').nth(1).map(str::to_string);
    }
    let stem = [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))?;
    let want = canonical(project)?;
    stem.match_indices('-').find_map(|(i, _)| {
        let prefix = canonical(&stem[..i])?;
        (prefix == want).then(|| stem[i + 1..].to_string())
    })
}

/// Groups files into releases. `listed` is PEP 700's `versions`, which may name versions that
/// have no files left.
fn build_project(
    name: &str,
    page_url: &str,
    files: Vec<PageFile>,
    listed: Vec<String>,
    source: FetchSource,
) -> Project {
    let mut groups: BTreeMap<Version, Vec<PageFile>> = BTreeMap::new();
    for f in files {
        let Some(v) = version_from_filename(&f.filename, name) else {
            continue;
        };
        let Ok(v) = v.parse::<Version>() else {
            continue;
        };
        groups.entry(v).or_default().push(f);
    }
    for v in listed {
        if let Ok(v) = v.parse::<Version>() {
            groups.entry(v).or_default();
        }
    }
    let releases = groups
        .into_iter()
        .map(|(version, files)| summarize(&version, &files))
        .collect();
    Project {
        name: name.to_string(),
        releases,
        source,
        url: redact_url(page_url),
    }
}

fn summarize(version: &Version, files: &[PageFile]) -> Release {
    let is_wheel = |f: &&PageFile| f.filename.ends_with(".whl");
    let requires_python = files
        .iter()
        .filter(is_wheel)
        .chain(files.iter())
        .find_map(|f| f.requires_python.clone());
    let upload_time = files
        .iter()
        .filter_map(|f| f.upload_time.as_deref())
        .min_by(|a, b| time_key(a).cmp(&time_key(b)))
        .map(str::to_string);
    let yanked = !files.is_empty() && files.iter().all(|f| f.yanked.is_some());
    let yanked_reason = if yanked {
        files.iter().find_map(|f| f.yanked.clone().flatten())
    } else {
        None
    };
    let metadata_url = files
        .iter()
        .filter(|f| f.has_metadata)
        .max_by_key(|f| metadata_preference(f))
        .map(|f| redact_url(&metadata_url(&f.url)));
    let wheel_url = files
        .iter()
        .filter(|f| f.filename.ends_with(".whl"))
        .max_by_key(|f| metadata_preference(f))
        .map(|f| redact_url(&f.url));
    Release {
        version: version.to_string(),
        upload_time,
        yanked,
        yanked_reason,
        requires_python,
        prerelease: version.any_prerelease(),
        files: files.len(),
        metadata_url,
        wheel_url,
    }
}

/// Upload times compare by their whole seconds first, then by the fraction, so that
/// `…:47Z` sorts before `…:47.017Z` whatever the number of digits.
fn time_key(t: &str) -> (&str, String) {
    // Index data is untrusted: cut on a character boundary, never inside one.
    let cut = (0..=t.len().min(19))
        .rev()
        .find(|&i| t.is_char_boundary(i))
        .unwrap_or(0);
    let (secs, rest) = t.split_at(cut);
    let frac: String = rest
        .strip_prefix('.')
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (secs, format!("{frac:0<9}"))
}

/// Which file's metadata speaks for the release: not yanked before yanked, a wheel before an
/// sdist, and among wheels a pure one, then a Linux x86_64 one (the hosts compat checks),
/// because platform wheels can differ in their `Requires-Dist`.
fn metadata_preference(f: &PageFile) -> (bool, u8) {
    let kind = if !f.filename.ends_with(".whl") {
        0
    } else if f.filename.ends_with("-any.whl") {
        3
    } else if f.filename.contains("linux") && f.filename.contains("x86_64") {
        2
    } else {
        1
    };
    (f.yanked.is_none(), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "http://127.0.0.1:1/simple/torch/";

    #[test]
    fn versions_from_filenames() {
        let cases = [
            (
                "torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl",
                "torch",
                Some("2.4.0"),
            ),
            (
                "torch-2.4.0+cu124-cp311-cp311-linux_x86_64.whl",
                "torch",
                Some("2.4.0+cu124"),
            ),
            (
                "flash_attn-2.6.3-1-cp311-cp311-linux_x86_64.whl",
                "flash-attn",
                Some("2.6.3"),
            ),
            (
                "python-dateutil-2.9.0.post0.tar.gz",
                "python-dateutil",
                Some("2.9.0.post0"),
            ),
            (
                "Python_Dateutil-2.9.0.tar.gz",
                "python-dateutil",
                Some("2.9.0"),
            ),
            ("sparsegpt-0.1.0.dev0.zip", "sparsegpt", Some("0.1.0.dev0")),
            ("setuptools-0.6c11-py2.7.egg", "setuptools", Some("0.6c11")),
            ("other-1.0.tar.gz", "torch", None),
            ("torch-2.4.0.exe", "torch", None),
        ];
        for (file, project, want) in cases {
            assert_eq!(
                version_from_filename(file, project).as_deref(),
                want,
                "{file}"
            );
        }
    }

    #[test]
    fn json_page_groups_files_into_releases() {
        let body = r#"{
          "meta": {"api-version": "1.1", "_last-serial": 1},
          "name": "torch",
          "versions": ["2.3.1", "2.4.0", "2.5.0rc1"],
          "files": [
            {"filename": "torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl",
             "url": "../../packages/torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl#sha256=ab",
             "hashes": {"sha256": "ab"}, "requires-python": ">=3.8.0",
             "core-metadata": {"sha256": "cd"}, "upload-time": "2024-07-24T18:24:47.017935Z",
             "yanked": false},
            {"filename": "torch-2.4.0-cp311-none-macosx_11_0_arm64.whl",
             "url": "/packages/torch-2.4.0-cp311-none-macosx_11_0_arm64.whl",
             "hashes": {}, "requires-python": ">=3.8.0", "core-metadata": false,
             "upload-time": "2024-07-24T18:24:12Z", "yanked": "bad build"},
            {"filename": "torch-2.5.0rc1-cp311-cp311-manylinux1_x86_64.whl",
             "url": "/packages/torch-2.5.0rc1-cp311-cp311-manylinux1_x86_64.whl",
             "hashes": {}, "yanked": true},
            {"filename": "broken entry without url"}
          ]
        }"#;
        let p = parse_json_page("torch", PAGE, body, FetchSource::Network).expect("parses");
        let versions: Vec<_> = p.releases.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["2.3.1", "2.4.0", "2.5.0rc1"]);
        let r240 = &p.releases[1];
        assert_eq!(r240.files, 2);
        assert!(
            !r240.yanked,
            "one of two files yanked is not a yanked release"
        );
        assert_eq!(r240.upload_time.as_deref(), Some("2024-07-24T18:24:12Z"));
        assert_eq!(r240.requires_python.as_deref(), Some(">=3.8.0"));
        assert_eq!(
            r240.metadata_url.as_deref(),
            Some("http://127.0.0.1:1/packages/torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl.metadata")
        );
        let rc = &p.releases[2];
        assert!(rc.yanked && rc.prerelease);
        assert_eq!(rc.yanked_reason, None);
        assert_eq!(p.releases[0].files, 0);
        assert_eq!(p.latest().map(|r| r.version.as_str()), Some("2.4.0"));
    }

    #[test]
    fn json_page_errors() {
        let bad = parse_json_page("x", PAGE, "{\"files\": [", FetchSource::Network);
        assert!(bad.is_err());
        let v2 = r#"{"meta": {"api-version": "2.0"}, "files": []}"#;
        let err = parse_json_page("x", PAGE, v2, FetchSource::Network).unwrap_err();
        assert!(err.to_string().contains("2.0"), "{err}");
    }

    #[test]
    fn html_page() {
        let body = r#"<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.0"><title>Links for peft</title></head>
<body><h1>Links for peft</h1>
<a href="../../packages/peft-0.12.0-py3-none-any.whl#sha256=aa" data-requires-python="&gt;=3.8.0" data-dist-info-metadata="sha256=bb" data-core-metadata="sha256=bb">peft-0.12.0-py3-none-any.whl</a><br />
<a href="../../packages/peft-0.12.0.tar.gz#sha256=cc" data-requires-python="&gt;=3.8.0">peft-0.12.0.tar.gz</a><br />
<a href="../../packages/peft-0.13.0-py3-none-any.whl" data-yanked="">peft-0.13.0-py3-none-any.whl</a><br />
</body></html>"#;
        let page = "http://127.0.0.1:1/simple/peft/";
        let p = parse_html_page("peft", page, body, FetchSource::Network).expect("parses");
        assert_eq!(p.releases.len(), 2);
        let r = &p.releases[0];
        assert_eq!(r.version, "0.12.0");
        assert_eq!(r.files, 2);
        assert_eq!(r.requires_python.as_deref(), Some(">=3.8.0"));
        assert_eq!(
            r.metadata_url.as_deref(),
            Some("http://127.0.0.1:1/packages/peft-0.12.0-py3-none-any.whl.metadata")
        );
        assert!(p.releases[1].yanked);
        assert_eq!(p.latest().map(|r| r.version.as_str()), Some("0.12.0"));
        // Sniffed by its first character when the content type says nothing.
        assert!(parse_page("peft", page, None, body, FetchSource::Network).is_ok());
        assert!(parse_page(
            "peft",
            page,
            Some("text/plain"),
            "nothing",
            FetchSource::Network
        )
        .is_err());
    }

    #[test]
    fn metadata_file() {
        let text = "Metadata-Version: 2.1\nName: torch\nVersion: 2.4.0\nRequires-Python: >=3.8.0\nRequires-Dist: filelock\nRequires-Dist: sympy\n\nRequires-Dist: not-a-header\n";
        let md = parse_metadata(text, FetchSource::Network).expect("metadata");
        assert_eq!(md.requires_dist, ["filelock", "sympy"]);
        assert_eq!(md.requires_python.as_deref(), Some(">=3.8.0"));
        assert!(parse_metadata("<html>oops</html>", FetchSource::Network).is_err());
    }

    #[test]
    fn upload_times_compare_by_value() {
        let mut t = ["2024-07-24T18:24:47.017Z", "2024-07-24T18:24:47Z"];
        t.sort_by(|a, b| time_key(a).cmp(&time_key(b)));
        assert_eq!(t[0], "2024-07-24T18:24:47Z");
    }

    #[test]
    fn html_attributes_and_text_are_decoded_and_names_compared_without_case() {
        let body = "<html><body>\n<A HREF=\"/p/x-1.0.tar.gz\" Data-Requires-Python=\"&gt;=3.8&amp;&#33;&#x21;&bogus\" data-yanked>x-1.0.tar.gz</A>\n\
                    <a href='/p/x-2.0.tar.gz'> x&#45;2.0.tar.gz </a><a>no href</a>\n</body></html>";
        let p = parse_html_page("x", PAGE, body, FetchSource::Network).expect("parses");
        let versions: Vec<_> = p.releases.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["1.0", "2.0"]);
        assert_eq!(
            p.releases[0].requires_python.as_deref(),
            Some(">=3.8&!!&bogus")
        );
        assert!(p.releases[0].yanked, "a valueless data-yanked yanks");
        assert_eq!(p.releases[0].yanked_reason, None);
        assert!(!p.releases[1].yanked);
    }

    #[test]
    fn base_href_moves_relative_links() {
        let body = "<html><head><base href=\"http://127.0.0.1:2/files/\"></head><body>\
                    <a href=\"y-1.0-py3-none-any.whl\" data-core-metadata=\"true\">y-1.0-py3-none-any.whl</a></body></html>";
        let p = parse_html_page("y", PAGE, body, FetchSource::Network).expect("parses");
        assert_eq!(
            p.releases[0].metadata_url.as_deref(),
            Some("http://127.0.0.1:2/files/y-1.0-py3-none-any.whl.metadata")
        );
        let empty = parse_html_page("y", PAGE, "<html></html>", FetchSource::Network);
        assert!(empty.is_ok_and(|p| p.releases.is_empty()));
        assert!(matches!(
            parse_html_page("y", PAGE, "plain words", FetchSource::Network),
            Err(PageError::NotAPage)
        ));
    }
}
