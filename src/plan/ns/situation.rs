//! What OSM's records and operation history say about one NS Git declares — its situation —
//! before anything is decided. Classification reads OSM (the records, the history of the KDU, the
//! ownership marks) and the inventory; it knows nothing of options except whether an unproven NS
//! may be adopted. `decide.rs` turns a situation into an action.

use serde_json::{Map, Value};

use super::super::history::{KduHistory, NsHistory, Request};
use super::super::owner::{Marked, Owner};
use super::Context;
use crate::model::{LcmOperationType, NsState};
use crate::osm::{NsRecord, OpRecord};
use crate::repo::{Kdu, NsInstance};

/// The situation of one desired NS in OSM. Each variant is one row of the decision table in
/// docs/repository-format.md ("NS instance decisions"); [`NsSituation::row`] names it.
#[derive(Debug)]
pub(in crate::plan) enum NsSituation<'a> {
    /// No NS with this name in OSM.
    Absent,
    /// No NS with this name in OSM, but this sync last applied exactly this document to the NS
    /// `was`: someone deleted it in OSM.
    DeletedOutsideGit { was: String },
    /// Several NS instances in OSM have the name and not all carry this sync's mark.
    Ambiguous { ids: Vec<String> },
    /// The NS carries another sync's mark.
    OtherSync { owner: String },
    /// The NS has no mark this sync can prove is its own (unmarked, or a legacy mark without the
    /// inventory's record), and adopting is not allowed.
    NotProven { legacy: bool },
    /// The NS runs another NSD than Git declares.
    NsdChanged { from: String },
    /// A terminate of the NS is still running.
    TerminateRunning { op: &'a OpRecord },
    /// The instantiate is still running with the desired params.
    InstantiateRunning { op: &'a OpRecord },
    /// The instantiate is still running with other params than Git now declares.
    InstantiateRunningChanged { op: &'a OpRecord },
    /// The instantiate failed; `attempts` counts this sync's instantiates of this document.
    InstantiateFailed {
        op: &'a OpRecord,
        attempts: u32,
        owned: bool,
    },
    /// This sync's NS was terminated in OSM (by someone else) and is still there.
    TerminatedOutsideGit { op: &'a OpRecord },
    /// The NS was terminated and this sync cannot prove it owns it.
    TerminatedNotProven { op: &'a OpRecord },
    /// Not instantiated, and no instantiate or terminate explains it.
    NotInstantiated,
    /// LCM marked the NS BROKEN.
    Broken { detail: Option<&'a str> },
    /// Git changed what OSM can only take at instantiate: the NSD is the same, but the VIM
    /// account or the instantiation config differ (`what` names them).
    ConfigChanged { what: Vec<String> },
    /// Instantiated and healthy: each KDU and scaling aspect Git declares is judged on its own.
    Instantiated,
}

/// The situation of one KDU Git declares, of an instantiated NS this sync owns.
#[derive(Debug)]
pub(in crate::plan) enum KduSituation<'a> {
    /// OSM shows no request for the KDU; the inventory recorded applying exactly this document.
    NoHistoryApplied,
    /// OSM shows no request for the KDU; the inventory recorded an earlier document.
    NoHistoryChanged,
    /// OSM shows no request for the KDU and the inventory has no record of the NS.
    NoHistoryUnknown,
    /// An upgrade to the desired params is running.
    UpgradeRunning { op: &'a OpRecord },
    /// OSM last completed the desired params.
    Converged,
    /// Git declares other params than OSM last ran or is running.
    GitChanged { from: Map<String, Value> },
    /// Git still declares what this sync last applied, but OSM runs params an operation this
    /// sync did not start asked for.
    ParamsDrifted {
        op: &'a OpRecord,
        live: Map<String, Value>,
    },
    /// Upgrades to the desired params failed and were rolled back.
    RolledBack {
        rollback: &'a OpRecord,
        failed: usize,
    },
    /// The newest upgrade failed, and Git has changed since.
    ChangedAfterFailure {
        failure: String,
        base: Map<String, Value>,
    },
    /// The newest upgrade, to the desired params, failed `failures` times in a row.
    UpgradeFailed {
        failure: String,
        failures: usize,
        last_good: Option<(&'a OpRecord, Map<String, Value>)>,
    },
}

impl NsSituation<'_> {
    /// The row of the decision table.
    pub fn row(&self) -> &'static str {
        match self {
            NsSituation::Absent => "absent",
            NsSituation::DeletedOutsideGit { .. } => "deleted outside Git",
            NsSituation::Ambiguous { .. } => "ambiguous name",
            NsSituation::OtherSync { .. } => "another sync's",
            NsSituation::NotProven { .. } => "ownership not proven",
            NsSituation::NsdChanged { .. } => "NSD changed",
            NsSituation::TerminateRunning { .. } => "terminate running",
            NsSituation::InstantiateRunning { .. } => "instantiate running",
            NsSituation::InstantiateRunningChanged { .. } => "instantiate running, Git changed",
            NsSituation::InstantiateFailed { .. } => "instantiate failed",
            NsSituation::TerminatedOutsideGit { .. } => "terminated outside Git",
            NsSituation::TerminatedNotProven { .. } => "terminated, ownership not proven",
            NsSituation::NotInstantiated => "not instantiated",
            NsSituation::Broken { .. } => "broken",
            NsSituation::ConfigChanged { .. } => "instantiation config changed",
            NsSituation::Instantiated => "instantiated",
        }
    }
}

impl KduSituation<'_> {
    /// The row of the KDU decision table.
    pub fn row(&self) -> &'static str {
        match self {
            KduSituation::NoHistoryApplied => "no history, applied",
            KduSituation::NoHistoryChanged => "no history, Git changed",
            KduSituation::NoHistoryUnknown => "no history, no record",
            KduSituation::UpgradeRunning { .. } => "upgrade running",
            KduSituation::Converged => "converged",
            KduSituation::GitChanged { .. } => "Git changed",
            KduSituation::ParamsDrifted { .. } => "params drifted",
            KduSituation::RolledBack { .. } => "rolled back",
            KduSituation::ChangedAfterFailure { .. } => "Git changed after a failed upgrade",
            KduSituation::UpgradeFailed { .. } => "upgrade failed",
        }
    }
}

/// A situation, and whether the NS is being adopted (`adopt` on, no proof of ownership): the
/// reason why it is not provably this sync's.
pub(in crate::plan) struct Classified<'a> {
    pub situation: NsSituation<'a>,
    pub adopting: Option<&'static str>,
}

/// The situation of a desired NS that OSM does not have.
pub(super) fn classify_missing<'a>(cx: &Context<'a>, want: &NsInstance) -> NsSituation<'a> {
    match cx
        .inventory
        .ns_instances
        .get(&want.name)
        .filter(|e| e.digest == want.digest())
    {
        Some(lost) => NsSituation::DeletedOutsideGit {
            was: lost.osm_id.clone(),
        },
        None => NsSituation::Absent,
    }
}

