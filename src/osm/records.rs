//! Lenient, typed views of the NBI records OSM Ops reads. Records are parsed field by field so that
//! extra fields (which differ between OSM releases) never break us, and a missing optional field
//! (a package record that was created but never uploaded has no `id`) is tolerated.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{from_osm_epoch, OperationState, Timestamp};

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// A list of strings (`vnfd-id` of an NSD or an NS record); non-strings are skipped.
fn str_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|l| l.as_array())
        .map(|l| {
            l.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The items of the array at `v[key]`; nothing when it is absent or not an array.
fn array_at<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(|l| l.as_array()).into_iter().flatten()
}

/// Member VNFs of an NSD record (`df[].vnf-profile[]`).
fn vnf_profiles(nsd: &Value) -> Vec<crate::repo::VnfProfile> {
    array_at(nsd, "df")
        .flat_map(|df| array_at(df, "vnf-profile"))
        .filter_map(|p| {
            Some(crate::repo::VnfProfile {
                member: str_at(p, &["id"])?.to_owned(),
                vnfd_id: str_at(p, &["vnfd-id"])?.to_owned(),
            })
        })
        .collect()
}

fn osm_id(v: &Value) -> Result<String, String> {
    str_at(v, &["_id"])
        .map(str::to_owned)
        .ok_or_else(|| "record without '_id'".to_owned())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VimAccount {
    pub osm_id: String,
    pub name: String,
}

impl VimAccount {
    pub fn from_value(v: &Value) -> Result<Self, String> {
        Ok(VimAccount {
            osm_id: osm_id(v)?,
            name: str_at(v, &["name"]).unwrap_or_default().to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct K8sCluster {
    pub osm_id: String,
    pub name: String,
    pub vim_account: Option<String>,
}

impl K8sCluster {
    pub fn from_value(v: &Value) -> Result<Self, String> {
        Ok(K8sCluster {
            osm_id: osm_id(v)?,
            name: str_at(v, &["name"]).unwrap_or_default().to_owned(),
            vim_account: str_at(v, &["vim_account"]).map(str::to_owned),
        })
    }
}

/// A VNF or NS package record (`vnfds` / `nsds` collection).
#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

impl PackageRecord {
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let vnfd_refs = str_list(v, "vnfd-id");
        Ok(PackageRecord {
            osm_id: osm_id(v)?,
            id: str_at(v, &["id"]).map(str::to_owned),
            name: str_at(v, &["name"])
                .or_else(|| str_at(v, &["product-name"]))
                .map(str::to_owned),
            zipfile: str_at(v, &["_admin", "storage", "zipfile"]).map(str::to_owned),
            vnfd_refs,
            vnf_profiles: vnf_profiles(v),
            kdus: array_at(v, "kdu")
                .filter_map(|k| str_at(k, &["name"]).map(str::to_owned))
                .collect(),
        })
    }
}

/// An NS instance record (`nsrs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// `_admin.nsState`: NOT_INSTANTIATED | INSTANTIATED; what the NBI gates operations on.
    pub admin_ns_state: String,
    /// Top-level `nsState` written by LCM: NOT_INSTANTIATED, BUILDING, READY, BROKEN, TERMINATING.
    pub ns_state: String,
    pub current_operation: Option<String>,
    /// `_id`s of the VNFDs the NS uses.
    pub vnfd_osm_ids: Vec<String>,
    /// Member VNFs of the NSD the NS was created from (the record embeds that NSD).
    pub vnf_profiles: Vec<crate::repo::VnfProfile>,
    /// KDUs OSM deployed for the NS, by member VNF (`_admin.deployed.K8s[]`).
    pub deployed_kdus: Vec<(String, String)>,
}

impl NsRecord {
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let text = |k: &str| str_at(v, &[k]).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(NsRecord {
            osm_id: osm_id(v)?,
            name: str_at(v, &["name"]).unwrap_or_default().to_owned(),
            description: text("description"),
            created: v
                .pointer("/_admin/created")
                .or_else(|| v.get("create-time"))
                .and_then(|t| t.as_f64())
                .and_then(from_osm_epoch),
            error_detail: text("errorDetail").or_else(|| text("errorDescription")),
            nsd_osm_id: str_at(v, &["nsd-id"]).map(str::to_owned),
            nsd_ref: str_at(v, &["nsd-ref"]).map(str::to_owned),
            vim_account_id: str_at(v, &["datacenter"])
                .or_else(|| str_at(v, &["instantiate_params", "vimAccountId"]))
                .map(str::to_owned),
            admin_ns_state: str_at(v, &["_admin", "nsState"])
                .unwrap_or("NOT_INSTANTIATED")
                .to_owned(),
            ns_state: str_at(v, &["nsState"])
                .unwrap_or("NOT_INSTANTIATED")
                .to_owned(),
            current_operation: str_at(v, &["currentOperation"]).map(str::to_owned),
            vnfd_osm_ids: str_list(v, "vnfd-id"),
            vnf_profiles: v.get("nsd").map(vnf_profiles).unwrap_or_default(),
            deployed_kdus: v
                .pointer("/_admin/deployed/K8s")
                .and_then(|l| l.as_array())
                .into_iter()
                .flatten()
                .filter_map(|k| {
                    Some((
                        str_at(k, &["member-vnf-index"])?.to_owned(),
                        str_at(k, &["kdu-name"])?.to_owned(),
                    ))
                })
                .collect(),
        })
    }

    pub fn is_instantiated(&self) -> bool {
        self.admin_ns_state == "INSTANTIATED"
    }
}

/// An NS LCM operation occurrence (`nslcmops`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpRecord {
    pub osm_id: String,
    pub ns_instance_id: String,
    /// instantiate | terminate | action | scale | update | heal | migrate
    pub lcm_operation_type: String,
    pub operation_state: OperationState,
    pub start_time: Option<Timestamp>,
    pub status_entered_time: Option<Timestamp>,
    pub error_message: Option<String>,
    pub detailed_status: Option<String>,
    pub operation_params: Value,
}

impl OpRecord {
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let text = |k: &str| match v.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        Ok(OpRecord {
            osm_id: osm_id(v)?,
            ns_instance_id: str_at(v, &["nsInstanceId"]).unwrap_or_default().to_owned(),
            lcm_operation_type: str_at(v, &["lcmOperationType"])
                .unwrap_or_default()
                .to_owned(),
            operation_state: OperationState::from(
                str_at(v, &["operationState"]).unwrap_or("PROCESSING"),
            ),
            start_time: v
                .get("startTime")
                .and_then(|t| t.as_f64())
                .and_then(from_osm_epoch),
            status_entered_time: v
                .get("statusEnteredTime")
                .and_then(|t| t.as_f64())
                .and_then(from_osm_epoch),
            error_message: text("errorMessage"),
            // LCM writes the hyphenated field, NBI the camel-case one.
            detailed_status: text("detailed-status").or_else(|| text("detailedStatus")),
            operation_params: v.get("operationParams").cloned().unwrap_or(Value::Null),
        })
    }

    pub fn is_terminal(&self) -> bool {
        self.operation_state.ended_in_osm()
    }

    pub fn succeeded(&self) -> bool {
        self.operation_state.succeeded()
    }

    /// OSM's own explanation of a failure, for humans.
    pub fn failure_message(&self) -> String {
        match (&self.error_message, &self.detailed_status) {
            // LCM often repeats one text in both fields, or one inside the other
            // ("Operation: INSTANTIATING.<id>, Stage 2/3 ... Detail: <d>" and "<d>"): say it once.
            (Some(e), Some(d)) if e.contains(d.as_str()) => e.clone(),
            (Some(e), Some(d)) if d.contains(e.as_str()) => d.clone(),
            (Some(e), Some(d)) => format!("{e} ({d})"),
            (Some(e), None) => e.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => format!("operation {} ended {}", self.osm_id, self.operation_state),
        }
    }

    /// The KDU params this operation asked OSM for: instantiate `additionalParamsForKdu` or an
    /// upgrade action's `primitive_params` (an object in OSM 8, a JSON string in newer releases).
    pub fn kdu_params(&self, member_vnf_index: &str, kdu_name: &str) -> Option<Map<String, Value>> {
        let p = &self.operation_params;
        match self.lcm_operation_type.as_str() {
            "instantiate" => {
                // Instantiate carries every param: no entry for this KDU means "no params".
                let kdu = p
                    .get("additionalParamsForVnf")
                    .and_then(|l| l.as_array())
                    .and_then(|l| {
                        l.iter().find(|v| {
                            v.get("member-vnf-index").and_then(|m| m.as_str())
                                == Some(member_vnf_index)
                        })
                    })
                    .and_then(|v| v.get("additionalParamsForKdu"))
                    .and_then(|l| l.as_array())
                    .and_then(|l| {
                        l.iter()
                            .find(|k| k.get("kdu_name").and_then(|n| n.as_str()) == Some(kdu_name))
                    });
                let Some(kdu) = kdu else {
                    return Some(Map::new());
                };
                match kdu.get("additionalParams") {
                    Some(Value::Object(m)) => Some(m.clone()),
                    Some(Value::String(s)) => serde_json::from_str(s).ok(),
                    _ => Some(Map::new()),
                }
            }
            "action" => {
                let member = p
                    .get("member_vnf_index")
                    .or_else(|| p.get("vnf_member_index"))?
                    .as_str()?;
                if member != member_vnf_index
                    || p.get("kdu_name")?.as_str()? != kdu_name
                    || p.get("primitive")?.as_str()? != "upgrade"
                {
                    return None;
                }
                match p.get("primitive_params") {
                    Some(Value::Object(m)) => Some(m.clone()),
                    Some(Value::String(s)) => serde_json::from_str(s).ok(),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kdu_params_from_instantiate_and_string_encoded_upgrade() {
        let inst = OpRecord::from_value(&json!({
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
        let up = OpRecord::from_value(&json!({
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
        let twice = OpRecord::from_value(&json!({
            "_id": "op3", "operationState": "FAILED",
            "errorMessage": "Operation: INSTANTIATING.op3, Stage 2/3: deployment of KDUs. Detail: helm failed",
            "detailed-status": "helm failed"}))
        .unwrap();
        assert_eq!(
            twice.failure_message(),
            "Operation: INSTANTIATING.op3, Stage 2/3: deployment of KDUs. Detail: helm failed"
        );
    }

    #[test]
    fn package_records_without_descriptor_id_are_tolerated() {
        let r = PackageRecord::from_value(
            &json!({"_id": "u1", "_admin": {"storage": {"zipfile": "a.tar.gz"}}}),
        )
        .unwrap();
        assert_eq!(r.id, None);
        assert_eq!(r.zipfile.as_deref(), Some("a.tar.gz"));
    }
}
