//! The dashboard state and [`App::update`]: every input becomes a state change plus effects
//! for the loop to run. No I/O happens here, so the whole dashboard is testable with a fixed
//! clock.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::fleet::{FLEET_DEFAULT_ABOVE, Fleet, View};
use super::fleet_index::FleetIndex;
use super::log_buffer::LogBuffer;
use super::msg::{Effect, Msg};
use crate::config::{Settings, Theme};
use crate::engine::history::lifetime::Lifetime;
use crate::engine::history::refresh_stats::{RefreshRates, account_rates};
use crate::engine::history::{HistoryEntry, HistoryEvent};
use crate::engine::telemetry_types::{ClassifiedLine, PhoneSnapshot, TelemetrySnapshot};
use crate::engine::{AccountSnapshot, EngineEvent, RefreshReport, RequestId, SendReport};

/// History rows kept per account (design budget: 10k rows).
pub const MAX_HISTORY_ROWS: usize = 10_000;
/// Rows moved by PgUp / PgDn.
pub const PAGE_ROWS: usize = 10;
/// The dashboard's request ids start here so they never collide with other clients' ids
/// (the demo script numbers its sends from 1).
pub const REQUEST_ID_BASE: RequestId = 1 << 40;
/// The refresh success rate is recomputed at least this often, as its windows slide.
pub const REFRESH_RATES_MAX_AGE_SECS: i64 = 60;

/// The panel that arrow keys scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    History,
    Logs,
}

/// Whether the charts band (token lifetime, delivery rate over 24 h) is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charts {
    /// Drawn when the terminal is tall enough (`ui::charts::AUTO_MIN_HEIGHT`), beside the logs.
    #[default]
    Auto,
    /// Drawn at any height: in place of the logs where there is no room for both.
    Shown,
    Hidden,
}

/// What is drawn over the dashboard and takes the keys while open.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help,
    /// The cluster's members with their last heartbeats, and the held leases (`c`).
    Cluster,
    /// Asks before sending a (real, billable) test message.
    ConfirmSend {
        account: String,
        to: String,
    },
    /// A message that any key closes.
    Notice {
        title: String,
        text: String,
    },
    /// The `/` prompt: the regex being typed and the error of the last bad one.
    Filter {
        input: String,
        error: Option<String>,
    },
    /// The message templates the webhook relay heard of (`T`), scrolled by `scroll` rows.
    Templates {
        scroll: usize,
    },
}

/// One account as the dashboard knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountView {
    /// Shared with the engine's event (and `/status`): an event per account per round at
    /// 10,000 accounts made a deep copy each.
    pub snapshot: std::sync::Arc<AccountSnapshot>,
    /// Oldest first, at most [`MAX_HISTORY_ROWS`].
    pub history: VecDeque<HistoryEntry>,
    pub phone: Option<PhoneSnapshot>,
    pub refresh_pending: Option<RequestId>,
    pub send_pending: Option<RequestId>,
    pub last_refresh: Option<(DateTime<Utc>, RefreshReport)>,
    pub last_send: Option<(DateTime<Utc>, SendReport)>,
    pub last_alert: Option<(DateTime<Utc>, String)>,
    /// Rows scrolled away from the newest history row.
    pub history_scroll: usize,
    /// The refresh success rate of [`Self::history`] and when it was computed: recomputed when
    /// a refresh row arrives and, while the account is selected, once a minute, never per
    /// frame.
    pub refresh_rates: Option<(DateTime<Utc>, RefreshRates)>,
    /// The lifetime chart's series, folded in as rows arrive so a frame never walks the
    /// history.
    pub lifetime: Lifetime,
    /// Events that changed this account so far: a kept fleet row must not have moved.
    pub(crate) changes: u64,
}

