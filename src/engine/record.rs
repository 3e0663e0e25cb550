//! The inventory as an apply goes: each answered write updates what the sync owns at once (the
//! CLI saves it after each one), and an NS leaves the inventory only once OSM confirms it is gone.

use std::collections::HashSet;

use super::{ActionResult, ActionStatus};
use crate::plan::{Action, Inventory, LiveState, NsEntry, ObjectKind, Operation, PackageEntry};
use crate::repo::{DesiredState, PackageKind};

/// Records what one action's result means for ownership. `tagged_in_osm`: OSM's copy of a
/// package this action leaves unchanged carries this sync's owner tag.
pub(super) fn record(
    inv: &mut Inventory,
    desired: &DesiredState,
    a: &Action,
    r: &ActionResult,
    tagged_in_osm: bool,
) {
    match (a.kind, &a.operation, r.status) {
        (
            ObjectKind::NsInstance,
            Operation::CreateNs { .. } | Operation::RecreateNs { .. },
            // NoOp: a concurrent run of this sync created the NS this run keeps.
            ActionStatus::Succeeded | ActionStatus::Failed | ActionStatus::NoOp,
        ) => {
            // A failed instantiate still leaves an NS in OSM: own it, so that remediation and
            // prune can act on it, and count the attempt.
            let (Some(want), Some(id)) = (desired.ns_instance(&a.name), &r.osm_id) else {
                return;
            };
            let digest = want.digest();
            let attempts = match &a.operation {
                // The create step of a recreate ran: one more attempt than the NS it replaced.
                Operation::RecreateNs { osm_id, .. } => {
                    inv.ns_instances
                        .get(&a.name)
                        .filter(|e| &e.osm_id == osm_id && e.digest == digest)
                        .map(|e| e.instantiate_attempts.max(1))
                        .unwrap_or(1)
                        + 1
                }
                _ => 1,
            };
            inv.ns_instances.insert(
                a.name.clone(),
                NsEntry {
                    osm_id: id.clone(),
                    digest,
                    instantiate_attempts: attempts,
                    adopted: false,
                },
            );
        }
        (
            ObjectKind::NsInstance,
            Operation::UpgradeNs { .. }
            | Operation::ScaleNs { .. }
            | Operation::UpdateNs { .. }
            | Operation::Unchanged { .. },
            ActionStatus::Succeeded | ActionStatus::NoOp,
        ) => {
            let (Some(want), Some(id)) = (desired.ns_instance(&a.name), &r.osm_id) else {
                return;
            };
            let same = inv.ns_instances.get(&a.name).filter(|e| &e.osm_id == id);
            let attempts = same.map(|e| e.instantiate_attempts).unwrap_or(0);
            // An adoption is recorded once the action that adopts succeeds, and kept after.
            let adopted = a.adopt || same.is_some_and(|e| e.adopted);
            inv.ns_instances.insert(
                a.name.clone(),
                NsEntry {
                    osm_id: id.clone(),
                    digest: want.digest(),
                    instantiate_attempts: attempts,
                    adopted,
                },
            );
        }
        (
            ObjectKind::VnfPackage | ObjectKind::NsPackage,
            Operation::CreatePackage | Operation::UpdatePackage { .. },
            ActionStatus::Succeeded,
        ) => {
            // Uploaded with this sync's tag: proof of ownership from now on.
            let (Some(pkg), Some(id)) = (desired.package(&a.name), &r.osm_id) else {
                return;
            };
            inv.packages.insert(
                a.name.clone(),
                PackageEntry {
                    kind: pkg.kind,
                    osm_id: id.clone(),
                    digest: pkg.digest.clone(),
                    tagged: true,
                },
            );
        }
        (
            ObjectKind::VnfPackage | ObjectKind::NsPackage,
            Operation::Unchanged { .. },
            ActionStatus::NoOp,
        ) => {
            // Unchanged says nothing about whose a package is (another sync's copy of the same
            // content is unchanged too): only OSM's tag of this sync records it; otherwise only
            // an entry this sync already has is refreshed.
            let (Some(pkg), Some(id)) = (desired.package(&a.name), &r.osm_id) else {
                return;
            };
            if tagged_in_osm {
                inv.packages.insert(
                    a.name.clone(),
                    PackageEntry {
                        kind: pkg.kind,
                        osm_id: id.clone(),
                        digest: pkg.digest.clone(),
                        tagged: true,
                    },
                );
            } else if let Some(e) = inv
                .packages
                .get_mut(&a.name)
                .filter(|e| &e.osm_id == id && e.kind == pkg.kind)
            {
                e.digest = pkg.digest.clone();
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

/// OSM confirmed the NS is gone: forget it, under whatever name it was recorded.
pub(super) fn forget_ns(inv: &mut Inventory, osm_id: &str) {
    inv.ns_instances.retain(|_, e| e.osm_id != osm_id);
}

/// Forgets owned objects that are neither desired nor in OSM any more (as OSM was listed before
/// this apply; what was deleted during it is forgotten by [`forget_ns`] when OSM confirms it).
pub(super) fn forget_vanished(inv: &mut Inventory, desired: &DesiredState, live: &LiveState) {
    let live_ids: HashSet<&str> = live
        .ns_instances
        .iter()
        .map(|n| n.osm_id.as_str())
        .collect();
    inv.ns_instances.retain(|name, e| {
        desired.ns_instance(name).is_some() || live_ids.contains(e.osm_id.as_str())
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
}
