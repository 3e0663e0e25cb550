//! `osmops sim`: the OSM NBI simulator as a server, for rehearsals with the real `osm` CLI, the
//! controller or `osmops apply`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::duration::parse_duration;
use crate::sim::{FailRule, Fault, LcmMode, Seed, SimConfig, Simulator};

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
    /// Delay between a terminate completing and the NBI removing the NS (as OSM, a few seconds).
    #[arg(long, default_value = "3700ms", value_parser = parse_duration)]
    autoremove_delay: Duration,
    /// Inject a fault: 'METHOD PATH ACTION [xN]', e.g. 'POST /ns_instances_content status=500 x2'
    /// (ACTION: status=<code>, drop, drop-after, latency=<duration>; METHOD * for any). Repeatable.
    #[arg(long, value_parser = Fault::parse)]
    fault: Vec<Fault>,
    /// Make operations fail: 'OPTYPE[:NSNAME] MESSAGE [xN]', e.g. 'instantiate:ldap helm failed'.
    /// Repeatable.
    #[arg(long, value_parser = FailRule::parse)]
    fail_next: Vec<FailRule>,
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
        autoremove_delay: args.autoremove_delay,
        seed,
        ..SimConfig::default()
    };
    let sim = Simulator::start_on(args.listen, config)
        .await
        .map_err(|e| CliError::Osm(format!("cannot listen on {}: {e}", args.listen)))?;
    for f in args.fault {
        sim.inject(f);
    }
    for r in args.fail_next {
        sim.fail_next(&r.op_type, r.ns_name.as_deref(), r.remaining, &r.message);
    }
    println!(
        "OSM NBI simulator listening on {} (control endpoint: http://{}/sim/v1/, see docs/simulator.md)",
        sim.url(),
        sim.addr()
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Osm(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