impl AccountView {
    pub fn new(snapshot: impl Into<std::sync::Arc<AccountSnapshot>>) -> Self {
        Self {
            snapshot: snapshot.into(),
            history: VecDeque::new(),
            phone: None,
            refresh_pending: None,
            send_pending: None,
            last_refresh: None,
            last_send: None,
            last_alert: None,
            history_scroll: 0,
            refresh_rates: None,
            lifetime: Lifetime::default(),
            changes: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.snapshot.name
    }

    pub fn push_history(&mut self, entry: HistoryEntry) {
        if self.history.len() >= MAX_HISTORY_ROWS {
            self.history.pop_front();
        }
        self.lifetime.push(&entry);
        self.history.push_back(entry);
        if self.history_scroll > 0 {
            // Keep the rows the operator scrolled to in place.
            self.history_scroll += 1;
        }
    }

    /// Recomputes the refresh success rate at `now` from the rows held (at most
    /// [`MAX_HISTORY_ROWS`]).
    pub fn update_refresh_rates(&mut self, now: DateTime<Utc>) {
        let rates = account_rates(&self.history, self.name(), now);
        self.refresh_rates = Some((now, rates));
    }

    /// The rate was never computed, or its windows slid for a minute since.
    fn refresh_rates_stale(&self, now: DateTime<Utc>) -> bool {
        self.refresh_rates.as_ref().is_none_or(|(at, _)| {
            now.timestamp().saturating_sub(at.timestamp()) >= REFRESH_RATES_MAX_AGE_SECS
                || *at > now
        })
    }
}

/// Everything the dashboard draws.
#[derive(Debug, Clone)]
pub struct App {
    /// The clock the countdowns are drawn against; set by [`Msg::Tick`].
    pub now: DateTime<Utc>,
    /// Snapshots change through [`Msg::Engine`], which tells the fleet's order
    /// ([`Self::fleet_table`]) to grade the account again.
    pub accounts: Vec<AccountView>,
    /// The account the account view shows and the fleet view's selection.
    pub selected: usize,
    /// The fleet table or one account; the fleet above [`FLEET_DEFAULT_ABOVE`] accounts.
    pub view: View,
    pub fleet: Fleet,
    pub focus: Focus,
    pub charts: Charts,
    pub overlay: Option<Overlay>,
    pub logs: LogBuffer,
    /// Lines scrolled away from the newest log line.
    pub log_scroll: usize,
    pub telemetry: Option<TelemetrySnapshot>,
    /// The cluster's members, leases and reachability, with `[cluster]` configured.
    pub cluster: Option<crate::engine::coordinator::ClusterStatus>,
    pub config_path: Option<PathBuf>,
    /// tokentop's own log file (shown in help).
    pub log_file: PathBuf,
    pub warn_before: Duration,
    pub critical_before: Duration,
    /// `Mono` when `NO_COLOR` is set.
    pub theme: Theme,
    pub mouse: bool,
    pub tick: Duration,
    /// False once the engine has stopped.
    pub engine_running: bool,
    /// Account files not read yet: the first frame of a large `[accounts] dir` lists the
    /// first screenful while the others are read.
    pub unread_account_files: usize,
    /// Messages applied so far other than ticks and events about one account (those count on
    /// the account's view): a fleet page made at the same counts, from the same rows, changes
    /// on a tick only where time moves it (`ui::fleet_screen`).
    pub(crate) changes: u64,
    /// The terminal size, for mouse hit tests.
    pub size: (u16, u16),
    /// Names of the configured `[[log]]` sources.
    pub log_sources: Vec<String>,
    /// Where the relay's template table is read from.
    pub data_dir: PathBuf,
    /// Each account's name and business-account-id (WABA), naming the templates' owners.
    pub account_wabas: Vec<(String, Option<String>)>,
    /// The template table as the `T` overlay last read it.
    pub templates: Option<super::templates::TemplatesView>,
    next_request_id: RequestId,
    /// A tick arrived: the clock runs, and the selected account's refresh rate follows it.
    ticked: bool,
    /// The fleet's order between frames; filled on first use.
    pub(super) fleet_index: RefCell<FleetIndex>,
    /// Accounts a reload removed: a snapshot their stopping actor still sends adds no row.
    pub(super) retired: std::collections::HashSet<String>,
    /// Where each account is in `accounts`, by name (`account_set.rs` keeps it).
    pub(super) by_name: std::collections::HashMap<String, usize>,
}

/// Events that change one account's view only (or add an account), which the view counts.
fn about_one_account(event: &EngineEvent) -> bool {
    matches!(
        event,
        EngineEvent::Account(_)
            | EngineEvent::History(_)
            | EngineEvent::RefreshFinished { .. }
            | EngineEvent::SendFinished { .. }
            | EngineEvent::Alert { .. }
            | EngineEvent::Phone(_)
            | EngineEvent::PhoneNews(_)
    )
}

impl App {
    /// A dashboard for the accounts of `settings`, drawn at `now`.
    pub fn new(settings: &Settings, log_file: PathBuf, now: DateTime<Utc>) -> Self {
        let accounts = settings
            .accounts
            .iter()
            .map(|account| {
                let mut snapshot = AccountSnapshot::new(&account.name);
                snapshot.test_recipient = account.test_message.to.clone();
                snapshot.phone_number_id = account.phone_number_id.clone();
                snapshot.business_account_id = account.business_account_id.clone();
                AccountView::new(snapshot)
            })
            .collect::<Vec<_>>();
        let many = accounts.len() > FLEET_DEFAULT_ABOVE;
        Self {
            now,
            accounts,
            selected: 0,
            view: if many { View::Fleet } else { View::Account },
            fleet: Fleet {
                shown: many,
                ..Fleet::default()
            },
            focus: Focus::History,
            charts: Charts::Auto,
            overlay: None,
            logs: LogBuffer::default(),
            log_scroll: 0,
            telemetry: None,
            cluster: None,
            config_path: settings.config_path.clone(),
            log_file,
            warn_before: settings.refresh.warn_before,
            critical_before: settings.refresh.critical_before,
            theme: settings.ui.theme,
            mouse: settings.ui.mouse,
            tick: settings.ui.tick,
            engine_running: true,
            unread_account_files: settings.account_files.unread,
            changes: 0,
            size: (80, 24),
            log_sources: settings.logs.iter().map(|l| l.name.clone()).collect(),
            data_dir: settings.data_dir.clone(),
            account_wabas: settings
                .accounts
                .iter()
                .map(|a| (a.name.clone(), a.business_account_id.clone()))
                .collect(),
            templates: None,
            next_request_id: REQUEST_ID_BASE,
            ticked: false,
            fleet_index: RefCell::default(),
            retired: std::collections::HashSet::new(),
            by_name: std::collections::HashMap::new(),
        }
    }

