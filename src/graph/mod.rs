//! The Meta Graph API client: typed requests and responses, error classes, appsecret_proof.
