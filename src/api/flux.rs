//! The part of Flux's source API (`source.toolkit.fluxcd.io/v1`) the controller reads: which
//! resource each source kind is, and `status.artifact` + the Ready condition of a source.

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::{Deserialize, Serialize};

use super::SourceKind;

pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
pub const SOURCE_VERSION: &str = "v1";

/// The API resource of a Flux source kind (`apiVersion` overrides the default `v1`).
pub fn source_resource(kind: SourceKind, api_version: Option<&str>) -> ApiResource {
    let (group, version) = match api_version.and_then(|a| a.split_once('/')) {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (SOURCE_GROUP.to_owned(), SOURCE_VERSION.to_owned()),
    };
    let plural = match kind {
        SourceKind::GitRepository => "gitrepositories",
        SourceKind::OCIRepository => "ocirepositories",
        SourceKind::Bucket => "buckets",
        SourceKind::ExternalArtifact => "externalartifacts",
    };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&group, &version, kind.as_str()),
        plural,
    )
}

/// `status.artifact` of a Flux source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub url: String,
    pub revision: String,
    /// `sha256:<hex>` of the tarball (older Flux had a `checksum` field instead).
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub last_update_time: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

/// What the controller needs to know about a source object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceState {
    pub ready: bool,
    /// The Ready condition's message, for "source not ready" reports.
    pub message: Option<String>,
    pub artifact: Option<Artifact>,
}

impl SourceState {
    pub fn from_object(obj: &DynamicObject) -> SourceState {
        let status = obj.data.get("status");
        let ready_cond = status
            .and_then(|s| s.get("conditions"))
            .and_then(|c| c.as_array())
            .and_then(|l| {
                l.iter()
                    .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))
            });
        let ready = ready_cond
            .and_then(|c| c.get("status"))
            .and_then(|s| s.as_str())
            == Some("True");
        let message = ready_cond
            .and_then(|c| c.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_owned);
        let artifact = status
            .and_then(|s| s.get("artifact"))
            .and_then(|a| serde_json::from_value::<Artifact>(a.clone()).ok())
            .filter(|a| !a.url.is_empty());
        SourceState {
            ready,
            message,
            artifact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_example_gitrepository() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/flux-crds/example-gitrepository.yaml"
        );
        let text = std::fs::read_to_string(path).expect("vendored Flux fixture");
        let obj: DynamicObject = serde_saphyr::from_str(&text).unwrap();
        let s = SourceState::from_object(&obj);
        assert!(s.ready);
        let a = s.artifact.unwrap();
        assert_eq!(
            a.revision,
            "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
        );
        assert!(a.digest.unwrap().starts_with("sha256:"));
        assert_eq!(a.size, Some(4096));
    }

    #[test]
    fn source_kinds_map_to_the_real_crd_plurals() {
        for (kind, file) in [
            (SourceKind::GitRepository, "gitrepositories"),
            (SourceKind::OCIRepository, "ocirepositories"),
            (SourceKind::Bucket, "buckets"),
            (SourceKind::ExternalArtifact, "externalartifacts"),
        ] {
            let path = format!(
                "{}/tests/fixtures/flux-crds/source.toolkit.fluxcd.io_{file}.yaml",
                env!("CARGO_MANIFEST_DIR")
            );
            let crd: serde_json::Value =
                serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let r = source_resource(kind, None);
            assert_eq!(crd["spec"]["names"]["plural"], r.plural.as_str());
            assert_eq!(crd["spec"]["names"]["kind"], r.kind.as_str());
            assert_eq!(crd["spec"]["group"], r.group.as_str());
            let served: Vec<&str> = crd["spec"]["versions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["served"] == true)
                .filter_map(|v| v["name"].as_str())
                .collect();
            assert!(served.contains(&"v1"), "{file}: {served:?}");
        }
    }

    #[test]
    fn a_source_without_artifact_is_not_usable() {
        let obj: DynamicObject = serde_saphyr::from_str(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucket\nmetadata: {name: b}\nstatus:\n  conditions:\n  - {type: Ready, status: \"False\", reason: BucketOperationFailed, message: access denied, lastTransitionTime: \"2026-01-01T00:00:00Z\"}\n",
        )
        .unwrap();
        let s = SourceState::from_object(&obj);
        assert!(!s.ready && s.artifact.is_none());
        assert_eq!(s.message.as_deref(), Some("access denied"));
    }
}
