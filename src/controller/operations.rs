//! The OSM operations of a reconcile in the status: recorded write-ahead as OSM accepts them,
//! handed to the follower (follower.rs) when the apply needs nothing more from them, and taken
//! back, ended, by a later reconcile (also after a restart).

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::json;

use super::failure::{Failure, Stop};
use super::follower::Followed;
use super::run::{Intervals, Run};
use super::status::{record_operations, running_operations};
use crate::api::reason;
use crate::duration::format_duration;
use crate::engine::{self, Osm, Outcome};
use crate::model::{rfc3339, Timestamp};

impl Run<'_> {
    /// Writes operations OSM accepted (or that changed state) to the status right away. A failed
    /// write is logged: the final status write records them anyway.
    pub(super) async fn persist_operations(
        &mut self,
        revision: &str,
        reports: &[engine::OperationReport],
    ) {
        record_operations(&mut self.next, revision, reports);
        let patch = json!({"status": {"operations": self.next.operations}});
        match self
            .api
            .patch_status(
                &self.sync.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => self.current.operations = self.next.operations.clone(),
            Err(e) => {
                tracing::warn!(osmsync = %self.sync.name_any(), error = %e, "cannot record operations in the status")
            }
        }
    }

    /// Operations an earlier reconcile started and did not see end (handed off to the follower,
    /// or left running by a controller that stopped): the ended ones are recorded, reported and
    /// counted before this reconcile plans on top of them. While any still runs, the reconcile
    /// stops here "in progress" (its end brings the OsmSync back), and one the follower does not
    /// know (the controller restarted) is handed to it. Still running after `spec.timeout`: the
    /// reconcile fails (OperationTimeout, or OSM unreachable), and the operation stays followed.
    pub(super) async fn resume_operations(
        &mut self,
        osm: &Osm,
        iv: &Intervals,
        secrets: &crate::repo::SecretBook,
    ) -> Result<(), Stop> {
        let running = running_operations(&self.current);
        let ids: Vec<String> = running.iter().map(|r| r.nslcmop_id.clone()).collect();
        let (seen, mut ended) = self
            .ctx
            .follower
            .take(osm, &ObjectRef::from_obj(self.sync), &ids);
        if running.is_empty() && ended.is_empty() {
            return Ok(());
        }
        let mut still = Vec::new();
        let mut unknown = Vec::new();
        for (r, s) in running.into_iter().zip(seen) {
            match s {
                Followed::Ended(done) => ended.push(*done),
                Followed::Running => still.push(r),
                Followed::Unknown => unknown.push(r),
            }
        }
        if !unknown.is_empty() {
            tracing::info!(osmsync = %self.sync.name_any(), count = unknown.len(), "following operations started before a restart");
            self.ctx
                .follower
                .hand_off(osm, ObjectRef::from_obj(self.sync), &unknown);
            still.extend(unknown);
        }
        if !ended.is_empty() {
            // OSM's error text may quote a value it was sent.
            for r in &mut ended {
                secrets.scrub_error(r);
            }
            let key = self.key();
            let by_id: std::collections::HashMap<String, String> = self
                .current
                .operations
                .iter()
                .map(|o| (o.nslcmop_id.clone(), o.revision.clone()))
                .collect();
            for r in &ended {
                let rev = by_id.get(&r.nslcmop_id).map(String::as_str);
                self.ctx
                    .journal
                    .operation_seen(&key, rev.unwrap_or_default(), r);
            }
            record_operations(&mut self.next, "", &ended);
            self.ctx.metrics.observe_operations(&ended);
            self.metadata
                .insert("resumedOperations".into(), ended.len().to_string());
            self.resumed = ended;
        }
        if still.is_empty() {
            return Ok(());
        }
        let oldest = still.iter().filter_map(|r| r.start_time).min();
        let waited = oldest
            .map(|t| Timestamp::now().duration_since(t).unsigned_abs())
            .unwrap_or_default();
        let names: Vec<String> = still
            .iter()
            .map(|r| format!("{} of {}", r.op_type, r.ns_name))
            .collect();
        if waited >= iv.timeout {
            let (r, why) = match self.ctx.follower.unreachable(osm) {
                Some((since, e)) => (
                    reason::OSM_UNREACHABLE,
                    format!(
                        "the NBI has been unreachable since {} ({e})",
                        rfc3339(since)
                    ),
                ),
                None => (
                    reason::OPERATION_TIMEOUT,
                    "OSM has not ended them".to_owned(),
                ),
            };
            let msg = format!(
                "{} OSM operation(s) still running after {} ({}): {why}; still followed",
                still.len(),
                format_duration(iv.timeout),
                names.join(", ")
            );
            return Err(Failure::new(r, msg).into());
        }
        let left = iv.timeout.saturating_sub(waited);
        Err(Stop::InProgress {
            message: format!(
                "{} OSM operation(s) in progress ({})",
                still.len(),
                names.join(", ")
            ),
            requeue: left.min(iv.interval).max(Duration::from_secs(1)),
        })
    }

    /// Hands the operations an apply left running to the follower.
    pub(super) fn hand_off(&self, osm: &Osm, outcome: &Outcome) {
        let running: Vec<engine::OperationReport> = outcome
            .operations
            .iter()
            .filter(|o| !o.finished())
            .cloned()
            .collect();
        if !running.is_empty() {
            self.ctx
                .follower
                .hand_off(osm, ObjectRef::from_obj(self.sync), &running);
        }
    }
}
