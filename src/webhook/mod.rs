//! The webhook relay: Meta's signed webhooks received, verified, stored durably and fanned out.
//!
//! A POST from Meta is checked against `X-Hub-Signature-256` over its raw bytes
//! ([`signature`]), appended to the on-disk queue before Meta gets its 200 ([`queue`]), and
//! forwarded byte for byte, with Meta's own signature header, to every destination in order
//! until each acknowledges it ([`forward`]).

pub mod forward;
pub mod queue;
pub mod signature;
