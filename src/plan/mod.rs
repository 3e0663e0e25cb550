//! The pure plan function: `plan(desired, live, inventory, options) → Plan`. No I/O, deterministic
//! order, every action with a human reason.
//!
//! Phases: packages (dependency order) → NS create/upgrade/remediation (by name) → NS delete
//! (duplicates this sync created, then prune) → package delete (prune, reverse dependency order).
//! Nothing is deleted or replaced unless this sync can prove it owns it (`owner.rs`).

mod digest;
mod drift;
mod history;
mod inventory;
mod ns;
pub use ns::resolved_config;
mod owner;
mod packages;
mod references;
mod rollout;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};

pub use digest::{saved_plan_mismatch, short_digest};
pub use drift::{handling as drift_handling, Drift, DriftAction, DriftPolicy};
pub use history::{compact_history, describe_param_changes};
pub use inventory::{Inventory, NsEntry, PackageEntry};
pub use owner::{
    EmptyOwner, Marked, Owner, Proof, Recorded, MAX_USER_DESCRIPTION_CHARS,
    OSM_MAX_DESCRIPTION_CHARS,
};
pub use packages::{digest_from_filename, owner_tag_from_filename, package_filename};
pub use rollout::{
    batch_label, describe as describe_batches, is_rolled_out, rolled_out, Batch, FailurePolicy,
    Rollout,
};

use crate::osm::{NsRecord, OpRecord, PackageRecord, VimAccount, VnfRecord};
use crate::repo::{DesiredState, PackageKind};

/// What OSM looks like, as far as this reconcile needs to know. Collections that were not needed
/// are not fetched (`None`).
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    pub vim_accounts: Option<Vec<VimAccount>>,
    pub vnf_packages: Option<Vec<PackageRecord>>,
    pub ns_packages: Option<Vec<PackageRecord>>,
    pub ns_instances: Vec<NsRecord>,
    pub operations: Option<Vec<OpRecord>>,
    /// The VNF records of declared NS whose members run a VNF package of the repository: what
    /// package revision each member runs.
    pub vnf_instances: Option<Vec<VnfRecord>>,
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
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Operation {
    CreatePackage,
    UpdatePackage {
        osm_id: String,
    },
    /// Delete a package; runs only once the NS instances in `waits_for` (deleted earlier in this
    /// plan) are gone from OSM.
    DeletePackage {
        osm_id: String,
        waits_for: Vec<String>,
    },
    CreateNs {
        nsd: NsdRef,
        vim_account_id: String,
    },
    UpgradeNs {
        osm_id: String,
    },
    /// Remediation of a failed upgrade: upgrade the KDU back to the params OSM last completed.
    RollbackNs {
        osm_id: String,
        params: Map<String, Value>,
    },
    /// Remediation of a failed (or terminated) NS this sync owns: delete it, wait until OSM has
    /// removed it, create it again.
    RecreateNs {
        osm_id: String,
        nsd: NsdRef,
        vim_account_id: String,
    },
    DeleteNs {
        osm_id: String,
    },
    /// A member VNF (the action's target) moved to the newest revision of its VNF package, in
    /// place: one `update` operation (`CHANGE_VNFPKG`, OSM 11+).
    UpdateNs {
        osm_id: String,
        /// The member's VNF record `_id`.
        vnf_instance_id: String,
        /// Its VNFD's `_id`.
        vnfd_osm_id: String,
    },
    /// One scale step of a scaling aspect (the action's target): one `scale` operation.
    ScaleNs {
        osm_id: String,
        direction: ScaleDirection,
    },
    Unchanged {
        osm_id: Option<String>,
        pending_op: Option<String>,
    },
    /// Cannot be done now; retried on the next reconcile (nothing is sent).
    Blocked,
    /// The NS is in a failed state in OSM that no configured remediation may repair: reported as
    /// a failure (nothing is sent).
    Broken {
        osm_id: String,
    },
    /// OSM drifted from Git and the drift policy is `warn`: reported, nothing is sent.
    Drifted {
        osm_id: Option<String>,
    },
}

