//! Follows the OSM operations reconciles handed off, so that no worker waits on OSM.
//!
//! Flux's controllers block a worker on health checks; a controller whose workers followed every
//! instantiate to COMPLETED needed minutes to start 1,000 OsmSyncs with 4 workers. Here a
//! reconcile whose plan needs nothing more from its operations (no delete waiting for OSM to
//! remove an NS, no rollout batch waiting for the one before; `Plan::can_hand_off_operations`)
//! hands them to this follower and returns with Ready=Unknown ("in progress"). The follower
//! watches them, one task per OSM (endpoint, project, user) while it has something to follow,
//! and an operation's end brings its OsmSync back: the next reconcile records the end, reports
//! it and plans on top of it, exactly as after a controller restart.
//!
//! Per OSM and poll interval it reads `ns_lcm_op_occs?statusEnteredTime.gte=<cursor>` once,
//! whatever the number of operations it follows (the changes since its last read, as the live
//! view's operations cache does), after reading each newly handed-off operation once by id.
//! That order makes the cursor safe: an operation read as running by id ends later than
//! everything the reads before saw. An operation no list has shown for [`RECHECK_AFTER`] is read
//! by id again (OSM removes a terminated NS together with its operations).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;

use crate::api::OsmSync;
use crate::engine::{self, cursor_query, observe_record, Osm, Vanished, CLOCK_SLACK};
use crate::model::{OperationReport, Timestamp};
use crate::osm::{NbiClient, NbiError};

/// How long an operation may go unseen by the incremental reads before it is read by id.
const RECHECK_AFTER: Duration = Duration::from_secs(30);

/// How long an ended operation waits for its OsmSync to take it. One whose OsmSync was deleted
/// is never taken; a later reconcile of a live one would read it from OSM's history anyway.
const KEEP_ENDED: Duration = Duration::from_secs(3600);

/// What the follower knows of one operation an OsmSync asks about.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    /// It ended (taken: the follower forgets it).
    Ended(Box<OperationReport>),
    /// It is being followed.
    Running,
    /// The follower does not know it (the controller restarted since it was handed off).
    Unknown,
}

pub struct Follower {
    poll: Duration,
    osms: Mutex<HashMap<String, Arc<Watch>>>,
    /// Brings an OsmSync back when one of its operations ended.
    trigger: tokio::sync::mpsc::UnboundedSender<ObjectRef<OsmSync>>,
}

/// One OSM's followed operations.
#[derive(Default)]
struct Watch {
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    /// The newest session handed in (its token is reused).
    client: Option<NbiClient>,
    /// Handed off and not read yet.
    fresh: HashMap<String, Entry>,
    followed: HashMap<String, Entry>,
    /// Ended and not yet taken by their OsmSync's reconcile, with when they were seen to end.
    ended: HashMap<String, (Instant, ObjectRef<OsmSync>, OperationReport)>,
    /// OSM's newest `statusEnteredTime` seen while following.
    cursor: Option<Timestamp>,
    task_running: bool,
    /// Since when OSM has not answered, and how (cleared by the next answer).
    unreachable: Option<(Timestamp, String)>,
}

#[derive(Clone)]
struct Entry {
    report: OperationReport,
    sync: ObjectRef<OsmSync>,
    /// When OSM last showed it.
    seen: Instant,
}

fn osm_key(client: &NbiClient) -> String {
    format!(
        "{}|{}|{}",
        client.base_url(),
        client.project(),
        client.user()
    )
}

impl Follower {
    pub fn new(
        poll: Duration,
        trigger: tokio::sync::mpsc::UnboundedSender<ObjectRef<OsmSync>>,
    ) -> Follower {
        Follower {
            poll,
            osms: Mutex::default(),
            trigger,
        }
    }

    fn watch(&self, client: &NbiClient) -> Arc<Watch> {
        self.osms
            .lock()
            .expect("follower lock")
            .entry(osm_key(client))
            .or_default()
            .clone()
    }

