//! Where a command's text goes: standard output, or a file written atomically (a temporary file
//! in the same folder, then a rename, so a crash never leaves half a report); and whether the
//! terminal table is coloured (`auto`: never with `TERM=dumb`, else as anstream decides: a
//! terminal, `NO_COLOR`, `CLICOLOR`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::{ColorChoice, OutputArgs};
use crate::report::Styles;

/// Writes `text` to `--output`, else to standard output.
pub fn emit(out: &OutputArgs, text: &str) -> anyhow::Result<()> {
    match &out.output {
        Some(path) => {
            write_atomic(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            if STDOUT_CLOSED.load(std::sync::atomic::Ordering::SeqCst) {
                // `compat check >&-`: nothing can be written, and a silent exit 0 would pass
                // a gate that never saw its report.
                anyhow::bail!("cannot write to standard output: it is closed");
            }
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                // The reader stopped reading (`compat check | head -1`): end quietly, as other
                // Unix tools do, with the command's own exit code. A full disk or a closed
                // standard output is still an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("cannot write to standard output"),
            }
        }
    }
}

/// Whether standard output was closed when compat started (see [`guard_standard_streams`]).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Run first thing in `main`: a standard stream that is closed (`compat check >&-`) is opened
/// on `/dev/null`, so that no file compat opens later can take its descriptor (a report
/// printed to "standard output" would land in that file); a closed standard output is then
/// remembered, and printing a report to it is an error (exit 2) rather than a silent success.
///
/// Rust's runtime already puts `/dev/null` on closed standard descriptors before `main`, so
/// `main` learns whether standard output was closed before that (`stdout_was_closed`, recorded
/// by a constructor that runs first); this function covers both.
pub fn guard_standard_streams(stdout_was_closed: bool) {
    if stdout_was_closed {
        STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    #[cfg(unix)]
    for fd in [0, 1, 2] {
        // SAFETY: F_GETFD only asks whether `fd` is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        if fd == 1 {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let flags = if fd == 0 {
            libc::O_RDONLY
        } else {
            libc::O_WRONLY
        };
        // SAFETY: a constant NUL-terminated path; the lowest free descriptor is `fd` itself,
        // as 0..fd are open (checked in order), and it is kept open for the process's life.
        unsafe {
            libc::open(c"/dev/null".as_ptr(), flags);
        }
    }
}

/// The styles for a terminal table: coloured with `--color always`, or with `auto` when the
/// text goes to a terminal that wants colour; plain otherwise (files, pipes, `NO_COLOR`).
pub fn styles(out: &OutputArgs) -> Styles {
    let color = match out.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            out.output.is_none()
                && !dumb_terminal(std::env::var_os("TERM").as_deref())
                && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    };
    Styles::new(color)
}

/// The width to fit human output to: `None` (unwrapped, the same text every time) unless it
/// goes to standard output and that is a terminal; then `COLUMNS` when set to a number, else
/// the terminal's own width; never less than `report::style::MIN_WIDTH`.
pub fn width(out: &OutputArgs) -> Option<usize> {
    use std::io::IsTerminal;
    if out.output.is_some() || !std::io::stdout().is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    let w = columns.or_else(|| {
        terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
    })?;
    Some(w.max(crate::report::style::MIN_WIDTH))
}

/// `TERM=dumb`: a terminal that obeys no escape sequence. anstream honours it, but lets `CI`,
/// `CLICOLOR=1` or `CLICOLOR_FORCE` colour it anyway; compat's `auto` never does (only
/// `--color always` colours a dumb terminal).
fn dumb_terminal(term: Option<&std::ffi::OsStr>) -> bool {
    term.is_some_and(|t| t == "dumb")
}

