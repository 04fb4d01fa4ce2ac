# shellcheck shell=bash disable=SC2034  # settings used by the scripts that source this
# Shared settings and functions of deploy/local/{up,down,status,env,kafka-tool}.sh.
# Sourced, not run. Every setting can be overridden from the environment.
#
# Services (names accepted by up.sh / down.sh / status.sh):
#   kafka           Apache Kafka, KRaft mode, one combined broker+controller node
#   shard0 shard1   MariaDB servers, one per shard (one per port in CHAT_MYSQL_PORTS)
#   redis           Redis, no persistence
# Aliases: mysql (= all shards), all (= everything, the default).

# ---------------------------------------------------------------- settings --
CHAT_LOCAL_DIR="${CHAT_LOCAL_DIR:-${HOME:-/tmp}/.cache/chat-local}"
CHAT_LOCAL_WAIT_SECS="${CHAT_LOCAL_WAIT_SECS:-120}"   # max wait for a service to be ready
CHAT_LOCAL_STOP_SECS="${CHAT_LOCAL_STOP_SECS:-60}"    # max wait for a clean stop, then SIGKILL

CHAT_KAFKA_VERSION="${CHAT_KAFKA_VERSION:-4.1.2}"
CHAT_KAFKA_SCALA_VERSION="${CHAT_KAFKA_SCALA_VERSION:-2.13}"
CHAT_KAFKA_LOG4J_VERSION="${CHAT_KAFKA_LOG4J_VERSION:-2.25.3}"
CHAT_KAFKA_PORT="${CHAT_KAFKA_PORT:-9092}"
CHAT_KAFKA_CONTROLLER_PORT="${CHAT_KAFKA_CONTROLLER_PORT:-9093}"
CHAT_KAFKA_SASL_PORT="${CHAT_KAFKA_SASL_PORT:-9094}"            # SASL/SCRAM listener, ACLs enforced
CHAT_KAFKA_PARTITIONS="${CHAT_KAFKA_PARTITIONS:-8}"          # num.partitions (default for new topics)
CHAT_KAFKA_AUTO_CREATE_TOPICS="${CHAT_KAFKA_AUTO_CREATE_TOPICS:-false}"
CHAT_KAFKA_HEAP="${CHAT_KAFKA_HEAP:-512m}"

# One MariaDB server per port; shard i is named "shard$i".
CHAT_MYSQL_PORTS="${CHAT_MYSQL_PORTS:-3307 3308}"
CHAT_MYSQL_USER="${CHAT_MYSQL_USER:-chat}"
CHAT_MYSQL_PASSWORD="${CHAT_MYSQL_PASSWORD:-chat}"
CHAT_MYSQL_DATABASE="${CHAT_MYSQL_DATABASE:-chat}"
CHAT_MYSQL_BUFFER_POOL="${CHAT_MYSQL_BUFFER_POOL:-128M}"

CHAT_REDIS_PORT="${CHAT_REDIS_PORT:-6380}"
CHAT_REDIS_TLS_PORT="${CHAT_REDIS_TLS_PORT:-6381}"             # the same Redis over TLS

# ------------------------------------------------------------------ layout --
LOCAL_LOGS="$CHAT_LOCAL_DIR/logs"
LOCAL_RUN="$CHAT_LOCAL_DIR/run"
KAFKA_HOME="$CHAT_LOCAL_DIR/kafka"
KAFKA_LIB="$KAFKA_HOME/dist/$CHAT_KAFKA_VERSION/lib"     # downloaded jars, kept across resets
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_CONF="$KAFKA_HOME/server.properties"
KAFKA_LOG4J="$KAFKA_HOME/log4j2.properties"
MAVEN_REPO="$CHAT_LOCAL_DIR/maven-repo"
MYSQL_HOME="$CHAT_LOCAL_DIR/mysql"
REDIS_HOME="$CHAT_LOCAL_DIR/redis"
# A local CA and a certificate for 127.0.0.1/localhost it signed: the TLS of
# Kafka's SASL_SSL listener, the MariaDB shards and Redis's TLS port.
TLS_DIR="$CHAT_LOCAL_DIR/tls"

# ----------------------------------------------------------------- output --
# Progress goes to stderr, so that `eval "$(deploy/local/up.sh)"` only sees the exports.
log()  { printf '[local] %s\n' "$*" >&2; }
warn() { printf '[local] WARNING: %s\n' "$*" >&2; }
die()  { printf '[local] ERROR: %s\n' "$*" >&2; exit 1; }