    /// Follows `reports` (running operations of `sync`) until they end.
    pub fn hand_off(&self, osm: &Osm, sync: ObjectRef<OsmSync>, reports: &[OperationReport]) {
        let watch = self.watch(&osm.client);
        let start = {
            let mut st = watch.state.lock().expect("follower lock");
            st.client = Some(osm.client.clone());
            for r in reports.iter().filter(|r| !r.finished()) {
                let id = &r.nslcmop_id;
                if st.followed.contains_key(id) || st.ended.contains_key(id) {
                    continue;
                }
                st.fresh.insert(
                    id.clone(),
                    Entry {
                        report: r.clone(),
                        sync: sync.clone(),
                        seen: Instant::now(),
                    },
                );
            }
            !std::mem::replace(&mut st.task_running, true)
        };
        if start {
            let (poll, trigger) = (self.poll, self.trigger.clone());
            tokio::spawn(async move { follow_osm(watch, poll, trigger).await });
        }
    }

    /// What became of the operations `ids` of `sync` on this OSM; ended ones are taken. Also
    /// takes every other ended operation of `sync`: one the status it was read from does not
    /// list yet (kube-runtime's store may be a write behind when an operation ends at once).
    pub fn take(
        &self,
        osm: &Osm,
        sync: &ObjectRef<OsmSync>,
        ids: &[String],
    ) -> (Vec<Followed>, Vec<OperationReport>) {
        let watch = self.watch(&osm.client);
        let mut st = watch.state.lock().expect("follower lock");
        let asked = ids
            .iter()
            .map(|id| match st.ended.remove(id) {
                Some((_, _, r)) => Followed::Ended(Box::new(r)),
                None if st.fresh.contains_key(id) || st.followed.contains_key(id) => {
                    Followed::Running
                }
                None => Followed::Unknown,
            })
            .collect();
        let others: Vec<String> = st
            .ended
            .iter()
            .filter(|(_, (_, s, _))| s == sync)
            .map(|(id, _)| id.clone())
            .collect();
        let more = others
            .iter()
            .filter_map(|id| st.ended.remove(id).map(|(_, _, r)| r))
            .collect();
        (asked, more)
    }

    /// Since when this OSM has not answered the follower, and how.
    pub fn unreachable(&self, osm: &Osm) -> Option<(Timestamp, String)> {
        let watch = self.watch(&osm.client);
        let st = watch.state.lock().expect("follower lock");
        st.unreachable.clone()
    }

    /// Operations handed off and not ended, on every OSM (what the tests look at).
    pub fn following(&self) -> usize {
        let watches: Vec<Arc<Watch>> = self
            .osms
            .lock()
            .expect("follower lock")
            .values()
            .cloned()
            .collect();
        watches
            .iter()
            .map(|w| {
                let st = w.state.lock().expect("follower lock");
                st.fresh.len() + st.followed.len()
            })
            .sum()
    }
}