/// The situation of a desired NS that OSM has (one record with its name).
pub(super) fn classify<'a>(
    cx: &Context<'a>,
    want: &NsInstance,
    ns: &'a NsRecord,
) -> Classified<'a> {
    let marked = cx.marked(ns);
    let owned = cx.owns(want, ns);
    let situation = |situation| Classified {
        situation,
        adopting: None,
    };
    if marked == Marked::Theirs {
        let owner = ns.description.as_deref().and_then(Owner::of_description);
        return situation(NsSituation::OtherSync {
            owner: owner.unwrap_or_default().to_owned(),
        });
    }
    let adopting = if owned {
        None
    } else if !cx.opts.adopt {
        return situation(NsSituation::NotProven {
            legacy: marked == Marked::Legacy,
        });
    } else {
        Some(not_proven_why(marked == Marked::Legacy))
    };
    Classified {
        situation: classify_owned(cx, want, ns, owned),
        adopting,
    }
}

/// Why an NS is not provably this sync's, as reasons say it.
pub(super) fn not_proven_why(legacy: bool) -> &'static str {
    if legacy {
        "carries this sync's mark in an earlier format that another sync could share, and this sync has no record of it (a lost state file or status?)"
    } else {
        "exists in OSM without this sync's mark (created by hand or by another tool)"
    }
}

