//! The `OsmSync` custom resource (osmops.io/v1alpha1), its status, condition types and reasons,
//! and the minimal view of Flux sources the controller needs. Types only: no I/O, no logic beyond
//! small accessors.

pub mod flux;
pub mod reference;
pub mod selector;
mod status;

use std::collections::BTreeMap;

use crate::model::{DriftAction, FailurePolicy};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "osmops.io";
pub const VERSION: &str = "v1alpha1";
/// Finalizer that lets the controller prune OSM objects before the OsmSync disappears.
pub const FINALIZER: &str = "osmops.io/finalizer";
/// Set by `flux reconcile`-style tooling to ask for an immediate reconcile.
pub const RECONCILE_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// Approves the plan with this digest (`spec.approval: manual`):
/// `kubectl annotate osmsync NAME osmops.io/approve=sha256:<hex>`.
pub const APPROVE: &str = "osmops.io/approve";
/// Who approved (recorded in the status and events with the approval); gRPC `ApprovePlan` sets
/// it to the authenticated caller.
pub const APPROVED_BY: &str = "osmops.io/approved-by";
/// A new value resumes a rollout paused by a failed batch.
pub const RESUME_ROLLOUT: &str = "osmops.io/resume-rollout";
/// Go/Flux duration strings: "30s", "5m", "1h30m". Bounded (at most 8 digits per component, 4
/// components, 64 characters) and, by a CEL rule, more than 0 and at most 8760h
/// ([`crate::duration::SPEC_DURATION_RULE`]): what the API server admits is exactly what the
/// controller accepts ([`crate::duration::parse_spec_duration`]).
pub use crate::duration::SPEC_DURATION_PATTERN as DURATION_PATTERN;
pub use status::{
    ApprovedPlanStatus, Condition, DriftEntry, NsInventoryEntry, OperationEntry, OsmSyncStatus,
    PackageInventoryEntry, PendingPlanStatus, RolloutStatus, Snapshot, SyncInventory,
};

/// Condition types, as in Flux.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
    /// True while OSM differs from Git in ways the drift policy only reports.
    pub const DRIFTED: &str = "Drifted";
}

/// Condition reasons: Flux's where Flux has one, CamelCase additions otherwise.
pub mod reason {
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    pub const PROGRESSING: &str = "Progressing";
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    pub const ACCESS_DENIED: &str = "AccessDenied";
    pub const PRUNE_FAILED: &str = "PruneFailed";
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// A `substituteFrom` Secret or ConfigMap is missing (and not optional) or unusable.
    pub const SUBSTITUTE_FAILED: &str = "SubstituteFailed";
    pub const INVALID_SECRET: &str = "InvalidSecret";
    pub const OSM_UNREACHABLE: &str = "OSMUnreachable";
    pub const OPERATION_FAILED: &str = "OperationFailed";
    pub const OPERATION_TIMEOUT: &str = "OperationTimeout";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Prune would delete everything the OsmSync owns and `spec.allowEmpty` is false.
    pub const PRUNE_GUARD: &str = "PruneGuard";
    pub const SUSPENDED: &str = "Suspended";
    /// `spec.approval: manual` and the plan that would write is not approved.
    pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
    /// A rollout batch failed under `failurePolicy: pause`.
    pub const ROLLOUT_PAUSED: &str = "RolloutPaused";
    /// OSM changed outside Git (the `Drifted` condition).
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    /// No drift any more.
    pub const NO_DRIFT: &str = "NoDrift";
}

