//! A Kubernetes API emulator for full-loop controller tests (layer 2 of k8s-test-harness.md): the
//! object semantics the real API server has and kube-runtime/kubectl rely on — global increasing
//! resourceVersion, uid, creationTimestamp, generation bumped only by spec changes, status
//! subresource separation, lists with kind/resourceVersion and selectors, PUT with conflicts,
//! JSON/merge/strategic patches (JSON patch `test` of a missing member against null passes),
//! finalizers and deletionTimestamp, watches resumable from a resourceVersion, discovery and
//! server-side Table printing for kubectl; for custom resources, the structural schema of the
//! real CRDs (tests/common/schema.rs: pruning, `fieldValidation=Strict`, defaults, validation);
//! 404 for kinds it does not serve ([`KubeEmulator::start_with`] leaves kinds out, as a Flux
//! without a CRD would); 410 Expired for watches older than the last [`KubeEmulator::compact`];
//! generation bumped when deletion starts. Not emulated (accepted gaps): OpenAPI, admission,
//! RBAC, pagination, field ownership of server-side apply.

// Handlers return ready HTTP responses as their error values; their size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

#[derive(Clone)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Has a status subresource (and generation semantics), like CRDs with `subresources.status`.
    pub status: bool,
    pub short_names: Vec<&'static str>,
    /// Printer columns (name, type, jsonPath) for Table output.
    pub columns: Vec<(&'static str, &'static str, &'static str)>,
    /// The CRD's openAPIV3Schema, applied on every write.
    pub schema: Option<Value>,
}

impl ResourceDef {
    fn gvr(&self) -> String {
        format!("{}/{}/{}", self.group, self.version, self.plural)
    }
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The resources the OsmSync controller and its tests use.
pub fn default_resources() -> Vec<ResourceDef> {
    let source = |kind, plural, crd: &str| ResourceDef {
        group: "source.toolkit.fluxcd.io",
        version: "v1",
        kind,
        plural,
        namespaced: true,
        status: true,
        short_names: vec![],
        columns: vec![(
            "Ready",
            "string",
            ".status.conditions[?(@.type==\"Ready\")].status",
        )],
        schema: Some(super::schema::crd_schema(crd, "v1")),
    };
    vec![
        ResourceDef {
            group: "osmops.io",
            version: "v1alpha1",
            kind: "OsmSync",
            plural: "osmsyncs",
            namespaced: true,
            status: true,
            short_names: vec!["osms"],
            columns: vec![
                ("Age", "date", ".metadata.creationTimestamp"),
                (
                    "Ready",
                    "string",
                    ".status.conditions[?(@.type==\"Ready\")].status",
                ),
                (
                    "Status",
                    "string",
                    ".status.conditions[?(@.type==\"Ready\")].message",
                ),
                ("Revision", "string", ".status.lastAppliedRevision"),
                ("Suspended", "boolean", ".spec.suspend"),
            ],
            schema: Some(super::schema::crd_schema(
                include_str!("../../crds/osmops.io_osmsyncs.yaml"),
                "v1alpha1",
            )),
        },
        source(
            "GitRepository",
            "gitrepositories",
            include_str!("../fixtures/flux-crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
        ),
        source(
            "OCIRepository",
            "ocirepositories",
            include_str!("../fixtures/flux-crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
        ),
        source(
            "Bucket",
            "buckets",
            include_str!("../fixtures/flux-crds/source.toolkit.fluxcd.io_buckets.yaml"),
        ),
        source(
            "ExternalArtifact",
            "externalartifacts",
            include_str!("../fixtures/flux-crds/source.toolkit.fluxcd.io_externalartifacts.yaml"),
        ),
        ResourceDef {
            group: "",
            version: "v1",
            kind: "Secret",
            plural: "secrets",
            namespaced: true,
            status: false,
            short_names: vec![],
            columns: vec![],
            schema: None,
        },
        ResourceDef {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            plural: "configmaps",
            namespaced: true,
            status: false,
            short_names: vec!["cm"],
            columns: vec![],
            schema: None,
        },
        ResourceDef {
            group: "",
            version: "v1",
            kind: "Event",
            plural: "events",
            namespaced: true,
            status: false,
            short_names: vec!["ev"],
            columns: vec![],
            schema: None,
        },
        ResourceDef {
            group: "coordination.k8s.io",
            version: "v1",
            kind: "Lease",
            plural: "leases",
            namespaced: true,
            status: false,
            short_names: vec![],
            columns: vec![],
            schema: None,
        },
    ]
}

type Key = (String, String, String);

#[derive(Clone, Debug)]
struct WatchEvent {
    rv: u64,
    gvr: String,
    kind: &'static str,
    object: Value,
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<WatchEvent>,
    /// Watches from a resourceVersion below this are expired.
    compacted: u64,
}

struct EmuState {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<WatchEvent>,
    resources: Vec<ResourceDef>,
    requests: Mutex<Vec<String>>,
    /// Path fragments the (emulated) RBAC refuses with 403.
    forbidden: Mutex<Vec<String>>,
}

pub struct KubeEmulator {
    pub url: String,
    state: Arc<EmuState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KubeEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn status_error(code: u16, reason: &str, message: impl Into<String>) -> Response<Body> {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message.into(), "reason": reason, "code": code}),
    )
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).expect("JSON")))
        .expect("response")
}

