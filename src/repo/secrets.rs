//! Values that came from a Kubernetes Secret (or a CLI secret file): kept out of everything OSM
//! Ops shows or stores.
//!
//! The repository reader puts a **seal** in the desired state where a secret value goes: the
//! string `(secret:<keyed hash>)`. Planning, digests, plans, status, events, gRPC and the
//! journal only ever see seals: two seals are equal exactly when the values are, so a rotated
//! password is a change (the plan says `(secret) changed`) and an unchanged one is not, and the
//! digest covers a keyed hash of the value, never the value. What OSM records (its operation
//! history holds the values OSM Ops sent) is sealed the same way at the places the document
//! holds a seal ([`SecretBook::seal_like`]) before it is compared. The engine
//! [`reveals`](SecretBook::reveal) the values only in the bodies it sends to OSM.
//!
//! The hash is HMAC-SHA256 keyed with a key derived from the OSM password (the credentials
//! Secret, or the CLI's `--password`): someone who reads an OsmSync's status cannot test guesses
//! of a weak password against it without also holding OSM's password.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const SEAL_PREFIX: &str = "(secret:";
/// Hex digits of the keyed hash a seal keeps: 96 bits.
const SEAL_HEX: usize = 24;
/// Shortest value [`SecretBook::scrub`] replaces in free text.
pub const SCRUB_MIN_CHARS: usize = 4;
/// What outputs show in place of a secret value.
pub const SHOWN: &str = "(secret)";

/// The key of the seals' keyed hash.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// The key for an OSM reached with `password`.
    pub fn from_password(password: &str) -> SealKey {
        let mut h = Sha256::new();
        h.update(b"osmops seal key v1\0");
        h.update(password.as_bytes());
        SealKey(h.finalize().into())
    }

    /// A seal of a fixed text: tells which key seals were made with, and nothing else.
    pub fn check(&self) -> String {
        seal_with(self, KEY_CHECK_TEXT)
    }

    fn hmac(&self, message: &[u8]) -> [u8; 32] {
        // RFC 2104 with a 32-byte key (shorter than SHA-256's 64-byte block: zero-padded).
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let pad = |byte: u8| block.map(|b| b ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }
}

