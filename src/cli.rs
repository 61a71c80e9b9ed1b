//! Command-line definitions (clap derive). No logic lives here: see [`crate::commands`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::logging::ConsoleFormat;

/// Keeps WhatsApp Business (Cloud) API access tokens alive and shows how long each has left.
///
/// Without a subcommand, opens the dashboard (same as `tokentop watch`).
#[derive(Debug, Parser)]
#[command(name = "tokentop", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags that every subcommand understands.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Config file [default: $TOKENTOP_CONFIG, else ~/.config/tokentop/config.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Directory for the token store, history and log files
    /// [default: $TOKENTOP_DATA_DIR, else the platform data dir]
    #[arg(long, global = true, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,

    /// Graph API base URL, overriding `[graph] base-url` (e.g. a `tokentop sim` address)
    /// [env: TOKENTOP_GRAPH_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub graph_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the dashboard (the default)
    Watch(WatchArgs),
    /// Open the dashboard on the built-in simulator: no config, credentials or network needed
    Demo(WatchArgs),
    /// Refresh tokens forever without a screen; logs to stderr and rolling files
    Daemon(DaemonArgs),
    /// Inspect every account once; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    Check(CheckArgs),
    /// Force a refresh now; exit 0 ok, 1 failed
    Refresh(RefreshArgs),
    /// Tell the running daemon to reload its accounts (SIGHUP) and print what changed; exit
    /// 0 reloaded, 1 when the daemon kept its accounts (the config is invalid)
    Reload(ReloadArgs),
    /// Send the account's test message through the send guard; exit 0 accepted, 1 failed
    SendTest(SendTestArgs),
    /// Turn a short-lived token into a long-lived one and store it for an account
    Exchange(ExchangeArgs),
    /// Onboard an Embedded Signup customer: exchange the code, find the WABA and phone
    /// number, store the business token and write the account file into `[accounts] dir`
    Onboard(OnboardArgs),
    /// List, add or remove the accounts of `[accounts]`: files in its `dir`, or entries in
    /// the cluster's Redis with `source = "redis"` (every member reloads at once)
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Print the refresh, send and alert history
    History(HistoryArgs),
    /// Print classified lines from the configured log sources as they arrive
    Tail(TailArgs),
    /// List the message templates the webhook relay heard of, paused, disabled, rejected and
    /// quality red first; exit 0, 1 when any is PAUSED, DISABLED or RED
    Templates(TemplatesArgs),
    /// Run the Graph API simulator on loopback
    Sim(SimArgs),
    /// Check config, secrets, network, tokens, phone, webhooks and publish targets step by
    /// step, saying what to do about each failure; exit 0 all pass, 1 otherwise
    Doctor(DoctorArgs),
    /// Validate, locate or create the config file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script to stdout
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout, e.g. `tokentop man | man -l -`
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for, e.g. `source <(tokentop completions bash)`
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// How log lines are written to stderr: text (coloured only on a terminal, never with
    /// NO_COLOR) or json (one object per line, for log shippers)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ConsoleFormat::Text)]
    pub log_format: ConsoleFormat,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Default, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The HTTP endpoint for Prometheus and probes.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// Serve /metrics, /healthz, /readyz and /status on this address, e.g. 127.0.0.1:9477
    /// (overrides [serve] listen; a non-loopback address exposes them to the network: set
    /// [serve] bearer-token)
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    crate::config::listen_addr(text)
        .map_err(|invalid| format!("{} (allowed: {})", invalid.problem, invalid.allowed))
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON document instead of one line per account
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Print the daemon's reload record as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Account name [default: every account]
    pub account: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Account name [default: every account]
    pub account: Option<String>,
}

#[derive(Debug, Args)]
pub struct SendTestArgs {
    /// Account name [default: the only account]
    pub account: Option<String>,
    /// Recipient phone number (digits with country code), overriding `test-message.to`
    #[arg(long, value_name = "NUMBER")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExchangeArgs {
    /// Account to store the token for
    #[arg(long, default_value = "default")]
    pub account: String,
    /// Meta app id [env: WHATSAPP_APP_ID; prompted when missing]
    #[arg(long, value_name = "ID")]
    pub app_id: Option<String>,
    /// Read the short-lived token from standard input instead of a prompt
    #[arg(long)]
    pub token_stdin: bool,
    /// Ask for a 60-day expiring system-user token (set_token_expires_in_60_days)
    #[arg(long)]
    pub system_user: bool,
    /// Print the token values in full instead of masked
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// The Embedded Signup code, or `-` to read it from standard input (recommended: an
    /// argument is visible to other users in `ps` while the command runs)
    #[arg(long, value_name = "CODE")]
    pub code: String,
    /// The new account's name [default: wa-PHONE_NUMBER_ID]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The customer's WhatsApp Business Account, when the token covers several
    #[arg(long, value_name = "ID")]
    pub waba: Option<String>,
    /// The phone number id, when the WABA has several
    #[arg(long, value_name = "ID")]
    pub phone: Option<String>,
    /// The configured account whose app (app-id, app-secret) ran the signup, when several
    /// apps are configured
    #[arg(long, value_name = "FROM")]
    pub account_app: Option<String>,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Print each account and where it is defined (no secrets), then the skipped ones; exit 1
    /// when the configuration is invalid
    List(AccountsListArgs),
    /// Add an account from the text of an account file (the keys of one [[account]]),
    /// checked as it will be read; exit 1 when refused (an existing one needs --replace)
    Add(AccountsAddArgs),
    /// Remove an account of `[accounts]` (its stored token and history stay); exit 1 when
    /// there is none
    Remove(AccountsRemoveArgs),
}

