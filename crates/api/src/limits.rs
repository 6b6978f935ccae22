//! What one client can take from a node: connections, time and requests. Each limit has a
//! default here and a flag in `veritas node`; docs/security.md has the table.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{
    Router,
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use veritas_primitives::Address;

use crate::ApiError;

/// A sustained rate with a burst on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests at once after a pause.
    pub burst: u32,
}

/// The limits of the API.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Time to read a request's headers; a client that sends them slower is disconnected.
    pub header_timeout: Duration,
    /// Time a request's body may go without sending a byte (uploads included).
    pub body_idle_timeout: Duration,
    /// Time from a request's headers to its response's (a streamed answer then streams on).
    pub request_timeout: Duration,
    /// Connections open at once; further ones are closed as they come.
    pub max_connections: usize,
    /// Requests per client IP address; calls signed by a gateway are counted by their
    /// signature instead. `None`: no limit.
    pub per_ip: Option<Rate>,
    /// Requests per paying account (API key or signed request). `None`: no limit.
    pub per_account: Option<Rate>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            max_connections: 1024,
            per_ip: Some(Rate { per_second: 100, burst: 200 }),
            per_account: Some(Rate { per_second: 20, burst: 40 }),
        }
    }
}

fn quota(rate: Rate) -> Option<Quota> {
    let per_second = NonZeroU32::new(rate.per_second)?;
    Some(Quota::per_second(per_second).allow_burst(NonZeroU32::new(rate.burst).unwrap_or(per_second)))
}

/// The rate limiters of one API, keyed by IP address and by account.
pub(crate) struct Limiters {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Option<DefaultKeyedRateLimiter<Address>>,
}

/// Too many requests: 429 with `Retry-After` in whole seconds (at least 1).
fn too_many(what: String, wait: Duration) -> ApiError {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("{what}; retry in {seconds} s"))
        .retry_after(seconds)
}

impl Limiters {
    pub(crate) fn new(limits: &Limits) -> Arc<Limiters> {
        Arc::new(Limiters {
            per_ip: limits.per_ip.and_then(quota).map(RateLimiter::keyed),
            per_account: limits.per_account.and_then(quota).map(RateLimiter::keyed),
        })
    }

    /// Takes one of `account`'s requests, or says when it may come.
    pub(crate) fn account(&self, account: Address) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_account else { return Ok(()) };
        limiter.check_key(&account).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            too_many(format!("account {account} is over its rate limit"), wait)
        })
    }

    /// Forgets the keys whose limits have refilled, so that the maps stay as small as the
    /// clients active in the last few seconds.
    pub(crate) fn shrink(&self) {
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_account {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Counts a request against its client's IP address (from the connection). Calls signed by a
/// gateway are not counted here: their signature is checked before any work, and one gateway
/// legitimately sends its whole network's load.
pub(crate) async fn per_ip(State(limiters): State<Arc<Limiters>>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &limiters.per_ip
        && !request.headers().contains_key(veritas_primitives::call::GATEWAY_HEADER)
        && let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Err(not_until) = limiter.check_key(&peer.ip())
    {
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        return too_many(format!("{} is over its rate limit", peer.ip()), wait).into_response();
    }
    next.run(request).await
}

/// Accepts connections until `stopping`, each under the header timeout and one of the
/// connection places, its requests carrying the peer's address; then waits (at most 30 s) for
/// the connections it has to finish their requests.
pub(crate) async fn accept(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    limiters: Arc<Limiters>,
    stopping: veritas_node::Stopping,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let places = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shrink = tokio::time::interval(Duration::from_secs(60));
    let stop = stopping.wait();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shrink.tick() => {
                limiters.shrink();
                continue;
            }
            () = &mut stop => break,
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "too many connections: closing this one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
        let connection =
            builder.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, %err, "connection ended");
            }
            drop(place);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still open 30 s after the stop; leaving them");
    }
}
