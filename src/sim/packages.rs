//! `/osm/vnfpkgm/v1` and `/osm/nsd/v1` (osm-nbi.md §4-6): one-shot onboarding, full re-upload,
//! the YAML merge-patch edit, delete with its in-use checks.

use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::db::{admin_block, new_id, Collection, Db};
use super::http::{not_found, Reply, Request, Status};
use super::pkg::{self, Kind};

pub fn coll_of(kind: Kind) -> Collection {
    match kind {
        Kind::Vnfd => Collection::Vnfds,
        Kind::Nsd => Collection::Nsds,
    }
}

fn id_filter(id: &str, project: &str) -> String {
    format!("{{'_admin.projects_read.cont': ['{project}', 'ANY'], '_id': '{id}'}}")
}

/// POST `*_content` (create) or PUT `.../package_content|nsd_content` (full replace).
pub fn upload(
    db: &mut Db,
    kind: Kind,
    project: &str,
    req: &Request,
    replace: Option<&str>,
    max_uncompressed: u64,
) -> Reply {
    let coll = coll_of(kind);
    if let Some(id) = replace {
        if db.find_by_id(coll, project, id).is_none() {
            return not_found(&id_filter(id, project));
        }
    }
    if let Some(md5) = req.header("content-file-md5") {
        let actual = hex::encode(Md5::digest(&req.body));
        // Exact string comparison with the lowercase hex digest, as the NBI does.
        if md5 != actual {
            return Reply::error(Status::CONFLICT, "Error, MD5 mismatch");
        }
    }
    let up = match pkg::open_upload(kind, &req.content_type(), &req.body, max_uncompressed) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let desc_id = up.descriptor["id"].as_str().unwrap_or_default().to_owned();
    let clash = db.visible(coll, project).any(|r| {
        r["id"] == desc_id.as_str() && Some(r["_id"].as_str().unwrap_or_default()) != replace
    });
    if clash && !req.force() {
        return Reply::error(
            Status::CONFLICT,
            format!(
                "{} with id '{desc_id}' already exists for this project",
                kind.name()
            ),
        );
    }
    if kind == Kind::Nsd {
        if let Err(r) = check_nsd_references(db, project, &up.descriptor) {
            return r;
        }
    }
    if let Some(id) = replace {
        if let Err(r) = check_changes_in_use(db, kind, project, id, &typed(kind, &up.descriptor)) {
            return r;
        }
    }
    let filename = req
        .header("content-filename")
        .unwrap_or("package.tar.gz")
        .to_owned();
    let osm_id = replace.map(str::to_owned).unwrap_or_else(new_id);
    // `_admin.revision` is [new] (osm-nbi.md §4.2): OSM 8 has none.
    let revision = replace
        .and_then(|id| db.find_by_id(coll, project, id))
        .and_then(|r| r.pointer("/_admin/revision").and_then(|v| v.as_u64()))
        .unwrap_or(0)
        + 1;
    let mut record = typed(kind, &up.descriptor);
    let (base, self_link, content_link) = match kind {
        Kind::Vnfd => ("/vnfpkgm/v1/vnf_packages", "vnfd", "packageContent"),
        Kind::Nsd => ("/nsd/v1/ns_descriptors", "nsd_content", "nsd_content"),
    };
    let obj = record.as_object_mut().expect("descriptors are objects");
    obj.insert("_id".into(), json!(osm_id));
    obj.insert(
        "_admin".into(),
        admin_block(
            project,
            json!({
                "userDefinedData": {}, "onboardingState": "ONBOARDED", "operationalState": "ENABLED",
                "usageState": "NOT_IN_USE", "revision": revision,
                // Each revision in its own folder, `<_id>:<revision>` (descriptor_topics.py).
                "storage": {"fs": "mongo", "path": "/app/storage/", "folder": format!("{osm_id}:{revision}"),
                    "pkg-dir": up.pkg_dir, "descriptor": up.descriptor_file, "zipfile": filename},
            }),
        ),
    );
    match kind {
        Kind::Vnfd => {
            obj.insert("onboardingState".into(), json!("ONBOARDED"));
            obj.insert("operationalState".into(), json!("ENABLED"));
            obj.insert("usageState".into(), json!("NOT_IN_USE"));
        }
        Kind::Nsd => {
            obj.insert("nsdOnboardingState".into(), json!("ONBOARDED"));
            obj.insert("nsdOperationalState".into(), json!("ENABLED"));
            obj.insert("nsdUsageState".into(), json!("NOT_IN_USE"));
        }
    }
    obj.insert(
        "_links".into(),
        json!({"self": {"href": format!("{base}/{osm_id}")}, self_link: {"href": format!("{base}/{osm_id}/{self_link}")},
               content_link: {"href": format!("{base}/{osm_id}/{}", if kind == Kind::Vnfd {"package_content"} else {"nsd_content"})}}),
    );
    match replace {
        Some(id) => {
            let slot = db.find_by_id_mut(coll, project, id).expect("checked above");
            *slot = record;
            Reply::empty(Status::NO_CONTENT)
        }
        None => {
            db.coll_mut(coll).push(record);
            let path = match kind {
                Kind::Vnfd => format!("/osm/vnfpkgm/v1/vnf_packages_content/{osm_id}"),
                Kind::Nsd => format!("/osm/nsd/v1/ns_descriptors_content/{osm_id}"),
            };
            Reply::json(Status::CREATED, json!({"id": osm_id})).with_location(path)
        }
    }
}

