//! `tokentop man`: one roff page with every subcommand, the config keys and the exit codes.
//!
//! clap_mangen renders one command per page; this page takes its pieces (title, name,
//! synopsis, description, options) for the top command, adds a COMMANDS section built from
//! each subcommand's own pieces, then sections written here (FILES, ENVIRONMENT,
//! CONFIGURATION KEYS from [`crate::config::known_keys`], EXIT STATUS).

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{Roff, bold, italic, roman};

use super::stdout;
use crate::cli::Cli;

pub fn run() -> anyhow::Result<ExitCode> {
    stdout::text(&page()?)?;
    Ok(ExitCode::SUCCESS)
}

/// The whole page as roff source.
pub fn page() -> std::io::Result<String> {
    let preamble = Roff::new().render();
    let top = Man::new(Cli::command())
        .title("TOKENTOP")
        .manual("User Commands");
    let mut page = Vec::new();
    top.render_title(&mut page)?;
    top.render_name_section(&mut page)?;
    top.render_synopsis_section(&mut page)?;
    top.render_description_section(&mut page)?;
    let mut page = String::from_utf8_lossy(&page).into_owned();
    push_body(&mut page, &preamble, &description_extra().render());
    push_body(
        &mut page,
        &preamble,
        &piece(|w| top.render_options_section(w))?,
    );
    push_body(&mut page, &preamble, &commands()?);
    push_body(&mut page, &preamble, &extra_sections().render());
    Ok(page)
}

/// Appends `text` without the apostrophe preamble that every rendered piece repeats (the
/// page's first piece keeps it).
fn push_body(page: &mut String, preamble: &str, text: &str) {
    page.push_str(text.strip_prefix(preamble).unwrap_or(text));
}

