//! Drift: OSM changed outside Git while Git did not. An object drifted when this sync's inventory
//! says the desired document (or package content) is exactly what it last applied, yet OSM no
//! longer runs it: the NS was deleted or terminated by hand, its KDU params were changed by an
//! operation this sync did not start (`osm ns-action`/`osm ns-update`), or the package was
//! replaced or deleted in OSM. A change in Git is never drift: it is the normal path.
//!
//! `correct` plans the action that brings OSM back to Git, with a reason starting "drift:";
//! `warn` plans nothing for the object and reports it (the `Drifted` condition, an event, a
//! metric, the gRPC plan). Flux's kustomize-controller corrects drift by server-side apply on
//! every reconcile; Argo CD reports it as OutOfSync and corrects it only with self-heal.

use serde::Serialize;

use super::{Action, ObjectKind, Operation, Plan};

pub use crate::model::DriftAction;

/// The drift policy per object kind. The default corrects NS instances (a hand-deleted or
/// hand-upgraded network service is what GitOps exists to repair) and only warns about
/// packages (a package replaced in OSM may be a hot-fix someone must first carry into Git).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftPolicy {
    pub ns_instances: DriftAction,
    pub packages: DriftAction,
}

impl Default for DriftPolicy {
    fn default() -> Self {
        DriftPolicy {
            ns_instances: DriftAction::Correct,
            packages: DriftAction::Warn,
        }
    }
}

impl DriftPolicy {
    /// One action for every kind (`spec.driftPolicy`, `--drift-policy`), or the defaults.
    pub fn all(action: Option<DriftAction>) -> DriftPolicy {
        match action {
            Some(a) => DriftPolicy {
                ns_instances: a,
                packages: a,
            },
            None => DriftPolicy::default(),
        }
    }

    pub fn for_kind(&self, kind: ObjectKind) -> DriftAction {
        match kind {
            ObjectKind::NsInstance => self.ns_instances,
            ObjectKind::VnfPackage | ObjectKind::NsPackage => self.packages,
        }
    }
}

/// One object that drifted from Git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub kind: ObjectKind,
    pub name: String,
    /// What changed in OSM, e.g. "KDU params changed outside Git by operation 1f2e…: replicaCount 2→5".
    pub what: String,
    /// True when the plan corrects it (policy `correct`), false when it is only reported.
    pub corrected: bool,
}

/// How a plan handles a drifted object, as plan output shows it.
pub fn handling(corrected: bool) -> &'static str {
    if corrected {
        "corrected by this plan"
    } else {
        "reported only (drift policy warn)"
    }
}

impl Drift {
    /// "NsInstance ldap: deleted in OSM outside Git"
    pub fn line(&self) -> String {
        format!("{} {}: {}", self.kind.label(), self.name, self.what)
    }
}

/// Records a drifted object in the plan; returns whether the plan corrects it and the reason
/// prefix, "drift: <what>".
pub(super) fn note_drift(
    p: &mut Plan,
    policy: DriftAction,
    kind: ObjectKind,
    name: &str,
    what: String,
) -> (bool, String) {
    let corrected = policy == DriftAction::Correct;
    let prefix = format!("drift: {what}");
    p.drift.push(Drift {
        kind,
        name: name.to_owned(),
        what,
        corrected,
    });
    (corrected, prefix)
}

/// The action for drift the policy only reports: nothing is sent.
pub(super) fn reported(
    kind: ObjectKind,
    name: &str,
    osm_id: Option<String>,
    prefix: &str,
) -> Action {
    Action {
        kind,
        name: name.to_owned(),
        operation: Operation::Drifted { osm_id },
        reason: format!("{prefix}; left as it is (drift policy warn)"),
        adopt: false,
        target: None,
    }
}
