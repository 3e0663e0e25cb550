//! OSM's NBI JSON schemas for NS requests (`ns_instantiate`, `ns_scale`, `ns_update` in NBI
//! `osm_nbi/validation.py`), written down as data and checked the way Python's `jsonschema`
//! checks them. One copy serves two readers: the repository reader checks an NsInstance's
//! instantiation `config` before anything is sent (exit 2, naming the field), and the simulator
//! refuses what OSM refuses, with jsonschema's words.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

/// One JSON schema node, as `validation.py` composes them.
#[derive(Debug)]
pub enum Schema {
    /// `string_schema`: 1 to 255 characters.
    Str,
    /// `name_schema`: 1 to 255 characters, none of `,;()'"`.
    Name,
    /// `id_schema`: a UUID.
    Id,
    /// `{"type": "string"}`.
    StrAny,
    /// `nsDescription`'s `{"oneOf": [description_schema, null_schema]}`. description_schema's
    /// type is `["string", "null"]` too, so null matches both and is refused (a quirk of OSM's
    /// schema), and a string must be 1 to 255 characters without quotes.
    NsDescription,
    /// `{"type": "integer", "minimum": n}` (`integer0_schema`, `integer1_schema`).
    Int {
        min: i64,
    },
    /// `bool_schema`.
    Bool,
    /// `null_schema`.
    Null,
    /// `object_schema`: any mapping.
    AnyObject,
    /// A string matching one of OSM's patterns.
    Pattern(&'static Pat),
    /// `{"enum": [...]}`.
    Enum(&'static [&'static str]),
    /// `{"type": "array", "items": ..., "minItems": n}`; `items: None` is any item.
    Array {
        items: Option<&'static Schema>,
        min_items: usize,
    },
    /// `{"oneOf": [...]}`: exactly one must match.
    OneOf(&'static [Schema]),
    Object(&'static Obj),
}

/// `{"type": "object", "properties": ..., "required": ..., "minProperties": ...,
/// "additionalProperties": ...}`.
#[derive(Debug)]
pub struct Obj {
    pub properties: &'static [(&'static str, Schema)],
    pub required: &'static [&'static str],
    pub min_properties: usize,
    pub additional: bool,
}

/// A string pattern of `validation.py` and the pattern text jsonschema quotes.
#[derive(Debug)]
pub struct Pat {
    pub pattern: &'static str,
}

/// Where in the request a violation is and its message, in jsonschema's words with the value
/// in Python's notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// From the top of the request.
    pub path: Vec<String>,
    pub message: String,
    /// Where jsonschema's `e.path` starts in `path`: the error `best_match` reports for a failed
    /// `oneOf` is one of its context errors, whose path is relative to the `oneOf`'s instance.
    pub nbi_from: usize,
}

impl Violation {
    /// `vld:0:name`, as the NBI's `validate_input` joins `e.path`.
    pub fn nbi_path(&self) -> String {
        self.path[self.nbi_from.min(self.path.len())..].join(":")
    }
}

const IP: Pat = Pat {
    pattern:
        "^((25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)$",
};
// ipv6_schema is unanchored in validation.py (it has no ^...$): any string containing an IPv6
// address matches, as jsonschema's re.search does.
const IPV6: Pat = Pat {
    pattern: "(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))",
};
const IP_PREFIX: Pat = Pat {
    pattern: "^((25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)/(30|[12]?[0-9])$",
};
const MAC: Pat = Pat {
    pattern: "^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$",
};
const SHORTNAME: Pat = Pat {
    pattern: "^[^,;()\\.\\$'\"]+$",
};

const IP_ANY: Schema = Schema::OneOf(&[Schema::Pattern(&IP), Schema::Pattern(&IPV6)]);
const INT1: Schema = Schema::Int { min: 1 };

const VDU: Obj = Obj {
    properties: &[
        ("id", Schema::Name),
        ("vim-flavor-id", Schema::Name),
        ("instance_name", Schema::Name),
        ("vim-flavor-name", Schema::Name),
        ("security-group-name", Schema::Name),
        (
            "volume",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[("name", Schema::Name), ("vim-volume-id", Schema::Name)],
                    required: &["name", "vim-volume-id"],
                    min_properties: 0,
                    additional: false,
                })),
                min_items: 1,
            },
        ),
        (
            "interface",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[
                        ("name", Schema::Name),
                        ("ip-address", IP_ANY),
                        ("mac-address", Schema::Pattern(&MAC)),
                        ("floating-ip-required", Schema::Bool),
                    ],
                    required: &["name"],
                    min_properties: 0,
                    additional: false,
                })),
                min_items: 1,
            },
        ),
    ],
    required: &["id"],
    min_properties: 0,
    additional: false,
};