#[derive(Debug, Args)]
pub struct AccountsListArgs {
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AccountsAddArgs {
    /// The account's name: the file NAME.toml in `dir`, or the Redis entry NAME
    pub name: String,
    /// The account file's text: a file, or `-` to read it from standard input
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// Replace the account's file or entry when it exists
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct AccountsRemoveArgs {
    /// The account's name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print JSON lines instead of a table
    #[arg(long)]
    pub json: bool,
    /// Only this account
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Only the newest N entries
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// A review digest instead of rows: refresh success rate, re-auth events, sends, top
    /// failure codes, days until the long-lived token and data access run out (inspects each
    /// token once, like `check`)
    #[arg(long)]
    pub summary: bool,
    /// The span of `--summary`, e.g. 7d, 30d, 12w
    #[arg(long, value_name = "DURATION", default_value = "30d", requires = "summary", value_parser = crate::config::parse_duration)]
    pub since: std::time::Duration,
    /// Draw each account's token lifetime instead of the table: time left over the last
    /// hours to days, a step up at each refresh, ✗ at each failed one (all rows, not --limit)
    #[arg(long, conflicts_with = "json")]
    pub chart: bool,
    /// Width of the chart in columns [default: the terminal's, 80 when not a terminal]
    #[arg(
        long,
        value_name = "N",
        requires = "chart",
        value_parser = clap::value_parser!(u16).range(30..=1000)
    )]
    pub width: Option<u16>,
}

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    /// Print one JSON array instead of a table
    #[arg(long)]
    pub json: bool,
    /// Only this account's templates (the WABA of its business-account-id)
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only this `[[log]]` source
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Lowest level to print: ok, warn or error
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// App id that the simulated app has
    #[arg(long, value_name = "ID", default_value = crate::sim::DEFAULT_APP_ID)]
    pub app_id: String,
    /// App secret of the simulated app (a test value, never a real one)
    /// [env: TOKENTOP_SIM_APP_SECRET]
    #[arg(long, value_name = "SECRET")]
    pub app_secret: Option<String>,
    /// Refuse token-carrying calls that lack a correct appsecret_proof
    #[arg(long)]
    pub require_proof: bool,
    /// Lifetime of a long-lived USER token minted by exchange, e.g. "60d" or "90s"
    #[arg(long, value_name = "DURATION", default_value = "60d")]
    pub long_lived_lifetime: String,
    /// Lifetime of an expiring SYSTEM_USER token refreshed with set_token_expires_in_60_days
    #[arg(long, value_name = "DURATION", default_value = "60d")]
    pub system_user_lifetime: String,
    /// Post Meta's status webhooks for every accepted send to this http(s) URL: `sent`, then
    /// `delivered` and maybe `read`, or `failed`; batched, signed (X-Hub-Signature-256) and
    /// retried with backoff until answered 2xx. Signed with the secret in
    /// TOKENTOP_SIM_WEBHOOK_SECRET, else the app secret. Also settable at run time:
    /// PUT /_sim/webhooks/target {"url": "..."}
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
    /// Share of sends, in percent (0-100), that get one `failed` status instead of
    /// sent/delivered
    #[arg(long, value_name = "PERCENT", default_value_t = 0,
        value_parser = clap::value_parser!(u8).range(0..=100))]
    pub webhook_failure_rate: u8,
    /// Share of delivered sends, in percent (0-100), that are also `read`
    #[arg(long, value_name = "PERCENT", default_value_t = 50,
        value_parser = clap::value_parser!(u8).range(0..=100))]
    pub webhook_read_rate: u8,
    /// Error code in `failed` statuses: 131026 (undeliverable), 131047 (re-engagement),
    /// 131049 (ecosystem engagement), 131050 (stopped marketing) or 130472 (experiment)
    #[arg(long, value_name = "CODE", default_value_t = 131026)]
    pub webhook_failure_code: i64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and the environment; exit 1 when invalid
    Check,
    /// Print where the config file and data dir are
    Path,
    /// Write a commented starter config file (refuses to overwrite)
    Init,
}
