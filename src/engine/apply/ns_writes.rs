use super::*;
use crate::repo::{SecretBook, UnknownSeal};

/// The body of `POST ns_instances_content` for one NsInstance document, marked with the owner:
/// its instantiation config (`config`, VIM accounts resolved to ids) with the params and model of
/// every KDU it declares merged into `additionalParamsForVnf`, values from Secrets revealed.
pub fn ns_create_body(
    want: &NsInstance,
    config: Map<String, Value>,
    nsd_osm_id: &str,
    vim_account_id: &str,
    owner: &crate::plan::Owner,
    secrets: &SecretBook,
) -> Result<NsCreate, UnknownSeal> {
    let mut config = secrets.reveal_map(&config)?;
    // The members' day-1 params from config, in their order, then members only KDUs name.
    let mut vnfs: Vec<VnfParams> = match config.remove("additionalParamsForVnf") {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(mut m) => {
                    let member = match m.remove("member-vnf-index") {
                        Some(Value::String(s)) => s,
                        _ => return None,
                    };
                    Some(VnfParams {
                        member_vnf_index: member,
                        additional_params_for_kdu: Vec::new(),
                        config: m,
                    })
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    // A KDU without params or model is instantiated as its descriptor says: no entry (OSM's
    // schema wants at least one property besides kdu_name).
    for kdu in want
        .kdus
        .iter()
        .filter(|k| k.params.is_some() || k.model.is_some())
    {
        let entry = KduParams {
            kdu_name: kdu.name.clone(),
            additional_params: secrets.reveal_map(&kdu.params_or_empty())?,
            kdu_model: kdu.model.clone(),
        };
        match vnfs.iter_mut().find(|v| v.member_vnf_index == kdu.member) {
            Some(v) => v.additional_params_for_kdu.push(entry),
            None => vnfs.push(VnfParams {
                member_vnf_index: kdu.member.clone(),
                additional_params_for_kdu: vec![entry],
                config: Map::new(),
            }),
        }
    }
    Ok(NsCreate {
        ns_name: want.name.clone(),
        nsd_id: nsd_osm_id.to_owned(),
        vim_account_id: vim_account_id.to_owned(),
        ns_description: Some(owner.ns_description(want.description.as_deref())),
        additional_params_for_vnf: vnfs,
        config,
    })
}

/// The KDU an upgrade or rollback action is for.
fn target_kdu<'w>(want: &'w NsInstance, a: &crate::plan::Action) -> &'w Kdu {
    match &a.target {
        Some(Target::Kdu { member, kdu }) => want
            .kdu(member, kdu)
            .expect("planned KDUs come from the document"),
        _ => unreachable!("KDU upgrades name their KDU"),
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
                        let kdu = target_kdu(want, a);
                        self.started(i);
                        self.upgrade_ns(kdu, osm_id, kdu.requested_params(), "upgrade")
                            .await
                    }
                    Operation::RollbackNs { osm_id, params } => {
                        let kdu = target_kdu(want, a);
                        self.started(i);
                        self.upgrade_ns(kdu, osm_id, params.clone(), "rollback")
                            .await
                    }
                    Operation::ScaleNs { osm_id, direction } => {
                        self.started(i);
                        self.scale_ns(a, osm_id, *direction).await
                    }
                    Operation::UpdateNs {
                        osm_id,
                        vnf_instance_id,
                        vnfd_osm_id,
                    } => {
                        if let Some(name) = self.vnf_upload_failed(state, vnfd_osm_id) {
                            let r = result(
                                ActionStatus::Skipped,
                                format!("skipped: VNF package '{name}' was not uploaded"),
                            );
                            self.finish(state, i, r);
                            return;
                        }
                        self.started(i);
                        let body = change_vnfpkg_body(vnf_instance_id, vnfd_osm_id);
                        // Not sent again when its outcome is unknown: the next reconcile reads
                        // what OSM recorded.
                        match self.client.ns_update(osm_id, &body).await {
                            Ok(op) => {
                                succeeded("update (CHANGE_VNFPKG) requested", osm_id, Some(op))
                            }
                            Err(e) => failed(&e),
                        }
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
        let vims = self.live.vim_accounts.as_deref().unwrap_or_default();
        let config = match crate::plan::resolved_config(want, vims) {
            Ok(c) => c,
            // The plan checked the names against this very list.
            Err(unknown) => return result(ActionStatus::Failed, unknown.join("; ")),
        };
        let secrets = &self.desired.secrets;
        let body = match ns_create_body(
            want,
            config,
            &new.nsd_osm_id,
            new.vim,
            &self.opts.owner,
            secrets,
        ) {
            Ok(b) => b,
            Err(e) => return result(ActionStatus::Failed, e.to_string()),
        };
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
        kdu: &Kdu,
        osm_id: &str,
        params: Map<String, Value>,
        what: &str,
    ) -> ActionResult {
        let sent_at = crate::model::Timestamp::now();
        // `params` may hold seals (values from Secrets): OSM gets the values, the comparison
        // below seals what OSM recorded the same way.
        let secrets = &self.desired.secrets;
        let revealed = match secrets.reveal_map(&params) {
            Ok(r) => r,
            Err(e) => return result(ActionStatus::Failed, format!("{what} not sent: {e}")),
        };
        let body = KduUpgrade::new(&kdu.member, &kdu.name, revealed);
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
                                }) && o
                                    .kdu_params(&kdu.member, &kdu.name)
                                    .is_some_and(|p| secrets.seal_map_like(&p, &params) == params)
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

    /// One scale step of the action's scaling aspect. Not sent again when its outcome is unknown:
    /// a second step would scale twice; the next reconcile counts what OSM recorded.
    async fn scale_ns(
        &self,
        a: &crate::plan::Action,
        osm_id: &str,
        direction: ScaleDirection,
    ) -> ActionResult {
        let Some(Target::Scale { member, aspect }) = &a.target else {
            unreachable!("scale actions name their scaling aspect")
        };
        let body = scale_body(member, aspect, direction == ScaleDirection::ScaleOut);
        match self.client.ns_scale(osm_id, &body).await {
            Ok(op) => succeeded(format!("{} requested", direction.words()), osm_id, Some(op)),
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