impl Default for SealKey {
    fn default() -> Self {
        SealKey::from_password("")
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// What [`SealKey::check`] seals.
const KEY_CHECK_TEXT: &str = "osmops seal key check";

/// The seal of `value` under `key`.
fn seal_with(key: &SealKey, value: &str) -> String {
    let mac = key.hmac(value.as_bytes());
    format!("{SEAL_PREFIX}{})", &hex::encode(mac)[..SEAL_HEX])
}

/// Whether `s` is a seal.
pub fn is_seal(s: &str) -> bool {
    s.len() == SEAL_PREFIX.len() + SEAL_HEX + 1
        && s.starts_with(SEAL_PREFIX)
        && s.ends_with(')')
        && s[SEAL_PREFIX.len()..s.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

/// Whether `v` holds a seal anywhere.
pub fn holds_seal(v: &Value) -> bool {
    match v {
        Value::String(s) => is_seal(s),
        Value::Array(items) => items.iter().any(holds_seal),
        Value::Object(m) => m.values().any(holds_seal),
        _ => false,
    }
}

/// A secret value a seal stands for is not known (any more): the Secret no longer holds the
/// value OSM last ran with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a value from a Secret that OSM last ran with is no longer in any Secret this sync reads")]
pub struct UnknownSeal;

/// The secret values of one desired state, by seal. Never printed: `Debug` shows only how many.
#[derive(Clone, Default)]
pub struct SecretBook {
    key: Arc<SealKey>,
    values: BTreeMap<String, String>,
    /// Earlier values OSM recorded where the document now holds a seal (a password before its
    /// rotation), by seal: never revealed, but sealed and scrubbed like the current ones.
    earlier: Arc<Mutex<BTreeMap<String, String>>>,
    /// The scrubbing automaton and how many earlier values it covers.
    scrubber: Arc<Mutex<Option<ScrubberCache>>>,
}

type ScrubberCache = (usize, Option<Arc<AhoCorasick>>);

impl fmt::Debug for SecretBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBook({} value(s))", self.values.len())
    }
}

impl SecretBook {
    pub fn new(key: SealKey) -> SecretBook {
        SecretBook {
            key: Arc::new(key),
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The seal of `value` (without recording it).
    pub fn seal_of(&self, value: &str) -> String {
        seal_with(&self.key, value)
    }

    /// [`SealKey::check`] of this book's key.
    pub fn key_check(&self) -> String {
        self.key.check()
    }

    /// Records `value` and returns its seal.
    pub fn seal(&mut self, value: String) -> String {
        let seal = self.seal_of(&value);
        self.values.insert(seal.clone(), value);
        // Not shared with clones made before this value was known.
        self.scrubber = Arc::default();
        seal
    }

    /// `v` with every seal replaced by its value: what is sent to OSM.
    pub fn reveal(&self, v: &Value) -> Result<Value, UnknownSeal> {
        Ok(match v {
            Value::String(s) if is_seal(s) => {
                Value::String(self.values.get(s).cloned().ok_or(UnknownSeal)?)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.reveal(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(self.reveal_map(m)?),
            other => other.clone(),
        })
    }

    pub fn reveal_map(&self, m: &Map<String, Value>) -> Result<Map<String, Value>, UnknownSeal> {
        m.iter()
            .map(|(k, v)| Ok((k.clone(), self.reveal(v)?)))
            .collect()
    }

    /// Whether every seal in `v` is one this book can reveal.
    pub fn knows_all(&self, v: &Value) -> bool {
        self.reveal(v).is_ok()
    }

    /// `live` (what OSM records) sealed wherever `desired` holds a seal at the same place, and
    /// wherever it holds one of this book's values, so that the two compare as the values do
    /// and `live` can be shown. Values already sealed (the CLI's state file keeps them so) stay
    /// as they are; a plain value equal to the document's stays plain.
    pub fn seal_like(&self, live: &Value, desired: &Value) -> Value {
        if self.values.is_empty() {
            return live.clone();
        }
        match (live, desired) {
            // Sealed when written down (the CLI's state file seals every known secret value):
            // a plain value of the document that equals a secret compares as itself.
            (Value::String(s), d) if is_seal(s) => match d {
                Value::String(ds) if is_seal(ds) => live.clone(),
                Value::Object(_) | Value::Array(_) => live.clone(),
                d if self.seal_of(&as_text(d)) == *s => d.clone(),
                _ => live.clone(),
            },
            (_, Value::String(d)) if is_seal(d) => {
                let raw = as_text(live);
                let seal = self.seal_of(&raw);
                if !self.values.contains_key(&seal) {
                    self.earlier
                        .lock()
                        .expect("secret book lock")
                        .insert(seal.clone(), raw);
                }
                Value::String(seal)
            }
            (Value::String(s), Value::String(d)) if s == d => live.clone(),
            (Value::Object(l), Value::Object(d)) => Value::Object(self.seal_map_like(l, d)),
            (Value::Array(l), Value::Array(d)) => Value::Array(
                l.iter()
                    .enumerate()
                    .map(|(i, item)| match d.get(i) {
                        Some(di) => self.seal_like(item, di),
                        None => self.seal_values(item, false),
                    })
                    .collect(),
            ),
            _ => self.seal_values(live, false),
        }
    }

    pub fn seal_map_like(
        &self,
        live: &Map<String, Value>,
        desired: &Map<String, Value>,
    ) -> Map<String, Value> {
        if self.values.is_empty() {
            return live.clone();
        }
        live.iter()
            .map(|(k, v)| {
                let v = match desired.get(k) {
                    Some(d) => self.seal_like(v, d),
                    None => self.seal_values(v, false),
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// `v` with every string that is one of this book's values — or one it learnt OSM ran with
    /// earlier at a secret's place — replaced by its seal: for what is written down without a
    /// document to compare with (the CLI's state file).
    pub fn seal_known(&self, v: &Value) -> Value {
        self.seal_values(v, true)
    }

    fn seal_values(&self, v: &Value, with_earlier: bool) -> Value {
        match v {
            Value::String(s) if !self.values.is_empty() && !is_seal(s) => {
                let seal = self.seal_of(s);
                if self.values.contains_key(&seal)
                    || (with_earlier
                        && self
                            .earlier
                            .lock()
                            .expect("secret book lock")
                            .contains_key(&seal))
                {
                    return Value::String(seal);
                }
                // OSM may keep a list of params as JSON text (`additionalParamsForVnf`).
                match serde_json::from_str::<Value>(s) {
                    Ok(inner @ (Value::Object(_) | Value::Array(_))) => {
                        Value::String(self.seal_values(&inner, with_earlier).to_string())
                    }
                    _ => v.clone(),
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.seal_values(i, with_earlier))
                    .collect(),
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.seal_values(v, with_earlier)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// `text` with every secret value in it replaced by [`SHOWN`]: for messages that may quote
    /// what was sent (an error OSM answers with, a failed operation's detail). Values shorter
    /// than [`SCRUB_MIN_CHARS`] are left: replacing `1` or `abc` wherever it occurs would erase
    /// ids, counts and words of every message (and the earlier values at a secret's place may
    /// be ordinary ones, from before it was secret).
    pub fn scrub(&self, text: &str) -> String {
        match self.scrubber() {
            Some(s) => {
                let mut out = String::with_capacity(text.len());
                s.replace_all_with(text, &mut out, |_, _, out| {
                    out.push_str(SHOWN);
                    true
                });
                out
            }
            None => text.to_owned(),
        }
    }

    /// [`scrub`](Self::scrub) of an operation's error text (OSM's words).
    pub fn scrub_error(&self, report: &mut crate::model::OperationReport) {
        if let Some(e) = &report.error {
            report.error = Some(self.scrub(e));
        }
    }

    /// One automaton over every value to scrub (current and earlier), built again only when the
    /// book learnt earlier values: a plan of 10,000 NS scrubs 10,000 reasons with it in linear
    /// time.
    fn scrubber(&self) -> Option<Arc<AhoCorasick>> {
        let earlier = self.earlier.lock().expect("secret book lock");
        let mut cache = self.scrubber.lock().expect("secret book lock");
        if let Some((seen, s)) = cache.as_ref() {
            if *seen == earlier.len() {
                return s.clone();
            }
        }
        let patterns: Vec<&String> = self
            .values
            .values()
            .chain(earlier.values())
            .filter(|v| v.chars().count() >= SCRUB_MIN_CHARS)
            .collect();
        let built = if patterns.is_empty() {
            None
        } else {
            // Leftmost-longest: a value containing another is replaced whole.
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .ok()
                .map(Arc::new)
        };
        *cache = Some((earlier.len(), built.clone()));
        built
    }
}

/// How a value OSM records is written when compared with a secret: its text, as substitution
/// produces it.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A seal shown to people: [`SHOWN`].
pub fn shown(v: &Value) -> Value {
    match v {
        Value::String(s) if is_seal(s) => Value::String(SHOWN.to_owned()),
        Value::Array(items) => Value::Array(items.iter().map(shown).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shown(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hmac_matches_rfc_4231_shape_and_depends_on_the_key() {
        let a = SealKey::from_password("p1");
        let b = SealKey::from_password("p2");
        assert_ne!(a.hmac(b"x"), b.hmac(b"x"));
        assert_eq!(a.hmac(b"x"), a.hmac(b"x"));
        assert_ne!(a.hmac(b"x"), a.hmac(b"y"));
    }

    #[test]
    fn hmac_is_rfc_2104() {
        // RFC 4231 test case 2 uses the key "Jefe", which our fixed 32-byte keys cannot be;
        // check instead against HMAC computed by definition with the padded key.
        let key = SealKey([7u8; 32]);
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(&[7u8; 32]);
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::digest([ipad.as_slice(), b"message"].concat());
        let outer = Sha256::digest([opad.as_slice(), inner.as_slice()].concat());
        assert_eq!(key.hmac(b"message").as_slice(), outer.as_slice());
    }

    #[test]
    fn seals_reveal_and_compare_as_values_do() {
        let mut book = SecretBook::new(SealKey::from_password("osm"));
        let s = book.seal("hunter2".into());
        assert!(is_seal(&s) && !s.contains("hunter2"), "{s}");
        assert_eq!(s, book.seal_of("hunter2"));
        assert_ne!(s, book.seal_of("hunter3"));
        let doc = json!({"auth": {"password": s, "user": "admin"}});
        assert_eq!(
            book.reveal(&doc).unwrap(),
            json!({"auth": {"password": "hunter2", "user": "admin"}})
        );
        let other = SecretBook::new(SealKey::from_password("osm")).seal_of("old");
        assert_eq!(book.reveal(&json!([other])), Err(UnknownSeal));
        assert!(!book.knows_all(&json!({"a": other})));
    }

    #[test]
    fn live_values_are_sealed_where_the_document_has_a_seal() {
        let mut book = SecretBook::new(SealKey::from_password("osm"));
        let s = book.seal("hunter2".into());
        let desired = json!({"auth": {"password": s, "user": "admin"}, "n": 1});
        let live = json!({"auth": {"password": "hunter2", "user": "root"}, "n": 1});
        let sealed = book.seal_like(&live, &desired);
        assert_eq!(
            sealed,
            json!({"auth": {"password": s, "user": "root"}, "n": 1})
        );
        let rotated = book.seal_like(&json!({"auth": {"password": "old-pw"}}), &desired);
        assert_ne!(rotated["auth"]["password"], desired["auth"]["password"]);
        assert!(!rotated.to_string().contains("old-pw"));
        // The earlier value is remembered: sealed and scrubbed, never revealed.
        assert_eq!(book.scrub("was old-pw"), "was (secret)");
        assert_eq!(
            book.seal_known(&json!("old-pw")),
            rotated["auth"]["password"]
        );
        assert!(book.reveal(&rotated).is_err());
        // A plain desired value that a state file sealed (it equals a secret) is itself.
        let admin = book.seal_of("admin");
        assert_eq!(
            book.seal_like(&json!(admin), &json!("admin")),
            json!("admin")
        );
        // Already sealed stays; a number is sealed by its text.
        assert_eq!(
            book.seal_like(&json!(s.clone()), &json!(s.clone())),
            json!(s)
        );
        let n = book.seal_like(&json!(1234), &json!(book.seal_of("1234")));
        assert_eq!(n, json!(book.seal_of("1234")));
    }

    #[test]
    fn scrub_and_seal_known_hide_every_known_value() {
        let mut book = SecretBook::new(SealKey::default());
        book.seal("pass".into());
        book.seal("pass-word".into());
        book.seal("1".into());
        assert_eq!(
            book.scrub("failed: 'pass-word' and pass, op 1"),
            "failed: '(secret)' and (secret), op 1"
        );
        let v = book.seal_known(&json!({"a": ["pass-word", "x"]}));
        assert!(!v.to_string().contains("pass-word") && v["a"][1] == "x");
        let text = json!([{"p": "pass-word"}]).to_string();
        let v = book.seal_known(&json!({"additionalParamsForVnf": text}));
        assert!(!v.to_string().contains("pass-word"), "{v}");
        assert_eq!(format!("{book:?}"), "SecretBook(3 value(s))");
    }
}
