//! Keeps an account's actor alive: a panic in it is reported and the actor restarted.
//!
//! The actor runs inside its supervisor's task (`catch_unwind`), so its mailbox and token
//! channel outlive a panic and every link to the account stays valid. Restarts are bounded:
//! an actor that keeps panicking is given up and shown as failed, never silently lost.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use secrecy::SecretString;
use tokio::sync::watch;
use tokio::time::Instant;

use super::mailbox::{Inbox, mailbox};
use super::{
    AccountActor, AccountLink, AccountMsg, RefreshError, Shared, TokenView, blank_snapshot,
};
use crate::config::AccountSettings;
use crate::engine::events::EngineEvent;
use crate::engine::history::cause::AlertKind;
use crate::engine::history::{HistoryEntry, Outcome};
use crate::engine::state::TokenState;
use crate::graph::AppCredentials;
use crate::mask::{mask, redact};

/// An account's actor is restarted at most this many times within [`RESTART_WINDOW`]; one
/// more panic and the account is given up (shown as failed).
const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// A panic message is cut to this many characters in alerts and history.
const MAX_PANIC_MESSAGE_CHARS: usize = 300;

/// Starts an account actor, under a supervisor that restarts it after a panic, and returns
/// the link to it.
pub(crate) fn spawn_account(
    shared: Arc<Shared>,
    settings: Arc<AccountSettings>,
) -> (AccountLink, tokio::task::JoinHandle<()>) {
    let app = match (&settings.app_id, &settings.app_secret) {
        (Some(app_id), Some(app_secret)) => Some(AppCredentials {
            app_id: app_id.clone(),
            app_secret: app_secret.clone(),
        }),
        _ => None,
    };
    let (tx, rx) = mailbox();
    let (token_tx, token_rx) = watch::channel(TokenView::default());
    let task = tokio::spawn(supervise(
        shared,
        settings.clone(),
        app.clone(),
        rx,
        token_tx,
    ));
    let link = AccountLink {
        settings,
        app,
        tx,
        token: token_rx,
    };
    (link, task)
}

/// Runs the account's actor until Shutdown, restarting it from its settings after a panic.
async fn supervise(
    shared: Arc<Shared>,
    settings: Arc<AccountSettings>,
    app: Option<AppCredentials>,
    mut rx: Inbox<AccountMsg>,
    token_tx: watch::Sender<TokenView>,
) {
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    loop {
        let actor = Box::new(AccountActor::new(
            shared.clone(),
            settings.clone(),
            app.clone(),
            token_tx.clone(),
        ));
        // The actor's state is dropped after a panic, so a half-updated actor is never reused;
        // the mailbox is only ever read between messages.
        let Err(payload) = AssertUnwindSafe(actor.run(&mut rx)).catch_unwind().await else {
            return;
        };
        let message = panic_message(payload.as_ref(), &settings);
        let now = Instant::now();
        while restarts
            .front()
            .is_some_and(|at| now.duration_since(*at) >= RESTART_WINDOW)
        {
            restarts.pop_front();
        }
        if restarts.len() >= MAX_RESTARTS {
            // Boxed: its snapshot would otherwise size every account's task for a state
            // that almost none ever reaches.
            Box::pin(give_up(&shared, &settings, &message, &mut rx)).await;
            return;
        }
        restarts.push_back(now);
        alert(
            &shared,
            &settings.name,
            AlertKind::Restarted,
            format!("the account's task panicked and was restarted: {message}"),
        );
    }
}

/// Shows the account as failed and answers its mail until Shutdown.
async fn give_up(
    shared: &Shared,
    settings: &AccountSettings,
    message: &str,
    rx: &mut Inbox<AccountMsg>,
) {
    let reason = format!(
        "the account's task panicked {} times within {} s and was stopped: {message}",
        MAX_RESTARTS + 1,
        RESTART_WINDOW.as_secs()
    );
    alert(shared, &settings.name, AlertKind::GaveUp, reason.clone());
    let mut snapshot = blank_snapshot(settings);
    snapshot.state = TokenState::Failed {
        reason: reason.clone(),
    };
    snapshot.access_token_masked = settings.access_token.as_ref().map(mask);
    snapshot.long_lived_token_masked = settings.long_lived_token.as_ref().map(mask);
    snapshot.last_error = Some(reason.clone());
    snapshot.action_hint =
        Some("restart tokentop; the panic is in its log and in history (please report it)".into());
    let _ = shared
        .events
        .send(EngineEvent::Account(Arc::new(snapshot.clone())));
    while let Some(msg) = rx.recv().await {
        match msg {
            AccountMsg::Shutdown => return,
            AccountMsg::Refresh(request) => {
                if let Some(reply) = request.reply {
                    let _ = reply.send(Err(RefreshError::local(
                        &reason,
                        "restart tokentop; the panic is in its log file",
                    )));
                }
            }
            // A given-up account hands out no token; what consumers do no longer matters.
            AccountMsg::Consumed(_) => {}
            // Meta's word on the messages still counts: the row tells what happened to them.
            AccountMsg::FailureBurst(burst) => {
                let mut entry =
                    HistoryEntry::new(&settings.name, AlertKind::FailureBurst, Outcome::Failed);
                entry.detail = Some(burst.describe());
                shared.record(entry);
            }
            AccountMsg::Recheck | AccountMsg::StoreChanged | AccountMsg::Access(_) => {
                let _ = shared
                    .events
                    .send(EngineEvent::Account(Arc::new(snapshot.clone())));
            }
        }
    }
}