/// The descriptor as OSM stores it: pyangbind types its leaves, so a virtual link's
/// `mgmt-network` is a boolean even when the YAML says 'true'.
fn typed(kind: Kind, descriptor: &Value) -> Value {
    let mut d = descriptor.clone();
    if kind == Kind::Nsd {
        for vl in d["virtual-link-desc"].as_array_mut().into_iter().flatten() {
            if let Some(Value::String(b)) = vl.get("mgmt-network").cloned() {
                vl["mgmt-network"] = json!(b.eq_ignore_ascii_case("true"));
            }
        }
    }
    d
}

/// `_validate_descriptor_changes` (NBI `osm_nbi/descriptor_topics.py`): a descriptor that running
/// instances use (a VNF record names the VNFD, an NS record the NSD) may change only in what OSM
/// calls modifiable — day-1/2 primitives and, for a VNFD, scaling and healing policies and VDU
/// alarms and monitoring parameters — unless a VNFD's `software-version` changes (a new version
/// of the VNF). OSM compares with DeepDiff: changed values are named (422); a difference of
/// added or removed keys only trips over DeepDiff's missing "values_changed" (400).
fn check_changes_in_use(
    db: &Db,
    kind: Kind,
    project: &str,
    id: &str,
    new: &Value,
) -> Result<(), Reply> {
    let in_use = match kind {
        Kind::Vnfd => db
            .visible(Collection::Vnfrs, project)
            .any(|r| r["vnfd-id"] == id),
        Kind::Nsd => db
            .visible(Collection::Nsrs, project)
            .any(|r| r["nsd-id"] == id),
    };
    let Some(old) = db.find_by_id(coll_of(kind), project, id) else {
        return Ok(());
    };
    if !in_use {
        return Ok(());
    }
    let version = |d: &Value| d.get("software-version").cloned().unwrap_or(json!("1.0"));
    if kind == Kind::Vnfd && version(old) != version(new) {
        return Ok(());
    }
    let (old, new) = (modifiable_removed(kind, old), modifiable_removed(kind, new));
    let mut changed = Vec::new();
    let mut other = false;
    deep_diff(&old, &new, String::new(), &mut changed, &mut other);
    let what = match kind {
        Kind::Vnfd => "vnf",
        Kind::Nsd => "ns",
    };
    if !changed.is_empty() {
        return Err(Reply::error(
            Status::UNPROCESSABLE_ENTITY,
            format!(
                "Error in validating new descriptor: {} cannot be modified, there are disallowed changes in the {what} descriptor.{}",
                changed.join(" , "),
                if kind == Kind::Nsd { " " } else { "" }
            ),
        ));
    }
    if other {
        let label = match kind {
            Kind::Vnfd => "VNF",
            Kind::Nsd => "NS",
        };
        return Err(Reply::error(
            Status::BAD_REQUEST,
            format!("{label} Descriptor could not be processed with error: 'NoneType' object has no attribute 'keys'."),
        ));
    }
    Ok(())
}

/// The descriptor without what `remove_modifiable_items` takes out (and without the record's
/// own fields).
fn modifiable_removed(kind: Kind, d: &Value) -> Value {
    let mut d = d.clone();
    if let Some(m) = d.as_object_mut() {
        for k in [
            "_id",
            "_admin",
            "_links",
            "onboardingState",
            "operationalState",
            "usageState",
            "nsdOnboardingState",
            "nsdOperationalState",
            "nsdUsageState",
        ] {
            m.remove(k);
        }
    }
    for df in d["df"].as_array_mut().into_iter().flatten() {
        if let Some(day12) = df
            .pointer_mut("/lcm-operations-configuration/operate-vnf-op-config/day1-2")
            .and_then(|v| v.as_array_mut())
        {
            for config in day12.iter_mut().filter_map(|c| c.as_object_mut()) {
                for k in [
                    "initial-config-primitive",
                    "config-primitive",
                    "terminate-config-primitive",
                ] {
                    config.remove(k);
                }
            }
        }
        if kind == Kind::Vnfd {
            if let Some(m) = df.as_object_mut() {
                m.remove("scaling-aspect");
                m.remove("healing-aspect");
            }
        }
    }
    if kind == Kind::Vnfd {
        for vdu in d["vdu"].as_array_mut().into_iter().flatten() {
            if let Some(m) = vdu.as_object_mut() {
                m.remove("alarm");
                m.remove("monitoring-parameter");
            }
        }
    }
    d
}

