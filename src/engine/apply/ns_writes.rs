use super::*;

/// The body of `POST ns_instances_content` for one NsInstance document, marked with the owner.
pub fn ns_create_body(
    want: &NsInstance,
    nsd_osm_id: &str,
    vim_account_id: &str,
    owner: &crate::plan::Owner,
) -> NsCreate {
    NsCreate {
        ns_name: want.name.clone(),
        nsd_id: nsd_osm_id.to_owned(),
        vim_account_id: vim_account_id.to_owned(),
        ns_description: Some(owner.ns_description(want.description.as_deref())),
        additional_params_for_vnf: if want.kdu.params.is_some() || want.kdu.model.is_some() {
            vec![VnfParams {
                member_vnf_index: want.vnf_name.clone(),
                additional_params_for_kdu: vec![KduParams {
                    kdu_name: want.kdu.name.clone(),
                    additional_params: want.params_or_empty(),
                    kdu_model: want.kdu.model.clone(),
                }],
            }]
        } else {
            Vec::new()
        },
    }
}

/// An NS to create: its document, and the NSD and VIM account it is created with in OSM.
struct NewNs<'a> {
    want: &'a NsInstance,
    nsd_osm_id: String,
    vim: &'a str,
}

impl Apply<'_> {
    /// Whether OSM had the NS when this run read it (a create's re-listing looks for new ones).
    fn existed_before(&self, osm_id: &str) -> bool {
        self.live.ns_instances.iter().any(|n| n.osm_id == osm_id)
    }

    /// Phase 2: NS creates, upgrades, rollbacks and recreates, independent of each other, with
    /// bounded concurrency (or in the plan's rollout batches); then a check that no create
    /// duplicated a concurrent run's.
    pub(super) async fn ns_writes(&self, state: &Mutex<State>) {
        if self.plan.batches.is_empty() {
            let jobs = rolled_out(self.plan);
            self.run_ns_jobs(state, jobs, self.opts.concurrency).await;
        } else {
            self.roll_out(state).await;
        }
        self.check_duplicates(state).await;
    }

    /// Sends NS writes with at most `concurrency` in flight.
    pub(super) async fn run_ns_jobs(
        &self,
        state: &Mutex<State>,
        jobs: Vec<usize>,
        concurrency: usize,
    ) {
        stream::iter(jobs)
            .map(|i| async move {
                let a = &self.plan.actions[i];
                let want = self
                    .desired
                    .ns_instance(&a.name)
                    .expect("planned NS come from the desired state");
                let r = match &a.operation {
                    Operation::CreateNs {
                        nsd,
                        vim_account_id,
                    } => match self.nsd_osm_id(state, nsd) {
                        Some(nsd_osm_id) => {
                            self.started(i);
                            self.create_ns(&NewNs {
                                want,
                                nsd_osm_id,
                                vim: vim_account_id,
                            })
                            .await
                        }
                        None => result(
                            ActionStatus::Skipped,
                            format!("skipped: NS package '{}' was not onboarded", want.nsd_name),
                        ),
                    },
                    Operation::UpgradeNs { osm_id } => {
                        self.started(i);
                        self.upgrade_ns(want, osm_id, want.requested_params(), "upgrade")
                            .await
                    }
                    Operation::RollbackNs { osm_id, params } => {
                        self.started(i);
                        self.upgrade_ns(want, osm_id, params.clone(), "rollback")
                            .await
                    }
                    Operation::RecreateNs {
                        osm_id,
                        nsd,
                        vim_account_id,
                    } => match self.nsd_osm_id(state, nsd) {
                        Some(nsd_osm_id) => {
                            self.started(i);
                            let new = NewNs {
                                want,
                                nsd_osm_id,
                                vim: vim_account_id,
                            };
                            self.recreate_ns(state, i, osm_id, &new).await
                        }
                        None => result(
                            ActionStatus::Skipped,
                            format!("skipped: NS package '{}' was not onboarded", want.nsd_name),
                        ),
                    },
                    _ => unreachable!("filtered above"),
                };
                self.finish(state, i, r);
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }

    async fn create_ns(&self, new: &NewNs<'_>) -> ActionResult {
        let want = new.want;
        let body = ns_create_body(want, &new.nsd_osm_id, new.vim, &self.opts.owner);
        match self.client.create_ns_instance(&body).await {
            Ok(c) => succeeded("instantiate requested", &c.osm_id, c.nslcmop_id),
            Err(e @ NbiError::OutcomeUnknown { .. }) => {
                // Did OSM create it before the answer was lost? A new NS with this name and this
                // sync's mark says yes.
                match self.client.list_ns_instances(&[("name", &want.name)]).await {
                    Ok(found) => {
                        let new: Vec<&NsRecord> = found
                            .iter()
                            .filter(|n| !self.existed_before(&n.osm_id))
                            .filter(|n| {
                                self.opts.owner.judge_ns(n.description.as_deref()) == Marked::Ours
                            })
                            .collect();
                        match new.as_slice() {
                            [] => result(
                                ActionStatus::Failed,
                                format!("{e}; re-listing shows no NS was created, next reconcile retries"),
                            ),
                            [ns] => {
                                let op = self
                                    .client
                                    .list_ns_lcm_op_occs(&[
                                        ("nsInstanceId", &ns.osm_id),
                                        ("lcmOperationType", "instantiate"),
                                    ])
                                    .await
                                    .ok()
                                    .and_then(|ops| ops.into_iter().next().map(|o| o.osm_id));
                                succeeded(
                                    format!("instantiate requested (confirmed by re-listing after: {e})"),
                                    &ns.osm_id,
                                    op,
                                )
                            }
                            // Several: a concurrent run created one too; the duplicate check
                            // after this phase keeps the oldest.
                            many => {
                                let mut sorted = many.to_vec();
                                sorted.sort_by(|a, b| {
                                    a.created
                                        .cmp(&b.created)
                                        .then_with(|| a.osm_id.cmp(&b.osm_id))
                                });
                                succeeded(
                                    format!("instantiate requested (confirmed by re-listing after: {e}; {} new NS carry this sync's mark)", many.len()),
                                    &sorted[0].osm_id,
                                    None,
                                )
                            }
                        }
                    }
                    Err(e2) => result(
                        ActionStatus::Failed,
                        format!("{e}; re-listing failed too: {e2}"),
                    ),
                }
            }
            Err(e) => failed(&e),
        }
    }

    async fn upgrade_ns(
        &self,
        want: &NsInstance,
        osm_id: &str,
        params: Map<String, Value>,
        what: &str,
    ) -> ActionResult {
        let sent_at = crate::model::Timestamp::now();
        let body = KduUpgrade::new(&want.vnf_name, &want.kdu.name, params.clone());
        match self.client.ns_action(osm_id, &body).await {
            Ok(op) => succeeded(format!("{what} requested"), osm_id, Some(op)),
            Err(e @ NbiError::OutcomeUnknown { .. }) => {
                match self
                    .client
                    .list_ns_lcm_op_occs(&[
                        ("nsInstanceId", osm_id),
                        ("lcmOperationType", "action"),
                    ])
                    .await
                {
                    Ok(ops) => {
                        // Allow for clock skew between us and OSM when matching the start time.
                        let mine = ops
                            .into_iter()
                            .filter(|o| {
                                o.start_time.is_some_and(|t| {
                                    t >= sent_at - k8s_openapi::jiff::SignedDuration::from_secs(30)
                                }) && o.kdu_params(&want.vnf_name, &want.kdu.name).as_ref()
                                    == Some(&params)
                            })
                            .max_by_key(|o| o.start_time);
                        match mine {
                            Some(op) => succeeded(
                                format!("{what} requested (confirmed by re-listing after: {e})"),
                                osm_id,
                                Some(op.osm_id),
                            ),
                            None => result(
                                ActionStatus::Failed,
                                format!(
                                    "{e}; no matching operation in OSM, next reconcile retries"
                                ),
                            ),
                        }
                    }
                    Err(e2) => result(
                        ActionStatus::Failed,
                        format!("{e}; re-listing failed too: {e2}"),
                    ),
                }
            }
            Err(e) => failed(&e),
        }
    }

    /// Remediation: delete the NS, wait until OSM has removed it, create it again. The terminate
    /// is followed here (it is part of this action) and reported with the other operations.
    async fn recreate_ns(
        &self,
        state: &Mutex<State>,
        i: usize,
        old_id: &str,
        new: &NewNs<'_>,
    ) -> ActionResult {
        let want = new.want;
        match self.delete(old_id).await {
            Err(msg) => {
                return result(
                    ActionStatus::Failed,
                    format!("cannot delete the NS to recreate it: {msg}"),
                )
            }
            Ok(NsDeletion::Deleted) => {}
            Ok(NsDeletion::Terminating { op_id }) => {
                if !self.opts.wait {
                    return result(
                        ActionStatus::Skipped,
                        format!("terminate {op_id} requested; the NS is created again on a later reconcile, once OSM has removed it"),
                    );
                }
                let mut report = [OperationReport::new(
                    &op_id,
                    &want.name,
                    old_id,
                    LcmOperationType::Terminate,
                )];
                // Reported as started (PROCESSING) before it is followed; following reports
                // each change after that, so the end is told once.
                (self.progress)(
                    self.plan,
                    &Progress::Operation {
                        report: report[0].clone(),
                    },
                );
                self.follow(&mut report).await;
                let [report] = report;
                let ok = report.succeeded();
                let state_text = format!(
                    "terminate {} {}{}",
                    report.nslcmop_id,
                    report.state,
                    report
                        .error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                self.lock(state).operations.push((Some(i), report));
                if !ok {
                    return result(
                        ActionStatus::Failed,
                        format!("cannot recreate: {state_text}"),
                    );
                }
            }
        }
        match wait_gone(self.client, old_id, self.deadline, self.opts.poll_interval).await {
            Ok(true) => self.ns_gone(state, old_id),
            Ok(false) => {
                return result(
                    ActionStatus::Skipped,
                    format!("NS {old_id} was terminated but OSM still has it: created again on a later reconcile, once OSM has removed it"),
                )
            }
            Err(e) => {
                return result(
                    ActionStatus::Failed,
                    format!("cannot tell whether OSM removed the NS: {e}"),
                )
            }
        }
        let mut r = self.create_ns(new).await;
        if r.status == ActionStatus::Succeeded {
            r.message = format!("NS {old_id} deleted; {}", r.message);
        }
        r
    }
}
