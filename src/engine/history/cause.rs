//! Why a history row was written, typed: a refresh's trigger, an inspection's reason, a
//! publish's target, a send's channel or an alert's kind. Each is one word on disk (the row's
//! `trigger` field), read in the context of the row's `event`: the same word may mean
//! different things under different events. A word this version does not know is kept
//! verbatim ([`Cause::Other`]) and written back unchanged.

use std::fmt;

use super::HistoryEvent;

/// Defines a closed set of words: the enum, its variants in order (`ALL`), the word of each
/// and the reverse lookup. The words are the on-disk ones; changing one breaks old files.
macro_rules! words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The word written in history.
            pub fn word(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }

            /// The variant written as `word`, if any.
            pub fn from_word(word: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|known| known.word() == word)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
                out.write_str(self.word())
            }
        }
    };
}

words! {
    /// Why the engine started a refresh.
    pub enum Trigger {
        /// The refresh was due by the schedule.
        Scheduled = "scheduled",
        /// A retry after a transient failure or a rate limit.
        Retry = "retry",
        /// Asked for by a client (a forced refresh), not by the schedule.
        Forced = "forced",
        /// A send was about to use a token within the send guard of its expiry (or none).
        SendGuard = "send-guard",
        /// Meta rejected a send's token (190): a new one is fetched before sending again.
        AuthError = "auth-error",
    }
}

words! {
    /// Why a token was inspected.
    pub enum InspectReason {
        /// The account's task started.
        Startup = "startup",
        /// A periodic or requested re-check.
        Check = "check",
        /// Another cluster member stored a token this host took over.
        Cluster = "cluster",
        /// Right after a refresh, to learn the new token's expiry.
        AfterRefresh = "after-refresh",
    }
}

impl PublishTarget {
    /// Tells the application to pick the token up rather than handing it over: runs only
    /// after every other target holds the token.
    pub fn tells_the_consumer(self) -> bool {
        matches!(self, Self::Signal | Self::Restart)
    }
}

words! {
    /// Where the current token is handed to the application.
    pub enum PublishTarget {
        EnvFile = "env-file",
        TokenFile = "token-file",
        /// The configured `on-refresh` command.
        OnRefresh = "on-refresh",
        /// `on-publish-signal`: the application told to reread its token, once every target
        /// above holds it.
        Signal = "signal",
        /// `on-publish-restart`: the application's unit reloaded or restarted, last.
        Restart = "restart",
    }
}

words! {
    /// How a message was sent.
    pub enum SendChannel {
        /// A test message.
        Test = "test",
        /// A send through the proxy (only failures and sends after a refresh are recorded).
        Proxy = "proxy",
    }
}

words! {
    /// What an alert is about.
    pub enum AlertKind {
        /// The token can no longer be refreshed (or not past a date): a person must re-auth.
        ReAuth = "re-auth",
        /// A refresh was refused for lack of permission.
        Permission = "permission",
        /// A new token could not be stored.
        Store = "store",
        /// A Graph API rate-limit usage passed the alert threshold.
        RateLimit = "rate-limit",
        /// The account's task panicked and was restarted.
        Restarted = "restarted",
        /// The account's task panicked too often and was stopped.
        GaveUp = "gave-up",
        /// Meta said by webhook that the customer took the app's access away (outcome
        /// failed), or gave it back (outcome ok).
        Revoked = "revoked",
        /// Meta said by webhook that a phone number's messaging limit went down or that it
        /// was flagged.
        PhoneQuality = "phone-quality",
        /// Many of the account's messages failed in one minute, by Meta's status webhooks
        /// (`[webhook] failure-burst`): one row per burst.
        FailureBurst = "failure-burst",
    }
}

/// The word of [`Cause::Exchange`].
const EXCHANGE: &str = "exchange";

/// Why a row was written; also decides the row's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A refresh the engine started.
    Refresh(Trigger),
    /// A token a person exchanged with `tokentop exchange`: a re-auth, written as a `refresh`
    /// row with the word `exchange`, not counted as a refresh attempt.
    Exchange,
    Inspect(InspectReason),
    Publish(PublishTarget),
    Send(SendChannel),
    Alert(AlertKind),
    /// A word this version does not know under `event` (a newer or older version wrote it):
    /// kept so the row reads and writes back unchanged.
    Other {
        event: HistoryEvent,
        word: String,
    },
}

impl Cause {
    /// The cause `word` means in a row of `event`; an unknown word is kept in [`Cause::Other`].
    pub fn parse(event: HistoryEvent, word: &str) -> Self {
        let known = match event {
            HistoryEvent::Refresh if word == EXCHANGE => Some(Self::Exchange),
            HistoryEvent::Refresh => Trigger::from_word(word).map(Self::Refresh),
            HistoryEvent::Inspect => InspectReason::from_word(word).map(Self::Inspect),
            HistoryEvent::Publish => PublishTarget::from_word(word).map(Self::Publish),
            HistoryEvent::Send => SendChannel::from_word(word).map(Self::Send),
            HistoryEvent::Alert => AlertKind::from_word(word).map(Self::Alert),
        };
        known.unwrap_or_else(|| Self::Other {
            event,
            word: word.to_string(),
        })
    }

    /// The event of a row with this cause.
    pub fn event(&self) -> HistoryEvent {
        match self {
            Self::Refresh(_) | Self::Exchange => HistoryEvent::Refresh,
            Self::Inspect(_) => HistoryEvent::Inspect,
            Self::Publish(_) => HistoryEvent::Publish,
            Self::Send(_) => HistoryEvent::Send,
            Self::Alert(_) => HistoryEvent::Alert,
            Self::Other { event, .. } => *event,
        }
    }

    /// The word written in the row's `trigger` field.
    pub fn word(&self) -> &str {
        match self {
            Self::Refresh(trigger) => trigger.word(),
            Self::Exchange => EXCHANGE,
            Self::Inspect(reason) => reason.word(),
            Self::Publish(target) => target.word(),
            Self::Send(channel) => channel.word(),
            Self::Alert(kind) => kind.word(),
            Self::Other { word, .. } => word,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(self.word())
    }
}

impl From<Trigger> for Cause {
    fn from(trigger: Trigger) -> Self {
        Self::Refresh(trigger)
    }
}

impl From<InspectReason> for Cause {
    fn from(reason: InspectReason) -> Self {
        Self::Inspect(reason)
    }
}

impl From<PublishTarget> for Cause {
    fn from(target: PublishTarget) -> Self {
        Self::Publish(target)
    }
}

impl From<SendChannel> for Cause {
    fn from(channel: SendChannel) -> Self {
        Self::Send(channel)
    }
}

impl From<AlertKind> for Cause {
    fn from(kind: AlertKind) -> Self {
        Self::Alert(kind)
    }
}

#[cfg(test)]
#[path = "cause_tests.rs"]
mod tests;
