//! Which OSM the CLI talks to: the one the flags, `OSMOPS_*` variables or `--connection-file` name,
//! or — only when no OSM setting at all is given — the embedded NBI simulator, announced on stderr
//! in every output format. A half-given target (credentials without a URL, say) is an error, never
//! a silent fallback to the simulator.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::osm::{redact_url, ClientOptions, Credentials, NbiClient, Secret};

/// The embedded simulator kept alive by a target; a build without the `simulator` feature has
/// none (the controller image does not need it).
#[cfg(feature = "simulator")]
type EmbeddedSimulator = crate::sim::Simulator;
#[cfg(not(feature = "simulator"))]
type EmbeddedSimulator = std::convert::Infallible;

/// Where OSM is and how to log in. Every value may come from an `OSMOPS_*` variable; clap never
/// shows their values (`--help` included).
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// OSM NBI base URL, e.g. https://osm.example.com:9999/osm. Without any OSM setting an
    /// embedded NBI simulator is used.
    #[arg(long, env = "OSMOPS_URL", hide_env_values = true)]
    pub osm_url: Option<String>,
    #[arg(long, env = "OSMOPS_USER", hide_env_values = true)]
    pub user: Option<String>,
    #[arg(long, env = "OSMOPS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    #[arg(long, env = "OSMOPS_PROJECT", hide_env_values = true)]
    pub project: Option<String>,
    /// Credentials file in the original OSM Ops format (hostname, project, user, password).
    #[arg(long, env = "OSMOPS_CONNECTION_FILE", hide_env_values = true)]
    pub connection_file: Option<PathBuf>,
    /// Extra CA certificate(s) (PEM) to trust for the NBI's TLS certificate.
    #[arg(long, env = "OSMOPS_CA_FILE", hide_env_values = true)]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the NBI's TLS certificate (explicit, logged opt-out).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// The variables the CLI reads; any other `OSMOPS_*` variable is probably a typo.
const KNOWN_VARIABLES: [&str; 10] = [
    "OSMOPS_URL",
    "OSMOPS_USER",
    "OSMOPS_PASSWORD",
    "OSMOPS_PROJECT",
    "OSMOPS_CONNECTION_FILE",
    "OSMOPS_CA_FILE",
    "OSMOPS_LOG",
    "OSMOPS_GRPC",
    "OSMOPS_GRPC_CA",
    "OSMOPS_OWNER",
];

/// Warns about `OSMOPS_*` variables the CLI does not read (`OSMOPS_OSM_URL` for `OSMOPS_URL`).
pub fn warn_unknown_variables() {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("OSMOPS_")
            && !KNOWN_VARIABLES.contains(&name.as_ref())
            && !name.starts_with("OSMOPS_GRPC_")
            && !name.starts_with("OSMOPS_TEST_")
        {
            eprintln!("warning: environment variable {name} is not one osmops reads (known: {}); it is ignored", KNOWN_VARIABLES.join(", "));
        }
    }
}

/// The original `nbi-connection.yaml`: `hostname: host:port`, `project`, `user`, `password`
/// (plus `url`, which OSM Ops also accepts).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionFile {
    hostname: Option<String>,
    url: Option<String>,
    project: Option<String>,
    user: Option<String>,
    password: Option<String>,
}

/// The OSM a run talks to; the embedded simulator is kept alive alongside.
pub struct Target {
    pub client: NbiClient,
    /// What outputs call the target: the URL without user-info, or `embedded-simulator`.
    pub shown: String,
    pub project: String,
    /// The key values from Secrets are sealed with (derived from the OSM password).
    pub seal_key: crate::repo::SealKey,
    /// The embedded simulator, kept running as long as the target is used.
    pub _simulator: Option<EmbeddedSimulator>,
}

#[cfg(feature = "simulator")]
pub const EMBEDDED: &str = "embedded-simulator";

