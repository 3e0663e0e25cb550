//! NS LCM operation occurrences (`ns_lcm_op_occs`) as OSM writes them, read once at the edge,
//! and what an operation asked OSM to run a KDU with.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{from_osm_epoch, required_id, Lenient};
use crate::model::to_osm_epoch;
use crate::model::{LcmOperationType, OperationState, Timestamp};

/// An NS LCM operation occurrence (`nslcmops`). Written back in OSM's own shape (the fields this
/// view reads, times as OSM's float epochs), so what is saved reads back through the same reader
/// (the CLI keeps the history the plan needs in its state file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawOp")]
pub struct OpRecord {
    pub osm_id: String,
    pub ns_instance_id: String,
    pub lcm_operation_type: LcmOperationType,
    pub operation_state: OperationState,
    pub start_time: Option<Timestamp>,
    pub status_entered_time: Option<Timestamp>,
    pub error_message: Option<String>,
    pub detailed_status: Option<String>,
    pub operation_params: Value,
}

#[derive(Deserialize)]
struct RawOp {
    #[serde(default, rename = "_id")]
    osm_id: Lenient<String>,
    #[serde(default, rename = "nsInstanceId")]
    ns_instance_id: Lenient<String>,
    #[serde(default, rename = "lcmOperationType")]
    lcm_operation_type: Lenient<String>,
    #[serde(default, rename = "operationState")]
    operation_state: Lenient<String>,
    #[serde(default, rename = "startTime")]
    start_time: Lenient<f64>,
    #[serde(default, rename = "statusEnteredTime")]
    status_entered_time: Lenient<f64>,
    #[serde(default, rename = "errorMessage")]
    error_message: Lenient<String>,
    /// LCM writes the hyphenated field, NBI the camel-case one.
    #[serde(default, rename = "detailed-status")]
    detailed_status_lcm: Lenient<String>,
    #[serde(default, rename = "detailedStatus")]
    detailed_status_nbi: Lenient<String>,
    #[serde(default, rename = "operationParams")]
    operation_params: Option<Value>,
}

impl Serialize for OpRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = Map::new();
        m.insert("_id".into(), self.osm_id.clone().into());
        m.insert("nsInstanceId".into(), self.ns_instance_id.clone().into());
        m.insert(
            "lcmOperationType".into(),
            self.lcm_operation_type.as_str().into(),
        );
        m.insert(
            "operationState".into(),
            self.operation_state.as_str().into(),
        );
        for (key, t) in [
            ("startTime", self.start_time),
            ("statusEnteredTime", self.status_entered_time),
        ] {
            if let Some(t) = t {
                m.insert(key.into(), to_osm_epoch(t).into());
            }
        }
        if let Some(e) = &self.error_message {
            m.insert("errorMessage".into(), e.clone().into());
        }
        if let Some(d) = &self.detailed_status {
            m.insert("detailedStatus".into(), d.clone().into());
        }
        m.insert("operationParams".into(), self.operation_params.clone());
        Value::Object(m).serialize(s)
    }
}

impl TryFrom<RawOp> for OpRecord {
    type Error = String;
    fn try_from(r: RawOp) -> Result<Self, String> {
        Ok(OpRecord {
            osm_id: required_id(r.osm_id)?,
            ns_instance_id: r.ns_instance_id.get().unwrap_or_default(),
            lcm_operation_type: LcmOperationType::from(
                r.lcm_operation_type.get().unwrap_or_default(),
            ),
            operation_state: OperationState::from(
                r.operation_state
                    .get()
                    .unwrap_or_else(|| "PROCESSING".into()),
            ),
            start_time: r.start_time.get().and_then(from_osm_epoch),
            status_entered_time: r.status_entered_time.get().and_then(from_osm_epoch),
            error_message: r.error_message.text(),
            detailed_status: r
                .detailed_status_lcm
                .text()
                .or(r.detailed_status_nbi.text()),
            operation_params: r.operation_params.unwrap_or(Value::Null),
        })
    }
}

impl OpRecord {
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

    /// The member VNF and KDU a KDU upgrade (an `action` with primitive `upgrade`) is for.
    pub fn upgrade_target(&self) -> Option<(&str, &str)> {
        if self.lcm_operation_type != LcmOperationType::Action {
            return None;
        }
        let p = &self.operation_params;
        let member = p
            .get("member_vnf_index")
            .or_else(|| p.get("vnf_member_index"))?
            .as_str()?;
        let kdu = p.get("kdu_name")?.as_str()?;
        (p.get("primitive")?.as_str()? == "upgrade").then_some((member, kdu))
    }

    /// The member VNF and scaling aspect a `scale` operation steps, and whether it scales out
    /// (`scaleVnfData.scaleByStepData` and `scaleVnfType` of NBI `ns_scale`).
    pub fn scale_step(&self) -> Option<(&str, &str, bool)> {
        if self.lcm_operation_type != LcmOperationType::Scale {
            return None;
        }
        let data = self.operation_params.get("scaleVnfData")?;
        let step = data.get("scaleByStepData")?;
        let member = step.get("member-vnf-index")?.as_str()?;
        let aspect = step.get("scaling-group-descriptor")?.as_str()?;
        let out = match data.get("scaleVnfType")?.as_str()? {
            "SCALE_OUT" => true,
            "SCALE_IN" => false,
            _ => return None,
        };
        Some((member, aspect, out))
    }

