//! Human output: the plan as a table, progress lines, a summary.

use crate::engine::{ActionStatus, Outcome, Progress};
use crate::osm::CounterSnapshot;
use crate::plan::Plan;

pub fn plan_table(plan: &Plan) -> String {
    let rows: Vec<[String; 4]> = plan
        .actions
        .iter()
        .map(|a| {
            [
                a.operation.label().to_owned(),
                a.kind.label().to_owned(),
                a.subject(),
                a.reason.clone(),
            ]
        })
        .collect();
    let header = [
        "ACTION".to_owned(),
        "KIND".to_owned(),
        "NAME".to_owned(),
        "REASON".to_owned(),
    ];
    let mut widths = [0usize; 3];
    for r in std::iter::once(&header).chain(&rows) {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    if rows.is_empty() {
        out.push_str("(the repository declares nothing)\n");
    }
    out.push_str(&plan_details(plan));
    out
}

/// Drift, rollout order and digest under the table: what the plan found and how it will run.
fn plan_details(plan: &Plan) -> String {
    let mut out = String::new();
    for d in &plan.drift {
        out.push_str(&format!(
            "drift: {} [{}]\n",
            d.line(),
            crate::plan::drift_handling(d.corrected)
        ));
    }
    if !plan.batches.is_empty() {
        out.push_str(&format!(
            "rollout: {}\n",
            crate::plan::describe_batches(&plan.batches)
        ));
    }
    if plan.writes() > 0 {
        out.push_str(&format!("plan digest: {}\n", plan.digest));
    }
    out
}

pub fn progress_line(plan: &Plan, p: &Progress) -> Option<String> {
    match p {
        Progress::ActionStarted { .. } | Progress::Inventory { .. } => None,
        Progress::ActionFinished {
            index,
            status,
            message,
        } => {
            let a = &plan.actions[*index];
            let tag = match status {
                ActionStatus::Succeeded => "ok",
                ActionStatus::Failed => "FAILED",
                ActionStatus::Skipped => "skipped",
                ActionStatus::NoOp => return None,
                ActionStatus::Blocked => "blocked",
            };
            Some(format!(
                "[{tag}] {} {} {}: {message}",
                a.operation.label(),
                a.kind.label(),
                a.subject()
            ))
        }
        Progress::Operation { report } => {
            let mut s = format!(
                "  operation {} ({} of NS {}): {}",
                report.nslcmop_id,
                report.op_type,
                report.subject(),
                report.state
            );
            if let Some(e) = &report.error {
                s.push_str(&format!(" - {e}"));
            }
            Some(s)
        }
    }
}

pub fn traffic(c: &CounterSnapshot) -> String {
    format!(
        "{} NBI requests ({} writes), {:.1} KiB sent, {:.1} KiB received",
        c.requests,
        c.writes,
        c.bytes_sent as f64 / 1024.0,
        c.bytes_received as f64 / 1024.0
    )
}

pub fn outcome_summary(o: &Outcome) -> String {
    let verdict = if o.failed() {
        "Apply FAILED"
    } else if o.incomplete() {
        "Apply incomplete"
    } else {
        "Apply succeeded"
    };
    let mut s = format!(
        "{verdict} in {:.1}s: {}.\n{}.",
        o.duration_ms as f64 / 1000.0,
        o.summary(),
        traffic(&o.requests)
    );
    if let Some(why) = &o.rollout_paused {
        s.push_str(&format!("\n{why}: later batches were not started."));
    }
    for line in o.not_converged() {
        s.push_str(&format!("\n  {line}"));
    }
    for (a, r) in o.plan.actions.iter().zip(&o.results) {
        if matches!(
            r.status,
            ActionStatus::Failed | ActionStatus::Blocked | ActionStatus::Skipped
        ) {
            s.push_str(&format!(
                "\n  {} {} {}: {}",
                a.operation.label(),
                a.kind.label(),
                a.subject(),
                r.message
            ));
        }
    }
    s
}
