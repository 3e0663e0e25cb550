//! The pure plan function: `plan(desired, live, inventory) → Plan`. No I/O, deterministic order.
//!
//! Phases: packages (dependency order) → NS create/upgrade (by name) → NS delete (prune) →
//! package delete (prune, reverse dependency order). Every action carries a human reason.

mod inventory;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

pub use inventory::{Inventory, NsEntry, PackageEntry};

use crate::osm::{NsRecord, OpRecord, PackageRecord, VimAccount};
use crate::repo::{DesiredState, NsInstance, Package, PackageKind};

/// What OSM looks like, as far as this reconcile needs to know. Collections that were not needed
/// are not fetched (`None`).
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    pub vim_accounts: Option<Vec<VimAccount>>,
    pub vnf_packages: Option<Vec<PackageRecord>>,
    pub ns_packages: Option<Vec<PackageRecord>>,
    pub ns_instances: Vec<NsRecord>,
    pub operations: Option<Vec<OpRecord>>,
}

impl LiveState {
    fn packages(&self, kind: PackageKind) -> &[PackageRecord] {
        let list = match kind {
            PackageKind::Vnf => &self.vnf_packages,
            PackageKind::Ns => &self.ns_packages,
        };
        list.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ObjectKind {
    VnfPackage,
    NsPackage,
    NsInstance,
}

impl ObjectKind {
    pub fn of(kind: PackageKind) -> ObjectKind {
        match kind {
            PackageKind::Vnf => ObjectKind::VnfPackage,
            PackageKind::Ns => ObjectKind::NsPackage,
        }
    }

    pub fn package_kind(self) -> Option<PackageKind> {
        match self {
            ObjectKind::VnfPackage => Some(PackageKind::Vnf),
            ObjectKind::NsPackage => Some(PackageKind::Ns),
            ObjectKind::NsInstance => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::VnfPackage => "VnfPackage",
            ObjectKind::NsPackage => "NsPackage",
            ObjectKind::NsInstance => "NsInstance",
        }
    }
}

/// Where the NSD of an NS to create comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NsdRef {
    /// Already in OSM, by `_id`.
    Live { osm_id: String },
    /// Onboarded earlier in this plan, by descriptor id.
    Repo { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Operation {
    CreatePackage,
    UpdatePackage {
        osm_id: String,
    },
    /// Delete a package; runs only once the NS instances in `waits_for` (deleted earlier in this
    /// plan) are gone.
    DeletePackage {
        osm_id: String,
        waits_for: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    CreateNs {
        nsd: NsdRef,
        vim_account_id: String,
    },
    UpgradeNs {
        osm_id: String,
    },
    DeleteNs {
        osm_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Unchanged {
        osm_id: Option<String>,
        pending_op: Option<String>,
    },
    Blocked,
}

impl Operation {
    pub fn label(&self) -> &'static str {
        match self {
            Operation::CreatePackage | Operation::CreateNs { .. } => "create",
            Operation::UpdatePackage { .. } => "update",
            Operation::UpgradeNs { .. } => "upgrade",
            Operation::DeletePackage { .. } | Operation::DeleteNs { .. } => "delete",
            Operation::Unchanged { .. } => "unchanged",
            Operation::Blocked => "blocked",
        }
    }

    pub fn is_write(&self) -> bool {
        !matches!(self, Operation::Unchanged { .. } | Operation::Blocked)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub kind: ObjectKind,
    pub name: String,
    pub operation: Operation,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Problems found against live OSM (e.g. a VIM account that does not exist). A plan with
    /// problems must not be applied at all.
    pub problems: Vec<String>,
}

impl Plan {
    pub fn writes(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.operation.is_write())
            .count()
    }

    pub fn count(&self, label: &str) -> usize {
        self.actions
            .iter()
            .filter(|a| a.operation.label() == label)
            .count()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    pub prune: bool,
}

/// What the engine must fetch for `plan()` to decide: lists are fetched at most once and only
/// when the desired state needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub vim_accounts: bool,
    pub vnf_packages: bool,
    pub ns_packages: bool,
    pub operations: bool,
}

/// Decides which lists to fetch, given the NS instance list (always fetched first).
pub fn needs(
    desired: &DesiredState,
    ns_instances: &[NsRecord],
    inventory: &Inventory,
    opts: PlanOptions,
) -> Needs {
    let live_names: BTreeSet<&str> = ns_instances.iter().map(|n| n.name.as_str()).collect();
    let any_create = desired
        .ns_instances
        .iter()
        .any(|n| !live_names.contains(n.name.as_str()));
    let any_existing = desired
        .ns_instances
        .iter()
        .any(|n| live_names.contains(n.name.as_str()));
    let has = |k: PackageKind| desired.packages.iter().any(|p| p.kind == k);
    // NS instances to create whose descriptors are not all in the repository are checked against
    // OSM's descriptors (existing ones against their own NS record, which costs nothing).
    let nsd_from_osm = desired.ns_instances.iter().any(|n| {
        !live_names.contains(n.name.as_str())
            && desired.package(&n.nsd_name).is_none_or(|nsd| {
                nsd.vnf_profiles
                    .iter()
                    .any(|m| desired.package(&m.vnfd_id).is_none())
            })
    });
    let prunes_packages = opts.prune
        && inventory
            .packages
            .keys()
            .any(|id| desired.package(id).is_none());
    Needs {
        vim_accounts: any_create,
        vnf_packages: has(PackageKind::Vnf)
            || has(PackageKind::Ns)
            || prunes_packages
            || nsd_from_osm,
        ns_packages: any_create || has(PackageKind::Ns) || has(PackageKind::Vnf) || prunes_packages,
        operations: any_existing,
    }
}

/// The OSM `Content-Filename` of a package upload. It carries the content digest so that OSM
/// itself records what was uploaded (`_admin.storage.zipfile`), which makes "unchanged" detectable
/// even without an inventory.
pub fn package_filename(pkg: &Package) -> String {
    format!("{}_{}.tar.gz", pkg.id, pkg.digest.replace(':', "-"))
}

/// The digest recorded by [`package_filename`], if the file name has one.
pub fn digest_from_filename(name: &str) -> Option<String> {
    let hex = name.strip_suffix(".tar.gz")?.rsplit_once("_sha256-")?.1;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("sha256:{hex}"))
}

pub fn plan(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    opts: PlanOptions,
) -> Plan {
    let mut p = Plan::default();
    check_references_against_osm(desired, live, &mut p);
    plan_packages(desired, live, inventory, &mut p);
    plan_ns_instances(desired, live, inventory, &mut p);
    if opts.prune {
        let deleted_ns = prune_ns_instances(desired, live, inventory, &mut p);
        prune_packages(desired, live, inventory, &deleted_ns, &mut p);
    }
    p
}

/// `vnfName` and `kdu.name` of NsInstances checked against what OSM knows, where the repository
/// reader could not check them: an existing NS against its own record (which embeds its NSD and
/// lists the KDUs OSM deployed), a new one against OSM's NSD and VNFD records.
fn check_references_against_osm(desired: &DesiredState, live: &LiveState, p: &mut Plan) {
    let live_pkg = |kind: PackageKind, id: &str| {
        live.packages(kind)
            .iter()
            .find(|r| r.id.as_deref() == Some(id))
    };
    let fully_in_repo = |nsd: &Package| {
        nsd.vnf_profiles
            .iter()
            .all(|m| desired.package(&m.vnfd_id).is_some())
    };
    let mut by_name: HashMap<&str, Vec<&NsRecord>> = HashMap::new();
    for n in &live.ns_instances {
        by_name.entry(n.name.as_str()).or_default().push(n);
    }
    for want in &desired.ns_instances {
        let in_repo = desired.package(&want.nsd_name);
        if in_repo.is_some_and(fully_in_repo) {
            continue; // checked by the repository reader
        }
        let existing = by_name
            .get(want.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let problem = match (existing, in_repo) {
            ([ns], _) if !ns.vnf_profiles.is_empty() => {
                let kdus: Vec<String> = ns
                    .deployed_kdus
                    .iter()
                    .filter(|(member, _)| *member == want.vnf_name)
                    .map(|(_, kdu)| kdu.clone())
                    .collect();
                let member_vnfd = ns
                    .vnf_profiles
                    .iter()
                    .find(|m| m.member == want.vnf_name)
                    .map(|m| m.vnfd_id.clone());
                crate::repo::reference_problem(want, &ns.vnf_profiles, |vnfd| {
                    (Some(vnfd) == member_vnfd.as_deref() && !kdus.is_empty())
                        .then_some(kdus.as_slice())
                })
            }
            ([], Some(nsd)) => crate::repo::reference_problem(want, &nsd.vnf_profiles, |vnfd| {
                match desired.package(vnfd) {
                    Some(pkg) => Some(pkg.kdus.as_slice()),
                    None => live_pkg(PackageKind::Vnf, vnfd).map(|r| r.kdus.as_slice()),
                }
            }),
            ([], None) => match live_pkg(PackageKind::Ns, &want.nsd_name) {
                Some(rec) => crate::repo::reference_problem(want, &rec.vnf_profiles, |vnfd| {
                    live_pkg(PackageKind::Vnf, vnfd).map(|r| r.kdus.as_slice())
                }),
                // An unknown NSD is reported where the NS is planned.
                None => None,
            },
            // Several live NS with one name are reported where the NS is planned.
            _ => None,
        };
        if let Some((field, msg)) = problem {
            p.problems.push(format!(
                "{}: NS instance '{}': field '{field}': {msg} (checked against OSM)",
                want.source, want.name
            ));
        }
    }
}

fn plan_packages(desired: &DesiredState, live: &LiveState, inventory: &Inventory, p: &mut Plan) {
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
        let kind = ObjectKind::of(pkg.kind);
        let existing = live
            .packages(pkg.kind)
            .iter()
            .find(|x| x.id.as_deref() == Some(pkg.id.as_str()));
        let (operation, reason) = match existing {
            None => (Operation::CreatePackage, "not in OSM".to_owned()),
            Some(rec) => {
                let recorded = inventory
                    .packages
                    .get(&pkg.id)
                    .filter(|e| e.osm_id == rec.osm_id)
                    .map(|e| e.digest.clone())
                    .or_else(|| rec.zipfile.as_deref().and_then(digest_from_filename));
                match recorded {
                    Some(d) if d == pkg.digest => (
                        Operation::Unchanged {
                            osm_id: Some(rec.osm_id.clone()),
                            pending_op: None,
                        },
                        "content digest unchanged".to_owned(),
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

fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// The params OSM was last asked to apply to a KDU (instantiate params, or the newest upgrade that
/// did not fail) and the newest relevant operation.
struct KduHistory<'a> {
    requested: Option<Map<String, Value>>,
    instantiate: Option<&'a OpRecord>,
    last_failed_upgrade: Option<&'a OpRecord>,
    processing: Option<&'a OpRecord>,
}

/// Operations grouped by NS instance id, oldest first.
type OpsByNs<'a> = HashMap<&'a str, Vec<&'a OpRecord>>;

fn group_ops(ops: &[OpRecord]) -> OpsByNs<'_> {
    let mut by_ns: OpsByNs = HashMap::new();
    for op in ops {
        by_ns
            .entry(op.ns_instance_id.as_str())
            .or_default()
            .push(op);
    }
    for list in by_ns.values_mut() {
        list.sort_by(|a, b| a.start_time.total_cmp(&b.start_time));
    }
    by_ns
}

fn kdu_history<'a>(ops: &OpsByNs<'a>, ns: &NsRecord, want: &NsInstance) -> KduHistory<'a> {
    let mine = ops.get(ns.osm_id.as_str()).cloned().unwrap_or_default();
    let mut h = KduHistory {
        requested: None,
        instantiate: None,
        last_failed_upgrade: None,
        processing: None,
    };
    for op in mine {
        let Some(params) = op.kdu_params(&want.vnf_name, &want.kdu.name) else {
            continue;
        };
        if op.lcm_operation_type == "instantiate" {
            h.instantiate = Some(op);
        }
        if !op.is_terminal() {
            h.processing = Some(op);
        }
        if op.succeeded() || !op.is_terminal() || op.lcm_operation_type == "instantiate" {
            // LCM merges upgrade params onto the instantiate params, so the newest non-failed
            // request is what OSM runs (or is about to run).
            h.requested = Some(params);
            h.last_failed_upgrade = None;
        } else {
            h.last_failed_upgrade = Some(op);
        }
    }
    h
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

fn plan_ns_instances(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    p: &mut Plan,
) {
    let ops = group_ops(live.operations.as_deref().unwrap_or_default());
    let mut by_name: HashMap<&str, Vec<&NsRecord>> = HashMap::new();
    for n in &live.ns_instances {
        by_name.entry(n.name.as_str()).or_default().push(n);
    }
    for want in &desired.ns_instances {
        let matches: Vec<&NsRecord> = by_name.get(want.name.as_str()).cloned().unwrap_or_default();
        let action = |operation, reason: String| Action {
            kind: ObjectKind::NsInstance,
            name: want.name.clone(),
            operation,
            reason,
        };
        let act = match matches.as_slice() {
            [] => match plan_ns_create(desired, live, want) {
                Ok(op) => action(op, "not in OSM".into()),
                Err(problems) => {
                    p.problems.extend(problems);
                    continue;
                }
            },
            [ns] => plan_ns_existing(want, ns, &ops, inventory, &action),
            many => {
                let ids: Vec<&str> = many.iter().map(|n| n.osm_id.as_str()).collect();
                action(
                    Operation::Blocked,
                    format!("{} NS instances in OSM are named '{}' ({}); OSM Ops will not guess which one is meant", many.len(), want.name, ids.join(", ")),
                )
            }
        };
        p.actions.push(act);
    }
}

fn plan_ns_create(
    desired: &DesiredState,
    live: &LiveState,
    want: &NsInstance,
) -> Result<Operation, Vec<String>> {
    let mut problems = Vec::new();
    let nsd = if desired
        .packages
        .iter()
        .any(|x| x.id == want.nsd_name && x.kind == PackageKind::Ns)
    {
        Some(NsdRef::Repo {
            id: want.nsd_name.clone(),
        })
    } else {
        live.packages(PackageKind::Ns)
            .iter()
            .find(|x| x.id.as_deref() == Some(want.nsd_name.as_str()))
            .map(|x| NsdRef::Live {
                osm_id: x.osm_id.clone(),
            })
    };
    if nsd.is_none() {
        problems.push(format!(
            "{}: NS instance '{}': nsdName '{}' is neither an NS package in the repository nor an NSD in OSM",
            want.source, want.name, want.nsd_name
        ));
    }
    let vim = live
        .vim_accounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|v| v.name == want.vim_account_name);
    if vim.is_none() {
        problems.push(format!(
            "{}: NS instance '{}': vimAccountName '{}' does not exist in OSM (in this project)",
            want.source, want.name, want.vim_account_name
        ));
    }
    match (nsd, vim) {
        (Some(nsd), Some(vim)) => Ok(Operation::CreateNs {
            nsd,
            vim_account_id: vim.osm_id.clone(),
        }),
        _ => Err(problems),
    }
}

fn plan_ns_existing(
    want: &NsInstance,
    ns: &NsRecord,
    ops: &OpsByNs<'_>,
    inventory: &Inventory,
    action: &dyn Fn(Operation, String) -> Action,
) -> Action {
    if let Some(current) = ns.nsd_ref.as_deref().filter(|r| *r != want.nsd_name) {
        return action(
            Operation::Blocked,
            format!("nsdName changed from '{current}' to '{}': OSM cannot change the NSD of an NS instance; delete and recreate it", want.nsd_name),
        );
    }
    let desired_params = want.params_or_empty();
    let h = kdu_history(ops, ns, want);
    let unchanged = |reason: String, pending: Option<&OpRecord>| {
        action(
            Operation::Unchanged {
                osm_id: Some(ns.osm_id.clone()),
                pending_op: pending.map(|o| o.osm_id.clone()),
            },
            reason,
        )
    };
    if !ns.is_instantiated() {
        return match h.instantiate {
            Some(op) if !op.is_terminal() => {
                if h.requested.as_ref() == Some(&desired_params) {
                    unchanged(format!("instantiate operation {} still {}", op.osm_id, op.operation_state), Some(op))
                } else {
                    action(
                        Operation::Blocked,
                        format!(
                            "instantiate operation {} is still {}: OSM answers 409 to an upgrade until it is instantiated; will retry",
                            op.osm_id, op.operation_state
                        ),
                    )
                }
            }
            Some(op) if !op.succeeded() => action(
                Operation::Blocked,
                format!("NS is NOT_INSTANTIATED: instantiate {} ended {}: {}", op.osm_id, op.operation_state, op.failure_message()),
            ),
            _ => action(Operation::Blocked, "NS is NOT_INSTANTIATED in OSM: upgrades are refused (409) until it is instantiated".into()),
        };
    }
    let upgrade = |reason: String| {
        action(
            Operation::UpgradeNs {
                osm_id: ns.osm_id.clone(),
            },
            reason,
        )
    };
    match (&h.requested, h.last_failed_upgrade) {
        (Some(cur), None) if *cur == desired_params => {
            let pending = h.processing;
            let reason = match pending {
                Some(op) => format!(
                    "params match OSM ({} {} in progress)",
                    op.lcm_operation_type, op.osm_id
                ),
                None => "params match OSM".into(),
            };
            unchanged(reason, pending)
        }
        (Some(cur), failed) => {
            let mut reason = describe_param_changes(cur, &desired_params);
            if let Some(f) = failed {
                reason.push_str(&format!(
                    " (previous upgrade {} FAILED: {})",
                    f.osm_id,
                    f.failure_message()
                ));
            }
            upgrade(reason)
        }
        (None, _) => {
            // No operation history to compare with: fall back to the digest we recorded.
            match inventory
                .ns_instances
                .get(&want.name)
                .filter(|e| e.osm_id == ns.osm_id)
            {
                Some(e) if e.digest == want.digest() => {
                    unchanged("matches the applied digest in the inventory".into(), None)
                }
                Some(_) => upgrade("NsInstance document changed since it was last applied".into()),
                None => upgrade(
                    "no record of the params OSM runs: upgrading to the desired params".into(),
                ),
            }
        }
    }
}

/// Deletes NS instances this sync owns that left Git; returns their names.
fn prune_ns_instances(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    p: &mut Plan,
) -> BTreeSet<String> {
    let mut deleted = BTreeSet::new();
    let wanted: HashSet<&str> = desired
        .ns_instances
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    let by_id: HashMap<&str, &NsRecord> = live
        .ns_instances
        .iter()
        .map(|n| (n.osm_id.as_str(), n))
        .collect();
    for (name, entry) in &inventory.ns_instances {
        if wanted.contains(name.as_str()) {
            continue;
        }
        if let Some(ns) = by_id.get(entry.osm_id.as_str()) {
            let reason = if ns.ns_state == "TERMINATING" {
                "not in Git (already terminating)"
            } else {
                "not in Git"
            };
            p.actions.push(Action {
                kind: ObjectKind::NsInstance,
                name: name.clone(),
                operation: Operation::DeleteNs {
                    osm_id: ns.osm_id.clone(),
                },
                reason: reason.into(),
            });
            deleted.insert(name.clone());
        }
    }
    deleted
}

fn prune_packages(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    deleted_ns: &BTreeSet<String>,
    p: &mut Plan,
) {
    // NS packages before the VNF packages they reference; then by id, descending.
    let mut owned: Vec<(&String, &PackageEntry)> = inventory
        .packages
        .iter()
        .filter(|(id, _)| desired.package(id).is_none())
        .collect();
    owned.sort_by(|a, b| b.1.kind.cmp(&a.1.kind).then(b.0.cmp(a.0)));
    let deleted_pkgs: BTreeSet<&str> = owned.iter().map(|(id, _)| id.as_str()).collect();
    for (id, entry) in owned {
        let Some(rec) = live
            .packages(entry.kind)
            .iter()
            .find(|r| r.osm_id == entry.osm_id)
        else {
            continue;
        };
        let kind = ObjectKind::of(entry.kind);
        let users: Vec<&NsRecord> = live
            .ns_instances
            .iter()
            .filter(|n| match entry.kind {
                PackageKind::Ns => n.nsd_osm_id.as_deref() == Some(rec.osm_id.as_str()),
                PackageKind::Vnf => n.vnfd_osm_ids.contains(&rec.osm_id),
            })
            .collect();
        let blocking_ns: Vec<&str> = users
            .iter()
            .filter(|n| !deleted_ns.contains(&n.name))
            .map(|n| n.name.as_str())
            .collect();
        let referencing_nsds: Vec<String> = if entry.kind == PackageKind::Vnf {
            let live_refs = live
                .packages(PackageKind::Ns)
                .iter()
                .filter(|n| n.vnfd_refs.contains(id))
                .filter_map(|n| n.id.clone())
                .filter(|nid| !deleted_pkgs.contains(nid.as_str()));
            let repo_refs = desired
                .packages
                .iter()
                .filter(|d| d.vnfd_refs.contains(id))
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
            let waits_for: Vec<String> = users.iter().map(|n| n.name.clone()).collect();
            (
                Operation::DeletePackage {
                    osm_id: rec.osm_id.clone(),
                    waits_for,
                },
                "not in Git".to_owned(),
            )
        };
        p.actions.push(Action {
            kind,
            name: id.clone(),
            operation,
            reason,
        });
    }
}

/// Counts per action label, for summaries and history.
pub fn counts(plan: &Plan) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for a in &plan.actions {
        *m.entry(a.operation.label()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests;
