//! The Graph API simulator: a stateful stand-in for the endpoints tokentop uses.

/// App id of the simulated app when none is given.
pub const DEFAULT_APP_ID: &str = "100000000000001";