const IP_PROFILE: Obj = Obj {
    properties: &[
        ("ip-version", Schema::Enum(&["ipv4", "ipv6"])),
        (
            "subnet-address",
            Schema::OneOf(&[Schema::Null, Schema::Pattern(&IP_PREFIX)]),
        ),
        (
            "gateway-address",
            Schema::OneOf(&[Schema::Null, Schema::Pattern(&IP)]),
        ),
        (
            "dns-server",
            Schema::OneOf(&[
                Schema::Null,
                Schema::Array {
                    items: Some(&Schema::Object(&Obj {
                        properties: &[("address", IP_ANY)],
                        required: &["address"],
                        min_properties: 0,
                        additional: false,
                    })),
                    min_items: 1,
                },
            ]),
        ),
        (
            "dhcp-params",
            Schema::OneOf(&[
                Schema::Null,
                Schema::Object(&Obj {
                    properties: &[
                        ("enabled", Schema::Bool),
                        ("count", INT1),
                        ("start-address", Schema::Pattern(&IP)),
                    ],
                    required: &[],
                    min_properties: 0,
                    additional: false,
                }),
            ]),
        ),
    ],
    required: &[],
    min_properties: 0,
    additional: false,
};

const PROVIDER_NETWORK: Obj = Obj {
    properties: &[
        ("physical-network", Schema::Name),
        ("segmentation-id", Schema::Name),
        (
            "sdn-ports",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[
                        ("switch_id", Schema::Pattern(&SHORTNAME)),
                        ("switch_port", Schema::Pattern(&SHORTNAME)),
                        ("mac_address", Schema::Pattern(&MAC)),
                        ("vlan", Schema::Int { min: 1 }),
                    ],
                    required: &[],
                    min_properties: 0,
                    additional: true,
                })),
                min_items: 0,
            },
        ),
        ("network-type", Schema::Pattern(&SHORTNAME)),
    ],
    required: &[],
    min_properties: 0,
    additional: true,
};

const INTERNAL_VLD: Obj = Obj {
    properties: &[
        ("name", Schema::Name),
        ("vim-network-name", Schema::Name),
        ("vim-network-id", Schema::Name),
        ("ip-profile", Schema::Object(&IP_PROFILE)),
        ("provider-network", Schema::Object(&PROVIDER_NETWORK)),
        (
            "internal-connection-point",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[
                        ("id-ref", Schema::Name),
                        ("ip-address", Schema::Pattern(&IP)),
                    ],
                    required: &["id-ref"],
                    min_properties: 2,
                    additional: false,
                })),
                min_items: 1,
            },
        ),
    ],
    required: &["name"],
    min_properties: 2,
    additional: false,
};

/// `additional_params_for_vnf`'s item.
const PARAMS_FOR_VNF: Obj = Obj {
    properties: &[
        ("member-vnf-index", Schema::Name),
        ("additionalParams", Schema::AnyObject),
        ("k8s-namespace", Schema::Name),
        ("config-units", INT1),
        (
            "additionalParamsForVdu",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[
                        ("vdu_id", Schema::Name),
                        ("additionalParams", Schema::AnyObject),
                        ("config-units", INT1),
                    ],
                    required: &["vdu_id"],
                    min_properties: 2,
                    additional: false,
                })),
                min_items: 0,
            },
        ),
        (
            "additionalParamsForKdu",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[
                        ("kdu_name", Schema::Name),
                        ("additionalParams", Schema::AnyObject),
                        ("kdu_model", Schema::Name),
                        ("k8s-namespace", Schema::Name),
                        ("config-units", INT1),
                        ("kdu-deployment-name", Schema::Name),
                    ],
                    required: &["kdu_name"],
                    min_properties: 2,
                    additional: false,
                })),
                min_items: 0,
            },
        ),
        (
            "affinity-or-anti-affinity-group",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[
                        ("id", Schema::Name),
                        ("vim-affinity-group-id", Schema::Name),
                    ],
                    required: &["id"],
                    min_properties: 2,
                    additional: false,
                })),
                min_items: 0,
            },
        ),
    ],
    required: &["member-vnf-index"],
    min_properties: 2,
    additional: false,
};

