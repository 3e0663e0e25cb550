//! Typed views of the NBI records OSM Ops reads, deserialized straight from the NBI's answers.
//! Deserialization is lenient on purpose: extra fields (which differ between OSM releases) are
//! ignored, a field of an unexpected type counts as absent (as a field-by-field read would), a
//! list item of the wrong shape is skipped, and a missing optional field (a package record that
//! was created but never uploaded has no `id`) is tolerated. Only a record without `_id` is
//! refused: nothing could be done with it.

mod ops;

pub use ops::{instantiation_config, OpRecord};

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{from_osm_epoch, AdminNsState, NsState, Timestamp};

/// A value of the expected type, or nothing when OSM wrote something else (or nothing).
#[derive(Debug)]
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(Lenient(T::deserialize(v).ok()))
    }
}

impl<T> Lenient<T> {
    fn get(self) -> Option<T> {
        self.0
    }
}

impl Lenient<String> {
    /// The text, unless OSM wrote an empty one.
    fn text(self) -> Option<String> {
        self.0.filter(|s| !s.is_empty())
    }
}

impl<T> Lenient<Vec<Lenient<T>>> {
    /// The items of the expected shape; nothing when the list is absent or not a list.
    fn items(self) -> Vec<T> {
        self.0
            .unwrap_or_default()
            .into_iter()
            .filter_map(Lenient::get)
            .collect()
    }
}

fn required_id(id: Lenient<String>) -> Result<String, String> {
    id.get().ok_or_else(|| "record without '_id'".to_owned())
}

/// A named item of a descriptor list (`kdu[]`).
#[derive(Deserialize)]
struct RawNamed {
    #[serde(default)]
    name: Lenient<String>,
}

/// `df[]` of an NSD: its member VNFs.
#[derive(Deserialize)]
struct RawDf {
    #[serde(default, rename = "vnf-profile")]
    vnf_profile: Lenient<Vec<Lenient<RawVnfProfile>>>,
    #[serde(default, rename = "scaling-aspect")]
    scaling_aspect: Lenient<Vec<Lenient<RawAspect>>>,
}

#[derive(Deserialize)]
struct RawVnfProfile {
    #[serde(default)]
    id: Lenient<String>,
    #[serde(default, rename = "vnfd-id")]
    vnfd_id: Lenient<String>,
}

/// Member VNFs of an NSD (`df[].vnf-profile[]`), and the scaling aspects of a VNFD's first
/// deployment flavour.
fn df_facts(
    df: Lenient<Vec<Lenient<RawDf>>>,
) -> (
    Vec<crate::repo::VnfProfile>,
    Vec<crate::repo::ScalingAspect>,
) {
    let dfs = df.items();
    let mut aspects = Vec::new();
    let mut profiles = Vec::new();
    for (i, mut df) in dfs.into_iter().enumerate() {
        if i == 0 {
            aspects = std::mem::take(&mut df.scaling_aspect)
                .items()
                .into_iter()
                .filter_map(|a| {
                    Some(crate::repo::ScalingAspect {
                        id: a.id.get()?,
                        max_scale_level: a.max_scale_level.get()?,
                    })
                })
                .collect();
        }
        profiles.push(df);
    }
    (vnf_profiles(profiles), aspects)
}

