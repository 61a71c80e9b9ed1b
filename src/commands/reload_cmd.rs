//! `tokentop reload [--json]`: tells the running daemon to reload its accounts (SIGHUP to the
//! pid in `<data dir>/daemon.pid`) and prints what changed, from the `reload.json` it writes.

use std::process::ExitCode;
use std::time::Duration;

use super::common::overrides;
use super::reload_record::{self, DAEMON_PID_FILE, ReloadRecord};
use super::stdout;
use crate::cli::{GlobalArgs, ReloadArgs};
use crate::config::{EnvSnapshot, discover_data_dir};

/// How long the daemon has to answer (it reads every account file once).
const ANSWER_WAIT: Duration = Duration::from_secs(15);
const LOOK_EVERY: Duration = Duration::from_millis(50);

pub async fn run(global: &GlobalArgs, args: &ReloadArgs) -> anyhow::Result<ExitCode> {
    let data_dir = discover_data_dir(&overrides(global), &EnvSnapshot::from_process());
    let pid_file = data_dir.join(DAEMON_PID_FILE);
    let text = std::fs::read_to_string(&pid_file).map_err(|err| {
        anyhow::anyhow!(
            "no running daemon found: cannot read {} ({err}); `tokentop daemon` writes it \
             (with --data-dir, give the daemon's), or use `systemctl reload tokentop`",
            pid_file.display()
        )
    })?;
    let pid: i32 = text
        .trim()
        .parse()
        .ok()
        .filter(|pid| *pid > 1)
        .ok_or_else(|| anyhow::anyhow!("{} holds no process id", pid_file.display()))?;
    let before = reload_record::read(&data_dir).map(|r| r.at_ms);
    let process = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| anyhow::anyhow!("{} holds no process id", pid_file.display()))?;
    rustix::process::kill_process(process, rustix::process::Signal::HUP).map_err(|errno| {
        anyhow::anyhow!(
            "cannot signal the daemon (pid {pid} from {}): {errno}; is it running?",
            pid_file.display()
        )
    })?;
    let record = wait_for_answer(&data_dir, before).await.ok_or_else(|| {
        anyhow::anyhow!(
            "the daemon (pid {pid}) did not answer within {} s; see its log",
            ANSWER_WAIT.as_secs()
        )
    })?;
    if args.json {
        stdout::line(serde_json::to_string_pretty(&record)?)?;
    } else {
        for line in record.lines() {
            stdout::line(line)?;
        }
    }
    Ok(if record.refused.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The first record newer than `before`, looked for until [`ANSWER_WAIT`] has passed.
async fn wait_for_answer(data_dir: &std::path::Path, before: Option<i64>) -> Option<ReloadRecord> {
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(record) = reload_record::read(data_dir)
            && Some(record.at_ms) != before
        {
            return Some(record);
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
    None
}
