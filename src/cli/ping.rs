//! Healthchecks-style pings around `check`: `URL/start` before it runs and
//! `URL/<exit code>` after, so that a dead-man's switch notices a check
//! that failed, hung or never ran.
//!
//! Blocking, with short timeouts: a monitoring service that is down must
//! delay the check by seconds at most and never change its result.

use std::time::Duration;

use serde::Serialize;

/// Connect timeout of one ping.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout of one ping.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Healthchecks keeps the first 100 kB of a ping's body; ours is a summary.
const MAX_BODY: usize = 10_000;

/// The outcome of one ping, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct PingResult {
    pub url: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// Sends pings under one base URL.
pub struct Pinger {
    base: String,
    agent: ureq::Agent,
}

impl Pinger {
    pub fn new(base: &str) -> Pinger {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(TOTAL_TIMEOUT))
            .user_agent(concat!("graphvault/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Pinger {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// POSTs `body` to `BASE/suffix`. Any failure (unreachable, timeout, a
    /// status other than 2xx) is returned in the result, never raised.
    pub fn send(&self, suffix: &str, body: &str) -> PingResult {
        let url = format!("{}/{suffix}", self.base);
        let mut cut = body.len().min(MAX_BODY);
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        let error = match self.agent.post(&url).send(&body[..cut]) {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = &error {
            tracing::warn!(url = %url, error = %e, "ping failed");
        }
        PingResult {
            ok: error.is_none(),
            url,
            error,
        }
    }
}
