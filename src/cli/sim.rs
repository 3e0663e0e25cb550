//! `osmops sim`: the OSM NBI simulator as a server, for rehearsals with the real `osm` CLI, the
//! controller or `osmops apply`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::duration::parse_duration;
use crate::sim::{LcmMode, Seed, SimConfig, Simulator};

#[derive(Args, Debug)]
pub struct SimArgs {
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: std::net::SocketAddr,
    /// YAML seed (projects, users, vimAccounts, k8sClusters); default: admin/admin + VIM mylocation1.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Disable the NBI's 1 s re-login throttle.
    #[arg(long)]
    no_token_throttle: bool,
    /// Delay before the fake LCM completes an operation.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    lcm_delay: Duration,
    /// Run without LCM: operations stay PROCESSING forever.
    #[arg(long)]
    no_lcm: bool,
}

pub async fn run_sim(args: SimArgs) -> Result<ExitCode, CliError> {
    let seed = match &args.seed {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError::Input(format!("cannot read seed {}: {e}", p.display())))?;
            Seed::from_yaml(&text).map_err(CliError::Input)?
        }
        None => Seed::default(),
    };
    let config = SimConfig {
        token_throttle: !args.no_token_throttle,
        lcm_mode: if args.no_lcm {
            LcmMode::None
        } else {
            LcmMode::Auto
        },
        lcm_delay: args.lcm_delay,
        seed,
        ..SimConfig::default()
    };
    let sim = Simulator::start_on(args.listen, config)
        .await
        .map_err(|e| CliError::Osm(format!("cannot listen on {}: {e}", args.listen)))?;
    println!("OSM NBI simulator listening on {}", sim.url());
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Osm(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
