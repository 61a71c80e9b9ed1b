//! Reading a command's stdout and stderr line by line, restarting it with backoff.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::SourceEvent;
use super::emit::{Emitter, Stop, send, sleep, stopped};
use super::line::LineAssembler;

/// Events held while the consumer is slow; beyond this the oldest are dropped.
pub const MAX_QUEUED_EVENTS: usize = 10_000;
pub const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);
/// A run that lasted longer than this resets the restart delay.
pub const STABLE_RUN: Duration = Duration::from_secs(60);
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Runs `argv` (no shell) again and again until the receiver closes or shutdown comes.
pub(crate) async fn run_command(
    argv: Vec<String>,
    emitter: Emitter,
    tx: mpsc::Sender<SourceEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut runner = Runner {
        emitter,
        tx,
        queue: VecDeque::new(),
        dropped_events: 0,
    };
    let _ = runner.restart_loop(&argv, &mut shutdown).await;
}

struct Runner {
    emitter: Emitter,
    tx: mpsc::Sender<SourceEvent>,
    queue: VecDeque<SourceEvent>,
    dropped_events: u64,
}

impl Runner {
    async fn restart_loop(
        &mut self,
        argv: &[String],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Stop> {
        let Some((program, args)) = argv.split_first() else {
            let notice = self.emitter.notice("the command is empty; nothing to run");
            return send(&self.tx, shutdown, notice).await;
        };
        let mut restart_delay = FIRST_RESTART_DELAY;
        loop {
            let started = Instant::now();
            let spawned = Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn();
            let ended = match spawned {
                Ok(child) => describe_exit(self.run_once(child, shutdown).await?),
                Err(e) => format!("could not start {program:?}: {e}"),
            };
            if started.elapsed() > STABLE_RUN {
                restart_delay = FIRST_RESTART_DELAY;
            }
            let message = format!("{ended}, restarting in {}s", restart_delay.as_secs());
            send(&self.tx, shutdown, self.emitter.notice(message)).await?;
            sleep(restart_delay, shutdown).await?;
            restart_delay = (restart_delay * 2).min(MAX_RESTART_DELAY);
        }
    }

    /// Pumps the child's output into the channel until it exits.
    async fn run_once(
        &mut self,
        mut child: Child,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<std::io::Result<ExitStatus>, Stop> {
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let (mut out_lines, mut err_lines) = (LineAssembler::new(), LineAssembler::new());
        let (mut out_buf, mut err_buf) = (vec![0; READ_CHUNK_BYTES], vec![0; READ_CHUNK_BYTES]);
        // A local handle, so that a permit does not keep `self` borrowed.
        let tx = self.tx.clone();
        while stdout.is_some() || stderr.is_some() {
            let pending = !self.queue.is_empty() || self.dropped_events > 0;
            tokio::select! {
                () = stopped(shutdown) => return Err(Stop),
                permit = tx.reserve(), if pending => {
                    let permit = permit.map_err(|_| Stop)?;
                    if let Some(event) = self.next_queued() {
                        permit.send(event);
                    }
                }
                read = read_some(&mut stdout, &mut out_buf), if stdout.is_some() => {
                    self.take_output(read, &out_buf, &mut stdout, &mut out_lines);
                }
                read = read_some(&mut stderr, &mut err_buf), if stderr.is_some() => {
                    self.take_output(read, &err_buf, &mut stderr, &mut err_lines);
                }
            }
        }
        let status = tokio::select! {
            () = stopped(shutdown) => return Err(Stop),
            status = child.wait() => status,
        };
        while let Some(event) = self.next_queued() {
            send(&self.tx, shutdown, event).await?;
        }
        Ok(status)
    }

    /// Queues the lines of one read; at the end of a stream, its held partial line too.
    fn take_output<R>(
        &mut self,
        read: std::io::Result<usize>,
        buf: &[u8],
        stream: &mut Option<R>,
        lines: &mut LineAssembler,
    ) {
        let mut events = Vec::new();
        match read {
            Ok(n) if n > 0 => lines.push(&buf[..n], |raw| {
                self.emitter.line_events(raw, &mut |e| events.push(e));
            }),
            _ => {
                *stream = None;
                if let Some(raw) = lines.flush() {
                    self.emitter.line_events(raw, &mut |e| events.push(e));
                }
            }
        }
        for event in events {
            if self.queue.len() >= MAX_QUEUED_EVENTS {
                self.queue.pop_front();
                self.dropped_events += 1;
            }
            self.queue.push_back(event);
        }
    }

    /// A drop report first (so the reader learns of the gap), then the oldest event.
    fn next_queued(&mut self) -> Option<SourceEvent> {
        if self.dropped_events > 0 {
            let dropped = std::mem::take(&mut self.dropped_events);
            return Some(self.emitter.notice(format!(
                "dropped {dropped} queued lines: the reader could not keep up with the command"
            )));
        }
        self.queue.pop_front()
    }
}

async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match stream {
        Some(s) => s.read(buf).await,
        None => Ok(0),
    }
}

fn describe_exit(status: std::io::Result<ExitStatus>) -> String {
    let status = match status {
        Ok(status) => status,
        Err(e) => return format!("could not wait for the command: {e}"),
    };
    if let Some(code) = status.code() {
        return format!("command exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("command was killed by signal {signal}");
        }
    }
    format!("command ended: {status}")
}