/// The task following one OSM's operations; it ends when nothing is left to follow.
async fn follow_osm(
    watch: Arc<Watch>,
    poll: Duration,
    trigger: tokio::sync::mpsc::UnboundedSender<ObjectRef<OsmSync>>,
) {
    loop {
        tokio::time::sleep(poll).await;
        let (client, fresh, stale, cursor) = {
            let mut st = watch.state.lock().expect("follower lock");
            if st.fresh.is_empty() && st.followed.is_empty() {
                st.task_running = false;
                st.cursor = None;
                return;
            }
            let Some(client) = st.client.clone() else {
                st.task_running = false;
                return;
            };
            let fresh: Vec<Entry> = st.fresh.values().cloned().collect();
            let stale: Vec<Entry> = st
                .followed
                .values()
                .filter(|e| e.seen.elapsed() >= RECHECK_AFTER)
                .cloned()
                .collect();
            (client, fresh, stale, st.cursor)
        };
        let mut outcome = Tick::default();
        // Newly handed off, and long unseen: read by id.
        for mut e in fresh.into_iter().chain(stale) {
            match engine::refresh(&client, &mut e.report, Vanished::Failed).await {
                Ok(_) => {
                    e.seen = Instant::now();
                    outcome.read.push(e);
                }
                Err(err) => outcome.failed(err),
            }
        }
        let followed_after_reads = {
            let st = watch.state.lock().expect("follower lock");
            !st.followed.is_empty() || outcome.read.iter().any(|e| !e.report.finished())
        };
        if followed_after_reads {
            // The first cursor: when the oldest followed operation started, by OSM's clock.
            let since = cursor.or_else(|| {
                let st = watch.state.lock().expect("follower lock");
                st.followed
                    .values()
                    .chain(&outcome.read)
                    .filter_map(|e| e.report.start_time)
                    .min()
                    .map(|t| t - CLOCK_SLACK)
            });
            if let Some(since) = since {
                let q = cursor_query(since);
                match client
                    .list_ns_lcm_op_occs(&[("statusEnteredTime.gte", q.as_str())])
                    .await
                {
                    Ok(changed) => outcome.changed = Some(changed),
                    Err(err) => outcome.failed(err),
                }
            }
        }
        let ended = merge(&watch, outcome);
        for sync in ended {
            // The controller is gone when nobody receives: nothing to bring back.
            let _ = trigger.send(sync);
        }
    }
}

/// What one round of reads found.
#[derive(Default)]
struct Tick {
    /// Operations read by id.
    read: Vec<Entry>,
    /// The incremental read, when it was answered.
    changed: Option<Vec<crate::osm::OpRecord>>,
    /// The last failure to reach OSM.
    error: Option<NbiError>,
}

impl Tick {
    fn failed(&mut self, err: NbiError) {
        tracing::warn!(error = %err, "cannot read OSM operations being followed");
        self.error = Some(err);
    }
}

