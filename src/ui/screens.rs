//! A screen the loop can compare with the one it drew last (the fleet view or the account
//! view, as data), painted whole or, over a copy of the last frame's cells, only where it
//! differs from that one.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::account_screen::AccountScreen;
use super::fleet_screen::FleetScreen;

/// Either view with no overlay open (overlays are always drawn whole).
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Fleet(FleetScreen),
    Account(AccountScreen),
}

impl Screen {
    /// Draws the whole screen into `frame`.
    pub fn paint(&self, frame: &mut Frame) {
        match self {
            Self::Fleet(screen) => screen.paint(frame),
            Self::Account(screen) => screen.paint(frame),
        }
    }

    /// True when [`paint_over`](Self::paint_over) `drawn` draws what [`paint`](Self::paint)
    /// would: the same view, laid out the same.
    pub fn paints_over(&self, drawn: &Self) -> bool {
        match (self, drawn) {
            (Self::Fleet(screen), Self::Fleet(drawn)) => screen.same_below_top(drawn),
            (Self::Account(screen), Self::Account(drawn)) => screen.paints_over(drawn),
            _ => false,
        }
    }

    /// Paints what differs from `drawn` into `buf`, which holds a painting of `drawn`, and
    /// returns the parts painted (no other cell changed); `None`, painting nothing, unless
    /// `self` [`paints_over`](Self::paints_over) `drawn`.
    pub fn paint_over(&self, drawn: &Self, buf: &mut Buffer) -> Option<Vec<Rect>> {
        match (self, drawn) {
            (Self::Fleet(screen), Self::Fleet(drawn)) if screen.same_below_top(drawn) => {
                screen.paint_top(buf);
                Some(vec![screen.top_row()])
            }
            (Self::Account(screen), Self::Account(drawn)) if screen.paints_over(drawn) => {
                Some(screen.paint_over(drawn, buf))
            }
            _ => None,
        }
    }
}

/// Copies the cells of `part` from `from` into `into` (cells outside either are skipped).
pub(crate) fn copy_cells(into: &mut Buffer, from: &Buffer, part: Rect) {
    for y in part.top()..part.bottom() {
        for x in part.left()..part.right() {
            if let (Some(kept), Some(new)) = (into.cell_mut((x, y)), from.cell((x, y))) {
                kept.clone_from(new);
            }
        }
    }
}