impl KubeEmulator {
    pub async fn start() -> KubeEmulator {
        Self::start_with(default_resources()).await
    }

    /// An API server serving only `resources` (others answer 404, as kinds whose CRD is not
    /// installed do).
    pub async fn start_with(resources: Vec<ResourceDef>) -> KubeEmulator {
        let (tx, _) = broadcast::channel(4096);
        let state = Arc::new(EmuState {
            inner: Mutex::new(Inner {
                rv: 100,
                objects: BTreeMap::new(),
                log: vec![],
                compacted: 0,
            }),
            tx,
            resources,
            requests: Mutex::new(vec![]),
            forbidden: Mutex::new(vec![]),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        KubeEmulator { url, state, task }
    }

    /// A kube client for this server.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// A kubeconfig file pointing at this server (for kubectl).
    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: {}\ncontexts:\n- name: emu\n  context:\n    cluster: emu\n    user: emu\ncurrent-context: emu\nusers:\n- name: emu\n  user: {{}}\n",
                self.url
            ),
        )
        .unwrap();
        path
    }

    /// Forgets the watch history so far, as etcd compaction does: a watch from an older
    /// resourceVersion then gets 410 Expired.
    pub fn compact(&self) {
        let mut inner = self.state.inner.lock().unwrap();
        inner.compacted = inner.rv;
        inner.log.clear();
    }

    /// Answers 403 Forbidden, as RBAC would, to every request whose path contains `fragment`.
    pub fn forbid(&self, fragment: &str) {
        self.state
            .forbidden
            .lock()
            .unwrap()
            .push(fragment.to_owned());
    }

    /// Method and path of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn get(&self, gvr: &str, ns: &str, name: &str) -> Option<Value> {
        self.state
            .inner
            .lock()
            .unwrap()
            .objects
            .get(&(gvr.to_owned(), ns.to_owned(), name.to_owned()))
            .cloned()
    }
}

struct Target {
    res: ResourceDef,
    ns: Option<String>,
    name: Option<String>,
    status: bool,
    /// `fieldValidation=Strict`: unknown fields are refused, not pruned.
    strict: bool,
}

impl Target {
    /// Prunes, defaults and validates a custom resource about to be stored.
    fn admit(&self, obj: &mut Value) -> Result<(), Response<Body>> {
        let Some(schema) = &self.res.schema else {
            return Ok(());
        };
        let what = format!(
            "{}.{} \"{}\"",
            self.res.kind,
            self.res.group,
            obj.pointer("/metadata/name")
                .and_then(|n| n.as_str())
                .unwrap_or("")
        );
        super::schema::admit(schema, obj, self.strict, &what)
            .map_err(|r| status_error(r.code, r.reason, r.message))
    }
}

fn route(state: &EmuState, path: &str) -> Result<Option<Target>, Response<Body>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Ok(None),
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, status) = match rest {
        [p] => (*p, None, false),
        [p, n] => (*p, Some(n.to_string()), false),
        [p, n, "status"] => (*p, Some(n.to_string()), true),
        _ => return Ok(None),
    };
    let Some(res) = state
        .resources
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
    else {
        return Err(status_error(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({plural})"),
        ));
    };
    Ok(Some(Target {
        res: res.clone(),
        ns,
        name,
        status,
        strict: false,
    }))
}

