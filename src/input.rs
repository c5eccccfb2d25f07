//! The one way compat reads a file it did not write: open it without blocking, refuse anything
//! that is not a regular file, and read at most a limit that depends on the kind of input.
//!
//! Why: every input may come from a stranger's pull request or a careless command line. A FIFO
//! given as `--matrix` blocks `open(2)` until a writer comes; `/dev/zero` given as `METADATA`
//! never ends; a 100 MB "matrix" takes the parser half a minute. The size `stat(2)` reports is
//! no defence (a FIFO, a device or a file still growing report anything), so the file is opened
//! with `O_NONBLOCK` (a FIFO's open returns at once), checked with `fstat(2)` on the opened
//! descriptor (no race between the check and the read), and read through `Read::take(limit + 1)`
//! so that one byte more than the limit is an error, whatever the file claims.
//!
//! The limits, one per [`InputKind`], are stated in the README ("Limits on inputs"); they are far
//! above any real file of the kind. Like [`crate::model`], this module imports nothing else of
//! the crate.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// What a file is read as; each kind has its byte limit ([`InputKind::limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `--matrix FILE` (TOML).
    Matrix,
    /// `--host FILE` (TOML).
    HostProfile,
    /// A requirements file (`--requirements`, and its `-r` / `-c` includes).
    Requirements,
    /// `pylock.toml` or `uv.lock`.
    Lock,
    /// The JSON report of `pip install --dry-run --report`.
    PipReport,
    /// A `METADATA` or `PKG-INFO` file in site-packages.
    Metadata,
    /// Another small file of an installed distribution or environment: `WHEEL`,
    /// `requires.txt`, `top_level.txt`, `direct_url.json`, `pyvenv.cfg`, `torch/version.py`.
    PackageFile,
    /// A distribution's `RECORD` (one line per installed file).
    Record,
    /// pip's or uv's configuration (`pip.conf`, `uv.toml`, `pyproject.toml`) and pip's own
    /// source read for its default index.
    Config,
    /// A node's `compat check --format json` report, for `compat merge`.
    MergeReport,
    /// An advisory family file or an advisories ignore config.
    Advisory,
    /// A shared library scanned for its GPU code: memory-mapped, never read whole, so only the
    /// regular-file check applies; the limit is the largest mapping considered.
    NativeLibrary,
}

impl InputKind {
    /// Every kind, in the README's order.
    pub const ALL: [InputKind; 12] = [
        InputKind::Matrix,
        InputKind::HostProfile,
        InputKind::Requirements,
        InputKind::Lock,
        InputKind::PipReport,
        InputKind::Metadata,
        InputKind::PackageFile,
        InputKind::Record,
        InputKind::Config,
        InputKind::MergeReport,
        InputKind::Advisory,
        InputKind::NativeLibrary,
    ];

    /// The most bytes read of a file of this kind.
    pub const fn limit(self) -> u64 {
        match self {
            InputKind::Matrix => 4 * MIB,
            InputKind::HostProfile => 256 * KIB,
            InputKind::Requirements => 8 * MIB,
            InputKind::Lock | InputKind::PipReport => 32 * MIB,
            InputKind::Metadata => 8 * MIB,
            InputKind::PackageFile => MIB,
            InputKind::Record => 32 * MIB,
            InputKind::Config => MIB,
            InputKind::MergeReport => 64 * MIB,
            InputKind::Advisory => MIB,
            InputKind::NativeLibrary => 8 * 1024 * MIB,
        }
    }

    /// The kind as words, for messages ("a matrix").
    pub const fn noun(self) -> &'static str {
        match self {
            InputKind::Matrix => "matrix",
            InputKind::HostProfile => "host profile",
            InputKind::Requirements => "requirements file",
            InputKind::Lock => "lock file",
            InputKind::PipReport => "pip report",
            InputKind::Metadata => "METADATA file",
            InputKind::PackageFile => "package file",
            InputKind::Record => "RECORD file",
            InputKind::Config => "configuration file",
            InputKind::MergeReport => "compat report",
            InputKind::Advisory => "advisory file",
            InputKind::NativeLibrary => "shared library",
        }
    }
}

/// What a path is when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialFile {
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

impl fmt::Display for SpecialFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpecialFile::Directory => "a directory",
            SpecialFile::Fifo => "a FIFO (named pipe)",
            SpecialFile::CharDevice => "a character device",
            SpecialFile::BlockDevice => "a block device",
            SpecialFile::Socket => "a socket",
            SpecialFile::Other => "not a regular file",
        })
    }
}

impl SpecialFile {
    /// What `ft` is, or `None` for a regular file.
    pub fn of(ft: std::fs::FileType) -> Option<SpecialFile> {
        if ft.is_file() {
            return None;
        }
        if ft.is_dir() {
            return Some(SpecialFile::Directory);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() {
                return Some(SpecialFile::Fifo);
            }
            if ft.is_char_device() {
                return Some(SpecialFile::CharDevice);
            }
            if ft.is_block_device() {
                return Some(SpecialFile::BlockDevice);
            }
            if ft.is_socket() {
                return Some(SpecialFile::Socket);
            }
        }
        Some(SpecialFile::Other)
    }
}

