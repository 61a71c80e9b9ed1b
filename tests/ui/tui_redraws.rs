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
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Position, Size};
use tokentop::engine::{Engine, EngineEvent, EngineOptions, TokenState};
use tokentop::graph::GraphClient;
use tokentop::tui::{App, Msg};
use tokio::sync::mpsc;

/// A test backend that counts the frames flushed to it, keeps a copy of the last one, and
/// takes the size the test gives it (a resize between frames).
struct Counting {
    inner: TestBackend,
    frames: Arc<AtomicUsize>,
    shown: Arc<Mutex<Buffer>>,
    size: Arc<Mutex<Size>>,
}

impl Counting {
    /// Resizes the test backend to the size the test set, as a terminal would have been.
    fn follow_size(&mut self) {
        let size = *self.size.lock().unwrap();
        if self.inner.buffer().area.as_size() != size {
            self.inner.resize(size.width, size.height);
        }
    }
}

impl Backend for Counting {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.follow_size();
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
        self.follow_size();
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        Ok(*self.size.lock().unwrap())
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.frames.fetch_add(1, Ordering::SeqCst);
        *self.shown.lock().unwrap() = self.inner.buffer().clone();
        self.inner.flush()
    }
}

/// The loop running on a counting backend, its inputs, and the clock its ticks read.
struct Running {
    frames: Arc<AtomicUsize>,
    shown: Arc<Mutex<Buffer>>,
    size: Arc<Mutex<Size>>,
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
        let shown = Arc::new(Mutex::new(Buffer::default()));
        let size = Arc::new(Mutex::new(Size::new(width, height)));
        let backend = Counting {
            inner: TestBackend::new(width, height),
            frames: Arc::clone(&frames),
            shown: Arc::clone(&shown),
            size: Arc::clone(&size),
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
            shown,
            size,
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

/// The loop beside a copy of its app that the test feeds the same messages: after each step
/// the frame on the loop's screen must be what a whole paint of the copy draws.
struct Mirrored {
    running: Running,
    app: App,
    /// The screen the copy showed at the last step, to tell how the loop drew the next one.
    screen: Option<tokentop::ui::screens::Screen>,
}

impl Mirrored {
    async fn tick(&mut self, secs: i64) {
        self.running.ticks_at(secs as f64).await;
        let now = dashboard_support::fixed_now() + chrono::Duration::seconds(secs);
        self.app.update(Msg::Tick(now));
    }

    async fn input(&mut self, msg: impl Fn() -> Msg) {
        self.running.input.send(msg()).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.app.update(msg());
    }

    async fn engine(&mut self, event: impl Fn() -> EngineEvent) {
        self.running.event(event()).await;
        self.app.update(Msg::Engine(event()));
    }

    /// Events the loop applies together, before one frame.
    async fn engine_batch(&mut self, events: impl Fn() -> Vec<EngineEvent>) {
        for event in events() {
            self.running.events.send(event).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        for event in events() {
            self.app.update(Msg::Engine(event));
        }
    }

    /// Whether the loop could paint this step over the last frame (else it painted whole);
    /// panics unless the loop's frame is the whole paint.
    fn check(&mut self, step: &str) -> bool {
        let size = *self.running.size.lock().unwrap();
        let mut whole = Terminal::new(TestBackend::new(size.width, size.height)).unwrap();
        whole
            .draw(|frame| tokentop::ui::render(frame, &self.app))
            .unwrap();
        let shown = self.running.shown.lock().unwrap().clone();
        assert_eq!(&shown, whole.backend().buffer(), "{step}");
        let area = ratatui::layout::Rect::from((Position::ORIGIN, size));
        let screen = tokentop::ui::screen(&self.app, area, None);
        let over = match (&screen, &self.screen) {
            (Some(screen), Some(last)) => screen.paints_over(last),
            _ => false,
        };
        self.screen = screen;
        over
    }
}

#[tokio::test(start_paused = true)]
async fn account_frames_painted_over_the_last_show_what_a_whole_paint_would() {
    // The countdowns of an expiring token move every second, as does the clock.
    let app = || dashboard_support::app_with(dashboard_support::expiring("staging"));
    let mut app_copy = app();
    app_copy.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    let mut mirrored = Mirrored {
        running: Running::start(app(), 120, 40),
        app: app_copy,
        screen: None,
    };
    mirrored.tick(0).await;
    mirrored.check("first frame");
    for second in 1..=2 {
        mirrored.tick(second).await;
        assert!(mirrored.check("a tick"), "painted over the last frame");
    }
    mirrored.input(|| dashboard_support::ch('f')).await;
    assert!(!mirrored.check("focus moved to the logs"));
    mirrored.tick(3).await;
    assert!(mirrored.check("a tick after the focus moved"));
    mirrored.input(|| dashboard_support::ch('?')).await;
    mirrored.check("help opened");
    mirrored.tick(4).await;
    mirrored.check("a tick under the help");
    mirrored.input(|| dashboard_support::ch('?')).await;
    mirrored.check("help closed");
    mirrored.tick(5).await;
    assert!(mirrored.check("a tick after the help closed"));
    // Webhook news of the phone: a line more in the delivery panel, its border the same;
    // the next tick paints the clock over cells that must hold that line.
    mirrored
        .engine(|| {
            let mut phone = dashboard_support::phone("staging");
            let news = dashboard_support::phone_news("staging", "FLAGGED", "TIER_10K", 90);
            phone.webhook = Some(news);
            EngineEvent::Phone(Box::new(phone))
        })
        .await;
    assert!(mirrored.check("phone news"));
    for second in 6..=14 {
        mirrored.tick(second).await;
        assert!(mirrored.check("a tick after the phone news"));
    }
    // The news goes as an error is counted in the logs' title (a border: a whole frame). Its
    // line is blank again, as in the last whole frame (the help closed) but not on the
    // terminal: the whole frame must be compared with the cells written since.
    mirrored
        .engine_batch(|| {
            let mut telemetry = dashboard_support::telemetry();
            telemetry.levels_1h.error += 1;
            vec![
                EngineEvent::Phone(Box::new(dashboard_support::phone("staging"))),
                EngineEvent::Telemetry(Box::new(telemetry)),
            ]
        })
        .await;
    assert!(!mirrored.check("the news went as an error was counted"));
    mirrored.tick(15).await;
    assert!(mirrored.check("a tick after the error was counted"));
    mirrored.input(|| dashboard_support::ch('f')).await;
    assert!(!mirrored.check("focus back on the history"));
    mirrored.tick(16).await;
    assert!(mirrored.check("a tick after the focus moved back"));
    // 30 rows: no charts until `c`, then the charts alone with the keys on their border.
    *mirrored.running.size.lock().unwrap() = Size::new(100, 30);
    mirrored
        .input(|| Msg::Resize {
            width: 100,
            height: 30,
        })
        .await;
    mirrored.check("resized");
    mirrored.tick(17).await;
    assert!(mirrored.check("a tick after the resize"));
    mirrored.input(|| dashboard_support::ch('c')).await;
    mirrored.check("charts shown");
    mirrored.tick(18).await;
    assert!(mirrored.check("a tick with the charts"));
    let (terminal, _) = mirrored.running.stop().await;
    let screen = terminal.backend().inner.to_string();
    assert!(
        screen.contains("14:03:30") && screen.contains("Token lifetime"),
        "{screen}"
    );
}