# die_with_log FILE MESSAGE: fail, showing the tail of a log file.
die_with_log() {
  local file="$1"; shift
  printf '[local] ERROR: %s\n' "$*" >&2
  if [[ -f "$file" ]]; then
    printf '[local] ---- last 40 lines of %s ----\n' "$file" >&2
    tail -n 40 "$file" >&2 || true
    printf '[local] ---- end of %s ----\n' "$file" >&2
  fi
  exit 1
}

# ------------------------------------------------------------------ names --
mysql_shard_count() { local -a p; read -r -a p <<<"$CHAT_MYSQL_PORTS"; echo "${#p[@]}"; }
mysql_port() { local -a p; read -r -a p <<<"$CHAT_MYSQL_PORTS"; echo "${p[$1]}"; }
mysql_shards() { local i n; n=$(mysql_shard_count); for ((i = 0; i < n; i++)); do echo "shard$i"; done; }
all_services() { echo kafka; mysql_shards; echo redis; }

# expand_services ARGS...: service names from command-line words (default: all),
# each once, in the order given.
expand_services() { _expand_services "$@" | awk '!seen[$0]++'; }
# parse_services ARGS...: set the array SERVICES, or exit on an unknown name.
parse_services() { local out; out=$(expand_services "$@") || exit 1; mapfile -t SERVICES <<<"$out"; }
_expand_services() {
  local w
  if (($# == 0)); then all_services; return; fi
  for w in "$@"; do
    case "$w" in
      all) all_services ;;
      kafka|redis) echo "$w" ;;
      mysql|mariadb|shards) mysql_shards ;;
      shard[0-9]*)
        local i="${w#shard}"
        if ! [[ "$i" =~ ^[0-9]+$ ]] || ((i >= $(mysql_shard_count))); then
          die "unknown shard '$w' (CHAT_MYSQL_PORTS='$CHAT_MYSQL_PORTS')"
        fi
        echo "$w" ;;
      *) die "unknown service '$w' (known: kafka, shard0..shardN, mysql, redis, all)" ;;
    esac
  done
}

service_port() {
  case "$1" in
    kafka) echo "$CHAT_KAFKA_PORT" ;;
    redis) echo "$CHAT_REDIS_PORT" ;;
    shard*) mysql_port "${1#shard}" ;;
  esac
}

service_log() {
  case "$1" in
    kafka) echo "$LOCAL_LOGS/kafka.log" ;;
    redis) echo "$LOCAL_LOGS/redis.log" ;;
    shard*) echo "$LOCAL_LOGS/mysql-$1.log" ;;
  esac
}

service_pidfile() { echo "$LOCAL_RUN/$1.pid"; }

# A string that appears in the command line of our process of that service only,
# so that a pid recycled by another process is never taken for ours.
service_marker() {
  case "$1" in
    kafka) echo "$KAFKA_CONF" ;;
    redis) echo "127.0.0.1:$CHAT_REDIS_PORT" ;;
    shard*) echo "$MYSQL_HOME/$1/my.cnf" ;;
  esac
}

# ---------------------------------------------------------------- process --
# service_pid NAME: print the pid of our running process of NAME, or fail.
service_pid() {
  local name="$1" pidfile pid marker cmdline
  pidfile=$(service_pidfile "$name")
  marker=$(service_marker "$name")
  if [[ -s "$pidfile" ]]; then
    pid=$(tr -dc '0-9' <"$pidfile")
    if [[ -n "$pid" && -r "/proc/$pid/cmdline" ]]; then
      cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
      if [[ "$cmdline" == *"$marker"* && ( "$name" != redis || "$cmdline" == *redis-server* ) ]]; then
        echo "$pid"; return 0
      fi
    fi
  fi
  # Pid file lost or stale: look for a process with our own config path on its
  # command line (unique to this state directory). Not possible for redis, whose
  # process title hides its arguments; its pid file is written by redis itself.
  if [[ "$name" != redis ]]; then
    pid=$(pgrep -o -f -- "$marker" 2>/dev/null || true)
    if [[ -n "$pid" ]]; then echo "$pid" >"$pidfile"; echo "$pid"; return 0; fi
  fi
  return 1
}

is_running() { service_pid "$1" >/dev/null; }

# port_open PORT: something listens on TCP port PORT (on any address). Asks the
# kernel (ss) rather than connecting, so servers don't log aborted connections.
port_open() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# rotate_log FILE: keep the previous run's log as FILE.prev, start a fresh one.
rotate_log() { [[ -f "$1" ]] && mv -f "$1" "$1.prev"; : >"$1"; }

# stop_pid NAME PID: SIGTERM, wait for a clean exit, SIGKILL after CHAT_LOCAL_STOP_SECS.
stop_pid() {
  local name="$1" pid="$2" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < CHAT_LOCAL_STOP_SECS * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  warn "$name (pid $pid) did not stop within ${CHAT_LOCAL_STOP_SECS}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  die "$name (pid $pid) is still alive after SIGKILL"
}

