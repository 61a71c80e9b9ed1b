//! What the dashboard loop feeds into [`App::update`](super::App::update) and what comes back.

use chrono::{DateTime, Utc};
use crossterm::event::{Event, KeyEvent, KeyEventKind, MouseEvent};

use crate::engine::{EngineCommand, EngineEvent};

/// One input to the dashboard state.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// The clock moved on; countdowns are drawn against this time.
    Tick(DateTime<Utc>),
    Engine(EngineEvent),
    /// The template table, read for the `T` overlay.
    Templates(super::templates::TemplatesView),
    /// Quit from outside the keyboard (SIGTERM).
    Quit,
}

impl Msg {
    /// The message for a terminal event; key releases (sent by some terminals) are dropped.
    pub fn from_terminal(event: Event) -> Option<Msg> {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => Some(Msg::Key(key)),
            Event::Mouse(mouse) => Some(Msg::Mouse(mouse)),
            Event::Resize(width, height) => Some(Msg::Resize { width, height }),
            _ => None,
        }
    }
}

/// What the loop must do after an update; `App` itself never does I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Send(EngineCommand),
    /// Read `<data dir>/templates.json` and answer with [`Msg::Templates`].
    ReadTemplates(std::path::PathBuf),
    Quit,
}