    /// What an instantiate asked OSM for besides name, NSD, VIM account and KDU params (the
    /// NsInstance's `config`), read back as [`instantiation_config`] normalises it.
    pub fn instantiate_config(&self) -> Option<Map<String, Value>> {
        if self.lcm_operation_type != LcmOperationType::Instantiate {
            return None;
        }
        self.operation_params
            .as_object()
            .map(|p| instantiation_config(p.clone()))
    }

    /// The VNF record and VNFD `_id` a `CHANGE_VNFPKG` update moves to the newest package
    /// revision (`changeVnfPackageData`, NBI `ns_update`).
    pub fn vnf_package_change(&self) -> Option<(&str, &str)> {
        if self.lcm_operation_type != LcmOperationType::Update {
            return None;
        }
        let p = &self.operation_params;
        if p.get("updateType")?.as_str()? != "CHANGE_VNFPKG" {
            return None;
        }
        let data = p.get("changeVnfPackageData")?;
        Some((
            data.get("vnfInstanceId")?.as_str()?,
            data.get("vnfdId")?.as_str()?,
        ))
    }

    /// The KDU params this operation asked OSM for, as an upgrade's `primitive_params` carries
    /// them: an instantiate's `additionalParamsForKdu[].additionalParams` plus its `kdu_model`,
    /// or an upgrade action's `primitive_params`. OSM stores both `additionalParamsForVnf` and
    /// `primitive_params` in the operation as JSON *strings* (`NsLcmOpTopic.new` in NBI
    /// `osm_nbi/instance_topics.py`); OSM 8 and the simulator of earlier versions stored objects.
    /// Both are read.
    pub fn kdu_params(&self, member_vnf_index: &str, kdu_name: &str) -> Option<Map<String, Value>> {
        let p = &self.operation_params;
        match self.lcm_operation_type {
            LcmOperationType::Instantiate => {
                let vnfs = match p.get("additionalParamsForVnf") {
                    Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
                    Some(v) => Some(v.clone()),
                    None => None,
                };
                // Instantiate carries every param: no entry for this KDU means "no params".
                let kdu = vnfs
                    .as_ref()
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
                let mut params = match kdu.get("additionalParams") {
                    Some(Value::Object(m)) => m.clone(),
                    Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_default(),
                    _ => Map::new(),
                };
                parse_yaml_strings(&mut params);
                if let Some(model) = kdu
                    .get(crate::osm::KDU_MODEL_PARAM)
                    .filter(|m| m.is_string())
                {
                    params.insert(crate::osm::KDU_MODEL_PARAM.to_owned(), model.clone());
                }
                Some(params)
            }
            LcmOperationType::Action => {
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

/// What LCM deploys from a KDU's instantiate params (`parse_yaml_strings`,
/// `osm_lcm/data_utils/dict_utils.py`): the NBI stores a mapping or list value as the string
/// `"!!yaml " + safe_dump(value)` (`_format_additional_params`, `osm_nbi/instance_topics.py`),
/// and LCM loads every value starting with `!!yaml ` back. Read the same way, or every nested
/// param would look changed after an instantiate. A value that is not YAML stays as it is.
/// Keys of an instantiate request that are not instantiation config: identity and what OSM adds.
const NOT_CONFIG: [&str; 9] = [
    "nsName",
    "nsdId",
    "vimAccountId",
    "nsDescription",
    "lcmOperationType",
    "nsInstanceId",
    "nsr_id",
    "netsliceInstanceId",
    "nsConfigTemplateId",
];

/// An instantiate request's config in one comparable form, whether it is the request OSM Ops
/// would send or the one OSM recorded in the operation: without identity and KDU params (Git
/// upgrades those on a running NS), `additionalParamsForVnf` parsed from the JSON string the NBI
/// stores, day-1 params' `!!yaml` strings read back (`_format_additional_params` writes them,
/// LCM reads them), and members left without params dropped.
pub fn instantiation_config(mut request: Map<String, Value>) -> Map<String, Value> {
    for k in NOT_CONFIG {
        request.remove(k);
    }
    if let Some(Value::Object(p)) = request.get_mut("additionalParamsForNs") {
        parse_yaml_strings(p);
    }
    let vnfs = match request.remove("additionalParamsForVnf") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(&s).ok(),
        other => other,
    };
    let mut kept = Vec::new();
    for mut vnf in vnfs
        .and_then(|v| match v {
            Value::Array(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default()
    {
        let Some(m) = vnf.as_object_mut() else {
            continue;
        };
        m.remove("additionalParamsForKdu");
        if let Some(Value::Object(p)) = m.get_mut("additionalParams") {
            parse_yaml_strings(p);
        }
        for vdu in m
            .get_mut("additionalParamsForVdu")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(Value::Object(p)) = vdu.get_mut("additionalParams") {
                parse_yaml_strings(p);
            }
        }
        if m.keys().any(|k| k != "member-vnf-index") {
            kept.push(vnf);
        }
    }
    if !kept.is_empty() {
        request.insert("additionalParamsForVnf".into(), Value::Array(kept));
    }
    request
}

pub(super) fn parse_yaml_strings(params: &mut Map<String, Value>) {
    for v in params.values_mut() {
        let Some(yaml) = v.as_str().and_then(|s| s.strip_prefix("!!yaml ")) else {
            continue;
        };
        if let Ok(parsed) = serde_saphyr::from_str::<Value>(yaml) {
            *v = parsed;
        }
    }
}