impl TargetArgs {
    fn any_setting(&self) -> Vec<&'static str> {
        [
            ("--osm-url/OSMOPS_URL", self.osm_url.is_some()),
            ("--user/OSMOPS_USER", self.user.is_some()),
            ("--password/OSMOPS_PASSWORD", self.password.is_some()),
            ("--project/OSMOPS_PROJECT", self.project.is_some()),
            (
                "--connection-file/OSMOPS_CONNECTION_FILE",
                self.connection_file.is_some(),
            ),
            ("--ca-file/OSMOPS_CA_FILE", self.ca_file.is_some()),
            ("--insecure-skip-tls-verify", self.insecure_skip_tls_verify),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| name)
        .collect()
    }

    /// The OSM this run talks to.
    pub async fn connect(&self) -> Result<Target, CliError> {
        let given = self.any_setting();
        if given.is_empty() {
            return embedded().await;
        }
        let mut url = self.osm_url.clone();
        let mut user = self.user.clone();
        let mut password = self.password.clone();
        let mut project = self.project.clone();
        if let Some(path) = &self.connection_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Input(format!(
                    "cannot read connection file {}: {e}",
                    path.display()
                ))
            })?;
            let f: ConnectionFile = serde_saphyr::from_str(&text).map_err(|e| {
                CliError::Input(format!(
                    "invalid connection file {}: {}",
                    path.display(),
                    e.to_string().replace('\n', " ")
                ))
            })?;
            if url.is_none() {
                url = f.url.or_else(|| {
                    f.hostname.map(|h| {
                        // The original operator spoke plain HTTP to host:port (behind an nginx front).
                        eprintln!("warning: connection file gives only 'hostname': using plain http://{h}/osm like the original OSM Ops; set 'url' for https");
                        format!("http://{h}/osm")
                    })
                });
            }
            user = user.or(f.user);
            password = password.or(f.password);
            project = project.or(f.project);
        }
        let missing: Vec<&str> = [
            (
                "an OSM URL (--osm-url, OSMOPS_URL, or 'url'/'hostname' in the connection file)",
                url.is_none(),
            ),
            ("--user", user.is_none()),
            ("--password", password.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect();
        if !missing.is_empty() {
            return Err(CliError::Input(format!(
                "OSM settings are given ({}) but the target is incomplete: missing {}. The embedded simulator is used only when no OSM setting is given at all; nothing was sent",
                given.join(", "),
                missing.join(", ")
            )));
        }
        let ca_pem = match &self.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                CliError::Input(format!("cannot read CA file {}: {e}", p.display()))
            })?),
            None => None,
        };
        let url = url.unwrap_or_default();
        let project = project.unwrap_or_else(|| "admin".into());
        let creds = Credentials {
            user: user.unwrap_or_default(),
            password: Secret::new(password.unwrap_or_default()),
            project: project.clone(),
        };
        let mut opts = ClientOptions::new(url.clone());
        opts.ca_pem = ca_pem;
        opts.insecure_skip_tls_verify = self.insecure_skip_tls_verify;
        let seal_key = crate::repo::SealKey::from_password(creds.password.expose());
        let client = NbiClient::new(opts, creds).map_err(|e| CliError::Input(e.to_string()))?;
        Ok(Target {
            client,
            shown: redact_url(&url),
            project,
            seal_key,
            _simulator: None,
        })
    }
}

#[cfg(not(feature = "simulator"))]
async fn embedded() -> Result<Target, CliError> {
    Err(CliError::Input(
        "no OSM setting given, and this osmops was built without the embedded simulator (cargo feature `simulator`): give --osm-url, --user and --password (or OSMOPS_URL, OSMOPS_USER, OSMOPS_PASSWORD); nothing was sent".into(),
    ))
}

#[cfg(feature = "simulator")]
async fn embedded() -> Result<Target, CliError> {
    use crate::sim::{SimConfig, Simulator};
    use std::time::Duration;
    let config = SimConfig {
        lcm_pickup_delay: Duration::from_millis(100),
        lcm_delay: Duration::from_secs(1),
        autoremove_delay: Duration::from_millis(500),
        ..SimConfig::default()
    };
    let sim = Simulator::start(config)
        .await
        .map_err(|e| CliError::Osm(format!("cannot start the embedded simulator: {e}")))?;
    eprintln!(
        "No OSM setting given: using the embedded OSM NBI simulator at {} (user admin, project admin, VIM account mylocation1). Nothing reaches a real OSM.",
        sim.url()
    );
    let creds = Credentials {
        user: "admin".into(),
        password: Secret::new("admin"),
        project: "admin".into(),
    };
    let client = NbiClient::new(ClientOptions::new(sim.url()), creds)
        .map_err(|e| CliError::Osm(e.to_string()))?;
    Ok(Target {
        client,
        shown: EMBEDDED.into(),
        project: "admin".into(),
        seal_key: crate::repo::SealKey::from_password("admin"),
        _simulator: Some(sim),
    })
}

#[cfg(test)]
mod tests {
    use super::KNOWN_VARIABLES;

    /// Every variable a flag reads (`env = "OSMOPS_..."`) is known, so it is never reported as
    /// ignored while it is in fact used.
    #[test]
    fn every_variable_a_flag_reads_is_known() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("sync/args.rs"),
            include_str!("target.rs"),
            include_str!("remote.rs"),
            include_str!("controller/args.rs"),
        ];
        let mut seen = 0;
        for src in sources {
            for part in src.split("env = \"").skip(1) {
                let name = &part[..part.find('"').unwrap()];
                let is_name = name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
                if !name.starts_with("OSMOPS_") || !is_name {
                    continue;
                }
                seen += 1;
                assert!(
                    KNOWN_VARIABLES.contains(&name) || name.starts_with("OSMOPS_GRPC_"),
                    "{name} is read by a flag but reported as ignored"
                );
            }
        }
        assert!(seen >= 8, "only {seen} variables found: the scan is broken");
    }
}
