use super::*;

impl Apply<'_> {
    /// `DELETE ns_instances_content/<id>`, resolving a lost answer by re-listing.
    pub(super) async fn delete(&self, osm_id: &str) -> Result<NsDeletion, String> {
        match self.client.delete_ns_instance(osm_id).await {
            Ok(d) => Ok(d),
            // Already gone (removed by OSM, or by a concurrent run): what was wanted.
            Err(e) if e.is_status(404) => Ok(NsDeletion::Deleted),
            Err(e @ NbiError::OutcomeUnknown { .. }) => {
                // `GET ns_instances_content/<id>`: OSM has no `_id` list filter (a query `_id`
                // is a show, one object or 404), so the NS is asked for by its URL.
                match self.client.get_ns_instance(osm_id).await {
                    Ok(None) => Ok(NsDeletion::Deleted),
                    Ok(Some(_)) => match self
                        .client
                        .list_ns_lcm_op_occs(&[
                            ("nsInstanceId", osm_id),
                            ("lcmOperationType", "terminate"),
                        ])
                        .await
                    {
                        Ok(ops) => match ops.into_iter().find(|o| !o.is_terminal()) {
                            Some(op) => Ok(NsDeletion::Terminating { op_id: op.osm_id }),
                            None => Err(format!(
                                "{e}; the NS is still there, next reconcile retries"
                            )),
                        },
                        Err(e2) => Err(format!("{e}; re-listing failed too: {e2}")),
                    },
                    Err(e2) => Err(format!("{e}; re-listing failed too: {e2}")),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Phase 3: NS deletes (duplicates and prune).
    pub(super) async fn ns_deletes(&self, state: &Mutex<State>) {
        let jobs: Vec<usize> = self
            .plan
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a.operation, Operation::DeleteNs { .. }))
            .map(|(i, _)| i)
            .collect();
        stream::iter(jobs)
            .map(|i| async move {
                let Operation::DeleteNs { osm_id } = &self.plan.actions[i].operation else {
                    unreachable!("filtered above")
                };
                self.started(i);
                let r = match self.delete(osm_id).await {
                    Ok(NsDeletion::Deleted) => {
                        self.ns_gone(state, osm_id);
                        succeeded("deleted", osm_id, None)
                    }
                    Ok(NsDeletion::Terminating { op_id }) => {
                        succeeded("terminate requested", osm_id, Some(op_id))
                    }
                    Err(msg) => result(ActionStatus::Failed, msg),
                };
                self.finish(state, i, r);
            })
            .buffer_unordered(self.opts.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }
}
