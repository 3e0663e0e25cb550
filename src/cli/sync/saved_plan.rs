//! Saved plans (`osmops plan --out`, `osmops apply --plan`): what was reviewed is exactly what
//! is applied.

use super::*;

/// What `osmops plan --out` writes: the plan and what it was computed against.
#[derive(Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedPlan {
    /// Format version of this file.
    osmops_plan: u32,
    digest: String,
    target: String,
    owner: String,
    /// The plan itself, for people reading the file (only `digest` is used by apply).
    #[serde(default)]
    plan: serde_json::Value,
}

pub(super) fn save_plan(path: &std::path::Path, p: &Prepared, plan: &Plan) -> Result<(), CliError> {
    crate::cli::files::check_writable_target(path, "plan file")?;
    let saved = SavedPlan {
        osmops_plan: 1,
        digest: plan.digest.clone(),
        target: p.target.shown.clone(),
        owner: p.owner.id().to_owned(),
        plan: serde_json::to_value(plan).expect("plans serialize"),
    };
    let text = serde_json::to_string_pretty(&saved).expect("saved plans serialize");
    std::fs::write(path, text + "\n")
        .map_err(|e| CliError::Input(format!("cannot write the plan to {}: {e}", path.display())))
}

/// What `apply --plan FILE` may apply, after checking the file is for this OSM and owner: its
/// digest and its readable body, both of which must be the plan computed now.
pub(super) fn load_plan(path: &std::path::Path, p: &Prepared) -> Result<Approval, CliError> {
    let text = crate::cli::files::read_bounded(path, "saved plan")?.ok_or_else(|| {
        CliError::Input(format!(
            "cannot read the plan {}: it does not exist",
            path.display()
        ))
    })?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
        CliError::Input(format!(
            "{} is not a plan saved by `osmops plan --out`: {e}",
            path.display()
        ))
    })?;
    if saved.osmops_plan != 1 {
        return Err(CliError::Input(format!(
            "{}: plan file version {} is not supported (1 is)",
            path.display(),
            saved.osmops_plan
        )));
    }
    if saved.target != p.target.shown || saved.owner != p.owner.id() {
        return Err(CliError::Input(format!(
            "{} was planned for OSM {} as owner {}, not for OSM {} as owner {}. Nothing was sent to OSM.",
            path.display(),
            saved.target,
            saved.owner,
            p.target.shown,
            p.owner.id()
        )));
    }
    Ok(Approval::Saved {
        digest: saved.digest,
        body: saved.plan,
    })
}
