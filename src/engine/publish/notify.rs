//! Telling the consumer to pick up a published token: `on-publish-signal`, `on-publish-restart`.
//!
//! The signal goes to the process whose id is in a pid file; the restart is `systemctl
//! try-reload-or-restart UNIT`.
//!
//! Neither passes a secret: the consumer reads the token from where the publish targets put
//! it. Both return a one-line account of what was done, or of what was wrong, for the
//! history row.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::config::capped_read::{CappedReadError, read_capped};
use crate::config::{NotifySignal, RestartSpec, SignalSpec};
use crate::engine::publish::health::{FailReason, PublishError};
use crate::engine::publish::hook::hook_env;
use crate::mask::mask_token_like;

/// A pid file holds a number and a newline: anything larger is not one, and is not read.
const PID_FILE_MAX_BYTES: u64 = 1024;
/// Characters of a pid file that holds no pid shown in the error.
const SHOWN_PID_FILE_CHARS: usize = 24;
/// The `systemctl` on tokentop's `PATH`.
const SYSTEMCTL: &str = "systemctl";
/// Bytes kept of the end of systemctl's stdout and of its stderr.
const OUTPUT_KEEP_BYTES: usize = 2000;

/// Sends `spec.signal` to the process whose id is in `spec.pid_file`, read afresh (capped;
/// a FIFO or device there is refused, not waited on). Pid 0, pid 1 (init: a HUP there
/// reloads the service manager, not the application) and tokentop's own pid are refused.
///
/// Ok says what was done: `sent HUP to pid 1234 (nginx, from /run/app.pid)`.
pub async fn send_signal(spec: &SignalSpec, timeout: Duration) -> Result<String, PublishError> {
    let owned = spec.clone();
    // The read is blocking file I/O (a pid file on a stalled network mount must not stall
    // the runtime); the signal itself never blocks.
    let work = tokio::task::spawn_blocking(move || signal_now(&owned));
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) => Err(PublishError::new(
            FailReason::Io,
            format!(
                "sending {} to the process in {} failed: {join}",
                spec.signal,
                spec.pid_file.display()
            ),
        )),
        Err(_) => Err(PublishError::new(
            FailReason::Timeout,
            format!(
                "reading pid file {} timed out after {timeout:?}; no signal sent",
                spec.pid_file.display()
            ),
        )),
    }
}

fn signal_now(spec: &SignalSpec) -> Result<String, PublishError> {
    let path = &spec.pid_file;
    let pid = read_pid(path).map_err(|message| {
        let reason = if path.exists() {
            FailReason::Refused
        } else {
            FailReason::NotFound
        };
        PublishError::new(reason, message)
    })?;
    let raw = pid.as_raw_pid();
    // Named before the signal: a TERM may end it.
    let named = process_name(raw).map_or(String::new(), |name| format!("{name}, "));
    rustix::process::kill_process(pid, os_signal(spec.signal))
        .map_err(|errno| kill_error(errno, spec.signal, raw, path))?;
    Ok(format!(
        "sent {} to pid {raw} ({named}from {})",
        spec.signal,
        path.display()
    ))
}

/// The one process id in the pid file at `path`.
fn read_pid(path: &Path) -> Result<Pid, String> {
    let text = read_capped(path, PID_FILE_MAX_BYTES).map_err(|err| match err {
        CappedReadError::NotFound => format!(
            "pid file {} not found (is the application running?); no signal sent",
            path.display()
        ),
        other => format!(
            "cannot read pid file {}: {other}; no signal sent",
            path.display()
        ),
    })?;
    parse_pid(&text, std::process::id())
        .map_err(|problem| format!("pid file {} {problem}; no signal sent", path.display()))
}

/// A positive decimal pid with optional surrounding whitespace, neither init's nor `own`.
fn parse_pid(text: &str, own: u32) -> Result<Pid, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("is empty (the application has not written its id yet?)".to_string());
    }
    let number = trimmed
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| trimmed.parse::<i32>().ok())
        .flatten();
    match number {
        None => Err(format!(
            "does not hold one process id (a positive decimal number): it holds {}",
            excerpt(text)
        )),
        Some(0) => Err("holds 0, which would signal tokentop's own process group".to_string()),
        Some(1) => Err(
            "holds 1, init: a signal there reaches the service manager, not the application"
                .to_string(),
        ),
        Some(id) if u32::try_from(id) == Ok(own) => {
            Err(format!("holds {id}, tokentop's own process id"))
        }
        Some(id) => Pid::from_raw(id).ok_or_else(|| format!("holds {id}, not a process id")),
    }
}

