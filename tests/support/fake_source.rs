//! A token source whose tokens live in memory, on the engine's (virtual) clock: what Meta
//! would answer, with the exchange's behaviour (`ExchangeMode`) and panics (`Panics`) chosen
//! by the test, and counters of every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tokentop::engine::source::AnalyticsWindow;
use tokentop::engine::{Clock, TokenSource};
use tokentop::graph::{
    Analytics, AppCredentials, ErrorClass, ExchangedToken, GraphError, OutgoingMessage,
    PhoneHealth, PhoneHealthResult, PhoneRead, SendResult, TokenInfo, Usage, WithUsage,
};

#[derive(Clone, Copy)]
pub enum ExchangeMode {
    /// New token with `lifetime_secs` from now.
    Renew {
        lifetime_secs: i64,
    },
    Fail(ErrorClass, i64),
    /// Answers with exactly this token (well-formed or not, known to Meta or not).
    Answer(&'static str),
    /// A new USER token that expires when the exchanged token does (Meta does not reliably
    /// extend a long-lived user token).
    SameExpiry,
    /// A new long-lived USER token with `lifetime_secs` from now.
    RenewUser {
        lifetime_secs: i64,
    },
}

/// When the fake panics (test code may).
#[derive(Clone, Copy, PartialEq)]
pub enum Panics {
    Never,
    /// On the first exchange of the named account's token.
    FirstExchangeOf(&'static str),
    /// On every exchange of the named account's token.
    EveryExchangeOf(&'static str),
    /// On the first `inspect_many` call.
    FirstInspection,
}

pub struct FakeToken {
    pub kind: &'static str,
    pub expires_at: i64,
    pub issued_at: i64,
    /// Set for tokens made with [`FakeSource::put`], and kept by their exchanged successors.
    data_access_expires_at: Option<i64>,
    /// The account the token belongs to (`""` when minted without one); successors keep it.
    account: String,
}

pub struct FakeSource {
    pub clock: Clock,
    pub tokens: Mutex<HashMap<String, FakeToken>>,
    pub mode: Mutex<ExchangeMode>,
    pub panics: Mutex<Panics>,
    /// How long an exchange takes.
    pub exchange_delay: Mutex<Duration>,
    /// When each exchange started (unix seconds).
    pub exchanges: Mutex<Vec<i64>>,
    pub sends: Mutex<u32>,
    pub inspections: Mutex<u32>,
    counter: Mutex<u32>,
    /// Tokens Meta invalidated early (password change): `is_valid:false`, subcode 460.
    pub invalidated: Mutex<Vec<String>>,
    /// Sizes of the token lists passed to `inspect_many`.
    pub inspect_sizes: Mutex<Vec<usize>>,
    /// `call_count` reported in `X-App-Usage` by phone-health answers.
    pub usage_percent: Mutex<u32>,
    /// Sizes of the read lists passed to `phone_health_many`.
    pub phone_batches: Mutex<Vec<usize>>,
    /// When (unix seconds on the clock) each `inspect_many` and `phone_health_many` call came,
    /// and its size.
    pub inspect_log: Mutex<Vec<(i64, usize)>>,
    pub phone_log: Mutex<Vec<(i64, usize)>>,
    /// Calls of the one-phone `phone_health`.
    pub single_phone_reads: Mutex<u32>,
    /// Tokens inspected and exchanges made, per account.
    inspected_by: Mutex<HashMap<String, u32>>,
    exchanged_by: Mutex<HashMap<String, u32>>,
}

impl FakeSource {
    pub fn new(clock: Clock, mode: ExchangeMode) -> Arc<Self> {
        Arc::new(Self {
            clock,
            tokens: Mutex::new(HashMap::new()),
            mode: Mutex::new(mode),
            panics: Mutex::new(Panics::Never),
            exchange_delay: Mutex::new(Duration::from_millis(200)),
            exchanges: Mutex::new(Vec::new()),
            sends: Mutex::new(0),
            inspections: Mutex::new(0),
            counter: Mutex::new(0),
            usage_percent: Mutex::new(0),
            invalidated: Mutex::new(Vec::new()),
            inspect_sizes: Mutex::new(Vec::new()),
            phone_batches: Mutex::new(Vec::new()),
            inspect_log: Mutex::new(Vec::new()),
            phone_log: Mutex::new(Vec::new()),
            single_phone_reads: Mutex::new(0),
            inspected_by: Mutex::new(HashMap::new()),
            exchanged_by: Mutex::new(HashMap::new()),
        })
    }

    /// A source whose exchanges renew system-user tokens for 100 s and take 100 ms, and that
    /// panics as `panics` says.
    pub fn panicking(clock: Clock, panics: Panics) -> Arc<Self> {
        let fake = Self::new(clock, ExchangeMode::Renew { lifetime_secs: 100 });
        *fake.panics.lock().unwrap() = panics;
        *fake.exchange_delay.lock().unwrap() = Duration::from_millis(100);
        fake
    }

    pub fn mint(&self, kind: &'static str, lifetime_secs: Option<i64>) -> String {
        let now = self.clock.now_unix();
        self.mint_at(kind, lifetime_secs.map_or(0, |l| now + l))
    }

    /// A token expiring at `expires_at` (0: never).
    pub fn mint_at(&self, kind: &'static str, expires_at: i64) -> String {
        let now = self.clock.now_unix();
        self.insert(FakeToken {
            kind,
            expires_at,
            issued_at: now,
            data_access_expires_at: None,
            account: String::new(),
        })
    }

    /// A never-expiring token of `kind` owned by `account` (so [`Self::inspected`] counts it).
    pub fn mint_for(&self, account: &str, kind: &'static str) -> String {
        let now = self.clock.now_unix();
        self.insert(FakeToken {
            kind,
            expires_at: 0,
            issued_at: now,
            data_access_expires_at: None,
            account: account.to_string(),
        })
    }

    /// A system-user token of `account` with these times, its data access expiring with it.
    pub fn put(&self, account: &str, expires_at: i64, issued_at: i64) -> String {
        self.insert(FakeToken {
            kind: "SYSTEM_USER",
            expires_at,
            issued_at,
            data_access_expires_at: Some(expires_at),
            account: account.to_string(),
        })
    }

    fn insert(&self, token: FakeToken) -> String {
        let mut n = self.counter.lock().unwrap();
        *n += 1;
        let value = format!("EAAGfake{}Z{:06}xxxxxxxxxxxxxxxx", token.account, *n);
        self.tokens.lock().unwrap().insert(value.clone(), token);
        value
    }

    /// How many times tokens of `account` were inspected.
    pub fn inspected(&self, account: &str) -> u32 {
        count(&self.inspected_by, account)
    }

    /// How many exchanges were made with tokens of `account`.
    pub fn exchanged(&self, account: &str) -> u32 {
        count(&self.exchanged_by, account)
    }

    fn account_of(&self, token: &str) -> String {
        let tokens = self.tokens.lock().unwrap();
        tokens
            .get(token)
            .map(|t| t.account.clone())
            .unwrap_or_default()
    }

    /// A GREEN phone, with `usage_percent` in `X-App-Usage`.
    fn health(&self) -> WithUsage<PhoneHealth> {
        let health = tokentop::graph::parse_phone_health(r#"{"quality_rating":"GREEN"}"#).unwrap();
        let percent = *self.usage_percent.lock().unwrap();
        let mut headers = reqwest::header::HeaderMap::new();
        let value = format!(r#"{{"call_count":{percent},"total_time":1,"total_cputime":1}}"#);
        headers.insert("x-app-usage", value.parse().unwrap());
        let usage = tokentop::graph::parse_usage(&headers);
        WithUsage {
            value: health,
            usage,
        }
    }

    pub fn info(&self, token: &str) -> TokenInfo {
        let tokens = self.tokens.lock().unwrap();
        let now = self.clock.now_unix();
        let mut value = serde_json::json!({"is_valid": false});
        if self.invalidated.lock().unwrap().iter().any(|t| t == token) {
            // Like Meta's answer for a dead token: the type stays, is_valid is false.
            let kind = tokens.get(token).map_or("USER", |t| t.kind);
            value = serde_json::json!({
                "is_valid": false, "type": kind, "expires_at": 0,
                "error": {"code": 190, "subcode": 460, "message": "password changed"},
            });
        } else if let Some(t) = tokens.get(token) {
            let alive = t.expires_at == 0 || t.expires_at > now;
            value = serde_json::json!({
                "is_valid": alive, "type": t.kind, "expires_at": t.expires_at,
                "issued_at": t.issued_at,
                "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
            });
            if let Some(at) = t.data_access_expires_at {
                value["data_access_expires_at"] = at.into();
            }
            if !alive {
                value["error"] =
                    serde_json::json!({"code": 190, "subcode": 463, "message": "expired"});
            }
        }
        serde_json::from_value(value).unwrap()
    }

    pub fn alive(&self, token: &str) -> bool {
        self.info(token).is_valid
    }

    pub fn error(class: ErrorClass, code: i64) -> GraphError {
        let mut err = GraphError::without_envelope(class, format!("fake error {code}"));
        err.code = Some(code);
        err
    }

    /// Counts an exchange of `token`'s account and panics when the test asked for it.
    fn count_exchange(&self, token: &str) -> String {
        let account = self.account_of(token);
        let n = {
            let mut exchanges = self.exchanged_by.lock().unwrap();
            let n = exchanges.entry(account.clone()).or_default();
            *n += 1;
            *n
        };
        // Copied out: a panic while holding the lock would poison it for the restarted task.
        let panics = *self.panics.lock().unwrap();
        match panics {
            Panics::FirstExchangeOf(a) if a == account && n == 1 => {
                panic!("fake source panics on the first exchange of {a}")
            }
            Panics::EveryExchangeOf(a) if a == account => {
                panic!("fake source panics on exchange {n} of {a}")
            }
            _ => {}
        }
        account
    }

    /// A new token for `account` as `mode` says, successor of `old`.
    fn answer(&self, old: &str, account: &str) -> Result<ExchangedToken, GraphError> {
        let now = self.clock.now_unix();
        let (kind, expires_at, expires_in_secs) = match *self.mode.lock().unwrap() {
            ExchangeMode::Renew { lifetime_secs } => (
                "SYSTEM_USER",
                now + lifetime_secs,
                Some(lifetime_secs as u64),
            ),
            ExchangeMode::RenewUser { lifetime_secs } => {
                ("USER", now + lifetime_secs, Some(lifetime_secs as u64))
            }
            ExchangeMode::SameExpiry => ("USER", self.tokens.lock().unwrap()[old].expires_at, None),
            ExchangeMode::Fail(class, code) => return Err(Self::error(class, code)),
            ExchangeMode::Answer(token) => {
                return Ok(ExchangedToken {
                    access_token: SecretString::from(token),
                    token_type: Some("bearer".into()),
                    expires_in_secs: Some(5_183_944),
                });
            }
        };
        let had_data_access = self.tokens.lock().unwrap()[old]
            .data_access_expires_at
            .is_some();
        let new = self.insert(FakeToken {
            kind,
            expires_at,
            issued_at: now,
            data_access_expires_at: had_data_access.then_some(expires_at),
            account: account.to_string(),
        });
        Ok(ExchangedToken {
            access_token: SecretString::from(new),
            token_type: Some("bearer".into()),
            expires_in_secs,
        })
    }
}

fn count(counts: &Mutex<HashMap<String, u32>>, account: &str) -> u32 {
    counts.lock().unwrap().get(account).copied().unwrap_or(0)
}

impl TokenSource for FakeSource {
    fn inspect_many<'a>(
        &'a self,
        _app: &'a AppCredentials,
        tokens: &'a [SecretString],
    ) -> BoxFuture<'a, Result<Vec<Result<TokenInfo, GraphError>>, GraphError>> {
        Box::pin(async move {
            let call = {
                let mut calls = self.inspections.lock().unwrap();
                *calls += 1;
                *calls
            };
            let panics = *self.panics.lock().unwrap();
            if call == 1 && panics == Panics::FirstInspection {
                panic!("fake source panics on the first inspection");
            }
            self.inspect_sizes.lock().unwrap().push(tokens.len());
            let at = self.clock.now_unix();
            self.inspect_log.lock().unwrap().push((at, tokens.len()));
            for token in tokens {
                let account = self.account_of(token.expose_secret());
                *self
                    .inspected_by
                    .lock()
                    .unwrap()
                    .entry(account)
                    .or_default() += 1;
            }
            Ok(tokens
                .iter()
                .map(|t| Ok(self.info(t.expose_secret())))
                .collect())
        })
    }

    fn exchange<'a>(
        &'a self,
        _app: &'a AppCredentials,
        token: &'a SecretString,
        _sixty: bool,
    ) -> BoxFuture<'a, Result<ExchangedToken, GraphError>> {
        Box::pin(async move {
            self.exchanges.lock().unwrap().push(self.clock.now_unix());
            let delay = *self.exchange_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            let account = self.count_exchange(token.expose_secret());
            if !self.alive(token.expose_secret()) {
                return Err(Self::error(ErrorClass::TokenDead, 190));
            }
            self.answer(token.expose_secret(), &account)
        })
    }