    /// Seeds the history panels with rows loaded from the history file (oldest first).
    pub fn load_history(&mut self, entries: impl IntoIterator<Item = HistoryEntry>) {
        for entry in entries {
            if let Some(view) = self.account_mut(&entry.account) {
                view.push_history(entry);
            }
        }
        let now = self.now;
        for view in &mut self.accounts {
            view.history_scroll = 0;
            view.update_refresh_rates(now);
        }
    }

    pub fn selected_account(&self) -> Option<&AccountView> {
        self.accounts.get(self.selected)
    }

    pub(super) fn selected_account_mut(&mut self) -> Option<&mut AccountView> {
        self.accounts.get_mut(self.selected)
    }

    /// The account named `name`, counted as changed.
    fn account_mut(&mut self, name: &str) -> Option<&mut AccountView> {
        let index = self.index_of(name)?;
        let view = self.accounts.get_mut(index)?;
        view.changes += 1;
        Some(view)
    }

    pub(super) fn next_request_id(&mut self) -> RequestId {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }

    /// Applies one input; returns what the loop must do.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match &msg {
            Msg::Tick(_) => self.ticked = true,
            Msg::Engine(event) if about_one_account(event) => {}
            _ => self.changes = self.changes.wrapping_add(1),
        }
        let effects = self.apply(msg);
        if self.ticked {
            self.refresh_selected_rates();
        }
        effects
    }

    /// Only the selected account's refresh success rate is drawn (the history panel), so once
    /// the clock runs only its rate is kept current as the windows slide: a tick costs the
    /// same with one account or a thousand, and an account selected later is brought up to
    /// date before it is drawn.
    fn refresh_selected_rates(&mut self) {
        let now = self.now;
        if let Some(view) = self.selected_account_mut()
            && view.refresh_rates_stale(now)
        {
            view.update_refresh_rates(now);
        }
    }

    fn apply(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Mouse(mouse) => {
                self.on_mouse(mouse);
                Vec::new()
            }
            Msg::Resize { width, height } => {
                self.size = (width, height);
                Vec::new()
            }
            Msg::Tick(now) => {
                self.now = now;
                self.reread_templates()
            }
            Msg::Templates(view) => {
                self.templates = Some(view);
                if let Some(Overlay::Templates { scroll }) = &mut self.overlay
                    && let Some(view) = &self.templates
                {
                    *scroll = (*scroll).min(view.rows.len().saturating_sub(1));
                }
                Vec::new()
            }
            Msg::Engine(event) => {
                self.on_engine(event);
                Vec::new()
            }
            Msg::Quit => vec![Effect::Quit],
        }
    }

    fn on_engine(&mut self, event: EngineEvent) {
        let now = self.now;
        match event {
            EngineEvent::Account(snapshot) => {
                match self.index_of(&snapshot.name) {
                    Some(index) => {
                        let was = &self.accounts[index].snapshot;
                        // Purpose and labels are filter words that a reload can change.
                        let words_changed =
                            was.purpose != snapshot.purpose || was.labels != snapshot.labels;
                        self.accounts[index].snapshot = snapshot;
                        self.accounts[index].changes += 1;
                        self.fleet_index.get_mut().touch(index);
                        if words_changed {
                            self.fleet_index.get_mut().forget_filtered();
                        }
                    }
                    // A new account: the index sees the count change and grades them all.
                    None if !self.retired.contains(&snapshot.name) => {
                        self.accounts.push(AccountView::new(snapshot));
                    }
                    None => {}
                }
            }
            EngineEvent::History(entry) => {
                if let Some(view) = self.account_mut(&entry.account) {
                    let refresh = entry.event() == HistoryEvent::Refresh;
                    view.push_history(*entry);
                    if refresh {
                        view.update_refresh_rates(now);
                    }
                }
            }
            EngineEvent::RefreshFinished { request_id, report } => {
                if let Some(view) = self.account_mut(&report.account) {
                    if view.refresh_pending == Some(request_id) {
                        view.refresh_pending = None;
                    }
                    view.last_refresh = Some((now, report));
                }
            }
            EngineEvent::SendFinished { request_id, report } => {
                if let Some(view) = self.account_mut(&report.account) {
                    if view.send_pending == Some(request_id) {
                        view.send_pending = None;
                    }
                    view.last_send = Some((now, report));
                }
            }
            EngineEvent::Alert { account, message } => {
                if let Some(view) = self.account_mut(&account) {
                    view.last_alert = Some((now, message));
                }
            }
            EngineEvent::LogLines { lines, skipped } => {
                self.logs.skipped_by_engine += skipped;
                self.push_log_lines(lines);
            }
            EngineEvent::Telemetry(snapshot) => self.telemetry = Some(*snapshot),
            EngineEvent::Phone(phone) => {
                if let Some(view) = self.account_mut(&phone.account) {
                    view.phone = Some(*phone);
                }
            }
            EngineEvent::PhoneNews(news) => {
                if let Some(view) = self.account_mut(&news.account) {
                    PhoneSnapshot::take_news(&mut view.phone, *news);
                }
            }
            EngineEvent::SourceNotice { source, message } => {
                let notice = ClassifiedLine {
                    source: source.into(),
                    received_at: now,
                    text: format!("[tokentop] {message}").into(),
                    truncated: false,
                    pattern: None,
                    level: None,
                    role: None,
                };
                self.push_log_lines(vec![notice]);
            }
            EngineEvent::Stopped => self.engine_running = false,
            // Answers the `/healthz` probe's ping; the dashboard has nothing to show.
            EngineEvent::Pong { .. } => {}
            EngineEvent::Cluster(status) => self.cluster = Some(*status),
            EngineEvent::AccountsChanged(change) => self.accounts_changed(*change),
        }
    }

    pub(super) fn push_log_lines(&mut self, lines: Vec<ClassifiedLine>) {
        let shown = self.logs.push(lines);
        if self.log_scroll > 0 {
            // Keep the lines the operator scrolled back to in place.
            self.log_scroll += shown;
        }
    }
}