/// Writes `text` to `path` as `--output` should, by what `path` is:
///
/// - a regular file, or nothing yet: atomically, through a temporary file in the same folder
///   and a rename, so that a crash never leaves half a report. An existing file keeps its mode;
///   a new one gets `0666` less the umask, as a shell's `>` would give it.
/// - a symbolic link: followed (link by link, so a dangling one names the file to create); the
///   file it points to is replaced as above and the link stays a link.
/// - a character device or a FIFO (`/dev/null`, `/dev/stdout`, a named pipe): written
///   through, never renamed over (run as root, a rename would replace `/dev/full` itself).
/// - anything else (a directory, a socket, a block device): an error.
///
/// While the temporary file exists, SIGINT and SIGTERM remove it before the process exits
/// (130 / 143, the shell's convention), so an interrupted run leaves nothing behind.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let target = follow_links(path)?;
    match std::fs::metadata(&target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => replace(&target, text, None),
        Err(e) => Err(e),
        Ok(meta) if meta.is_file() => replace(&target, text, Some(meta.permissions())),
        Ok(meta) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileTypeExt;
                let ft = meta.file_type();
                if ft.is_char_device() || ft.is_fifo() {
                    let mut f = std::fs::OpenOptions::new().write(true).open(&target)?;
                    f.write_all(text.as_bytes())?;
                    return f.flush();
                }
            }
            let what = crate::input::SpecialFile::of(meta.file_type())
                .map_or_else(|| "not a regular file".to_string(), |w| w.to_string());
            Err(std::io::Error::other(format!(
                "{} is {what}: --output writes a regular file, a character device or a FIFO",
                target.display()
            )))
        }
    }
}