/// The start of what a bad pid file holds, escaped, with anything token-shaped masked first
/// (a pid-file pointed at the token file by mistake must not print the token).
fn excerpt(text: &str) -> String {
    let masked = mask_token_like(text);
    let shown: String = masked.chars().take(SHOWN_PID_FILE_CHARS).collect();
    let cut = if shown.len() < masked.len() {
        "…"
    } else {
        ""
    };
    format!("{shown:?}{cut}")
}

/// The process's command name from `/proc`, when visible (`ProtectProc=invisible` hides
/// other users' processes; the signal does not need it).
fn process_name(pid: i32) -> Option<String> {
    let comm = read_capped(Path::new(&format!("/proc/{pid}/comm")), 64).ok()?;
    let name = comm.trim_end_matches('\n');
    let printable = !name.is_empty() && name.chars().all(|c| !c.is_control());
    printable.then(|| name.to_string())
}

fn os_signal(signal: NotifySignal) -> Signal {
    match signal {
        NotifySignal::Hup => Signal::HUP,
        NotifySignal::Usr1 => Signal::USR1,
        NotifySignal::Usr2 => Signal::USR2,
        NotifySignal::Term => Signal::TERM,
        NotifySignal::Int => Signal::INT,
        NotifySignal::Quit => Signal::QUIT,
    }
}

fn kill_error(errno: Errno, signal: NotifySignal, pid: i32, path: &Path) -> PublishError {
    let from = path.display();
    let reason = match errno {
        Errno::SRCH => FailReason::NotFound,
        Errno::PERM => FailReason::Permission,
        _ => FailReason::Io,
    };
    let message = match errno {
        Errno::SRCH => format!(
            "no process {pid} (from {from}): the pid file is stale or the application is not \
             running; no signal sent"
        ),
        Errno::PERM => format!(
            "not permitted to send {signal} to pid {pid} (from {from}): tokentop (uid {}) may \
             signal only processes of its own user, unless given CAP_KILL",
            rustix::process::getuid().as_raw()
        ),
        other => format!("cannot send {signal} to pid {pid} (from {from}): {other}"),
    };
    PublishError::new(reason, message)
}

/// Runs `systemctl try-reload-or-restart UNIT` with the `systemctl` on tokentop's `PATH`,
/// with only `PATH` and `HOME` in its environment and no stdin (so no password prompt),
/// within `timeout`. A unit that is not running is left alone (and that is a success).
///
/// Ok says what was done; Err names the exit status and the end of systemctl's stderr.
pub async fn restart_unit(spec: &RestartSpec, timeout: Duration) -> Result<String, PublishError> {
    restart_unit_with(Path::new(SYSTEMCTL), spec, timeout).await
}

/// [`restart_unit`] with `systemctl` named, so tests run a fake one without changing `PATH`.
async fn restart_unit_with(
    systemctl: &Path,
    spec: &RestartSpec,
    timeout: Duration,
) -> Result<String, PublishError> {
    let RestartSpec::Systemd { unit } = spec;
    let shown = format!("systemctl try-reload-or-restart {unit}");
    let mut child = Command::new(systemctl)
        .args(["try-reload-or-restart", unit])
        .env_clear()
        .envs(hook_env(&[], |name| std::env::var_os(name)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| {
            let hint = if err.kind() == std::io::ErrorKind::NotFound {
                " (is systemd installed, and systemctl on tokentop's PATH?)"
            } else {
                ""
            };
            let message = format!("cannot start `{shown}`: {err}{hint}");
            PublishError::new(FailReason::of_io(&err), message)
        })?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let conversation = async {
        let (out, err) = tokio::join!(keep_tail(stdout), keep_tail(stderr));
        (child.wait().await, out, err)
    };
    let Ok((status, out, err)) = tokio::time::timeout(timeout, conversation).await else {
        // Reaps it too; what systemd already queued may still run.
        let _ = child.kill().await;
        return Err(PublishError::new(
            FailReason::Timeout,
            format!(
                "`{shown}` timed out after {timeout:?} (systemctl killed; systemd may still \
                 finish a job it queued)"
            ),
        ));
    };
    let status = status.map_err(|err| {
        PublishError::new(FailReason::of_io(&err), format!("`{shown}` failed: {err}"))
    })?;
    if status.success() {
        return Ok(format!("`{shown}` succeeded"));
    }
    let said = one_line(if err.iter().all(u8::is_ascii_whitespace) {
        &out
    } else {
        &err
    });
    Err(PublishError::new(
        FailReason::Exit,
        format!("`{shown}` exited with {status}: {said}"),
    ))
}

/// The last [`OUTPUT_KEEP_BYTES`] of a pipe, read to its end so the child never blocks on it.
async fn keep_tail(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut chunk = [0u8; 4096];
    while let Ok(read) = pipe.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(chunk.get(..read).unwrap_or_default());
        let excess = kept.len().saturating_sub(OUTPUT_KEEP_BYTES);
        kept.drain(..excess);
    }
    kept
}

