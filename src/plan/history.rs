//! What OSM's own operation history says about one KDU of one NS: which params OSM was asked to
//! run and with what result. This is how the plan knows, without any inventory, whether an NS is
//! unchanged, still being worked on, failed, retried or rolled back.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::model::LcmOperationType;
use crate::osm::{NsRecord, OpRecord};
use crate::repo::{Kdu, SecretBook};

/// Operations grouped by NS instance id, oldest first.
pub(super) type OpsByNs<'a> = HashMap<&'a str, Vec<&'a OpRecord>>;

pub(super) fn group_ops(ops: &[OpRecord]) -> OpsByNs<'_> {
    let mut by_ns: OpsByNs = HashMap::new();
    for op in ops {
        by_ns
            .entry(op.ns_instance_id.as_str())
            .or_default()
            .push(op);
    }
    for list in by_ns.values_mut() {
        list.sort_by_key(|op| op.start_time);
    }
    by_ns
}

/// One operation that asked OSM to run the KDU with `params` (an instantiate or an upgrade).
pub(super) struct Request<'a> {
    pub op: &'a OpRecord,
    pub params: Map<String, Value>,
}

/// What OSM's history says of one NS as a whole.
pub(super) struct NsHistory<'a> {
    /// The NS's instantiate operation (the newest, if OSM shows several).
    pub instantiate: Option<&'a OpRecord>,
    /// The newest terminate operation of the NS.
    pub terminate: Option<&'a OpRecord>,
    /// The newest operation of the NS that has not ended, whatever its type.
    pub running: Option<&'a OpRecord>,
}

impl<'a> NsHistory<'a> {
    pub fn of(ops: &OpsByNs<'a>, ns: &NsRecord) -> NsHistory<'a> {
        let mut h = NsHistory {
            instantiate: None,
            terminate: None,
            running: None,
        };
        for &op in ops.get(ns.osm_id.as_str()).into_iter().flatten() {
            if !op.is_terminal() {
                h.running = Some(op);
            }
            match op.lcm_operation_type {
                LcmOperationType::Instantiate => h.instantiate = Some(op),
                LcmOperationType::Terminate => h.terminate = Some(op),
                _ => {}
            }
        }
        h
    }
}

/// The history of one KDU of one NS, oldest first.
pub(super) struct KduHistory<'a> {
    /// Instantiate and upgrade operations for this KDU.
    pub requests: Vec<Request<'a>>,
}

impl<'a> KduHistory<'a> {
    /// `secrets` seals what OSM records where the document holds a value from a Secret, so that
    /// the params compare as the values do and never show.
    pub fn of(ops: &OpsByNs<'a>, ns: &NsRecord, kdu: &Kdu, secrets: &SecretBook) -> KduHistory<'a> {
        let desired = (!secrets.is_empty()).then(|| kdu.requested_params());
        let requests = ops
            .get(ns.osm_id.as_str())
            .into_iter()
            .flatten()
            .filter_map(|&op| {
                op.kdu_params(&kdu.member, &kdu.name).map(|params| Request {
                    op,
                    params: match &desired {
                        Some(d) => secrets.seal_map_like(&params, d),
                        None => params,
                    },
                })
            })
            .collect();
        KduHistory { requests }
    }

    pub fn last(&self) -> Option<&Request<'a>> {
        self.requests.last()
    }

    /// The params of the newest request OSM completed.
    pub fn last_good(&self) -> Option<&Request<'a>> {
        self.requests.iter().rev().find(|r| r.op.succeeded())
    }

    /// How many of the newest requests, one after the other, failed with `params`.
    pub fn trailing_failures(&self, params: &Map<String, Value>) -> usize {
        self.requests
            .iter()
            .rev()
            .take_while(|r| r.op.is_terminal() && !r.op.succeeded() && &r.params == params)
            .count()
    }

    /// When the newest request completed with other params right after upgrades to `params`
    /// failed, that request was a rollback away from `params`: returns it and how many upgrades
    /// failed before it.
    pub fn rolled_back_from(&self, params: &Map<String, Value>) -> Option<(&Request<'a>, usize)> {
        let (last, before) = self.requests.split_last()?;
        if !last.op.succeeded() || &last.params == params {
            return None;
        }
        let failed = before
            .iter()
            .rev()
            .take_while(|r| r.op.is_terminal() && !r.op.succeeded() && &r.params == params)
            .count();
        // The rollback restored what OSM ran before the failed attempts.
        let restored = before[..before.len() - failed]
            .iter()
            .rev()
            .find(|r| r.op.succeeded())
            .is_some_and(|r| r.params == last.params);
        (failed > 0 && restored).then_some((last, failed))
    }
}

