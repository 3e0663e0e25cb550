//! The NBI endpoints OSM Ops uses, typed: request bodies are structs (what `osm-nbi.md` §7 says
//! the NBI's schemas accept), answers are parsed into the records of `records/`.

use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::NbiError;
use super::records::{K8sCluster, NsRecord, OpRecord, PackageRecord, VimAccount, VnfRecord};
use super::transport::{Answer, Call, NbiClient, Payload};
use crate::repo::PackageKind;

/// The body of `POST ns_instances_content` (schema `ns_instantiate`, no extra keys allowed).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsCreate {
    pub ns_name: String,
    /// NSD `_id`.
    pub nsd_id: String,
    /// VIM account `_id`.
    pub vim_account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns_description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_params_for_vnf: Vec<VnfParams>,
    /// The rest of the instantiation parameters (`vld`, `vnf` with VIM account ids,
    /// `additionalParamsForNs`, `ssh_keys`, ...), as the NsInstance's `config` declares them.
    #[serde(flatten)]
    pub config: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VnfParams {
    #[serde(rename = "member-vnf-index")]
    pub member_vnf_index: String,
    #[serde(
        rename = "additionalParamsForKdu",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_params_for_kdu: Vec<KduParams>,
    /// The member's day-1 params (`additionalParams`, `additionalParamsForVdu`, ...).
    #[serde(flatten)]
    pub config: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KduParams {
    pub kdu_name: String,
    #[serde(rename = "additionalParams")]
    pub additional_params: Map<String, Value>,
    /// The chart (and version) to deploy instead of the descriptor's `helm-chart`, e.g.
    /// `stable/openldap:1.2.7` (OSM's `kdu_model`, NBI `validation.py` `ns_instantiate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kdu_model: Option<String>,
}

pub use crate::model::KDU_MODEL_PARAM;

/// The body of a KDU upgrade (`POST ns_instances/<id>/action`). `primitive_params` is always an
/// object: the NBI answers 422 to `null`.
#[derive(Debug, Clone, Serialize)]
pub struct KduUpgrade {
    pub member_vnf_index: String,
    pub kdu_name: String,
    pub primitive: &'static str,
    pub primitive_params: Map<String, Value>,
}

impl KduUpgrade {
    pub fn new(member_vnf_index: &str, kdu_name: &str, params: Map<String, Value>) -> Self {
        KduUpgrade {
            member_vnf_index: member_vnf_index.to_owned(),
            kdu_name: kdu_name.to_owned(),
            primitive: "upgrade",
            primitive_params: params,
        }
    }
}

/// The body of one scale step (`POST ns_instances/<id>/scale`, NBI schema `ns_scale`).
pub fn scale_body(member_vnf_index: &str, aspect: &str, scale_out: bool) -> Value {
    serde_json::json!({
        "scaleType": "SCALE_VNF",
        "scaleVnfData": {
            "scaleVnfType": if scale_out { "SCALE_OUT" } else { "SCALE_IN" },
            "scaleByStepData": {
                "scaling-group-descriptor": aspect,
                "member-vnf-index": member_vnf_index,
            },
        },
    })
}

/// The body of a VNF package update onto a running NS (`POST ns_instances/<id>/update`, NBI
/// schema `ns_update`, `CHANGE_VNFPKG`): the member's VNF record and its VNFD's `_id`.
pub fn change_vnfpkg_body(vnf_instance_id: &str, vnfd_osm_id: &str) -> Value {
    serde_json::json!({
        "updateType": "CHANGE_VNFPKG",
        "changeVnfPackageData": {"vnfInstanceId": vnf_instance_id, "vnfdId": vnfd_osm_id},
    })
}

/// The result of `DELETE ns_instances_content/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsDeletion {
    /// 204: the NS was not instantiated and is gone.
    Deleted,
    /// 202: a terminate operation started; the NS disappears some time after it completes.
    Terminating { op_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedNs {
    pub osm_id: String,
    pub nslcmop_id: Option<String>,
}

fn package_routes(kind: PackageKind) -> (&'static str, &'static str) {
    match kind {
        PackageKind::Vnf => ("vnfpkgm/v1/vnf_packages", "vnfpkgm/v1/vnf_packages_content"),
        PackageKind::Ns => ("nsd/v1/ns_descriptors", "nsd/v1/ns_descriptors_content"),
    }
}

impl NbiClient {
    /// A list endpoint's answer, deserialized straight from the body into typed records.
    async fn list<T: DeserializeOwned>(
        &self,
        route: &'static str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, NbiError> {
        let call = Call::get(route, route.to_owned(), query);
        let answer = self.call(&call).await?;
        answer.decode(&call)
    }

    /// The records of `route` whose `key` is one of `values`: one `key=a,b,…` list per chunk
    /// of [`filter_chunks`].
    async fn list_in<T: DeserializeOwned>(
        &self,
        route: &'static str,
        key: &str,
        values: &[&str],
    ) -> Result<Vec<T>, NbiError> {
        let mut found = Vec::new();
        for chunk in filter_chunks(values) {
            found.extend(self.list(route, &[(key, chunk.as_str())]).await?);
        }
        Ok(found)
    }

    /// `POST ns_instances/<id>/<op>` (`template`: the route with `{id}`, for the metrics);
    /// returns the nslcmop id.
    async fn post_ns_operation(
        &self,
        template: &'static str,
        osm_id: &str,
        body: &impl Serialize,
    ) -> Result<String, NbiError> {
        let call = Call::write(
            Method::POST,
            template,
            template.replace("{id}", osm_id),
            Payload::json(body),
        );
        let answer = self.call(&call).await?;
        created_id(&answer, &call)
    }

    pub async fn list_vim_accounts(&self) -> Result<Vec<VimAccount>, NbiError> {
        self.list("admin/v1/vim_accounts", &[]).await
    }

    pub async fn list_k8sclusters(&self) -> Result<Vec<K8sCluster>, NbiError> {
        self.list("admin/v1/k8sclusters", &[]).await
    }

    /// Lists VNF or NS packages; `query` filters server-side (e.g. `[("id", "openldap_knf")]`).
    pub async fn list_packages(
        &self,
        kind: PackageKind,
        query: &[(&str, &str)],
    ) -> Result<Vec<PackageRecord>, NbiError> {
        self.list(package_routes(kind).0, query).await
    }

    /// One-shot onboarding (`POST *_content`); returns the new record's `_id`.
    pub async fn create_package(
        &self,
        kind: PackageKind,
        bytes: bytes::Bytes,
        filename: &str,
        md5: &str,
    ) -> Result<String, NbiError> {
        let route = package_routes(kind).1;
        let call = Call::write(
            Method::POST,
            route,
            route.to_owned(),
            Payload::Package {
                bytes,
                filename: filename.to_owned(),
                md5: md5.to_owned(),
            },
        );
        let answer = self.call(&call).await?;
        created_id(&answer, &call)
    }

    /// Full re-upload (`PUT vnf_packages/<_id>/package_content` / `ns_descriptors/<_id>/nsd_content`),
    /// what `osm nfpkg-update` does; not the YAML merge-patch route.
    pub async fn replace_package(
        &self,
        kind: PackageKind,
        osm_id: &str,
        bytes: bytes::Bytes,
        filename: &str,
        md5: &str,
    ) -> Result<(), NbiError> {
        let (route, path) = match kind {
            PackageKind::Vnf => (
                "vnfpkgm/v1/vnf_packages/{id}/package_content",
                format!("vnfpkgm/v1/vnf_packages/{osm_id}/package_content"),
            ),
            PackageKind::Ns => (
                "nsd/v1/ns_descriptors/{id}/nsd_content",
                format!("nsd/v1/ns_descriptors/{osm_id}/nsd_content"),
            ),
        };
        let payload = Payload::Package {
            bytes,
            filename: filename.to_owned(),
            md5: md5.to_owned(),
        };
        self.call(&Call::write(Method::PUT, route, path, payload))
            .await
            .map(|_| ())
    }

    pub async fn delete_package(&self, kind: PackageKind, osm_id: &str) -> Result<(), NbiError> {
        let (route, path) = match kind {
            PackageKind::Vnf => (
                "vnfpkgm/v1/vnf_packages_content/{id}",
                format!("vnfpkgm/v1/vnf_packages_content/{osm_id}"),
            ),
            PackageKind::Ns => (
                "nsd/v1/ns_descriptors_content/{id}",
                format!("nsd/v1/ns_descriptors_content/{osm_id}"),
            ),
        };
        self.call(&Call::write(Method::DELETE, route, path, Payload::None))
            .await
            .map(|_| ())
    }

    pub async fn list_ns_instances(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Vec<NsRecord>, NbiError> {
        self.list("nslcm/v1/ns_instances_content", query).await
    }

    /// The NS instances named `names`: one `name=a,b,…` list (OSM's `$in`) per chunk of names.
    /// Costs the records of those names, whatever else OSM holds.
    pub async fn list_ns_instances_named(&self, names: &[&str]) -> Result<Vec<NsRecord>, NbiError> {
        self.list_in("nslcm/v1/ns_instances_content", "name", names)
            .await
    }

    /// The VNF records of the NS instances `ns_ids`: one `nsr-id-ref=a,b,…` list per chunk.
    pub async fn list_vnf_instances_of(&self, ns_ids: &[&str]) -> Result<Vec<VnfRecord>, NbiError> {
        self.list_in("nslcm/v1/vnf_instances", "nsr-id-ref", ns_ids)
            .await
    }

    /// `POST ns_instances/<id>/update`; returns the nslcmop id.
    pub async fn ns_update(&self, osm_id: &str, body: &Value) -> Result<String, NbiError> {
        self.post_ns_operation("nslcm/v1/ns_instances/{id}/update", osm_id, body)
            .await
    }

    /// NS instances with the names of `created` other than those very NS (pairs of name and
    /// OSM id): `name=a,b&_id.neq=x,y` (`$in` and `$nin`; checked on OSM's NBI). Usually empty,
    /// so a duplicate check costs a few hundred bytes where listing the names would download
    /// every record.
    pub async fn list_ns_instances_besides(
        &self,
        created: &[(&str, &str)],
    ) -> Result<Vec<NsRecord>, NbiError> {
        let mut found = Vec::new();
        // Names and ids share one request line: both count against the budget.
        for chunk in budget_chunks(created, |(name, id)| name.len() + id.len() + 2) {
            let names: Vec<&str> = chunk.iter().map(|(n, _)| *n).collect();
            let ids: Vec<&str> = chunk.iter().map(|(_, i)| *i).collect();
            let (names, ids) = (names.join(","), ids.join(","));
            found.extend(
                self.list_ns_instances(&[("name", names.as_str()), ("_id.neq", ids.as_str())])
                    .await?,
            );
        }
        Ok(found)
    }

    /// One record by id; `None` when OSM answers 404.
    async fn get_one<T: DeserializeOwned>(
        &self,
        route: &'static str,
        path: String,
    ) -> Result<Option<T>, NbiError> {
        let call = Call::get(route, path, &[]);
        match self.call(&call).await {
            Ok(a) => a.decode(&call).map(Some),
            Err(e) if e.is_status(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET ns_instances_content/<id>`; `None` once OSM no longer has the NS.
    pub async fn get_ns_instance(&self, osm_id: &str) -> Result<Option<NsRecord>, NbiError> {
        self.get_one(
            "nslcm/v1/ns_instances_content/{id}",
            format!("nslcm/v1/ns_instances_content/{osm_id}"),
        )
        .await
    }

    /// `POST ns_instances_content`: creates and instantiates an NS.
    pub async fn create_ns_instance(&self, body: &impl Serialize) -> Result<CreatedNs, NbiError> {
        let route = "nslcm/v1/ns_instances_content";
        let call = Call::write(Method::POST, route, route.to_owned(), Payload::json(body));
        let answer = self.call(&call).await?;
        let osm_id = created_id(&answer, &call)?;
        let v = answer.json(&call)?;
        Ok(CreatedNs {
            osm_id,
            nslcmop_id: v
                .get("nslcmop_id")
                .and_then(|o| o.as_str())
                .map(str::to_owned),
        })
    }

    /// `DELETE ns_instances_content/<id>`: terminate + autoremove, or immediate deletion.
    pub async fn delete_ns_instance(&self, osm_id: &str) -> Result<NsDeletion, NbiError> {
        let call = Call::write(
            Method::DELETE,
            "nslcm/v1/ns_instances_content/{id}",
            format!("nslcm/v1/ns_instances_content/{osm_id}"),
            Payload::None,
        );
        let answer = self.call(&call).await?;
        if answer.status == StatusCode::ACCEPTED {
            let v = answer.json(&call)?;
            let op_id = v
                .get("_id")
                .or_else(|| v.get("id"))
                .and_then(|i| i.as_str())
                .ok_or_else(|| call.bad_response("202 without the terminate operation id"))?;
            return Ok(NsDeletion::Terminating {
                op_id: op_id.to_owned(),
            });
        }
        Ok(NsDeletion::Deleted)
    }

    /// `POST ns_instances/<id>/action`; returns the nslcmop id.
    pub async fn ns_action(&self, osm_id: &str, body: &impl Serialize) -> Result<String, NbiError> {
        self.post_ns_operation("nslcm/v1/ns_instances/{id}/action", osm_id, body)
            .await
    }

    /// `POST ns_instances/<id>/scale`; returns the nslcmop id.
    pub async fn ns_scale(&self, osm_id: &str, body: &Value) -> Result<String, NbiError> {
        self.post_ns_operation("nslcm/v1/ns_instances/{id}/scale", osm_id, body)
            .await
    }

    pub async fn list_ns_lcm_op_occs(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Vec<OpRecord>, NbiError> {
        self.list("nslcm/v1/ns_lcm_op_occs", query).await
    }

    /// Every operation of the NS instances `ns_ids`: one `nsInstanceId=a,b,…` list per chunk.
    pub async fn list_ns_lcm_op_occs_of(&self, ns_ids: &[&str]) -> Result<Vec<OpRecord>, NbiError> {
        self.list_in("nslcm/v1/ns_lcm_op_occs", "nsInstanceId", ns_ids)
            .await
    }

    /// One operation; `None` when OSM no longer has it (an autoremoved NS takes its ops along).
    pub async fn get_ns_lcm_op_occ(&self, op_id: &str) -> Result<Option<OpRecord>, NbiError> {
        self.get_one(
            "nslcm/v1/ns_lcm_op_occs/{id}",
            format!("nslcm/v1/ns_lcm_op_occs/{op_id}"),
        )
        .await
    }
}

/// The id of a created record: body `id` (201/202), else the last segment of `Location`.
fn created_id(answer: &Answer, call: &Call) -> Result<String, NbiError> {
    let v = answer.json(call)?;
    if let Some(id) = v
        .get("id")
        .or_else(|| v.get("_id"))
        .and_then(|i| i.as_str())
    {
        return Ok(id.to_owned());
    }
    answer
        .headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| call.bad_response("no id in the answer"))
}

/// How long one filter's comma-separated values may grow: request lines stay far below what
/// proxies in front of OSM accept (nginx's default header buffer is 8 KiB).
const FILTER_VALUES_BUDGET: usize = 2048;

/// `items` in order, in as few runs as keep each run's total `cost` within
/// [`FILTER_VALUES_BUDGET`]; an item costing more than the budget is a run of its own.
fn budget_chunks<T>(items: &[T], cost: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let c = cost(item);
        if i > start && used + c > FILTER_VALUES_BUDGET {
            chunks.push(&items[start..i]);
            (start, used) = (i, 0);
        }
        used += c;
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

/// `values` joined by commas (OSM's `$in`), in as few chunks as [`FILTER_VALUES_BUDGET`] allows.
/// Values must not contain commas (NS names cannot; ids are UUIDs).
fn filter_chunks(values: &[&str]) -> Vec<String> {
    // Each value and the comma after it; the last comma is never sent.
    budget_chunks(values, |v| v.len() + 1)
        .into_iter()
        .map(|c| c.join(","))
        .collect()
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn filter_values_are_chunked_within_the_budget_and_keep_every_value() {
        assert!(filter_chunks(&[]).is_empty());
        assert_eq!(filter_chunks(&["a", "b"]), vec!["a,b".to_owned()]);
        let names: Vec<String> = (0..1000).map(|i| format!("knf{i:04}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let chunks = filter_chunks(&refs);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.len() <= FILTER_VALUES_BUDGET));
        let back: Vec<&str> = chunks.iter().flat_map(|c| c.split(',')).collect();
        assert_eq!(back, refs);
        // Pairs of name and id share one budget; an oversize item stands alone.
        let pairs: Vec<(&str, &str)> = refs.iter().map(|n| (*n, "0123456789abcdef")).collect();
        let runs = budget_chunks(&pairs, |(n, i)| n.len() + i.len() + 2);
        assert!(runs.len() > 1);
        assert!(runs.iter().all(
            |r| r.iter().map(|(n, i)| n.len() + i.len() + 2).sum::<usize>() <= FILTER_VALUES_BUDGET
        ));
        assert_eq!(runs.concat(), pairs);
        let huge = "x".repeat(FILTER_VALUES_BUDGET + 1);
        assert_eq!(
            filter_chunks(&[huge.as_str(), "a"]),
            vec![huge.clone(), "a".to_owned()]
        );
    }
}