/// DeepDiff's "values_changed" paths (`['a'][0]['b']`); `other`: any other difference (keys added
/// or removed, types changed, list lengths).
fn deep_diff(a: &Value, b: &Value, path: String, changed: &mut Vec<String>, other: &mut bool) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => deep_diff(va, vb, format!("{path}['{k}']"), changed, other),
                    None => *other = true,
                }
            }
            if y.keys().any(|k| !x.contains_key(k)) {
                *other = true;
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                deep_diff(va, vb, format!("{path}[{i}]"), changed, other);
            }
            if x.len() != y.len() {
                *other = true;
            }
        }
        (x, y) if x == y => {}
        (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => changed.push(path),
        _ => *other = true,
    }
}

fn check_nsd_references(db: &Db, project: &str, nsd: &Value) -> Result<(), Reply> {
    for r in nsd
        .get("vnfd-id")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        let r = r.as_str().unwrap_or_default();
        if !db.visible(Collection::Vnfds, project).any(|v| v["id"] == r) {
            return Err(Reply::error(
                Status::CONFLICT,
                format!("Descriptor error at 'vnfd-id'='{r}' references a non existing vnfd"),
            ));
        }
    }
    Ok(())
}

/// PUT `*_content/<_id>` with a YAML/JSON descriptor: RFC 7396 merge-patch of the DB record only.
pub fn edit_descriptor(db: &mut Db, kind: Kind, project: &str, id: &str, req: &Request) -> Reply {
    let coll = coll_of(kind);
    if db.find_by_id(coll, project, id).is_none() {
        return not_found(&id_filter(id, project));
    }
    let ct = req.content_type();
    if ct.contains("gzip") || ct.contains("zip") || ct.contains("binary") {
        return Reply::error(
            Status::BAD_REQUEST,
            "'RequestBody' object has no attribute 'get'",
        );
    }
    let patch = match req.parse_body() {
        Ok(Value::Object(m)) if m.is_empty() => {
            return Reply::error(Status::BAD_REQUEST, "Nothing to update")
        }
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return Reply::error(
                Status::BAD_REQUEST,
                "'RequestBody' object has no attribute 'get'",
            )
        }
        Err(r) => return r,
    };
    let patch = match pkg::strip_envelope(kind, patch.clone()) {
        Ok(p) => p,
        // Without an id the patch still applies to the stored record.
        Err(_) => patch,
    };
    if let Some(new_id) = patch.get("id").and_then(|v| v.as_str()) {
        if db
            .visible(coll, project)
            .any(|r| r["id"] == new_id && r["_id"] != id)
        {
            return Reply::error(
                Status::CONFLICT,
                format!(
                    "{} with id '{new_id}' already exists for this project",
                    kind.name()
                ),
            );
        }
    }
    let record = db.find_by_id_mut(coll, project, id).expect("checked above");
    merge_patch(record, &patch);
    Reply::empty(Status::NO_CONTENT)
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

pub fn delete_package(db: &mut Db, kind: Kind, project: &str, id: &str, force: bool) -> Reply {
    let coll = coll_of(kind);
    let Some(record) = db.find_by_id(coll, project, id).cloned() else {
        return not_found(&id_filter(id, project));
    };
    if !force {
        match kind {
            Kind::Vnfd => {
                if db
                    .visible(Collection::Vnfrs, project)
                    .any(|r| r["vnfd-id"] == id)
                {
                    return Reply::error(
                        Status::CONFLICT,
                        "There is at least one VNF instance using this descriptor",
                    );
                }
                let desc_id = &record["id"];
                if db
                    .visible(Collection::Nsds, project)
                    .any(|n| n["vnfd-id"].as_array().is_some_and(|l| l.contains(desc_id)))
                {
                    return Reply::error(
                        Status::CONFLICT,
                        "There is at least one NS package referencing this descriptor",
                    );
                }
            }
            Kind::Nsd => {
                if db
                    .visible(Collection::Nsrs, project)
                    .any(|r| r["nsd-id"] == id)
                {
                    return Reply::error(
                        Status::CONFLICT,
                        "There is at least one NS instance using this descriptor",
                    );
                }
            }
        }
    }
    db.remove_where(coll, |r| r["_id"] == id);
    Reply::empty(Status::NO_CONTENT)
}
