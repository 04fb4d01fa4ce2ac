//! Accepting connections: a cap on open connections per gateway and per
//! client address, HTTP/1.1 with a header-read timeout (a client that dribbles
//! its request head, or idles between requests, is closed: slowloris), a
//! deadline per request, `TCP_NODELAY`, and the drain on shutdown.
//!
//! A connection's [`Slot`] is held by the HTTP connection and, after an
//! upgrade, by its WebSocket: the caps count both.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chat_core::Code;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::metrics;

/// Connection caps and timeouts of the HTTP/WebSocket listener.
#[derive(Clone, Debug)]
pub struct ConnLimits {
    /// Open connections (HTTP and WebSocket) this gateway holds at most.
    pub max_connections: usize,
    /// Open connections one client address holds at most (an IPv6 client
    /// counts by its /64); 0 turns the cap off.
    pub max_per_address: usize,
    /// How long a request head may take to arrive, counted from the end of
    /// the previous request (so also the idle time of a keep-alive connection).
    pub header_timeout: Duration,
    /// How long one HTTP request, body included, may take.
    pub request_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 10_000,
            max_per_address: 1_000,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The TCP peer of a request (a request extension set by [`serve`]).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// The client's address of a request from `peer`: when the peer is a trusted
/// proxy, the last address in `X-Forwarded-For` that is not one (proxies
/// append, so what is left of the last untrusted hop may be forged).
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let Some(ip) = peer else {
        return IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    };
    // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
    let mut ip = ip.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&ip) {
        return ip;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match parse_hop(hop.trim()) {
            Some(h) => {
                ip = h;
                if !is_trusted(&h) {
                    break;
                }
            }
            // A malformed hop: trust nothing left of it.
            None => break,
        }
    }
    ip
}

/// One `X-Forwarded-For` hop: an address, maybe with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// The address a cap counts: the IP, or an IPv6 client's /64 (one subscriber
/// of a provider holds a whole /64).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The open connections, counted per gateway and per address.
pub(crate) struct Admission {
    limits: ConnLimits,
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its place.
pub struct Slot {
    admission: Arc<Admission>,
    address: IpAddr,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("address", &self.address)
            .finish()
    }
}

impl Admission {
    pub(crate) fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a connection from `ip`, or the name of the cap it hits.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, &'static str> {
        let address = address_key(ip);
        let mut per = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        if self.total.load(Ordering::Relaxed) >= self.limits.max_connections {
            return Err(metrics::REFUSED_PER_GATEWAY);
        }
        let n = per.entry(address).or_insert(0);
        if self.limits.max_per_address > 0 && *n >= self.limits.max_per_address {
            return Err(metrics::REFUSED_PER_ADDRESS);
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        metrics::TCP_CONNECTIONS.inc();
        Ok(Slot {
            admission: self.clone(),
            address,
        })
    }

    fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per = self
            .admission
            .per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.address);
            }
        }
        self.admission.total.fetch_sub(1, Ordering::Relaxed);
        metrics::TCP_CONNECTIONS.dec();
    }
}

/// Answers a refused connection with a short 503 and closes it, without
/// waiting: a client that does not read gets a reset instead.
fn refuse(tcp: TcpStream, reason: &'static str) {
    metrics::CONNECTIONS_REFUSED
        .with_label_values(&[reason])
        .inc();
    let body = format!(
        r#"{{"error":{{"code":"unavailable","message":"too many connections ({reason}); retry later"}}}}"#
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.try_write(head.as_bytes());
}

/// Middleware: a request that takes longer than the request timeout (a body
/// sent slowly, a handler stuck behind a dependency) is answered `timeout`.
pub(crate) async fn deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(Code::Timeout, "the request took too long").into_response(),
    }
}

/// Serves `router` on `listener` until `stop` is cancelled; then stops
/// accepting, lets each connection finish its request, and returns once
/// every connection (WebSockets included) is closed or `drain` has passed
/// since `stop`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    admission: Arc<Admission>,
    stop: CancellationToken,
    drain: Duration,
) -> std::io::Result<()> {
    let header_timeout = admission.limits.header_timeout;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or memory, or a connection reset before
                // it was accepted: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let slot = match admission.admit(peer.ip()) {
            Ok(s) => Arc::new(s),
            Err(reason) => {
                refuse(tcp, reason);
                continue;
            }
        };
        // Small frames must not wait for Nagle's algorithm (a 40 ms step with
        // delayed ACKs).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(Peer(peer));
                req.extensions_mut().insert(slot.clone());
                router.clone().oneshot(req)
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = http
                .serve_connection(TokioIo::new(tcp), svc)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                if e.is_timeout() {
                    metrics::IDLE_CLOSED
                        .with_label_values(&[metrics::IDLE_HTTP_HEADER])
                        .inc();
                }
                tracing::trace!(error = %e, "connection ended");
            }
        });
    }
    // Draining: connections end as their requests finish; WebSockets close
    // with 1012 (the gateway's draining token).
    let deadline = tokio::time::Instant::now() + drain;
    while admission.open() > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                open = admission.open(),
                "drain time exceeded; closing remaining connections"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_per_gateway() {
        let adm = Admission::new(ConnLimits {
            max_connections: 3,
            max_per_address: 2,
            ..ConnLimits::default()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = adm.admit(a).unwrap();
        let _s2 = adm.admit(a).unwrap();
        assert_eq!(adm.admit(a).unwrap_err(), "per_address");
        let _s3 = adm.admit(b).unwrap();
        assert_eq!(adm.admit(b).unwrap_err(), "per_gateway");
        drop(s1);
        assert!(adm.admit(a).is_ok(), "a closed connection frees its place");
    }

    #[test]
    fn the_client_address_is_taken_from_trusted_proxies_only() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.7".parse().unwrap(),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "5.5.5.5".parse().unwrap();
        assert_eq!(
            client_ip(Some(proxy), &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(Some(stranger), &h, &trusted), stranger);
        assert_eq!(client_ip(Some(proxy), &h, &[]), proxy);
        h.insert("x-forwarded-for", "9.9.9.9:4444".parse().unwrap());
        let nine: IpAddr = "9.9.9.9".parse().unwrap();
        assert_eq!(client_ip(Some(proxy), &h, &trusted), nine);
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_ip(Some(mapped), &h, &trusted), nine);
        h.insert("x-forwarded-for", "junk".parse().unwrap());
        assert_eq!(client_ip(Some(proxy), &h, &trusted), proxy);
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let adm = Admission::new(ConnLimits {
            max_per_address: 1,
            ..ConnLimits::default()
        });
        let _s = adm.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(
            adm.admit("2001:db8:1:2:ffff::9".parse().unwrap())
                .unwrap_err(),
            "per_address"
        );
        assert!(adm.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
        let _m = adm.admit("::ffff:10.1.1.1".parse().unwrap()).unwrap();
        assert_eq!(
            adm.admit("10.1.1.1".parse().unwrap()).unwrap_err(),
            "per_address"
        );
    }
}