/// `vnf_schema`'s item: per-member placement and VDU/internal-VLD settings.
const VNF: Obj = Obj {
    properties: &[
        ("member-vnf-index", Schema::Name),
        ("vimAccountId", Schema::Id),
        (
            "vdu",
            Schema::Array {
                items: Some(&Schema::Object(&VDU)),
                min_items: 1,
            },
        ),
        (
            "internal-vld",
            Schema::Array {
                items: Some(&Schema::Object(&INTERNAL_VLD)),
                min_items: 1,
            },
        ),
    ],
    required: &["member-vnf-index"],
    min_properties: 2,
    additional: false,
};

/// `vld_schema`'s item.
const VLD: Obj = Obj {
    properties: &[
        ("name", Schema::Str),
        (
            "vim-network-name",
            Schema::OneOf(&[Schema::Str, Schema::AnyObject]),
        ),
        (
            "vim-network-id",
            Schema::OneOf(&[Schema::Str, Schema::AnyObject]),
        ),
        ("ns-net", Schema::AnyObject),
        (
            "wimAccountId",
            Schema::OneOf(&[Schema::Id, Schema::Bool, Schema::Null]),
        ),
        ("ip-profile", Schema::Object(&IP_PROFILE)),
        ("provider-network", Schema::Object(&PROVIDER_NETWORK)),
        (
            "vnfd-connection-point-ref",
            Schema::Array {
                items: Some(&Schema::Object(&Obj {
                    properties: &[
                        ("member-vnf-index-ref", Schema::Name),
                        ("vnfd-connection-point-ref", Schema::Name),
                        ("ip-address", IP_ANY),
                    ],
                    required: &["member-vnf-index-ref", "vnfd-connection-point-ref"],
                    min_properties: 3,
                    additional: false,
                })),
                min_items: 1,
            },
        ),
    ],
    required: &["name"],
    min_properties: 0,
    additional: false,
};

/// `ns_instantiate` (NBI `validation.py`). Properties are checked in this order: the name and
/// ids before the description, as the simulator always reported them.
pub const NS_INSTANTIATE: Obj = Obj {
    properties: &[
        ("nsName", Schema::Name),
        ("nsdId", Schema::Id),
        ("vimAccountId", Schema::Id),
        ("nsDescription", Schema::NsDescription),
        ("lcmOperationType", Schema::Str),
        ("nsInstanceId", Schema::Id),
        ("netsliceInstanceId", Schema::Id),
        ("nsConfigTemplateId", Schema::Id),
        (
            "wimAccountId",
            Schema::OneOf(&[Schema::Id, Schema::Bool, Schema::Null]),
        ),
        ("placement-engine", Schema::Str),
        ("placement-constraints", Schema::AnyObject),
        ("additionalParamsForNs", Schema::AnyObject),
        (
            "additionalParamsForVnf",
            Schema::Array {
                items: Some(&Schema::Object(&PARAMS_FOR_VNF)),
                min_items: 0,
            },
        ),
        ("config-units", INT1),
        ("k8s-namespace", Schema::Name),
        (
            "ssh_keys",
            Schema::Array {
                items: Some(&Schema::StrAny),
                min_items: 0,
            },
        ),
        ("timeout_ns_deploy", INT1),
        ("nsr_id", Schema::Id),
        ("vduImage", Schema::Name),
        (
            "vnf",
            Schema::Array {
                items: Some(&Schema::Object(&VNF)),
                min_items: 1,
            },
        ),
        (
            "vld",
            Schema::Array {
                items: Some(&Schema::Object(&VLD)),
                min_items: 1,
            },
        ),
    ],
    required: &["nsName", "nsdId", "vimAccountId"],
    min_properties: 0,
    additional: false,
};

/// `ns_scale` (NBI `validation.py`).
pub const NS_SCALE: Obj = Obj {
    properties: &[
        ("lcmOperationType", Schema::Str),
        ("nsInstanceId", Schema::Id),
        ("scaleType", Schema::Enum(&["SCALE_VNF"])),
        ("timeout_ns_scale", INT1),
        (
            "scaleVnfData",
            Schema::Object(&Obj {
                properties: &[
                    ("vnfInstanceId", Schema::Name),
                    ("scaleVnfType", Schema::Enum(&["SCALE_OUT", "SCALE_IN"])),
                    (
                        "scaleByStepData",
                        Schema::Object(&Obj {
                            properties: &[
                                ("scaling-group-descriptor", Schema::Name),
                                ("member-vnf-index", Schema::Name),
                                ("scaling-policy", Schema::Name),
                            ],
                            required: &["scaling-group-descriptor", "member-vnf-index"],
                            min_properties: 0,
                            additional: false,
                        }),
                    ),
                ],
                required: &["scaleVnfType", "scaleByStepData"],
                min_properties: 0,
                additional: false,
            }),
        ),
        ("scaleTime", Schema::StrAny),
    ],
    required: &["scaleType", "scaleVnfData"],
    min_properties: 0,
    additional: false,
};

