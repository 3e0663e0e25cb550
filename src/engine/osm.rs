//! One OSM as the engine reaches it: the NBI session and, when runs share it, the live view of
//! that OSM (its NS list within a freshness window, its operations read incrementally). The
//! controller keeps one handle per OSM endpoint, project and user and passes it to every run;
//! the CLI uses a session alone.

use std::sync::Arc;

use super::LiveView;
use crate::osm::NbiClient;

#[derive(Clone, Debug)]
pub struct Osm {
    pub client: NbiClient,
    /// Shared with the other runs on this OSM; `None` reads everything afresh.
    pub view: Option<Arc<LiveView>>,
}

impl Osm {
    /// A session without a shared view.
    pub fn new(client: NbiClient) -> Osm {
        Osm { client, view: None }
    }

    /// A session and the view it shares with other runs on the same OSM.
    pub fn shared(client: NbiClient, view: Arc<LiveView>) -> Osm {
        Osm {
            client,
            view: Some(view),
        }
    }
}

impl From<&NbiClient> for Osm {
    fn from(client: &NbiClient) -> Osm {
        Osm::new(client.clone())
    }
}

impl From<&Osm> for Osm {
    fn from(osm: &Osm) -> Osm {
        osm.clone()
    }
}
