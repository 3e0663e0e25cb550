//! The OSM operations of a reconcile in the status: recorded write-ahead as OSM accepts them, and
//! followed to their end after a restart.

use std::time::Instant;

use kube::api::{Patch, PatchParams};
use kube::ResourceExt;
use serde_json::json;

use super::run::{Intervals, Run};
use super::status::{record_operations, running_operations};
use crate::engine;
use crate::osm::NbiClient;

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

    /// Follows operations an earlier run started and could not see end (the controller was
    /// stopped or killed while following them), so their end is recorded, reported and counted
    /// before this run plans on top of them.
    pub(super) async fn resume_operations(&mut self, nbi: &NbiClient, iv: &Intervals) {
        let mut running = running_operations(&self.current);
        if running.is_empty() {
            return;
        }
        tracing::info!(osmsync = %self.sync.name_any(), count = running.len(), "following operations started before a restart");
        let key = self.key();
        let journal = self.ctx.journal.clone();
        let by_id: std::collections::HashMap<String, String> = self
            .current
            .operations
            .iter()
            .map(|o| (o.nslcmop_id.clone(), o.revision.clone()))
            .collect();
        // `follow` reports every operation at least once: when it ends, or at the deadline.
        let on_change = |r: &engine::OperationReport| {
            let rev = by_id.get(&r.nslcmop_id).map(String::as_str);
            journal.operation_seen(&key, rev.unwrap_or_default(), r);
        };
        engine::follow(
            nbi,
            &mut running,
            Instant::now() + iv.timeout,
            self.ctx.opts.poll_interval,
            &on_change,
        )
        .await;
        record_operations(&mut self.next, "", &running);
        self.metadata
            .insert("resumedOperations".into(), running.len().to_string());
    }
}
