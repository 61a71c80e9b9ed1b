//! Fan-out of queued webhooks to their destinations (being written: see the issue on the relay).
