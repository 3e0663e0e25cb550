use super::*;

impl Apply<'_> {
    /// The rollout: batch after batch, each followed to its end and checked healthy before the
    /// next starts; a failed batch stops the rest under failure policy `pause`.
    pub(super) async fn roll_out(&self, state: &Mutex<State>) {
        let rollout = self.opts.rollout;
        let parallel = rollout.max_parallel.unwrap_or(self.opts.concurrency);
        let mut paused: Option<String> = None;
        for (n, batch) in self.plan.batches.iter().enumerate() {
            let label = if batch.canary {
                "the canary batch".to_owned()
            } else {
                format!("batch {} of {}", n + 1, self.plan.batches.len())
            };
            if let Some(why) = &paused {
                for &i in &batch.actions {
                    self.finish(
                        state,
                        i,
                        result(ActionStatus::Skipped, format!("not started: {why}")),
                    );
                }
                continue;
            }
            let span = tracing::info_span!("rollout.batch", batch = n + 1, canary = batch.canary);
            self.run_ns_jobs(state, batch.actions.clone(), parallel)
                .instrument(span.clone())
                .await;
            let failed = self
                .settle_batch(state, &batch.actions)
                .instrument(span)
                .await;
            if failed.is_empty() {
                continue;
            }
            tracing::info!(batch = n + 1, failed = ?failed, policy = rollout.failure_policy.label(), "rollout batch failed");
            if rollout.failure_policy == FailurePolicy::Pause {
                paused = Some(format!(
                    "rollout paused after {label} failed ({})",
                    failed.join(", ")
                ));
            }
        }
        self.lock(state).rollout_paused = paused;
    }

    /// Follows the operations a batch started until they end, then checks that each NS is
    /// healthy (`nsState` READY) in OSM. Returns the names of the actions that failed.
    async fn settle_batch(&self, state: &Mutex<State>, batch: &[usize]) -> Vec<String> {
        let mut started: Vec<(usize, OperationReport)> = {
            let st = self.lock(state);
            batch
                .iter()
                .filter_map(|&i| {
                    let (a, r) = (&self.plan.actions[i], &st.results[i]);
                    let op = r
                        .nslcmop_id
                        .as_ref()
                        .filter(|_| r.status == ActionStatus::Succeeded)?;
                    let op_type = ns_operation_type(&a.operation)?;
                    Some((
                        i,
                        OperationReport::new(
                            op,
                            &a.name,
                            r.osm_id.as_deref().unwrap_or_default(),
                            op_type,
                        ),
                    ))
                })
                .collect()
        };
        let mut reports: Vec<OperationReport> = started.iter().map(|(_, r)| r.clone()).collect();
        self.follow(&mut reports).await;
        for ((_, slot), rep) in started.iter_mut().zip(reports) {
            *slot = rep;
        }
        for (i, rep) in &started {
            self.lock(state).operations.push((Some(*i), rep.clone()));
            let mut r = self.lock(state).results[*i].clone();
            if !rep.succeeded() {
                r.status = ActionStatus::Failed;
                r.message = format!(
                    "operation {} {}{}",
                    rep.nslcmop_id,
                    rep.state,
                    rep.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                self.finish(state, *i, r);
                continue;
            }
            match self.client.get_ns_instance(&rep.ns_osm_id).await {
                Ok(Some(ns)) if ns.ns_state == NsState::Ready => {}
                Ok(found) => {
                    r.status = ActionStatus::Failed;
                    r.message = match found {
                        Some(ns) => format!(
                            "operation {} completed but the NS is not healthy: nsState {}{}",
                            rep.nslcmop_id,
                            ns.ns_state,
                            ns.error_detail
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        ),
                        None => format!(
                            "operation {} completed but OSM no longer has the NS",
                            rep.nslcmop_id
                        ),
                    };
                    self.finish(state, *i, r);
                }
                Err(e) => {
                    r.status = ActionStatus::Failed;
                    r.message = format!(
                        "operation {} completed but the NS health cannot be read: {e}",
                        rep.nslcmop_id
                    );
                    self.finish(state, *i, r);
                }
            }
        }
        let st = self.lock(state);
        batch
            .iter()
            .filter(|&&i| {
                matches!(
                    st.results[i].status,
                    ActionStatus::Failed | ActionStatus::Skipped
                )
            })
            .map(|&i| self.plan.actions[i].name.clone())
            .collect()
    }
}