impl Operation {
    pub fn label(&self) -> &'static str {
        match self {
            Operation::CreatePackage | Operation::CreateNs { .. } => "create",
            Operation::UpdatePackage { .. } | Operation::UpdateNs { .. } => "update",
            Operation::UpgradeNs { .. } => "upgrade",
            Operation::RollbackNs { .. } => "rollback",
            Operation::RecreateNs { .. } => "recreate",
            Operation::ScaleNs { .. } => "scale",
            Operation::DeletePackage { .. } | Operation::DeleteNs { .. } => "delete",
            Operation::Unchanged { .. } => "unchanged",
            Operation::Blocked => "blocked",
            Operation::Broken { .. } => "broken",
            Operation::Drifted { .. } => "drifted",
        }
    }

    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Operation::Unchanged { .. }
                | Operation::Blocked
                | Operation::Broken { .. }
                | Operation::Drifted { .. }
        )
    }
}

/// OSM's `scaleVnfType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScaleDirection {
    ScaleOut,
    ScaleIn,
}

impl ScaleDirection {
    /// As OSM's NBI takes it.
    pub fn osm(self) -> &'static str {
        match self {
            ScaleDirection::ScaleOut => "SCALE_OUT",
            ScaleDirection::ScaleIn => "SCALE_IN",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            ScaleDirection::ScaleOut => "scale-out",
            ScaleDirection::ScaleIn => "scale-in",
        }
    }
}

/// The part of an NS an action is about, when it is not the NS as a whole: one KDU (an
/// upgrade or rollback of its params) or one scaling aspect (a scale step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Target {
    Kdu {
        member: String,
        kdu: String,
    },
    Scale {
        member: String,
        aspect: String,
    },
    /// A member VNF as a whole (its VNF package revision).
    Member {
        member: String,
    },
}

impl Target {
    pub fn kdu(k: &crate::repo::Kdu) -> Target {
        Target::Kdu {
            member: k.member.clone(),
            kdu: k.name.clone(),
        }
    }

