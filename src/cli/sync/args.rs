//! The flags of `osmops plan` and `osmops apply`.

use super::*;

/// Bounds on what the repository reader accepts (docs/repository-format.md).
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Largest YAML file read (osm_ops_config.yaml, NsInstance files, descriptors), in bytes.
    #[arg(long, default_value_t = Limits::default().max_yaml_bytes)]
    pub(super) max_yaml_bytes: u64,
    /// Deepest nesting of YAML sequences and mappings.
    #[arg(long, default_value_t = Limits::default().max_yaml_depth)]
    pub(super) max_yaml_depth: usize,
    /// Most alias uses (*name) in one YAML file.
    #[arg(long, default_value_t = Limits::default().max_yaml_aliases)]
    pub(super) max_yaml_aliases: usize,
    /// Most YAML nodes in one file, counting those aliases expand to.
    #[arg(long, default_value_t = Limits::default().max_yaml_nodes)]
    pub(super) max_yaml_nodes: usize,
    /// Largest OSM package (sum of its files' sizes), in bytes.
    #[arg(long, default_value_t = Limits::default().max_package_bytes)]
    pub(super) max_package_bytes: u64,
    /// Most files and folders in one OSM package.
    #[arg(long, default_value_t = Limits::default().max_package_files)]
    pub(super) max_package_files: usize,
    /// Most files and folders looked at while searching NsInstance files.
    #[arg(long, default_value_t = Limits::default().max_scanned_entries)]
    pub(super) max_scanned_entries: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_yaml_bytes: self.max_yaml_bytes,
            max_yaml_depth: self.max_yaml_depth,
            max_yaml_aliases: self.max_yaml_aliases,
            max_yaml_nodes: self.max_yaml_nodes,
            max_package_bytes: self.max_package_bytes,
            max_package_files: self.max_package_files,
            max_scanned_entries: self.max_scanned_entries,
        }
    }
}

/// What to do when an OSM operation fails (nothing, by default).
#[derive(Args, Debug, Clone)]
pub struct RemediationArgs {
    /// After a failed instantiate of an NS this repository created: delete it and create it again,
    /// up to N times.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(super) instantiate_retries: u32,
    /// After a failed KDU upgrade: send it again, up to N times.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(super) upgrade_retries: u32,
    /// When upgrade retries are used up: upgrade back to the params OSM last completed.
    #[arg(long)]
    pub(super) upgrade_rollback: bool,
}

impl RemediationArgs {
    pub(super) fn remediation(&self) -> Remediation {
        Remediation {
            instantiate_retries: self.instantiate_retries,
            upgrade_retries: self.upgrade_retries,
            upgrade_rollback: self.upgrade_rollback,
        }
    }
}

/// Drift handling and progressive rollout (the OsmSync's `driftPolicy` and `rollout`).
#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// What to do with objects OSM changed outside Git since this repository applied them
    /// (known from --state): correct or warn. Default: correct NS instances, warn about packages.
    #[arg(long, value_name = "correct|warn")]
    pub(super) drift_policy: Option<DriftAction>,
    /// NS operations at once, and the batch size after the canary.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) max_parallel: Option<u16>,
    /// NS writes in the first batch, followed to completion and checked healthy before the rest.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(super) canary: u16,
    /// After a failed batch: pause (later batches are not started) or continue.
    #[arg(long, value_name = "pause|continue", default_value = "pause")]
    pub(super) failure_policy: FailurePolicy,
}

impl GateArgs {
    pub(super) fn drift(&self) -> DriftPolicy {
        DriftPolicy::all(self.drift_policy)
    }

