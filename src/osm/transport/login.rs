//! The NBI token: reused until shortly before it expires, one login at a time, dropped after a
//! 401 so the next call logs in again.

use super::*;

impl NbiClient {
    /// A valid token, logging in when there is none or it is about to expire. The mutex makes
    /// concurrent callers wait for one login instead of each logging in.
    pub(super) async fn token(&self) -> Result<String, NbiError> {
        let mut guard = self.shared.token.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| t.is_fresh(Timestamp::now())) {
            return Ok(t.id.clone());
        }
        let t = self.login().await?;
        let id = t.id.clone();
        *guard = Some(t);
        Ok(id)
    }

    /// Drops `rejected` after a 401 unless another task already replaced it.
    pub(super) async fn invalidate(&self, rejected: &str) {
        let mut guard = self.shared.token.lock().await;
        if guard.as_ref().map(|t| t.id.as_str()) == Some(rejected) {
            *guard = None;
        }
    }

    async fn login(&self) -> Result<Token, NbiError> {
        let s = &self.shared;
        let url = format!("{}/admin/v1/tokens", s.base);
        #[derive(Serialize)]
        struct Login<'a> {
            username: &'a str,
            password: &'a str,
            project_id: &'a str,
        }
        let body = serde_json::to_vec(&Login {
            username: &s.creds.user,
            password: s.creds.password.expose(),
            project_id: &s.creds.project,
        })
        .expect("JSON serializes");
        let login_err = |reason: String| NbiError::Login {
            user: s.creds.user.clone(),
            project: s.creds.project.clone(),
            reason,
        };
        // Only a refused connection is retried: a login that timed out already cost the whole
        // request timeout, and the NBI throttles repeated logins anyway.
        let answer = self
            .retrying(|| async {
                let timeout = self.budget(None).map_err(Retry::Final)?;
                let req = s
                    .http
                    .post(&url)
                    .timeout(timeout)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
                self.send(req).await.map_err(|e| {
                    if e.is_connect() {
                        Retry::Again(self.unreachable(&e))
                    } else {
                        Retry::Final(self.unreachable(&e))
                    }
                })
            })
            .await?;
        s.counters.logins.fetch_add(1, Ordering::Relaxed);
        if !answer.status.is_success() {
            let text = String::from_utf8_lossy(&answer.body);
            return Err(login_err(
                parse_error_body(answer.status.as_u16(), &text).to_string(),
            ));
        }
        let v: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| login_err(format!("invalid token answer: {e}")))?;
        let id = v
            .get("id")
            .and_then(|i| i.as_str())
            .ok_or_else(|| login_err("token answer has no 'id'".into()))?;
        let Some(expires) = v
            .get("expires")
            .and_then(|e| e.as_f64())
            .and_then(crate::model::from_osm_epoch)
        else {
            let msg = v
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("no 'expires' in token answer");
            return Err(login_err(format!(
                "OSM did not issue a usable token ({msg}); the password may need changing"
            )));
        };
        tracing::debug!(user = %s.creds.user, "logged in to OSM NBI");
        Ok(Token {
            id: id.to_owned(),
            expires,
        })
    }
}
