//! Applying a plan in phases. Writes whose outcome is unknown (dropped connection, gateway error)
//! are resolved by re-listing, never by sending them again.

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::follow::{follow, OperationReport};
use super::{ActionResult, ActionStatus, EngineOptions, Progress, ProgressFn};
use crate::osm::{NbiClient, NbiError, NsDeletion};
use crate::plan::{
    package_filename, Inventory, LiveState, NsEntry, NsdRef, ObjectKind, Operation, PackageEntry,
    Plan,
};
use crate::repo::{DesiredState, NsInstance, PackageKind};

pub(super) struct Applied {
    pub results: Vec<ActionResult>,
    pub operations: Vec<OperationReport>,
}

fn result(status: ActionStatus, message: impl Into<String>) -> ActionResult {
    ActionResult {
        status,
        message: message.into(),
        osm_id: None,
        nslcmop_id: None,
    }
}

fn failed(e: &NbiError) -> ActionResult {
    result(ActionStatus::Failed, e.to_string())
}

/// The body of `POST ns_instances_content` for one NsInstance document.
pub fn ns_create_body(want: &NsInstance, nsd_osm_id: &str, vim_account_id: &str) -> Value {
    let mut body =
        json!({"nsName": want.name, "nsdId": nsd_osm_id, "vimAccountId": vim_account_id});
    if let Some(d) = &want.description {
        body["nsDescription"] = json!(d);
    }
    if let Some(params) = &want.kdu.params {
        body["additionalParamsForVnf"] = json!([{
            "member-vnf-index": want.vnf_name,
            "additionalParamsForKdu": [{"kdu_name": want.kdu.name, "additionalParams": params}],
        }]);
    }
    body
}

/// The body of the KDU upgrade action; `primitive_params` is always an object (null → 422).
pub fn ns_upgrade_body(want: &NsInstance) -> Value {
    json!({
        "member_vnf_index": want.vnf_name,
        "kdu_name": want.kdu.name,
        "primitive": "upgrade",
        "primitive_params": Value::Object(want.params_or_empty()),
    })
}

