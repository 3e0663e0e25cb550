use super::*;

impl Apply<'_> {
    /// Waits until OSM has removed the NS instances this apply terminated (the terminate
    /// completing is not enough: see `follow.rs`). Until then they stay in the inventory.
    pub(super) async fn confirm_gone(&self, state: &Mutex<State>) {
        if !self.opts.wait {
            return;
        }
        let terminated: Vec<(Option<usize>, String)> = self
            .lock(state)
            .operations
            .iter()
            .filter(|(_, r)| r.op_type == LcmOperationType::Terminate && r.succeeded())
            .map(|(i, r)| (*i, r.ns_osm_id.clone()))
            .collect();
        for (i, ns_id) in terminated {
            if self.lock(state).gone.contains(&ns_id) {
                continue;
            }
            let gone = wait_gone(self.client, &ns_id, self.deadline, self.opts.poll_interval).await;
            match (gone, i) {
                (Ok(true), _) => self.ns_gone(state, &ns_id),
                (outcome, Some(i)) => {
                    let mut r = self.lock(state).results[i].clone();
                    if r.status == ActionStatus::Succeeded {
                        r.status = ActionStatus::Skipped;
                        r.message = match outcome {
                            Ok(_) => format!("{}; terminated, but OSM still lists the NS: it stays owned and is deleted again on the next reconcile", r.message),
                            Err(e) => format!("{}; terminated, but cannot tell whether OSM removed the NS: {e}", r.message),
                        };
                        self.finish(state, i, r);
                    }
                }
                (_, None) => {}
            }
        }
    }
}