/// `ns_update` (NBI `validation.py`): the update types and the data of `CHANGE_VNFPKG`; the other
/// types' data are taken as objects.
pub const NS_UPDATE: Obj = Obj {
    properties: &[
        ("lcmOperationType", Schema::Str),
        ("nsInstanceId", Schema::Id),
        ("timeout_ns_update", INT1),
        (
            "updateType",
            Schema::Enum(&[
                "CHANGE_VNFPKG",
                "REMOVE_VNF",
                "MODIFY_VNF_INFORMATION",
                "OPERATE_VNF",
                "VERTICAL_SCALE",
            ]),
        ),
        ("modifyVnfInfoData", Schema::AnyObject),
        ("removeVnfInstanceId", Schema::Id),
        (
            "changeVnfPackageData",
            Schema::Object(&Obj {
                properties: &[("vnfInstanceId", Schema::Id), ("vnfdId", Schema::Id)],
                required: &["vnfInstanceId", "vnfdId"],
                min_properties: 0,
                additional: true,
            }),
        ),
        ("operateVnfData", Schema::AnyObject),
        ("verticalScaleVnf", Schema::AnyObject),
    ],
    required: &["updateType"],
    min_properties: 0,
    additional: false,
};

impl Schema {
    /// The schema a value must match, as Python prints it in `oneOf` messages; only what the
    /// messages need.
    fn type_name(&self) -> &'static str {
        match self {
            Schema::Str | Schema::Name | Schema::Id | Schema::Pattern(_) | Schema::StrAny => {
                "string"
            }
            Schema::Int { .. } => "integer",
            Schema::Bool => "boolean",
            Schema::Null => "null",
            Schema::AnyObject | Schema::Object(_) => "object",
            Schema::Array { .. } => "array",
            Schema::Enum(_) | Schema::OneOf(_) | Schema::NsDescription => "",
        }
    }
}

/// A compiled pattern per `Pat` (by its text).
fn compiled(p: &Pat) -> &'static Regex {
    static CACHE: LazyLock<std::sync::Mutex<Vec<(&'static str, &'static Regex)>>> =
        LazyLock::new(Default::default);
    let mut cache = CACHE.lock().expect("pattern cache");
    if let Some((_, r)) = cache.iter().find(|(t, _)| *t == p.pattern) {
        return r;
    }
    let r: &'static Regex = Box::leak(Box::new(
        Regex::new(p.pattern).expect("validation.py's patterns compile"),
    ));
    cache.push((p.pattern, r));
    r
}

/// Checks `value` against `schema` and returns the first violation, in schema order (the order
/// jsonschema reports errors of one object in is not defined; tests pin single violations).
pub fn check(schema: &Schema, value: &Value, repr: fn(&Value) -> String) -> Option<Violation> {
    let mut path = Vec::new();
    let mut nbi_from = 0;
    check_at(schema, value, &mut path, &mut nbi_from, repr).map(|message| Violation {
        path,
        message,
        nbi_from,
    })
}

/// Checks `value` against an object schema.
pub fn check_object(
    obj: &'static Obj,
    value: &Value,
    repr: fn(&Value) -> String,
) -> Option<Violation> {
    check(&Schema::Object(obj), value, repr)
}

/// Python's `repr()` of a pattern without double quotes: single-quoted, `\` and `'` escaped.
fn py_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The JSON type of a value, as schemas name it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_int(v: &Value) -> bool {
    v.as_i64().is_some() || v.as_u64().is_some()
}

