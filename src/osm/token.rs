//! The NBI token: reused until shortly before `expires`, one login at a time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Log in again this long before the token expires, so a request never races the expiry.
pub const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Token {
    pub id: String,
    /// Seconds since the epoch, as the NBI reports it.
    pub expires: f64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never print it.
        f.debug_struct("Token")
            .field("id", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

impl Token {
    pub fn is_fresh(&self, now: f64) -> bool {
        self.expires - now > RENEW_BEFORE_EXPIRY.as_secs_f64()
    }
}

pub fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_shortly_before_it_expires() {
        let t = Token {
            id: "x".into(),
            expires: 1000.0,
        };
        assert!(t.is_fresh(900.0));
        assert!(!t.is_fresh(941.0));
        assert!(!format!("{t:?}").contains('x') || format!("{t:?}").contains("redacted"));
    }
}
