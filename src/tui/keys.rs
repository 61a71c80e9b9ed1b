//! The key map: what every key and click does to the [`App`], depending on the open overlay.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use regex::Regex;

use super::app::{App, Charts, Focus, Overlay, PAGE_ROWS};
use super::fleet::View;
use super::msg::Effect;
use crate::engine::EngineCommand;

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return vec![Effect::Quit];
        }
        match self.overlay.take() {
            None if self.view == View::Fleet => self.on_fleet_key(key),
            None => self.on_dashboard_key(key),
            Some(Overlay::Help) => self.on_help_key(key),
            Some(Overlay::Cluster) => self.on_cluster_key(key),
            Some(Overlay::ConfirmSend { account, to }) => self.on_confirm_key(key, account, to),
            Some(Overlay::Notice { .. }) => Vec::new(),
            Some(Overlay::Filter { input, error }) => {
                self.on_filter_key(key, input, error);
                Vec::new()
            }
            Some(Overlay::Templates { scroll }) => self.on_templates_key(key, scroll),
        }
    }

    fn on_dashboard_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc if self.fleet.shown => self.show_fleet(),
            KeyCode::Char('q') | KeyCode::Esc => return vec![Effect::Quit],
            KeyCode::Char('F') => self.show_fleet(),
            KeyCode::Char('r') => return self.force_refresh(),
            KeyCode::Char('t') => self.ask_send_test(),
            KeyCode::Tab => self.select_relative(1),
            KeyCode::BackTab => self.select_relative(-1),
            KeyCode::Char(c @ '1'..='9') => {
                let index = usize::from(c as u8 - b'1');
                if index < self.accounts.len() {
                    self.selected = index;
                }
            }
            KeyCode::Char('f') | KeyCode::Left | KeyCode::Right => {
                self.focus = match self.focus {
                    Focus::History => Focus::Logs,
                    Focus::Logs => Focus::History,
                };
            }
            KeyCode::Up => self.scroll_visual(-1),
            KeyCode::Down => self.scroll_visual(1),
            KeyCode::PageUp => self.scroll_visual(-(PAGE_ROWS as isize)),
            KeyCode::PageDown => self.scroll_visual(PAGE_ROWS as isize),
            KeyCode::Home | KeyCode::End => self.reset_scroll(),
            KeyCode::Char('/') => {
                let input = self.logs.filter().map(|re| re.as_str().to_string());
                self.overlay = Some(Overlay::Filter {
                    input: input.unwrap_or_default(),
                    error: None,
                });
            }
            KeyCode::Char('p') => {
                let paused = !self.logs.is_paused();
                self.logs.set_paused(paused);
            }
            KeyCode::Char('?') => self.overlay = Some(Overlay::Help),
            KeyCode::Char('c') => self.toggle_charts(),
            KeyCode::Char('C') => self.show_cluster(),
            KeyCode::Char('T') => return self.show_templates(),
            _ => {}
        }
        Vec::new()
    }

    /// Hides the charts where they are drawn, shows them where they are not: what the
    /// operator sees flips whatever the terminal's height.
    fn toggle_charts(&mut self) {
        let shown = crate::ui::charts::visible(self.charts, self.size.1);
        self.charts = if shown { Charts::Hidden } else { Charts::Shown };
    }

    /// The cluster overlay, or why there is none.
    pub(super) fn show_cluster(&mut self) {
        self.overlay = Some(match self.cluster {
            Some(_) => Overlay::Cluster,
            None => Overlay::Notice {
                title: "No cluster".to_string(),
                text: "No cluster status: tokens are shared through Redis only with\n\
                       [cluster] redis-url in the config file; its first status comes\n\
                       within seconds of the start."
                    .to_string(),
            },
        });
    }

    fn on_cluster_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Char('q') => vec![Effect::Quit],
            KeyCode::Esc | KeyCode::Char('C') | KeyCode::Enter => Vec::new(),
            _ => {
                self.overlay = Some(Overlay::Cluster);
                Vec::new()
            }
        }
    }

    fn on_help_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Char('q') => vec![Effect::Quit],
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Enter => Vec::new(),
            _ => {
                self.overlay = Some(Overlay::Help);
                Vec::new()
            }
        }
    }

    fn on_confirm_key(&mut self, key: KeyEvent, account: String, to: String) -> Vec<Effect> {
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                let request_id = self.next_request_id();
                if let Some(view) = self.accounts.iter_mut().find(|a| a.name() == account) {
                    view.send_pending = Some(request_id);
                }
                vec![Effect::Send(EngineCommand::SendTest {
                    account,
                    to: Some(to),
                    request_id,
                })]
            }
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => Vec::new(),
            _ => {
                self.overlay = Some(Overlay::ConfirmSend { account, to });
                Vec::new()
            }
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent, mut input: String, error: Option<String>) {
        match key.code {
            KeyCode::Esc => return,
            KeyCode::Enter => {
                if input.is_empty() {
                    self.logs.set_filter(None);
                    self.log_scroll = 0;
                    return;
                }
                match Regex::new(&input) {
                    Ok(re) => {
                        self.logs.set_filter(Some(re));
                        self.log_scroll = 0;
                    }
                    Err(err) => {
                        self.overlay = Some(Overlay::Filter {
                            input,
                            error: Some(regex_error_line(&err)),
                        });
                    }
                }
                return;
            }
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
            KeyCode::Char(c) => input.push(c),
            _ => {}
        }
        self.overlay = Some(Overlay::Filter { input, error });
    }

    pub(super) fn force_refresh(&mut self) -> Vec<Effect> {
        let request_id = self.next_request_id();
        let Some(view) = self.selected_account_mut() else {
            return Vec::new();
        };
        if view.refresh_pending.is_some() {
            return Vec::new();
        }
        view.refresh_pending = Some(request_id);
        vec![Effect::Send(EngineCommand::ForceRefresh {
            account: Some(view.name().to_string()),
            request_id,
        })]
    }

    pub(super) fn ask_send_test(&mut self) {
        let config = self.config_path.as_ref().map_or_else(
            || "your config file (`tokentop config path` shows where)".to_string(),
            |p| p.display().to_string(),
        );
        let Some(view) = self.selected_account() else {
            return;
        };
        let account = view.name().to_string();
        if view.send_pending.is_some() {
            self.overlay = Some(Overlay::Notice {
                title: "Test message".to_string(),
                text: format!("A test message from {account} is already on its way."),
            });
            return;
        }
        self.overlay = Some(match view.snapshot.test_recipient.clone() {
            Some(to) => Overlay::ConfirmSend { account, to },
            None => Overlay::Notice {
                title: "No test recipient".to_string(),
                text: format!(
                    "Account {account} has no test recipient. Add to {config}:\n\n\
                     [account.test-message]\nto = \"15551234567\"   # digits with country code\n\n\
                     under the [[account]] named {account:?}, then restart tokentop."
                ),
            },
        });
    }

    fn select_relative(&mut self, step: isize) {
        let count = self.accounts.len();
        if count == 0 {
            return;
        }
        let next = (self.selected as isize + step).rem_euclid(count as isize);
        self.selected = next as usize;
    }

    /// Scrolls the focused panel; negative moves the view up the screen.
    fn scroll_visual(&mut self, rows: isize) {
        match self.focus {
            // History: newest row on top, so scrolling down goes back in time.
            Focus::History => {
                if let Some(view) = self.selected_account_mut() {
                    let max = view.history.len().saturating_sub(1);
                    view.history_scroll = shift(view.history_scroll, rows, max);
                }
            }
            // Logs: newest line at the bottom, so scrolling up goes back in time.
            Focus::Logs => {
                let max = self.logs.len().saturating_sub(1);
                self.log_scroll = shift(self.log_scroll, -rows, max);
            }
        }
    }

    fn reset_scroll(&mut self) {
        match self.focus {
            Focus::History => {
                if let Some(view) = self.selected_account_mut() {
                    view.history_scroll = 0;
                }
            }
            Focus::Logs => self.log_scroll = 0,
        }
    }

    pub(super) fn on_mouse(&mut self, mouse: MouseEvent) {
        // The fleet's top border has no tabs to click.
        if !self.mouse || self.overlay.is_some() || self.view == View::Fleet {
            return;
        }
        if mouse.kind == MouseEventKind::Down(MouseButton::Left)
            && let Some(index) = crate::ui::header::tab_at(self, mouse.column, mouse.row)
        {
            self.selected = index;
        }
    }
}

fn shift(value: usize, by: isize, max: usize) -> usize {
    value.saturating_add_signed(by).min(max)
}

/// The regex crate's message is a multi-line picture; its last line names the problem.
fn regex_error_line(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&text);
    last.trim().trim_start_matches("error: ").to_string()
}
