//! Packages: onboard what is missing, re-upload what changed (by content digest), prune what this
//! sync owns and Git no longer has, never what another sync uploaded.

use std::collections::BTreeSet;

use super::drift::drift_action;
use super::owner::{Marked, Owner};
use super::{Action, Inventory, LiveState, ObjectKind, Operation, Plan, PlanOptions};
use crate::osm::NsRecord;
use crate::repo::{DesiredState, Package, PackageKind};

/// The OSM `Content-Filename` of a package upload: `<id>_sha256-<hex>_owner-<tag>.tar.gz`. OSM keeps
/// it as `_admin.storage.zipfile`, so OSM itself records what was uploaded (the content digest:
/// "unchanged" is detectable without an inventory) and by whom (the owner's tag: prune can prove
/// ownership without an inventory).
pub fn package_filename(pkg: &Package, owner: &Owner) -> String {
    format!(
        "{}_{}_owner-{}.tar.gz",
        pkg.id,
        pkg.digest.replace(':', "-"),
        owner.package_tag()
    )
}

fn hex_of_len(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The file name without `.tar.gz` and the owner tag, and the tag if there is one.
fn split_owner(name: &str) -> Option<(&str, Option<&str>)> {
    let stem = name.strip_suffix(".tar.gz")?;
    Some(match stem.rsplit_once("_owner-") {
        Some((rest, tag)) if hex_of_len(tag, 12) => (rest, Some(tag)),
        _ => (stem, None),
    })
}

/// The content digest recorded by [`package_filename`] (also in the tag-less names of earlier
/// versions), if the file name has one.
pub fn digest_from_filename(name: &str) -> Option<String> {
    let (stem, _) = split_owner(name)?;
    let hex = stem.rsplit_once("_sha256-")?.1;
    hex_of_len(hex, 64).then(|| format!("sha256:{hex}"))
}

/// The owner tag recorded by [`package_filename`], if the file name has one.
pub fn owner_tag_from_filename(name: &str) -> Option<String> {
    split_owner(name)?.1.map(str::to_owned)
}

fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

pub(super) fn plan_packages(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    opts: &PlanOptions,
    p: &mut Plan,
) {
    for pkg in &desired.packages {
        for r in &pkg.vnfd_refs {
            let in_repo = desired
                .packages
                .iter()
                .any(|x| &x.id == r && x.kind == PackageKind::Vnf);
            let in_osm = live
                .packages(PackageKind::Vnf)
                .iter()
                .any(|x| x.id.as_deref() == Some(r));
            if !in_repo && !in_osm {
                p.problems.push(format!(
                    "{}: NS package '{}' references VNFD '{r}', which is neither in the repository nor in OSM",
                    pkg.source, pkg.id
                ));
            }
        }
        let existing = live
            .packages(pkg.kind)
            .iter()
            .find(|x| x.id.as_deref() == Some(pkg.id.as_str()));
        // This sync uploaded exactly Git's content last: a different copy in OSM is drift.
        let ours = inventory
            .packages
            .get(&pkg.id)
            .filter(|e| e.kind == pkg.kind && e.digest == pkg.digest);
        let kind = ObjectKind::of(pkg.kind);
        if let Some(a) = ours.and_then(|e| package_drift(pkg, existing, e, opts, p)) {
            p.actions.push(a);
            continue;
        }
        let (operation, reason) = match existing {
            None => (Operation::CreatePackage, "not in OSM".to_owned()),
            Some(rec) => {
                // OSM's own record of the upload first; the inventory for what it cannot say.
                let zipfile = rec.zipfile.as_deref();
                let recorded = zipfile.and_then(digest_from_filename).or_else(|| {
                    inventory
                        .packages
                        .get(&pkg.id)
                        .filter(|e| e.osm_id == rec.osm_id)
                        .map(|e| e.digest.clone())
                });
                let tag = zipfile.and_then(owner_tag_from_filename);
                let marked = opts.owner.judge_package(tag.as_deref());
                match recorded {
                    Some(d) if d == pkg.digest => (
                        Operation::Unchanged {
                            osm_id: Some(rec.osm_id.clone()),
                            pending_op: None,
                        },
                        if marked == Marked::Theirs {
                            "content digest unchanged (uploaded by another sync)".to_owned()
                        } else {
                            "content digest unchanged".to_owned()
                        },
                    ),
                    _ if marked == Marked::Theirs => (
                        Operation::Blocked,
                        format!(
                            "OSM's copy differs from Git but was uploaded by another sync (owner tag {}); not replacing it",
                            tag.unwrap_or_default()
                        ),
                    ),
                    Some(d) => (
                        Operation::UpdatePackage {
                            osm_id: rec.osm_id.clone(),
                        },
                        format!(
                            "content digest changed ({} → {})",
                            short(&d),
                            short(&pkg.digest)
                        ),
                    ),
                    None => (
                        Operation::UpdatePackage {
                            osm_id: rec.osm_id.clone(),
                        },
                        "no recorded digest for the package in OSM: re-uploading to take ownership"
                            .to_owned(),
                    ),
                }
            }
        };
        p.actions.push(Action {
            kind,
            name: pkg.id.clone(),
            operation,
            reason,
        });
    }
}

/// OSM's copy of a package this sync last uploaded with Git's current content, when it is not
/// that upload any more: deleted, onboarded again, or replaced (another file, other content).
fn package_drift(
    pkg: &Package,
    existing: Option<&crate::osm::PackageRecord>,
    uploaded: &super::PackageEntry,
    opts: &PlanOptions,
    p: &mut Plan,
) -> Option<Action> {
    let kind = ObjectKind::of(pkg.kind);
    let policy = opts.drift.packages;
    let Some(rec) = existing else {
        return Some(drift_action(
            p,
            policy,
            kind,
            &pkg.id,
            None,
            format!("deleted in OSM outside Git (was {})", uploaded.osm_id),
            |_, why| Action {
                kind,
                name: pkg.id.clone(),
                operation: Operation::CreatePackage,
                reason: format!("{why}; onboarding Git's content again"),
            },
        ));
    };
    let zipfile = rec.zipfile.as_deref();
    let tag = zipfile.and_then(owner_tag_from_filename);
    if opts.owner.judge_package(tag.as_deref()) == Marked::Theirs {
        // Another sync's upload: never ours to correct (the normal path blocks it).
        return None;
    }
    let in_osm = zipfile.and_then(digest_from_filename);
    let what = match (in_osm, zipfile) {
        (Some(d), _) if d == pkg.digest => return None,
        _ if rec.osm_id != uploaded.osm_id => format!(
            "onboarded again outside Git (now {}, was {})",
            rec.osm_id, uploaded.osm_id
        ),
        (Some(d), _) => format!(
            "replaced in OSM outside Git (content {} instead of {})",
            short(&d),
            short(&pkg.digest)
        ),
        (None, Some(file)) => format!("replaced in OSM outside Git (uploaded as '{file}')"),
        // OSM keeps no record of the upload: nothing to compare with.
        (None, None) => return None,
    };
    let osm_id = rec.osm_id.clone();
    Some(drift_action(
        p,
        policy,
        kind,
        &pkg.id,
        Some(osm_id.clone()),
        what,
        |_, why| Action {
            kind,
            name: pkg.id.clone(),
            operation: Operation::UpdatePackage { osm_id },
            reason: format!("{why}; re-uploading Git's content"),
        },
    ))
}

/// Deletes packages this sync owns that left Git: recorded in the inventory (and not marked as
/// someone else's in OSM) or marked with this sync's tag. NS packages go before the VNF packages
/// they reference; each waits for the NS instances using it that this plan deletes.
pub(super) fn prune_packages(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    opts: &PlanOptions,
    deleted_ns: &BTreeSet<String>,
    p: &mut Plan,
) {
    struct Candidate<'a> {
        id: String,
        kind: PackageKind,
        rec: &'a crate::osm::PackageRecord,
    }
    let mut owned: Vec<Candidate> = Vec::new();
    for kind in [PackageKind::Ns, PackageKind::Vnf] {
        for rec in live.packages(kind) {
            let Some(id) = rec.id.as_deref() else {
                continue;
            };
            if desired.package(id).is_some() {
                continue;
            }
            let tag = rec.zipfile.as_deref().and_then(owner_tag_from_filename);
            let recorded = inventory
                .packages
                .get(id)
                .is_some_and(|e| e.osm_id == rec.osm_id && e.kind == kind);
            match opts.owner.judge_package(tag.as_deref()) {
                Marked::Ours => {}
                Marked::Unmarked if recorded => {}
                Marked::Theirs if recorded => {
                    p.notes.push(format!(
                        "{} {id}: recorded as owned, but OSM's copy was uploaded by another sync (owner tag {}): not deleted, forgotten",
                        ObjectKind::of(kind).label(),
                        tag.unwrap_or_default()
                    ));
                    continue;
                }
                _ => continue,
            }
            owned.push(Candidate {
                id: id.to_owned(),
                kind,
                rec,
            });
        }
    }
    // NS packages before the VNF packages they reference; then by id, descending.
    owned.sort_by(|a, b| b.kind.cmp(&a.kind).then(b.id.cmp(&a.id)));
    let deleted_pkgs: BTreeSet<&str> = owned.iter().map(|c| c.id.as_str()).collect();
    for c in &owned {
        let users: Vec<&NsRecord> = live
            .ns_instances
            .iter()
            .filter(|n| match c.kind {
                PackageKind::Ns => n.nsd_osm_id.as_deref() == Some(c.rec.osm_id.as_str()),
                PackageKind::Vnf => n.vnfd_osm_ids.contains(&c.rec.osm_id),
            })
            .collect();
        let blocking_ns: Vec<&str> = users
            .iter()
            .filter(|n| !deleted_ns.contains(&n.osm_id))
            .map(|n| n.name.as_str())
            .collect();
        let referencing_nsds: Vec<String> = if c.kind == PackageKind::Vnf {
            let live_refs = live
                .packages(PackageKind::Ns)
                .iter()
                .filter(|n| n.vnfd_refs.contains(&c.id))
                .filter_map(|n| n.id.clone())
                .filter(|nid| !deleted_pkgs.contains(nid.as_str()));
            let repo_refs = desired
                .packages
                .iter()
                .filter(|d| d.vnfd_refs.contains(&c.id))
                .map(|d| d.id.clone());
            live_refs
                .chain(repo_refs)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        let (operation, reason) = if !blocking_ns.is_empty() {
            (
                Operation::Blocked,
                format!(
                    "not in Git, but still used by NS instance(s) {}",
                    blocking_ns.join(", ")
                ),
            )
        } else if !referencing_nsds.is_empty() {
            (
                Operation::Blocked,
                format!(
                    "not in Git, but still referenced by NS package(s) {}",
                    referencing_nsds.join(", ")
                ),
            )
        } else {
            let waits_for: Vec<String> = users.iter().map(|n| n.osm_id.clone()).collect();
            (
                Operation::DeletePackage {
                    osm_id: c.rec.osm_id.clone(),
                    waits_for,
                },
                "not in Git".to_owned(),
            )
        };
        p.actions.push(Action {
            kind: ObjectKind::of(c.kind),
            name: c.id.clone(),
            operation,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_digest_and_owner_and_old_names_still_read() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let pkg = Package {
            kind: PackageKind::Vnf,
            id: "ldap_knf".into(),
            folder: "ldap_knf".into(),
            source: "osm-pkgs/ldap_knf".into(),
            vnfd_refs: vec![],
            vnf_profiles: vec![],
            kdus: vec![],
            tarball: bytes::Bytes::new(),
            md5: String::new(),
            digest: digest.clone(),
        };
        let owner = Owner::new("dir:/repo");
        let name = package_filename(&pkg, &owner);
        assert_eq!(
            name,
            format!(
                "ldap_knf_sha256-{}_owner-{}.tar.gz",
                "ab".repeat(32),
                owner.package_tag()
            )
        );
        assert_eq!(digest_from_filename(&name), Some(digest.clone()));
        assert_eq!(owner_tag_from_filename(&name), Some(owner.package_tag()));
        let old = format!("ldap_knf_sha256-{}.tar.gz", "ab".repeat(32));
        assert_eq!(digest_from_filename(&old), Some(digest));
        assert_eq!(owner_tag_from_filename(&old), None);
        assert_eq!(digest_from_filename("package.tar.gz"), None);
    }
}
