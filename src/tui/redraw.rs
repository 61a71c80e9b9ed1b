//! How the loop draws a frame: it skips one equal to the last, writes straight to the
//! terminal only the cells of the parts that changed (the clock, a panel's body), or draws the
//! frame whole through ratatui (issue 21: an idle dashboard's cost follows what changed).

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::Rect;

use super::app::App;
use crate::ui::screens::{Screen, copy_cells};

/// Why the dashboard could not draw.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the dashboard: {0}")]
pub struct DrawError(String);

fn draw_error(err: impl std::fmt::Display) -> DrawError {
    DrawError(err.to_string())
}

/// The screen drawn last and the cells on the terminal since.
#[derive(Default)]
pub(super) struct Drawn {
    screen: Option<Screen>,
    /// The terminal's cells as drawn last.
    cells: Buffer,
    /// A copy of `cells` that the parts of the next screen are painted into.
    next: Buffer,
    /// Cells were written around ratatui since its last frame, so its copy of the terminal
    /// (what its next frame is compared with) is out of date.
    written: bool,
}

impl Drawn {
    /// Makes the next frame a whole one (input is always answered by a whole frame).
    pub(super) fn forget_screen(&mut self) {
        self.screen = None;
    }
}

/// Draws `app` unless it would show `drawn`, the screen drawn last (which it then becomes).
pub(super) fn draw<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &App,
    drawn: &mut Drawn,
) -> Result<(), DrawError> {
    // The size of the last frame: asking the terminal costs an open of /dev/tty, which
    // `Terminal::draw` does anyway, and a frame of another size is rendered whole.
    let area = terminal.get_frame().area();
    let screen = crate::ui::screen(app, area, drawn.screen.as_ref());
    let parts = match (&screen, &drawn.screen) {
        (Some(screen), Some(old)) if screen == old => return Ok(()),
        // `next` holds the cells of `old` when they are of this size.
        (Some(screen), Some(old)) if drawn.cells.area == area => {
            screen.paint_over(old, &mut drawn.next)
        }
        _ => None,
    };
    match parts {
        Some(parts) => {
            write_parts(terminal, drawn, &parts)?;
            drawn.screen = screen;
            Ok(())
        }
        None => draw_whole(terminal, app, area, screen, drawn),
    }
}

/// Writes the cells of `parts` that differ between `drawn.next` and the terminal's, and
/// makes them the terminal's.
fn write_parts<B: Backend>(
    terminal: &mut Terminal<B>,
    drawn: &mut Drawn,
    parts: &[Rect],
) -> Result<(), DrawError> {
    let mut changed: Vec<(u16, u16, Cell)> = Vec::new();
    for part in parts {
        // Ratatui's diff, for what it knows of wide characters.
        let before = copy(&drawn.cells, *part);
        let after = copy(&drawn.next, *part);
        let diff = before.diff(&after);
        changed.extend(diff.into_iter().map(|(x, y, cell)| (x, y, cell.clone())));
        copy_cells(&mut drawn.cells, &drawn.next, *part);
    }
    if changed.is_empty() {
        return Ok(());
    }
    drawn.written = true;
    let backend = terminal.backend_mut();
    backend
        .draw(changed.iter().map(|(x, y, cell)| (*x, *y, cell)))
        .map_err(draw_error)?;
    Backend::flush(backend).map_err(draw_error)
}

/// Draws the frame whole through ratatui: `screen` when it is of the frame's size, else
/// `crate::ui::render`.
fn draw_whole<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &App,
    area: Rect,
    screen: Option<Screen>,
    drawn: &mut Drawn,
) -> Result<(), DrawError> {
    if drawn.written {
        catch_up(terminal, &drawn.cells).map_err(draw_error)?;
        drawn.written = false;
    }
    let mut painted = false;
    let completed = terminal
        .draw(|frame| match &screen {
            // Unless the terminal was resized since `area` was read.
            Some(screen) if frame.area() == area => {
                screen.paint(frame);
                painted = true;
            }
            _ => crate::ui::render(frame, app),
        })
        .map_err(draw_error)?;
    if painted {
        // Into the cells kept from before: a buffer's derived `clone_from` would allocate.
        for kept in [&mut drawn.cells, &mut drawn.next] {
            kept.area = completed.buffer.area;
            kept.content.clone_from(&completed.buffer.content);
        }
        drawn.screen = screen;
    } else {
        drawn.screen = None;
    }
    Ok(())
}

/// Gives ratatui `cells` as what the terminal shows, after cells were written around it, so
/// that its next frame is compared with the terminal as it is.
fn catch_up<B: Backend>(terminal: &mut Terminal<B>, cells: &Buffer) -> Result<(), B::Error> {
    let current = terminal.current_buffer_mut();
    if current.area != cells.area {
        // Not after a frame of this size: the next frame is written whole.
        return terminal.clear();
    }
    current.content.clone_from(&cells.content);
    // The copy becomes the previous frame; the out-of-date one is blanked for the next.
    terminal.swap_buffers();
    Ok(())
}

/// The cells of `part` of `buffer`, in a buffer of that area.
fn copy(buffer: &Buffer, part: Rect) -> Buffer {
    let mut copied = Buffer::empty(part);
    copy_cells(&mut copied, buffer, part);
    copied
}
