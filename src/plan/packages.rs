//! Packages: onboard what is missing, re-upload what changed (by content digest), prune what this
//! sync owns and Git no longer has, never what another sync uploaded.

use std::collections::BTreeSet;

use super::drift::{note_drift, reported};
use super::owner::{Marked, Owner, Recorded};
use super::{Action, Inventory, LiveState, ObjectKind, Operation, Plan, PlanOptions};
use crate::osm::{NsRecord, PackageRecord};
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

/// A stored file name OSM Ops wrote: `<id>_sha256-<64 hex>[_owner-<12 hex>].tar.gz` (the
/// tag-less form is what versions before owner tags wrote). Any other name, including one that
/// only looks like it (a short digest, a stray `_owner-` part), is not one: it proves neither
/// content nor owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile<'a> {
    pub id: &'a str,
    /// `sha256:<hex>` of the package content.
    pub digest: String,
    pub tag: Option<&'a str>,
}

impl<'a> StoredFile<'a> {
    pub fn parse(name: &'a str) -> Option<StoredFile<'a>> {
        let stem = name.strip_suffix(".tar.gz")?;
        let (rest, tag) = match stem.rsplit_once("_owner-") {
            Some((rest, tag)) if hex_of_len(tag, 12) => (rest, Some(tag)),
            _ => (stem, None),
        };
        let (id, hex) = rest.rsplit_once("_sha256-")?;
        (!id.is_empty() && hex_of_len(hex, 64)).then(|| StoredFile {
            id,
            digest: format!("sha256:{}", hex.to_ascii_lowercase()),
            tag,
        })
    }

    /// The stored file of package `id`, if OSM's name for it is one OSM Ops wrote for that id.
    fn of(zipfile: Option<&'a str>, id: &str) -> Option<StoredFile<'a>> {
        zipfile.and_then(StoredFile::parse).filter(|f| f.id == id)
    }
}

/// The content digest recorded by [`package_filename`] (also in the tag-less names of earlier
/// versions), if the file name is one OSM Ops wrote.
pub fn digest_from_filename(name: &str) -> Option<String> {
    StoredFile::parse(name).map(|f| f.digest)
}

/// The owner tag recorded by [`package_filename`], if the file name is one OSM Ops wrote.
pub fn owner_tag_from_filename(name: &str) -> Option<String> {
    StoredFile::parse(name)?.tag.map(str::to_owned)
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
        let a = match existing {
            None => missing_package(pkg, inventory, opts, p),
            Some(rec) => existing_package(pkg, rec, inventory, opts, p),
        };
        p.actions.push(a);
    }
}

fn package_action(pkg: &Package, operation: Operation, reason: impl Into<String>) -> Action {
    Action {
        kind: ObjectKind::of(pkg.kind),
        name: pkg.id.clone(),
        operation,
        reason: reason.into(),
        adopt: false,
        target: None,
    }
}

/// A package Git has and OSM does not: onboarded, unless this sync uploaded exactly Git's
/// content before and OSM lost it since (drift, which the policy may only report).
fn missing_package(
    pkg: &Package,
    inventory: &Inventory,
    opts: &PlanOptions,
    p: &mut Plan,
) -> Action {
    let Some(uploaded) = inventory
        .packages
        .get(&pkg.id)
        .filter(|e| e.kind == pkg.kind && e.digest == pkg.digest)
    else {
        return package_action(pkg, Operation::CreatePackage, "not in OSM");
    };
    let kind = ObjectKind::of(pkg.kind);
    let what = format!("deleted in OSM outside Git (was {})", uploaded.osm_id);
    match note_drift(p, opts.drift.packages, kind, &pkg.id, what) {
        (true, why) => package_action(
            pkg,
            Operation::CreatePackage,
            format!("{why}; onboarding Git's content again"),
        ),
        (false, why) => reported(kind, &pkg.id, None, &why),
    }
}

/// A package Git has and OSM has too. What OSM holds is known only from a stored file name OSM
/// Ops wrote for this package (or, when OSM keeps no file name at all, from the inventory's
/// record of this very package): any other name means unknown content, never "unchanged".
fn existing_package(
    pkg: &Package,
    rec: &PackageRecord,
    inventory: &Inventory,
    opts: &PlanOptions,
    p: &mut Plan,
) -> Action {
    let zipfile = rec.zipfile.as_deref();
    let stored = StoredFile::of(zipfile, &pkg.id);
    let marked = opts
        .owner
        .judge_package(stored.as_ref().and_then(|f| f.tag));
    let entry = inventory
        .packages
        .get(&pkg.id)
        .filter(|e| e.osm_id == rec.osm_id && e.kind == pkg.kind);
    let content = match (&stored, zipfile) {
        (Some(f), _) => Some(f.digest.clone()),
        (None, None) => entry.map(|e| e.digest.clone()),
        (None, Some(_)) => None,
    };
    let unchanged = |reason: &str| {
        package_action(
            pkg,
            Operation::Unchanged {
                osm_id: Some(rec.osm_id.clone()),
                pending_op: None,
            },
            reason,
        )
    };
    let stored_as = zipfile
        .map(|f| format!(" (stored as '{f}')"))
        .unwrap_or_default();
    if marked == Marked::Theirs {
        let tag = stored.and_then(|f| f.tag).unwrap_or_default();
        return if content.as_deref() == Some(pkg.digest.as_str()) {
            unchanged("content digest unchanged (uploaded by another sync)")
        } else {
            package_action(
                pkg,
                Operation::Blocked,
                format!("OSM's copy{stored_as} was uploaded by another sync (owner tag {tag}) and differs from Git; not replacing it"),
            )
        };
    }
    let recorded = inventory.package_record(&pkg.id, pkg.kind, &rec.osm_id);
    if Owner::owns(marked, recorded).is_none() {
        let earlier = inventory
            .packages
            .get(&pkg.id)
            .filter(|e| e.kind == pkg.kind && e.osm_id != rec.osm_id)
            .map(|e| format!(" (this sync uploaded it as {}: it was deleted and onboarded again outside OSM Ops)", e.osm_id))
            .unwrap_or_default();
        let why = match marked {
            Marked::Legacy => format!("OSM's copy{stored_as} carries this sync's owner tag in an earlier format that another sync could share, and this sync has no record of it"),
            _ if stored.is_none() && zipfile.is_some() => format!("OSM's copy{stored_as} was not uploaded by OSM Ops (its content is unknown) and carries no mark of this sync"),
            _ => format!("OSM's copy{stored_as} carries no mark of this sync (uploaded by hand, by another tool or by an earlier OSM Ops)"),
        } + &earlier;
        if !opts.adopt {
            return package_action(
                pkg,
                Operation::Blocked,
                format!(
                    "{why}; OSM Ops does not take it over unless told to: adopt it with {}, which re-uploads Git's content with this sync's tag",
                    opts.audience.say("--adopt", "spec.adopt: true")
                ),
            );
        }
        let mut a = package_action(
            pkg,
            Operation::UpdatePackage {
                osm_id: rec.osm_id.clone(),
            },
            format!("adopting: {why}; re-uploading Git's content with this sync's tag"),
        );
        a.adopt = true;
        return a;
    }
    // This sync uploaded exactly Git's content last: a different copy in OSM is drift.
    if entry.is_some_and(|e| e.digest == pkg.digest)
        && content.as_deref() != Some(pkg.digest.as_str())
    {
        let what = match &content {
            Some(d) => format!(
                "replaced in OSM outside Git (content {} instead of {})",
                short(d),
                short(&pkg.digest)
            ),
            // Without a file name OSM's content is the entry's, so here there is one.
            None => format!(
                "replaced in OSM outside Git (uploaded as '{}')",
                zipfile.unwrap_or_default()
            ),
        };
        let osm_id = rec.osm_id.clone();
        let kind = ObjectKind::of(pkg.kind);
        return match note_drift(p, opts.drift.packages, kind, &pkg.id, what) {
            (true, why) => package_action(
                pkg,
                Operation::UpdatePackage { osm_id },
                format!("{why}; re-uploading Git's content"),
            ),
            (false, why) => reported(kind, &pkg.id, Some(osm_id), &why),
        };
    }
    match content {
        Some(d) if d == pkg.digest => unchanged("content digest unchanged"),
        Some(d) => package_action(
            pkg,
            Operation::UpdatePackage {
                osm_id: rec.osm_id.clone(),
            },
            format!(
                "content digest changed ({} → {})",
                short(&d),
                short(&pkg.digest)
            ),
        ),
        None => package_action(
            pkg,
            Operation::UpdatePackage {
                osm_id: rec.osm_id.clone(),
            },
            format!("OSM's copy{stored_as} has no content digest OSM Ops can read: re-uploading Git's content"),
        ),
    }
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
        rec: &'a PackageRecord,
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
            let tag = StoredFile::of(rec.zipfile.as_deref(), id).and_then(|f| f.tag);
            let marked = opts.owner.judge_package(tag);
            let recorded = inventory.package_record(id, kind, &rec.osm_id);
            match (Owner::owns(marked, recorded), marked, recorded) {
                (Some(_), _, _) => {}
                (None, Marked::Theirs, Recorded::Unproven | Recorded::Proven) => {
                    p.notes.push(format!(
                        "{} {id}: recorded as owned, but OSM's copy was uploaded by another sync (owner tag {}): not deleted, forgotten",
                        ObjectKind::of(kind).label(),
                        tag.unwrap_or_default()
                    ));
                    continue;
                }
                (None, _, Recorded::Unproven) => {
                    p.notes.push(format!(
                        "{} {id}: recorded by an earlier version, but OSM's copy carries no mark of this sync: not deleted",
                        ObjectKind::of(kind).label(),
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
            adopt: false,
            target: None,
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
            vdus: vec![],
            scaling_aspects: vec![],
            virtual_links: vec![],
            tarball: bytes::Bytes::new(),
            md5: String::new(),
            digest: digest.clone(),
        };
        let owner = Owner::new("dir:/repo").unwrap();
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
