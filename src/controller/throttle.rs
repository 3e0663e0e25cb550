//! Client-side rate limiting of Kubernetes API requests, as client-go's token bucket does for
//! Flux's `--kube-api-qps` and `--kube-api-burst`: up to `burst` requests at once, refilled at
//! `qps` per second. Watches count once, when they start.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tower::{Layer, Service};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A shared token bucket.
#[derive(Clone, Debug)]
pub struct Throttle {
    qps: f64,
    burst: f64,
    bucket: Arc<Mutex<Bucket>>,
}

impl Throttle {
    /// `qps` > 0 and `burst` ≥ 1 (checked where the flags are read).
    pub fn new(qps: f64, burst: u32) -> Throttle {
        let burst = f64::from(burst.max(1));
        Throttle {
            qps,
            burst,
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            })),
        }
    }

    /// Takes a token, or says how long until one is available (and reserves it).
    fn reserve(&self) -> Duration {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() * self.qps;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.last = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.qps)
        }
    }
}

type Req = http::Request<kube::client::Body>;

/// Wraps kube's (unclonable) service stack in a buffer, so that a request waiting for its token
/// does not hold up the service.
impl<S> Layer<S> for Throttle
where
    S: Service<Req> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError> + Send + Sync,
{
    type Service = Throttled<tower::buffer::Buffer<Req, S::Future>>;
    fn layer(&self, inner: S) -> Self::Service {
        Throttled {
            inner: tower::buffer::Buffer::new(inner, 1024),
            throttle: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Throttled<S> {
    inner: S,
    throttle: Throttle,
}

impl<S, R> Service<R> for Throttled<S>
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let wait = self.throttle.reserve();
        // The ready service goes with the request; its clone stays for the next poll_ready.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            ready.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_free_then_requests_are_spaced_at_qps() {
        let t = Throttle::new(10.0, 3);
        for _ in 0..3 {
            assert_eq!(t.reserve(), Duration::ZERO);
        }
        let fourth = t.reserve();
        let fifth = t.reserve();
        assert!(
            fourth > Duration::from_millis(80) && fourth <= Duration::from_millis(100),
            "{fourth:?}"
        );
        assert!(
            fifth > Duration::from_millis(180) && fifth <= Duration::from_millis(200),
            "{fifth:?}"
        );
    }
}