fn check_at(
    schema: &Schema,
    value: &Value,
    path: &mut Vec<String>,
    nbi_from: &mut usize,
    repr: fn(&Value) -> String,
) -> Option<String> {
    let not_of_type = |t: &str| Some(format!("{} is not of type '{t}'", repr(value)));
    match schema {
        Schema::NsDescription => match value {
            Value::String(s)
                if !s.is_empty()
                    && s.chars().count() <= 255
                    && !s.contains('"')
                    && !s.contains('\'') =>
            {
                None
            }
            Value::Null => Some(
                "None is valid under each of {'type': 'null'}, {'type': ['string', 'null'], 'maxLength': 255, 'pattern': '^[^\\'\"]+$'}"
                    .to_owned(),
            ),
            other => Some(format!(
                "{} is not valid under any of the given schemas",
                repr(other)
            )),
        },
        Schema::StrAny => (!value.is_string())
            .then(|| not_of_type("string"))
            .flatten(),
        Schema::Str | Schema::Name => {
            let Value::String(s) = value else {
                return not_of_type("string");
            };
            let n = s.chars().count();
            if n == 0 {
                Some(format!("{} is too short", repr(value)))
            } else if n > 255 {
                Some(format!("{} is too long", repr(value)))
            } else if matches!(schema, Schema::Name) && s.chars().any(|c| ",;()'\"".contains(c)) {
                Some(format!("{} does not match '^[^,;()\\'\"]+$'", repr(value)))
            } else {
                None
            }
        }
        Schema::Id => {
            let Value::String(s) = value else {
                return not_of_type("string");
            };
            let ok = uuid::Uuid::parse_str(s).is_ok() && s.len() == 36;
            (!ok).then(|| {
                format!(
                    "{} does not match '^[a-fA-F0-9]{{8}}(-[a-fA-F0-9]{{4}}){{3}}-[a-fA-F0-9]{{12}}$'",
                    repr(value)
                )
            })
        }
        Schema::Pattern(p) => {
            let Value::String(s) = value else {
                return not_of_type("string");
            };
            (!compiled(p).is_match(s))
                .then(|| format!("{} does not match {}", repr(value), py_quoted(p.pattern)))
        }
        Schema::Int { min } => {
            if !is_int(value) {
                return not_of_type("integer");
            }
            let below = value.as_i64().is_some_and(|n| n < *min);
            below.then(|| format!("{} is less than the minimum of {min}", repr(value)))
        }
        Schema::Bool => (!value.is_boolean())
            .then(|| not_of_type("boolean"))
            .flatten(),
        Schema::Null => (!value.is_null()).then(|| not_of_type("null")).flatten(),
        Schema::AnyObject => (!value.is_object())
            .then(|| not_of_type("object"))
            .flatten(),
        Schema::Enum(allowed) => {
            let ok = value.as_str().is_some_and(|s| allowed.contains(&s));
            (!ok).then(|| {
                let list: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
                format!("{} is not one of [{}]", repr(value), list.join(", "))
            })
        }
        Schema::OneOf(options) => {
            let matching = options
                .iter()
                .filter(|o| check_at(o, value, &mut Vec::new(), &mut 0, repr).is_none())
                .count();
            match matching {
                1 => None,
                // jsonschema's `best_match` reports the error of the option whose type the value
                // has (else the first option's), with its path relative to this instance.
                0 => {
                    let best = options
                        .iter()
                        .find(|o| o.type_name() == json_type(value))
                        .unwrap_or(&options[0]);
                    *nbi_from = path.len();
                    check_at(best, value, path, &mut 0, repr)
                }
                _ => {
                    let names: Vec<String> = options
                        .iter()
                        .map(|o| format!("{{'type': '{}'}}", o.type_name()))
                        .collect();
                    Some(format!(
                        "{} is valid under each of {}",
                        repr(value),
                        names.join(", ")
                    ))
                }
            }
        }
        Schema::Array { items, min_items } => {
            let Value::Array(list) = value else {
                return not_of_type("array");
            };
            if list.len() < *min_items {
                return Some(format!("{} is too short", repr(value)));
            }
            let items = (*items)?;
            for (i, item) in list.iter().enumerate() {
                path.push(i.to_string());
                if let Some(m) = check_at(items, item, path, nbi_from, repr) {
                    return Some(m);
                }
                path.pop();
            }
            None
        }
        Schema::Object(obj) => {
            let Value::Object(m) = value else {
                return not_of_type("object");
            };
            check_obj(obj, m, value, path, nbi_from, repr)
        }
    }
}