/// Applies a round of reads to the watch; returns the OsmSyncs that have an operation ended.
fn merge(watch: &Watch, tick: Tick) -> Vec<ObjectRef<OsmSync>> {
    let mut st = watch.state.lock().expect("follower lock");
    for e in tick.read {
        let id = e.report.nslcmop_id.clone();
        st.fresh.remove(&id);
        st.followed.insert(id, e);
    }
    if let Some(changed) = tick.changed {
        for rec in &changed {
            if let Some(t) = rec.status_entered_time {
                st.cursor = Some(st.cursor.map_or(t, |c| c.max(t)));
            }
            if let Some(e) = st.followed.get_mut(&rec.osm_id) {
                observe_record(&mut e.report, Some(rec));
                e.seen = Instant::now();
            }
        }
    }
    match tick.error {
        Some(err) if err.is_unavailable() => {
            if st.unreachable.is_none() {
                st.unreachable = Some((Timestamp::now(), err.to_string()));
            }
        }
        Some(_) => {}
        None => st.unreachable = None,
    }
    let done: Vec<String> = st
        .followed
        .iter()
        .filter(|(_, e)| e.report.finished())
        .map(|(id, _)| id.clone())
        .collect();
    let mut syncs: Vec<ObjectRef<OsmSync>> = Vec::new();
    for id in done {
        if let Some(e) = st.followed.remove(&id) {
            if !syncs.contains(&e.sync) {
                syncs.push(e.sync.clone());
            }
            st.ended.insert(id, (Instant::now(), e.sync, e.report));
        }
    }
    st.ended.retain(|_, (at, _, _)| at.elapsed() < KEEP_ENDED);
    syncs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LcmOperationType;

    fn entry(op: &str, sync: &str) -> Entry {
        Entry {
            report: OperationReport::new(op, "ns", "ns-id", LcmOperationType::Instantiate),
            sync: ObjectRef::new(sync).within("ops"),
            seen: Instant::now(),
        }
    }

    fn record(op: &str, state: &str, entered: f64) -> crate::osm::OpRecord {
        serde_json::from_value(serde_json::json!({
            "_id": op, "nsInstanceId": "ns-id", "lcmOperationType": "instantiate",
            "operationState": state, "statusEnteredTime": entered, "startTime": 100.0
        }))
        .unwrap()
    }

    /// A round of reads: operations read by id join the followed ones, the incremental read
    /// moves the cursor to the newest change and ends what it shows ended, and each OsmSync with
    /// an ended operation is brought back once, whatever the number of its operations.
    #[test]
    fn a_round_ends_what_osm_shows_ended_and_brings_each_osmsync_back_once() {
        let watch = Watch::default();
        let tick = Tick {
            read: vec![entry("op1", "a"), entry("op2", "a"), entry("op3", "b")],
            ..Tick::default()
        };
        assert!(merge(&watch, tick).is_empty(), "all still running");
        let tick = Tick {
            changed: Some(vec![
                record("op1", "COMPLETED", 120.0),
                record("op2", "FAILED", 121.5),
                record("other", "COMPLETED", 119.0),
            ]),
            ..Tick::default()
        };
        let back = merge(&watch, tick);
        assert_eq!(back, vec![ObjectRef::new("a").within("ops")]);
        let st = watch.state.lock().unwrap();
        assert_eq!(st.cursor.map(|t| t.as_second()), Some(121));
        assert_eq!(st.followed.len(), 1, "op3 still followed");
        assert_eq!(st.ended.len(), 2);
        assert!(st.ended["op2"].2.failed());
        assert!(st.unreachable.is_none());
    }

    /// An OsmSync takes its ended operations, also those the status it was read from does not
    /// list (a store a write behind), and only its own, once.
    #[test]
    fn an_osmsync_takes_its_own_ended_operations_once_listed_or_not() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let follower = Follower::new(Duration::from_secs(1), tx);
        let client = NbiClient::new(
            crate::osm::ClientOptions::new("http://127.0.0.1:9/osm".to_owned()),
            crate::osm::Credentials {
                user: "admin".into(),
                password: crate::osm::Secret::new("admin"),
                project: "admin".into(),
            },
        )
        .unwrap();
        let osm = Osm::new(client.clone());
        let (a, b) = (
            ObjectRef::<OsmSync>::new("a").within("ops"),
            ObjectRef::<OsmSync>::new("b").within("ops"),
        );
        {
            let watch = follower.watch(&client);
            let mut st = watch.state.lock().unwrap();
            for (op, sync) in [("op1", &a), ("op2", &b)] {
                let e = entry(op, "x");
                st.ended
                    .insert(op.into(), (Instant::now(), sync.clone(), e.report));
            }
            st.followed.insert("op3".into(), entry("op3", "a"));
        }
        let (asked, more) = follower.take(&osm, &a, &["op3".into(), "op9".into()]);
        assert_eq!(asked, vec![Followed::Running, Followed::Unknown]);
        let ids: Vec<&str> = more.iter().map(|r| r.nslcmop_id.as_str()).collect();
        assert_eq!(ids, ["op1"], "a's own ended operation, not b's");
        assert!(follower.take(&osm, &a, &[]).1.is_empty(), "taken once");
        assert_eq!(follower.take(&osm, &b, &[]).1.len(), 1);
    }

    /// OSM not answering is remembered from its first failure until it answers again.
    #[test]
    fn unreachable_since_the_first_failure_until_osm_answers() {
        let watch = Watch::default();
        let unavailable = || NbiError::Unreachable {
            url: "https://osm.example.org/osm/nslcm/v1/ns_lcm_op_occs".into(),
            reason: "connection refused".into(),
        };
        merge(
            &watch,
            Tick {
                error: Some(unavailable()),
                ..Tick::default()
            },
        );
        let first = watch.state.lock().unwrap().unreachable.clone().unwrap();
        merge(
            &watch,
            Tick {
                error: Some(unavailable()),
                ..Tick::default()
            },
        );
        assert_eq!(
            watch.state.lock().unwrap().unreachable.as_ref(),
            Some(&first)
        );
        merge(
            &watch,
            Tick {
                changed: Some(vec![]),
                ..Tick::default()
            },
        );
        assert!(watch.state.lock().unwrap().unreachable.is_none());
    }
}
