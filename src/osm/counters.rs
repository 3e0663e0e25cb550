//! What a session exchanged with the NBI: requests, writes, logins, retries and bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Requests and bytes (headers + bodies, both directions) exchanged with the NBI.
#[derive(Debug, Default)]
pub struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) writes: AtomicU64,
    pub(super) bytes_sent: AtomicU64,
    pub(super) bytes_received: AtomicU64,
    pub(super) logins: AtomicU64,
    pub(super) retries: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    pub requests: u64,
    pub writes: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub logins: u64,
    pub retries: u64,
}

impl CounterSnapshot {
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests - earlier.requests,
            writes: self.writes - earlier.writes,
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            bytes_received: self.bytes_received - earlier.bytes_received,
            logins: self.logins - earlier.logins,
            retries: self.retries - earlier.retries,
        }
    }
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            logins: self.logins.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}
