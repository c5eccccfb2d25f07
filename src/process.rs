//! Running another program: bounded in time and in output, never through a shell.
//!
//! compat starts a few programs (a tool's `--version`, the target interpreter's one fixed script,
//! `pip config list`, pip's resolver, `nvidia-smi`). Each is run here: stdin closed, both output
//! streams drained on their own threads (so a program that writes more than a pipe holds cannot
//! block on it while we wait), killed at the deadline, its output capped.
//!
//! What does not live here: what a program's output means (each caller parses its own) and
//! which programs are run (the callers choose them; nothing here takes a shell string).

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished program left.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Why a program gave no usable output. The message names the cause itself (it is also the
/// [`source`](std::error::Error::source), for a printer that walks the chain).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not be started (not found, not executable, ...).
    #[error("failed to run: {0}")]
    Spawn(#[source] std::io::Error),
    /// It was still running at the deadline, and was killed.
    #[error("timed out after {}", human_duration(*.0))]
    Timeout(Duration),
    /// Waiting for it failed; it was killed.
    #[error("failed to wait for it: {0}")]
    Wait(#[source] std::io::Error),
    /// It ran and failed ([`run_ok`] only): its exit status and the last line of its stderr.
    #[error("{status}: {stderr_line}")]
    Exit {
        status: ExitStatus,
        stderr_line: String,
    },
}

impl Ran {
    /// The last non-empty line of stderr, for error messages.
    pub fn last_stderr_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::trim)
            .unwrap_or("")
    }
}

/// `300 ms`, `5 s`, `1.5 s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Runs `cmd` (its stdio is set here) for at most `timeout`, keeping at most `max_output` bytes
/// of each stream. A program that exits with a failure is an `Ok` here: the caller reads why.
pub fn run(cmd: &mut Command, timeout: Duration, max_output: usize) -> Result<Ran, RunError> {
    let deadline = Instant::now() + timeout;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(cmd).map_err(RunError::Spawn)?;
    let stdout = Capture::start(child.stdout.take(), max_output);
    let stderr = Capture::start(child.stderr.take(), max_output);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                let now = Instant::now();
                if now >= deadline {
                    kill(&mut child);
                    return Err(RunError::Timeout(timeout));
                }
                thread::sleep(Duration::from_millis(5).min(deadline - now));
            }
            Err(e) => {
                kill(&mut child);
                return Err(RunError::Wait(e));
            }
        }
    };
    // The pipes close when the program exits, unless a child of its own still holds them: then
    // what arrived by the deadline is what there is.
    Ok(Ran {
        status,
        stdout: stdout.finish(deadline),
        stderr: stderr.finish(deadline),
    })
}

/// [`run`], with a failed exit an error too ([`RunError::Exit`]).
pub fn run_ok(cmd: &mut Command, timeout: Duration, max_output: usize) -> Result<Ran, RunError> {
    let ran = run(cmd, timeout, max_output)?;
    if !ran.status.success() {
        return Err(RunError::Exit {
            status: ran.status,
            stderr_line: ran.last_stderr_line().to_string(),
        });
    }
    Ok(ran)
}

/// Spawns; retries briefly when the file is busy being written (`ETXTBSY`), which happens when
/// another thread forks while a freshly written script is still open.
fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e)
                if cfg!(target_os = "linux") && e.raw_os_error() == Some(ETXTBSY) && tries < 5 =>
            {
                tries += 1;
                thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn kill(child: &mut Child) {
    // Either may fail only because the child is already gone, which is what is wanted.
    let _ = child.kill();
    let _ = child.wait();
}

/// One output stream, read on its own thread.
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    done: Option<mpsc::Receiver<()>>,
}

impl Capture {
    fn start<R: Read + Send + 'static>(pipe: Option<R>, max: usize) -> Capture {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let Some(mut pipe) = pipe else {
            return Capture { buf, done: None };
        };
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&buf);
        let reader = thread::Builder::new()
            .name("compat-output".into())
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            let mut b = sink.lock().unwrap_or_else(|p| p.into_inner());
                            let room = max.saturating_sub(b.len());
                            b.extend_from_slice(&chunk[..n.min(room)]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                let _ = tx.send(());
            });
        Capture {
            buf,
            done: reader.ok().map(|_| rx),
        }
    }

    /// Waits for the stream to end, at most until `deadline` (and briefly past it, so that output
    /// written just before the exit is not lost), then returns what was read.
    fn finish(self, deadline: Instant) -> String {
        if let Some(done) = &self.done {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(50));
            let _ = done.recv_timeout(wait);
        }
        let b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&b).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_output_than_a_pipe_holds_does_not_block() {
        // 1 MB on stdout: a program whose pipe is not drained would block until the timeout.
        let start = Instant::now();
        let r = run(
            Command::new("sh").args(["-c", "head -c 1000000 /dev/zero | tr '\\0' x; echo err >&2"]),
            Duration::from_secs(20),
            4 << 20,
        )
        .expect("runs");
        assert!(r.status.success());
        assert_eq!(r.stdout.len(), 1_000_000);
        assert_eq!(r.last_stderr_line(), "err");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn timeout_kills_and_output_is_capped() {
        let e = run(
            Command::new("sh").args(["-c", "sleep 30"]),
            Duration::from_millis(300),
            10,
        )
        .expect_err("times out");
        assert_eq!(e.to_string(), "timed out after 300 ms");
        let r = run(
            Command::new("sh").args(["-c", "echo 0123456789abcdef"]),
            Duration::from_secs(5),
            10,
        )
        .expect("runs");
        assert_eq!(r.stdout, "0123456789");
        let e = run(
            &mut Command::new("/nonexistent/compat-x"),
            Duration::from_secs(1),
            10,
        )
        .expect_err("no such program");
        assert!(matches!(&e, RunError::Spawn(_)), "{e:?}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().starts_with("failed to run: "), "{e}");
    }

    #[test]
    fn run_ok_makes_a_failed_exit_an_error() {
        let e = run_ok(
            Command::new("sh").args(["-c", "echo first >&2; echo last >&2; exit 3"]),
            Duration::from_secs(5),
            1024,
        )
        .expect_err("exit 3");
        assert_eq!(e.to_string(), "exit status: 3: last");
        assert!(run_ok(&mut Command::new("true"), Duration::from_secs(5), 10).is_ok());
    }
}
