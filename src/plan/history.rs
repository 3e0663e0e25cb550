//! What OSM's own operation history says about one KDU of one NS: which params OSM was asked to
//! run and with what result. This is how the plan knows, without any inventory, whether an NS is
//! unchanged, still being worked on, failed, retried or rolled back.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::model::LcmOperationType;
use crate::osm::{NsRecord, OpRecord};
use crate::repo::NsInstance;

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

/// The history of one KDU of one NS, oldest first.
pub(super) struct KduHistory<'a> {
    /// Instantiate and upgrade operations for this KDU.
    pub requests: Vec<Request<'a>>,
    /// The NS's instantiate operation (the newest, if OSM shows several).
    pub instantiate: Option<&'a OpRecord>,
    /// The newest terminate operation of the NS.
    pub terminate: Option<&'a OpRecord>,
    /// The newest operation of the NS that has not ended, whatever its type.
    pub running: Option<&'a OpRecord>,
}

impl<'a> KduHistory<'a> {
    pub fn of(ops: &OpsByNs<'a>, ns: &NsRecord, want: &NsInstance) -> KduHistory<'a> {
        let mut h = KduHistory {
            requests: Vec::new(),
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
            if let Some(params) = op.kdu_params(&want.vnf_name, &want.kdu.name) {
                h.requests.push(Request { op, params });
            }
        }
        h
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

/// "replicaCount 2→3, +image, -debug"
pub fn describe_param_changes(old: &Map<String, Value>, new: &Map<String, Value>) -> String {
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts = Vec::new();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for k in keys {
        match (old.get(k), new.get(k)) {
            (Some(a), Some(b)) if a != b => parts.push(format!("{k} {}→{}", show(a), show(b))),
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