    /// `member/kdu` or `member/aspect`.
    pub fn label(&self) -> String {
        match self {
            Target::Kdu { member, kdu } => format!("{member}/{kdu}"),
            Target::Scale { member, aspect } => format!("{member}/{aspect}"),
            Target::Member { member } => member.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub kind: ObjectKind,
    pub name: String,
    pub operation: Operation,
    /// The KDU or scaling aspect of the NS the action is about (`None`: the NS as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    pub reason: String,
    /// This action adopts an object that exists in OSM without this sync's mark (`adopt`): once
    /// it succeeds, the inventory records the object as adopted, which makes it this sync's to
    /// change and, later, to delete.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

impl Action {
    /// What the action is about, for people: `ldap`, or `ldap [openldap/ldap]` for one KDU or
    /// scaling aspect of NS `ldap`.
    pub fn subject(&self) -> String {
        match &self.target {
            Some(t) => format!("{} [{}]", self.name, t.label()),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Problems found against live OSM (e.g. a VIM account that does not exist). A plan with
    /// problems must not be applied at all.
    pub problems: Vec<String>,
    /// Set when prune would delete every NS instance this sync owns (or the desired state is
    /// empty) and that was not explicitly allowed: the plan must not be applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_guard: Option<String>,
    /// Things worth knowing that change nothing, e.g. an inventory entry that OSM says belongs to
    /// someone else and is therefore forgotten instead of pruned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Objects OSM changed outside Git, corrected or only reported (see `drift.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// The rollout steps of the NS writes, when the rollout is progressive (see `rollout.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<Batch>,
    /// `sha256:<hex>` of what the plan would write: what an approval names (see `digest.rs`).
    pub digest: String,
}

impl Plan {
    /// Replaces every value from a Secret that a text quotes (an OSM error in a failure's
    /// reason, say) by `(secret)`. Params are compared and shown sealed already; this is for
    /// what OSM's own words may carry.
    pub fn scrub(&mut self, secrets: &crate::repo::SecretBook) {
        if secrets.is_empty() {
            return;
        }
        for a in &mut self.actions {
            a.reason = secrets.scrub(&a.reason);
        }
        for d in &mut self.drift {
            d.what = secrets.scrub(&d.what);
        }
        for t in self
            .problems
            .iter_mut()
            .chain(self.notes.iter_mut())
            .chain(self.prune_guard.iter_mut())
        {
            *t = secrets.scrub(t);
        }
    }

    /// Whether the operations this plan starts need nothing more from the run that starts them:
    /// no delete waits for OSM to remove an NS before packages go, and no rollout batch waits
    /// for the health of the one before. Such operations can be followed by someone else (the
    /// controller's follower) while the run returns.
    pub fn can_hand_off_operations(&self) -> bool {
        self.batches.len() <= 1
            && !self.actions.iter().any(|a| {
                matches!(
                    a.operation,
                    Operation::DeleteNs { .. } | Operation::DeletePackage { .. }
                )
            })
    }

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

/// How many times, and how, a failed OSM operation is remediated (Flux helm-controller's
/// `install.remediation` / `upgrade.remediation`). The default remediates nothing: the failure is
/// reported and left as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remediation {
    /// After a failed instantiate: delete the NS and create it again, up to this many times.
    pub instantiate_retries: u32,
    /// After a failed KDU upgrade: send the upgrade again, up to this many times.
    pub upgrade_retries: u32,
    /// When upgrade retries are used up: roll back to the params OSM last completed.
    pub upgrade_rollback: bool,
}

/// Who reads the plan's reasons: what to do is said in the reader's terms (a CLI flag, or an
/// OsmSync field), never in the other's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Audience {
    #[default]
    Cli,
    OsmSync,
}

impl Audience {
    /// `cli` for the CLI, `spec` for an OsmSync.
    pub fn say<'a>(self, cli: &'a str, spec: &'a str) -> &'a str {
        match self {
            Audience::Cli => cli,
            Audience::OsmSync => spec,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub prune: bool,
    /// Let prune delete every NS instance this sync owns (Argo CD's `allowEmpty`).
    pub allow_empty: bool,
    /// Whose objects these are: what creates are marked with and what prune must match.
    pub owner: Owner,
    pub remediation: Remediation,
    pub drift: DriftPolicy,
    pub rollout: Rollout,
    /// Take over objects Git declares that exist in OSM without this sync's mark (made by hand or
    /// by another tool), instead of blocking them. Never objects marked as another sync's.
    pub adopt: bool,
    /// In whose terms reasons say what to do.
    pub audience: Audience,
    /// Delete and create again an NS this sync owns when Git changes what OSM cannot change on a
    /// running NS (NSD, VIM account, instantiation config); otherwise such a change is blocked.
    pub allow_recreate: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            prune: false,
            allow_empty: false,
            owner: Owner::new("unnamed").expect("a non-empty owner id"),
            remediation: Remediation::default(),
            drift: DriftPolicy::default(),
            rollout: Rollout::default(),
            adopt: false,
            audience: Audience::default(),
            allow_recreate: false,
        }
    }
}

/// What the engine must fetch for `plan()` to decide: lists are fetched at most once and only
/// when the desired state needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub vim_accounts: bool,
    pub vnf_packages: bool,
    pub ns_packages: bool,
    pub operations: bool,
    /// The VNF records of these NS (by OSM id): existing declared NS with a member that runs a
    /// VNF package of the repository, whose revision the plan compares.
    pub vnf_instances_of: Vec<String>,
}

/// Decides which lists to fetch, given the NS instance list (always fetched first).
pub fn needs(
    desired: &DesiredState,
    ns_instances: &[NsRecord],
    inventory: &Inventory,
    opts: &PlanOptions,
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
    // Prune looks for packages this sync owns, by inventory and by the owner tag in OSM.
    let prunes_packages = opts.prune;
    // A broken or terminated NS this sync owns may be recreated: that needs the NSD and VIM.
    let may_recreate = opts.remediation.instantiate_retries > 0
        || ns_instances
            .iter()
            .any(|n| !n.is_instantiated() && desired.ns_instances.iter().any(|d| d.name == n.name));
    // An existing NS whose document changed since this sync applied it (or that it never
    // applied) is compared with what it was instantiated with, VIM accounts included.
    let changed_existing = desired.ns_instances.iter().any(|n| {
        live_names.contains(n.name.as_str())
            && inventory
                .ns_instances
                .get(&n.name)
                .is_none_or(|e| e.digest != n.digest())
    });
    Needs {
        vim_accounts: any_create || may_recreate || changed_existing,
        vnf_packages: has(PackageKind::Vnf)
            || has(PackageKind::Ns)
            || prunes_packages
            || nsd_from_osm,
        ns_packages: any_create
            || may_recreate
            || has(PackageKind::Ns)
            || has(PackageKind::Vnf)
            || prunes_packages,
        operations: any_existing,
        vnf_instances_of: ns_instances
            .iter()
            .filter(|n| desired.ns_instance(&n.name).is_some() && n.is_instantiated())
            .filter(|n| {
                n.vnf_profiles.iter().any(|m| {
                    desired
                        .package(&m.vnfd_id)
                        .is_some_and(|p| p.kind == PackageKind::Vnf)
                })
            })
            .map(|n| n.osm_id.clone())
            .collect(),
    }
}

/// Seals what OSM recorded wherever the documents hold a value from a Secret, in every
/// operation of their NS instances, so that the book knows the earlier values (a password
/// before its rotation) and scrubs and seals them too (the CLI's state file keeps operations).
fn learn_earlier_secrets(desired: &DesiredState, live: &LiveState) {
    if desired.secrets.is_empty() {
        return;
    }
    let Some(ops) = &live.operations else {
        return;
    };
    let vims = live.vim_accounts.as_deref().unwrap_or_default();
    let names: HashMap<&str, &str> = live
        .ns_instances
        .iter()
        .map(|n| (n.osm_id.as_str(), n.name.as_str()))
        .collect();
    for op in ops {
        let Some(want) = names
            .get(op.ns_instance_id.as_str())
            .and_then(|name| desired.ns_instance(name))
        else {
            continue;
        };
        for kdu in &want.kdus {
            if let Some(params) = op.kdu_params(&kdu.member, &kdu.name) {
                desired
                    .secrets
                    .seal_map_like(&params, &kdu.requested_params());
            }
        }
        if let (Some(live_config), Ok(config)) =
            (op.instantiate_config(), resolved_config(want, vims))
        {
            let config = crate::osm::instantiation_config(config);
            desired.secrets.seal_map_like(&live_config, &config);
        }
    }
}

pub fn plan(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    opts: &PlanOptions,
) -> Plan {
    let mut p = Plan::default();
    learn_earlier_secrets(desired, live);
    references::check_against_osm(desired, live, &mut p);
    packages::plan_packages(desired, live, inventory, opts, &mut p);
    ns::plan_ns_instances(desired, live, inventory, opts, &mut p);
    if opts.prune {
        let pruned = ns::prune_ns_instances(desired, live, inventory, opts, &mut p);
        packages::prune_packages(desired, live, inventory, opts, &pruned.deleted, &mut p);
        if !opts.allow_empty {
            p.prune_guard = prune_guard(desired, &pruned, &p, opts.audience);
        }
    }
    p.batches = rollout::batches(&p, &opts.rollout);
    p.scrub(&desired.secrets);
    p.digest = digest::plan_digest(&p, desired);
    p
}

/// Refuses a prune that would delete everything this sync owns in OSM, or anything at all when the
/// desired state is empty: a typo in `fileExtensions` or `targetDir`, a wrong `spec.path` or an
/// emptied branch looks exactly like that (Argo CD's `allowEmpty: false`).
fn prune_guard(
    desired: &DesiredState,
    pruned: &ns::Pruned,
    p: &Plan,
    audience: Audience,
) -> Option<String> {
    let ns_deleted = pruned.deleted.len();
    let pkg_deleted = p
        .actions
        .iter()
        .filter(|a| matches!(a.operation, Operation::DeletePackage { .. }))
        .count();
    let nothing_desired = desired.ns_instances.is_empty() && desired.packages.is_empty();
    let all_ns = ns_deleted > 0 && (ns_deleted == pruned.owned || desired.ns_instances.is_empty());
    if !(all_ns || (nothing_desired && pkg_deleted > 0)) {
        return None;
    }
    let why = if nothing_desired {
        "the desired state is empty".to_owned()
    } else {
        format!(
            "the desired state declares {} NS instance(s), none of those this sync owns",
            desired.ns_instances.len()
        )
    };
    Some(format!(
        "refusing to prune: {why}, so prune would delete {ns_deleted} of the {} NS instance(s) and {pkg_deleted} package(s) this sync owns in OSM. A typo in fileExtensions or targetDir, a wrong path or an emptied branch looks exactly like this. If it is meant, allow it with {}",
        pruned.owned,
        audience.say("--allow-empty", "spec.allowEmpty: true")
    ))
}

/// "2 create, 1 upgrade": the writes of a plan per label, in plan order of first appearance.
pub fn summary(plan: &Plan) -> String {
    let mut seen: Vec<(&'static str, usize)> = Vec::new();
    for a in plan.actions.iter().filter(|a| a.operation.is_write()) {
        let label = a.operation.label();
        match seen.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => seen.push((label, 1)),
        }
    }
    if seen.is_empty() {
        return "no changes".into();
    }
    seen.iter()
        .map(|(l, n)| format!("{n} {l}"))
        .collect::<Vec<_>>()
        .join(", ")
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
mod services_test;
#[cfg(test)]
mod tests;
