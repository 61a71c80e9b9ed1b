//! The fleet view's keys: move the selection, sort, filter by name, open an account, and the
//! switch between the fleet and the account view.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::App;
use super::fleet::{Move, View, kept, moved, page_rows};
use super::msg::Effect;

impl App {
    pub(super) fn on_fleet_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if let Some(step) = step_of(key.code) {
            self.move_fleet_selection(step);
            return Vec::new();
        }
        if self.fleet.editing {
            self.on_fleet_filter_key(key);
            return Vec::new();
        }
        if matches!(key.code, KeyCode::Char('r' | 't' | 'F') | KeyCode::Enter) {
            self.pick_cursor();
        }
        match key.code {
            KeyCode::Char('q') => return vec![Effect::Quit],
            KeyCode::Char('r') => return self.force_refresh(),
            KeyCode::Char('t') => self.ask_send_test(),
            KeyCode::Enter => self.open_selected_account(),
            KeyCode::Char('F') => self.show_account_view(),
            KeyCode::Char('/') => self.fleet.editing = true,
            // Esc clears a filter; with none it does nothing: quitting ends the refreshes.
            KeyCode::Esc => self.set_fleet_filter(String::new()),
            KeyCode::Char('s') => self.fleet.sort = self.fleet.sort.next(),
            KeyCode::Char('?') => self.overlay = Some(super::Overlay::Help),
            KeyCode::Char('C') => self.show_cluster(),
            KeyCode::Char('T') => return self.show_templates(),
            _ => {}
        }
        Vec::new()
    }

    /// The `/` prompt: typing narrows at once, Enter keeps the filter, Esc clears it.
    fn on_fleet_filter_key(&mut self, key: KeyEvent) {
        let mut filter = self.fleet.filter.clone();
        match key.code {
            KeyCode::Enter => {
                self.fleet.editing = false;
                return;
            }
            KeyCode::Esc => {
                self.fleet.editing = false;
                filter.clear();
            }
            KeyCode::Backspace => {
                filter.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => filter.clear(),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => filter.push(c),
            _ => return,
        }
        self.set_fleet_filter(filter);
    }

    /// Sets the filter; a selection it hides moves to the first listed account.
    fn set_fleet_filter(&mut self, filter: String) {
        self.fleet.filter = filter;
        if let Some(index) = kept(&self.fleet_rows(), self.selected) {
            self.selected = index;
        }
    }

    /// Makes the account under the cursor the selected one; false when no row is listed.
    fn pick_cursor(&mut self) -> bool {
        let Some(index) = self.fleet_cursor(&self.fleet_rows()) else {
            return false;
        };
        self.selected = index;
        self.fleet.picked = true;
        true
    }

    fn move_fleet_selection(&mut self, step: Move) {
        if !self.pick_cursor() {
            return;
        }
        let page = page_rows(self.size.1);
        if let Some(index) = moved(&self.fleet_rows(), self.selected, step, page) {
            self.selected = index;
        }
    }

    fn open_selected_account(&mut self) {
        if self.pick_cursor() {
            self.show_account_view();
        }
    }

    pub(super) fn show_account_view(&mut self) {
        self.view = View::Account;
    }

    pub(super) fn show_fleet(&mut self) {
        self.view = View::Fleet;
        self.fleet.shown = true;
        self.fleet.editing = false;
    }
}

fn step_of(code: KeyCode) -> Option<Move> {
    Some(match code {
        KeyCode::Up => Move::Up,
        KeyCode::Down => Move::Down,
        KeyCode::PageUp => Move::PageUp,
        KeyCode::PageDown => Move::PageDown,
        KeyCode::Home => Move::Home,
        KeyCode::End => Move::End,
        _ => return None,
    })
}
