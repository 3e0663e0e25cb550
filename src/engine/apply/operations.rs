use super::*;

impl Apply<'_> {
    /// Follows the operations this apply started (and those it found in progress) until they
    /// end or the run's time is up; a failed operation fails its action.
    pub(super) async fn follow_operations(&self, state: &Mutex<State>) {
        {
            let mut st = self.lock(state);
            let mut new = Vec::new();
            for (i, (a, r)) in self.plan.actions.iter().zip(&st.results).enumerate() {
                let ns_osm_id = r.osm_id.clone().unwrap_or_default();
                let op_type = match (&a.operation, ns_operation_type(&a.operation)) {
                    (_, Some(t)) => t,
                    (
                        Operation::Unchanged {
                            pending_op: Some(op),
                            ..
                        },
                        None,
                    ) if self.opts.wait => {
                        new.push((
                            None,
                            // Found in progress: its type is read from OSM on the first poll.
                            OperationReport::new(
                                op,
                                &a.name,
                                &ns_osm_id,
                                LcmOperationType::from("pending"),
                            ),
                        ));
                        continue;
                    }
                    _ => continue,
                };
                let tracked = st
                    .operations
                    .iter()
                    .any(|(_, t)| Some(&t.nslcmop_id) == r.nslcmop_id.as_ref());
                if let (ActionStatus::Succeeded, Some(op), false) =
                    (r.status, &r.nslcmop_id, tracked)
                {
                    new.push((
                        Some(i),
                        OperationReport::new(op, &a.name, &ns_osm_id, op_type)
                            .about(a.target.as_ref().map(crate::plan::Target::label)),
                    ));
                }
            }
            st.operations.extend(new);
        }
        let mut reports: Vec<OperationReport> = self
            .lock(state)
            .operations
            .iter()
            .map(|(_, r)| r.clone())
            .collect();
        let hand_off = self.opts.hand_off && self.plan.can_hand_off_operations();
        if hand_off {
            // Returned running (PROCESSING): the caller follows them.
        } else if self.opts.wait && reports.iter().any(|r| !r.finished()) {
            let span = tracing::info_span!("operations.follow", operations = reports.len());
            self.follow(&mut reports).instrument(span).await;
        } else if !self.opts.wait {
            for r in reports.iter_mut().filter(|r| !r.finished()) {
                r.state = crate::model::OperationState::NotFollowed;
            }
        }
        let failed_actions: Vec<(usize, ActionResult)> = {
            let mut st = self.lock(state);
            for ((_, slot), rep) in st.operations.iter_mut().zip(&reports) {
                *slot = rep.clone();
            }
            st.operations
                .iter()
                .filter_map(|(i, rep)| {
                    let i = (*i)?;
                    // Already failed (e.g. by its rollout batch): reported once.
                    let already = st.results[i].status == ActionStatus::Failed;
                    (rep.failed() && !already).then(|| {
                        let mut r = st.results[i].clone();
                        r.status = ActionStatus::Failed;
                        r.message = format!(
                            "operation {} {}: {}",
                            rep.nslcmop_id,
                            rep.state,
                            rep.error.clone().unwrap_or_default()
                        );
                        (i, r)
                    })
                })
                .collect()
        };
        for (i, r) in failed_actions {
            self.finish(state, i, r);
        }
    }
}