/// What OSM's history says of one scaling aspect of one member VNF since the NS's newest
/// instantiate (a NS starts at level 0): every `scale` operation, including OSM's own
/// autoscaling, is one step out or in.
pub(super) struct ScaleHistory<'a> {
    /// Completed scale-outs minus completed scale-ins.
    pub level: i64,
    /// Steps not ended yet: +1 for each scale-out, -1 for each scale-in.
    pub in_flight: i64,
    /// The newest of the steps not ended.
    pub running: Option<&'a OpRecord>,
    /// The newest step that ended, if it failed, and how many ended steps failed in a row.
    pub failed: Option<(&'a OpRecord, usize)>,
    /// Every level OSM was at after the instantiate (0) and after each completed step.
    pub visited: BTreeSet<i64>,
}

impl<'a> ScaleHistory<'a> {
    pub fn of(ops: &OpsByNs<'a>, ns: &NsRecord, member: &str, aspect: &str) -> ScaleHistory<'a> {
        let list: &[&'a OpRecord] = ops
            .get(ns.osm_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let since = list
            .iter()
            .rposition(|o| o.lcm_operation_type == LcmOperationType::Instantiate)
            .map_or(0, |i| i + 1);
        let mut h = ScaleHistory {
            level: 0,
            in_flight: 0,
            running: None,
            failed: None,
            visited: BTreeSet::from([0]),
        };
        for &op in &list[since..] {
            let Some((m, a, out)) = op.scale_step() else {
                continue;
            };
            if m != member || a != aspect {
                continue;
            }
            let step = if out { 1 } else { -1 };
            if !op.is_terminal() {
                h.in_flight += step;
                h.running = Some(op);
            } else if op.succeeded() {
                h.level += step;
                h.visited.insert(h.level);
                h.failed = None;
            } else {
                let n = h.failed.map_or(0, |(_, n)| n);
                h.failed = Some((op, n + 1));
            }
        }
        h
    }
}

/// "replicaCount 2→3, +image, -debug". Values from Secrets (seals) are shown as `(secret)`:
/// "adminPassword (secret) changed".
pub fn describe_param_changes(old: &Map<String, Value>, new: &Map<String, Value>) -> String {
    let show = |v: &Value| match crate::repo::shown(v) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let mut parts = Vec::new();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for k in keys {
        match (old.get(k), new.get(k)) {
            (Some(a), Some(b)) if a != b => {
                let (a, b) = (show(a), show(b));
                if a == b {
                    // Only secret values differ.
                    parts.push(format!("{k} {} changed", crate::repo::SHOWN));
                } else {
                    parts.push(format!("{k} {a}→{b}"));
                }
            }
            (None, Some(b)) => parts.push(format!("+{k}={}", show(b))),
            (Some(_), None) => parts.push(format!("-{k}")),
            _ => {}
        }
    }
    if parts.is_empty() {
        "params changed".into()
    } else {
        parts.join(", ")
    }
}

/// What the plan needs of OSM's operation history, and nothing older: every operation that has
/// not ended, each NS's newest instantiate and terminate, and per KDU the requests from the
/// second-newest one OSM completed onwards, every scale step since the newest instantiate
/// ([`ScaleHistory`] counts them), and per VNF record its package updates from the newest
/// completed one on. That is all [`KduHistory`] reads: the newest
/// request, the newest completed one, the failures after it, and a rollback with the failures
/// and the completed request before them. Keeps the CLI's state file bounded by what OSM runs
/// now, not by how long it has run.
pub fn compact_history(ops: Vec<OpRecord>) -> Vec<OpRecord> {
    let mut by_ns: HashMap<String, Vec<OpRecord>> = HashMap::new();
    for op in ops {
        by_ns.entry(op.ns_instance_id.clone()).or_default().push(op);
    }
    let mut kept = Vec::new();
    for (_, mut list) in by_ns {
        list.sort_by(|a, b| {
            a.start_time
                .cmp(&b.start_time)
                .then_with(|| a.osm_id.cmp(&b.osm_id))
        });
        let mut keep = vec![false; list.len()];
        let newest = |t: LcmOperationType| list.iter().rposition(|o| o.lcm_operation_type == t);
        for i in [
            newest(LcmOperationType::Instantiate),
            newest(LcmOperationType::Terminate),
        ]
        .into_iter()
        .flatten()
        {
            keep[i] = true;
        }
        let instantiates: Vec<usize> = (0..list.len())
            .filter(|&i| list[i].lcm_operation_type == LcmOperationType::Instantiate)
            .collect();
        // The instantiates alone are the requests of a KDU no upgrade named.
        let mut kdus: HashMap<(String, String), Vec<usize>> =
            HashMap::from([(Default::default(), Vec::new())]);
        // Scale levels are counted from the newest instantiate on: every step since is kept.
        let since = newest(LcmOperationType::Instantiate).map_or(0, |i| i + 1);
        // Per VNF record, its package updates from the newest completed one on: whether it
        // completed after the package's last upload, and the failures after it.
        let mut updates: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, op) in list.iter().enumerate() {
            if let Some((vnfr, _)) = op.vnf_package_change() {
                updates.entry(vnfr).or_default().push(i);
            }
        }
        for idx in updates.values() {
            let from = idx.iter().rposition(|&i| list[i].succeeded()).unwrap_or(0);
            for &i in &idx[from..] {
                keep[i] = true;
            }
        }
        for (i, op) in list.iter().enumerate() {
            if !op.is_terminal() || (i >= since && op.scale_step().is_some()) {
                keep[i] = true;
            }
            if let Some((member, kdu)) = op.upgrade_target() {
                kdus.entry((member.to_owned(), kdu.to_owned()))
                    .or_default()
                    .push(i);
            }
        }
        for upgrades in kdus.into_values() {
            let mut requests: Vec<usize> = instantiates.iter().chain(&upgrades).copied().collect();
            requests.sort_unstable();
            let completed: Vec<usize> = requests
                .iter()
                .copied()
                .filter(|&i| list[i].succeeded())
                .collect();
            // From the second-newest completed request: every look back the planner makes (to
            // the newest completed request, across failures to what a rollback restored) ends
            // there at the latest, so nothing kept before it is ever looked at. (Starting at the
            // newest completed one would not do: an older instantiate kept for another KDU would
            // then sit right before it and read as a failure it followed.)
            let from = match completed.len() {
                0 | 1 => 0,
                n => completed[n - 2],
            };
            for &i in requests.iter().filter(|&&i| i >= from) {
                keep[i] = true;
            }
        }
        kept.extend(
            list.into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(o, _)| o),
        );
    }
    kept.sort_by(|a, b| {
        a.start_time
            .cmp(&b.start_time)
            .then_with(|| a.osm_id.cmp(&b.osm_id))
    });
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// One operation of a generated history: an instantiate, a terminate, an upgrade of KDU
    /// `ldap` or `cache` with params `v`, or another action; its state.
    #[derive(Debug, Clone)]
    enum Kind {
        Instantiate(u8),
        Terminate,
        Upgrade(&'static str, u8),
        Other,
        /// A scale step of `openldap/web`, out or in.
        Scale(bool),
        /// A VNF package update of VNF record `vnfr-1`.
        Update,
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            1 => (0..3u8).prop_map(Kind::Instantiate),
            1 => Just(Kind::Terminate),
            6 => (prop_oneof![Just("ldap"), Just("cache")], 0..3u8)
                .prop_map(|(k, v)| Kind::Upgrade(k, v)),
            1 => Just(Kind::Other),
            2 => any::<bool>().prop_map(Kind::Scale),
            2 => Just(Kind::Update),
        ]
    }

    fn state() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            5 => Just("COMPLETED"),
            3 => Just("FAILED"),
            1 => Just("PROCESSING"),
        ]
    }

    fn record(i: usize, kind: &Kind, state: &str) -> OpRecord {
        let params = |v: u8| json!({"replicaCount": v});
        let (t, p) = match kind {
            Kind::Instantiate(v) => (
                "instantiate",
                json!({"additionalParamsForVnf": [{"member-vnf-index": "openldap",
                    "additionalParamsForKdu": [{"kdu_name": "ldap", "additionalParams": params(*v)},
                                               {"kdu_name": "cache", "additionalParams": params(*v)}]}]}),
            ),
            Kind::Terminate => ("terminate", json!({})),
            Kind::Upgrade(kdu, v) => (
                "action",
                json!({"member_vnf_index": "openldap", "kdu_name": kdu, "primitive": "upgrade",
                    "primitive_params": params(*v)}),
            ),
            Kind::Other => (
                "action",
                json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "status"}),
            ),
            Kind::Scale(out) => (
                "scale",
                json!({"scaleType": "SCALE_VNF", "scaleVnfData": {
                    "scaleVnfType": if *out { "SCALE_OUT" } else { "SCALE_IN" },
                    "scaleByStepData": {"member-vnf-index": "openldap", "scaling-group-descriptor": "web"}}}),
            ),
            Kind::Update => (
                "update",
                json!({"updateType": "CHANGE_VNFPKG", "changeVnfPackageData": {
                    "vnfInstanceId": "vnfr-1", "vnfdId": "vnfd-1"}}),
            ),
        };
        crate::osm::records::from_value(&json!({"_id": format!("op{i:03}"), "nsInstanceId": "ns-1",
            "lcmOperationType": t, "operationState": state, "startTime": 1000.0 + i as f64,
            "statusEnteredTime": 1000.5 + i as f64, "operationParams": p}))
        .unwrap()
    }

    /// Everything the planner reads of a KDU's history, as comparable text.
    fn seen(ops: &[OpRecord], kdu: &str, desired: u8) -> Vec<String> {
        let grouped = group_ops(ops);
        let ns: NsRecord =
            crate::osm::records::from_value(&json!({"_id": "ns-1", "name": "a"})).unwrap();
        let mut want = crate::plan::tests::ns("a", None);
        want.kdus[0].name = kdu.into();
        let h = KduHistory::of(&grouped, &ns, &want.kdus[0], &SecretBook::default());
        let n = NsHistory::of(&grouped, &ns);
        let desired = json!({"replicaCount": desired})
            .as_object()
            .cloned()
            .unwrap();
        let id = |o: Option<&OpRecord>| o.map(|o| o.osm_id.clone()).unwrap_or_default();
        let s = ScaleHistory::of(&grouped, &ns, "openldap", "web");
        // What the package-revision decision reads: the updates of the VNF record from the
        // newest completed one on.
        let updates: Vec<String> = ops
            .iter()
            .filter(|o| o.vnf_package_change().is_some())
            .map(|o| format!("{} {}", o.osm_id, o.operation_state))
            .collect();
        let newest_done = updates
            .iter()
            .rposition(|u| u.ends_with("COMPLETED"))
            .unwrap_or(0);
        let req = |r: Option<&Request>| r.map(|r| format!("{} {:?}", r.op.osm_id, r.params));
        vec![
            id(n.instantiate),
            id(n.terminate),
            id(n.running),
            format!("{:?}", req(h.last())),
            format!("{:?}", req(h.last_good())),
            h.trailing_failures(&desired).to_string(),
            format!(
                "{:?}",
                h.rolled_back_from(&desired)
                    .map(|(r, n)| (r.op.osm_id.clone(), n))
            ),
            format!(
                "scale {} {} {} {:?} {:?}",
                s.level,
                s.in_flight,
                id(s.running),
                s.failed.map(|(o, n)| (o.osm_id.clone(), n)),
                s.visited
            ),
            format!("updates {:?}", &updates[newest_done..]),
        ]
    }

    proptest! {
        #[test]
        fn a_compacted_history_tells_the_planner_what_the_whole_one_does(
            steps in prop::collection::vec((kind(), state()), 1..40),
            desired in 0..3u8,
        ) {
            let mut ops: Vec<OpRecord> = vec![record(0, &Kind::Instantiate(0), "COMPLETED")];
            ops.extend(steps.iter().enumerate().map(|(i, (k, s))| record(i + 1, k, s)));
            let compacted = compact_history(ops.clone());
            prop_assert!(compacted.len() <= ops.len());
            for kdu in ["ldap", "cache", "never-upgraded"] {
                prop_assert_eq!(seen(&compacted, kdu, desired), seen(&ops, kdu, desired));
            }
        }
    }

    #[test]
    fn a_long_history_of_completed_upgrades_keeps_a_handful() {
        let mut ops = vec![record(0, &Kind::Instantiate(0), "COMPLETED")];
        for i in 1..200 {
            ops.push(record(
                i,
                &Kind::Upgrade("ldap", (i % 3) as u8),
                "COMPLETED",
            ));
        }
        let kept: Vec<String> = compact_history(ops).into_iter().map(|o| o.osm_id).collect();
        assert_eq!(kept, ["op000", "op198", "op199"]);
    }
}