/// `path` with its symbolic links followed (at most 40, as the kernel allows); the last
/// component may not exist yet.
fn follow_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// Replaces (or creates) the regular file `path` atomically, with `mode` (an existing file's),
/// else the default a new file gets under the umask.
fn replace(path: &Path, text: &str, mode: Option<std::fs::Permissions>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".compat-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created with 0666: the kernel applies the umask, as for any new file.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    let _guard = cleanup::Registered::new(tmp.path());
    if let Some(mode) = mode {
        tmp.as_file().set_permissions(mode)?;
    }
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The temporary file of [`replace`], removed when SIGINT or SIGTERM comes while it exists.
///
/// The handler may only make async-signal-safe calls: it reads one pointer, `unlink`s the path
/// it points to and `_exit`s. The path is a leaked C string, published through an atomic
/// pointer before the handler is installed and withdrawn (and freed) after it is removed.
mod cleanup {
    use std::ffi::{c_char, c_int, CString};
    use std::path::Path;
    use std::sync::atomic::{AtomicPtr, Ordering};

    static PATH: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

    /// Removes the registered file, if any; what the handler does before it exits.
    fn remove_registered() {
        remove_in(&PATH);
    }

    /// Takes the path out of `slot` and unlinks it (async-signal-safe: one atomic swap and
    /// `unlink`; the string is left allocated, as `free` is not signal-safe).
    fn remove_in(slot: &AtomicPtr<c_char>) {
        let p = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: `p` came from `CString::into_raw` and was withdrawn from the slot by the
            // swap, so it is a valid C string that nothing else frees meanwhile.
            unsafe {
                libc::unlink(p);
            }
        }
    }

    extern "C" fn on_signal(sig: c_int) {
        remove_registered();
        // SAFETY: `_exit` is async-signal-safe and ends the process at once.
        unsafe { libc::_exit(128 + sig) }
    }

    /// While alive: the path is registered and the handlers installed; dropped: the previous
    /// handlers are back and the path is withdrawn.
    pub struct Registered {
        old: Option<[libc::sigaction; 2]>,
    }

    const SIGNALS: [c_int; 2] = [libc::SIGINT, libc::SIGTERM];

    impl Registered {
        pub fn new(path: &Path) -> Registered {
            let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
                return Registered { old: None };
            };
            let old = PATH.swap(c.into_raw(), Ordering::SeqCst);
            if !old.is_null() {
                // SAFETY: a previous registration's string, withdrawn by the swap.
                drop(unsafe { CString::from_raw(old) });
            }
            // SAFETY: zeroed `sigaction` structs are valid; the new action names a handler that
            // makes only async-signal-safe calls; `sigaction` writes the old actions into
            // storage we own.
            let old = unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut act.sa_mask);
                let mut old: [libc::sigaction; 2] = std::mem::zeroed();
                for (i, sig) in SIGNALS.iter().enumerate() {
                    libc::sigaction(*sig, &act, &mut old[i]);
                }
                old
            };
            Registered { old: Some(old) }
        }
    }

    impl Drop for Registered {
        fn drop(&mut self) {
            if let Some(old) = self.old {
                // SAFETY: restores the actions `sigaction` gave back in `new`.
                unsafe {
                    for (i, sig) in SIGNALS.iter().enumerate() {
                        libc::sigaction(*sig, &old[i], std::ptr::null_mut());
                    }
                }
            }
            let p = PATH.swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: our own registration, withdrawn by the swap; the handler is gone.
                drop(unsafe { CString::from_raw(p) });
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_handlers_cleanup_removes_the_registered_file_once() {
            let dir = tempfile::tempdir().expect("tempdir");
            let f = dir.path().join(".compat-x.tmp");
            std::fs::write(&f, "half").expect("write");
            // A slot of its own: the process-wide one belongs to whichever write is running.
            let c = CString::new(f.as_os_str().as_encoded_bytes()).expect("path");
            let slot = AtomicPtr::new(c.into_raw());
            remove_in(&slot);
            assert!(!f.exists(), "removed while registered");
            assert!(slot.load(Ordering::SeqCst).is_null(), "withdrawn");
            std::fs::write(&f, "kept").expect("write");
            remove_in(&slot);
            assert!(f.exists(), "nothing registered any more");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.txt");
        write_atomic(&path, "one").expect("first");
        write_atomic(&path, "two").expect("second");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        assert!(write_atomic(&dir.path().join("missing/x.txt"), "x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_through_and_stays_a_device() {
        use std::os::unix::fs::FileTypeExt;
        write_atomic(Path::new("/dev/null"), "report").expect("/dev/null takes it");
        let ft = std::fs::metadata("/dev/null").expect("meta").file_type();
        assert!(ft.is_char_device(), "/dev/null is still a character device");
        if Path::new("/dev/full").exists() {
            let e = write_atomic(Path::new("/dev/full"), "report").expect_err("full");
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            let ft = std::fs::metadata("/dev/full").expect("meta").file_type();
            assert!(ft.is_char_device());
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let e = write_atomic(dir.path(), "x").expect_err("a directory");
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_stays_a_link_and_its_target_is_replaced_keeping_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("real.txt");
        std::fs::write(&target, "old").expect("write");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).expect("symlink");
        write_atomic(&link, "new").expect("write");
        let lm = std::fs::symlink_metadata(&link).expect("meta");
        assert!(lm.file_type().is_symlink(), "the link is kept");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "new");
        let mode = std::fs::metadata(&target)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode kept: {mode:o}");
        // A dangling link names the file to create.
        let dangling = dir.path().join("dangling.txt");
        std::os::unix::fs::symlink("created.txt", &dangling).expect("symlink");
        write_atomic(&dangling, "made").expect("write");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("created.txt")).expect("read"),
            "made"
        );
        assert!(std::fs::symlink_metadata(&dangling)
            .expect("meta")
            .file_type()
            .is_symlink());
        // Nothing else was left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 4);
    }

    #[test]
    fn only_term_dumb_is_a_dumb_terminal() {
        assert!(dumb_terminal(Some("dumb".as_ref())));
        for t in [None, Some("xterm-256color"), Some(""), Some("dumber")] {
            assert!(!dumb_terminal(t.map(AsRef::as_ref)), "{t:?}");
        }
    }

    #[test]
    fn files_and_never_get_plain_styles() {
        let file = OutputArgs {
            output: Some("r.txt".into()),
            color: ColorChoice::Auto,
        };
        assert_eq!(styles(&file), Styles::plain());
        let never = OutputArgs {
            output: None,
            color: ColorChoice::Never,
        };
        assert_eq!(styles(&never), Styles::plain());
        let always = OutputArgs {
            output: Some("r.txt".into()),
            color: ColorChoice::Always,
        };
        assert_eq!(styles(&always), Styles::colored());
    }
}
