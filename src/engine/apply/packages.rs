use super::*;

impl Apply<'_> {
    /// Phase 1: packages, one at a time in dependency order.
    pub(super) async fn packages(&self, state: &Mutex<State>) {
        let mut failed_pkgs: HashSet<&str> = HashSet::new();
        for (i, a) in self.plan.actions.iter().enumerate() {
            let (Some(kind), Operation::CreatePackage | Operation::UpdatePackage { .. }) =
                (a.kind.package_kind(), &a.operation)
            else {
                continue;
            };
            let pkg = self
                .desired
                .package(&a.name)
                .expect("planned packages come from the desired state");
            if let Some(dep) = pkg
                .vnfd_refs
                .iter()
                .find(|r| failed_pkgs.contains(r.as_str()))
            {
                failed_pkgs.insert(&a.name);
                self.finish(
                    state,
                    i,
                    result(
                        ActionStatus::Skipped,
                        format!("skipped: VNF package '{dep}' was not onboarded"),
                    ),
                );
                continue;
            }
            self.started(i);
            let filename = package_filename(pkg, &self.opts.owner);
            let r = match &a.operation {
                Operation::CreatePackage => {
                    match self
                        .client
                        .create_package(kind, pkg.tarball.clone(), &filename, &pkg.md5)
                        .await
                    {
                        Ok(id) => succeeded("onboarded", &id, None),
                        Err(e @ NbiError::OutcomeUnknown { .. }) => {
                            match self.client.list_packages(kind, &[("id", &pkg.id)]).await {
                            Ok(found) if !found.is_empty() => succeeded(
                                format!("onboarded (confirmed by re-listing after: {e})"),
                                &found[0].osm_id,
                                None,
                            ),
                            Ok(_) => result(
                                ActionStatus::Failed,
                                format!("{e}; re-listing shows it was not onboarded, next reconcile retries"),
                            ),
                            Err(e2) => result(
                                ActionStatus::Failed,
                                format!("{e}; re-listing failed too: {e2}"),
                            ),
                        }
                        }
                        // Created meanwhile (a concurrent run of this sync): fine if it is this content.
                        Err(e) if e.is_status(409) => {
                            match self.client.list_packages(kind, &[("id", &pkg.id)]).await {
                            Ok(found)
                                if found.first().and_then(|r| {
                                    r.zipfile.as_deref().and_then(crate::plan::digest_from_filename)
                                }) == Some(pkg.digest.clone()) =>
                            {
                                succeeded(
                                    "onboarded meanwhile with the same content (a concurrent run)",
                                    &found[0].osm_id,
                                    None,
                                )
                            }
                            _ => failed(&e),
                        }
                        }
                        Err(e) => failed(&e),
                    }
                }
                Operation::UpdatePackage { osm_id } => match self
                    .client
                    .replace_package(kind, osm_id, pkg.tarball.clone(), &filename, &pkg.md5)
                    .await
                {
                    Ok(()) => succeeded("re-uploaded", osm_id, None),
                    Err(e) => failed(&e),
                },
                _ => unreachable!("filtered above"),
            };
            if r.status != ActionStatus::Succeeded {
                failed_pkgs.insert(&a.name);
            }
            self.finish(state, i, r);
        }
    }

    /// The NSD `_id` an NS is created with, once phase 1 has run.
    pub(super) fn nsd_osm_id(&self, state: &Mutex<State>, nsd: &NsdRef) -> Option<String> {
        match nsd {
            NsdRef::Live { osm_id } => Some(osm_id.clone()),
            NsdRef::Repo { id } => {
                let i = self
                    .plan
                    .actions
                    .iter()
                    .position(|a| a.kind == ObjectKind::NsPackage && &a.name == id)?;
                let st = self.lock(state);
                let r = &st.results[i];
                matches!(r.status, ActionStatus::Succeeded | ActionStatus::NoOp)
                    .then(|| r.osm_id.clone())
                    .flatten()
            }
        }
    }

    /// The VNF package upload of this plan that an update of a member onto it waits for, when
    /// it did not succeed: its name.
    pub(super) fn vnf_upload_failed(
        &self,
        state: &Mutex<State>,
        vnfd_osm_id: &str,
    ) -> Option<String> {
        let i = self.plan.actions.iter().position(|a| {
            a.kind == ObjectKind::VnfPackage
                && matches!(&a.operation, Operation::UpdatePackage { osm_id } if osm_id == vnfd_osm_id)
        })?;
        let st = self.lock(state);
        (st.results[i].status != ActionStatus::Succeeded).then(|| self.plan.actions[i].name.clone())
    }

    /// Phase 4: package deletes (prune), NS packages first, once OSM has removed their users.
    pub(super) async fn package_deletes(&self, state: &Mutex<State>) {
        for (i, a) in self.plan.actions.iter().enumerate() {
            let (Some(kind), Operation::DeletePackage { osm_id, waits_for }) =
                (a.kind.package_kind(), &a.operation)
            else {
                continue;
            };
            let still_there: Vec<String> = {
                let st = self.lock(state);
                let names: HashMap<&str, &str> = self
                    .live
                    .ns_instances
                    .iter()
                    .map(|n| (n.osm_id.as_str(), n.name.as_str()))
                    .collect();
                waits_for
                    .iter()
                    .filter(|id| !st.gone.contains(*id))
                    .map(|id| {
                        names
                            .get(id.as_str())
                            .map_or(id.clone(), |n| (*n).to_owned())
                    })
                    .collect()
            };
            if !still_there.is_empty() {
                self.finish(
                    state,
                    i,
                    result(
                        ActionStatus::Skipped,
                        format!(
                            "deferred: OSM still has NS instance(s) {} using it; the next reconcile deletes it",
                            still_there.join(", ")
                        ),
                    ),
                );
                continue;
            }
            self.started(i);
            let r = match self.client.delete_package(kind, osm_id).await {
                Ok(()) => succeeded("deleted", osm_id, None),
                Err(e) if e.is_status(404) => succeeded("already gone", osm_id, None),
                Err(e) => failed(&e),
            };
            self.finish(state, i, r);
        }
    }
}
