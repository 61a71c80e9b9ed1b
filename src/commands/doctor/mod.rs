//! `tokentop doctor [ACCOUNT]`: for on-call at 3 AM, every link from the config file to Meta
//! and on to the publish targets, checked one step at a time, each with what to do when it
//! fails. Steps that cannot run without an earlier one say so instead of failing again.

mod certificate;
mod local;
mod meta;
mod phone;
mod report;
mod tls;

use std::process::ExitCode;

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::config::{self, AccountSettings, EnvSnapshot};

use super::common;
use local::Attributed;
use report::{Outcome, Report};

/// Runs every step and exits 0 when all passed, 1 otherwise.
pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let env = EnvSnapshot::from_process();
    let checked = config::load_checked(&common::overrides(global), &env);
    let mut report = Report::new(&env);
    report.hide(local::all_secrets(&checked.settings));
    let issues = local::attribute(&checked);
    let config_ok = report.step("config", &local::config_step(&checked, &issues))?;
    if !config_ok {
        report.step(
            "graph host and accounts",
            &Outcome::skip("a config that loads"),
        )?;
        return Ok(exit_code(&report));
    }
    let accounts = match chosen(&checked.settings.accounts, args.account.as_deref()) {
        Ok(accounts) => accounts,
        Err(outcome) => {
            report.step("account", &outcome)?;
            return Ok(exit_code(&report));
        }
    };
    let secrets_ok: Vec<bool> = accounts
        .iter()
        .map(|(index, account)| {
            let outcome = local::secrets_step(account, &issues.for_account(*index));
            report.step(&label("secrets", account), &outcome)
        })
        .collect::<anyhow::Result<_>>()?;
    let graph = &checked.settings.graph;
    let network_ok = report.step("graph host", &tls::network_step(graph).await)?;
    let client = crate::graph::GraphClient::new(graph);
    for ((index, account), secrets_ok) in accounts.iter().zip(secrets_ok) {
        let ready = match (&client, secrets_ok, network_ok) {
            (_, false, _) => Err("the account's secrets".to_string()),
            (_, _, false) => Err("the Graph API host reachable".to_string()),
            (Err(err), _, _) => Err(format!("a Graph API client ({err})")),
            (Ok(client), true, true) => Ok(client),
        };
        match ready {
            Ok(client) => meta::account_steps(&mut report, client, account).await?,
            Err(needs) => meta::skip_all(&mut report, account, &needs)?,
        }
        let publish = local::publish_step(account, &issues.for_account(*index));
        report.step(&label("publish", account), &publish)?;
    }
    // Last, so that it can tell what Meta's answers to the calls above said of the version.
    let served_as = client
        .as_ref()
        .ok()
        .and_then(|client| client.served_versions().served_as(&graph.version));
    report.step("graph version", &version_step(graph, served_as.as_deref()))?;
    Ok(exit_code(&report))
}

/// The configured Graph API version against the day Meta stops serving it and against the
/// version Meta answered doctor's own calls with, graded as `check` grades it: a note on
/// WARNING, a failure on CRITICAL (after the day, calls are served by a newer version silently).
fn version_step(graph: &config::GraphSettings, served_as: Option<&str>) -> Outcome {
    use crate::report::{Status, graph_version_report};
    let Some(report) = graph_version_report(graph, served_as, chrono::Utc::now()) else {
        return Outcome::pass(format!(
            "{}: no end date known yet ([graph] sunsets adds one when Meta announces it)",
            graph.version
        ));
    };
    let mut found = match (&report.sunset, report.days_left) {
        (Some(sunset), Some(days)) => {
            format!("{} is served until {sunset} ({days} days)", report.version)
        }
        _ => format!("{}: no end date known", report.version),
    };
    if let Some(served) = &report.served_as {
        found.push_str(&format!(", but Meta answered its calls as {served}"));
    }
    match (report.status, report.action_hint) {
        (Status::Critical, Some(todo)) => Outcome::fail(found, todo),
        (_, Some(note)) => Outcome::pass_noted(found, note),
        (_, None) => Outcome::pass(found),
    }
}

fn exit_code(report: &Report) -> ExitCode {
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `step [account]`.
pub(super) fn label(step: &str, account: &AccountSettings) -> String {
    format!("{step} [{}]", account.name)
}

/// The accounts to check with their index in the config: the named one, or all.
fn chosen<'a>(
    accounts: &'a [std::sync::Arc<AccountSettings>],
    name: Option<&str>,
) -> Result<Vec<(usize, &'a AccountSettings)>, Outcome> {
    let all = accounts.iter().map(AsRef::as_ref).enumerate();
    let Some(name) = name else {
        return Ok(all.collect());
    };
    let picked: Vec<_> = all.filter(|(_, a)| a.name == name).collect();
    if picked.is_empty() {
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        return Err(Outcome::fail(
            format!("no account named {name:?}"),
            format!("name one of: {}", names.join(", ")),
        ));
    }
    Ok(picked)
}

impl Attributed {
    /// The problems that belong to the account at `index`.
    fn for_account(&self, index: usize) -> Vec<&config::ConfigIssue> {
        self.by_account
            .iter()
            .filter(|(i, _)| *i == Some(index))
            .map(|(_, issue)| issue)
            .collect()
    }
}