/// What one clap_mangen render call writes, as text.
fn piece(render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<String> {
    let mut buffer = Vec::new();
    render(&mut buffer)?;
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

fn description_extra() -> Roff {
    let mut roff = Roff::new();
    roff.control("PP", []).text([
        roman("Without a subcommand, opens the dashboard (same as "),
        bold("tokentop watch"),
        roman("). The options below are accepted by every subcommand."),
    ]);
    roff
}

/// The COMMANDS section: each subcommand (nested ones too) as a subsection with its
/// description, synopsis and options.
fn commands() -> std::io::Result<String> {
    let mut text = Roff::new().control("SH", ["COMMANDS"]).render();
    let mut queue: Vec<(String, clap::Command)> = Cli::command()
        .get_subcommands()
        .map(|sub| (format!("tokentop {}", sub.get_name()), sub.clone()))
        .collect();
    queue.reverse();
    while let Some((path, sub)) = queue.pop() {
        text.push_str(&subcommand(&path, &sub)?);
        let nested = sub
            .get_subcommands()
            .map(|inner| (format!("{path} {}", inner.get_name()), inner.clone()));
        let mut nested: Vec<_> = nested.collect();
        nested.reverse();
        queue.extend(nested);
    }
    Ok(text)
}

/// One subcommand's subsection. The subcommand comes from the unbuilt top command, so the
/// global options (listed once under OPTIONS) are not repeated for each.
fn subcommand(path: &str, sub: &clap::Command) -> std::io::Result<String> {
    let man = Man::new(sub.clone().bin_name(path));
    let mut text = Roff::new().control("SS", [path]).render();
    text.push_str(&without_headings(&piece(|w| {
        man.render_description_section(w)
    })?));
    text.push_str(&Roff::new().control("PP", []).to_roff());
    text.push_str(&without_headings(&piece(|w| {
        man.render_synopsis_section(w)
    })?));
    text.push_str(&without_headings(&piece(|w| {
        man.render_options_section(w)
    })?));
    Ok(text)
}

/// A piece's lines without its `.SH` heading (and preamble): it becomes part of a subsection.
fn without_headings(piece: &str) -> String {
    let preamble = Roff::new().render();
    let body = piece.strip_prefix(&preamble).unwrap_or(piece);
    body.lines()
        .filter(|line| !line.starts_with(".SH"))
        .flat_map(|line| [line, "\n"])
        .collect()
}

fn extra_sections() -> Roff {
    let mut roff = Roff::new();
    files(&mut roff);
    environment(&mut roff);
    configuration_keys(&mut roff);
    exit_status(&mut roff);
    roff
}

/// A `.TP` entry: `term` in bold, then `text`.
fn entry(roff: &mut Roff, term: &str, text: &str) {
    roff.control("TP", [])
        .text([bold(term)])
        .text([roman(text)]);
}

fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    entry(
        roff,
        "~/.config/tokentop/config.toml",
        "The config file, unless --config or TOKENTOP_CONFIG names another. No file is fine: \
         built-in defaults and the WHATSAPP_* variables apply. tokentop config init writes a \
         commented starter.",
    );
    entry(
        roff,
        "~/.local/share/tokentop/",
        "The data dir, unless --data-dir or TOKENTOP_DATA_DIR names another. Created 0700; it \
         holds:",
    );
    roff.control("RS", []);
    entry(
        roff,
        "tokens/",
        "the token store, one file per account (0600)",
    );
    entry(
        roff,
        "history.jsonl",
        "the refresh, send and alert history, one JSON object per line",
    );
    entry(roff, "logs/", "tokentop's own log files, one per day");
    roff.control("RE", []);
}

fn environment(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    let vars = [
        (
            "TOKENTOP_CONFIG",
            "The config file, when --config is not given.",
        ),
        (
            "TOKENTOP_DATA_DIR",
            "The data dir, when --data-dir is not given.",
        ),
        (
            "TOKENTOP_GRAPH_URL",
            "The Graph API base URL, over [graph] base-url (--graph-url wins over it).",
        ),
        (
            "TOKENTOP_GRAPH_VERSION",
            "The Graph API version, over [graph] version.",
        ),
        (
            "NO_COLOR",
            "When set, no colour on the dashboard or in log lines.",
        ),
        (
            "CREDENTIALS_DIRECTORY",
            "Set by systemd (LoadCredential=, LoadCredentialEncrypted=): where secrets \
             given as { credential = \"NAME\" } are read.",
        ),
        (
            "WHATSAPP_APP_ID, WHATSAPP_APP_SECRET, WHATSAPP_ACCESS_TOKEN",
            "With WHATSAPP_REFRESH_TOKEN, WHATSAPP_PHONE_NUMBER_ID, \
             WHATSAPP_BUSINESS_ACCOUNT_ID and WHATSAPP_TEST_RECIPIENT: the account default, \
             when the config file has no [[account]].",
        ),
        ("RUST_LOG", "Filters tokentop's log lines."),
    ];
    for (name, text) in vars {
        entry(roff, name, text);
    }
}

/// Every key the config reader accepts, grouped by table, from
/// [`crate::config::known_keys`] so that the page cannot drift from the reader.
fn configuration_keys(roff: &mut Roff) {
    roff.control("SH", ["CONFIGURATION KEYS"]);
    roff.text([
        roman("The keys each table of the config file accepts; "),
        italic("config.example.toml"),
        roman(" (also written by tokentop config init) explains each with its default."),
    ]);
    let mut tables: Vec<(&str, Vec<&str>)> = Vec::new();
    for (table, key) in crate::config::known_keys() {
        match tables.last_mut() {
            Some((last, keys)) if *last == table => keys.push(key),
            _ => tables.push((table, vec![key])),
        }
    }
    for (table, keys) in tables {
        entry(roff, table, &keys.join(", "));
    }
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    let codes = [
        (
            "tokentop check",
            "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the Nagios plugin convention).",
        ),
        ("tokentop refresh, send-test, exchange", "0 ok, 1 failed."),
        ("tokentop config check", "0 ok, 1 invalid."),
        (
            "tokentop doctor",
            "0 when every step passed, 1 when a step failed (or was skipped for an earlier failure).",
        ),
        (
            "Other commands",
            "0 on success, 1 on an error (printed on stderr), 2 on a command-line usage error.",
        ),
    ];
    for (command, text) in codes {
        entry(roff, command, text);
    }
}
