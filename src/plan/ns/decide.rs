//! The decision for each NS situation: one match over [`NsSituation`] that reads as the decision
//! table of docs/repository-format.md ("NS instance decisions"), with the options that matter
//! (drift policy, remediation, adopt) and the reasons people read.

use super::super::drift::{note_drift, reported};
use super::super::history::describe_param_changes;
use super::super::{Action, ObjectKind, Operation, Plan};
use super::situation::{not_proven_why, Classified, NsSituation};
use super::{action, Context};
use crate::osm::NsRecord;
use crate::repo::NsInstance;

/// The action for a desired NS in its situation (`ns`: its record, when OSM has one). Drift is
/// recorded in the plan, and so are problems that keep an NS from being created.
pub(in crate::plan) fn decide(
    cx: &Context,
    classified: Classified,
    want: &NsInstance,
    ns: Option<&NsRecord>,
    p: &mut Plan,
) -> Option<Action> {
    let osm_id = || ns.map(|n| n.osm_id.clone()).unwrap_or_default();
    let blocked = |reason: String| Some(action(want, Operation::Blocked, reason));
    let broken =
        |reason: String| Some(action(want, Operation::Broken { osm_id: osm_id() }, reason));
    let unchanged = |reason: String, pending: Option<String>| {
        Some(action(
            want,
            Operation::Unchanged {
                osm_id: ns.map(|n| n.osm_id.clone()),
                pending_op: pending,
            },
            reason,
        ))
    };
    let upgrade = |reason: String| {
        Some(action(
            want,
            Operation::UpgradeNs { osm_id: osm_id() },
            reason,
        ))
    };
    tracing::trace!(ns = %want.name, situation = classified.situation.row(), "classified");
    let desired = want.requested_params();
    let policy = cx.opts.drift.ns_instances;
    let remediation = cx.opts.remediation;
    let decided = match classified.situation {
        NsSituation::Absent => cx.create(want, "not in OSM".into(), p),
        NsSituation::DeletedOutsideGit { was } => {
            let what = format!("deleted in OSM outside Git (was {was})");
            match note_drift(p, policy, ObjectKind::NsInstance, &want.name, what) {
                (true, why) => cx.create(want, format!("{why}; creating it again"), p),
                (false, why) => Some(reported(ObjectKind::NsInstance, &want.name, None, &why)),
            }
        }
        NsSituation::Ambiguous { ids } => blocked(format!(
            "{} NS instances in OSM are named '{}': {}; OSM Ops will not guess which one is meant",
            ids.len(),
            want.name,
            ids.join(", ")
        )),
        NsSituation::OtherSync { owner } => blocked(format!(
            "the NS in OSM is managed by {owner} (the mark in its description); this sync leaves it alone"
        )),
        NsSituation::NotProven { legacy } => blocked(format!(
            "the NS {}; OSM Ops does not take it over unless told to: adopt it with {}, or delete it in OSM",
            not_proven_why(legacy),
            cx.opts.audience.say("--adopt", "spec.adopt: true")
        )),
        NsSituation::NsdChanged { from } => blocked(format!(
            "nsdName changed from '{from}' to '{}': OSM cannot change the NSD of an NS instance; delete and recreate it",
            want.nsd_name
        )),
        NsSituation::TerminateRunning { op } => blocked(format!(
            "terminate operation {} is still {}: waiting for it to end",
            op.osm_id, op.operation_state
        )),
        NsSituation::InstantiateRunning { op } => unchanged(
            format!(
                "instantiate operation {} still {}",
                op.osm_id, op.operation_state
            ),
            Some(op.osm_id.clone()),
        ),
        NsSituation::InstantiateRunningChanged { op } => blocked(format!(
            "instantiate operation {} is still {}: OSM answers 409 to an upgrade until it is instantiated; will retry",
            op.osm_id, op.operation_state
        )),
        NsSituation::InstantiateFailed {
            op,
            attempts,
            owned,
        } => {
            let failure = format!("instantiate {} FAILED: {}", op.osm_id, op.failure_message());
            let retries = remediation.instantiate_retries;
            if owned && attempts <= retries {
                cx.recreate(
                    want,
                    &osm_id(),
                    format!(
                        "remediation: recreate (retry {attempts} of {retries}) after {failure}"
                    ),
                    p,
                )
            } else {
                broken(format!("{failure}; {}", instantiate_hint(cx, owned)))
            }
        }
        NsSituation::TerminatedOutsideGit { op } => {
            let what = format!(
                "terminated outside Git (terminate {} {}) but still in OSM",
                op.osm_id, op.operation_state
            );
            match note_drift(p, policy, ObjectKind::NsInstance, &want.name, what) {
                (true, why) => cx.recreate(
                    want,
                    &osm_id(),
                    format!("{why}: deleting it and creating it again"),
                    p,
                ),
                (false, why) => Some(reported(
                    ObjectKind::NsInstance,
                    &want.name,
                    Some(osm_id()),
                    &why,
                )),
            }
        }
        NsSituation::TerminatedNotProven { op } => blocked(format!(
            "the NS is NOT_INSTANTIATED (terminate {} {}) and this sync cannot prove it owns it: delete it in OSM to let OSM Ops create it",
            op.osm_id, op.operation_state
        )),
        NsSituation::NotInstantiated => blocked(
            "the NS is NOT_INSTANTIATED in OSM and has no instantiate operation in progress: upgrades are refused (409) until it is instantiated".into(),
        ),
        NsSituation::Broken { detail } => broken(format!(
            "the NS is BROKEN in OSM: {}",
            detail.unwrap_or("no error detail recorded")
        )),
        NsSituation::NoHistoryApplied => unchanged(
            "matches the applied digest in the inventory".into(),
            None,
        ),
        NsSituation::NoHistoryChanged => {
            upgrade("NsInstance document changed since it was last applied".into())
        }
        NsSituation::NoHistoryUnknown => {
            upgrade("no record of the params OSM runs: upgrading to the desired params".into())
        }
        NsSituation::UpgradeRunning { op } => unchanged(
            format!(
                "params match OSM ({} {} in progress)",
                op.lcm_operation_type, op.osm_id
            ),
            Some(op.osm_id.clone()),
        ),
        NsSituation::Converged => unchanged("params match OSM".into(), None),
        NsSituation::GitChanged { from } => upgrade(describe_param_changes(&from, &desired)),
        NsSituation::ParamsDrifted { op, live } => {
            let what = format!(
                "KDU params changed outside Git by {} {} ({}): {}",
                op.lcm_operation_type,
                op.osm_id,
                op.operation_state,
                describe_param_changes(&desired, &live)
            );
            match note_drift(p, policy, ObjectKind::NsInstance, &want.name, what) {
                (true, why) => upgrade(format!(
                    "{why}; upgrading back to Git ({})",
                    describe_param_changes(&live, &desired)
                )),
                (false, why) => Some(reported(
                    ObjectKind::NsInstance,
                    &want.name,
                    Some(osm_id()),
                    &why,
                )),
            }
        }
        NsSituation::RolledBack { rollback, failed } => broken(format!(
            "upgrade to the desired params FAILED {failed} time(s) and was rolled back by {} to the params OSM last completed; change the NsInstance to try again",
            rollback.osm_id
        )),
        NsSituation::ChangedAfterFailure { failure, base } => {
            // Git changed since the failure: try the new params.
            let change = if base == desired {
                "back to the params OSM last completed".to_owned()
            } else {
                describe_param_changes(&base, &desired)
            };
            upgrade(format!("{change} (previous {failure})"))
        }
        NsSituation::UpgradeFailed {
            failure,
            failures,
            last_good,
        } => {
            let rollback_to = last_good.filter(|(_, params)| *params != desired);
            if failures as u64 <= u64::from(remediation.upgrade_retries) {
                upgrade(format!(
                    "remediation: retry {failures} of {} after {failure}",
                    remediation.upgrade_retries
                ))
            } else if let (true, Some((good, params))) =
                (remediation.upgrade_rollback, rollback_to)
            {
                let change = describe_param_changes(&desired, &params);
                Some(action(
                    want,
                    Operation::RollbackNs {
                        osm_id: osm_id(),
                        params,
                    },
                    format!(
                        "remediation: {failure} ({failures} attempt(s)); rolling back to the params of {} ({change})",
                        good.osm_id
                    ),
                ))
            } else {
                broken(format!("{failure}; {}", upgrade_hint(cx)))
            }
        }
    };
    // An adoption says so, and the inventory records it once the action succeeds.
    decided.map(|mut a| {
        if let Some(why) = classified.adopting {
            a.adopt = true;
            a.reason = format!("adopting: the NS {why}; {}", a.reason);
        }
        a
    })
}

/// Why a failed instantiate is not recreated.
fn instantiate_hint(cx: &Context, owned: bool) -> String {
    let retries = cx.opts.remediation.instantiate_retries;
    if !owned {
        "this sync cannot prove it created the NS, so it does not recreate it".to_owned()
    } else if retries == 0 {
        format!(
            "no remediation configured ({})",
            cx.opts.audience.say(
                "--instantiate-retries",
                "spec.remediation.instantiate.retries"
            )
        )
    } else {
        format!("remediation used up ({})", retries_text(retries))
    }
}

/// Why a failed upgrade is neither retried nor rolled back.
fn upgrade_hint(cx: &Context) -> String {
    let r = cx.opts.remediation;
    if r.upgrade_retries == 0 && !r.upgrade_rollback {
        format!(
            "no remediation configured ({})",
            cx.opts.audience.say(
                "--upgrade-retries, --upgrade-rollback",
                "spec.remediation.upgrade"
            )
        )
    } else {
        format!("remediation used up ({})", retries_text(r.upgrade_retries))
    }
}

/// "1 retry", "3 retries".
fn retries_text(n: u32) -> String {
    if n == 1 {
        "1 retry".into()
    } else {
        format!("{n} retries")
    }
}
