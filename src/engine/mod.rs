//! The token engine: state, schedule, refresh, store, history, sends.

pub mod delivery;
pub mod logs;
