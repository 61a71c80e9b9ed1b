//! The token engine: state, schedule, refresh, store, history, sends.
