//! One live view of one OSM (endpoint, project, user) shared by every reconcile that talks to it:
//! the NS list, read at most once per freshness window whatever the number of OsmSyncs, and the
//! operations, read incrementally ([`OpsCache`]). Without it, 100 OsmSyncs on one OSM downloaded
//! the whole NS list 100 times per interval.
//!
//! - **Freshness window** ([`NS_LIST_MAX_AGE`], 5 s): a reconcile that starts within it of the
//!   last read plans on that read. OSM changes made by others in that window are seen by the
//!   next reconcile, exactly as changes made just after a read are.
//! - **Invalidated by our own writes**: a reconcile that wrote to OSM drops the cached list, so
//!   the next reconcile of any OsmSync on that OSM sees what was written.
//! - **One read in flight**: concurrent reconciles wait for the read in progress instead of
//!   issuing their own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::OpsCache;
use crate::osm::{NbiClient, NbiError, NsRecord};

/// How long a read NS list is shared.
pub const NS_LIST_MAX_AGE: Duration = Duration::from_secs(5);

#[derive(Default)]
struct NsList {
    read: Option<(Instant, Arc<Vec<NsRecord>>)>,
}

pub struct LiveView {
    max_age: Duration,
    ns: tokio::sync::Mutex<NsList>,
    /// OSM's operations, read incrementally.
    pub ops: OpsCache,
}

impl Default for LiveView {
    fn default() -> Self {
        LiveView::new(NS_LIST_MAX_AGE)
    }
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl LiveView {
    pub fn new(max_age: Duration) -> LiveView {
        LiveView {
            max_age,
            ns: Default::default(),
            ops: OpsCache::default(),
        }
    }

    /// A view whose operations start from what an earlier run knew (the CLI's state file).
    pub fn with_ops(max_age: Duration, ops: OpsCache) -> LiveView {
        LiveView {
            max_age,
            ns: Default::default(),
            ops,
        }
    }

    /// Whether runs share the NS list read by one of them (the controller's view). A view that
    /// shares nothing (the CLI's, kept for its operations cursor) lets a run read only the NS
    /// records it needs.
    pub fn shares_ns_list(&self) -> bool {
        !self.max_age.is_zero()
    }

    /// The NS list: the shared read when it is fresh, else a new one (one at a time).
    pub async fn ns_instances(&self, client: &NbiClient) -> Result<Arc<Vec<NsRecord>>, NbiError> {
        let mut ns = self.ns.lock().await;
        if let Some((at, list)) = &ns.read {
            if at.elapsed() <= self.max_age {
                return Ok(list.clone());
            }
        }
        let list = Arc::new(client.list_ns_instances(&[]).await?);
        ns.read = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Forgets an NS list that is too old to be shared any more (it would only be read again):
    /// an idle controller does not keep a copy of every OSM's NS list.
    pub async fn forget_stale(&self) {
        let mut ns = self.ns.lock().await;
        if ns
            .read
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() > self.max_age)
        {
            ns.read = None;
        }
    }

    /// Forgets the NS list after our own writes.
    pub async fn invalidate(&self) {
        self.ns.lock().await.read = None;
    }
}