/// Logs, records in history and tells clients.
fn alert(shared: &Shared, account: &str, kind: AlertKind, message: String) {
    tracing::error!(account = %account, "{message}");
    let mut entry = HistoryEntry::new(account, kind, Outcome::Failed);
    entry.detail = Some(message.clone());
    shared.record(entry);
    let _ = shared.events.send(EngineEvent::Alert {
        account: account.to_string(),
        message,
    });
}

/// The panic's text, without the account's secrets, cut to a readable length.
fn panic_message(payload: &(dyn Any + Send), settings: &AccountSettings) -> String {
    let secrets: Vec<&SecretString> = [
        &settings.access_token,
        &settings.long_lived_token,
        &settings.app_secret,
    ]
    .into_iter()
    .flatten()
    .collect();
    panic_text(payload, &secrets)
}

/// A panic payload as text: `secrets` and Meta-token-shaped words masked, cut to
/// [`MAX_PANIC_MESSAGE_CHARS`].
pub(crate) fn panic_text(payload: &(dyn Any + Send), secrets: &[&SecretString]) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    // `redact` masks the secrets and every token-shaped word, known or not.
    let text = redact(&text, secrets);
    let mut cut: String = text.chars().take(MAX_PANIC_MESSAGE_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `task` returns, without calling it.
    fn future_size<F: Future>(
        _task: &impl Fn(
            Arc<Shared>,
            Arc<AccountSettings>,
            Option<AppCredentials>,
            Inbox<AccountMsg>,
            watch::Sender<TokenView>,
        ) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// The size of the future `method` of the actor returns, without calling it.
    fn method_future_size<'a, F: Future>(_method: impl FnOnce(&'a mut AccountActor) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// An account's task is allocated for its largest state and held for the whole run, so
    /// what it holds while it waits must be all it holds: refreshes, inspections and the rest
    /// run boxed (`AccountActor::run`), and the actor itself is boxed. The task was about
    /// 16 KB in a release build, then 1.3 KB while the given-up state's snapshot was inline;
    /// in a test (debug) build, larger than release, it is now 456 bytes.
    #[test]
    fn an_idle_account_task_holds_little_besides_the_actor() {
        let size = future_size(&supervise);
        assert!(size <= 640, "the account task's future is {size} bytes");
    }

    /// Start-up and the periodic check run in every account at once, so their futures' size
    /// times the number of accounts is the daemon's high-water mark (which glibc keeps
    /// resident): publishing, which few of them reach, is boxed. About 700 bytes in a test
    /// build; start-up was 9 KB in a release build with the publish inline.
    #[test]
    fn what_every_account_runs_at_once_is_small() {
        let start = method_future_size(AccountActor::start);
        let recheck = method_future_size(AccountActor::recheck);
        assert!(start <= 1024, "start-up's future is {start} bytes");
        assert!(recheck <= 1024, "a check's future is {recheck} bytes");
    }

    /// A mailbox keeps room for a few messages once it has had one, in every account.
    #[test]
    fn an_account_message_is_small() {
        assert!(std::mem::size_of::<AccountMsg>() <= 32);
    }

    #[test]
    fn panic_message_hides_secrets_and_is_bounded() {
        let mut settings = crate::engine::accounts_diff::test_account("a", "appsecret123");
        settings.app_id = None;
        settings.access_token = Some(SecretString::from("EAAGsecretsecretsecret1234"));
        let payload: Box<dyn Any + Send> = Box::new(format!(
            "bad EAAGsecretsecretsecret1234 appsecret123 {}",
            "x ".repeat(250)
        ));
        let text = panic_message(payload.as_ref(), &settings);
        assert!(!text.contains("secretsecret"), "{text}");
        assert!(!text.contains("appsecret123"), "{text}");
        assert!(text.starts_with("bad EAAG…1234"), "{text}");
        assert_eq!(text.chars().count(), MAX_PANIC_MESSAGE_CHARS + 1);
        let payload: Box<dyn Any + Send> = Box::new("static text");
        assert_eq!(panic_message(payload.as_ref(), &settings), "static text");
    }
}
