//! The dashboard loop: merges terminal input, engine events and the clock tick into
//! [`Msg`]s, applies them to the [`App`], runs the effects, and redraws when something changed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::MissedTickBehavior;

use super::app::App;
use super::msg::{Effect, Msg};
use super::redraw::{Drawn, draw};
use crate::engine::{EngineEvent, EngineHandle};

/// Messages applied before one redraw at most, so a burst cannot starve the screen.
const MAX_BATCH: usize = 256;

pub use super::redraw::DrawError;

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
            drawn.forget_screen();
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
