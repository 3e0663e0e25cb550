//! OSM's NS LCM operations as last read from one OSM, kept between reconciles so that each
//! reconcile reads only what changed. OSM never forgets operations (a year of upgrades on 1,000
//! NS instances is tens of thousands of records), but the plan needs every operation of the NS
//! instances it looks at; reading them all on every reconcile made its cost grow with OSM's
//! history instead of with what changed.
//!
//! The NBI sets `statusEnteredTime` when it creates an operation and LCM sets it again on every
//! state change, so `GET ns_lcm_op_occs?statusEnteredTime.gte=<cursor>` (osm-nbi.md §1.5 and §8)
//! returns exactly the operations that are new or changed since the cursor — OSM's own clock, so
//! no clock skew between us and OSM matters. The cursor is the newest `statusEnteredTime` seen,
//! less a millisecond for float rounding (records at the boundary are read again and merged by id).
//!
//! A full read happens when there is no cursor (first read, a new controller) and whenever the
//! cache cannot explain the NS list: an NS instance without any operation in the cache (every NS
//! has at least its instantiate) means history the increments did not show — an OSM restored
//! from a backup, or a clock that went back — so the cache is rebuilt from one full read.
//! Operations of NS instances OSM no longer lists are dropped (OSM deletes them with the NS).
//! A cursor ahead of OSM's own clock (its `Date` header) means OSM's clock went back: what it
//! writes now would sort before the cursor, so that too is a full read.
//!
//! Only what the plan reads is kept ([`compact_history`]: per NS the newest instantiate and
//! terminate, what runs, per KDU the upgrades from the second-newest completed one on), so the
//! cache's size follows the number of NS instances, not the length of their history.
//!
//! A process that does not live on (the CLI) keeps what the cache knows between runs as
//! [`OpsMemory`] in its state file: the cursor and the operations of the NS instances it
//! declares (its scope). Only those NS instances must then be explained by the operations known.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{from_osm_epoch, to_osm_epoch, Timestamp};
use crate::osm::{NbiClient, NbiError, NsRecord, OpRecord};
use crate::plan::compact_history;

/// What an [`OpsCache`] knows, kept between runs of a process that does not live on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpsMemory {
    /// The next read's cursor: OSM's `statusEnteredTime` (float epoch) of the newest operation
    /// read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<f64>,
    /// The operations the plan needs, as OSM wrote them (values from Secrets sealed).
    #[serde(default)]
    pub operations: Vec<OpRecord>,
    /// [`SecretBook::key_check`] of the key the operations' seals were made with.
    ///
    /// [`SecretBook::key_check`]: crate::repo::SecretBook::key_check
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_key_check: Option<String>,
}

impl OpsMemory {
    /// The memory with every value from a Secret in the operations' params sealed, for writing
    /// down (the CLI's state file): the plan compares seals with seals.
    pub fn sealed(mut self, secrets: &crate::repo::SecretBook) -> OpsMemory {
        if !secrets.is_empty() {
            for op in &mut self.operations {
                op.operation_params = secrets.seal_known(&op.operation_params);
            }
            self.seal_key_check = Some(secrets.key_check());
        }
        self
    }

    /// The memory, or nothing when its seals were made with another key (the OSM password
    /// changed): seals of two keys never compare equal, so OSM's history is read again rather
    /// than every secret param looking changed.
    pub fn usable_with(self, key: &crate::repo::SealKey) -> OpsMemory {
        match &self.seal_key_check {
            Some(check) if *check != key.check() => OpsMemory::default(),
            _ => self,
        }
    }
}

#[derive(Default)]
struct Known {
    ops: HashMap<String, OpRecord>,
    cursor: Option<Timestamp>,
}

impl Known {
    /// Whether the operations known explain every NS instance OSM lists (in scope).
    fn explains(&self, ns_instances: &[NsRecord]) -> bool {
        let with_ops: HashSet<&str> = self
            .ops
            .values()
            .map(|o| o.ns_instance_id.as_str())
            .collect();
        ns_instances
            .iter()
            .all(|ns| with_ops.contains(ns.osm_id.as_str()))
    }

    /// Takes a read in: everything OSM has (`full`) or what changed since the cursor.
    fn merge(&mut self, fetched: Vec<OpRecord>, full: bool) {
        if full {
            self.ops.clear();
            self.cursor = None;
        }
        for op in fetched {
            if let Some(t) = op.status_entered_time.or(op.start_time) {
                if self.cursor.is_none_or(|c| t > c) {
                    self.cursor = Some(t);
                }
            }
            self.ops.insert(op.osm_id.clone(), op);
        }
    }

    /// Forgets operations of NS instances OSM no longer lists.
    fn keep_only(&mut self, ns_instances: &[NsRecord]) {
        let listed: HashSet<&str> = ns_instances.iter().map(|n| n.osm_id.as_str()).collect();
        self.ops
            .retain(|_, o| listed.contains(o.ns_instance_id.as_str()));
    }

    fn snapshot(&self) -> Vec<OpRecord> {
        let mut v: Vec<OpRecord> = self.ops.values().cloned().collect();
        v.sort_by(|a, b| {
            a.start_time
                .cmp(&b.start_time)
                .then_with(|| a.osm_id.cmp(&b.osm_id))
        });
        v
    }
}

/// One OSM's operations (per NBI endpoint, project and user), shared by every reconcile that
/// talks to it. Reads are serialized: a reconcile that arrives while another reads waits for it
/// and then asks only for what changed in between.
#[derive(Default)]
pub struct OpsCache {
    known: tokio::sync::Mutex<Known>,
    /// The names of the NS instances whose operations are kept (`None`: every NS OSM lists).
    scope: Option<HashSet<String>>,
}

