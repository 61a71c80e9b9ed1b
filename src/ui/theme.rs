//! Colours of the dashboard. With the mono theme (or `NO_COLOR`) every style is colourless;
//! states are always also written as words and symbols, so nothing depends on colour alone.

use ratatui::style::{Color, Modifier, Style};

use crate::config::{PatternLevel, Theme};
use crate::engine::urgency::Level;

/// How urgent a countdown or state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Fine,
    Warn,
    Critical,
    /// Nothing known yet.
    Neutral,
}

/// The colour of a level of the one urgency rule, so the dashboard agrees with `check`.
impl From<Level> for Urgency {
    fn from(level: Level) -> Self {
        match level {
            Level::Ok => Urgency::Fine,
            Level::Warning => Urgency::Warn,
            Level::Critical => Urgency::Critical,
            Level::Unknown => Urgency::Neutral,
        }
    }
}

/// The styles of one theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    color: bool,
    light: bool,
}

impl Palette {
    pub fn new(theme: Theme) -> Self {
        Self {
            color: theme != Theme::Mono,
            light: theme == Theme::Light,
        }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn urgency(&self, urgency: Urgency) -> Style {
        match urgency {
            Urgency::Fine => self.fg(Color::Green),
            Urgency::Warn => self.fg(if self.light {
                Color::Rgb(160, 110, 0)
            } else {
                Color::Yellow
            }),
            Urgency::Critical => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Urgency::Neutral => self.dim(),
        }
    }

    pub fn dim(&self) -> Style {
        self.fg(if self.light {
            Color::Gray
        } else {
            Color::DarkGray
        })
    }

    pub fn label(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn accent(&self) -> Style {
        self.fg(if self.light { Color::Blue } else { Color::Cyan })
    }

    /// The banner across the token panel when a person must act: red once sending is down
    /// or about to be, yellow while there is time.
    pub fn banner(&self, urgency: Urgency) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if !self.color {
            return style.add_modifier(Modifier::REVERSED);
        }
        match urgency {
            Urgency::Critical => style.fg(Color::White).bg(Color::Red),
            _ if self.light => style.fg(Color::White).bg(Color::Rgb(160, 110, 0)),
            _ => style.fg(Color::Black).bg(Color::Yellow),
        }
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn level(&self, level: Option<PatternLevel>) -> Style {
        match level {
            Some(PatternLevel::Ok) => self.urgency(Urgency::Fine),
            Some(PatternLevel::Warn) => self.urgency(Urgency::Warn),
            Some(PatternLevel::Error) => self.fg(Color::Red),
            None => Style::new(),
        }
    }
}
