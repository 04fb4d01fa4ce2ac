//! Opening WebSocket connections to a gateway.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// Connections per loopback source address: below the ~28k ephemeral ports
/// Linux offers per source address, so that more connections than that to one
/// gateway use 127.0.0.2, 127.0.0.3, … (all of 127/8 is loopback).
const PER_SOURCE_ADDR: usize = 20_000;

/// A gateway's WebSocket endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `ws://host:port/ws`.
    pub url: String,
    /// The resolved address.
    pub addr: SocketAddr,
}

impl Endpoint {
    /// The endpoint of a gateway given as `http://host:port`.
    pub async fn resolve(gateway: &str) -> Result<Endpoint> {
        let hostport = gateway
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("gateway {gateway:?}: expected http://host:port"))?;
        let addr = tokio::net::lookup_host(hostport)
            .await
            .with_context(|| format!("resolving {hostport}"))?
            .next()
            .ok_or_else(|| anyhow!("{hostport} has no address"))?;
        Ok(Endpoint {
            url: format!("ws://{hostport}/ws"),
            addr,
        })
    }
}

/// Client buffers kept small: thousands of connections live in one process, and
/// the read buffer grows on demand anyway (tungstenite's default is 128 KiB,
/// allocated up front, per connection).
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(16 * 1024)
}

/// Why a connection attempt failed, as an error code for the report.
#[derive(Debug)]
pub struct ConnectError {
    /// `connect_failed`, `handshake_failed` (with the HTTP status when the
    /// gateway refused the upgrade, e.g. `handshake_401`), `connect_timeout`.
    pub code: String,
    /// Details.
    pub detail: String,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// Opens connection number `index` to `ep`, authenticated by `token` in the
/// upgrade request, with Nagle off (small frames must not wait for each other).
pub async fn connect(ep: &Endpoint, token: &str, index: usize) -> Result<Ws, ConnectError> {
    let fail = |code: &str, e: &dyn std::fmt::Display| ConnectError {
        code: code.to_string(),
        detail: e.to_string(),
    };
    let attempt = async {
        let socket = match ep.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| fail("connect_failed", &e))?;
        if let IpAddr::V4(ip) = ep.addr.ip()
            && ip.is_loopback()
        {
            let n = (index / PER_SOURCE_ADDR) as u32;
            let src = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 1)) + n);
            socket
                .bind(SocketAddr::new(IpAddr::V4(src), 0))
                .map_err(|e| fail("connect_failed", &e))?;
        }
        let stream = socket
            .connect(ep.addr)
            .await
            .map_err(|e| fail("connect_failed", &e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| fail("connect_failed", &e))?;
        let mut req = ep
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| fail("handshake_failed", &e))?;
        let auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| fail("handshake_failed", &e))?;
        req.headers_mut().insert("authorization", auth);
        match tokio_tungstenite::client_async_with_config(req, stream, Some(config())).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(ConnectError {
                code: format!("handshake_{}", resp.status().as_u16()),
                detail: String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default())
                    .into_owned(),
            }),
            Err(e) => Err(fail("handshake_failed", &e)),
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), attempt).await {
        Ok(r) => r,
        Err(_) => Err(fail("connect_timeout", &"no connection within 30 s")),
    }
}
