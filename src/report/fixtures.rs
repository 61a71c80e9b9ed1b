//! An account snapshot with one inspected token, for the report's unit tests.

use crate::engine::{AccountSnapshot, Inspection, TokenState};
use crate::graph::TokenInfo;

pub(super) const NOW: i64 = 1_800_000_000;

pub(super) fn snapshot(expires_at: i64, valid: bool) -> AccountSnapshot {
    let info: TokenInfo = serde_json::from_value(serde_json::json!({
        "is_valid": valid, "type": "SYSTEM_USER", "expires_at": expires_at,
        "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"]
    }))
    .unwrap();
    let mut s = AccountSnapshot::new("a");
    s.access = Some(Inspection {
        checked_at: chrono::Utc::now(),
        info,
    });
    s.state = if valid {
        TokenState::Valid
    } else {
        TokenState::Expired
    };
    s
}