/// Why an input cannot be read. Each names the path; [`InputError::NotUtf8`] also the line.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is {what}, not a regular file: a {} must be a regular file", path.display(), kind.noun())]
    NotRegular {
        path: PathBuf,
        what: SpecialFile,
        kind: InputKind,
    },
    #[error("`{}` is larger than {}, the limit for a {}", path.display(), human(kind.limit()), kind.noun())]
    TooLarge { path: PathBuf, kind: InputKind },
    #[error("`{}`:{line}: not valid UTF-8", path.display())]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        #[source]
        source: std::str::Utf8Error,
    },
}

impl InputError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            InputError::Io { path, .. }
            | InputError::NotRegular { path, .. }
            | InputError::TooLarge { path, .. }
            | InputError::NotUtf8 { path, .. } => path,
        }
    }

    /// The line at fault (1-based), where there is one: 0 means the file as a whole.
    pub fn line(&self) -> usize {
        match self {
            InputError::NotUtf8 { line, .. } => *line,
            _ => 0,
        }
    }

    /// Whether the file is simply absent (callers that treat a missing file as "none" use it).
    pub fn is_not_found(&self) -> bool {
        matches!(self, InputError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// The reason without the path, for messages that name the path already (`file:line: …`).
    pub fn reason(&self) -> String {
        match self {
            InputError::Io { source, .. } => format!("cannot read: {source}"),
            InputError::NotRegular { what, kind, .. } => {
                format!(
                    "{what}, not a regular file: a {} must be a regular file",
                    kind.noun()
                )
            }
            InputError::TooLarge { kind, .. } => format!(
                "larger than {}, the limit for a {}",
                human(kind.limit()),
                kind.noun()
            ),
            InputError::NotUtf8 { .. } => "not valid UTF-8".into(),
        }
    }
}

/// `n` bytes as "8 MiB" / "256 KiB".
fn human(n: u64) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n % KIB == 0 {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// Opens `path` for reading without blocking on a FIFO, and refuses anything that is not a
/// regular file (a symlink is followed; what it points to is checked). Returns the file and its
/// size as `fstat` saw it.
pub fn open_regular(path: &Path, kind: InputKind) -> Result<(File, u64), InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a
        // writer. O_NOCTTY: a terminal device never becomes our controlling terminal. Neither
        // changes how a regular file reads.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if let Some(what) = SpecialFile::of(meta.file_type()) {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            what,
            kind,
        });
    }
    Ok((file, meta.len()))
}

/// The bytes of `path`: a regular file of at most `kind.limit()` bytes.
pub fn read_bytes(path: &Path, kind: InputKind) -> Result<Vec<u8>, InputError> {
    let (file, len) = open_regular(path, kind)?;
    let limit = kind.limit();
    if len > limit {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            kind,
        });
    }
    // The size fstat reported is a hint only (the file may grow while it is read): the
    // `take` is the bound.
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| InputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok(buf)
}

/// The text of `path`: as [`read_bytes`], and UTF-8 (else the line of the first bad byte).
pub fn read_text(path: &Path, kind: InputKind) -> Result<String, InputError> {
    let bytes = read_bytes(path, kind)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        InputError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            source: e.utf8_error(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_reads_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.toml");
        std::fs::write(&p, "a = 1\n").expect("write");
        assert_eq!(read_text(&p, InputKind::Matrix).expect("read"), "a = 1\n");
    }

    #[test]
    fn one_byte_over_the_limit_is_refused_and_the_limit_itself_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("host.toml");
        let limit = usize::try_from(InputKind::HostProfile.limit()).expect("fits");
        std::fs::write(&p, vec![b'#'; limit]).expect("write");
        assert_eq!(
            read_bytes(&p, InputKind::HostProfile)
                .expect("at limit")
                .len(),
            limit
        );
        std::fs::write(&p, vec![b'#'; limit + 1]).expect("write");
        let e = read_bytes(&p, InputKind::HostProfile).expect_err("over");
        assert!(matches!(e, InputError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("256 KiB"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_named_and_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_text(&fifo, InputKind::Matrix).expect_err("fifo");
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = read_text(Path::new("/dev/zero"), InputKind::Metadata).expect_err("dev");
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_text(dir.path(), InputKind::Lock).expect_err("dir");
        assert!(e.to_string().contains("directory"), "{e}");
        let e = read_text(&dir.path().join("missing"), InputKind::Lock).expect_err("missing");
        assert!(e.is_not_found(), "{e}");
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("r.txt");
        std::fs::write(&p, b"a\nb\n\xff\n").expect("write");
        let e = read_text(&p, InputKind::Requirements).expect_err("utf8");
        assert_eq!(e.line(), 3);
    }

    #[test]
    fn limits_are_positive_and_named() {
        for k in InputKind::ALL {
            assert!(k.limit() >= 256 * KIB, "{k:?}");
            assert!(!k.noun().is_empty());
        }
    }
}
