//! The `on-refresh` hook: the new token on stdin, a minimal environment, its own process group.
//!
//! The token goes to the command on stdin, never in argv (where `ps` shows it). The hook sees
//! only `PATH`, `HOME`, `TOKENTOP_ACCOUNT`, `TOKENTOP_EXPIRES_AT` and the variables its account
//! lists in `on-refresh-env`: never tokentop's own secrets (`WHATSAPP_APP_SECRET`, the stale
//! `WHATSAPP_ACCESS_TOKEN`). Locale variables (`LANG`, `LC_*`) are not passed either, so a hook
//! runs in the C locale unless the operator lists them. A hook that outlives its time limit is
//! killed with every process it started (its process group).

use std::ffi::OsString;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::health::{FailReason, PublishError};
use crate::mask::redact;

/// Variables every hook gets from tokentop's environment (when set there).
pub const HOOK_BASE_ENV: &[&str] = &["PATH", "HOME"];
/// Cap on the stderr kept from a failing command, for the history line.
const STDERR_KEEP_BYTES: usize = 2000;

/// Runs the `on-refresh` argv with the token on stdin, `TOKENTOP_ACCOUNT` and
/// `TOKENTOP_EXPIRES_AT` (unix seconds, 0 = never) in its env, plus `PATH`, `HOME` and the
/// variables named in `pass_env`, within `time_limit`.
///
/// Returns a one-line reason on failure (exit status, timeout, stderr excerpt with the token
/// redacted).
pub async fn run_on_refresh(
    argv: &[String],
    account: &str,
    access_token: &SecretString,
    expires_at: Option<i64>,
    time_limit: Duration,
    pass_env: &[String],
) -> Result<(), PublishError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| PublishError::new(FailReason::Refused, "on-refresh is an empty command"))?;
    let mut child = hook_command(program, args, account, expires_at, pass_env)
        .spawn()
        .map_err(|err| {
            let message = format!("cannot start on-refresh command `{program}`: {err}");
            PublishError::new(FailReason::of_io(&err), message)
        })?;
    // Declared after `child`, so dropped (group killed) before the child is reaped.
    let group = GroupKill(child.id());
    let conversation = converse(&mut child, access_token);
    let Ok((status, err_text)) = tokio::time::timeout(time_limit, conversation).await else {
        drop(group);
        // Reaps the hook itself (its group is already gone or going).
        let _ = child.kill().await;
        return Err(PublishError::new(
            FailReason::Timeout,
            format!(
                "on-refresh command `{program}` timed out after {time_limit:?} (killed with its \
                 process group)"
            ),
        ));
    };
    // The hook ended and was reaped: its id may be reused, and what a hook that succeeded
    // left running in the background is its business.
    group.disarm();
    let status = status.map_err(|err| {
        let message = format!("on-refresh command `{program}` failed: {err}");
        PublishError::new(FailReason::of_io(&err), message)
    })?;
    if status.success() {
        return Ok(());
    }
    let excerpt = String::from_utf8_lossy(&err_text).trim().to_string();
    let excerpt = redact(&excerpt, &[access_token]);
    Err(PublishError::new(
        FailReason::Exit,
        format!("on-refresh command `{program}` exited with {status}: {excerpt}"),
    ))
}

/// The hook's command: minimal environment, stdin and stderr piped, its own process group.
fn hook_command(
    program: &str,
    args: &[String],
    account: &str,
    expires_at: Option<i64>,
    pass_env: &[String],
) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(hook_env(pass_env, |name| std::env::var_os(name)))
        .env("TOKENTOP_ACCOUNT", account)
        .env("TOKENTOP_EXPIRES_AT", expires_at.unwrap_or(0).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own group, so that a timeout ends the children it started too.
    #[cfg(unix)]
    command.process_group(0);
    command
}

/// Writes the token to the hook's stdin, keeps the start of its stderr, waits for its exit.
async fn converse(
    child: &mut Child,
    access_token: &SecretString,
) -> (io::Result<ExitStatus>, Vec<u8>) {
    if let Some(mut stdin) = child.stdin.take() {
        // A command that ignores stdin may close it early: that is not a failure.
        let _ = stdin
            .write_all(access_token.expose_secret().as_bytes())
            .await;
        let _ = stdin.write_all(b"\n").await;
    }
    let err_text = match child.stderr.as_mut() {
        Some(stderr) => read_capped(stderr).await,
        None => Vec::new(),
    };
    (child.wait().await, err_text)
}

