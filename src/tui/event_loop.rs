//! The dashboard loop: merges terminal input, engine events and the clock tick into
//! [`Msg`]s, applies them to the [`App`], runs the effects, and redraws when something changed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::MissedTickBehavior;

use super::app::App;
use super::msg::{Effect, Msg};
use crate::engine::{EngineEvent, EngineHandle};

/// Messages applied before one redraw at most, so a burst cannot starve the screen.
const MAX_BATCH: usize = 256;

/// Why the dashboard could not draw.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the dashboard: {0}")]
pub struct DrawError(String);

/// Runs the dashboard until a quit key, [`Msg::Quit`], or the end of `input`.
///
/// Redraws once after each batch of messages and on every `app.tick`, unless the screen would
/// not change (see [`crate::ui::screen`]); it never waits on the network (the engine runs in
/// its own tasks). The caller shuts the engine down afterwards.
pub async fn run<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    input: S,
    engine: &EngineHandle,
    events: &mut UnboundedReceiver<EngineEvent>,
) -> Result<(), DrawError>
where
    B: Backend,
    S: Stream<Item = Msg> + Unpin,
{
    run_with_clock(terminal, app, input, engine, events, Utc::now).await
}

/// [`run`] with the clock each tick reads: tests step it by hand.
pub async fn run_with_clock<B, S, C>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    input: S,
    engine: &EngineHandle,
    events: &mut UnboundedReceiver<EngineEvent>,
    clock: C,
) -> Result<(), DrawError>
where
    B: Backend,
    S: Stream<Item = Msg> + Unpin,
    C: Fn() -> DateTime<Utc>,
{
    let mut drawn = Drawn::default();
    let mut input = input.fuse();
    let mut tick = tokio::time::interval(app.tick.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut engine_open = true;
    fit_to_terminal(terminal, app);
    draw(terminal, app, &mut drawn)?;
    loop {
        // Engine events first: what the engine already said is shown before a later key acts.
        let first = tokio::select! {
            biased;
            event = events.recv(), if engine_open => match event {
                Some(event) => Msg::Engine(event),
                None => { engine_open = false; continue; }
            },
            msg = input.next() => match msg {
                Some(msg) => msg,
                None => return Ok(()),
            },
            _ = tick.tick() => Msg::Tick(clock()),
        };
        if !matches!(first, Msg::Tick(_) | Msg::Engine(_)) {
            // Keys, clicks and resizes always draw, as a person expects an answer on screen.
            drawn.screen = None;
        }
        let mut quit = apply(app, engine, first);
        for _ in 0..MAX_BATCH {
            let Ok(event) = events.try_recv() else { break };
            quit |= apply(app, engine, Msg::Engine(event));
        }
        draw(terminal, app, &mut drawn)?;
        if quit {
            return Ok(());
        }
    }
}

/// Draws `app` as it is, sized to the terminal: the frame a command shows before its engine
/// starts, as every account is known from the config alone (state unknown until the engine
/// says). [`run`] draws it again (unchanged cells cost nothing) and goes on from there.
pub fn draw_first<B: Backend>(terminal: &mut Terminal<B>, app: &mut App) -> Result<(), DrawError> {
    fit_to_terminal(terminal, app);
    draw(terminal, app, &mut Drawn::default())
}

/// Tells `app` the terminal's size (what the loop would learn from a resize).
fn fit_to_terminal<B: Backend>(terminal: &Terminal<B>, app: &mut App) {
    if let Ok(size) = terminal.size() {
        app.update(Msg::Resize {
            width: size.width,
            height: size.height,
        });
    }
}

/// Applies one message and runs its effects; true when the dashboard must end.
fn apply(app: &mut App, engine: &EngineHandle, msg: Msg) -> bool {
    let mut quit = false;
    for effect in app.update(msg) {
        match effect {
            Effect::Send(command) => {
                engine.send(command);
            }
            // A small local file, read only while the overlay is open.
            Effect::ReadTemplates(data_dir) => {
                let view = super::templates::TemplatesView::read(&data_dir, app.now);
                quit |= apply(app, engine, Msg::Templates(view));
            }
            Effect::Quit => quit = true,
        }
    }
    quit
}

/// The screen drawn last and the cells its painting left: a frame that differs only in some
/// parts (the clock on the top border each second, a panel's body) starts from a copy of those
/// cells and paints those parts alone, instead of formatting every row's graphemes again
/// (issue 21: an idle dashboard's cost follows what changed on screen).
#[derive(Default)]
struct Drawn {
    screen: Option<crate::ui::screens::Screen>,
    cells: Buffer,
}

/// How a frame was drawn.
enum Painted {
    /// These parts over the kept cells: the only cells that changed.
    Over(Vec<Rect>),
    /// The screen whole.
    Whole,
    /// By `crate::ui::render`: no screen, or one built for another size than the frame's.
    Rendered,
}

/// Draws `app` unless it would show `drawn`, the screen drawn last (which it then becomes).
/// Skipping leaves the terminal's buffers as they were, so the next frame is still diffed
/// against what is on screen.
fn draw<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &App,
    drawn: &mut Drawn,
) -> Result<(), DrawError> {
    // The size of the last frame: asking the terminal costs an open of /dev/tty, which
    // `Terminal::draw` does anyway, and a frame of another size is rendered whole.
    let area = terminal.get_frame().area();
    let screen = crate::ui::screen(app, area);
    let over = match (&screen, &drawn.screen) {
        (Some(screen), Some(old)) if screen == old => return Ok(()),
        (Some(screen), Some(old)) if screen.paints_over(old) => Some(old),
        _ => None,
    };
    let mut painted = Painted::Rendered;
    let completed = terminal
        .draw(|frame| match (&screen, over) {
            (Some(_), _) if frame.area() != area => crate::ui::render(frame, app),
            // The kept cells are of the frame's size unless the terminal was resized since.
            (Some(screen), Some(old)) if frame.area() == drawn.cells.area => {
                frame.buffer_mut().content.clone_from(&drawn.cells.content);
                painted = Painted::Over(screen.paint_over(old, frame));
            }
            (Some(screen), _) => {
                screen.paint(frame);
                painted = Painted::Whole;
            }
            (None, _) => crate::ui::render(frame, app),
        })
        .map_err(|err| DrawError(err.to_string()))?;
    match &painted {
        Painted::Over(parts) => keep(&mut drawn.cells, completed.buffer, parts),
        Painted::Whole => {
            // Into the cells kept from before: a buffer's derived `clone_from` would allocate.
            drawn.cells.area = completed.buffer.area;
            drawn.cells.content.clone_from(&completed.buffer.content);
        }
        Painted::Rendered => {}
    }
    drawn.screen = screen.filter(|_| !matches!(painted, Painted::Rendered));
    Ok(())
}

/// Copies the cells of `parts` from `frame` into `cells`, the rest of which `frame` shares.
fn keep(cells: &mut Buffer, frame: &Buffer, parts: &[Rect]) {
    for part in parts {
        for y in part.top()..part.bottom() {
            for x in part.left()..part.right() {
                if let (Some(kept), Some(new)) = (cells.cell_mut((x, y)), frame.cell((x, y))) {
                    kept.clone_from(new);
                }
            }
        }
    }
}
