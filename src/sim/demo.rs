//! The demo scenario: three accounts on an in-process simulator that between them show every
//! token state within two minutes, plus a synthetic application log and a script of faults,
//! test sends, one early invalidation (the marketing token, at 100 s) and the marketing
//! customer uninstalling the app (at 115 s), told by webhook through the relay.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use tokio::task::JoinHandle;

use super::{Faults, RunningSim, SimConfig, SimPhone, TokenKind};
use crate::config::{
    AccountSettings, GraphSettings, LogFormat, LogInput, LogSourceSettings, RefreshBefore,
    RefreshPolicy, Settings, TestMessageSettings,
};
use crate::engine::{EngineCommand, EngineHandle};

/// Lifetime of the demo's expiring system-user tokens: refreshed every ~40 s.
const SYSTEM_USER_LIFETIME: Duration = Duration::from_secs(60);
/// Lifetime of the legacy account's long-lived token: re-auth required after it.
const LEGACY_LONG_LIVED_LIFETIME: Duration = Duration::from_secs(95);
/// When the transient outage starts and how long it lasts, from the demo's start.
const OUTAGE_START: Duration = Duration::from_secs(74);
const OUTAGE_LENGTH: Duration = Duration::from_secs(10);
const TEST_RECIPIENT: &str = "15551234567";
/// When Meta "invalidates" the marketing account's never-expiring token (a password change).
const INVALIDATION_AT: Duration = Duration::from_secs(100);
/// When the marketing customer uninstalls the app (Meta's `account_update` webhook).
const REVOCATION_AT: Duration = Duration::from_secs(115);
/// The marketing account's own WhatsApp Business Account (the others share one).
const MARKETING_WABA: &str = "102290129340399";
const SHARED_WABA: &str = "102290129340398";

/// A running demo: the simulator, settings pointing at it, and a temp dir with its data.
pub struct Demo {
    pub sim: RunningSim,
    pub settings: Settings,
    pub app_log: PathBuf,
    /// The never-expiring token the script invalidates at [`INVALIDATION_AT`].
    invalidated_later: String,
    _dir: tempfile::TempDir,
}

impl Demo {
    /// Starts the simulator on a free loopback port and mints the three accounts' tokens.
    pub async fn start() -> std::io::Result<Demo> {
        let config = SimConfig {
            system_user_lifetime: SYSTEM_USER_LIFETIME,
            ..SimConfig::default()
        };
        let app_secret = config.app_secret.clone();
        let app_id = config.app_id.clone();
        let sim = RunningSim::start(config, ([127, 0, 0, 1], 0).into()).await?;
        let dir = tempfile::Builder::new()
            .prefix("tokentop-demo-")
            .tempdir()?;
        let app_log = dir.path().join("backend.log");
        std::fs::write(&app_log, "")?;
        let sim_handle = sim.handle();
        let account =
            |name: &str, phone: &str, access: String, long_lived: Option<String>| AccountSettings {
                name: name.to_string(),
                app_id: Some(app_id.clone()),
                app_secret: Some(app_secret.clone()),
                access_token: Some(SecretString::from(access)),
                long_lived_token: long_lived.map(SecretString::from),
                phone_number_id: Some(phone.to_string()),
                business_account_id: Some(
                    if name == "marketing" {
                        MARKETING_WABA
                    } else {
                        SHARED_WABA
                    }
                    .to_string(),
                ),
                env_file: None,
                token_file: None,
                token_file_mode: crate::config::DEFAULT_TOKEN_FILE_MODE,
                on_refresh: None,
                on_refresh_timeout: Duration::from_secs(10),
                on_refresh_env: Vec::new(),
                on_publish: Default::default(),
                test_message: TestMessageSettings {
                    to: Some(TEST_RECIPIENT.to_string()),
                    ..TestMessageSettings::default()
                },
                profile: Default::default(),
            };
        let production = sim_handle.mint_token(TokenKind::SystemUser, Some(SYSTEM_USER_LIFETIME));
        let marketing = sim_handle.mint_token(TokenKind::SystemUser, None);
        let legacy_ll =
            sim_handle.mint_token(TokenKind::LongLivedUser, Some(LEGACY_LONG_LIVED_LIFETIME));
        let legacy_access =
            sim_handle.mint_token(TokenKind::ShortLivedUser, Some(Duration::from_secs(30)));
        let accounts = vec![
            account(
                "production",
                "106540352242922",
                production.access_token,
                None,
            ),
            account(
                "marketing",
                "106540352242923",
                marketing.access_token.clone(),
                None,
            ),
            account(
                "legacy",
                "106540352242924",
                legacy_access.access_token,
                Some(legacy_ll.access_token),
            ),
        ];
        set_phones(&sim);
        let relay = demo_relay_address()?;
        // Status webhooks of the test sends, and the uninstall, go through the relay.
        let _ = sim_handle.set_webhook_target(&format!("http://{relay}/webhook"), None);
        let settings = Settings {
            data_dir: dir.path().join("data"),
            graph: GraphSettings {
                base_url: sim.base_url(),
                ..GraphSettings::default()
            },
            refresh: RefreshPolicy {
                check_interval: Duration::from_secs(10),
                refresh_before: RefreshBefore::ShareOfLifetime(33),
                send_guard: Duration::from_secs(5),
                warn_before: Duration::from_secs(45),
                critical_before: Duration::from_secs(15),
                ..RefreshPolicy::default()
            },
            webhook: crate::config::WebhookSettings {
                listen: Some(crate::config::Listen::Tcp(relay)),
                verify_token: Some(SecretString::from("tokentop-demo".to_string())),
                ..Default::default()
            },
            accounts: accounts.into_iter().map(std::sync::Arc::new).collect(),
            logs: vec![LogSourceSettings {
                name: "backend".to_string(),
                input: LogInput::File(app_log.clone()),
                format: LogFormat::Plain,
            }],
            ..Settings::default()
        };
        Ok(Demo {
            sim,
            settings,
            app_log,
            invalidated_later: marketing.access_token,
            _dir: dir,
        })
    }

