//! Service-to-service trust (docs/security.md, "Between the services"): the
//! roles reach Kafka over TLS with SASL/SCRAM, one user per role, and the
//! broker's ACLs let each do only its part — only gateways produce commands,
//! only writers produce events; the shards and Redis over TLS with the
//! server's certificate verified. Against the local broker's SASL_SSL
//! listener, the shards and Redis's TLS port (deploy/local).

#![cfg(feature = "distributed")]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use chat_core::ports::Log;
use chat_kafka::{KafkaConfig, KafkaLog, KafkaSecurity};
use common::cluster::Cluster;
use common::*;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} must be set: run `eval \"$(deploy/local/up.sh)\"` first")
    })
}

/// Runs deploy/local/kafka-sasl.sh with `args`.
fn kafka_sasl(args: &[&str]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("deploy/local/kafka-sasl.sh"))
        .args(args)
        .output()
        .expect("run deploy/local/kafka-sasl.sh");
    assert!(
        out.status.success(),
        "kafka-sasl.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SASL users deploy/local/kafka-sasl.sh creates.
const GATEWAY: (&str, &str) = ("chat-gateway", "gateway-secret");
const WRITER: (&str, &str) = ("chat-writer", "writer-secret");
const FANOUT: (&str, &str) = ("chat-fanout", "fanout-secret");

/// A client of the SASL_SSL listener as `user`.
fn as_user((user, password): (&str, &str)) -> KafkaConfig {
    let mut c = KafkaConfig::new(var("CHAT_LOCAL_KAFKA_SASL_BROKERS"));
    c.security = KafkaSecurity {
        protocol: Some("sasl_ssl".into()),
        sasl_mechanism: Some("SCRAM-SHA-512".into()),
        sasl_username: Some(user.into()),
        sasl_password: Some(password.into()),
        ssl_ca_location: Some(var("CHAT_LOCAL_TLS_CA")),
    };
    c.produce_timeout = Duration::from_secs(5);
    c.client_id = user.into();
    c
}

async fn connect(c: KafkaConfig) -> KafkaLog {
    KafkaLog::connect(c, &[]).await.expect("connect")
}

/// Whether a produce to `topic` is accepted.
async fn produces(log: &KafkaLog, topic: &str) -> bool {
    log.produce(topic, 7, Bytes::from_static(b"{}"))
        .await
        .is_ok()
}

/// Reads records from `topic` in `group` until one comes (or 20 s pass).
async fn reads(log: &KafkaLog, topic: &str, group: &str) -> Result<usize, String> {
    let mut c = log
        .consumer(topic, group)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        match c.poll(10, Duration::from_millis(500)).await {
            Ok(r) if !r.is_empty() => return Ok(r.len()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_acls_let_each_role_do_only_its_part() {
    let run = format!(
        "acl.{}x{}",
        std::process::id(),
        chat_core::now_ms() % 100_000_000
    );
    let (commands, events) = (format!("{run}.commands"), format!("{run}.events"));
    let (dead_commands, dead_events) = (format!("{commands}.dead"), format!("{events}.dead"));
    kafka_sasl(&["users"]);
    kafka_sasl(&["grant", &commands, &events]);
    // The operator (the plaintext listener's super user) creates the topics.
    let admin = KafkaLog::connect(
        KafkaConfig::new(var("CHAT_KAFKA_BROKERS")),
        &[&commands, &events, &dead_commands, &dead_events],
    )
    .await
    .expect("admin");

    let gateway = connect(as_user(GATEWAY)).await;
    let writer = connect(as_user(WRITER)).await;
    let fanout = connect(as_user(FANOUT)).await;
    // Who may produce where: a row per role, a column per topic.
    let mut table = Vec::new();
    for (name, log) in [
        ("gateway", &gateway),
        ("writer", &writer),
        ("fanout", &fanout),
    ] {
        let mut row = vec![name.to_string()];
        for t in [&commands, &events, &dead_commands, &dead_events] {
            row.push(if produces(log, t).await { "yes" } else { "no" }.into());
        }
        table.push(row.join(" "));
    }
    assert_eq!(
        table,
        [
            "gateway yes no no no",
            "writer no yes yes no",
            "fanout no no no yes",
        ],
        "produce to: commands, events, commands.dead, events.dead"
    );
    // Who may consume what, in its own groups.
    assert_eq!(
        reads(&writer, &commands, &format!("writer.{commands}")).await,
        Ok(1)
    );
    assert_eq!(
        reads(&fanout, &events, &format!("fanout.{events}")).await,
        Ok(1)
    );
    assert!(
        !matches!(reads(&fanout, &commands, &format!("fanout.{commands}")).await, Ok(n) if n > 0),
        "fanout reads no commands"
    );
    assert!(
        !matches!(reads(&gateway, &events, &format!("writer.{events}")).await, Ok(n) if n > 0),
        "a gateway reads no events"
    );
    // A wrong password gets nothing through.
    let intruder = connect(as_user(("chat-gateway", "not-the-password"))).await;
    assert!(!produces(&intruder, &commands).await);
    admin
        .delete_topics(&[&commands, &events, &dead_commands, &dead_events])
        .await
        .expect("delete the topics");
}

/// The whole chat with every connection protected: Kafka over SASL_SSL with
/// a user per role under the ACLs, the shards over TLS with the server's
/// certificate verified, Redis over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_runs_with_every_connection_over_tls_and_kafka_acls() {
    let mut cl = Cluster::new();
    let events = format!("it.{}.events", cl.run);
    kafka_sasl(&["users"]);
    kafka_sasl(&["grant", &cl.commands_topic, &events]);
    let ca = var("CHAT_LOCAL_TLS_CA");
    let shards: Vec<String> = cl
        .mysql_shards
        .split(',')
        .map(|s| format!("{s}?ssl-mode=verify_identity&ssl-ca={ca}"))
        .collect();
    let common = [
        ("CHAT_KAFKA_BROKERS", var("CHAT_LOCAL_KAFKA_SASL_BROKERS")),
        ("CHAT_KAFKA_SECURITY_PROTOCOL", "sasl_ssl".into()),
        ("CHAT_KAFKA_SSL_CA", ca.clone()),
        ("CHAT_MYSQL_SHARDS", shards.join(",")),
        ("CHAT_REDIS_URL", var("CHAT_LOCAL_REDIS_TLS_URL")),
        // Redis's certificate is checked against the system's store or this.
        ("SSL_CERT_FILE", ca.clone()),
    ];
    for (k, v) in &common {
        cl.env.retain(|(key, _)| key != k);
        cl.env.push((k.to_string(), v.clone()));
    }
    // Each role as its own Kafka user.
    let spawn = |cl: &mut Cluster, role: &str, name: &str, (user, password): (&str, &str)| {
        cl.spawn_with(
            role,
            name,
            &[
                ("CHAT_KAFKA_SASL_USERNAME", user),
                ("CHAT_KAFKA_SASL_PASSWORD", password),
            ],
        )
    };
    // Each creates the topics it produces to (the ACLs allow no more), so
    // the producers of a topic start before its consumers.
    let gw = format!("http://{}", spawn(&mut cl, "gateway", "gw-0", GATEWAY));
    spawn(&mut cl, "writer", "writer-0", WRITER);
    spawn(&mut cl, "fanout", "fanout-0", FANOUT);
    let api = Api::new(&gw).with_timeout(Duration::from_secs(30));
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let chat = alice.group("over tls", &[&bob]).await;
    let mut ws = bob.ws().await;
    ws.subscribe(&chat, None).await;
    let sent = alice.send(&chat, "k1", "protected").await.created();
    let got = ws.next_message().await.message;
    assert_eq!(
        (got.seq, got.text.as_str()),
        (sent.message.seq, "protected")
    );
    assert_eq!(bob.history_forward(&chat, 10).await.len(), 1);
    cl.cleanup().await;
}