# spawn LOGFILE CMD...: start CMD detached from this shell (own session, no
# inherited stdin/stdout/stderr, so callers capturing our output don't hang, and
# not the lock's fd 9, which would keep the lock held); prints its pid.
spawn() {
  local logfile="$1"; shift
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  echo $!
}

# ------------------------------------------------------------------- lock --
# One up/down at a time per state directory.
take_lock() {
  mkdir -p "$CHAT_LOCAL_DIR" "$LOCAL_LOGS" "$LOCAL_RUN"
  exec 9>"$CHAT_LOCAL_DIR/.lock"
  if ! flock -n 9; then
    log "another up/down is running on $CHAT_LOCAL_DIR; waiting for it"
    flock -w 600 9 || die "could not lock $CHAT_LOCAL_DIR/.lock within 600s"
  fi
}

# ------------------------------------------------------------- connection --
mysql_url() { echo "mysql://$CHAT_MYSQL_USER:$CHAT_MYSQL_PASSWORD@127.0.0.1:$(mysql_port "$1")/$CHAT_MYSQL_DATABASE"; }

mysql_shards_setting() {
  local i n out=""
  n=$(mysql_shard_count)
  for ((i = 0; i < n; i++)); do out+="${out:+,}shard$i=$(mysql_url "$i")"; done
  echo "$out"
}

print_env() {
  echo "export CHAT_KAFKA_BROKERS=127.0.0.1:$CHAT_KAFKA_PORT"
  echo "export CHAT_MYSQL_SHARDS='$(mysql_shards_setting)'"
  echo "export CHAT_REDIS_URL=redis://127.0.0.1:$CHAT_REDIS_PORT"
  # The same services behind TLS (and Kafka's SASL/ACL listener): where the
  # tests of service-to-service trust find them.
  echo "export CHAT_LOCAL_KAFKA_SASL_BROKERS=127.0.0.1:$CHAT_KAFKA_SASL_PORT"
  echo "export CHAT_LOCAL_REDIS_TLS_URL=rediss://127.0.0.1:$CHAT_REDIS_TLS_PORT"
  echo "export CHAT_LOCAL_TLS_CA=$TLS_DIR/ca.pem"
}

# --------------------------------------------------------------- binaries --
find_bin() {
  local b
  for b in "$@"; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
    if [[ -x "/usr/sbin/$b" ]]; then echo "/usr/sbin/$b"; return 0; fi
    if [[ -x "/usr/bin/$b" ]]; then echo "/usr/bin/$b"; return 0; fi
  done
  return 1
}

mysqld_bin() { find_bin mariadbd mysqld; }
mysql_client_bin() { find_bin mariadb mysql; }
mysql_install_db_bin() { find_bin mariadb-install-db mysql_install_db; }

# tls_certs: creates the local CA and the server certificate once (kept across
# restarts and purges; delete $TLS_DIR for new ones).
tls_certs() {
  [[ -s "$TLS_DIR/server-bundle.pem" ]] && return 0
  command -v openssl >/dev/null 2>&1 || die "tls: openssl not found (apt-get install openssl)"
  local tmp="$TLS_DIR.tmp" out
  rm -rf "$tmp"; mkdir -p "$tmp"
  if ! out=$(
    set -e
    cd "$tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=chat local CA" \
      -keyout ca.key -out ca.pem 2>&1
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
      -keyout server.key -out server.csr 2>&1
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -extfile server.ext -out server.pem 2>&1
    cat server.key server.pem >server-bundle.pem
    chmod 600 ca.key server.key server-bundle.pem
  ); then
    printf '%s\n' "$out" >&2
    rm -rf "$tmp"
    die "tls: could not create the local certificates"
  fi
  rm -rf "$TLS_DIR"; mv "$tmp" "$TLS_DIR"
  log "tls: a local CA ($TLS_DIR/ca.pem) and a certificate for 127.0.0.1"
}

# kafka_classpath: the jars fetched by up.sh, as a java -cp argument.
kafka_classpath() { echo "$KAFKA_LIB/*"; }

# kafka_java [JAVA-OPTIONS...] CLASS ARGS...: run a class from the Kafka jars
# (tool-sized heap, quiet logging); killed after KAFKA_TOOL_TIMEOUT seconds if set.
kafka_java() {
  local -a pre=()
  [[ -n "${KAFKA_TOOL_TIMEOUT:-}" ]] && pre=(timeout "$KAFKA_TOOL_TIMEOUT")
  "${pre[@]}" java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2-tools.properties" \
    -cp "$(kafka_classpath)" "$@"
}