    /// Runs the script: the synthetic log, test sends, and one transient outage.
    pub fn run_script(&self, engine: EngineHandle) -> JoinHandle<()> {
        let sim = self.sim.handle();
        let log = self.app_log.clone();
        let invalidated_later = self.invalidated_later.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut tick: u64 = 0;
            let mut outage_on = false;
            let mut invalidated = false;
            let mut revoked = false;
            loop {
                tokio::time::sleep(Duration::from_millis(700)).await;
                tick += 1;
                append_log_line(&log, tick);
                let elapsed = started.elapsed();
                if !outage_on && elapsed >= OUTAGE_START && elapsed < OUTAGE_START + OUTAGE_LENGTH {
                    sim.set_faults(Faults {
                        error_5xx_probability: 1.0,
                        ..Faults::default()
                    });
                    outage_on = true;
                } else if outage_on && elapsed >= OUTAGE_START + OUTAGE_LENGTH {
                    sim.clear_faults();
                    outage_on = false;
                }
                if !invalidated && elapsed >= INVALIDATION_AT {
                    invalidated = sim.invalidate(&invalidated_later);
                }
                if !revoked && elapsed >= REVOCATION_AT {
                    revoked = true;
                    let uninstall = serde_json::json!({
                        "waba_id": MARKETING_WABA, "event": "PARTNER_APP_UNINSTALLED"
                    });
                    if let Ok(update) = serde_json::from_value(uninstall) {
                        let _ = sim.post_account_update(&update);
                    }
                }
                // A test send every ~20 s, alternating accounts.
                if tick.is_multiple_of(29) {
                    let account = if tick.is_multiple_of(58) {
                        "legacy"
                    } else {
                        "production"
                    };
                    engine.send(EngineCommand::SendTest {
                        account: account.to_string(),
                        to: None,
                        request_id: tick,
                    });
                }
            }
        })
    }
}

/// A free loopback address for the demo's webhook relay.
fn demo_relay_address() -> std::io::Result<std::net::SocketAddr> {
    std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()
}

fn set_phones(sim: &RunningSim) {
    let handle = sim.handle();
    handle.set_phone("106540352242922", SimPhone::default());
    handle.set_phone(
        "106540352242923",
        SimPhone {
            quality_rating: "YELLOW".to_string(),
            waba_id: MARKETING_WABA.to_string(),
            messaging_limit: "TIER_250".to_string(),
            can_send_message: "LIMITED".to_string(),
            additional_info: vec![
                "Your WhatsApp Business Account has reached its messaging limit".to_string(),
            ],
            ..SimPhone::default()
        },
    );
    handle.set_phone(
        "106540352242924",
        SimPhone {
            quality_rating: "RED".to_string(),
            status: "FLAGGED".to_string(),
            can_send_message: "BLOCKED".to_string(),
            ..SimPhone::default()
        },
    );
}

/// The lines a WhatsApp backend typically logs, cycled with some variety.
const LOG_LINES: [&str; 10] = [
    "INFO  POST /webhook 200 12ms",
    "INFO  WhatsApp message sent to=15551234567 id=wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI",
    "DEBUG template cache hit name=hello_world",
    "INFO  WhatsApp message sent to=15557654321 id=wamid.HBgLMTU1NTc2NTQzMjEVAgARGBI",
    "INFO  GET /health 200 1ms",
    "WARN  WhatsApp token is expired or expiring soon, refreshing...",
    "INFO  WhatsApp access token refreshed successfully",
    "ERROR Failed to send WhatsApp message: (#131047) Re-engagement message",
    "INFO  WhatsApp message sent to=15550001111 id=wamid.HBgLMTU1NTAwMDExMTEVAgARGBI",
    "ERROR Failed to refresh WhatsApp token: (#2) Service temporarily unavailable",
];

fn append_log_line(path: &PathBuf, tick: u64) {
    // Mostly ordinary lines; the token lines come less often, as in a real backend.
    let index = match tick % 13 {
        5 => 5,
        6 => 6,
        11 if tick % 26 == 11 => 9,
        9 => 7,
        n => [0, 1, 2, 3, 4, 8][usize::try_from(n % 6).unwrap_or(0)],
    };
    let line = format!(
        "{} {}\n",
        chrono::Utc::now().format("%H:%M:%S%.3f"),
        LOG_LINES[index]
    );
    if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(path) {
        let _ = file.write_all(line.as_bytes());
    }
}
