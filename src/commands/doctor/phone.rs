//! Steps 7 and 8: the phone number's health (REFERENCE.md section 8) and where its webhooks go.

use super::report::Outcome;
use crate::config::AccountSettings;
use crate::engine::reauth_hint;
use crate::graph::{ErrorClass, GraphError, PhoneDetails, PhoneHealth};

/// Step 7: CONNECTED, not RED, not BLOCKED, display name not declined or expired.
pub fn phone_outcome(
    health: &Result<PhoneHealth, GraphError>,
    name_status: Option<&str>,
    account: &AccountSettings,
) -> Outcome {
    let health = match health {
        Ok(health) => health,
        Err(err) => return read_failed(err, account),
    };
    let problems = problems(health, name_status);
    let found = summary(health, name_status);
    if problems.is_empty() {
        return Outcome::pass(found);
    }
    let todo: Vec<String> = problems.into_iter().map(|(_, todo)| todo).collect();
    Outcome::fail(found, todo.join("; "))
}

fn read_failed(err: &GraphError, account: &AccountSettings) -> Outcome {
    let found = format!("Meta refused to read the phone number: {err}");
    let todo = match err.class {
        ErrorClass::Transient | ErrorClass::RateLimited => super::meta::retry_text(),
        ErrorClass::TokenDead => reauth_hint(&account.name, false),
        _ => "check phone-number-id (WhatsApp Manager > Phone numbers) and that the token's \
              system user is assigned the WhatsApp account (Business Settings > System users > \
              Assign assets)"
            .to_string(),
    };
    Outcome::fail(found, todo)
}

/// What is wrong, each with what to do.
fn problems(health: &PhoneHealth, name_status: Option<&str>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let status = health.status.as_deref().unwrap_or("UNKNOWN");
    if status != "CONNECTED" {
        problems.push((
            format!("status {status}"),
            format!(
                "the number is {status}: open WhatsApp Manager > Phone numbers and follow its \
                 banner (re-register the number, finish verification, or appeal a restriction)"
            ),
        ));
    }
    if health.quality_rating.as_deref() == Some("RED") {
        problems.push((
            "quality RED".to_string(),
            "quality is RED (many blocks or reports): pause marketing and bulk sends, review \
             recent templates in WhatsApp Manager > Insights; the messaging limit drops if it stays"
                .to_string(),
        ));
    }
    if let Some(blocked) = blocked(health) {
        problems.push(("cannot send (BLOCKED)".to_string(), blocked));
    }
    if let Some(name) = name_status.filter(|s| matches!(*s, "DECLINED" | "EXPIRED")) {
        problems.push((
            format!("display name {name}"),
            "submit a display name again in WhatsApp Manager > Phone numbers > Profile".to_string(),
        ));
    }
    problems
}

/// What Meta says to do when `health_status.can_send_message` is BLOCKED.
fn blocked(health: &PhoneHealth) -> Option<String> {
    let status = health.health.as_ref()?;
    if status.can_send_message.as_deref() != Some("BLOCKED") {
        return None;
    }
    let solutions: Vec<String> = status
        .entities
        .iter()
        .flat_map(|entity| &entity.errors)
        .filter_map(|error| {
            let what = error.error_description.as_deref().unwrap_or("blocked");
            let fix = error.possible_solution.as_deref()?;
            Some(format!("{what}: {fix}"))
        })
        .collect();
    Some(if solutions.is_empty() {
        "Meta blocks sending from this number: see WhatsApp Manager > Phone numbers".to_string()
    } else {
        solutions.join("; ")
    })
}

fn summary(health: &PhoneHealth, name_status: Option<&str>) -> String {
    let or_unknown = |value: Option<&str>| value.unwrap_or("unknown").to_string();
    let number = or_unknown(health.display_phone_number.as_deref());
    let name = health
        .verified_name
        .as_deref()
        .map_or_else(String::new, |name| format!(" ({name})"));
    let can_send = health
        .health
        .as_ref()
        .and_then(|h| h.can_send_message.as_deref());
    format!(
        "{number}{name}: status {}, quality {}, name status {}, messaging limit {}, can send {}",
        or_unknown(health.status.as_deref()),
        or_unknown(health.quality_rating.as_deref()),
        or_unknown(name_status),
        or_unknown(health.messaging_limit.as_deref()),
        or_unknown(can_send),
    )
}

/// Step 8: the number's `webhook_configuration`; when it cannot be read, a note (Meta shows
/// it only to some tokens), never a failure.
pub fn webhooks_outcome(details: &Result<PhoneDetails, GraphError>) -> Outcome {
    let where_to_look = "check the callback URL in Meta App Dashboard > WhatsApp > Configuration \
                         and that the WhatsApp account is subscribed to the app";
    match details {
        Ok(PhoneDetails {
            webhook_phone_number: Some(url),
            ..
        }) => Outcome::pass(format!("this number's own callback: {url}")),
        Ok(PhoneDetails {
            webhook_application: Some(url),
            ..
        }) => Outcome::pass(format!("the app's callback: {url}")),
        Ok(_) => Outcome::pass_noted(
            "not shown: Meta gave no webhook_configuration for this number",
            where_to_look,
        ),
        Err(err) => Outcome::pass_noted(format!("cannot be read: {err}"), where_to_look),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_and_disconnected_are_both_named() {
        let health = PhoneHealth {
            status: Some("DISCONNECTED".to_string()),
            quality_rating: Some("RED".to_string()),
            ..PhoneHealth::default()
        };
        let found = problems(&health, Some("APPROVED"));
        assert_eq!(found.len(), 2);
        assert!(found[0].1.contains("DISCONNECTED"));
        assert!(found[1].1.contains("RED"));
    }
}
