//! One connection type over a single Redis or a Redis Cluster.

use redis::aio::ConnectionManager;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

use crate::{RedisConfig, unavailable};

/// TCP settings of every Redis connection: Nagle off. The `redis` crate leaves
/// it on, so a command written while an earlier one is unacknowledged (a
/// pipeline following a publish) could wait for the peer's delayed ACK.
pub(crate) fn tcp() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// A single-node client with [`tcp`] settings.
pub(crate) fn single_client(url: &str) -> Result<redis::Client, chat_core::CacheError> {
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(unavailable)?
        .set_tcp_settings(tcp());
    redis::Client::open(info).map_err(unavailable)
}

/// A self-reconnecting connection to a single Redis or to a cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One Redis.
    Single(ConnectionManager),
    /// A Redis Cluster: commands are routed by key slot.
    Cluster(ClusterConnection),
}

/// Every command goes to the underlying connection: the cache code is written
/// once for both kinds (the cluster connection routes each command by key).
impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Connects to `cfg.url`: one URL is a single Redis, several (comma-separated)
    /// are the seed nodes of a cluster.
    pub(crate) async fn connect(cfg: &RedisConfig) -> Result<Conn, chat_core::CacheError> {
        let nodes = cfg.nodes();
        if nodes.len() > 1 || cfg.cluster {
            let client = ClusterClientBuilder::new(nodes)
                .tcp_settings(tcp())
                .build()
                .map_err(unavailable)?;
            Ok(Conn::Cluster(
                client.get_async_connection().await.map_err(unavailable)?,
            ))
        } else {
            let client = single_client(&nodes[0])?;
            Ok(Conn::Single(
                client.get_connection_manager().await.map_err(unavailable)?,
            ))
        }
    }

    /// Whether commands must stay within one slot (no MGET across keys).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }
}
