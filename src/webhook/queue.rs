//! The durable webhook queue (being written: see the issue on the webhook relay).