/// OsmSync makes one OSM deployment match the OSM Ops repository found in a Flux source artifact.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "osmops.io",
    version = "v1alpha1",
    kind = "OsmSync",
    namespaced,
    status = "OsmSyncStatus",
    shortname = "osms",
    category = "osmops",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAppliedRevision"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","jsonPath":".spec.suspend"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct OsmSyncSpec {
    /// The Flux source whose artifact holds the OSM Ops repository.
    pub source_ref: SourceReference,
    /// Path inside the artifact to the repository root. Defaults to the artifact root, where an
    /// `osm_ops_config.yaml` (if any) chooses the target directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// NsInstance file suffixes; overrides `fileExtensions` of `osm_ops_config.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_extensions: Option<Vec<String>>,
    /// How often to reconcile (also re-checks drift in OSM), e.g. `5m`.
    #[schemars(
        regex(pattern = crate::duration::SPEC_DURATION_PATTERN),
        length(max = 64),
        extend("x-kubernetes-validations" = [{
            "rule": crate::duration::SPEC_DURATION_RULE,
            "message": "must be more than 0s and at most 8760h"
        }])
    )]
    pub interval: String,
    /// Requeue period after a failure; defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = crate::duration::SPEC_DURATION_PATTERN),
        length(max = 64),
        extend("x-kubernetes-validations" = [{
            "rule": crate::duration::SPEC_DURATION_RULE,
            "message": "must be more than 0s and at most 8760h"
        }])
    )]
    pub retry_interval: Option<String>,
    /// Bound for applying and following OSM operations; defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = crate::duration::SPEC_DURATION_PATTERN),
        length(max = 64),
        extend("x-kubernetes-validations" = [{
            "rule": crate::duration::SPEC_DURATION_RULE,
            "message": "must be more than 0s and at most 8760h"
        }])
    )]
    pub timeout: Option<String>,
    /// Stop reconciling (status is kept).
    #[serde(default)]
    pub suspend: bool,
    /// Terminate/delete the NS instances and packages this OsmSync owns once they leave Git.
    #[serde(default)]
    pub prune: bool,
    /// Let prune delete every NS instance this OsmSync owns (for instance when the desired state
    /// is empty). Refused by default: an emptied branch and a typo in `fileExtensions` or `path`
    /// look alike (Argo CD's `allowEmpty`).
    #[serde(default)]
    pub allow_empty: bool,
    /// Take over NS instances and packages that Git declares and that exist in OSM without this
    /// OsmSync's mark (made by hand or by another tool); without it they are blocked. Adopted
    /// packages are re-uploaded with this OsmSync's tag; adopted NS instances are recorded in
    /// `status.inventory` (OSM cannot re-mark an NS), and prune may later delete them. Objects
    /// marked as another sync's are never adopted.
    #[serde(default)]
    pub adopt: bool,
    /// Delete and create again an NS this OsmSync owns when Git changes what OSM cannot change
    /// on a running NS: its nsdName, vimAccountName or instantiation `config`. Without it such
    /// a change is blocked, with the reason. The recreate is part of the plan: approval, rollout
    /// and the ownership proof apply to it as to any delete.
    #[serde(default)]
    pub allow_recreate: bool,
    /// What to do when an OSM operation fails (default: nothing; the failure is reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<RemediationSpec>,
    /// Wait for OSM operations to complete before reporting Ready.
    #[serde(default = "default_true")]
    pub wait: bool,
    /// OsmSyncs that must be Ready before this one is reconciled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    /// What to do when OSM changed outside Git (an NS deleted, terminated or upgraded by hand, a
    /// package replaced): `correct` brings it back to Git, `warn` leaves it and reports it (the
    /// `Drifted` condition). Unset: NS instances are corrected, packages only reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<DriftAction>,
    /// `manual`: a plan that would write waits (Ready=False, `AwaitingApproval`) until the
    /// annotation `osmops.io/approve` names its digest. Default `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalMode>,
    /// Progressive rollout of NS writes: a canary batch, then batches of `maxParallel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
    /// Variables substituted in the NsInstance files (`${VAR}`), as kustomize-controller's
    /// `postBuild.substitute`; they take precedence over `substituteFrom`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// Secrets and ConfigMaps in the OsmSync's namespace whose keys are variables substituted in
    /// the NsInstance files, as kustomize-controller's `postBuild.substituteFrom` (later entries
    /// override earlier ones). Values from a Secret may only be used in `params` and `config`
    /// values and are never shown: plans say `(secret)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
    /// A variable a file uses without a default and that nothing defines stops the reconcile
    /// (`SubstituteFailed`, nothing sent) rather than becoming empty: default true, unlike
    /// kustomize-controller, whose `StrictPostBuildSubstitutions` is opt-in — an empty password
    /// sent to OSM is worse than a stopped reconcile. `false`: kustomize-controller's default.
    #[serde(default = "default_true")]
    pub substitute_strict: bool,
    /// The OSM cluster to drive.
    pub osm: OsmEndpoint,
}

/// A Secret or ConfigMap of variables (kustomize-controller's `SubstituteReference`). There is
/// no namespace: only objects of the OsmSync's own namespace are read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubstituteReference {
    pub kind: SubstituteKind,
    /// Name of the Secret or ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// A missing object is not an error (its variables are undefined); a missing object that is
    /// not optional stops the reconcile with `SubstituteSourceNotFound` before anything is sent.
    #[serde(default)]
    pub optional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SubstituteKind {
    Secret,
    ConfigMap,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    #[default]
    Auto,
    Manual,
}

/// Progressive rollout (after Flagger and Argo Rollouts): NS creates, upgrades, rollbacks and
/// recreates go in batches, each followed until its OSM operations end and its NS instances
/// are healthy (nsState READY) before the next batch is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// NS operations in flight at once, and the size of each batch after the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_parallel: Option<u32>,
    /// NS writes in the first batch.
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub canary: u32,
    /// `pause` (default) stops after a failed batch (Ready=False, `RolloutPaused`) until a new
    /// revision or a new value of the annotation `osmops.io/resume-rollout`; `continue` goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<FailurePolicy>,
}

