//! The simulator follows osm-nbi.md. Exercised with a raw HTTP client and hand-built tarballs, so
//! these tests share nothing with the product's client or package builder.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use md5::{Digest, Md5};
use osmops::sim::{Fault, FaultAction, LcmMode, Seed, SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    async fn login(sim: &Simulator, user: &str, pw: &str, project: &str) -> Raw {
        let http = reqwest::Client::new();
        let base = sim.url();
        let r = http
            .post(format!("{base}/admin/v1/tokens"))
            .header("Accept", "application/json")
            .json(&json!({"username": user, "password": pw, "project_id": project}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        Raw {
            http,
            base,
            token: v["id"].as_str().unwrap().to_owned(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/{path}", self.base))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn upload(&self, path: &str, tgz: Vec<u8>, md5: Option<String>) -> (StatusCode, Value) {
        let md5 = md5.unwrap_or_else(|| hex::encode(Md5::digest(&tgz)));
        let r = self
            .req(reqwest::Method::POST, path)
            .header("Content-Type", "application/gzip")
            .header("Content-Filename", "pkg.tar.gz")
            .header("Content-File-MD5", md5)
            .body(tgz)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .req(reqwest::Method::DELETE, path)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }
}

/// A tar.gz with the given (path, content) members; directories end in '/'.
fn tgz(members: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in members {
        let mut h = tar::Header::new_gnu();
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
        } else {
            h.set_size(content.len() as u64);
        }
        h.set_mode(0o644);
        // set_path refuses '..' and absolute paths, so write the raw name for hostile cases.
        let name = h.as_old_mut();
        name.name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, content.as_bytes()).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn vnf_pkg() -> Vec<u8> {
    tgz(&[("knf/", ""), ("knf/vnfd.yaml", VNFD)])
}

fn ns_pkg() -> Vec<u8> {
    tgz(&[("ns/", ""), ("ns/nsd.yaml", NSD)])
}

async fn onboarded(sim: &Simulator) -> (Raw, String) {
    let raw = Raw::login(sim, "admin", "admin", "admin").await;
    assert_eq!(
        raw.upload("vnfpkgm/v1/vnf_packages_content", vnf_pkg(), None)
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, v) = raw
        .upload("nsd/v1/ns_descriptors_content", ns_pkg(), None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (raw, v["id"].as_str().unwrap().to_owned())
}

fn ns_body(sim: &Simulator, nsd: &str, name: &str) -> Value {
    json!({"nsName": name, "nsdId": nsd, "vimAccountId": sim.vim_id("mylocation1").unwrap(),
           "additionalParamsForVnf": [{"member-vnf-index": "openldap", "additionalParamsForKdu": [{"kdu_name": "ldap", "additionalParams": {"replicaCount": "2"}}]}]})
}

#[tokio::test]
async fn errors_are_code_status_detail_and_unknown_routes_are_405() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let (s, v) = raw.get("nslcm/v1/no_such_topic").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(v["status"], 405);
    assert!(v["detail"].as_str().unwrap().contains("no_such_topic"));
    let (s, _) = raw.delete("nslcm/v1/ns_lcm_op_occs").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn content_negotiation_json_yaml() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let url = format!("{}/admin/v1/vim_accounts", sim.url());
    for (accept, starts, ct) in [
        (Some("application/json"), "[", "application/json"),
        (Some("*/*"), "---", "application/yaml"),
        (None, "---", "application/yaml"),
    ] {
        let mut r = raw.http.get(&url).bearer_auth(&raw.token);
        if let Some(a) = accept {
            r = r.header("Accept", a);
        }
        let resp = r.send().await.unwrap();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ct),
            "{accept:?}"
        );
        assert!(resp.text().await.unwrap().starts_with(starts), "{accept:?}");
    }
    // YAML request bodies are accepted (a JSON text sent as application/yaml too).
    let r = raw
        .http
        .post(format!("{}/admin/v1/tokens", sim.url()))
        .header("Content-Type", "application/yaml")
        .header("Accept", "application/json")
        .body("username: admin\npassword: admin\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_rules() {
    let sim = fast_sim().await;
    let http = reqwest::Client::new();
    let login = |body: Value| {
        http.post(format!("{}/admin/v1/tokens", sim.url()))
            .header("Accept", "application/json")
            .json(&body)
            .send()
    };
    let r = login(json!({"username": "admin", "password": "nope"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["detail"],
        "Invalid username/password"
    );
    // As OSM: an unknown project is the database's 404, not a 401.
    let r = login(json!({"username": "admin", "password": "admin", "project_id": "other"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<Value>().await.unwrap()["detail"],
        "database exception Not found entry with filter='{'name': 'other'}'"
    );
    let r = login(json!({"username": "admin", "password": "admin", "project_id": "admin"}))
        .await
        .unwrap();
    assert!(r.headers().contains_key("location"));
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["id"], t["_id"]);
    let expires = t["expires"].as_f64().unwrap() - t["issued_at"].as_f64().unwrap();
    assert!((expires - 3600.0).abs() < 1.0);
    // The project id works as well as its name.
    let r = login(json!({"username": "admin", "password": "admin", "project_id": t["project_id"]}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let url = format!("{}/nslcm/v1/ns_instances_content", sim.url());
    let detail = |r: reqwest::Response| async move {
        r.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let r = http
        .get(&url)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(
        detail(r).await,
        "Needed a token or Authorization http header"
    );
    let r = http
        .get(&url)
        .header("Accept", "application/json")
        .bearer_auth("bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail(r).await,
        "Invalid Token or Authorization HTTP header"
    );
    sim.expire_tokens();
    let r = http
        .get(&url)
        .header("Accept", "application/json")
        .bearer_auth(t["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail(r).await,
        "Expired Token or Authorization HTTP header"
    );
}

#[tokio::test]
async fn relogin_within_two_seconds_is_throttled_by_one_second() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    Raw::login(&sim, "admin", "admin", "admin").await;
    let t = Instant::now();
    Raw::login(&sim, "admin", "admin", "admin").await;
    // A deliberate server-side sleep, not a speed measurement: only the lower bound is checked.
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn projects_never_see_each_others_records() {
    let seed = Seed::from_yaml(
        "projects: [alpha, beta]\nusers:\n- {name: a, password: pa, projects: [alpha]}\n- {name: b, password: pb, projects: [beta]}\nvimAccounts:\n- {name: vim-a, project: alpha}\n- {name: vim-b, project: beta}\n",
    )
    .unwrap();
    let sim = Simulator::start(SimConfig {
        token_throttle: false,
        seed,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let a = Raw::login(&sim, "a", "pa", "alpha").await;
    let b = Raw::login(&sim, "b", "pb", "beta").await;
    assert_eq!(
        a.upload("vnfpkgm/v1/vnf_packages_content", vnf_pkg(), None)
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        a.get("vnfpkgm/v1/vnf_packages")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(b
        .get("vnfpkgm/v1/vnf_packages")
        .await
        .1
        .as_array()
        .unwrap()
        .is_empty());
    let names = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(b.get("admin/v1/vim_accounts").await.1), ["vim-b"]);
    // The same descriptor id in another project is not a duplicate.
    assert_eq!(
        b.upload("vnfpkgm/v1/vnf_packages_content", vnf_pkg(), None)
            .await
            .0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn package_upload_rules() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let up =
        |tgz: Vec<u8>, md5: Option<String>| raw.upload("vnfpkgm/v1/vnf_packages_content", tgz, md5);
    let (s, v) = up(vnf_pkg(), Some("0".repeat(32))).await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (StatusCode::CONFLICT, "Error, MD5 mismatch")
    );
    let (s, _) = up(
        vnf_pkg(),
        Some(hex::encode(Md5::digest(vnf_pkg())).to_uppercase()),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "uppercase hex is a mismatch too");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tgz(&[("vnfd.yaml", VNFD)]),
            "All files must be inside a dir",
        ),
        (
            tgz(&[("./", ""), ("./knf/", ""), ("./knf/vnfd.yaml", VNFD)]),
            "Not found any descriptor file",
        ),
        (
            tgz(&[("knf/", ""), ("knf/a.yaml", VNFD), ("knf/b.yml", VNFD)]),
            "Found more than one descriptor file",
        ),
        (
            tgz(&[("knf/", ""), ("knf/../../etc/x.yaml", VNFD)]),
            "Absolute path or '..' are not allowed",
        ),
        (
            tgz(&[("/knf/vnfd.yaml", VNFD)]),
            "Absolute path or '..' are not allowed",
        ),
        (vnf_pkg()[..40].to_vec(), "Compressed file ended"),
        (
            tgz(&[
                ("knf/", ""),
                ("knf/vnfd.yaml", "vnfd:vnfd-catalog:\n  vnfd: []\n"),
            ]),
            "SOL006",
        ),
    ];
    for (body, expected) in cases {
        let (s, v) = up(body, None).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{expected}: {s}"
        );
        assert!(
            v["detail"].as_str().unwrap().contains(expected),
            "{expected}: {v}"
        );
    }
    assert!(
        sim.vnf_packages().is_empty(),
        "failed uploads leave nothing behind"
    );
    // Deeper YAML files are not descriptors; a good upload answers 201 + Location + {id}.
    let r = raw
        .req(reqwest::Method::POST, "vnfpkgm/v1/vnf_packages_content")
        .header("Content-Type", "application/gzip")
        .header("Content-Filename", "openldap.tar.gz")
        .body(tgz(&[
            ("knf/", ""),
            ("knf/vnfd.yaml", VNFD),
            ("knf/charts/", ""),
            ("knf/charts/values.yaml", "a: 1"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(loc, format!("/osm/vnfpkgm/v1/vnf_packages_content/{id}"));
    let (_, rec) = raw.get(&format!("vnfpkgm/v1/vnf_packages/{id}")).await;
    assert_eq!(rec["id"], "openldap_knf");
    assert_eq!(rec["_admin"]["storage"]["zipfile"], "openldap.tar.gz");
    assert_eq!(rec["_admin"]["onboardingState"], "ONBOARDED");
    assert_eq!(rec["onboardingState"], "ONBOARDED");
    assert!(rec["_links"]["packageContent"]["href"].is_string());
    let (s, v) = up(vnf_pkg(), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        "vnfd with id 'openldap_knf' already exists for this project"
    );
    // Descriptor id addressing is not a thing: only _id.
    assert_eq!(
        raw.get("vnfpkgm/v1/vnf_packages/openldap_knf").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn nsd_needs_its_vnfds_and_packages_in_use_cannot_be_deleted() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let (s, v) = raw
        .upload("nsd/v1/ns_descriptors_content", ns_pkg(), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        "Descriptor error at 'vnfd-id'='openldap_knf' references a non existing vnfd"
    );
    let (_, v) = raw
        .upload("vnfpkgm/v1/vnf_packages_content", vnf_pkg(), None)
        .await;
    let vnfd = v["id"].as_str().unwrap().to_owned();
    let (_, v) = raw
        .upload("nsd/v1/ns_descriptors_content", ns_pkg(), None)
        .await;
    let nsd = v["id"].as_str().unwrap().to_owned();
    let (s, v) = raw
        .delete(&format!("vnfpkgm/v1/vnf_packages_content/{vnfd}"))
        .await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (
            StatusCode::CONFLICT,
            "There is at least one NS package referencing this descriptor"
        )
    );
    let (s, _) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "x"))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = raw
        .delete(&format!("nsd/v1/ns_descriptors_content/{nsd}"))
        .await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (
            StatusCode::CONFLICT,
            // `NsdTopic.check_conflict_on_del` (NBI descriptor_topics.py).
            "There is at least one NS instance using this descriptor"
        )
    );
    let (s, _) = raw
        .delete(&format!("nsd/v1/ns_descriptors_content/{nsd}?FORCE=True"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn ns_create_validation_and_record_shape() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let good = ns_body(&sim, &nsd, "ldap");
    let mut cases = vec![];
    let mut b = good.clone();
    b["nsname"] = json!("typo");
    cases.push((
        b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Additional properties are not allowed ('nsname' was unexpected)",
    ));
    let mut b = good.clone();
    b["nsdId"] = json!("openldap_ns");
    cases.push((
        b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Format error at 'nsdId'",
    ));
    let mut b = good.clone();
    b["nsName"] = json!("a(b)");
    cases.push((
        b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Format error at 'nsName'",
    ));
    let mut b = good.clone();
    b["vimAccountId"] = json!(uuid::Uuid::new_v4().to_string());
    cases.push((b, StatusCode::BAD_REQUEST, "not present for the project"));
    let mut b = good.clone();
    b["nsdId"] = json!(uuid::Uuid::new_v4().to_string());
    cases.push((b, StatusCode::NOT_FOUND, "Not found entry with filter="));
    for (body, status, detail) in cases {
        let (s, v) = raw.post_json("nslcm/v1/ns_instances_content", body).await;
        assert_eq!(s, status, "{detail}: {v}");
        assert!(
            v["detail"].as_str().unwrap().contains(detail),
            "{detail}: {v}"
        );
    }
    assert!(sim.ns_instances().is_empty(), "rolled back");
    let r = raw
        .req(reqwest::Method::POST, "nslcm/v1/ns_instances_content")
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        loc,
        format!(
            "/osm/nslcm/v1/ns_instances_content/{}",
            v["id"].as_str().unwrap()
        )
    );
    assert!(v["nslcmop_id"].is_string());
    // Duplicate names are allowed by the NBI.
    assert_eq!(
        raw.post_json("nslcm/v1/ns_instances_content", good.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    let (_, rec) = raw
        .get(&format!(
            "nslcm/v1/ns_instances/{}",
            v["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rec["nsd"]["id"], "openldap_ns", "the record embeds its NSD");
    assert_eq!(rec["_admin"]["nsState"], "NOT_INSTANTIATED");
    assert!(rec["instantiate_params"]
        .get("additionalParamsForVnf")
        .is_none());
    // OSM's record of the README example, measured on OSM's NBI after instantiation, is 3,321
    // bytes of compact JSON; right after create (before LCM wrote to it) it is smaller.
    let size = serde_json::to_string(&rec).unwrap().len();
    assert!(size > 2000, "realistic record size, got {size} bytes");
    assert!(
        rec["configurationStatus"].is_null(),
        "null until LCM starts"
    );
    assert_eq!(rec["vnffgd"], json!([]));
    assert_eq!(rec["revision"], 1);
    assert!(rec["_admin"].get("deployed").is_none(), "LCM writes it");
    let (_, vnfrs) = raw
        .get(&format!(
            "nslcm/v1/vnf_instances?nsr-id-ref={}",
            v["id"].as_str().unwrap()
        ))
        .await;
    // `json.dumps(additional_params)` (`_format_additional_params` in NBI instance_topics.py):
    // Python's separators, measured on OSM's NBI.
    assert_eq!(
        vnfrs[0]["kdur"][0]["additionalParams"],
        "{\"replicaCount\": \"2\"}"
    );
    let (_, ops) = raw
        .get(&format!(
            "nslcm/v1/ns_lcm_op_occs?nsInstanceId={}",
            v["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ops[0]["lcmOperationType"], "instantiate");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, all) = raw.get("nslcm/v1/ns_lcm_op_occs").await;
    assert_eq!(all[0]["queuePosition"], 0, "the fake LCM set the number 0");
    let (_, none) = raw.get("nslcm/v1/ns_lcm_op_occs?queuePosition=0").await;
    assert!(
        none.as_array().unwrap().is_empty(),
        "string query values never match numbers"
    );
}

#[tokio::test]
async fn knf_needs_a_k8s_cluster_on_the_vim() {
    let seed = Seed::from_yaml("projects: [admin]\nusers: [{name: admin, password: admin, projects: [admin]}]\nvimAccounts: [{name: mylocation1}]\n").unwrap();
    let sim = Simulator::start(SimConfig {
        token_throttle: false,
        seed,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (raw, nsd) = onboarded(&sim).await;
    let (s, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "x"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("No k8scluster with requirements="),
        "{v}"
    );
}

#[tokio::test]
async fn actions_follow_the_nbi_gates() {
    let sim = fast_sim().await;
    sim.set_lcm(LcmMode::None, Duration::ZERO);
    let (raw, nsd) = onboarded(&sim).await;
    let (_, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "x"))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let path = format!("nslcm/v1/ns_instances/{id}/action");
    let upgrade = json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade", "primitive_params": {"a": "1"}});
    let (s, v) = raw.post_json(&path, upgrade.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        format!("ns_instance '{id}' cannot be 'action' because it is not instantiated")
    );
    sim.complete_pending_ops();
    let mut null_params = upgrade.clone();
    null_params["primitive_params"] = Value::Null;
    let (s, _) = raw.post_json(&path, null_params).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "null primitive_params is refused (the Go operator's bug)"
    );
    let (s, _) = raw
        .post_json(
            &path,
            json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive_params": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let mut bad = upgrade.clone();
    bad["member_vnf_index"] = json!("nope");
    assert_eq!(raw.post_json(&path, bad).await.0, StatusCode::BAD_REQUEST);
    let mut bad = upgrade.clone();
    bad["kdu_name"] = json!("nope");
    assert_eq!(raw.post_json(&path, bad).await.0, StatusCode::BAD_REQUEST);
    let r = raw
        .req(reqwest::Method::POST, &path)
        .json(&upgrade)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/osm/nslcm/v1/ns_lcm_op_occs/"));
}

#[tokio::test]
async fn delete_semantics_terminate_then_autoremove() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let (_, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "x"))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    // Never deployed yet? With a 50 ms LCM it is instantiated shortly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        raw.delete(&format!("nslcm/v1/ns_instances/{id}")).await.0,
        StatusCode::CONFLICT,
        "SOL005 delete does not terminate"
    );
    let (s, v) = raw
        .delete(&format!("nslcm/v1/ns_instances_content/{id}"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let op = v["_id"].as_str().unwrap().to_owned();
    // As in OSM: LCM reports the terminate COMPLETED while the NS still exists, NOT_INSTANTIATED;
    // the NBI removes NS and operations only when it reads LCM's "terminated" message.
    let completed = wait_until(|| {
        sim.operations()
            .iter()
            .any(|o| o["_id"] == op.as_str() && o["operationState"] == "COMPLETED")
    })
    .await;
    assert!(completed, "terminate completes");
    let (s, ns) = raw
        .get(&format!("nslcm/v1/ns_instances_content/{id}"))
        .await;
    assert_eq!(s, StatusCode::OK, "still there right after COMPLETED");
    assert_eq!(ns["_admin"]["nsState"], "NOT_INSTANTIATED");
    let gone = wait_until(|| sim.ns_instances().is_empty()).await;
    assert!(gone, "autoremoved a while after the terminate completed");
    assert_eq!(
        raw.get(&format!("nslcm/v1/ns_instances_content/{id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        raw.get(&format!("nslcm/v1/ns_lcm_op_occs/{op}")).await.0,
        StatusCode::NOT_FOUND
    );
    // Not instantiated: immediate 204.
    sim.set_lcm(LcmMode::None, Duration::ZERO);
    let (_, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "y"))
        .await;
    assert_eq!(
        raw.delete(&format!(
            "nslcm/v1/ns_instances_content/{}",
            v["id"].as_str().unwrap()
        ))
        .await
        .0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn fault_injection_and_request_log() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    sim.inject(Fault {
        method: None,
        path_contains: "vim_accounts".into(),
        action: FaultAction::Status(503),
        remaining: 2,
    });
    assert_eq!(
        raw.get("admin/v1/vim_accounts").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        raw.get("admin/v1/vim_accounts").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        raw.get("admin/v1/vim_accounts").await.0,
        StatusCode::OK,
        "only the next N requests"
    );
    sim.inject(Fault {
        method: None,
        path_contains: "k8sclusters".into(),
        action: FaultAction::Drop,
        remaining: 1,
    });
    assert!(
        raw.req(reqwest::Method::GET, "admin/v1/k8sclusters")
            .send()
            .await
            .is_err(),
        "connection dropped"
    );
    sim.inject(Fault {
        method: None,
        path_contains: "k8sclusters".into(),
        action: FaultAction::Latency(Duration::from_millis(300)),
        remaining: 1,
    });
    let t = Instant::now();
    assert_eq!(raw.get("admin/v1/k8sclusters").await.0, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(290));
    let log = sim.log();
    // login, three vim_accounts, the dropped request (status 0), the slow one.
    assert_eq!(log.len(), 6);
    assert_eq!(log[4].status, 0);
    assert!(log.iter().all(|e| e.request_bytes > 0));
    assert!(log[1].response_bytes > 0);
}

/// Polls `check` every 10 ms for up to 5 s.
async fn wait_until(check: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

// ---- What OSM's NBI was measured to do (issue: "a simulator that matches the real NBI") -------

#[tokio::test]
async fn answers_have_exactly_osms_keys_and_content_types() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let (s, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "x"))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    // `outdata = {"id": _id, "nslcmop_id": nslcmop_id, "nsName": nsName}` (NBI `nbi.py`),
    // measured on OSM's NBI.
    assert_eq!(keys, ["id", "nsName", "nslcmop_id"], "create: {v}");
    let id = v["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, v) = raw
        .post_json(
            &format!("nslcm/v1/ns_instances/{id}/action"),
            json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade", "primitive_params": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // `outdata = {"id": _id, "nsName": nsName}` for an NS operation (NBI `nbi.py`).
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "nsName"],
        "action: {v}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, v) = raw
        .delete(&format!("nslcm/v1/ns_instances_content/{id}"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["_id"],
        "delete: {v}"
    );
    // A 204 still says text/html, as cherrypy does.
    let vnfd = sim.vnf_packages()[0]["_id"].as_str().unwrap().to_owned();
    let body = vnf_pkg();
    let r = raw
        .req(
            reqwest::Method::PUT,
            &format!("vnfpkgm/v1/vnf_packages/{vnfd}/package_content"),
        )
        .header("Content-Type", "application/gzip")
        .header("Content-File-MD5", hex::encode(Md5::digest(&body)))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/html;charset=utf-8"
    );
}

#[tokio::test]
async fn every_401_carries_osms_realm() {
    let sim = fast_sim().await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/admin/v1/tokens", sim.url()))
        .header("Accept", "application/json")
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"Needed a token or Authorization http header\""
    );
    let r = http
        .get(format!("{}/nslcm/v1/ns_instances", sim.url()))
        .bearer_auth("not-a-token")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"Needed a token or Authorization http header\""
    );
}

#[tokio::test]
async fn errors_read_as_osms() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let (s, v) = raw
        .post_json("nslcm/v1/ns_instances_content", json!({"nsName": "x"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["detail"],
        "Format error  ''nsdId' is a required property'  while 'validating input parameters'"
    );
    let mut bad = ns_body(&sim, &nsd, "x");
    bad["nsName"] = json!("a;b");
    let (_, v) = raw.post_json("nslcm/v1/ns_instances_content", bad).await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("Format error at 'nsName' "),
        "{v}"
    );
    let (s, v) = raw.get("nslcm/v1/ns_instances_content/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        v["detail"].as_str().unwrap().starts_with(
            "database exception Not found entry with filter='{'_admin.projects_read.cont': ["
        ),
        "{v}"
    );
    let (_, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "y"))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, v) = raw.delete(&format!("nslcm/v1/ns_instances/{id}")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        format!("nsr '{id}' cannot be deleted because it is in 'INSTANTIATED' state. Launch 'terminate' operation first; or force deletion")
    );
    let vnfd = sim.vnf_packages()[0]["_id"].as_str().unwrap().to_owned();
    let (s, v) = raw
        .delete(&format!("vnfpkgm/v1/vnf_packages_content/{vnfd}"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // `check_conflict_on_del` in NBI `osm_nbi/descriptor_topics.py`.
    assert_eq!(
        v["detail"],
        "There is at least one VNF instance using this descriptor"
    );
}

#[tokio::test]
async fn envelope_free_old_information_model_descriptors_are_refused() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let old_vnfd = "id: old_knf\nshort-name: old_knf\nmgmt-interface: {cp: mgmt}\nconnection-point: [{name: mgmt}]\n";
    let (s, v) = raw
        .upload(
            "vnfpkgm/v1/vnf_packages_content",
            tgz(&[("old_knf/", ""), ("old_knf/vnfd.yaml", old_vnfd)]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("pyangbind"), "{v}");
    assert!(sim.vnf_packages().is_empty(), "rolled back");
}

#[tokio::test]
async fn the_reads_of_osms_own_cli_are_served() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    raw.post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "x"))
        .await;
    // `osm vnf-list` reads ip-address (null until LCM sets it) and, in newer OSM, vca-id.
    let (s, v) = raw.get("nslcm/v1/vnf_instances").await;
    assert_eq!(s, StatusCode::OK);
    let vnfr = v[0].as_object().unwrap();
    assert!(
        vnfr.contains_key("ip-address") && vnfr.contains_key("vca-id"),
        "{v}"
    );
    // `osm ns-list --long`, `vim-list --long`, `project-list`, `user-list`, `role-list`.
    for (path, field) in [
        ("admin/v1/projects", "name"),
        ("admin/v1/users", "username"),
        ("admin/v1/roles", "name"),
    ] {
        let (s, v) = raw.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        let first = &v[0];
        assert!(first[field].is_string(), "{path}: {v}");
        let (s, one) = raw
            .get(&format!("{path}/{}", first["_id"].as_str().unwrap()))
            .await;
        assert_eq!(s, StatusCode::OK, "{path}/<id>: {one}");
        assert!(one.get("password").is_none());
    }
    let (s, v) = raw.get("admin/v1/users").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v[0]["project_role_mappings"][0]["project_name"], "admin");
}

#[tokio::test]
async fn an_upgrade_is_refused_before_lcm_picks_the_instantiate_up_and_queued_after() {
    let sim = Simulator::start(SimConfig {
        token_throttle: false,
        lcm_pickup_delay: Duration::from_millis(300),
        lcm_delay: Duration::from_millis(400),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (raw, nsd) = onboarded(&sim).await;
    let (_, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "x"))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    // Right after create: NOT_INSTANTIATED and IDLE, and actions are refused.
    let (_, ns) = raw
        .get(&format!("nslcm/v1/ns_instances_content/{id}"))
        .await;
    assert_eq!(
        (
            ns["nsState"].as_str(),
            ns["_admin"]["nsState"].as_str(),
            ns["currentOperation"].as_str()
        ),
        (
            Some("NOT_INSTANTIATED"),
            Some("NOT_INSTANTIATED"),
            Some("IDLE")
        )
    );
    let upgrade = json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade", "primitive_params": {"replicaCount": "2"}});
    let (s, _) = raw
        .post_json(
            &format!("nslcm/v1/ns_instances/{id}/action"),
            upgrade.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Once LCM has picked the instantiate up it flips _admin.nsState early: accepted and queued.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (_, ns) = raw
        .get(&format!("nslcm/v1/ns_instances_content/{id}"))
        .await;
    assert_eq!(ns["nsState"], "BUILDING");
    assert_eq!(ns["_admin"]["nsState"], "INSTANTIATED");
    let (s, v) = raw
        .post_json(&format!("nslcm/v1/ns_instances/{id}/action"), upgrade)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let action = v["id"].as_str().unwrap().to_owned();
    // The action ends after the instantiate: LCM runs one NS's operations one at a time.
    let mut order = Vec::new();
    for _ in 0..300 {
        for op in sim.operations() {
            let oid = op["_id"].as_str().unwrap().to_owned();
            if op["operationState"] == "COMPLETED" && !order.contains(&oid) {
                order.push(oid);
            }
        }
        if order.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(order.len(), 2);
    assert_eq!(order[1], action, "the queued action completes second");
}

/// An unauthenticated request is answered before its body is read, as the NBI authorizes before
/// `_format_in` reads a body (`default()` in NBI `osm_nbi/nbi.py`): a client that announces
/// 100 MB and sends none of it gets its 401 at once, and the simulator holds nothing of it.
#[tokio::test]
async fn unauthenticated_bodies_are_refused_before_they_are_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    for (path, auth) in [
        ("/osm/vnfpkgm/v1/vnf_packages_content", ""),
        (
            "/osm/vnfpkgm/v1/vnf_packages_content",
            "Authorization: Bearer not-a-token\r\n",
        ),
        ("/osm/nslcm/v1/ns_instances_content", ""),
        // Logins are bounded too: 100 MB of "credentials" are refused without being read.
        ("/osm/admin/v1/tokens", ""),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\n{auth}Content-Length: 100000000\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(&[0u8; 1024]).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer before the body was sent"))
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        let want = if path.ends_with("tokens") {
            "HTTP/1.1 413"
        } else {
            "HTTP/1.1 401"
        };
        assert!(answer.starts_with(want), "{path}: {answer}");
    }
    // The simulator still answers normally.
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    assert_eq!(
        raw.upload("vnfpkgm/v1/vnf_packages_content", vnf_pkg(), None)
            .await
            .0,
        StatusCode::CREATED
    );
}

/// A gzip bomb (a small upload that expands to more than the simulator decompresses) is refused
/// while it is streamed, never held whole. OSM extracts uploads without a bound of its own
/// (`upload_content` in NBI `osm_nbi/descriptor_topics.py`); the bound is the simulator's.
#[tokio::test]
async fn a_gzip_bomb_is_refused_without_being_expanded_in_memory() {
    assert_eq!(osmops::sim::MAX_UNCOMPRESSED_PACKAGE, 512 * 1024 * 1024);
    // The default bound is 512 MiB; a smaller one keeps this test fast in a debug build.
    let sim = Simulator::start(SimConfig {
        max_uncompressed_package: 16 * 1024 * 1024,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    // One tar member of 40 MiB of zeros (compresses to well under 1 MB).
    let size = 40u64 * 1024 * 1024;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut b = tar::Builder::new(&mut gz);
        let mut h = tar::Header::new_gnu();
        h.set_path("knf/zeros.bin").unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, std::io::Read::take(std::io::repeat(0), size))
            .unwrap();
        b.finish().unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
    let (status, body) = raw
        .upload("vnfpkgm/v1/vnf_packages_content", bomb, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("expands beyond 16 MiB"),
        "{body}"
    );
    assert!(sim.vnf_packages().is_empty());
}

// ---- Pinned against OSM's current NBI (master, SOL006-only), measured on its own server --------

/// `validate_helm_chart` (NBI `osm_nbi/descriptor_topics.py`, `valid_helm_chart_re`): a chart
/// version in `helm-chart` is refused with 422; the chart without it, or a URL, is taken.
#[tokio::test]
async fn a_chart_version_in_helm_chart_is_refused_as_current_osm_does() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let with_version = VNFD.replace(
        "helm-chart: stable/openldap",
        "helm-chart: stable/openldap:1.2.7",
    );
    let (s, v) = raw
        .upload(
            "vnfpkgm/v1/vnf_packages_content",
            tgz(&[("knf/", ""), ("knf/vnfd.yaml", &with_version)]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["detail"],
        "helm-chart 'stable/openldap:1.2.7' is not valid"
    );
    for ok in [
        "stable/openldap",
        "https://charts.example/openldap-1.2.7.tgz",
    ] {
        let d = VNFD
            .replace("helm-chart: stable/openldap", &format!("helm-chart: {ok}"))
            .replace("id: openldap_knf", &format!("id: k{}", ok.len()));
        let (s, v) = raw
            .upload(
                "vnfpkgm/v1/vnf_packages_content",
                tgz(&[("knf/", ""), ("knf/vnfd.yaml", &d)]),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{ok}: {v}");
    }
}

/// pyangbind's validation (`pyangbind_validation` in NBI `osm_nbi/descriptor_topics.py`) refuses
/// any key SOL006 does not have, old information model fields included.
#[tokio::test]
async fn keys_outside_sol006_are_refused_by_pyangbind() {
    let sim = fast_sim().await;
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let old = "id: old_knf\nname: old_knf\nvendor: acme\nmgmt-interface:\n  cp: mgmt\nconnection-point:\n- name: mgmt\n";
    let (s, v) = raw
        .upload(
            "vnfpkgm/v1/vnf_packages_content",
            tgz(&[("old_knf/", ""), ("old_knf/vnfd.yaml", old)]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // OSM names the first unknown key in document order (`name` here); the simulator's maps are
    // sorted, so it names the first by name.
    assert!(
        v["detail"].as_str().unwrap().starts_with(
            "Error in pyangbind validation: JSON object contained a key that did not exist ("
        ),
        "{v}"
    );
}

/// `NsLcmOpTopic.new` (NBI `osm_nbi/instance_topics.py`) stores an operation's `primitive_params`
/// and an instantiate's `additionalParamsForVnf` as JSON strings (`json.dumps`), and the create
/// answer names the NS (`nbi.py`). A `kdu_model` in the instantiate request is the KDU's chart
/// in its VNF record (`_create_vnfr_descriptor_from_vnfd`).
#[tokio::test]
async fn operation_params_are_stored_as_json_strings_and_kdu_model_is_the_chart() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let mut body = ns_body(&sim, &nsd, "ldap");
    body["additionalParamsForVnf"][0]["additionalParamsForKdu"][0]["kdu_model"] =
        json!("stable/openldap:1.2.7");
    let (s, v) = raw.post_json("nslcm/v1/ns_instances_content", body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["nsName"], "ldap");
    let id = v["id"].as_str().unwrap().to_owned();
    settle(&sim).await;
    let op = sim.operations().pop().unwrap();
    let stored = op["operationParams"]["additionalParamsForVnf"]
        .as_str()
        .unwrap();
    assert_eq!(
        stored,
        "[{\"additionalParamsForKdu\": [{\"additionalParams\": {\"replicaCount\": \"2\"}, \"kdu_model\": \"stable/openldap:1.2.7\", \"kdu_name\": \"ldap\"}], \"member-vnf-index\": \"openldap\"}]"
    );
    let vnfr = &sim.vnf_instances()[0];
    assert_eq!(vnfr["kdur"][0]["helm-chart"], "stable/openldap:1.2.7");
    let (s, v) = raw
        .post_json(
            &format!("nslcm/v1/ns_instances/{id}/action"),
            json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade",
                   "primitive_params": {"replicaCount": "3", "kdu_model": "stable/openldap:1.2.8"}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["nsName"], "ldap");
    settle(&sim).await;
    let up = last_action_op(&sim);
    assert_eq!(
        up["operationParams"]["primitive_params"],
        "{\"kdu_model\": \"stable/openldap:1.2.8\", \"replicaCount\": \"3\"}"
    );
    // LCM's action leaves an empty error message after a successful upgrade.
    assert_eq!(up["errorMessage"], "");
    // A kdu_model OSM's name_schema refuses.
    let mut bad = ns_body(&sim, &nsd, "bad");
    bad["additionalParamsForVnf"][0]["additionalParamsForKdu"][0]["kdu_model"] = json!("a;b");
    let (s, v) = raw.post_json("nslcm/v1/ns_instances_content", bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("additionalParamsForKdu:0:kdu_model"),
        "{v}"
    );
}

/// `NsrTopic._format_additional_params` (NBI `osm_nbi/instance_topics.py`) turns a KDU param
/// that is a mapping or a list into `"!!yaml " + safe_dump(value)` in the request itself, so the
/// stored instantiate operation carries the string, as OSM's NBI did on the bed:
/// `'replica': '!!yaml replicaCount: 2\n'`. Scalars stay as they are.
#[tokio::test]
async fn nested_kdu_params_are_stored_as_yaml_strings() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let mut body = ns_body(&sim, &nsd, "ldap");
    body["additionalParamsForVnf"][0]["additionalParamsForKdu"][0]["additionalParams"] =
        json!({"replicaCount": "2", "replica": {"replicaCount": 2}, "hosts": ["a", "b"]});
    let (s, v) = raw.post_json("nslcm/v1/ns_instances_content", body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    settle(&sim).await;
    let op = sim.operations().pop().unwrap();
    let vnfs: Value = serde_json::from_str(
        op["operationParams"]["additionalParamsForVnf"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let params = &vnfs[0]["additionalParamsForKdu"][0]["additionalParams"];
    assert_eq!(params["replicaCount"], "2");
    assert_eq!(params["replica"], "!!yaml replicaCount: 2\n");
    assert_eq!(params["hosts"], "!!yaml - a\n- b\n");
}

/// NBI list filters as osm_common's `_format_filter` reads them, as OSM's NBI answered on the
/// bed: `A=x,y` is `$in`, `A.neq=x,y` is `$nin`, and `cont` is membership (`$in`), never a
/// substring: `description.cont=<the start of a description>` found nothing.
#[tokio::test]
async fn list_filters_are_in_nin_and_cont_is_no_substring() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let mut body = ns_body(&sim, &nsd, name);
        body["nsDescription"] = json!(format!("Session {name} [osmops owner=x key=0123]"));
        let (_, v) = raw.post_json("nslcm/v1/ns_instances_content", body).await;
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let (_, v) = raw
        .get(&format!(
            "nslcm/v1/ns_instances_content?name=a,b&_id.neq={},{}",
            ids[0], ids[2]
        ))
        .await;
    assert_eq!(names(&v), ["b"]);
    let (_, v) = raw
        .get("nslcm/v1/ns_instances_content?description.cont=Session")
        .await;
    assert_eq!(names(&v), Vec::<String>::new());
    let (_, v) = raw
        .get("nslcm/v1/ns_instances_content?description.ncont=Session")
        .await;
    assert_eq!(names(&v), ["a", "b", "c"]);
    let (_, v) = raw
        .get(&format!(
            "nslcm/v1/ns_lcm_op_occs?nsInstanceId={},{}",
            ids[0], ids[1]
        ))
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
}

/// CherryPy binds a query parameter `_id` to `default()`'s `_id` argument (NBI `nbi.py`): a
/// list URL with `?_id=X` is the show of X, one object or 404, not a filtered list.
#[tokio::test]
async fn a_query_id_is_a_show_not_a_filter() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let (_, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "ldap"))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, one) = raw
        .get(&format!(
            "nslcm/v1/ns_instances_content?_id={id}&name=other"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["_id"], id.as_str(), "an object: {one}");
    let (s, v) = raw
        .get("nslcm/v1/ns_instances_content?_id=00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _) = raw.get("nslcm/v1/ns_lcm_op_occs?_id=x").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Record shapes and texts of OSM's current NBI, each measured on OSM's own server:
/// tokens (`authconn_internal.py` `authenticate`, `auth.py`), VIM accounts and K8s clusters as the
/// NBI and LCM leave them, NS and VNF records (`_create_nsr_descriptor_from_nsd`,
/// `_create_vnfr_descriptor_from_vnfd` in `instance_topics.py`), what LCM writes into
/// `_admin.deployed.K8s` (`_deploy_kdus` in LCM `osm_lcm/ns.py`), the VNFD's storage folder per
/// revision (`descriptor_topics.py`) and the URL checks of `default()` in `nbi.py`.
#[tokio::test]
async fn records_and_texts_have_the_shape_of_current_osm() {
    let sim = fast_sim().await;
    let http = reqwest::Client::new();
    let login = |body: Value| {
        http.post(format!("{}/admin/v1/tokens", sim.url()))
            .header("Accept", "application/json")
            .json(&body)
            .send()
    };
    let creds = json!({"username": "admin", "password": "admin", "project_id": "admin"});
    let first: Value = login(creds.clone()).await.unwrap().json().await.unwrap();
    let token: Value = login(creds).await.unwrap().json().await.unwrap();
    for k in [
        "admin_show",
        "last_login",
        "login_count",
        "user_show",
        "remote_host",
        "remote_port",
    ] {
        assert!(token.get(k).is_some(), "token POST lacks {k}: {token}");
    }
    assert_eq!(
        token["last_login"], first["issued_at"],
        "the previous token's time"
    );
    let raw = Raw::login(&sim, "admin", "admin", "admin").await;
    let id = token["id"].as_str().unwrap();
    let (_, shown) = raw.get(&format!("admin/v1/tokens/{id}")).await;
    assert!(
        shown.get("remote_host").is_none() && shown.get("remote_port").is_none(),
        "{shown}"
    );
    assert_eq!(shown["login_count"], 0);

    let (_, vims) = raw.get("admin/v1/vim_accounts").await;
    let vim = &vims[0];
    assert_eq!(vim["key"], "registered");
    assert!(
        vim["resources"]["compute"]["ram"].get("total").is_some(),
        "{vim}"
    );
    assert!(vim.get("description").is_none(), "{vim}");
    let (_, k8s) = raw.get("admin/v1/k8sclusters").await;
    assert!(k8s[0]["credentials"].is_object(), "{}", k8s[0]);
    assert_eq!(k8s[0]["schema_version"], "1.11");
    assert!(k8s[0].get("cni").is_none() && k8s[0].get("namespace").is_none());

    let (_, nsd) = onboarded_with(&raw).await;
    let (_, vnfds) = raw.get("vnfpkgm/v1/vnf_packages_content").await;
    let vnfd_id = vnfds[0]["_id"].as_str().unwrap();
    assert_eq!(
        vnfds[0]["_admin"]["storage"]["folder"],
        format!("{vnfd_id}:1")
    );
    let (_, v) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "ldap"))
        .await;
    let ns_id = v["id"].as_str().unwrap().to_owned();
    let (_, rec) = raw
        .get(&format!("nslcm/v1/ns_instances_content/{ns_id}"))
        .await;
    assert!(rec["configurationStatus"].is_null());
    assert_eq!(rec["revision"], 1);
    assert_eq!(rec["vnffgd"], json!([]));
    assert_eq!(rec["vld"][0]["mgmt-network"], true, "pyangbind's boolean");
    assert_eq!(
        rec["vld"][0]["vnfd-connection-point-ref"][0]["vnfd-connection-point-ref"],
        "mgmt-ext"
    );
    settle(&sim).await;
    let (_, rec) = raw
        .get(&format!("nslcm/v1/ns_instances_content/{ns_id}"))
        .await;
    assert_eq!(rec["configurationStatus"], json!([]));
    let k = &rec["_admin"]["deployed"]["K8s"][0];
    let project = sim.vnf_instances()[0]["_admin"]["projects_read"][0].clone();
    assert_eq!(k["namespace"], project, "the project id: {k}");
    assert_eq!(k["kdu-deployment-name"], "");
    assert!(k["k8scluster-uuid"].is_string(), "{k}");
    let instance = k["kdu-instance"].as_str().unwrap();
    assert!(
        instance.starts_with("stable-openldap-") && instance.len() == "stable-openldap-".len() + 10,
        "{instance}"
    );
    let vnfr = &sim.vnf_instances()[0];
    assert_eq!(vnfr["revision"], 1);
    assert_eq!(
        vnfr["k8s-cluster"]["nets"][0]["external-connection-point-ref"],
        "mgmt-ext"
    );
    assert_eq!(vnfr["kdur"][0]["k8s-namespace"], project);

    let http = reqwest::Client::new();
    for (path, detail) in [
        ("foo/v1/bar", "URL main_topic 'foo' not supported"),
        ("nslcm/v2/ns_instances", "URL version 'v2' not supported"),
        (
            "nslcm",
            "URL must contain at least 'main_topic/version/topic'",
        ),
    ] {
        let r = http
            .get(format!("{}/{path}", sim.url()))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["detail"], detail);
    }
    // jsonschema's messages show the value as Python does; operations add no step.
    let (s, v) = raw
        .post_json(
            &format!("nslcm/v1/ns_instances/{ns_id}/action"),
            json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade", "primitive_params": null}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["detail"],
        "Format error at 'primitive_params' 'None is not of type 'object'' "
    );
    let mut short = ns_body(&sim, &nsd, "x3");
    short["additionalParamsForVnf"][0]["additionalParamsForKdu"][0] = json!({"kdu_name": "ldap"});
    let (_, v) = raw.post_json("nslcm/v1/ns_instances_content", short).await;
    assert_eq!(
        v["detail"],
        "Format error at 'additionalParamsForVnf:0:additionalParamsForKdu:0' '{'kdu_name': 'ldap'} does not have enough properties'  while 'validating input parameters'"
    );
}

async fn onboarded_with(raw: &Raw) -> (String, String) {
    let (s, v) = raw
        .upload("vnfpkgm/v1/vnf_packages_content", vnf_pkg(), None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let vnfd = v["id"].as_str().unwrap().to_owned();
    let (s, v) = raw
        .upload("nsd/v1/ns_descriptors_content", ns_pkg(), None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (vnfd, v["id"].as_str().unwrap().to_owned())
}

/// `_validate_descriptor_changes` (NBI `osm_nbi/descriptor_topics.py`): a VNFD that VNF instances
/// use takes only modifiable changes (day-1/2 primitives, policies) unless its `software-version`
/// changes; measured on OSM's NBI: a changed description is 422 naming it, an added key 400.
#[tokio::test]
async fn a_vnfd_in_use_changes_only_with_a_new_software_version() {
    let sim = fast_sim().await;
    let (raw, nsd) = onboarded(&sim).await;
    let (s, _) = raw
        .post_json("nslcm/v1/ns_instances_content", ns_body(&sim, &nsd, "ldap"))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let vnfd = sim.vnf_packages()[0]["_id"].as_str().unwrap().to_owned();
    let put = |text: String| {
        let raw = &raw;
        let vnfd = vnfd.clone();
        async move {
            let body = tgz(&[("knf/", ""), ("knf/vnfd.yaml", &text)]);
            let r = raw
                .req(
                    reqwest::Method::PUT,
                    &format!("vnfpkgm/v1/vnf_packages/{vnfd}/package_content"),
                )
                .header("Content-Type", "application/gzip")
                .header("Content-Filename", "pkg.tar.gz")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) =
        put(VNFD.replace("description: KNF with single KDU", "description: changed")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["detail"],
        "Error in validating new descriptor: ['description'] cannot be modified, there are disallowed changes in the vnf descriptor."
    );
    let (s, v) = put(VNFD.replace(
        "  version: '1.0'\n",
        "  version: '1.0'\n  product-info-name: extra\n",
    ))
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        v["detail"],
        "VNF Descriptor could not be processed with error: 'NoneType' object has no attribute 'keys'."
    );
    let (s, v) = put(VNFD
        .replace("description: KNF with single KDU", "description: changed")
        .replace(
            "  version: '1.0'\n",
            "  version: '1.0'\n  software-version: '2.0'\n",
        ))
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

/// The VM-based example's packages (examples/vm-web), uploaded and onboarded.
async fn vm_onboarded(sim: &Simulator) -> (Raw, String) {
    let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web/osm-pkgs");
    let read = |p: &str| std::fs::read_to_string(ex.join(p)).unwrap();
    let (vnfd, init, nsd) = (
        read("web_vnf/web_vnfd.yaml"),
        read("web_vnf/cloud_init/cloud-config.txt"),
        read("web_ns/web_nsd.yaml"),
    );
    let raw = Raw::login(sim, "admin", "admin", "admin").await;
    let vnf = tgz(&[
        ("web_vnf/", ""),
        ("web_vnf/web_vnfd.yaml", &vnfd),
        ("web_vnf/cloud_init/", ""),
        ("web_vnf/cloud_init/cloud-config.txt", &init),
    ]);
    let (s, v) = raw
        .upload("vnfpkgm/v1/vnf_packages_content", vnf, None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = tgz(&[("web_ns/", ""), ("web_ns/web_nsd.yaml", &nsd)]);
    let (s, v) = raw.upload("nsd/v1/ns_descriptors_content", ns, None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (raw, v["id"].as_str().unwrap().to_owned())
}

/// The VM-based example's NS `web`, created without config and READY: the client and its id.
async fn vm_ns_ready(sim: &Simulator) -> (Raw, String) {
    let (raw, nsd) = vm_onboarded(sim).await;
    let vim = sim.vim_id("mylocation1").unwrap();
    let (s, v) = raw
        .post_json(
            "nslcm/v1/ns_instances_content",
            json!({"nsName": "web", "nsdId": nsd, "vimAccountId": vim}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(wait_until(|| sim.ns_instances()[0]["nsState"] == "READY").await);
    (raw, v["id"].as_str().unwrap().to_owned())
}

/// `ns_instantiate` beyond names and KDU params, and `_check_instantiate_ns_operation` (NBI
/// `osm_nbi/validation.py`, `osm_nbi/instance_topics.py`). Each answer is the one OSM's current
/// NBI gave to the same request on the bed (status and detail, word for word).
#[tokio::test]
async fn instantiation_config_is_checked_as_osms_nbi_checks_it() {
    let sim = fast_sim().await;
    let (raw, nsd) = vm_onboarded(&sim).await;
    let vim = sim.vim_id("mylocation1").unwrap();
    let create = |extra: Value| {
        let mut body = json!({"nsName": "t1", "nsdId": nsd, "vimAccountId": vim});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            json!({"vld": [{"name": "nonet", "vim-network-name": "x"}]}),
            400,
            "Invalid parameter vld:name='nonet' is not present at nsd:vld".to_owned(),
        ),
        (
            json!({"vnf": [{"member-vnf-index": "vnf9", "vimAccountId": vim}]}),
            400,
            "Invalid parameter member_vnf_index='vnf9' is not one of the nsd:constituent-vnfd".to_owned(),
        ),
        (
            json!({"vnf": [{"member-vnf-index": "vnf1", "vimAccountId": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}]}),
            400,
            "Invalid vimAccountId='3fa85f64-5717-4562-b3fc-2c963f66afa6' not present for the project".to_owned(),
        ),
        (
            json!({"vld": [{"name": "mgmtnet", "ip-profile": {"subnet-address": "10.0.0.0/33"}}]}),
            422,
            "Format error  ''10.0.0.0/33' does not match '^((25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\\\\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)/(30|[12]?[0-9])$''  while 'validating input parameters'".to_owned(),
        ),
        (
            json!({"vnf": [{"member-vnf-index": "vnf1"}]}),
            422,
            "Format error at 'vnf:0' '{'member-vnf-index': 'vnf1'} does not have enough properties'  while 'validating input parameters'".to_owned(),
        ),
    ];
    for (extra, status, detail) in cases {
        let (s, v) = raw
            .post_json("nslcm/v1/ns_instances_content", create(extra.clone()))
            .await;
        assert_eq!(s.as_u16(), status, "{extra}: {v}");
        assert_eq!(v["detail"], detail, "{extra}");
    }
    assert!(
        sim.ns_instances().is_empty(),
        "a refused create leaves nothing"
    );
    // Accepted: one VDU record per the first instantiation level, with its day-1 params.
    let (s, v) = raw
        .post_json(
            "nslcm/v1/ns_instances_content",
            create(
                json!({"vld": [{"name": "mgmtnet", "vim-network-name": "mgmt"}],
                "additionalParamsForVnf": [{"member-vnf-index": "vnf1", "additionalParamsForVdu": [
                    {"vdu_id": "webserver", "additionalParams": {"motd": "hi"}}]}]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let vdur = sim.vnf_instances()[0]["vdur"].clone();
    assert_eq!(vdur.as_array().unwrap().len(), 1, "{vdur}");
    assert_eq!(vdur[0]["vdu-id-ref"], "webserver");
    assert_eq!(vdur[0]["count-index"], 0);
    assert_eq!(vdur[0]["additionalParams"]["motd"], "hi");
}

/// `scale` as the NBI checks it (`ns_scale` in `validation.py`, `_check_scale_ns_operation` in
/// `instance_topics.py`; the answers are the bed's, word for word) and as LCM records it
/// (`scale` in LCM `osm_lcm/ns.py`: VDU records per step, `_admin.scaling-group[].nb-scale-op`,
/// and its words when a step would pass the VDU profile's bounds).
#[tokio::test]
async fn scale_is_checked_as_the_nbi_does_and_recorded_as_lcm_does() {
    let sim = fast_sim().await;
    let (raw, id) = vm_ns_ready(&sim).await;
    let path = format!("nslcm/v1/ns_instances/{id}/scale");
    let body = |kind: &str, aspect: &str, member: &str| {
        json!({"scaleType": "SCALE_VNF", "scaleVnfData": {"scaleVnfType": kind,
            "scaleByStepData": {"scaling-group-descriptor": aspect, "member-vnf-index": member}}})
    };
    let refused = [
        (
            body("SCALE_UP", "web-aspect", "vnf1"),
            422,
            "Format error at 'scaleVnfData:scaleVnfType' ''SCALE_UP' is not one of ['SCALE_OUT', 'SCALE_IN']' ",
        ),
        (
            body("SCALE_OUT", "nope", "vnf1"),
            400,
            "Invalid scaleVnfData:scaleByStepData:scaling-group-descriptor 'nope' is not present at vnfd:scaling-aspect",
        ),
        (
            body("SCALE_OUT", "web-aspect", "vnf9"),
            400,
            "Invalid parameter member_vnf_index='vnf9' is not one of the nsd:constituent-vnfd",
        ),
    ];
    for (b, status, detail) in refused {
        let (s, v) = raw.post_json(&path, b.clone()).await;
        assert_eq!(s.as_u16(), status, "{b}: {v}");
        assert_eq!(v["detail"], detail, "{b}");
    }
    let vms = |sim: &Simulator| sim.vnf_instances()[0]["vdur"].as_array().unwrap().len();
    let nb_scale_op = |sim: &Simulator| {
        sim.ns_instances()[0]["_admin"]["scaling-group"][0]["nb-scale-op"].clone()
    };
    let last_op = |sim: &Simulator| sim.operations().pop().unwrap();
    // Two steps out (max-number-of-instances 3), the third refused by LCM; then one in.
    for expected in [2, 3] {
        let (s, v) = raw
            .post_json(&path, body("SCALE_OUT", "web-aspect", "vnf1"))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        assert!(wait_until(|| last_op(&sim)["operationState"] == "COMPLETED").await);
        assert_eq!(vms(&sim), expected);
        assert_eq!(nb_scale_op(&sim), json!(expected - 1));
    }
    let (s, _) = raw
        .post_json(&path, body("SCALE_OUT", "web-aspect", "vnf1"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "the NBI takes it; LCM refuses it");
    assert!(wait_until(|| last_op(&sim)["operationState"] == "FAILED").await);
    assert_eq!(
        last_op(&sim)["errorMessage"],
        "reached the limit of 3 (max-instance-count) scaling-out operations for the scaling-group-descriptor 'web-aspect'"
    );
    assert_eq!(vms(&sim), 3, "a refused step changes nothing");
    assert_eq!(nb_scale_op(&sim), json!(2));
    let (s, _) = raw
        .post_json(&path, body("SCALE_IN", "web-aspect", "vnf1"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(wait_until(|| last_op(&sim)["operationState"] == "COMPLETED").await);
    assert_eq!(vms(&sim), 2);
    assert_eq!(
        last_op(&sim)["operationParams"]["scaleVnfData"]["scaleVnfType"],
        "SCALE_IN"
    );
}

/// `update` with `CHANGE_VNFPKG` as the NBI checks it (`ns_update` in `validation.py`,
/// `_check_update_ns_operation` in `instance_topics.py`; the answers are the bed's, word for
/// word) and as LCM records it (`update` in LCM `osm_lcm/ns.py`: the VNF record's `revision`).
#[tokio::test]
async fn a_vnf_package_update_is_checked_as_the_nbi_does_and_recorded_as_lcm_does() {
    let sim = fast_sim().await;
    let (raw, id) = vm_ns_ready(&sim).await;
    let vnfr = sim.vnf_instances()[0]["_id"].as_str().unwrap().to_owned();
    let vnfd = sim.vnf_instances()[0]["vnfd-id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("nslcm/v1/ns_instances/{id}/update");
    let body = |vnfr: &str, timeout: Option<u64>| {
        let mut b = json!({"updateType": "CHANGE_VNFPKG",
            "changeVnfPackageData": {"vnfInstanceId": vnfr, "vnfdId": vnfd}});
        if let Some(t) = timeout {
            b["timeout_ns_update"] = json!(t);
        }
        b
    };
    let stranger = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let refused = [
        (
            body(&vnfr, Some(100)),
            format!("Error in validating ns-update request: 100 second is not enough to upgrade the VNF instance: {vnfr}"),
        ),
        (
            body(stranger, None),
            format!("Error in validating ns-update request: vnf {stranger} does not belong to NS {id}"),
        ),
    ];
    for (b, detail) in refused {
        let (s, v) = raw.post_json(&path, b.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}: {v}");
        assert_eq!(v["detail"], detail.as_str(), "{b}");
    }
    // A new revision of the package, then the update: the VNF record runs it.
    let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web/osm-pkgs");
    let vnfd_text = std::fs::read_to_string(ex.join("web_vnf/web_vnfd.yaml"))
        .unwrap()
        .replace(
            "version: '1.0'",
            "version: '1.0'\n  software-version: '2.0'",
        );
    let init = std::fs::read_to_string(ex.join("web_vnf/cloud_init/cloud-config.txt")).unwrap();
    let tar = tgz(&[
        ("web_vnf/", ""),
        ("web_vnf/web_vnfd.yaml", &vnfd_text),
        ("web_vnf/cloud_init/", ""),
        ("web_vnf/cloud_init/cloud-config.txt", &init),
    ]);
    let r = raw
        .req(
            reqwest::Method::PUT,
            &format!("vnfpkgm/v1/vnf_packages/{vnfd}/package_content"),
        )
        .header("Content-Type", "application/gzip")
        .header("Content-Filename", "pkg.tar.gz")
        .header("Content-File-MD5", hex::encode(Md5::digest(&tar)))
        .body(tar)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(sim.vnf_instances()[0]["revision"], 1);
    let (s, v) = raw.post_json(&path, body(&vnfr, None)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert!(wait_until(|| sim.operations().pop().unwrap()["operationState"] == "COMPLETED").await);
    assert_eq!(sim.vnf_instances()[0]["revision"], 2);
    assert_eq!(sim.vnf_instances()[0]["_id"], vnfr.as_str(), "in place");
}