    pub(super) fn rollout(&self) -> Rollout {
        Rollout {
            max_parallel: self.max_parallel.map(usize::from),
            canary: self.canary.into(),
            failure_policy: self.failure_policy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Repository directory (with osm_ops_config.yaml, or NsInstance files and osm-pkgs/).
    #[arg(default_value = ".")]
    pub(super) dir: PathBuf,
    #[command(flatten)]
    pub(super) target: TargetArgs,
    /// Delete NS instances and packages this repository owns that are no longer in it.
    #[arg(long)]
    pub(super) prune: bool,
    /// Let prune delete every NS instance this repository owns (refused otherwise: an emptied
    /// repository and a typo in fileExtensions look alike).
    #[arg(long)]
    pub(super) allow_empty: bool,
    /// State file recording what this repository owns in OSM (needed for --prune).
    #[arg(long)]
    pub(super) state: Option<PathBuf>,
    /// Accept a state file written by an earlier osmops, which does not record whose it is.
    #[arg(long, requires = "state")]
    pub(super) adopt_state: bool,
    /// The state file records another URL for this OSM (a proxy, an IP address instead of a
    /// name): check that the OSM at --osm-url holds the objects it records, then record the new
    /// URL.
    #[arg(long, requires = "state")]
    pub(super) rebind_state_url: bool,
    /// Resume a rollout the state file records as paused by a failed batch (for this repository
    /// content): the remaining NS writes are sent.
    #[arg(long, requires = "state")]
    pub(super) resume_rollout: bool,
    /// This repository's identity in OSM (default: its Git remote and path, else its absolute
    /// path). What it creates is marked with it; prune only deletes what carries it (or what it
    /// adopted). Must not be empty.
    #[arg(long, env = "OSMOPS_OWNER", hide_env_values = true)]
    pub(super) owner: Option<String>,
    /// Take over NS instances and packages that Git declares and that exist in OSM without this
    /// repository's mark (made by hand or by another tool): without it they are blocked. Adopted
    /// packages are re-uploaded with this repository's tag; adopted NS instances are recorded in
    /// the state file (OSM cannot re-mark them), and later prunes may delete them. Objects marked
    /// as another repository's are never adopted.
    #[arg(long)]
    pub(super) adopt: bool,
    /// Delete and create again an NS this repository owns when Git changes what OSM cannot
    /// change on a running NS (nsdName, vimAccountName, config). Without it such a change is
    /// blocked, with the reason.
    #[arg(long)]
    pub(super) allow_recreate: bool,
    #[command(flatten)]
    pub(super) remediation: RemediationArgs,
    #[command(flatten)]
    pub(super) gates: GateArgs,
    /// Bound for the whole run: reading OSM, writing and following operations, e.g. 5m
    /// (more than 0, at most 8760h).
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    pub(super) timeout: Duration,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(super) output: OutputFormat,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    #[command(flatten)]
    pub(super) substitution: SubstituteArgs,
}

/// Variables substituted in NsInstance files, as the OsmSync's `substitute` and
/// `substituteFrom` (docs/secrets.md).
#[derive(Args, Debug, Clone, Default)]
pub struct SubstituteArgs {
    /// A variable for `${NAME}` in NsInstance files (not secret: it may be shown). Repeatable;
    /// takes precedence over --substitute-from.
    #[arg(long = "substitute", value_name = "NAME=VALUE")]
    pub(super) vars: Vec<String>,
    /// A file of variables: a Kubernetes Secret manifest (its values are secret: never shown,
    /// only usable in params and config), a ConfigMap manifest, or a plain YAML/JSON map.
    /// Repeatable; later files override earlier ones.
    #[arg(long = "substitute-from", value_name = "FILE")]
    pub(super) from: Vec<PathBuf>,
    /// A variable used without a default and defined nowhere is an error (exit 2, nothing
    /// sent); `--substitute-strict=false`: it becomes empty, as kustomize-controller's default.
    #[arg(long = "substitute-strict", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(super) strict: bool,
}

impl SubstituteArgs {
    /// The variables, sealed with `key`. Errors name the file and key, never a value.
    pub(super) fn substitutions(
        &self,
        key: crate::repo::SealKey,
    ) -> Result<repo::Substitutions, CliError> {
        let mut subs = repo::Substitutions::default();
        if self.vars.is_empty() && self.from.is_empty() {
            return Ok(subs);
        }
        subs = repo::Substitutions::enabled(key);
        subs.strict = self.strict;
        let bad = |m: String| CliError::Input(format!("{m}. Nothing was sent to OSM."));
        for path in &self.from {
            subs.note_source(path.display().to_string());
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("--substitute-from {}: {e}", path.display())))?;
            let (vars, secret) = repo::variables_from_manifest(&text)
                .map_err(|e| bad(format!("--substitute-from {}: {e}", path.display())))?;
            for (k, v) in vars {
                let value = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                    _ => {
                        return Err(bad(format!(
                            "--substitute-from {}: '{k}' is not a string, number or boolean",
                            path.display()
                        )))
                    }
                };
                let var = repo::Variable {
                    value,
                    secret,
                    origin: path.display().to_string(),
                };
                subs.define(&k, var)
                    .map_err(|e| bad(format!("--substitute-from: {e}")))?;
            }
        }
        if !self.vars.is_empty() {
            subs.note_source("--substitute");
        }
        for pair in &self.vars {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(bad(format!("--substitute '{pair}': expected NAME=VALUE")));
            };
            let var = repo::Variable {
                value: v.to_owned(),
                secret: false,
                origin: "--substitute".into(),
            };
            subs.define(k, var)
                .map_err(|e| bad(format!("--substitute: {e}")))?;
        }
        Ok(subs)
    }
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub(super) run: RunArgs,
    /// Save the plan (with its digest) to FILE, for `osmops apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub(super) run: RunArgs,
    /// Apply only the plan saved by `osmops plan --out FILE`: refused, with nothing sent, when
    /// OSM or the repository changed so that the plan computed now differs from it.
    #[arg(long, value_name = "FILE")]
    pub(super) plan: Option<PathBuf>,
    /// Follow started OSM operations until they complete (`--wait=false` to fire and forget).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(super) wait: bool,
    /// NS writes in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) concurrency: u16,
}

/// A run's time bound: a duration of more than zero (a zero timeout could only fail after
/// trying).
fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be more than 0 (e.g. 30s, 5m)".into()),
        d => Ok(d),
    }
}

impl RunArgs {
    pub fn json_output(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

impl PlanArgs {
    pub fn json_output(&self) -> bool {
        self.run.json_output()
    }
}

impl ApplyArgs {
    pub fn json_output(&self) -> bool {
        self.run.json_output()
    }
}