/// The situation of an NS this sync owns or adopts, from its record and OSM's history of it.
fn classify_owned<'a>(
    cx: &Context<'a>,
    want: &NsInstance,
    ns: &'a NsRecord,
    owned: bool,
) -> NsSituation<'a> {
    if let Some(current) = ns.nsd_ref.as_deref().filter(|r| *r != want.nsd_name) {
        return NsSituation::NsdChanged {
            from: current.to_owned(),
        };
    }
    let h = NsHistory::of(&cx.ops, ns);
    if let Some(op) = h.running {
        match op.lcm_operation_type {
            LcmOperationType::Terminate => return NsSituation::TerminateRunning { op },
            LcmOperationType::Instantiate => {
                // Running as Git declares it when every KDU's newest request is this
                // instantiate, with the desired params.
                let same = want.kdus.iter().all(|kdu| {
                    let k = KduHistory::of(&cx.ops, ns, kdu, &cx.desired.secrets);
                    k.last().is_some_and(|r| {
                        r.op.osm_id == op.osm_id && r.params == kdu.requested_params()
                    })
                }) && cx.config_changes(want, ns, op).is_empty();
                return if same {
                    NsSituation::InstantiateRunning { op }
                } else {
                    NsSituation::InstantiateRunningChanged { op }
                };
            }
            // Upgrades and other actions: OSM queues what is sent meanwhile.
            _ => {}
        }
    }
    let failed_instantiate = h.instantiate.filter(|o| o.is_terminal() && !o.succeeded());
    if let Some(op) = failed_instantiate {
        return NsSituation::InstantiateFailed {
            op,
            attempts: cx.instantiate_attempts(want, ns),
            owned,
        };
    }
    if !ns.is_instantiated() {
        return match h.terminate.filter(|t| t.succeeded()) {
            // This sync never terminates an NS it keeps: someone did it in OSM.
            Some(op) if owned => NsSituation::TerminatedOutsideGit { op },
            Some(op) => NsSituation::TerminatedNotProven { op },
            None => NsSituation::NotInstantiated,
        };
    }
    if ns.ns_state == NsState::Broken {
        return NsSituation::Broken {
            detail: ns.error_detail.as_deref(),
        };
    }
    if let Some(op) = h.instantiate {
        let what = cx.config_changes(want, ns, op);
        if !what.is_empty() {
            return NsSituation::ConfigChanged { what };
        }
    }
    NsSituation::Instantiated
}

/// The situation of one KDU Git declares, of an instantiated NS this sync owns or adopts.
pub(super) fn classify_kdu<'a>(
    cx: &Context<'a>,
    want: &NsInstance,
    ns: &'a NsRecord,
    kdu: &Kdu,
) -> KduSituation<'a> {
    let desired = kdu.requested_params();
    let h = KduHistory::of(&cx.ops, ns, kdu, &cx.desired.secrets);
    let Some(last) = h.last() else {
        // No operation history to compare with: the digest this sync recorded decides.
        return match cx
            .inventory
            .ns_instances
            .get(&want.name)
            .filter(|e| e.osm_id == ns.osm_id)
        {
            Some(e) if e.digest == want.digest() => KduSituation::NoHistoryApplied,
            Some(_) => KduSituation::NoHistoryChanged,
            None => KduSituation::NoHistoryUnknown,
        };
    };
    let drifted = |last: &Request<'a>| KduSituation::ParamsDrifted {
        op: last.op,
        live: last.params.clone(),
    };
    if !last.op.is_terminal() {
        // An upgrade in progress (OSM queues another one behind it).
        return if last.params == desired {
            KduSituation::UpgradeRunning { op: last.op }
        } else if cx.applied_unchanged(want, ns) {
            drifted(last)
        } else {
            KduSituation::GitChanged {
                from: last.params.clone(),
            }
        };
    }
    if last.op.succeeded() {
        if last.params == desired {
            return KduSituation::Converged;
        }
        if let Some((rollback, failed)) = h.rolled_back_from(&desired) {
            return KduSituation::RolledBack {
                rollback: rollback.op,
                failed,
            };
        }
        if cx.applied_unchanged(want, ns) {
            return drifted(last);
        }
        return KduSituation::GitChanged {
            from: last.params.clone(),
        };
    }
    // The newest request failed.
    let failure = format!(
        "upgrade {} FAILED: {}",
        last.op.osm_id,
        last.op.failure_message()
    );
    if last.params != desired {
        let base = h.last_good().map(|g| &g.params).unwrap_or(&last.params);
        return KduSituation::ChangedAfterFailure {
            failure,
            base: base.clone(),
        };
    }
    KduSituation::UpgradeFailed {
        failure,
        failures: h.trailing_failures(&desired),
        last_good: h.last_good().map(|g| (g.op, g.params.clone())),
    }
}
