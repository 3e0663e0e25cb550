//! The decision for each NS situation: one match over [`NsSituation`] that reads as the decision
//! table of docs/repository-format.md ("NS instance decisions"), with the options that matter
//! (drift policy, remediation, adopt) and the reasons people read.

use super::super::drift::{note_drift, reported};
use super::super::history::describe_param_changes;
use super::super::history::ScaleHistory;
use super::super::{Action, ObjectKind, Operation, Plan, ScaleDirection, Target};
use super::situation::{classify_kdu, not_proven_why, Classified, KduSituation, NsSituation};
use super::{action, Context};
use crate::osm::NsRecord;
use crate::osm::OpRecord;
use crate::repo::{Kdu, NsInstance, PackageKind, Scale};

/// The actions for a desired NS in its situation (`ns`: its record, when OSM has one): one for
/// the NS as a whole, or, for an instantiated NS, one per KDU and scale step that needs
/// something (all unchanged: one unchanged action). Drift is recorded in the plan, and so are
/// problems that keep an NS from being created.
pub(in crate::plan) fn decide(
    cx: &Context,
    classified: Classified,
    want: &NsInstance,
    ns: Option<&NsRecord>,
    p: &mut Plan,
) -> Vec<Action> {
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
    tracing::trace!(ns = %want.name, situation = classified.situation.row(), "classified");
    let policy = cx.opts.drift.ns_instances;
    let remediation = cx.opts.remediation;
    // Git changed what OSM cannot change in place: recreate when allowed and owned.
    let recreate_or_block = |change: String, p: &mut Plan| {
        if cx.opts.allow_recreate && ns.is_some_and(|n| cx.owns(want, n)) {
            cx.recreate(
                want,
                &osm_id(),
                format!(
                    "{change}: OSM cannot change it on a running NS; recreating it (allowed by {})",
                    recreate_flag(cx)
                ),
                p,
            )
        } else {
            blocked(format!(
                "{change}: OSM cannot change it on a running NS; delete and recreate it (allow OSM Ops to with {})",
                recreate_flag(cx)
            ))
        }
    };
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
        NsSituation::NsdChanged { from } => recreate_or_block(
            format!("nsdName changed from '{from}' to '{}'", want.nsd_name),
            p,
        ),
        NsSituation::ConfigChanged { what } => recreate_or_block(
            format!("changed since instantiate: {}", what.join(", ")),
            p,
        ),
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
        NsSituation::Instantiated => {
            let ns = ns.expect("an instantiated NS has a record");
            return per_target(cx, classified.adopting, want, ns, p);
        }
    };
    decided
        .into_iter()
        .map(|a| adopting(a, classified.adopting))
        .collect()
}

/// An adoption says so, and the inventory records it once the action succeeds.
fn adopting(mut a: Action, why: Option<&str>) -> Action {
    if let Some(why) = why {
        a.adopt = true;
        a.reason = format!("adopting: the NS {why}; {}", a.reason);
    }
    a
}