fn discovery(state: &EmuState, path: &str) -> Option<Value> {
    let resource_list = |gv: &str, rs: Vec<&ResourceDef>| {
        let mut list = vec![];
        for r in rs {
            list.push(json!({"name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced, "kind": r.kind,
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"], "shortNames": r.short_names}));
            if r.status {
                list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
            }
        }
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
    };
    match path.trim_end_matches('/') {
        "/version" => Some(
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"}),
        ),
        "/api" => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        "/apis" => {
            let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
            for r in state.resources.iter().filter(|r| !r.group.is_empty()) {
                groups.insert(r.group, r.version);
            }
            let groups: Vec<Value> = groups
                .iter()
                .map(|(g, v)| {
                    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        "/api/v1" => Some(resource_list(
            "v1",
            state
                .resources
                .iter()
                .filter(|r| r.group.is_empty())
                .collect(),
        )),
        p => {
            let segs: Vec<&str> = p.trim_matches('/').split('/').collect();
            if let ["apis", g, v] = segs.as_slice() {
                let rs: Vec<&ResourceDef> = state
                    .resources
                    .iter()
                    .filter(|r| r.group == *g && r.version == *v)
                    .collect();
                if !rs.is_empty() {
                    return Some(resource_list(&format!("{g}/{v}"), rs));
                }
            }
            None
        }
    }
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn matches_selectors(obj: &Value, q: &BTreeMap<String, String>) -> bool {
    if let Some(fs) = q.get("fieldSelector").filter(|s| !s.is_empty()) {
        for part in fs.split(',') {
            let (k, v) = part
                .split_once('=')
                .map(|(k, v)| (k.trim_end_matches('='), v))
                .unwrap_or((part, ""));
            let actual = match k {
                "metadata.name" => obj.pointer("/metadata/name"),
                "metadata.namespace" => obj.pointer("/metadata/namespace"),
                _ => None,
            };
            if actual.and_then(|a| a.as_str()) != Some(v) {
                return false;
            }
        }
    }
    if let Some(ls) = q.get("labelSelector").filter(|s| !s.is_empty()) {
        for part in ls.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if obj
                .pointer(&format!("/metadata/labels/{}", k.replace('/', "~1")))
                .and_then(|a| a.as_str())
                != Some(v.trim_start_matches('='))
            {
                return false;
            }
        }
    }
    true
}

fn in_scope(obj: &Value, ns: &Option<String>) -> bool {
    ns.as_deref()
        .is_none_or(|n| obj.pointer("/metadata/namespace").and_then(|v| v.as_str()) == Some(n))
}

async fn handle(
    State(state): State<Arc<EmuState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response<Body> {
    state
        .requests
        .lock()
        .unwrap()
        .push(format!("{method} {}", uri));
    if method == Method::GET {
        if let Some(v) = discovery(&state, uri.path()) {
            return json_response(200, &v);
        }
    }
    let forbidden = state
        .forbidden
        .lock()
        .unwrap()
        .iter()
        .any(|f| uri.path().contains(f.as_str()));
    if forbidden {
        return status_error(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: User \"system:serviceaccount:osmops-system:osmops\" cannot {} resource in this namespace",
                uri.path().rsplit('/').nth(1).unwrap_or(""), uri.path().rsplit('/').next().unwrap_or(""), method.as_str().to_lowercase()),
        );
    }
    let q = query_map(&uri);
    let target = match route(&state, uri.path()) {
        Ok(Some(t)) => Target {
            strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
            ..t
        },
        Ok(None) => return status_error(404, "NotFound", format!("unknown path {}", uri.path())),
        Err(r) => return r,
    };
    let accept = headers
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|a| a.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match (&method, &target.name) {
        (&Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(state, target, q).await
        }
        (&Method::GET, None) => list(&state, &target, &q, &accept),
        (&Method::GET, Some(name)) => {
            let inner = state.inner.lock().unwrap();
            match inner.objects.get(&(
                target.res.gvr(),
                target.ns.clone().unwrap_or_default(),
                name.clone(),
            )) {
                Some(o) if accept.contains("as=Table") => {
                    json_response(200, &table(&target.res, std::slice::from_ref(o), inner.rv))
                }
                Some(o) => json_response(200, o),
                None => status_error(
                    404,
                    "NotFound",
                    format!("{} \"{name}\" not found", target.res.plural),
                ),
            }
        }
        (&Method::POST, None) => match parse_body(&body, &content_type) {
            Ok(v) => create(&state, &target, v),
            Err(r) => r,
        },
        (&Method::PUT, Some(name)) => match parse_body(&body, &content_type) {
            Ok(v) => update(&state, &target, name, |_| Ok(v), true),
            Err(r) => r,
        },
        (&Method::PATCH, Some(name)) => patch(&state, &target, name, &body, &content_type),
        (&Method::DELETE, Some(name)) => delete(&state, &target, name),
        _ => status_error(
            405,
            "MethodNotAllowed",
            format!("{method} not supported here"),
        ),
    }
}

fn parse_body(body: &[u8], content_type: &str) -> Result<Value, Response<Body>> {
    let parsed = if content_type.contains("yaml") {
        serde_saphyr::from_slice::<Value>(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| status_error(400, "BadRequest", format!("invalid body: {e}")))
}

fn list(
    state: &EmuState,
    t: &Target,
    q: &BTreeMap<String, String>,
    accept: &str,
) -> Response<Body> {
    let inner = state.inner.lock().unwrap();
    let gvr = t.res.gvr();
    let items: Vec<Value> = inner
        .objects
        .iter()
        .filter(|((g, _, _), o)| *g == gvr && in_scope(o, &t.ns) && matches_selectors(o, q))
        .map(|(_, o)| o.clone())
        .collect();
    if accept.contains("as=Table") {
        return json_response(200, &table(&t.res, &items, inner.rv));
    }
    json_response(
        200,
        &json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(), "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}),
    )
}

fn emit(state: &EmuState, inner: &mut Inner, gvr: &str, kind: &'static str, object: Value) {
    let ev = WatchEvent {
        rv: inner.rv,
        gvr: gvr.to_owned(),
        kind,
        object,
    };
    inner.log.push(ev.clone());
    let _ = state.tx.send(ev);
}

fn create(state: &EmuState, t: &Target, mut obj: Value) -> Response<Body> {
    let mut inner = state.inner.lock().unwrap();
    let ns = t.ns.clone().unwrap_or_default();
    let name = match (
        obj.pointer("/metadata/name").and_then(|n| n.as_str()),
        obj.pointer("/metadata/generateName")
            .and_then(|n| n.as_str()),
    ) {
        (Some(n), _) if !n.is_empty() => n.to_owned(),
        (_, Some(g)) => format!("{g}{}", &uuid::Uuid::new_v4().simple().to_string()[..5]),
        _ => return status_error(422, "Invalid", "metadata.name: Required value"),
    };
    let key = (t.res.gvr(), ns.clone(), name.clone());
    if inner.objects.contains_key(&key) {
        return status_error(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", t.res.plural),
        );
    }
    inner.rv += 1;
    let rv = inner.rv;
    let m = obj["metadata"].as_object_mut().expect("metadata");
    m.insert("name".into(), json!(name));
    if t.res.namespaced {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("creationTimestamp".into(), json!(now()));
    m.insert("resourceVersion".into(), json!(rv.to_string()));
    m.remove("deletionTimestamp");
    if t.res.status {
        m.insert("generation".into(), json!(1));
        // Create ignores .status where a status subresource exists.
        obj.as_object_mut().unwrap().remove("status");
    }
    if let Err(r) = t.admit(&mut obj) {
        inner.rv -= 1;
        return r;
    }
    obj["apiVersion"] = json!(t.res.api_version());
    obj["kind"] = json!(t.res.kind);
    inner.objects.insert(key, obj.clone());
    emit(state, &mut inner, &t.res.gvr(), "ADDED", obj.clone());
    json_response(201, &obj)
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

/// Applies `change` to the stored object with the API server's rules for main and status writes.
fn update(
    state: &EmuState,
    t: &Target,
    name: &str,
    change: impl FnOnce(&Value) -> Result<Value, Response<Body>>,
    is_put: bool,
) -> Response<Body> {
    let mut inner = state.inner.lock().unwrap();
    let key = (
        t.res.gvr(),
        t.ns.clone().unwrap_or_default(),
        name.to_owned(),
    );
    let Some(old) = inner.objects.get(&key).cloned() else {
        return status_error(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", t.res.plural),
        );
    };
    let requested = match change(&old) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(rv) = requested
        .pointer("/metadata/resourceVersion")
        .and_then(|v| v.as_str())
    {
        if rv != old["metadata"]["resourceVersion"].as_str().unwrap_or("") {
            return status_error(409, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", t.res.plural));
        }
    } else if is_put && t.res.plural == "leases" {
        return status_error(
            422,
            "Invalid",
            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
        );
    }
    let mut new = if t.status {
        // /status touches only .status.
        let mut n = old.clone();
        match requested.get("status") {
            Some(s) => n["status"] = s.clone(),
            None => {
                n.as_object_mut().unwrap().remove("status");
            }
        }
        n
    } else {
        let mut n = requested.clone();
        if t.res.status {
            // Main writes never change .status.
            match old.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    n.as_object_mut().unwrap().remove("status");
                }
            }
        }
        for k in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
            "generation",
        ] {
            match old["metadata"].get(k) {
                Some(v) => n["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = n["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        n["apiVersion"] = json!(t.res.api_version());
        n["kind"] = json!(t.res.kind);
        n
    };
    let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
    let finalizers = |v: &Value| {
        v.pointer("/metadata/finalizers")
            .and_then(|f| f.as_array())
            .cloned()
            .unwrap_or_default()
    };
    if deleting
        && finalizers(&new)
            .iter()
            .any(|f| !finalizers(&old).contains(f))
    {
        return status_error(422, "Invalid", "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted");
    }
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    if let Err(r) = t.admit(&mut new) {
        return r;
    }
    if new == old {
        // No-op writes do not bump the resourceVersion (and send no watch event).
        return json_response(200, &old);
    }
    if t.res.status
        && without(&old, &["metadata", "status"]) != without(&new, &["metadata", "status"])
    {
        let g = old
            .pointer("/metadata/generation")
            .and_then(|g| g.as_i64())
            .unwrap_or(0)
            + 1;
        new["metadata"]["generation"] = json!(g);
    }
    inner.rv += 1;
    new["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
    if deleting && finalizers(&new).is_empty() {
        inner.objects.remove(&key);
        emit(state, &mut inner, &t.res.gvr(), "DELETED", new.clone());
        return json_response(200, &new);
    }
    inner.objects.insert(key, new.clone());
    emit(state, &mut inner, &t.res.gvr(), "MODIFIED", new.clone());
    json_response(200, &new)
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn pointer_parts(path: &str) -> Vec<String> {
    path.split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("a JSON patch is an array")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        let parts = pointer_parts(path);
        let (last, parents) = parts.split_last().ok_or("empty path")?;
        let mut parent = &mut *doc;
        for p in parents {
            parent = match parent {
                Value::Object(m) => m.get_mut(p).ok_or(format!("path {path} not found"))?,
                Value::Array(a) => a
                    .get_mut(
                        p.parse::<usize>()
                            .map_err(|_| format!("bad index in {path}"))?,
                    )
                    .ok_or(format!("index out of range in {path}"))?,
                _ => return Err(format!("path {path} not found")),
            };
        }
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match op["op"].as_str() {
            Some("test") => {
                let current = match parent {
                    Value::Object(m) => m.get(last).cloned(),
                    Value::Array(a) => last.parse::<usize>().ok().and_then(|i| a.get(i).cloned()),
                    _ => None,
                };
                // The API server treats a missing member as null for `test` (kube-runtime's finalizer relies on it).
                if current.unwrap_or(Value::Null) != value {
                    return Err(format!("test failed at {path}"));
                }
            }
            Some("add") | Some("replace") => match parent {
                Value::Object(m) => {
                    m.insert(last.clone(), value);
                }
                Value::Array(a) if last == "-" => a.push(value),
                Value::Array(a) => {
                    let i: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
                    if op["op"] == "add" {
                        if i > a.len() {
                            return Err(format!("index out of range in {path}"));
                        }
                        a.insert(i, value);
                    } else {
                        *a.get_mut(i)
                            .ok_or(format!("index out of range in {path}"))? = value;
                    }
                }
                _ => return Err(format!("path {path} not found")),
            },
            Some("remove") => match parent {
                Value::Object(m) => {
                    m.remove(last).ok_or(format!("path {path} not found"))?;
                }
                Value::Array(a) => {
                    let i: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
                    if i >= a.len() {
                        return Err(format!("index out of range in {path}"));
                    }
                    a.remove(i);
                }
                _ => return Err(format!("path {path} not found")),
            },
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

fn patch(
    state: &EmuState,
    t: &Target,
    name: &str,
    body: &[u8],
    content_type: &str,
) -> Response<Body> {
    let patch_doc = match parse_body(body, content_type) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if content_type.contains("apply-patch") {
        // Server-side apply, simplified: create when absent, otherwise merge (no field ownership).
        let exists = state.inner.lock().unwrap().objects.contains_key(&(
            t.res.gvr(),
            t.ns.clone().unwrap_or_default(),
            name.to_owned(),
        ));
        if !exists && !t.status {
            let mut obj = patch_doc;
            obj["metadata"]["name"] = json!(name);
            return create(state, t, obj);
        }
    }
    let is_json_patch = content_type.contains("json-patch");
    update(
        state,
        t,
        name,
        |old| {
            let mut doc = old.clone();
            if is_json_patch {
                json_patch(&mut doc, &patch_doc).map_err(|e| status_error(422, "Invalid", e))?;
            } else {
                let mut p = patch_doc.clone();
                if let Some(m) = p.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                    // A patch without resourceVersion carries no precondition.
                    if !m.contains_key("resourceVersion") {
                        doc["metadata"]
                            .as_object_mut()
                            .unwrap()
                            .remove("resourceVersion");
                    }
                } else {
                    doc["metadata"]
                        .as_object_mut()
                        .unwrap()
                        .remove("resourceVersion");
                }
                merge_patch(&mut doc, &p);
            }
            if is_json_patch {
                doc["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("resourceVersion");
            }
            Ok(doc)
        },
        false,
    )
}

fn delete(state: &EmuState, t: &Target, name: &str) -> Response<Body> {
    let mut inner = state.inner.lock().unwrap();
    let key = (
        t.res.gvr(),
        t.ns.clone().unwrap_or_default(),
        name.to_owned(),
    );
    let Some(mut obj) = inner.objects.get(&key).cloned() else {
        return status_error(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", t.res.plural),
        );
    };
    let has_finalizers = obj
        .pointer("/metadata/finalizers")
        .and_then(|f| f.as_array())
        .is_some_and(|f| !f.is_empty());
    inner.rv += 1;
    obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
    if has_finalizers {
        if obj.pointer("/metadata/deletionTimestamp").is_none() {
            obj["metadata"]["deletionTimestamp"] = json!(now());
            // The API server bumps the generation of a custom resource when its deletion starts.
            if t.res.status {
                let g = obj
                    .pointer("/metadata/generation")
                    .and_then(|g| g.as_i64())
                    .unwrap_or(0);
                obj["metadata"]["generation"] = json!(g + 1);
            }
            inner.objects.insert(key, obj.clone());
            emit(state, &mut inner, &t.res.gvr(), "MODIFIED", obj.clone());
        }
        return json_response(200, &obj);
    }
    inner.objects.remove(&key);
    emit(state, &mut inner, &t.res.gvr(), "DELETED", obj.clone());
    json_response(200, &obj)
}

async fn watch(state: Arc<EmuState>, t: Target, q: BTreeMap<String, String>) -> Response<Body> {
    let mut rx = state.tx.subscribe();
    let gvr = t.res.gvr();
    let from: Option<u64> = q
        .get("resourceVersion")
        .filter(|s| !s.is_empty() && *s != "0")
        .and_then(|s| s.parse().ok());
    let (backlog, mut last) = {
        let inner = state.inner.lock().unwrap();
        if let Some(rv) = from.filter(|rv| *rv < inner.compacted) {
            // As the API server does: a 200 whose only event is an ERROR with a 410 Status.
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {rv} ({})", inner.compacted), "reason": "Expired", "code": 410});
            return Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(format!(
                    "{}\n",
                    json!({"type": "ERROR", "object": status})
                )))
                .expect("response");
        }
        let backlog: Vec<(String, Value)> = match from {
            Some(rv) => inner
                .log
                .iter()
                .filter(|e| {
                    e.rv > rv
                        && e.gvr == gvr
                        && in_scope(&e.object, &t.ns)
                        && matches_selectors(&e.object, &q)
                })
                .map(|e| (e.kind.to_owned(), e.object.clone()))
                .collect(),
            // resourceVersion 0 or empty: synthetic ADDED events for what exists now.
            None => inner
                .objects
                .iter()
                .filter(|((g, _, _), o)| {
                    *g == gvr && in_scope(o, &t.ns) && matches_selectors(o, &q)
                })
                .map(|(_, o)| ("ADDED".to_owned(), o.clone()))
                .collect(),
        };
        (backlog, inner.rv)
    };
    let timeout = Duration::from_secs(
        q.get("timeoutSeconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(290),
    );
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let (tx, out) = futures::channel::mpsc::unbounded::<Result<bytes::Bytes, Infallible>>();
    let kind = t.res.kind;
    let api_version = t.res.api_version();
    tokio::spawn(async move {
        let line = |typ: &str, obj: &Value| {
            bytes::Bytes::from(format!("{}\n", json!({"type": typ, "object": obj})))
        };
        for (typ, obj) in backlog {
            if tx.unbounded_send(Ok(line(&typ, &obj))).is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    let bm = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last.to_string()}});
                    if tx.unbounded_send(Ok(line("BOOKMARK", &bm))).is_err() { return; }
                }
                ev = rx.recv() => match ev {
                    Ok(e) => {
                        if e.rv <= last { continue; }
                        last = e.rv;
                        if e.gvr != gvr || !in_scope(&e.object, &t.ns) || !matches_selectors(&e.object, &q) { continue; }
                        if tx.unbounded_send(Ok(line(e.kind, &e.object))).is_err() { return; }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(_) => return,
                }
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(out.map(|r| r)))
        .expect("response")
}

/// A tiny JSONPath subset: `.a.b`, `.a[?(@.k=="v")].b`.
fn json_path(obj: &Value, path: &str) -> Value {
    // Split on dots outside of [...] filters.
    let mut segs = vec![String::new()];
    let mut depth = 0;
    for c in path.trim_start_matches('.').chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        if c == '.' && depth == 0 {
            segs.push(String::new());
        } else {
            segs.last_mut().expect("one segment").push(c);
        }
    }
    let mut cur = vec![obj.clone()];
    for seg in &segs {
        let (field, filter) = match seg.find("[?(@.") {
            Some(i) => (&seg[..i], Some(&seg[i + 5..seg.len() - 2])),
            None => (seg.as_str(), None),
        };
        cur = cur
            .into_iter()
            .filter_map(|v| v.get(field).cloned())
            .collect();
        if let Some(f) = filter {
            let (k, v) = f.split_once("==").unwrap_or((f, ""));
            let v = v.trim_matches('"');
            cur = cur
                .into_iter()
                .flat_map(|arr| arr.as_array().cloned().unwrap_or_default())
                .filter(|item| item.get(k).and_then(|x| x.as_str()) == Some(v))
                .collect();
        }
    }
    cur.into_iter().next().unwrap_or(Value::Null)
}

fn age(ts: &str) -> String {
    let Ok(t) = ts.parse::<k8s_openapi::jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = k8s_openapi::jiff::Timestamp::now().as_second() - t.as_second();
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

fn table(res: &ResourceDef, items: &[Value], rv: u64) -> Value {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}),
    ];
    for (name, typ, _) in &res.columns {
        cols.push(
            json!({"name": name, "type": typ, "format": "", "description": name, "priority": 0}),
        );
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            for (_, typ, path) in &res.columns {
                let v = json_path(o, path);
                cells.push(match (*typ, &v) {
                    ("date", Value::String(s)) => json!(age(s)),
                    (_, Value::Null) => json!(if *typ == "boolean" { json!(false) } else { json!("") }),
                    _ => v,
                });
            }
            let meta: Map<String, Value> = o["metadata"].as_object().cloned().unwrap_or_default();
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()}, "columnDefinitions": cols, "rows": rows})
}
