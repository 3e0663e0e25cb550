use super::*;

use std::collections::BTreeSet;

impl Apply<'_> {
    /// Every NS of the created names that OSM holds besides the created ones, with the created
    /// ones among them. First only whether OSM has any other NS of a created name: normally it
    /// has none, and the answer is an empty list instead of every created record. Then every NS
    /// of the contested names, to order them as every run orders them.
    async fn contested(
        &self,
        created: &[(usize, String, String)],
    ) -> Result<Vec<NsRecord>, NbiError> {
        let pairs: Vec<(&str, &str)> = created
            .iter()
            .map(|(_, n, id)| (n.as_str(), id.as_str()))
            .collect();
        let others = self.client.list_ns_instances_besides(&pairs).await?;
        let names: BTreeSet<&str> = others.iter().map(|n| n.name.as_str()).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = names.into_iter().collect();
        self.client.list_ns_instances_named(&names).await
    }

    /// After creates: OSM may now have several NS with a created name. Those that carry this
    /// sync's mark come from concurrent runs of this sync: every run keeps the oldest and deletes
    /// the others, so they all converge on exactly one NS per name. One that does not carry it
    /// was created meanwhile by another repository (or by hand) declaring the same name: the NS
    /// created second is removed by its creator, the only one that can prove it owns it, and the
    /// run that finds the conflict fails, whichever side of it it is on. A run may find its own
    /// NS already removed by a concurrent run that checked first: it then keeps what that run
    /// kept and does not follow the removed NS's instantiate.
    pub(super) async fn check_duplicates(&self, state: &Mutex<State>) {
        let created: Vec<(usize, String, String)> = {
            let st = self.lock(state);
            self.plan
                .actions
                .iter()
                .zip(&st.results)
                .enumerate()
                .filter(|(_, (a, r))| {
                    matches!(
                        a.operation,
                        Operation::CreateNs { .. } | Operation::RecreateNs { .. }
                    ) && r.status == ActionStatus::Succeeded
                })
                .filter_map(|(i, (a, r))| Some((i, a.name.clone(), r.osm_id.clone()?)))
                .collect()
        };
        let found = match self.contested(&created).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check created NS instances for duplicates");
                return;
            }
        };
        let contested: BTreeSet<&str> = found.iter().map(|n| n.name.as_str()).collect();
        for (i, name, mine) in created
            .iter()
            .filter(|(_, n, _)| contested.contains(n.as_str()))
        {
            let mut same: Vec<&NsRecord> = found.iter().filter(|n| &n.name == name).collect();
            // This run's NS is missing when a concurrent run of this sync checked first, found
            // it the newer one and removed it: this run keeps what that run kept, as it would
            // have had it checked first.
            let mine_present = same.iter().any(|n| &n.osm_id == mine);
            if same.is_empty() || (mine_present && same.len() < 2) {
                continue;
            }
            // OSM's creation time orders them the same way for every run (ids break ties).
            same.sort_by(|a, b| {
                a.created
                    .cmp(&b.created)
                    .then_with(|| a.osm_id.cmp(&b.osm_id))
            });
            let ours =
                |n: &NsRecord| self.opts.owner.judge_ns(n.description.as_deref()) == Marked::Ours;
            let first = same[0];
            let foreign: Vec<String> = same
                .iter()
                .filter(|n| !ours(n))
                .map(|n| {
                    let who = n
                        .description
                        .as_deref()
                        .and_then(crate::plan::Owner::of_description)
                        .map(|o| format!("managed by {o}"))
                        .unwrap_or_else(|| "without a mark".to_owned());
                    format!("{} ({who})", n.osm_id)
                })
                .collect();
            let keep = ours(first).then(|| first.osm_id.clone());
            let mut notes = Vec::new();
            if !mine_present {
                self.ns_gone(state, mine);
                notes.push(match &keep {
                    Some(keep) => format!("a concurrent run of this sync had created '{name}' first ({keep}) and removed this run's NS {mine}: using that one"),
                    None => format!("a concurrent run of this sync removed this run's NS {mine}, created after another NS of that name"),
                });
            }
            for extra in same
                .iter()
                .filter(|n| ours(n) && Some(&n.osm_id) != keep.as_ref())
            {
                let outcome = self.delete(&extra.osm_id).await;
                if let Ok(NsDeletion::Terminating { op_id }) = &outcome {
                    self.track(
                        state,
                        None,
                        OperationReport::new(
                            op_id,
                            name,
                            &extra.osm_id,
                            LcmOperationType::Terminate,
                        ),
                    );
                }
                if let Ok(NsDeletion::Deleted) = &outcome {
                    self.ns_gone(state, &extra.osm_id);
                }
                let what = match &outcome {
                    Ok(_) => "removed",
                    Err(_) => "could not remove",
                };
                notes.push(match &keep {
                        Some(keep) if &extra.osm_id == mine => format!("a concurrent run of this sync had created '{name}' first ({keep}): {what} this run's NS {mine} and using that one"),
                        Some(_) => format!("{what} newer duplicate {} created by a concurrent run", extra.osm_id),
                        None if &extra.osm_id == mine => format!("{what} this run's NS {mine}, created after it"),
                        None => format!("{what} this sync's NS {}, created after it", extra.osm_id),
                    });
            }
            let mut r = self.lock(state).results[*i].clone();
            match &keep {
                Some(keep) if keep != mine => {
                    // Its instantiate belonged to the NS that was removed: nothing to follow,
                    // and nothing was created by this run in the end (the NS it keeps was
                    // created by a concurrent run of this sync).
                    r.osm_id = Some(keep.clone());
                    r.nslcmop_id = None;
                    r.status = ActionStatus::NoOp;
                }
                Some(_) => {}
                None => {
                    r.nslcmop_id = None;
                }
            }
            if !foreign.is_empty() {
                r.status = ActionStatus::Failed;
                let conflict = match &keep {
                        Some(_) => format!(
                            "conflict: while this run created '{name}', OSM got another NS of that name that is not this sync's: {}. This sync's NS is older and stays; the newer one is its creator's to remove. Two repositories (or a person) declare this NS name: keep it in one",
                            foreign.join(", ")
                        ),
                        None => format!(
                            "conflict: another NS named '{name}' that is not this sync's was created first, concurrently: {}",
                            foreign.join(", ")
                        ),
                    };
                notes.insert(0, conflict);
            }
            r.message = format!("{}; {}", r.message, notes.join("; "));
            self.finish(state, *i, r);
        }
    }
}