/// Output as one line for a history row: lines joined, token-shaped words masked.
fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    mask_token_like(&joined).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::path::PathBuf;
    use tokio::io::AsyncBufReadExt;

    const LONG: Duration = Duration::from_secs(10);

    fn spec(pid_file: &Path, signal: NotifySignal) -> SignalSpec {
        SignalSpec {
            pid_file: pid_file.to_path_buf(),
            signal,
        }
    }

    /// A shell that has set a HUP trap and says so on stdout; on HUP it prints `got-hup` and
    /// exits 7. `wait` (unlike a foreground `sleep`) returns as soon as a trapped signal
    /// comes. Returns the child and a task collecting the rest of its stdout.
    async fn hup_catcher() -> (tokio::process::Child, tokio::task::JoinHandle<String>) {
        let script = "trap 'kill $! 2>/dev/null; echo got-hup; exit 7' HUP; \
                      sleep 60 & echo ready; wait";
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next_line().await.unwrap();
        assert_eq!(ready.as_deref(), Some("ready"));
        // Read on, so the trap's echo finds a reader (not a broken pipe).
        let rest = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push_str(&line);
            }
            rest
        });
        (child, rest)
    }

    #[tokio::test]
    async fn the_process_in_the_pid_file_receives_the_signal() {
        let (mut child, rest) = hup_catcher().await;
        let pid = child.id().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("app.pid");
        std::fs::write(&pid_file, format!("{pid}\n")).unwrap();
        let done = send_signal(&spec(&pid_file, NotifySignal::Hup), LONG)
            .await
            .unwrap();
        assert!(
            done.starts_with(&format!("sent HUP to pid {pid} (")),
            "{done}"
        );
        assert!(
            done.ends_with(&format!("from {})", pid_file.display())),
            "{done}"
        );
        let status = tokio::time::timeout(LONG, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(7), "the HUP trap did not run: {status}");
        assert_eq!(rest.await.unwrap(), "got-hup");
    }

    #[tokio::test]
    async fn the_configured_signal_is_the_one_sent() {
        let mut child = Command::new("sleep")
            .arg("60")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("sleep.pid");
        std::fs::write(&pid_file, child.id().unwrap().to_string()).unwrap();
        let done = send_signal(&spec(&pid_file, NotifySignal::Term), LONG)
            .await
            .unwrap();
        assert!(done.contains("(sleep, from"), "{done}");
        let status = tokio::time::timeout(LONG, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.signal(), Some(Signal::TERM.as_raw()), "{status}");
    }

    #[tokio::test]
    async fn bad_pid_files_are_refused_saying_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let own = std::process::id().to_string();
        let cases: &[(&str, &str)] = &[
            ("", "is empty"),
            ("\n", "is empty"),
            ("abc\n", "it holds \"abc\\n\""),
            ("-5\n", "it holds \"-5\\n\""),
            ("12 34\n", "does not hold one process id"),
            ("+42", "does not hold one process id"),
            ("99999999999", "does not hold one process id"),
            ("0\n", "holds 0"),
            ("1\n", "holds 1, init"),
            (&own, "tokentop's own process id"),
            ("2147483647\n", "no process 2147483647"),
        ];
        for (content, problem) in cases {
            let pid_file = dir.path().join("app.pid");
            std::fs::write(&pid_file, content).unwrap();
            let err = send_signal(&spec(&pid_file, NotifySignal::Hup), LONG)
                .await
                .unwrap_err()
                .message;
            assert!(err.contains(problem), "{content:?}: {err}");
            assert!(
                err.contains(&pid_file.display().to_string()),
                "{content:?}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_large_or_special_pid_file_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pid");
        let err = send_signal(&spec(&missing, NotifySignal::Hup), LONG)
            .await
            .unwrap_err()
            .message;
        assert!(err.contains("not found"), "{err}");

        let large = dir.path().join("large.pid");
        std::fs::write(&large, "1".repeat(4096)).unwrap();
        let err = send_signal(&spec(&large, NotifySignal::Hup), LONG)
            .await
            .unwrap_err()
            .message;
        assert!(err.contains("larger than 1024 bytes"), "{err}");

        // A FIFO with no writer would block an open forever; /dev/zero never ends.
        let fifo = dir.path().join("fifo.pid");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = send_signal(&spec(&fifo, NotifySignal::Hup), LONG)
            .await
            .unwrap_err()
            .message;
        assert!(err.contains("a FIFO"), "{err}");
        let err = send_signal(&spec(Path::new("/dev/zero"), NotifySignal::Hup), LONG)
            .await
            .unwrap_err()
            .message;
        assert!(err.contains("a character device"), "{err}");
    }

    #[tokio::test]
    async fn a_token_in_the_pid_file_is_not_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("token.pid");
        std::fs::write(&pid_file, "EAAGsecretsecretsecretsecret1234\n").unwrap();
        let err = send_signal(&spec(&pid_file, NotifySignal::Hup), LONG)
            .await
            .unwrap_err()
            .message;
        assert!(!err.contains("secretsecret"), "{err}");
        assert!(err.contains("EAAG…1234"), "{err}");
    }

    #[test]
    fn a_refused_signal_says_who_may_send_it() {
        let path = PathBuf::from("/run/app.pid");
        let err = kill_error(Errno::PERM, NotifySignal::Usr1, 4321, &path);
        assert_eq!(err.reason, FailReason::Permission);
        let err = err.message;
        assert!(
            err.starts_with("not permitted to send USR1 to pid 4321 (from /run/app.pid)"),
            "{err}"
        );
        assert!(err.contains("CAP_KILL"), "{err}");
    }

    /// A fake `systemctl` running `body`. Written by a child shell, so no descriptor open
    /// for writing it is ever in this (multi-threaded, forking) process: exec'ing it can
    /// never fail with "text file busy".
    fn fake_systemctl(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("systemctl");
        let script = format!("#!/bin/sh\n{body}\n");
        let written = std::process::Command::new("sh")
            .args([
                "-c",
                "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"",
                "sh",
            ])
            .arg(&script)
            .arg(&path)
            .status()
            .unwrap();
        assert!(written.success());
        path
    }

    fn app_service() -> RestartSpec {
        RestartSpec::Systemd {
            unit: "app.service".to_string(),
        }
    }

    #[tokio::test]
    async fn systemctl_is_asked_to_reload_or_restart_the_unit() {
        let dir = tempfile::tempdir().unwrap();
        let args = dir.path().join("args");
        let env = dir.path().join("env");
        let body = format!(
            "printf '%s\\n' \"$*\" > {}; env > {}",
            args.display(),
            env.display()
        );
        let systemctl = fake_systemctl(dir.path(), &body);
        let done = restart_unit_with(&systemctl, &app_service(), LONG)
            .await
            .unwrap();
        assert_eq!(
            done,
            "`systemctl try-reload-or-restart app.service` succeeded"
        );
        assert_eq!(
            std::fs::read_to_string(&args).unwrap(),
            "try-reload-or-restart app.service\n"
        );
        // Only PATH and HOME from tokentop, and what sh sets itself.
        let env = std::fs::read_to_string(&env).unwrap();
        for line in env.lines() {
            let name = line.split('=').next().unwrap_or_default();
            assert!(
                ["PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "_"].contains(&name),
                "{name} passed to systemctl:\n{env}"
            );
        }
    }

    #[tokio::test]
    async fn a_failing_systemctl_is_reported_with_the_end_of_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let body = "head -c 100000 /dev/zero | tr '\\0' x >&2; echo >&2; \
                    echo 'Failed to reload-or-try-restart app.service: Access denied' >&2; \
                    echo \"See 'systemctl status app.service' for details.\" >&2; exit 4";
        let systemctl = fake_systemctl(dir.path(), body);
        let err = restart_unit_with(&systemctl, &app_service(), LONG)
            .await
            .unwrap_err()
            .message;
        assert!(
            err.starts_with(
                "`systemctl try-reload-or-restart app.service` exited with exit status: 4: "
            ),
            "{err}"
        );
        assert!(
            err.ends_with(
                "Failed to reload-or-try-restart app.service: Access denied / \
                 See 'systemctl status app.service' for details."
            ),
            "{err}"
        );
        assert!(err.len() < OUTPUT_KEEP_BYTES + 200, "{} bytes", err.len());
    }

    #[tokio::test]
    async fn a_hanging_systemctl_hits_the_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let systemctl = fake_systemctl(dir.path(), "exec sleep 60");
        let started = std::time::Instant::now();
        let err = restart_unit_with(&systemctl, &app_service(), Duration::from_millis(200))
            .await
            .unwrap_err()
            .message;
        assert!(err.contains("timed out after 200ms"), "{err}");
        assert!(started.elapsed() < LONG, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_missing_systemctl_is_a_clear_error() {
        let err = restart_unit_with(Path::new("/nonexistent/systemctl"), &app_service(), LONG)
            .await
            .unwrap_err()
            .message;
        assert!(err.starts_with("cannot start `systemctl"), "{err}");
        assert!(err.contains("is systemd installed"), "{err}");
    }
}