fn default_true() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SourceKind {
    GitRepository,
    OCIRepository,
    Bucket,
    ExternalArtifact,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::GitRepository => "GitRepository",
            SourceKind::OCIRepository => "OCIRepository",
            SourceKind::Bucket => "Bucket",
            SourceKind::ExternalArtifact => "ExternalArtifact",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceReference {
    /// Flux source kind, served as `source.toolkit.fluxcd.io/v1`.
    pub kind: SourceKind,
    /// Name of the source.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Defaults to the OsmSync's namespace; other namespaces are refused with
    /// `--no-cross-namespace-refs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Defaults to `source.toolkit.fluxcd.io/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    /// Name of the OsmSync this one depends on.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Defaults to the OsmSync's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Remediation of failed OSM operations, after Flux helm-controller's `install.remediation` and
/// `upgrade.remediation`. Every remediation step is an OSM operation, in the status history and
/// the gRPC operation history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationSpec {
    /// Failed instantiates (of NS instances this OsmSync created).
    #[serde(default)]
    pub instantiate: InstantiateRemediation,
    /// Failed KDU upgrades.
    #[serde(default)]
    pub upgrade: UpgradeRemediation,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstantiateRemediation {
    /// After a failed instantiate of an NS this OsmSync created: delete it and create it again,
    /// up to this many times.
    #[serde(default)]
    #[schemars(range(max = 20))]
    pub retries: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRemediation {
    /// After a failed KDU upgrade: send it again, up to this many times.
    #[serde(default)]
    #[schemars(range(max = 20))]
    pub retries: u32,
    /// When the retries are used up: `Rollback` upgrades the KDU back to the params OSM last
    /// completed; `None` (the default) leaves it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<UpgradeStrategy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UpgradeStrategy {
    Rollback,
    None,
}

impl OsmSyncSpec {
    pub fn manual_approval(&self) -> bool {
        self.approval == Some(ApprovalMode::Manual)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsmEndpoint {
    /// Secret in the OsmSync's namespace with keys `url` (or the original `hostname: host:port`),
    /// `user`, `password`, `project` and optionally `ca.crt`.
    pub secret_ref: LocalObjectReference,
    /// Do not verify the NBI's TLS certificate. Logged as a warning on every session.
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the object, in the OsmSync's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The CRD. As in Flux's CRDs, `status` defaults to `{observedGeneration: -1}`: a new OsmSync
/// then reads as not yet observed (kstatus InProgress) until the controller has reconciled it,
/// instead of as healthy with an empty status.
pub fn crd(
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON;
    use kube::CustomResourceExt;
    let mut crd = OsmSync::crd();
    for v in &mut crd.spec.versions {
        let status = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("status"));
        if let Some(status) = status {
            status.default = Some(JSON(serde_json::json!({ "observedGeneration": -1 })));
        }
    }
    crd
}

/// The CRD as YAML, as `osmops crd` prints it and `crds/` holds it.
pub fn crd_yaml() -> String {
    format!(
        "---\n{}",
        serde_saphyr::to_string(&crd()).expect("the CRD serializes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_crd_is_up_to_date() {
        let committed = include_str!("../../crds/osmops.io_osmsyncs.yaml");
        assert!(committed == crd_yaml(), "crds/osmops.io_osmsyncs.yaml is stale: run `cargo run -- crd > crds/osmops.io_osmsyncs.yaml`");
    }

    #[test]
    fn crd_has_flux_like_printer_columns_validation_and_status() {
        let crd: serde_json::Value = serde_saphyr::from_str(&crd_yaml()).unwrap();
        let v = &crd["spec"]["versions"][0];
        let cols: Vec<&str> = v["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(cols, ["Age", "Ready", "Status", "Revision", "Suspended"]);
        assert_eq!(v["subresources"]["status"], serde_json::json!({}));
        assert_eq!(
            v["schema"]["openAPIV3Schema"]["properties"]["status"]["default"],
            serde_json::json!({"observedGeneration": -1})
        );
        assert_eq!(crd["spec"]["names"]["shortNames"][0], "osms");
        let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let required: Vec<&str> = spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(
            required.contains(&"interval")
                && required.contains(&"sourceRef")
                && required.contains(&"osm"),
            "{required:?}"
        );
        assert_eq!(spec["properties"]["interval"]["pattern"], DURATION_PATTERN);
        let kinds = &spec["properties"]["sourceRef"]["properties"]["kind"]["enum"];
        assert_eq!(
            kinds,
            &serde_json::json!([
                "GitRepository",
                "OCIRepository",
                "Bucket",
                "ExternalArtifact"
            ])
        );
    }

    #[test]
    fn spec_defaults_follow_flux() {
        let s: OsmSyncSpec = serde_saphyr::from_str(
            "sourceRef: {kind: GitRepository, name: repo}\ninterval: 5m\nosm: {secretRef: {name: osm}}\n",
        )
        .unwrap();
        assert!(s.wait && !s.prune && !s.suspend);
        assert!(!s.osm.insecure_skip_tls_verify);
        assert!(serde_saphyr::from_str::<OsmSyncSpec>("sourceRef: {kind: HelmRepository, name: r}\ninterval: 5m\nosm: {secretRef: {name: o}}\n").is_err());
    }
}