fn check_obj(
    obj: &Obj,
    m: &Map<String, Value>,
    value: &Value,
    path: &mut Vec<String>,
    nbi_from: &mut usize,
    repr: fn(&Value) -> String,
) -> Option<String> {
    if !obj.additional {
        if let Some(k) = m
            .keys()
            .find(|k| !obj.properties.iter().any(|(p, _)| p == k))
        {
            return Some(format!(
                "Additional properties are not allowed ('{k}' was unexpected)"
            ));
        }
    }
    if let Some(r) = obj.required.iter().find(|r| !m.contains_key(**r)) {
        return Some(format!("'{r}' is a required property"));
    }
    if m.len() < obj.min_properties {
        return Some(format!("{} does not have enough properties", repr(value)));
    }
    for (name, schema) in obj.properties {
        if let Some(v) = m.get(*name) {
            path.push((*name).to_owned());
            if let Some(msg) = check_at(schema, v, path, nbi_from, repr) {
                return Some(msg);
            }
            path.pop();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repr(v: &Value) -> String {
        v.to_string()
    }

    fn instantiate(extra: Value) -> Value {
        let mut body = json!({"nsName": "a", "nsdId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "vimAccountId": "3fa85f64-5717-4562-b3fc-2c963f66afa6"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }

    #[test]
    fn a_full_instantiation_config_passes() {
        let body = instantiate(json!({
            "vld": [{"name": "mgmtnet", "vim-network-name": "mgmt",
                     "ip-profile": {"ip-version": "ipv4", "subnet-address": "10.0.0.0/24",
                                    "dhcp-params": {"enabled": true, "count": 10}}}],
            "vnf": [{"member-vnf-index": "vnf1", "vdu": [{"id": "web", "interface": [{"name": "eth0", "ip-address": "10.0.0.5"}]}]}],
            "additionalParamsForVnf": [{"member-vnf-index": "vnf1", "additionalParams": {"a": 1},
                "additionalParamsForVdu": [{"vdu_id": "web", "additionalParams": {"password": "x"}}]}],
            "additionalParamsForNs": {"x": 1}, "ssh_keys": ["ssh-rsa AAA"], "timeout_ns_deploy": 600,
            "k8s-namespace": "team-a", "wimAccountId": false,
        }));
        assert_eq!(check_object(&NS_INSTANTIATE, &body, repr), None);
    }

    #[test]
    fn violations_name_the_path_the_nbi_names() {
        let v = check_object(
            &NS_INSTANTIATE,
            &instantiate(
                json!({"vld": [{"name": "m", "ip-profile": {"subnet-address": "10.0.0.0/33"}}]}),
            ),
            repr,
        )
        .unwrap();
        // As OSM's NBI answered (the bed): the pattern error of the option whose type the value
        // has, with no path ("Format error  ''10.0.0.0/33' does not match ...").
        assert_eq!(v.nbi_path(), "");
        assert_eq!(v.path.join(":"), "vld:0:ip-profile:subnet-address");
        assert!(
            v.message
                .starts_with("\"10.0.0.0/33\" does not match '^((25"),
            "{v:?}"
        );
        let v = check_object(
            &NS_INSTANTIATE,
            &instantiate(json!({"vnf": [{"member-vnf-index": "vnf1"}]})),
            repr,
        )
        .unwrap();
        assert_eq!(v.nbi_path(), "vnf:0");
        assert!(
            v.message.ends_with("does not have enough properties"),
            "{v:?}"
        );
        let v = check_object(
            &NS_INSTANTIATE,
            &instantiate(json!({"timeout_ns_deploy": 0})),
            repr,
        )
        .unwrap();
        assert_eq!(v.message, "0 is less than the minimum of 1");
        let v = check_object(&NS_INSTANTIATE, &instantiate(json!({"vdu": []})), repr).unwrap();
        assert_eq!(
            v.message,
            "Additional properties are not allowed ('vdu' was unexpected)"
        );
        assert!(v.path.is_empty());
    }

    #[test]
    fn the_scale_schema_is_osms() {
        let ok = json!({"scaleType": "SCALE_VNF", "scaleVnfData": {"scaleVnfType": "SCALE_OUT",
            "scaleByStepData": {"scaling-group-descriptor": "web", "member-vnf-index": "vnf1"}}});
        assert_eq!(check_object(&NS_SCALE, &ok, repr), None);
        let mut bad = ok.clone();
        bad["scaleVnfData"]["scaleVnfType"] = json!("SCALE_UP");
        let v = check_object(&NS_SCALE, &bad, repr).unwrap();
        assert_eq!(v.nbi_path(), "scaleVnfData:scaleVnfType");
        assert_eq!(
            v.message,
            "\"SCALE_UP\" is not one of ['SCALE_OUT', 'SCALE_IN']"
        );
    }
}