impl std::fmt::Debug for OpsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpsCache { .. }")
    }
}

/// How a read was done, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    Full,
    Incremental,
}

/// How far OSM's `Date` (whole seconds) may lag its own `statusEnteredTime` values.
pub const CLOCK_SLACK: std::time::Duration = std::time::Duration::from_secs(2);

/// The query value of a cursor: OSM's float epoch seconds, a millisecond early.
pub fn cursor_query(t: Timestamp) -> String {
    let secs = t.as_nanosecond() as f64 / 1e9 - 0.001;
    format!("{secs:.6}")
}

impl OpsCache {
    /// Every operation of the NS instances in `ns_instances`, as OSM has them now.
    pub async fn read(
        &self,
        client: &NbiClient,
        ns_instances: &[NsRecord],
    ) -> Result<(Vec<OpRecord>, ReadKind), NbiError> {
        let scoped: Vec<NsRecord>;
        let ns_instances = match &self.scope {
            Some(names) => {
                scoped = ns_instances
                    .iter()
                    .filter(|n| names.contains(&n.name))
                    .cloned()
                    .collect();
                &scoped[..]
            }
            None => ns_instances,
        };
        let mut known = self.known.lock().await;
        let kind = match known.cursor {
            Some(cursor) => {
                let since = cursor_query(cursor);
                let changed = client
                    .list_ns_lcm_op_occs(&[("statusEnteredTime.gte", since.as_str())])
                    .await?;
                known.merge(changed, false);
                // OSM's clock behind the cursor: operations it writes now would sort before
                // the cursor and never be read incrementally.
                let clock_went_back = client
                    .server_time()
                    .is_some_and(|now| now + CLOCK_SLACK < cursor);
                if clock_went_back {
                    tracing::info!(cursor = %cursor, "OSM's clock is behind the operations read before: reading them all again");
                    known.merge(client.list_ns_lcm_op_occs(&[]).await?, true);
                    ReadKind::Full
                } else if known.explains(ns_instances) {
                    ReadKind::Incremental
                } else {
                    tracing::info!(
                        "operation history does not explain the NS list: reading it all again"
                    );
                    known.merge(client.list_ns_lcm_op_occs(&[]).await?, true);
                    ReadKind::Full
                }
            }
            None => {
                known.merge(client.list_ns_lcm_op_occs(&[]).await?, true);
                ReadKind::Full
            }
        };
        known.keep_only(ns_instances);
        // Only what the plan reads is kept: memory bounded by the NS instances, not their age.
        let kept = compact_history(known.snapshot());
        known.ops = kept.iter().map(|o| (o.osm_id.clone(), o.clone())).collect();
        Ok((kept, kind))
    }

    /// A cache that starts from `memory` and keeps the operations of the NS instances named in
    /// `scope` only.
    pub fn remembering(memory: OpsMemory, scope: impl IntoIterator<Item = String>) -> OpsCache {
        let known = Known {
            ops: memory
                .operations
                .into_iter()
                .map(|o| (o.osm_id.clone(), o))
                .collect(),
            cursor: memory.cursor.and_then(from_osm_epoch),
        };
        OpsCache {
            known: tokio::sync::Mutex::new(known),
            scope: Some(scope.into_iter().collect()),
        }
    }

    /// What the cache knows (compacted to what the plan reads by every read).
    pub async fn memory(&self) -> OpsMemory {
        let known = self.known.lock().await;
        OpsMemory {
            cursor: known.cursor.map(to_osm_epoch),
            operations: known.snapshot(),
            seal_key_check: None,
        }
    }

    /// Forgets everything: the next read is a full one.
    pub async fn clear(&self) {
        *self.known.lock().await = Known::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(id: &str, ns: &str, state: &str, t: f64) -> OpRecord {
        crate::osm::records::from_value(
            &json!({"_id": id, "nsInstanceId": ns, "lcmOperationType": "instantiate",
            "operationState": state, "startTime": t, "statusEnteredTime": t}),
        )
        .unwrap()
    }

    fn ns(id: &str) -> NsRecord {
        crate::osm::records::from_value(&json!({"_id": id, "name": id})).unwrap()
    }

    #[test]
    fn increments_update_by_id_and_move_the_cursor() {
        let mut k = Known::default();
        k.merge(
            vec![
                op("a", "ns1", "PROCESSING", 100.5),
                op("b", "ns2", "COMPLETED", 90.0),
            ],
            true,
        );
        assert_eq!(k.cursor.unwrap().as_millisecond(), 100_500);
        k.merge(vec![op("a", "ns1", "COMPLETED", 120.25)], false);
        assert_eq!(k.ops.len(), 2);
        assert_eq!(k.ops["a"].operation_state.as_str(), "COMPLETED");
        assert_eq!(k.cursor.unwrap().as_millisecond(), 120_250);
        assert_eq!(cursor_query(k.cursor.unwrap()), "120.249000");
    }

    #[test]
    fn an_ns_the_cache_cannot_explain_asks_for_a_full_read_and_gone_ns_are_forgotten() {
        let mut k = Known::default();
        k.merge(vec![op("a", "ns1", "COMPLETED", 100.0)], true);
        assert!(k.explains(&[ns("ns1")]));
        // An NS whose operations are older than the cursor (restored OSM, clock gone back).
        assert!(!k.explains(&[ns("ns1"), ns("ns-from-backup")]));
        k.keep_only(&[]);
        assert!(k.ops.is_empty());
        assert!(k.explains(&[]));
    }
}
