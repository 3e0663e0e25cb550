//! The NBI token: reused until shortly before `expires`, one login at a time.

use std::time::Duration;

use crate::model::Timestamp;

/// Log in again this long before the token expires, so a request never races the expiry.
pub const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Token {
    pub id: String,
    /// When the NBI says the token expires.
    pub expires: Timestamp,
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
    pub fn is_fresh(&self, now: Timestamp) -> bool {
        self.expires.duration_since(now)
            > k8s_openapi::jiff::SignedDuration::try_from(RENEW_BEFORE_EXPIRY).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_shortly_before_it_expires() {
        let at = |s: i64| Timestamp::from_second(s).unwrap();
        let t = Token {
            id: "x".into(),
            expires: at(1000),
        };
        assert!(t.is_fresh(at(900)));
        assert!(!t.is_fresh(at(941)));
        assert!(!format!("{t:?}").contains('x') || format!("{t:?}").contains("redacted"));
    }
}