pub(super) async fn apply(
    client: &NbiClient,
    desired: &DesiredState,
    live: &LiveState,
    plan: &Plan,
    opts: &EngineOptions,
    progress: ProgressFn<'_>,
) -> Applied {
    let mut results: Vec<ActionResult> = plan
        .actions
        .iter()
        .map(|a| match &a.operation {
            Operation::Unchanged { osm_id, .. } => ActionResult {
                osm_id: osm_id.clone(),
                ..result(ActionStatus::NoOp, "unchanged")
            },
            Operation::Blocked => result(ActionStatus::Blocked, a.reason.clone()),
            _ => result(ActionStatus::Skipped, "not attempted"),
        })
        .collect();
    let report = |index: usize, r: &ActionResult| {
        progress(
            plan,
            &Progress::ActionFinished {
                index,
                status: r.status,
                message: r.message.clone(),
            },
        )
    };

    // Phase 1: packages, one at a time in dependency order.
    let mut nsd_ids: HashMap<String, String> = live
        .ns_packages
        .iter()
        .flatten()
        .filter_map(|p| p.id.clone().map(|id| (id, p.osm_id.clone())))
        .collect();
    let mut failed_pkgs: HashSet<String> = HashSet::new();
    for (i, a) in plan.actions.iter().enumerate() {
        let (Some(kind), Operation::CreatePackage | Operation::UpdatePackage { .. }) =
            (a.kind.package_kind(), &a.operation)
        else {
            continue;
        };
        let pkg = desired
            .package(&a.name)
            .expect("planned packages come from the desired state");
        if let Some(dep) = pkg.vnfd_refs.iter().find(|r| failed_pkgs.contains(*r)) {
            results[i] = result(
                ActionStatus::Skipped,
                format!("skipped: VNF package '{dep}' was not onboarded"),
            );
            failed_pkgs.insert(a.name.clone());
            report(i, &results[i]);
            continue;
        }
        progress(plan, &Progress::ActionStarted { index: i });
        let filename = package_filename(pkg);
        let r = match &a.operation {
            Operation::CreatePackage => match client
                .create_package(kind, pkg.tarball.clone(), &filename, &pkg.md5)
                .await
            {
                Ok(id) => ActionResult {
                    osm_id: Some(id),
                    ..result(ActionStatus::Succeeded, "onboarded")
                },
                Err(e @ NbiError::OutcomeUnknown { .. }) => {
                    match client.list_packages(kind, &[("id", &pkg.id)]).await {
                        Ok(found) if !found.is_empty() => ActionResult {
                            osm_id: Some(found[0].osm_id.clone()),
                            ..result(
                                ActionStatus::Succeeded,
                                format!("onboarded (confirmed by re-listing after: {e})"),
                            )
                        },
                        Ok(_) => result(
                            ActionStatus::Failed,
                            format!(
                            "{e}; re-listing shows it was not onboarded, next reconcile retries"
                        ),
                        ),
                        Err(e2) => result(
                            ActionStatus::Failed,
                            format!("{e}; re-listing failed too: {e2}"),
                        ),
                    }
                }
                Err(e) => failed(&e),
            },
            Operation::UpdatePackage { osm_id } => match client
                .replace_package(kind, osm_id, pkg.tarball.clone(), &filename, &pkg.md5)
                .await
            {
                Ok(()) => ActionResult {
                    osm_id: Some(osm_id.clone()),
                    ..result(ActionStatus::Succeeded, "re-uploaded")
                },
                Err(e) => failed(&e),
            },
            _ => unreachable!("filtered above"),
        };
        if r.status == ActionStatus::Succeeded {
            if kind == PackageKind::Ns {
                nsd_ids.insert(pkg.id.clone(), r.osm_id.clone().unwrap_or_default());
            }
        } else {
            failed_pkgs.insert(a.name.clone());
        }
        results[i] = r;
        report(i, &results[i]);
    }

    // Phase 2: NS creates and upgrades, independent of each other, with bounded concurrency.
    let by_name: HashMap<&str, &NsInstance> = desired
        .ns_instances
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let by_name = &by_name;
    let known_ns_ids: HashSet<&str> = live
        .ns_instances
        .iter()
        .map(|n| n.osm_id.as_str())
        .collect();
    let ns_jobs: Vec<usize> = plan
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            matches!(
                a.operation,
                Operation::CreateNs { .. } | Operation::UpgradeNs { .. }
            )
        })
        .map(|(i, _)| i)
        .collect();
    let done: Vec<(usize, ActionResult)> = stream::iter(ns_jobs)
        .map(|i| {
            let a = &plan.actions[i];
            let want = *by_name
                .get(a.name.as_str())
                .expect("planned NS come from the desired state");
            let nsd_ids = &nsd_ids;
            let failed_pkgs = &failed_pkgs;
            let known = &known_ns_ids;
            async move {
                progress(plan, &Progress::ActionStarted { index: i });
                let r = match &a.operation {
                    Operation::CreateNs {
                        nsd,
                        vim_account_id,
                    } => {
                        let nsd_osm_id = match nsd {
                            NsdRef::Live { osm_id } => Some(osm_id.clone()),
                            NsdRef::Repo { id } if failed_pkgs.contains(id) => None,
                            NsdRef::Repo { id } => nsd_ids.get(id).cloned(),
                        };
                        match nsd_osm_id {
                            Some(nsd_osm_id) => {
                                create_ns(client, want, &nsd_osm_id, vim_account_id, known).await
                            }
                            None => result(
                                ActionStatus::Skipped,
                                format!(
                                    "skipped: NS package '{}' was not onboarded",
                                    want.nsd_name
                                ),
                            ),
                        }
                    }
                    Operation::UpgradeNs { osm_id } => upgrade_ns(client, want, osm_id).await,
                    _ => unreachable!("filtered above"),
                };
                (i, r)
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for (i, r) in done {
        results[i] = r;
        report(i, &results[i]);
    }

    // Phase 3: NS deletes (prune).
    let del_jobs: Vec<usize> = plan
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a.operation, Operation::DeleteNs { .. }))
        .map(|(i, _)| i)
        .collect();
    let deleted: Vec<(usize, ActionResult)> = stream::iter(del_jobs)
        .map(|i| async move {
            let Operation::DeleteNs { osm_id } = &plan.actions[i].operation else {
                unreachable!()
            };
            progress(plan, &Progress::ActionStarted { index: i });
            (i, delete_ns(client, osm_id).await)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for (i, r) in deleted {
        results[i] = r;
        report(i, &results[i]);
    }

    // Follow the operations this apply started (and those it found in progress).
    let mut operations: Vec<(Option<usize>, OperationReport)> = Vec::new();
    for (i, (a, r)) in plan.actions.iter().zip(&results).enumerate() {
        let ns_osm_id = r.osm_id.clone().unwrap_or_default();
        let op_type = match &a.operation {
            Operation::CreateNs { .. } => "instantiate",
            Operation::UpgradeNs { .. } => "action",
            Operation::DeleteNs { .. } => "terminate",
            Operation::Unchanged {
                pending_op: Some(op),
                ..
            } if opts.wait => {
                operations.push((
                    None,
                    OperationReport::new(op, &a.name, &ns_osm_id, "pending"),
                ));
                continue;
            }
            _ => continue,
        };
        if let (ActionStatus::Succeeded, Some(op)) = (r.status, &r.nslcmop_id) {
            operations.push((
                Some(i),
                OperationReport::new(op, &a.name, &ns_osm_id, op_type),
            ));
        }
    }
    let mut reports: Vec<OperationReport> = operations.iter().map(|(_, r)| r.clone()).collect();
    if opts.wait && !reports.is_empty() {
        let on_change =
            |r: &OperationReport| progress(plan, &Progress::Operation { report: r.clone() });
        let span = tracing::info_span!("operations.follow", operations = reports.len());
        follow(
            client,
            &mut reports,
            opts.timeout,
            opts.poll_interval,
            &on_change,
        )
        .instrument(span)
        .await;
        for ((index, _), rep) in operations.iter().zip(&reports) {
            if let (Some(i), true) = (index, rep.failed()) {
                results[*i].status = ActionStatus::Failed;
                results[*i].message = format!(
                    "operation {} {}: {}",
                    rep.nslcmop_id,
                    rep.state,
                    rep.error.clone().unwrap_or_default()
                );
            }
        }
    } else {
        for r in &mut reports {
            r.state = "UNKNOWN".into();
        }
    }

    // Phase 4: package deletes (prune), NS packages first, once their users are gone.
    for (i, a) in plan.actions.iter().enumerate() {
        let (Some(kind), Operation::DeletePackage { osm_id, waits_for }) =
            (a.kind.package_kind(), &a.operation)
        else {
            continue;
        };
        let still_there: Vec<&String> = waits_for
            .iter()
            .filter(|name| {
                let del = plan.actions.iter().position(|x| {
                    x.kind == ObjectKind::NsInstance
                        && &x.name == *name
                        && matches!(x.operation, Operation::DeleteNs { .. })
                });
                let gone = del.is_some_and(|d| {
                    results[d].status == ActionStatus::Succeeded
                        && match &results[d].nslcmop_id {
                            None => true,
                            Some(op) => reports
                                .iter()
                                .any(|r| &r.nslcmop_id == op && r.state == "COMPLETED"),
                        }
                });
                !gone
            })
            .collect();
        if !still_there.is_empty() {
            let names: Vec<&str> = still_there.iter().map(|s| s.as_str()).collect();
            results[i] = result(
                ActionStatus::Skipped,
                format!(
                    "deferred: NS instance(s) {} not terminated yet; next reconcile deletes it",
                    names.join(", ")
                ),
            );
            report(i, &results[i]);
            continue;
        }
        progress(plan, &Progress::ActionStarted { index: i });
        results[i] = match client.delete_package(kind, osm_id).await {
            Ok(()) => ActionResult {
                osm_id: Some(osm_id.clone()),
                ..result(ActionStatus::Succeeded, "deleted")
            },
            Err(e) => failed(&e),
        };
        report(i, &results[i]);
    }
    Applied {
        results,
        operations: reports,
    }
}

async fn create_ns(
    client: &NbiClient,
    want: &NsInstance,
    nsd_osm_id: &str,
    vim: &str,
    known: &HashSet<&str>,
) -> ActionResult {
    match client
        .create_ns_instance(ns_create_body(want, nsd_osm_id, vim))
        .await
    {
        Ok(c) => ActionResult {
            osm_id: Some(c.osm_id.clone()),
            nslcmop_id: c.nslcmop_id.clone(),
            ..result(ActionStatus::Succeeded, "instantiate requested")
        },
        Err(e @ NbiError::OutcomeUnknown { .. }) => {
            // Did OSM create it before the answer was lost? A new NS with this name says yes.
            match client.list_ns_instances(&[("name", &want.name)]).await {
                Ok(found) => {
                    let new: Vec<_> = found
                        .iter()
                        .filter(|n| !known.contains(n.osm_id.as_str()))
                        .collect();
                    match new.as_slice() {
                        [] => result(
                            ActionStatus::Failed,
                            format!(
                                "{e}; re-listing shows no NS was created, next reconcile retries"
                            ),
                        ),
                        [ns] => {
                            let op = client
                                .list_ns_lcm_op_occs(&[
                                    ("nsInstanceId", &ns.osm_id),
                                    ("lcmOperationType", "instantiate"),
                                ])
                                .await
                                .ok()
                                .and_then(|ops| ops.into_iter().next().map(|o| o.osm_id));
                            ActionResult {
                                osm_id: Some(ns.osm_id.clone()),
                                nslcmop_id: op,
                                ..result(ActionStatus::Succeeded, format!("instantiate requested (confirmed by re-listing after: {e})"))
                            }
                        }
                        many => result(
                            ActionStatus::Failed,
                            format!(
                                "{e}; re-listing found {} new NS named '{}'",
                                many.len(),
                                want.name
                            ),
                        ),
                    }
                }
                Err(e2) => result(
                    ActionStatus::Failed,
                    format!("{e}; re-listing failed too: {e2}"),
                ),
            }
        }
        Err(e) => failed(&e),
    }
}

async fn upgrade_ns(client: &NbiClient, want: &NsInstance, osm_id: &str) -> ActionResult {
    let sent_at = crate::osm::now_epoch();
    match client.ns_action(osm_id, ns_upgrade_body(want)).await {
        Ok(op) => ActionResult {
            osm_id: Some(osm_id.into()),
            nslcmop_id: Some(op),
            ..result(ActionStatus::Succeeded, "upgrade requested")
        },
        Err(e @ NbiError::OutcomeUnknown { .. }) => {
            let params: Map<String, Value> = want.params_or_empty();
            match client
                .list_ns_lcm_op_occs(&[("nsInstanceId", osm_id), ("lcmOperationType", "action")])
                .await
            {
                Ok(ops) => {
                    // Allow for clock skew between us and OSM when matching the start time.
                    let mine = ops
                        .into_iter()
                        .filter(|o| {
                            o.start_time >= sent_at - 30.0
                                && o.kdu_params(&want.vnf_name, &want.kdu.name).as_ref()
                                    == Some(&params)
                        })
                        .max_by(|a, b| a.start_time.total_cmp(&b.start_time));
                    match mine {
                        Some(op) => ActionResult {
                            osm_id: Some(osm_id.into()),
                            nslcmop_id: Some(op.osm_id),
                            ..result(
                                ActionStatus::Succeeded,
                                format!("upgrade requested (confirmed by re-listing after: {e})"),
                            )
                        },
                        None => result(
                            ActionStatus::Failed,
                            format!("{e}; no matching operation in OSM, next reconcile retries"),
                        ),
                    }
                }
                Err(e2) => result(
                    ActionStatus::Failed,
                    format!("{e}; re-listing failed too: {e2}"),
                ),
            }
        }
        Err(e) => failed(&e),
    }
}

async fn delete_ns(client: &NbiClient, osm_id: &str) -> ActionResult {
    let outcome = match client.delete_ns_instance(osm_id).await {
        Ok(d) => Ok(d),
        Err(e @ NbiError::OutcomeUnknown { .. }) => match client
            .list_ns_instances(&[("_id", osm_id)])
            .await
        {
            Ok(found) if found.is_empty() => Ok(NsDeletion::Deleted),
            Ok(_) => match client
                .list_ns_lcm_op_occs(&[("nsInstanceId", osm_id), ("lcmOperationType", "terminate")])
                .await
            {
                Ok(ops) => match ops.into_iter().find(|o| !o.is_terminal()) {
                    Some(op) => Ok(NsDeletion::Terminating { op_id: op.osm_id }),
                    None => Err(format!(
                        "{e}; the NS is still there, next reconcile retries"
                    )),
                },
                Err(e2) => Err(format!("{e}; re-listing failed too: {e2}")),
            },
            Err(e2) => Err(format!("{e}; re-listing failed too: {e2}")),
        },
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(NsDeletion::Deleted) => ActionResult {
            osm_id: Some(osm_id.into()),
            ..result(ActionStatus::Succeeded, "deleted")
        },
        Ok(NsDeletion::Terminating { op_id }) => ActionResult {
            osm_id: Some(osm_id.into()),
            nslcmop_id: Some(op_id),
            ..result(ActionStatus::Succeeded, "terminate requested")
        },
        Err(msg) => result(ActionStatus::Failed, msg),
    }
}

/// The inventory after this apply: what this sync owns in OSM now.
pub(super) fn next_inventory(
    desired: &DesiredState,
    live: &LiveState,
    old: &Inventory,
    plan: &Plan,
    results: &[ActionResult],
    ops: &[OperationReport],
) -> Inventory {
    let mut inv = old.clone();
    let by_name: HashMap<&str, &NsInstance> = desired
        .ns_instances
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let op_states: HashMap<&str, &str> = ops
        .iter()
        .map(|o| (o.nslcmop_id.as_str(), o.state.as_str()))
        .collect();
    for (a, r) in plan.actions.iter().zip(results) {
        let op_state = r
            .nslcmop_id
            .as_deref()
            .and_then(|id| op_states.get(id).copied());
        match (a.kind, &a.operation, r.status) {
            (
                ObjectKind::NsInstance,
                Operation::CreateNs { .. }
                | Operation::UpgradeNs { .. }
                | Operation::Unchanged { .. },
                ActionStatus::Succeeded | ActionStatus::NoOp,
            ) => {
                let want = by_name
                    .get(a.name.as_str())
                    .expect("planned NS come from the desired state");
                if let Some(id) = &r.osm_id {
                    inv.ns_instances.insert(
                        a.name.clone(),
                        NsEntry {
                            osm_id: id.clone(),
                            digest: want.digest(),
                        },
                    );
                }
            }
            (ObjectKind::NsInstance, Operation::CreateNs { .. }, ActionStatus::Failed) => {
                // The NS exists in OSM even though its instantiate failed: own it so prune can remove it.
                if let Some(id) = &r.osm_id {
                    inv.ns_instances.insert(
                        a.name.clone(),
                        NsEntry {
                            osm_id: id.clone(),
                            digest: String::new(),
                        },
                    );
                }
            }
            // Gone at once (204) or terminated and autoremoved.
            (ObjectKind::NsInstance, Operation::DeleteNs { .. }, ActionStatus::Succeeded)
                if r.nslcmop_id.is_none() || op_state == Some("COMPLETED") =>
            {
                inv.ns_instances.remove(&a.name);
            }
            (
                ObjectKind::VnfPackage | ObjectKind::NsPackage,
                Operation::CreatePackage
                | Operation::UpdatePackage { .. }
                | Operation::Unchanged { .. },
                ActionStatus::Succeeded | ActionStatus::NoOp,
            ) => {
                let pkg = desired
                    .package(&a.name)
                    .expect("planned packages come from the desired state");
                if let Some(id) = &r.osm_id {
                    inv.packages.insert(
                        a.name.clone(),
                        PackageEntry {
                            kind: pkg.kind,
                            osm_id: id.clone(),
                            digest: pkg.digest.clone(),
                        },
                    );
                }
            }
            (
                ObjectKind::VnfPackage | ObjectKind::NsPackage,
                Operation::DeletePackage { .. },
                ActionStatus::Succeeded,
            ) => {
                inv.packages.remove(&a.name);
            }
            _ => {}
        }
    }
    // Forget owned objects that are neither desired nor in OSM any more.
    let live_ids: HashSet<&str> = live
        .ns_instances
        .iter()
        .map(|n| n.osm_id.as_str())
        .collect();
    inv.ns_instances.retain(|name, e| {
        by_name.contains_key(name.as_str()) || live_ids.contains(e.osm_id.as_str())
    });
    inv.packages.retain(|id, e| {
        if desired.package(id).is_some() {
            return true;
        }
        let list = match e.kind {
            PackageKind::Vnf => &live.vnf_packages,
            PackageKind::Ns => &live.ns_packages,
        };
        list.as_ref()
            .is_none_or(|l| l.iter().any(|p| p.osm_id == e.osm_id))
    });
    inv
}
