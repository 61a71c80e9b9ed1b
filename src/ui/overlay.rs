//! What is drawn over the dashboard: the help, the test-message confirmation, notices, and the
//! log filter prompt (the templates overlay is `templates.rs`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::theme::{Palette, Urgency};
use crate::tui::{App, Overlay, View};

const HELP_KEYS: [(&str, &str); 16] = [
    (
        "r",
        "force a refresh of the selected account (one at a time)",
    ),
    (
        "t",
        "send the account's test message (asks first: it is billable)",
    ),
    ("tab / shift-tab", "next / previous account"),
    ("1-9", "jump to account 1-9 (or click its tab)"),
    ("f  ← →", "move focus between history and logs"),
    ("↑ ↓  PgUp PgDn", "scroll the focused panel"),
    ("Home / End", "back to the newest rows"),
    ("/", "filter log lines by regex (empty clears)"),
    ("p", "pause / resume the log panel"),
    ("c", "show / hide the charts (✗ marks a failed refresh)"),
    ("T", "message templates: paused, disabled, red first"),
    ("?", "this help"),
    ("Esc", "close a dialog or prompt, else quit"),
    ("q  Ctrl-C", "quit"),
    ("", ""),
    (
        "states",
        "✓ valid ∞ never ◷ expiring ↻ refreshing ! backoff ✗ down",
    ),
];

/// The help of the fleet view.
const FLEET_HELP_KEYS: [(&str, &str); 16] = [
    ("↑ ↓  PgUp PgDn", "move the selection"),
    ("Home / End", "first / last row"),
    ("Enter", "open the selected account (Esc comes back)"),
    ("F", "switch between this table and the account view"),
    (
        "/",
        "filter: name part, label (team=ops), class=, purpose= words",
    ),
    ("s", "sort: worst first, name, time left, state"),
    ("r", "force a refresh of the selected account"),
    ("t", "send the selected account's test message (asks first)"),
    ("T", "message templates: paused, disabled, red first"),
    ("?", "this help"),
    ("Esc", "clear the filter or close a dialog"),
    ("q  Ctrl-C", "quit"),
    ("", ""),
    (
        "columns",
        "ACCESS, LONG(-LIVED): time left · PHONE: quality, status",
    ),
    (
        "",
        "1H: test sends delivered in 1h · LAST / NEXT: refreshes",
    ),
    (
        "states",
        "✓ valid ∞ never ◷ expiring ↻ refreshing ! backoff ✗ down",
    ),
];

/// The account view's keys; with many accounts (or once the fleet was shown) also the way
/// back to the fleet.
fn help_keys(app: &App) -> Vec<(&'static str, &'static str)> {
    let mut keys = if app.view == View::Fleet {
        FLEET_HELP_KEYS.to_vec()
    } else {
        HELP_KEYS.to_vec()
    };
    if app.cluster.is_some()
        && let Some(at) = keys.iter().position(|key| key.0 == "?")
    {
        keys.insert(
            at,
            (
                "C",
                "the cluster: members' heartbeats, leases, Redis latency",
            ),
        );
    }
    if app.view == View::Fleet {
        return keys;
    }
    if app.fleet_offered() {
        for key in &mut keys {
            if key.0 == "Esc" {
                key.1 = "close a dialog or prompt, else back to the fleet";
            }
        }
        keys.insert(3, ("F", "the fleet: all accounts in one table"));
    }
    keys
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    match &app.overlay {
        None => {}
        Some(Overlay::Help) => help(frame, area, app, palette),
        Some(Overlay::Cluster) => {
            let mut lines = super::cluster::overlay_lines(app, palette)
                .unwrap_or_else(|| vec![Line::from("no cluster status yet")]);
            lines.push(Line::from(""));
            lines.push(Line::styled("C or Esc closes", palette.dim()));
            dialog(frame, area, " Cluster ", lines, 92, palette);
        }
        Some(Overlay::ConfirmSend { account, to }) => {
            let lines = vec![
                Line::from(format!("Send the test message of account {account}")),
                Line::from(vec![
                    Span::raw("to "),
                    Span::styled(to.clone(), palette.label()),
                    Span::raw("?"),
                ]),
                Line::from("It is a real WhatsApp message and may be billed."),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y / Enter", palette.accent()),
                    Span::raw(" send    "),
                    Span::styled("n / Esc", palette.accent()),
                    Span::raw(" cancel"),
                ]),
            ];
            dialog(frame, area, " Send test message? ", lines, 58, palette);
        }
        Some(Overlay::Notice { title, text }) => {
            let mut lines: Vec<Line> = text.lines().map(|l| Line::from(l.to_string())).collect();
            lines.push(Line::from(""));
            lines.push(Line::styled("any key closes", palette.dim()));
            dialog(frame, area, &format!(" {title} "), lines, 70, palette);
        }
        Some(Overlay::Filter { input, error }) => filter_prompt(frame, area, input, error, palette),
        Some(Overlay::Templates { scroll }) => {
            super::templates::render(frame, area, app, *scroll, palette);
        }
    }
}

fn help(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    let mut lines: Vec<Line> = help_keys(app)
        .into_iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:<16}"), palette.accent()),
                Span::raw(what),
            ])
        })
        .collect();
    let config = app.config_path.as_ref().map_or_else(
        || "none (built-in defaults and env)".to_string(),
        |p| p.display().to_string(),
    );
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled(format!("{:<16}", "config file"), palette.label()),
        Span::raw(config),
    ]));
    lines.push(Line::from(vec![
        Span::styled(format!("{:<16}", "tokentop log"), palette.label()),
        Span::raw(app.log_file.display().to_string()),
    ]));
    lines.push(Line::from(""));
    lines.push(Line::styled("? or Esc closes", palette.dim()));
    dialog(frame, area, " Help ", lines, 92, palette);
}

/// A centered bordered box of at most `max_width`, sized to its lines.
fn dialog(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line>,
    max_width: u16,
    palette: &Palette,
) {
    let content_width = lines.iter().map(Line::width).max().unwrap_or(0);
    let width = u16::try_from(content_width + 4)
        .unwrap_or(u16::MAX)
        .clamp(20, max_width)
        .min(area.width);
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height);
    let rect = centered(area, width, height);
    let block = ratatui::widgets::Block::bordered()
        .title(title.to_string())
        .border_style(palette.accent());
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block.padding(ratatui::widgets::Padding::horizontal(1)))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn filter_prompt(
    frame: &mut Frame,
    area: Rect,
    input: &str,
    error: &Option<String>,
    palette: &Palette,
) {
    let height = 4u16.min(area.height);
    let rect = Rect {
        x: area.x,
        y: area.y + area.height - height,
        width: area.width,
        height,
    };
    let status = match error {
        Some(error) => Line::styled(
            format!("✗ bad regex: {error} (the old filter stays)"),
            palette.urgency(Urgency::Critical),
        ),
        None => Line::styled(
            "Enter applies · Esc cancels · empty clears the filter",
            palette.dim(),
        ),
    };
    let lines = vec![
        Line::from(vec![
            Span::styled("/", palette.accent()),
            Span::raw(input.to_string()),
            Span::styled("▏", palette.accent()),
        ]),
        status,
    ];
    let block = ratatui::widgets::Block::bordered()
        .title(" Filter log lines (regex) ")
        .border_style(palette.accent());
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
