#!/usr/bin/env bash
# Install (when missing) and start the local services of the distributed mode:
# Kafka (KRaft), one MariaDB server per shard, Redis; all on 127.0.0.1, no Docker.
# Idempotent: what already runs is left alone. Waits until every service answers,
# then prints the connection settings as `export` lines on stdout (progress goes
# to stderr), so `eval "$(deploy/local/up.sh)"` sets them in the calling shell.
#
#   up.sh [SERVICE...]     SERVICE: kafka shard0 shard1 mysql redis all (default: all)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

T0=$SECONDS
parse_services "$@"
wants() { local s; for s in "${SERVICES[@]}"; do [[ "$s" == "$1" || ( "$1" == mysql && "$s" == shard* ) ]] && return 0; done; return 1; }

take_lock

# ---------------------------------------------------------------- packages --
as_root() {
  if ((EUID == 0)); then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"; fi
}

install_packages() {
  local -a pkgs=()
  if wants kafka; then
    command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
    if [[ ! -f "$KAFKA_LIB/.complete" ]] && ! command -v mvn >/dev/null 2>&1; then pkgs+=(maven); fi
  fi
  if wants mysql; then
    { mysqld_bin && mysql_install_db_bin; } >/dev/null || pkgs+=(mariadb-server)
    mysql_client_bin >/dev/null || pkgs+=(mariadb-client)
  fi
  if wants redis; then
    find_bin redis-server >/dev/null || pkgs+=(redis-server)
    find_bin redis-cli >/dev/null || pkgs+=(redis-tools)
  fi
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  ((${#pkgs[@]})) || return 0

  local apt_log="$LOCAL_LOGS/apt.log" policy=/usr/sbin/policy-rc.d made_policy=0
  log "installing Debian packages: ${pkgs[*]} (log: $apt_log)"
  # Debian's maintainer scripts would start system-wide mariadb/redis services
  # (port 3306/6379); a policy-rc.d that answers 101 keeps them from starting.
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    made_policy=1
  fi
  local rc=0
  {
    as_root apt-get -o DPkg::Lock::Timeout=600 update &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
        --no-install-recommends "${pkgs[@]}"
  } >>"$apt_log" 2>&1 || rc=$?
  if ((made_policy)); then as_root rm -f "$policy"; fi
  ((rc == 0)) || die_with_log "$apt_log" "apt-get install ${pkgs[*]} failed (exit $rc)"
}

# ------------------------------------------------------------------- kafka --
kafka_fetch() {
  [[ -f "$KAFKA_LIB/.complete" ]] && return 0
  local dist="$KAFKA_HOME/dist/$CHAT_KAFKA_VERSION" mvn_log="$LOCAL_LOGS/kafka-fetch.log"
  mkdir -p "$dist"
  log "kafka: fetching Apache Kafka $CHAT_KAFKA_VERSION jars from Maven Central (log: $mvn_log)"
  # The broker (kafka_2.13: kafka.Kafka, kafka.tools.StorageTool) and the CLI
  # tools (kafka-tools: TopicCommand, console producer/consumer, ...). Kafka
  # Connect, which kafka-tools drags in, is not needed and left out. Kafka logs
  # through slf4j 1.x; log4j-slf4j-impl routes that to log4j2 as Kafka's own
  # distribution does.
  cat >"$dist/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.chat</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$CHAT_KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$CHAT_KAFKA_SCALA_VERSION</artifactId>
      <version>$CHAT_KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$CHAT_KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-api</artifactId></exclusion>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-json</artifactId></exclusion>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-transforms</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$CHAT_KAFKA_LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$CHAT_KAFKA_LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$KAFKA_LIB.tmp"
  if ! (cd "$dist" && mvn -B -ntp -Dmaven.repo.local="$MAVEN_REPO" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB.tmp") >"$mvn_log" 2>&1; then
    rm -rf "$KAFKA_LIB.tmp"
    die_with_log "$mvn_log" "kafka: could not fetch the Kafka $CHAT_KAFKA_VERSION jars"
  fi
  [[ -f "$KAFKA_LIB.tmp/kafka_$CHAT_KAFKA_SCALA_VERSION-$CHAT_KAFKA_VERSION.jar" ]] ||
    die_with_log "$mvn_log" "kafka: kafka_$CHAT_KAFKA_SCALA_VERSION-$CHAT_KAFKA_VERSION.jar missing after the fetch"
  rm -rf "$KAFKA_LIB"
  mv "$KAFKA_LIB.tmp" "$KAFKA_LIB"
  touch "$KAFKA_LIB/.complete"
  rm -rf "$MAVEN_REPO"   # everything needed is in $KAFKA_LIB now
  log "kafka: $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars in $KAFKA_LIB"
}

kafka_write_config() {
  mkdir -p "$KAFKA_HOME" "$KAFKA_DATA"
  cat >"$KAFKA_CONF" <<EOF
# Generated by deploy/local/up.sh on every start; edit the CHAT_KAFKA_* settings instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CHAT_KAFKA_CONTROLLER_PORT
# Two client listeners: PLAINTEXT for development and the tests (its clients are
# the ANONYMOUS super user), and SASL_SSL (SCRAM over TLS, the local CA's
# certificate) where the ACLs hold (users and ACLs: deploy/local/kafka-sasl.sh).
listeners=PLAINTEXT://127.0.0.1:$CHAT_KAFKA_PORT,SASL_SSL://127.0.0.1:$CHAT_KAFKA_SASL_PORT,CONTROLLER://127.0.0.1:$CHAT_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$CHAT_KAFKA_PORT,SASL_SSL://127.0.0.1:$CHAT_KAFKA_SASL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/server-bundle.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=$KAFKA_DATA
num.partitions=$CHAT_KAFKA_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=$CHAT_KAFKA_AUTO_CREATE_TOPICS
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
  # Broker log (stdout, redirected to logs/kafka.log by spawn).
  cat >"$KAFKA_LOG4J" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
EOF
  # CLI tools: warnings only, on stderr.
  cat >"$KAFKA_HOME/log4j2-tools.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}

kafka_start() {
  local logf pid fmt_log="$LOCAL_LOGS/kafka-format.log" p
  logf=$(service_log kafka)
  for p in "$CHAT_KAFKA_PORT" "$CHAT_KAFKA_CONTROLLER_PORT" "$CHAT_KAFKA_SASL_PORT"; do
    port_open "$p" && die "kafka: port 127.0.0.1:$p is taken by a process that is not ours (set CHAT_KAFKA_PORT / CHAT_KAFKA_CONTROLLER_PORT / CHAT_KAFKA_SASL_PORT)"
  done
  command -v java >/dev/null 2>&1 || die "kafka: java not found"
  kafka_write_config
  if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
    local cluster_id_file="$KAFKA_HOME/cluster-id" cid
    if [[ ! -s "$cluster_id_file" ]]; then
      # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (22 chars).
      head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$cluster_id_file"
    fi
    cid=$(cat "$cluster_id_file")
    log "kafka: formatting the KRaft storage in $KAFKA_DATA (cluster id $cid)"
    kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$cid" -c "$KAFKA_CONF" >"$fmt_log" 2>&1 ||
      die_with_log "$fmt_log" "kafka: kafka-storage format failed"
  fi
  rotate_log "$logf"
  pid=$(spawn "$logf" java -Xms256m -Xmx"$CHAT_KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true -Dkafka.logs.dir="$LOCAL_LOGS" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
    -cp "$(kafka_classpath)" kafka.Kafka "$KAFKA_CONF")
  echo "$pid" >"$(service_pidfile kafka)"
  log "kafka: started Kafka $CHAT_KAFKA_VERSION (pid $pid) on 127.0.0.1:$CHAT_KAFKA_PORT, SASL/SCRAM on $CHAT_KAFKA_SASL_PORT, controller 127.0.0.1:$CHAT_KAFKA_CONTROLLER_PORT (log: $logf)"
}

# kafka_wait FRESH DEADLINE: wait for the broker port and its "started" line;
# after a fresh start, also ask the broker for its topic list (a metadata round trip).
kafka_wait() {
  local fresh="$1" deadline="$2" logf out
  logf=$(service_log kafka)
  while :; do
    is_running kafka || die_with_log "$logf" "kafka: the broker exited during start-up"
    if port_open "$CHAT_KAFKA_PORT" && grep -q "Kafka Server started" "$logf" 2>/dev/null; then break; fi
    # A broker started before its log was removed: the port alone has to do.
    if port_open "$CHAT_KAFKA_PORT" && [[ "$fresh" == 0 && ! -s "$logf" ]]; then fresh=1; break; fi
    ((SECONDS < deadline)) || die_with_log "$logf" "kafka: not ready within ${CHAT_LOCAL_WAIT_SECS}s"
    sleep 0.5
  done
  if [[ "$fresh" == 1 ]]; then
    local left=$((deadline - SECONDS)); ((left > 10)) || left=10
    if ! out=$(KAFKA_TOOL_TIMEOUT="$left" kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$CHAT_KAFKA_PORT" --list 2>&1); then
      printf '%s\n' "$out" >&2
      die_with_log "$logf" "kafka: the broker does not answer a topic listing"
    fi
  fi
  log "kafka: ready on 127.0.0.1:$CHAT_KAFKA_PORT"
}

# ----------------------------------------------------------------- mariadb --
sql_str() { printf "'%s'" "${1//\'/\'\'}"; }

shard_write_config() {
  local shard="$1" port="$2" dir="$MYSQL_HOME/$1" sock="$LOCAL_RUN/$1.sock" u p db
  mkdir -p "$dir/data" "$dir/tmp"
  ((${#sock} < 100)) || die "$shard: socket path too long for a unix socket: $sock (use a shorter CHAT_LOCAL_DIR)"
  cat >"$dir/my.cnf" <<EOF
# Generated by deploy/local/up.sh on every start; edit the CHAT_MYSQL_* settings instead.
[mysqld]
user                       = $(id -un)
datadir                    = $dir/data
tmpdir                     = $dir/tmp
port                       = $port
socket                     = $sock
pid-file                   = $(service_pidfile "$shard")
bind-address               = 127.0.0.1
log-error                  = $(service_log "$shard")
character-set-server       = utf8mb4
collation-server           = utf8mb4_unicode_ci
skip-name-resolve
max_connections            = 300
innodb_buffer_pool_size    = $CHAT_MYSQL_BUFFER_POOL
innodb_log_file_size       = 64M
# Message search (FULLTEXT): index two-letter words, and every word (no
# English stopword list hiding "about" or "will").
innodb_ft_min_token_size   = 2
innodb_ft_enable_stopword  = OFF
performance_schema         = OFF
# TLS offered (clients choose: sqlx uses it when offered, unless ssl-mode=disabled).
ssl_cert                   = $TLS_DIR/server.pem
ssl_key                    = $TLS_DIR/server.key
ssl_ca                     = $TLS_DIR/ca.pem

[client]
port                       = $port
socket                     = $sock
EOF
  u=$(sql_str "$CHAT_MYSQL_USER"); p=$(sql_str "$CHAT_MYSQL_PASSWORD")
  db=${CHAT_MYSQL_DATABASE//\`/\`\`}
  # Run by the server at every start (--init-file): idempotent.
  cat >"$dir/init.sql" <<EOF
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS $u@'127.0.0.1' IDENTIFIED BY $p;
CREATE USER IF NOT EXISTS $u@'localhost' IDENTIFIED BY $p;
ALTER USER $u@'127.0.0.1' IDENTIFIED BY $p;
ALTER USER $u@'localhost' IDENTIFIED BY $p;
GRANT ALL PRIVILEGES ON *.* TO $u@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO $u@'localhost' WITH GRANT OPTION;
EOF
}

shard_start() {
  local shard="$1" port dir logf pid bin install_log
  port=$(service_port "$shard"); dir="$MYSQL_HOME/$shard"; logf=$(service_log "$shard")
  install_log="$LOCAL_LOGS/mysql-$shard-install.log"
  port_open "$port" && die "$shard: port 127.0.0.1:$port is taken by a process that is not ours (set CHAT_MYSQL_PORTS)"
  bin=$(mysqld_bin) || die "$shard: mariadbd not found"
  shard_write_config "$shard" "$port"
  if [[ ! -d "$dir/data/mysql" ]]; then
    log "$shard: initialising a data directory in $dir/data (log: $install_log)"
    rm -rf "$dir/data"; mkdir -p "$dir/data"
    if ! "$(mysql_install_db_bin)" --defaults-file="$dir/my.cnf" --skip-test-db \
         --auth-root-authentication-method=socket >"$install_log" 2>&1; then
      rm -rf "$dir/data"
      die_with_log "$install_log" "$shard: mariadb-install-db failed"
    fi
  fi
  rotate_log "$logf"
  pid=$(spawn "$logf" "$bin" --defaults-file="$dir/my.cnf" --init-file="$dir/init.sql")
  echo "$pid" >"$(service_pidfile "$shard")"
  log "$shard: started MariaDB (pid $pid) on 127.0.0.1:$port (log: $logf)"
}

shard_query() {
  local port="$1"; shift
  MYSQL_PWD="$CHAT_MYSQL_PASSWORD" "$(mysql_client_bin)" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" \
    -u "$CHAT_MYSQL_USER" --connect-timeout=5 -N -B "$@"
}

shard_wait() {
  local shard="$1" deadline="$2" port logf
  port=$(service_port "$shard"); logf=$(service_log "$shard")
  while :; do
    is_running "$shard" || die_with_log "$logf" "$shard: MariaDB exited during start-up"
    if [[ "$(shard_query "$port" -e 'SELECT 1' "$CHAT_MYSQL_DATABASE" 2>/dev/null)" == 1 ]]; then break; fi
    ((SECONDS < deadline)) || die_with_log "$logf" "$shard: no answer to SELECT 1 as $CHAT_MYSQL_USER within ${CHAT_LOCAL_WAIT_SECS}s"
    sleep 0.5
  done
  log "$shard: ready on 127.0.0.1:$port (database $CHAT_MYSQL_DATABASE, user $CHAT_MYSQL_USER)"
}

# ------------------------------------------------------------------- redis --
redis_start() {
  local logf conf="$REDIS_HOME/redis.conf" out
  logf=$(service_log redis)
  port_open "$CHAT_REDIS_PORT" && die "redis: port 127.0.0.1:$CHAT_REDIS_PORT is taken by a process that is not ours (set CHAT_REDIS_PORT)"
  mkdir -p "$REDIS_HOME"
  cat >"$conf" <<EOF
# Generated by deploy/local/up.sh on every start; edit the CHAT_REDIS_* settings instead.
bind 127.0.0.1
port $CHAT_REDIS_PORT
protected-mode yes
daemonize yes
pidfile "$(service_pidfile redis)"
logfile "$logf"
dir "$REDIS_HOME"
save ""
appendonly no
# The same server over TLS (the local CA's certificate), no client certificates.
tls-port $CHAT_REDIS_TLS_PORT
tls-cert-file "$TLS_DIR/server.pem"
tls-key-file "$TLS_DIR/server.key"
tls-ca-cert-file "$TLS_DIR/ca.pem"
tls-auth-clients no
EOF
  rotate_log "$logf"
  rm -f "$(service_pidfile redis)"
  # Daemonizes itself and writes its pid file.
  out=$(setsid "$(find_bin redis-server)" "$conf" </dev/null 2>&1 9>&-) || { printf '%s\n' "$out" >&2; die_with_log "$logf" "redis: redis-server failed to start"; }
  log "redis: started Redis on 127.0.0.1:$CHAT_REDIS_PORT (log: $logf)"
}

redis_wait() {
  local deadline="$1" logf cli
  logf=$(service_log redis); cli=$(find_bin redis-cli)
  while :; do
    if [[ "$("$cli" -h 127.0.0.1 -p "$CHAT_REDIS_PORT" ping 2>/dev/null)" == PONG ]] && is_running redis; then break; fi
    ((SECONDS < deadline)) || die_with_log "$logf" "redis: no PONG within ${CHAT_LOCAL_WAIT_SECS}s"
    sleep 0.2
  done
  log "redis: ready on 127.0.0.1:$CHAT_REDIS_PORT"
}

# -------------------------------------------------------------------- main --
install_packages
if wants kafka; then kafka_fetch; fi
tls_certs

declare -A FRESH=()
for s in "${SERVICES[@]}"; do
  if pid=$(service_pid "$s"); then
    log "$s: already running (pid $pid)"
    FRESH[$s]=0
    continue
  fi
  case "$s" in
    kafka) kafka_start ;;
    shard*) shard_start "$s" ;;
    redis) redis_start ;;
  esac
  FRESH[$s]=1
done

DEADLINE=$((SECONDS + CHAT_LOCAL_WAIT_SECS))
for s in "${SERVICES[@]}"; do
  case "$s" in
    kafka) kafka_wait "${FRESH[$s]}" "$DEADLINE" ;;
    shard*) shard_wait "$s" "$DEADLINE" ;;
    redis) redis_wait "$DEADLINE" ;;
  esac
done

log "ready after $((SECONDS - T0))s; state in $CHAT_LOCAL_DIR, logs in $LOCAL_LOGS"
print_env