/// Member VNFs of an NSD (`df[].vnf-profile[]`).
fn vnf_profiles(df: Vec<RawDf>) -> Vec<crate::repo::VnfProfile> {
    df.into_iter()
        .flat_map(|df| df.vnf_profile.items())
        .filter_map(|p| {
            Some(crate::repo::VnfProfile {
                member: p.id.get()?,
                vnfd_id: p.vnfd_id.get()?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawVimAccount")]
pub struct VimAccount {
    pub osm_id: String,
    pub name: String,
}

#[derive(Deserialize)]
struct RawVimAccount {
    #[serde(default, rename = "_id")]
    id: Lenient<String>,
    #[serde(default)]
    name: Lenient<String>,
}

impl TryFrom<RawVimAccount> for VimAccount {
    type Error = String;
    fn try_from(r: RawVimAccount) -> Result<Self, String> {
        Ok(VimAccount {
            osm_id: required_id(r.id)?,
            name: r.name.get().unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawK8sCluster")]
pub struct K8sCluster {
    pub osm_id: String,
    pub name: String,
    pub vim_account: Option<String>,
}

#[derive(Deserialize)]
struct RawK8sCluster {
    #[serde(default, rename = "_id")]
    id: Lenient<String>,
    #[serde(default)]
    name: Lenient<String>,
    #[serde(default)]
    vim_account: Lenient<String>,
}

impl TryFrom<RawK8sCluster> for K8sCluster {
    type Error = String;
    fn try_from(r: RawK8sCluster) -> Result<Self, String> {
        Ok(K8sCluster {
            osm_id: required_id(r.id)?,
            name: r.name.get().unwrap_or_default(),
            vim_account: r.vim_account.get(),
        })
    }
}

/// A VNF or NS package record (`vnfds` / `nsds` collection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPackage")]
pub struct PackageRecord {
    pub osm_id: String,
    /// Descriptor id; absent for records created but never uploaded.
    pub id: Option<String>,
    pub name: Option<String>,
    /// `_admin.storage.zipfile`: the `Content-Filename` of the last upload (which carries the
    /// content digest and the owner's tag when OSM Ops uploaded it).
    pub zipfile: Option<String>,
    /// `vnfd-id` list of an NSD.
    pub vnfd_refs: Vec<String>,
    /// Member VNFs of an NSD (`df[].vnf-profile[]`).
    pub vnf_profiles: Vec<crate::repo::VnfProfile>,
    /// KDU names of a VNFD (`kdu[].name`).
    pub kdus: Vec<String>,
    /// VDU ids of a VNFD (`vdu[].id`).
    pub vdus: Vec<String>,
    /// Scaling aspects of a VNFD's first deployment flavour (`df[0].scaling-aspect[]`).
    pub scaling_aspects: Vec<crate::repo::ScalingAspect>,
    /// `_admin.revision`: bumped by each content upload (current OSM; none in OSM 8).
    pub revision: Option<u64>,
    /// `_admin.modified`: when the content was last uploaded.
    pub modified: Option<Timestamp>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(default, rename = "_id")]
    osm_id: Lenient<String>,
    #[serde(default)]
    id: Lenient<String>,
    #[serde(default)]
    name: Lenient<String>,
    #[serde(default, rename = "product-name")]
    product_name: Lenient<String>,
    #[serde(default, rename = "_admin")]
    admin: Lenient<RawPackageAdmin>,
    #[serde(default, rename = "vnfd-id")]
    vnfd_id: Lenient<Vec<Lenient<String>>>,
    #[serde(default)]
    df: Lenient<Vec<Lenient<RawDf>>>,
    #[serde(default)]
    kdu: Lenient<Vec<Lenient<RawNamed>>>,
    #[serde(default)]
    vdu: Lenient<Vec<Lenient<RawId>>>,
}

/// An item of a descriptor list identified by `id` (`vdu[]`).
#[derive(Deserialize)]
struct RawId {
    #[serde(default)]
    id: Lenient<String>,
}

/// `df[].scaling-aspect[]` of a VNFD.
#[derive(Deserialize)]
struct RawAspect {
    #[serde(default)]
    id: Lenient<String>,
    #[serde(default, rename = "max-scale-level")]
    max_scale_level: Lenient<u32>,
}

#[derive(Deserialize)]
struct RawPackageAdmin {
    #[serde(default)]
    storage: Lenient<RawStorage>,
    #[serde(default)]
    revision: Lenient<u64>,
    #[serde(default)]
    modified: Lenient<f64>,
}

#[derive(Deserialize)]
struct RawStorage {
    #[serde(default)]
    zipfile: Lenient<String>,
}

impl TryFrom<RawPackage> for PackageRecord {
    type Error = String;
    fn try_from(r: RawPackage) -> Result<Self, String> {
        let (vnf_profiles, scaling_aspects) = df_facts(r.df);
        let admin = r.admin.get();
        let (zipfile, revision, modified) = match admin {
            Some(a) => (
                a.storage.get().and_then(|s| s.zipfile.get()),
                a.revision.get(),
                a.modified.get().and_then(from_osm_epoch),
            ),
            None => (None, None, None),
        };
        Ok(PackageRecord {
            osm_id: required_id(r.osm_id)?,
            id: r.id.get(),
            name: r.name.get().or(r.product_name.get()),
            zipfile,
            revision,
            modified,
            vnfd_refs: r.vnfd_id.items(),
            vnf_profiles,
            scaling_aspects,
            vdus: r
                .vdu
                .items()
                .into_iter()
                .filter_map(|v| v.id.get())
                .collect(),
            kdus: r
                .kdu
                .items()
                .into_iter()
                .filter_map(|k| k.name.get())
                .collect(),
        })
    }
}

/// A VNF instance record (`vnfrs`): one member VNF of an NS, and the VNF package revision it
/// runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawVnf")]
pub struct VnfRecord {
    pub osm_id: String,
    /// `nsr-id-ref`: the NS it belongs to.
    pub ns_id: String,
    /// `member-vnf-index-ref`.
    pub member: String,
    /// `vnfd-id`: the VNFD `_id`.
    pub vnfd_osm_id: String,
    /// `vnfd-ref`: the VNFD descriptor id.
    pub vnfd_ref: Option<String>,
    /// `revision`: the VNF package revision it was instantiated or last updated with (LCM
    /// writes it after a `CHANGE_VNFPKG`); none in OSM 8.
    pub revision: Option<u64>,
}

#[derive(Deserialize)]
struct RawVnf {
    #[serde(default, rename = "_id")]
    id: Lenient<String>,
    #[serde(default, rename = "nsr-id-ref")]
    ns_id: Lenient<String>,
    #[serde(default, rename = "member-vnf-index-ref")]
    member: Lenient<String>,
    #[serde(default, rename = "vnfd-id")]
    vnfd_id: Lenient<String>,
    #[serde(default, rename = "vnfd-ref")]
    vnfd_ref: Lenient<String>,
    #[serde(default)]
    revision: Lenient<u64>,
}

impl TryFrom<RawVnf> for VnfRecord {
    type Error = String;
    fn try_from(r: RawVnf) -> Result<Self, String> {
        Ok(VnfRecord {
            osm_id: required_id(r.id)?,
            ns_id: r.ns_id.get().unwrap_or_default(),
            member: r.member.get().unwrap_or_default(),
            vnfd_osm_id: r.vnfd_id.get().unwrap_or_default(),
            vnfd_ref: r.vnfd_ref.get(),
            revision: r.revision.get(),
        })
    }
}

/// An NS instance record (`nsrs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawNs")]
pub struct NsRecord {
    pub osm_id: String,
    pub name: String,
    /// The NS description (where OSM Ops keeps its ownership mark).
    pub description: Option<String>,
    /// `_admin.created`: orders NS instances that share a name (`None` sorts first).
    pub created: Option<Timestamp>,
    /// `errorDetail` / `errorDescription` written by LCM when the NS broke.
    pub error_detail: Option<String>,
    /// NSD `_id`.
    pub nsd_osm_id: Option<String>,
    /// NSD descriptor `id`.
    pub nsd_ref: Option<String>,
    pub vim_account_id: Option<String>,
    /// `_admin.nsState`: what the NBI gates operations on.
    pub admin_ns_state: AdminNsState,
    /// Top-level `nsState` written by LCM.
    pub ns_state: NsState,
    pub current_operation: Option<String>,
    /// `_id`s of the VNFDs the NS uses.
    pub vnfd_osm_ids: Vec<String>,
    /// Member VNFs of the NSD the NS was created from (the record embeds that NSD).
    pub vnf_profiles: Vec<crate::repo::VnfProfile>,
    /// KDUs OSM deployed for the NS, by member VNF (`_admin.deployed.K8s[]`).
    pub deployed_kdus: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct RawNs {
    #[serde(default, rename = "_id")]
    osm_id: Lenient<String>,
    #[serde(default)]
    name: Lenient<String>,
    #[serde(default)]
    description: Lenient<String>,
    #[serde(default, rename = "_admin")]
    admin: Lenient<RawNsAdmin>,
    #[serde(default, rename = "create-time")]
    create_time: Lenient<f64>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Lenient<String>,
    #[serde(default, rename = "errorDescription")]
    error_description: Lenient<String>,
    #[serde(default, rename = "nsd-id")]
    nsd_id: Lenient<String>,
    #[serde(default, rename = "nsd-ref")]
    nsd_ref: Lenient<String>,
    #[serde(default)]
    datacenter: Lenient<String>,
    #[serde(default)]
    instantiate_params: Lenient<RawInstantiateParams>,
    #[serde(default, rename = "nsState")]
    ns_state: Lenient<String>,
    #[serde(default, rename = "currentOperation")]
    current_operation: Lenient<String>,
    #[serde(default, rename = "vnfd-id")]
    vnfd_id: Lenient<Vec<Lenient<String>>>,
    #[serde(default)]
    nsd: Lenient<RawEmbeddedNsd>,
}

#[derive(Deserialize, Default)]
struct RawNsAdmin {
    #[serde(default)]
    created: Lenient<f64>,
    #[serde(default, rename = "nsState")]
    ns_state: Lenient<String>,
    #[serde(default)]
    deployed: Lenient<RawDeployed>,
}

#[derive(Deserialize)]
struct RawDeployed {
    #[serde(default, rename = "K8s")]
    k8s: Lenient<Vec<Lenient<RawDeployedKdu>>>,
}

#[derive(Deserialize)]
struct RawDeployedKdu {
    #[serde(default, rename = "member-vnf-index")]
    member_vnf_index: Lenient<String>,
    #[serde(default, rename = "kdu-name")]
    kdu_name: Lenient<String>,
}

#[derive(Deserialize)]
struct RawInstantiateParams {
    #[serde(default, rename = "vimAccountId")]
    vim_account_id: Lenient<String>,
}

#[derive(Deserialize)]
struct RawEmbeddedNsd {
    #[serde(default)]
    df: Lenient<Vec<Lenient<RawDf>>>,
}

impl TryFrom<RawNs> for NsRecord {
    type Error = String;
    fn try_from(r: RawNs) -> Result<Self, String> {
        let admin = r.admin.get().unwrap_or_default();
        Ok(NsRecord {
            osm_id: required_id(r.osm_id)?,
            name: r.name.get().unwrap_or_default(),
            description: r.description.text(),
            created: admin
                .created
                .get()
                .or(r.create_time.get())
                .and_then(from_osm_epoch),
            error_detail: r.error_detail.text().or(r.error_description.text()),
            nsd_osm_id: r.nsd_id.get(),
            nsd_ref: r.nsd_ref.get(),
            vim_account_id: r.datacenter.get().or_else(|| {
                r.instantiate_params
                    .get()
                    .and_then(|p| p.vim_account_id.get())
            }),
            admin_ns_state: admin
                .ns_state
                .get()
                .map_or(AdminNsState::NotInstantiated, AdminNsState::from),
            ns_state: r
                .ns_state
                .get()
                .map_or(NsState::NotInstantiated, NsState::from),
            current_operation: r.current_operation.get(),
            vnfd_osm_ids: r.vnfd_id.items(),
            vnf_profiles: r
                .nsd
                .get()
                .map(|n| vnf_profiles(n.df.items()))
                .unwrap_or_default(),
            deployed_kdus: admin
                .deployed
                .get()
                .map(|d| d.k8s.items())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|k| Some((k.member_vnf_index.get()?, k.kdu_name.get()?)))
                .collect(),
        })
    }
}

impl NsRecord {
    pub fn is_instantiated(&self) -> bool {
        self.admin_ns_state == AdminNsState::Instantiated
    }
}

/// Reads one record from a JSON value (tests and hand-built records).
pub fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, String> {
    T::deserialize(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OperationState;
    use serde_json::json;
    use serde_json::Map;

    #[test]
    fn kdu_params_from_instantiate_and_string_encoded_upgrade() {
        let inst = from_value::<OpRecord>(&json!({
            "_id": "op1", "nsInstanceId": "ns", "lcmOperationType": "instantiate", "operationState": "COMPLETED",
            "operationParams": {"additionalParamsForVnf": [{"member-vnf-index": "openldap",
                "additionalParamsForKdu": [{"kdu_name": "ldap", "additionalParams": {"replicaCount": "2"}}]}]}
        }))
        .unwrap();
        assert_eq!(
            inst.kdu_params("openldap", "ldap").unwrap()["replicaCount"],
            "2"
        );
        assert_eq!(inst.kdu_params("other", "ldap"), Some(Map::new()));
        let up = from_value::<OpRecord>(&json!({
            "_id": "op2", "nsInstanceId": "ns", "lcmOperationType": "action", "operationState": "FAILED",
            "errorMessage": "boom", "detailed-status": "FAILED Executing kdu upgrade",
            "operationParams": {"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade",
                "primitive_params": "{\"replicaCount\": \"3\"}"}
        }))
        .unwrap();
        assert_eq!(
            up.kdu_params("openldap", "ldap").unwrap()["replicaCount"],
            "3"
        );
        assert!(up.is_terminal() && !up.succeeded());
        assert_eq!(up.failure_message(), "boom (FAILED Executing kdu upgrade)");
        let twice = from_value::<OpRecord>(&json!({
            "_id": "op3", "operationState": "FAILED",
            "errorMessage": "Operation: INSTANTIATING.op3, Stage 2/3: deployment of KDUs. Detail: helm failed",
            "detailed-status": "helm failed"}))
        .unwrap();
        assert_eq!(
            twice.failure_message(),
            "Operation: INSTANTIATING.op3, Stage 2/3: deployment of KDUs. Detail: helm failed"
        );
    }

    /// OSM's NBI stores an instantiate's `additionalParamsForVnf` as a JSON string
    /// (`NsLcmOpTopic.new` in NBI `osm_nbi/instance_topics.py`), measured on OSM's own NBI: the
    /// params are read from it, with the `kdu_model` beside them.
    #[test]
    fn instantiate_params_stored_as_a_json_string_are_read() {
        let inst = from_value::<OpRecord>(&json!({
            "_id": "op1", "nsInstanceId": "ns", "lcmOperationType": "instantiate", "operationState": "COMPLETED",
            "operationParams": {"nsName": "ldap",
                "additionalParamsForVnf": "[{\"member-vnf-index\": \"openldap\", \"additionalParamsForKdu\": [{\"kdu_name\": \"ldap\", \"additionalParams\": {\"replicaCount\": \"1\"}, \"kdu_model\": \"stable/openldap:1.2.7\"}]}]"}
        }))
        .unwrap();
        let p = inst.kdu_params("openldap", "ldap").unwrap();
        assert_eq!(p["replicaCount"], "1");
        assert_eq!(p["kdu_model"], "stable/openldap:1.2.7");
        assert_eq!(inst.kdu_params("other", "ldap"), Some(Map::new()));
    }

    /// A nested KDU param as OSM's NBI stored it on the bed (the `operationParams` of an
    /// instantiate of examples/multi-knf, copied verbatim): the NBI turns a mapping into
    /// `"!!yaml " + safe_dump(value)` and LCM deploys it parsed back. Before this was read the
    /// same way, re-applying the unchanged example upgraded the NS.
    #[test]
    fn nested_kdu_params_stored_as_yaml_strings_are_read_as_lcm_deploys_them() {
        let inst = from_value::<OpRecord>(&json!({
            "_id": "op1", "nsInstanceId": "ns", "lcmOperationType": "instantiate", "operationState": "COMPLETED",
            "operationParams": {"nsName": "cache-eu",
                "additionalParamsForVnf": "[{\"member-vnf-index\": \"redis\", \"additionalParamsForKdu\": [{\"kdu_name\": \"redis\", \"additionalParams\": {\"architecture\": \"replication\", \"replica\": \"!!yaml replicaCount: 2\\n\"}, \"kdu_model\": \"bitnami/redis:17.11.3\"}]}]"}
        }))
        .unwrap();
        let p = inst.kdu_params("redis", "redis").unwrap();
        assert_eq!(p["replica"], json!({"replicaCount": 2}));
        assert_eq!(p["architecture"], "replication");
        let mut odd = Map::new();
        odd.insert("a".into(), json!("!!yaml [unclosed"));
        odd.insert("b".into(), json!("!!yamlish"));
        super::ops::parse_yaml_strings(&mut odd);
        assert_eq!(odd["a"], "!!yaml [unclosed", "not YAML: kept as written");
        assert_eq!(odd["b"], "!!yamlish");
    }

    #[test]
    fn package_records_without_descriptor_id_are_tolerated() {
        let r = from_value::<PackageRecord>(
            &json!({"_id": "u1", "_admin": {"storage": {"zipfile": "a.tar.gz"}}}),
        )
        .unwrap();
        assert_eq!(r.id, None);
        assert_eq!(r.zipfile.as_deref(), Some("a.tar.gz"));
    }

    #[test]
    fn fields_of_an_unexpected_type_count_as_absent_and_bad_list_items_are_skipped() {
        let ns = from_value::<NsRecord>(&json!({
            "_id": "n1", "name": 7, "description": "", "nsState": ["READY"], "extra": {"new": "field"},
            "_admin": {"created": "yesterday", "nsState": "INSTANTIATED",
                "deployed": {"K8s": [{"member-vnf-index": "m", "kdu-name": "k"}, "junk", {"kdu-name": "no-member"}]}},
            "create-time": 1700000000.5,
            "vnfd-id": ["v1", 2, null, "v2"],
            "nsd": {"df": [{"vnf-profile": [{"id": "m", "vnfd-id": "v1"}, {"id": 1}]}, 5]}
        }))
        .unwrap();
        assert_eq!(ns.name, "");
        assert_eq!(ns.description, None);
        assert_eq!(ns.ns_state, NsState::NotInstantiated);
        assert!(ns.is_instantiated());
        // `_admin.created` is not a number: the older `create-time` is used.
        assert_eq!(ns.created.unwrap().as_millisecond(), 1_700_000_000_500);
        assert_eq!(ns.deployed_kdus, vec![("m".to_owned(), "k".to_owned())]);
        assert_eq!(ns.vnfd_osm_ids, vec!["v1", "v2"]);
        assert_eq!(ns.vnf_profiles.len(), 1);

        let op = from_value::<OpRecord>(
            &json!({"_id": "o1", "startTime": "soon", "operationState": 3,
            "detailed-status": "", "detailedStatus": "from the NBI"}),
        )
        .unwrap();
        assert_eq!(op.start_time, None);
        assert_eq!(op.operation_state, OperationState::Processing);
        assert_eq!(op.detailed_status.as_deref(), Some("from the NBI"));
        assert_eq!(op.operation_params, Value::Null);

        for no_id in [json!({"name": "x"}), json!({"_id": 5}), json!("a string")] {
            assert!(from_value::<VimAccount>(&no_id).is_err(), "{no_id}");
            assert!(from_value::<NsRecord>(&no_id).is_err(), "{no_id}");
        }
        let err = from_value::<K8sCluster>(&json!({"name": "c"})).unwrap_err();
        assert!(err.contains("record without '_id'"), "{err}");
    }

    #[test]
    fn an_operation_written_back_reads_back_the_same() {
        let op: OpRecord = from_value(&json!({
            "_id": "op1", "nsInstanceId": "ns", "lcmOperationType": "action", "operationState": "FAILED",
            "startTime": 1_700_000_000.125, "statusEnteredTime": 1_700_000_100.5,
            "errorMessage": "boom", "detailed-status": "Stage 2/3 boom",
            "operationParams": {"primitive": "upgrade", "primitive_params": "{\"a\": 1}"},
            "links": {"self": "/osm/nslcm/v1/ns_lcm_op_occs/op1"}
        }))
        .unwrap();
        let written = serde_json::to_value(&op).unwrap();
        assert_eq!(written["_id"], "op1");
        assert_eq!(written["startTime"], 1_700_000_000.125);
        let back: OpRecord = from_value(&written).unwrap();
        assert_eq!(back, op);
    }
}
