//! The loop draws a fleet screen only when it would change: ticks inside the same second with
//! countdowns shown as days, and events about accounts off the page, draw nothing; the next
//! second, an account on the page changing, or any input, draws. Frames are counted on a test
//! backend under a paused tokio clock, with the dashboard's clock stepped by hand.

use crate::dashboard_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use tokentop::engine::{Engine, EngineEvent, EngineOptions, TokenState};
use tokentop::graph::GraphClient;
use tokentop::tui::{App, Msg};
use tokio::sync::mpsc;

/// A test backend that counts the frames flushed to it.
struct Counting {
    inner: TestBackend,
    frames: Arc<AtomicUsize>,
}

impl Backend for Counting {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.frames.fetch_add(1, Ordering::SeqCst);
        self.inner.flush()
    }
}

/// The loop running on a counting backend, its inputs, and the clock its ticks read.
struct Running {
    frames: Arc<AtomicUsize>,
    clock: Arc<Mutex<DateTime<Utc>>>,
    events: mpsc::UnboundedSender<EngineEvent>,
    input: mpsc::UnboundedSender<Msg>,
    task: tokio::task::JoinHandle<(Terminal<Counting>, App)>,
}

impl Running {
    fn start(mut app: App, width: u16, height: u16) -> Running {
        let frames = Arc::new(AtomicUsize::new(0));
        let clock = Arc::new(Mutex::new(app.now));
        let (events, mut loop_events) = mpsc::unbounded_channel();
        let (input, input_rx) = mpsc::unbounded_channel::<Msg>();
        let input_stream = Box::pin(stream::unfold(input_rx, |mut rx| async move {
            rx.recv().await.map(|msg| (msg, rx))
        }));
        let backend = Counting {
            inner: TestBackend::new(width, height),
            frames: Arc::clone(&frames),
        };
        let read_clock = Arc::clone(&clock);
        let task = tokio::spawn(async move {
            // An engine with no accounts: the loop only needs a handle to send commands to.
            let mut settings = dashboard_support::settings();
            settings.accounts.clear();
            let dir = tempfile::tempdir().unwrap();
            settings.data_dir = dir.path().to_path_buf();
            let client = GraphClient::new(&settings.graph).unwrap();
            let (engine, _engine_events) =
                Engine::start(&settings, Arc::new(client), EngineOptions::default());
            let mut terminal = Terminal::new(backend).unwrap();
            tokentop::tui::run_with_clock(
                &mut terminal,
                &mut app,
                input_stream,
                &engine,
                &mut loop_events,
                move || *read_clock.lock().unwrap(),
            )
            .await
            .unwrap();
            (terminal, app)
        });
        Running {
            frames,
            clock,
            events,
            input,
            task,
        }
    }

    /// Sets the dashboard's clock to `secs` (and a fraction) after the fixed test clock, then
    /// lets several ticks pass.
    async fn ticks_at(&self, secs: f64) {
        let nanos = (secs * 1e9) as i64;
        *self.clock.lock().unwrap() =
            dashboard_support::fixed_now() + chrono::Duration::nanoseconds(nanos);
        tokio::time::sleep(Duration::from_millis(3_500)).await;
    }

    async fn event(&self, event: EngineEvent) {
        self.events.send(event).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    fn frames(&self) -> usize {
        self.frames.load(Ordering::SeqCst)
    }

    async fn stop(self) -> (Terminal<Counting>, App) {
        drop(self.input);
        self.task.await.unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn ticks_and_off_page_events_that_change_nothing_on_screen_draw_nothing() {
    // 80 columns: countdowns are shown as days (`30d`), ages as minutes or hours.
    let app = dashboard_support::fleet_app(1000);
    let running = Running::start(app, 80, 24);
    running.ticks_at(0.0).await;
    let first = running.frames();
    assert!(first >= 1, "the first frame is drawn");

    running.ticks_at(0.3).await;
    running.ticks_at(0.9).await;
    assert_eq!(running.frames(), first, "the same second: nothing changed");

    // The last account in the table: never-expiring (i % 10 == 4), the name last of those.
    let mut off_page = dashboard_support::fleet_snapshot(994);
    off_page.last_error = Some("a detail the table does not show".to_string());
    running
        .event(EngineEvent::Account(std::sync::Arc::new(off_page)))
        .await;
    running
        .event(EngineEvent::Phone(Box::new(dashboard_support::phone(
            &dashboard_support::fleet_name(994),
        ))))
        .await;
    assert_eq!(running.frames(), first, "nothing on the page changed");

    running.ticks_at(1.0).await;
    assert_eq!(
        running.frames(),
        first + 1,
        "the clock shows the next second"
    );

    // An account on the page goes from re-auth to expired: its state cell changes.
    let mut on_page = dashboard_support::fleet_snapshot(0);
    on_page.state = TokenState::Expired;
    running
        .event(EngineEvent::Account(std::sync::Arc::new(on_page)))
        .await;
    assert_eq!(running.frames(), first + 2, "a row on the page changed");

    // A resize to the same size changes nothing either, but input always draws.
    running
        .input
        .send(Msg::Resize {
            width: 80,
            height: 24,
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(running.frames(), first + 3, "input is always answered");

    let (terminal, _) = running.stop().await;
    let screen = terminal.backend().inner.to_string();
    assert!(screen.contains("14:03:13"), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn a_countdown_shown_to_the_second_draws_every_second() {
    // Seven accounts at 120 columns: access countdowns in full (`30d 01:00:00`).
    let app = dashboard_support::fleet_app(7);
    let running = Running::start(app, 120, 40);
    running.ticks_at(0.0).await;
    let first = running.frames();
    running.ticks_at(0.5).await;
    assert_eq!(running.frames(), first);
    for second in 1..=3 {
        running.ticks_at(f64::from(second)).await;
        assert_eq!(running.frames(), first + second as usize);
    }
    let (terminal, _) = running.stop().await;
    let screen = terminal.backend().inner.to_string();
    // acme-02 (i = 1): 30 days and one hour left at the fixed clock, three seconds ago.
    assert!(screen.contains("30d 00:59:57"), "{screen}");
}

#[tokio::test(start_paused = true)]
async fn frames_that_move_only_the_clock_show_what_a_whole_paint_would() {
    let app = dashboard_support::fleet_app(1000);
    let running = Running::start(app, 120, 40);
    running.ticks_at(0.0).await;
    let first = running.frames();
    for second in 1..=3 {
        running.ticks_at(f64::from(second)).await;
    }
    assert_eq!(
        running.frames(),
        first + 3,
        "one frame a second, for the clock"
    );
    let (terminal, mut app) = running.stop().await;
    let mut whole = Terminal::new(TestBackend::new(120, 40)).unwrap();
    tokentop::tui::draw_first(&mut whole, &mut app).unwrap();
    let screen = whole.backend().to_string();
    assert!(screen.contains("14:03:15"), "{screen}");
    assert_eq!(terminal.backend().inner.buffer(), whole.backend().buffer());
}