/// The variables a hook inherits: [`HOOK_BASE_ENV`] and `pass_env`, those that are set.
pub fn hook_env(
    pass_env: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Vec<(String, OsString)> {
    HOOK_BASE_ENV
        .iter()
        .copied()
        .chain(pass_env.iter().map(String::as_str))
        .filter_map(|name| lookup(name).map(|value| (name.to_string(), value)))
        .collect()
}

/// Keeps the first [`STDERR_KEEP_BYTES`] and drains the rest, so a chatty hook never blocks
/// on a full pipe and never grows our memory.
async fn read_capped(stderr: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut kept = Vec::new();
    let cap = u64::try_from(STDERR_KEEP_BYTES).unwrap_or(u64::MAX);
    let _ = (&mut *stderr).take(cap).read_to_end(&mut kept).await;
    let _ = tokio::io::copy(stderr, &mut tokio::io::sink()).await;
    kept
}

/// Kills the hook's process group when dropped armed: on timeout, and when the publish is
/// abandoned mid-way (the engine stopping), where `kill_on_drop` alone would end only the hook.
struct GroupKill(Option<u32>);

impl GroupKill {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        kill_group(self.0.take());
    }
}

/// SIGKILL to the hook's process group (its id, from `process_group(0)`).
#[cfg(unix)]
fn kill_group(group: Option<u32>) {
    let pid = group
        .and_then(|id| i32::try_from(id).ok())
        // Never 0 or 1: those would signal our own group or every process.
        .filter(|id| *id > 1)
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH (the group is already gone) is the outcome we want anyway.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_group: Option<u32>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_env_has_base_and_listed_names_that_are_set() {
        let lookup = |name: &str| match name {
            "PATH" => Some(OsString::from("/bin")),
            "AWS_PROFILE" => Some(OsString::from("ops")),
            _ => None,
        };
        let env = hook_env(&["AWS_PROFILE".into(), "UNSET".into()], lookup);
        let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["PATH", "AWS_PROFILE"]);
    }

    #[tokio::test]
    async fn on_refresh_gets_token_on_stdin_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "cat > {0}; echo \"$TOKENTOP_ACCOUNT $TOKENTOP_EXPIRES_AT\" >> {0}",
            out.display()
        );
        let argv = vec!["sh".to_string(), "-c".to_string(), script];
        let token = SecretString::from("EAAGstdintoken");
        run_on_refresh(
            &argv,
            "prod",
            &token,
            Some(42),
            Duration::from_secs(10),
            &[],
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "EAAGstdintoken\nprod 42\n"
        );
    }

    #[tokio::test]
    async fn on_refresh_failure_is_reported_with_token_redacted() {
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            "read t; echo \"rejected $t\" >&2; exit 3".to_string(),
        ];
        let token = SecretString::from("EAAGsupersecrettoken1234");
        let err = run_on_refresh(&argv, "a", &token, None, Duration::from_secs(10), &[])
            .await
            .unwrap_err();
        assert_eq!(err.reason, FailReason::Exit);
        let err = err.message;
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(!err.contains("supersecret"), "{err}");
        assert!(err.contains("EAAG…1234"), "{err}");
    }

    #[tokio::test]
    async fn on_refresh_times_out() {
        let argv = vec!["sleep".to_string(), "5".to_string()];
        let token = SecretString::from("t");
        let err = run_on_refresh(&argv, "a", &token, None, Duration::from_millis(100), &[])
            .await
            .unwrap_err();
        assert_eq!(err.reason, FailReason::Timeout);
        assert!(err.message.contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn missing_program_is_a_clear_error() {
        let argv = vec!["/nonexistent/publish-token".to_string()];
        let token = SecretString::from("t");
        let err = run_on_refresh(&argv, "a", &token, None, Duration::from_secs(1), &[])
            .await
            .unwrap_err();
        assert_eq!(err.reason, FailReason::NotFound);
        assert!(err.message.contains("cannot start"), "{err}");
    }
}
