//! Leader election on a `coordination.k8s.io/v1` Lease, the way client-go's leaderelection does
//! it: acquire when free or expired, renew periodically, stop leading when renewal has failed for
//! the renew deadline, and release the lease on a clean shutdown.
//!
//! Expiry is judged on the local monotonic clock: the time this instance *observed* the lease
//! record change, never the holder's `renewTime` against our wall clock (nodes' clocks differ).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff;
use kube::api::{Api, PostParams};
use kube::Client;

/// The part of the lease record whose change proves the holder is alive.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Observed {
    holder: String,
    renew_time: Option<jiff::Timestamp>,
    transitions: i32,
}

pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
    /// The last record seen and when (local clock) it was first seen.
    observed: Mutex<Option<(Observed, Instant)>>,
}

/// client-go's rule for leader election timings: lease > renew deadline > retry period > 0.
pub fn check_timing(
    lease: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
) -> Result<(), String> {
    if retry_period.is_zero() || renew_deadline <= retry_period || lease <= renew_deadline {
        return Err(format!(
            "leader election needs lease duration ({}s) > renew deadline ({}s) > retry period ({}s) > 0",
            lease.as_secs_f64(),
            renew_deadline.as_secs_f64(),
            retry_period.as_secs_f64()
        ));
    }
    Ok(())
}

impl LeaderElection {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        lease_duration: Duration,
    ) -> Self {
        LeaderElection {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            lease_duration,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: lease_duration / 3,
            observed: Mutex::new(None),
        }
    }

    /// client-go's RenewDeadline and RetryPeriod (Flux's `--leader-election-renew-deadline` and
    /// `--leader-election-retry-period`); refused unless lease > renew deadline > retry period > 0,
    /// client-go's own rule, which keeps a leader from reconciling after its lease may be taken.
    pub fn with_timing(
        mut self,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> Result<Self, String> {
        check_timing(self.lease_duration, renew_deadline, retry_period)?;
        self.renew_deadline = renew_deadline;
        self.retry_period = retry_period;
        Ok(self)
    }

    /// How often to try to take or renew the lease.
    pub fn renew_period(&self) -> Duration {
        self.retry_period
    }

    /// How long the leader keeps reconciling without a successful renewal (client-go's
    /// RenewDeadline, 2/3 of the lease by default): it stops before another instance may take over.
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    /// Records `record` as seen now unless it is the one seen before; returns when it was first
    /// seen.
    fn observe(&self, record: Observed) -> Instant {
        let mut seen = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        match &*seen {
            Some((r, at)) if *r == record => *at,
            _ => {
                let now = Instant::now();
                *seen = Some((record, now));
                now
            }
        }
    }

    /// One attempt to take or keep the lease. Ok(true) when we hold it afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let secs = self.lease_duration.as_secs().clamp(1, i32::MAX as u64) as i32;
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                // Someone else created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let seen_at = self.observe(Observed {
            holder: holder.clone(),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        });
        // The holder's own duration counts (it may differ from ours), from when we saw it renew.
        let held_for = spec
            .lease_duration_seconds
            .map(|d| Duration::from_secs(d.max(0) as u64))
            .unwrap_or(self.lease_duration);
        let expired = seen_at.elapsed() > held_for;
        if holder != self.identity && !holder.is_empty() && !expired {
            return Ok(false);
        }
        if holder != self.identity {
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.acquire_time = Some(MicroTime(now));
            spec.holder_identity = Some(self.identity.clone());
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(secs);
        // replace() carries the resourceVersion we read: a concurrent winner makes this a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Blocks until this instance holds the lease.
    pub async fn acquire(&self) {
        tracing::info!(lease = %self.name, identity = %self.identity, "waiting to become leader");
        loop {
            // Every call has a deadline: an API server that accepts and never answers must not
            // hold the election (or the controller) silently.
            match tokio::time::timeout(self.renew_deadline(), self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return;
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "leader election attempt failed"),
                Err(_) => tracing::warn!(
                    lease = %self.name,
                    timeout = ?self.renew_deadline(),
                    "leader election attempt timed out: the Kubernetes API did not answer"
                ),
            }
            tokio::time::sleep(self.renew_period()).await;
        }
    }

    /// Renews until no renewal has succeeded for the renew deadline, or another instance holds
    /// the lease; then returns (leadership lost).
    pub async fn hold(&self) {
        let mut last_ok = Instant::now();
        loop {
            tokio::time::sleep(self.renew_period()).await;
            let attempt = tokio::time::timeout(
                self.renew_deadline().saturating_sub(last_ok.elapsed()),
                self.try_acquire_or_renew(),
            )
            .await;
            match attempt {
                Ok(Ok(true)) => last_ok = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::error!(lease = %self.name, "leadership lost to another instance");
                    return;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew the leader lease"),
                Err(_) => tracing::warn!("renewing the leader lease timed out"),
            }
            if last_ok.elapsed() >= self.renew_deadline() {
                tracing::error!(lease = %self.name, "leader lease not renewed within the renew deadline");
                return;
            }
        }
    }

    /// Gives the lease up (client-go's ReleaseOnCancel): empty holder, so the next instance takes
    /// over at once instead of waiting for expiry. Only ever clears a lease this instance holds.
    pub async fn release(&self) {
        let result = tokio::time::timeout(self.renew_deadline(), async {
            let Some(mut lease) = self.api.get_opt(&self.name).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        })
        .await;
        match result {
            Ok(Ok(())) => tracing::info!(lease = %self.name, "leader lease released"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot release the leader lease; it will expire")
            }
            Err(_) => tracing::warn!("releasing the leader lease timed out; it will expire"),
        }
    }
}