    fn send<'a>(
        &'a self,
        _app: &'a AppCredentials,
        token: &'a SecretString,
        _phone: &'a str,
        _message: &'a OutgoingMessage,
    ) -> BoxFuture<'a, Result<WithUsage<SendResult>, GraphError>> {
        Box::pin(async move {
            *self.sends.lock().unwrap() += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !self.alive(token.expose_secret()) {
                return Err(Self::error(ErrorClass::TokenDead, 190));
            }
            Ok(WithUsage {
                value: SendResult {
                    message_id: Some("wamid.fake".into()),
                    message_status: Some("accepted".into()),
                    wa_id: None,
                },
                usage: Usage::default(),
            })
        })
    }

    fn phone_health<'a>(
        &'a self,
        _app: &'a AppCredentials,
        _token: &'a SecretString,
        _phone: &'a str,
    ) -> BoxFuture<'a, Result<WithUsage<PhoneHealth>, GraphError>> {
        Box::pin(async move {
            *self.single_phone_reads.lock().unwrap() += 1;
            Ok(self.health())
        })
    }

    fn phone_health_many<'a>(
        &'a self,
        _app: &'a AppCredentials,
        reads: &'a [PhoneRead],
    ) -> BoxFuture<'a, Result<Vec<PhoneHealthResult>, GraphError>> {
        Box::pin(async move {
            self.phone_batches.lock().unwrap().push(reads.len());
            let at = self.clock.now_unix();
            self.phone_log.lock().unwrap().push((at, reads.len()));
            Ok(reads.iter().map(|_| Ok(self.health())).collect())
        })
    }

    fn analytics<'a>(
        &'a self,
        _app: &'a AppCredentials,
        _token: &'a SecretString,
        _waba: &'a str,
        _window: AnalyticsWindow,
    ) -> BoxFuture<'a, Result<WithUsage<Analytics>, GraphError>> {
        Box::pin(async move { Err(Self::error(ErrorClass::Permission, 10)) })
    }
}