/// The actions of an instantiated NS: one per KDU and scale step that needs something, or one
/// unchanged action when nothing does.
fn per_target(
    cx: &Context,
    adopt: Option<&str>,
    want: &NsInstance,
    ns: &NsRecord,
    p: &mut Plan,
) -> Vec<Action> {
    let mut actions: Vec<Action> = Vec::new();
    for kdu in &want.kdus {
        let situation = classify_kdu(cx, want, ns, kdu);
        tracing::trace!(ns = %want.name, kdu = %kdu.label(), situation = situation.row(), "classified");
        let mut a = decide_kdu(cx, situation, want, ns, kdu, p);
        a.target = Some(Target::kdu(kdu));
        actions.push(a);
    }
    for s in &want.scale {
        actions.extend(decide_scale(cx, want, ns, s, p));
    }
    actions.extend(decide_package_revisions(cx, want, ns, p));
    let all_unchanged = actions
        .iter()
        .all(|a| matches!(a.operation, Operation::Unchanged { .. }));
    if all_unchanged {
        let pending = actions.iter().find_map(|a| match &a.operation {
            Operation::Unchanged { pending_op, .. } => pending_op.clone(),
            _ => None,
        });
        let reason = match actions.as_slice() {
            [] => "instantiated as declared".to_owned(),
            [one] => one.reason.clone(),
            many => many
                .iter()
                .map(|a| {
                    let t = a.target.as_ref().map(Target::label).unwrap_or_default();
                    format!("{t}: {}", a.reason)
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        actions = vec![action(
            want,
            Operation::Unchanged {
                osm_id: Some(ns.osm_id.clone()),
                pending_op: pending,
            },
            reason,
        )];
    }
    actions.into_iter().map(|a| adopting(a, adopt)).collect()
}

/// The action for one KDU in its situation.
pub(super) fn decide_kdu(
    cx: &Context,
    situation: KduSituation,
    want: &NsInstance,
    ns: &NsRecord,
    kdu: &Kdu,
    p: &mut Plan,
) -> Action {
    let osm_id = || ns.osm_id.clone();
    let broken = |reason: String| action(want, Operation::Broken { osm_id: osm_id() }, reason);
    let unchanged = |reason: String, pending: Option<String>| {
        action(
            want,
            Operation::Unchanged {
                osm_id: Some(osm_id()),
                pending_op: pending,
            },
            reason,
        )
    };
    let upgrade = |reason: String| action(want, Operation::UpgradeNs { osm_id: osm_id() }, reason);
    let desired = kdu.requested_params();
    let policy = cx.opts.drift.ns_instances;
    let remediation = cx.opts.remediation;
    match situation {
        KduSituation::NoHistoryApplied => unchanged(
            "matches the applied digest in the inventory".into(),
            None,
        ),
        KduSituation::NoHistoryChanged => {
            upgrade("NsInstance document changed since it was last applied".into())
        }
        KduSituation::NoHistoryUnknown => {
            upgrade("no record of the params OSM runs: upgrading to the desired params".into())
        }
        KduSituation::UpgradeRunning { op } => unchanged(
            format!(
                "params match OSM ({} {} in progress)",
                op.lcm_operation_type, op.osm_id
            ),
            Some(op.osm_id.clone()),
        ),
        KduSituation::Converged => unchanged("params match OSM".into(), None),
        KduSituation::GitChanged { from } => upgrade(describe_param_changes(&from, &desired)),
        KduSituation::ParamsDrifted { op, live } => {
            // One KDU: the words of earlier versions (alerts may match them).
            let which = match want.kdus.len() {
                1 => String::new(),
                _ => format!(" {}", kdu.label()),
            };
            let what = format!(
                "KDU{which} params changed outside Git by {} {} ({}): {}",
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
                (false, why) => reported(ObjectKind::NsInstance, &want.name, Some(osm_id()), &why),
            }
        }
        KduSituation::RolledBack { rollback, failed } => broken(format!(
            "upgrade to the desired params FAILED {failed} time(s) and was rolled back by {} to the params OSM last completed; change the NsInstance to try again",
            rollback.osm_id
        )),
        KduSituation::ChangedAfterFailure { failure, base } => {
            // Git changed since the failure: try the new params.
            let change = if base == desired {
                "back to the params OSM last completed".to_owned()
            } else {
                describe_param_changes(&base, &desired)
            };
            upgrade(format!("{change} (previous {failure})"))
        }
        KduSituation::UpgradeFailed {
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
                if let Err(e) = cx.desired.secrets.reveal_map(&params) {
                    return broken(format!(
                        "{failure}; cannot roll back to the params of {}: {e}; {}",
                        good.osm_id,
                        upgrade_hint(cx)
                    ));
                }
                let change = describe_param_changes(&desired, &params);
                action(
                    want,
                    Operation::RollbackNs {
                        osm_id: osm_id(),
                        params,
                    },
                    format!(
                        "remediation: {failure} ({failures} attempt(s)); rolling back to the params of {} ({change})",
                        good.osm_id
                    ),
                )
            } else {
                broken(format!("{failure}; {}", upgrade_hint(cx)))
            }
        }
    }
}

/// The scale steps that bring one scaling aspect to the level Git declares: none (one unchanged
/// action) when OSM is there or on its way, one action per `scale` operation otherwise. The
/// level is what OSM's history says: completed steps since the instantiate, and those running.
fn decide_scale(
    cx: &Context,
    want: &NsInstance,
    ns: &NsRecord,
    s: &Scale,
    p: &mut Plan,
) -> Vec<Action> {
    let h = ScaleHistory::of(&cx.ops, ns, &s.member, &s.aspect);
    let target = Target::Scale {
        member: s.member.clone(),
        aspect: s.aspect.clone(),
    };
    let with_target = |mut a: Action| {
        a.target = Some(target.clone());
        a
    };
    let desired = i64::from(s.level);
    let heading = h.level + h.in_flight;
    let osm_id = || ns.osm_id.clone();
    if heading == desired {
        let reason = match h.running {
            Some(op) => format!(
                "scale level {} → {desired} (scale {} in progress)",
                h.level, op.osm_id
            ),
            None => format!("scale level {desired} matches OSM"),
        };
        return vec![with_target(action(
            want,
            Operation::Unchanged {
                osm_id: Some(osm_id()),
                pending_op: h.running.map(|o| o.osm_id.clone()),
            },
            reason,
        ))];
    }
    if let Some((op, failures)) = h.failed.filter(|_| h.running.is_none()) {
        let failure = format!("scale {} FAILED: {}", op.osm_id, op.failure_message());
        let retries = cx.opts.remediation.upgrade_retries;
        if failures as u64 > u64::from(retries) {
            return vec![with_target(action(
                want,
                Operation::Broken { osm_id: osm_id() },
                format!(
                    "{failure}; the level stays {} ({}); change the level in Git to try again",
                    h.level,
                    upgrade_hint(cx)
                ),
            ))];
        }
    }
    let label = s.label();
    let mut reason = format!("{label} {heading}→{desired}");
    if cx.applied_unchanged(want, ns) && h.running.is_none() && h.visited.contains(&desired) {
        // Git still declares what this sync applied and OSM was at that level since: it
        // changed outside Git (by hand, or by OSM's autoscaling). A level never reached is
        // still to be reached (the first steps after a create).
        let what = format!("scale level of {label} changed outside Git: {desired}→{heading}");
        match note_drift(
            p,
            cx.opts.drift.ns_instances,
            ObjectKind::NsInstance,
            &want.name,
            what,
        ) {
            (true, why) => reason = format!("{why}; scaling back to Git ({heading}→{desired})"),
            (false, why) => {
                return vec![with_target(reported(
                    ObjectKind::NsInstance,
                    &want.name,
                    Some(osm_id()),
                    &why,
                ))]
            }
        }
    }
    let direction = if desired > heading {
        ScaleDirection::ScaleOut
    } else {
        ScaleDirection::ScaleIn
    };
    let steps = (desired - heading).unsigned_abs();
    (1..=steps)
        .map(|i| {
            with_target(action(
                want,
                Operation::ScaleNs {
                    osm_id: osm_id(),
                    direction,
                },
                format!("{reason}: {} {i} of {steps}", direction.words()),
            ))
        })
        .collect()
}

/// The members of `ns` that run an older revision of a VNF package of the repository than OSM
/// holds (or than this plan uploads): one `update` (`CHANGE_VNFPKG`) each, in place. A member
/// runs a revision when its VNF record says so (LCM writes `revision` after an update) or when
/// an update of it completed after the package's last upload (an LCM that does not write the
/// record, like the bed's stand-in, still ends the operation).
fn decide_package_revisions(
    cx: &Context,
    want: &NsInstance,
    ns: &NsRecord,
    p: &Plan,
) -> Vec<Action> {
    let Some(vnfrs) = cx.live.vnf_instances.as_deref() else {
        return Vec::new();
    };
    let ops: &[&OpRecord] = cx
        .ops
        .get(ns.osm_id.as_str())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::new();
    for vnfr in vnfrs.iter().filter(|v| v.ns_id == ns.osm_id) {
        let Some(profile) = ns.vnf_profiles.iter().find(|m| m.member == vnfr.member) else {
            continue;
        };
        let Some(pkg) = cx
            .desired
            .package(&profile.vnfd_id)
            .filter(|p| p.kind == PackageKind::Vnf)
        else {
            continue;
        };
        let live = cx
            .live
            .packages(PackageKind::Vnf)
            .iter()
            .find(|r| r.osm_id == vnfr.vnfd_osm_id);
        let uploading = p.actions.iter().any(|a| {
            a.kind == ObjectKind::VnfPackage
                && a.name == pkg.id
                && matches!(a.operation, Operation::UpdatePackage { .. })
        });
        let osm_revision = live.and_then(|r| r.revision);
        let modified = live.and_then(|r| r.modified);
        let updates: Vec<&OpRecord> = ops
            .iter()
            .copied()
            .filter(|o| {
                o.vnf_package_change()
                    .is_some_and(|(v, _)| v == vnfr.osm_id)
            })
            .filter(|o| match (o.start_time, modified) {
                (Some(t), Some(m)) => t >= m,
                _ => true,
            })
            .collect();
        let running = updates.iter().rev().find(|o| !o.is_terminal());
        let member = Target::Member {
            member: vnfr.member.clone(),
        };
        let with_target = |mut a: Action| {
            a.target = Some(member.clone());
            a
        };
        let runs = vnfr.revision.map_or("an unknown revision".to_owned(), |r| {
            format!("revision {r}")
        });
        if !uploading {
            let current = match (vnfr.revision, osm_revision) {
                (Some(have), Some(newest)) => have >= newest,
                // OSM 8 and records without revisions: nothing to compare.
                _ => true,
            };
            let completed = updates.iter().any(|o| o.succeeded());
            if let Some(op) = running {
                out.push(with_target(action(
                    want,
                    Operation::Unchanged {
                        osm_id: Some(ns.osm_id.clone()),
                        pending_op: Some(op.osm_id.clone()),
                    },
                    format!("VNF package {} update {} in progress", pkg.id, op.osm_id),
                )));
                continue;
            }
            if current || completed {
                continue;
            }
            let failures = updates
                .iter()
                .rev()
                .take_while(|o| o.is_terminal() && !o.succeeded())
                .count();
            if failures as u64 > u64::from(cx.opts.remediation.upgrade_retries) {
                let last = updates.last().expect("failures are updates");
                out.push(with_target(action(
                    want,
                    Operation::Broken {
                        osm_id: ns.osm_id.clone(),
                    },
                    format!(
                        "update {} to VNF package {} FAILED: {}; {}",
                        last.osm_id,
                        pkg.id,
                        last.failure_message(),
                        upgrade_hint(cx)
                    ),
                )));
                continue;
            }
        }
        let to = match (uploading, osm_revision) {
            (true, Some(r)) => format!("revision {} (uploaded by this plan)", r + 1),
            (true, None) => "the revision this plan uploads".to_owned(),
            (false, Some(r)) => format!("revision {r}"),
            (false, None) => "its newest revision".to_owned(),
        };
        out.push(with_target(action(
            want,
            Operation::UpdateNs {
                osm_id: ns.osm_id.clone(),
                vnf_instance_id: vnfr.osm_id.clone(),
                vnfd_osm_id: vnfr.vnfd_osm_id.clone(),
            },
            format!(
                "member {} runs {runs} of VNF package {}: updating it in place to {to} (CHANGE_VNFPKG)",
                vnfr.member, pkg.id
            ),
        )));
    }
    out
}

/// How recreation is allowed, in the reader's terms.
fn recreate_flag(cx: &Context) -> &'static str {
    cx.opts
        .audience
        .say("--allow-recreate", "spec.allowRecreate: true")
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
