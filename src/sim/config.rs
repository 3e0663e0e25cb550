//! What a fresh simulator holds (its seed: users, projects, VIM accounts, K8s clusters) and how it
//! behaves (timings, bounds), and the database a seed becomes.

use super::*;

/// Who and what exists in a fresh simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub vim_accounts: Vec<SeedVim>,
    #[serde(default)]
    pub k8s_clusters: Vec<SeedK8sCluster>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedUser {
    pub name: String,
    pub password: String,
    /// Project names; the first is the user's default project.
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedVim {
    pub name: String,
    /// Project name; defaults to the first project.
    #[serde(default)]
    pub project: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedK8sCluster {
    pub name: String,
    /// Name of the VIM account the cluster is attached to.
    pub vim_account: String,
}

impl Default for Seed {
    /// Ready for the examples: user admin/admin in project admin, VIM `mylocation1` with a K8s cluster.
    fn default() -> Self {
        Seed {
            projects: vec!["admin".into()],
            users: vec![SeedUser {
                name: "admin".into(),
                password: "admin".into(),
                projects: vec!["admin".into()],
            }],
            vim_accounts: vec![SeedVim {
                name: "mylocation1".into(),
                project: None,
            }],
            k8s_clusters: vec![SeedK8sCluster {
                name: "k8s-mylocation1".into(),
                vim_account: "mylocation1".into(),
            }],
        }
    }
}

impl Seed {
    pub fn from_yaml(text: &str) -> Result<Seed, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("invalid simulator seed: {e}"))
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub token_ttl: Duration,
    /// The internal auth backend's 1 s sleep when a user logs in again within 2 s.
    pub token_throttle: bool,
    /// Refuse KNF instantiation without a K8s cluster on the VIM (400), as the NBI does.
    pub check_k8scluster: bool,
    pub lcm_mode: LcmMode,
    /// How long LCM takes to pick a queued operation up (until then a new NS is NOT_INSTANTIATED
    /// and IDLE, and the NBI refuses actions on it with 409).
    pub lcm_pickup_delay: Duration,
    /// How long an operation runs once LCM has picked it up.
    pub lcm_delay: Duration,
    /// How long after LCM reports a terminate (with autoremove) COMPLETED the NBI removes the NS
    /// and its operations: the NBI does it when it reads LCM's "terminated" message from the bus
    /// (measured against OSM: 2.7 s COMPLETED, 6.4 s NS gone).
    pub autoremove_delay: Duration,
    /// Bytes of package content decompressed at most per upload (a gzip bomb is refused
    /// there; OSM itself has no such bound).
    pub max_uncompressed_package: u64,
    pub seed: Seed,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            token_ttl: Duration::from_secs(3600),
            token_throttle: true,
            check_k8scluster: true,
            lcm_mode: LcmMode::Auto,
            lcm_pickup_delay: Duration::from_millis(300),
            lcm_delay: Duration::from_secs(2),
            autoremove_delay: Duration::from_millis(3700),
            max_uncompressed_package: pkg::MAX_UNCOMPRESSED_PACKAGE,
            seed: Seed::default(),
        }
    }
}

pub(super) fn seed_db(seed: &Seed) -> Result<Db, String> {
    let mut db = Db::default();
    for name in &seed.projects {
        db.projects.push(Project {
            id: db::new_id(),
            name: name.clone(),
        });
    }
    let project_id = |db: &Db, name: &str| {
        db.projects
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.id.clone())
    };
    for u in &seed.users {
        let projects = u
            .projects
            .iter()
            .map(|p| {
                project_id(&db, p)
                    .ok_or_else(|| format!("user '{}' names unknown project '{p}'", u.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        db.users.push(User {
            id: db::new_id(),
            name: u.name.clone(),
            password: u.password.clone(),
            projects,
        });
    }
    let t = db::now();
    // What the NBI and LCM leave on a registered VIM or K8s cluster (`_admin.operations` with the
    // completed create, measured on OSM's NBI).
    let admin = |pid: &str| {
        json!({"created": t, "modified": t, "projects_read": [pid], "projects_write": [pid], "operationalState": "ENABLED",
        "operations": [{"lcmOperationType": "create", "operationState": "COMPLETED", "startTime": t, "statusEnteredTime": t,
                        "detailed-status": "Done", "operationParams": Value::Null}],
        "current_operation": Value::Null, "detailed-status": "Done"})
    };
    let usage = || json!({"total": Value::Null, "used": Value::Null});
    for v in &seed.vim_accounts {
        let pname = v
            .project
            .clone()
            .or_else(|| seed.projects.first().cloned())
            .ok_or("a VIM account needs a project")?;
        let pid = project_id(&db, &pname)
            .ok_or_else(|| format!("VIM '{}' names unknown project '{pname}'", v.name))?;
        if db
            .vim_accounts
            .iter()
            .any(|x| x["name"] == v.name.as_str() && db::readable_by(x, &pid))
        {
            return Err(format!("name '{}' already exists for vim_accounts", v.name));
        }
        // No `description` unless one was given at registration.
        db.vim_accounts.push(json!({
            "_id": db::new_id(), "name": v.name, "vim_type": "openstack",
            "vim_url": "http://openstack.example:5000/v3", "vim_user": "osm", "vim_password": "<encrypted>",
            "vim_tenant_name": "osm", "config": {}, "schema_version": "1.11", "key": "registered",
            "resources": {
                "compute": {"ram": usage(), "vcpus": usage(), "instances": usage()},
                "storage": {"volumes": usage(), "snapshots": usage(), "storage": usage()},
                "network": {"networks": usage(), "subnets": usage(), "floating_ips": usage()},
            },
            "_admin": admin(&pid),
        }));
    }
    for k in &seed.k8s_clusters {
        let vim = db
            .vim_accounts
            .iter()
            .find(|v| v["name"] == k.vim_account.as_str())
            .cloned()
            .ok_or_else(|| {
                format!(
                    "k8s cluster '{}' names unknown VIM '{}'",
                    k.name, k.vim_account
                )
            })?;
        let pid = vim["_admin"]["projects_read"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = db::new_id();
        let mut a = admin(&pid);
        a["helm_chart_repos"] = json!([]);
        a["juju_bundle_repos"] = json!([]);
        a["helm-chart-v3"] = json!({"id": id, "created": true, "operationalState": "ENABLED", "error_msg": Value::Null});
        // `credentials` is the kubeconfig, an object (its secrets encrypted by the NBI).
        db.k8sclusters.push(json!({
            "_id": id, "name": k.name, "vim_account": vim["_id"], "k8s_version": "1.29",
            "nets": {"mgmtnet": "mgmt"}, "credentials": {"apiVersion": "v1", "kind": "Config"},
            "schema_version": "1.11", "key": "registered",
            "_admin": a,
        }));
    }
    Ok(db)
}
