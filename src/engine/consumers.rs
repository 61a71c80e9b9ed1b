//! Who took the current token after it was published: readers of the token endpoint (each by
//! its name) and applications still sending the previous token through the proxy. Pure: the
//! account actor feeds it what it hears and shows its [`ConsumerView`] in the snapshot.

use std::collections::BTreeMap;

use serde::Serialize;

/// Something a consumer did with an account's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// A named reader of the token endpoint fetched the current token.
    Read { reader: String },
    /// A request through the proxy carried the previous token of its own (the application
    /// never picked up the rotation).
    StaleSend,
}

/// One reader as the dashboard, `check` and `/status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderView {
    pub name: String,
    /// Unix seconds of its last read; `None` for a configured reader that never read.
    pub last_read_at: Option<i64>,
    /// It read the token after it was last published.
    pub picked_up: bool,
}

/// The consumers of one account's current token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerView {
    /// Unix seconds at which every publish target last took the current token.
    pub published_at: Option<i64>,
    /// Configured readers first (in their order), then readers seen that were not configured.
    pub readers: Vec<ReaderView>,
    /// Proxied sends that carried the previous token since the current one was published.
    pub stale_sends: u64,
}

impl ConsumerView {
    /// No reader is known and no stale send was seen: nothing to show.
    pub fn is_quiet(&self) -> bool {
        self.readers.is_empty() && self.stale_sends == 0
    }

    /// Readers that read since the publish, and all readers.
    pub fn picked_up(&self) -> (usize, usize) {
        let took = self.readers.iter().filter(|r| r.picked_up).count();
        (took, self.readers.len())
    }
}

/// What the actor keeps about its token's consumers.
#[derive(Debug, Clone, Default)]
pub struct Consumers {
    expected: Vec<String>,
    published_at: Option<i64>,
    last_reads: BTreeMap<String, i64>,
    stale_sends: u64,
}

impl Consumers {
    /// `expected`: the readers configured for this account, shown even before they read.
    pub fn new(expected: Vec<String>) -> Self {
        Self {
            expected,
            ..Self::default()
        }
    }

    /// Every publish target took the current token at `at`.
    pub fn published(&mut self, at: i64) {
        self.published_at = Some(at);
        self.stale_sends = 0;
    }

    /// Notes what a consumer did at `at`; true when it is the first stale send since the
    /// publish (worth one log line).
    pub fn record(&mut self, consumed: Consumed, at: i64) -> bool {
        match consumed {
            Consumed::Read { reader } => {
                self.last_reads.insert(reader, at);
                false
            }
            Consumed::StaleSend => {
                self.stale_sends = self.stale_sends.saturating_add(1);
                self.stale_sends == 1
            }
        }
    }

    pub fn view(&self) -> ConsumerView {
        let picked_up = |at: Option<i64>| match (at, self.published_at) {
            (Some(read), Some(published)) => read >= published,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let unexpected = self
            .last_reads
            .keys()
            .filter(|name| !self.expected.contains(name));
        let readers = self
            .expected
            .iter()
            .chain(unexpected)
            .map(|name| {
                let last_read_at = self.last_reads.get(name).copied();
                ReaderView {
                    name: name.clone(),
                    last_read_at,
                    picked_up: picked_up(last_read_at),
                }
            })
            .collect();
        ConsumerView {
            published_at: self.published_at,
            readers,
            stale_sends: self.stale_sends,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str) -> Consumed {
        Consumed::Read {
            reader: name.to_string(),
        }
    }

    #[test]
    fn a_reader_has_picked_up_only_when_it_read_after_the_publish() {
        let mut consumers = Consumers::new(vec!["eso".into(), "vault".into(), "n8n".into()]);
        consumers.record(read("eso"), 100);
        consumers.published(150);
        consumers.record(read("vault"), 160);
        consumers.record(read("n8n"), 150);
        let view = consumers.view();
        assert_eq!(view.picked_up(), (2, 3));
        assert_eq!(view.readers[0].last_read_at, Some(100));
        assert!(!view.readers[0].picked_up);
        assert!(view.readers[1].picked_up && view.readers[2].picked_up);
    }

    #[test]
    fn unconfigured_readers_follow_the_configured_ones_and_unread_ones_are_shown() {
        let mut consumers = Consumers::new(vec!["eso".into()]);
        consumers.record(read("adhoc"), 10);
        let view = consumers.view();
        let names: Vec<&str> = view.readers.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["eso", "adhoc"]);
        assert_eq!(view.readers[0].last_read_at, None);
        assert_eq!(view.picked_up(), (1, 2));
    }

    #[test]
    fn stale_sends_count_from_the_publish_and_only_the_first_is_news() {
        let mut consumers = Consumers::new(Vec::new());
        consumers.published(10);
        assert!(consumers.record(Consumed::StaleSend, 11));
        assert!(!consumers.record(Consumed::StaleSend, 12));
        assert_eq!(consumers.view().stale_sends, 2);
        consumers.published(20);
        assert_eq!(consumers.view().stale_sends, 0);
        assert!(consumers.record(Consumed::StaleSend, 21));
    }
}
