#!/usr/bin/env bash
# The search benchmark of this report (issue 15): a user in 1,000 chats, 1M
# messages in the store, search p50/p99 in standalone (SQLite FTS5) and
# distributed (MariaDB FULLTEXT on two shards) mode. Every step can be run
# alone; with no argument all run in order:
#
#   build               release build of chat (distributed roles) and loadtest
#   data                loadtest search-data → $WORK/set.jsonl (+ .meta.json)
#   import-standalone   chat import into $WORK/sa-data (timed)
#   services            MariaDB ×2, Redis, Kafka of deploy/local, in an instance
#                       of their own (CHAT_LOCAL_DIR, ports below), started
#                       unless running
#   import-distributed  chat import into the two shards (timed)
#   standalone          chat standalone on $WORK/sa-data, loadtest search runs:
#                       the whole mix at each CONCURRENCY, REPEATS times, then
#                       (KIND_RUNS=1) each kind alone at concurrency 1 for
#                       KIND_DURATION s, REPEATS times (more samples per kind
#                       than the mix gives where a slow kind dominates it)
#   distributed         writer, fanout, gateway on the shards, the same runs
#   plans               query plans and timings of the store queries
#                       (plans-sqlite, plans-mariadb)
#   fts5-chat-token     on a copy of chat.db: the in-chat queries against an
#                       FTS5 table that indexes the chat id as a token
#   sizes               database sizes
#   table               the results as a markdown table
#   stop                stops the services if the `services` step started them,
#                       and deletes their data (a few GB; an import recreates it)
#
# Settings (environment): WORK, CARGO_TARGET_DIR, SEED, MESSAGES, DURATION,
# WARMUP, CONCURRENCY (list), REPEATS, BUFFER_POOL (MariaDB). The big files
# (the export, the databases, the logs) stay under $WORK, outside the repo;
# results/ and plans/ here get the JSON results and the plans.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
WORK=${WORK:-$HOME/.cache/chat-search-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/chat-target-bench-search}
BIN=$CARGO_TARGET_DIR/release
SEED=${SEED:-1}
MESSAGES=${MESSAGES:-1000000}
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-10}
CONCURRENCY=${CONCURRENCY:-"1 4"}
REPEATS=${REPEATS:-2}
KIND_RUNS=${KIND_RUNS:-1}
KIND_DURATION=${KIND_DURATION:-30}
KINDS="top common rare prefix phrase russian none"
# The source tree to build (this report's runs: a clean `git archive` of the
# commit named in notes.md with this loadtest/, as the working tree was being
# edited meanwhile).
SRC=${SRC:-$ROOT}
RESULTS=$HERE/results
PLANS=$HERE/plans

# A deploy/local instance of our own: other ports and state directory than
# the default one, so tests running on the default services neither disturb
# nor get disturbed (and its MariaDB buffer pool holds both shards' data).
export CHAT_LOCAL_DIR=${CHAT_LOCAL_DIR:-$HOME/.cache/chat-local-search}
export CHAT_KAFKA_PORT=9192 CHAT_KAFKA_CONTROLLER_PORT=9193 CHAT_KAFKA_SASL_PORT=9194
export CHAT_MYSQL_PORTS="3317 3318" CHAT_REDIS_PORT=6390 CHAT_REDIS_TLS_PORT=6391
export CHAT_MYSQL_BUFFER_POOL=${BUFFER_POOL:-1G}
SA_PORT=18481
GW_PORT=18482
export CHAT_RATE_LIMITS=off RUST_LOG=${RUST_LOG:-warn}

log() { printf '\n==> %s\n' "$*" >&2; }
mkdir -p "$WORK" "$RESULTS" "$PLANS"
cd "$ROOT"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT

# wait_url URL: until it answers (at most 60 s).
wait_url() {
  local i
  for ((i = 0; i < 600; i++)); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 did not answer" >&2
  exit 1
}

env_lines() { bash deploy/local/env.sh; }

step_build() {
  log "release build of $SRC into $CARGO_TARGET_DIR"
  (cd "$SRC" && cargo build --release -p chat -p loadtest --features chat/distributed)
}

step_data() {
  log "generating the data set (seed $SEED, $MESSAGES messages)"
  "$BIN/loadtest" search-data --output "$WORK/set.jsonl" --seed "$SEED" --messages "$MESSAGES" \
    2>&1 | tee "$RESULTS/search-data.txt"
}

step_import_standalone() {
  log "importing into $WORK/sa-data"
  rm -rf "$WORK/sa-data"
  uptime | tee "$RESULTS/import-standalone.txt"
  /usr/bin/time -f 'wall %e s, user %U s, sys %S s, max RSS %M KB' \
    "$BIN/chat" import "$WORK/set.jsonl" --data-dir "$WORK/sa-data" 2>&1 |
    grep -v -e '^imported [0-9]* rows…' -e ' WARN' | tee -a "$RESULTS/import-standalone.txt"
}

step_services() {
  if deploy/local/status.sh >/dev/null 2>&1; then
    log "services of $CHAT_LOCAL_DIR already running"
  else
    log "starting the services of $CHAT_LOCAL_DIR"
    # The Kafka jars of the default instance, if it has them (no download).
    if [[ -d $HOME/.cache/chat-local/kafka/dist && ! -e $CHAT_LOCAL_DIR/kafka/dist ]]; then
      mkdir -p "$CHAT_LOCAL_DIR/kafka"
      ln -s "$HOME/.cache/chat-local/kafka/dist" "$CHAT_LOCAL_DIR/kafka/dist"
    fi
    deploy/local/up.sh >/dev/null
    touch "$CHAT_LOCAL_DIR/.started-by-search-bench"
  fi
}

step_import_distributed() {
  eval "$(env_lines)"
  log "importing into the shards ($CHAT_MYSQL_SHARDS)"
  local s url
  IFS=',' read -ra parts <<<"$CHAT_MYSQL_SHARDS"
  for s in "${parts[@]}"; do
    url=${s#*=}
    port=${url##*:}; port=${port%%/*}
    mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" -u chat -pchat \
      -e 'DROP DATABASE IF EXISTS chat; CREATE DATABASE chat'
  done
  uptime | tee "$RESULTS/import-distributed.txt"
  /usr/bin/time -f 'wall %e s, user %U s, sys %S s, max RSS %M KB' \
    "$BIN/chat" import "$WORK/set.jsonl" 2>&1 |
    grep -v -e '^imported [0-9]* rows…' -e '^importing into' -e '^copying' -e ' WARN' |
    tee -a "$RESULTS/import-distributed.txt"
}

# bench MODE URL: the loadtest search runs against URL (BENCH=mix or kinds
# does only those).
bench() {
  local mode=$1 url=$2 c r out
  [[ ${BENCH:-} == kinds ]] && KIND_RUNS=1
  [[ ${BENCH:-} == mix ]] && KIND_RUNS=0
  [[ ${BENCH:-} == kinds ]] || for r in $(seq 1 "$REPEATS"); do
    for c in $CONCURRENCY; do
      out=$RESULTS/$mode-c$c-r$r
      log "$mode: concurrency $c, run $r"
      { echo "before: $(uptime)"; } >"$out.txt"
      "$BIN/loadtest" search --gateway "$url" --meta "$WORK/set.jsonl.meta.json" \
        --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --seed "$r" \
        --label "$mode c$c r$r" --json "$out.json" 2>"$WORK/$mode-c$c-r$r.progress" |
        tee -a "$out.txt" || true
      { echo "after: $(uptime)"; } >>"$out.txt"
    done
  done
  ((KIND_RUNS)) || return 0
  local k
  for r in $(seq 1 "$REPEATS"); do
    for k in $KINDS; do
      out=$RESULTS/kinds/$mode-$k-r$r
      mkdir -p "$RESULTS/kinds"
      log "$mode: $k alone, run $r"
      { echo "before: $(uptime)"; } >"$out.txt"
      "$BIN/loadtest" search --gateway "$url" --meta "$WORK/set.jsonl.meta.json" --kind "$k" \
        --concurrency 1 --duration "$KIND_DURATION" --warmup 3 --seed "$r" \
        --label "$mode $k r$r" --json "$out.json" 2>"$WORK/$mode-$k-r$r.progress" |
        tee -a "$out.txt" || true
      { echo "after: $(uptime)"; } >>"$out.txt"
    done
  done
}

step_standalone() {
  log "chat standalone on $WORK/sa-data"
  "$BIN/chat" standalone --listen "127.0.0.1:$SA_PORT" --data-dir "$WORK/sa-data" \
    >"$WORK/standalone.out" 2>"$WORK/standalone.log" &
  PIDS+=($!)
  wait_url "http://127.0.0.1:$SA_PORT/readyz"
  bench standalone "http://127.0.0.1:$SA_PORT"
  cleanup
}

step_distributed() {
  eval "$(env_lines)"
  local run=sb
  export CHAT_KAFKA_BROKERS CHAT_MYSQL_SHARDS CHAT_REDIS_URL
  export CHAT_COMMANDS_TOPIC=$run.commands CHAT_EVENTS_TOPIC=$run.events CHAT_REDIS_PREFIX=$run:
  export CHAT_JWT_SECRET=search-bench-secret-search-bench-secret
  log "writer, fanout and a gateway on $CHAT_MYSQL_SHARDS"
  "$BIN/chat" writer --group "$run-writer" >"$WORK/writer.out" 2>"$WORK/writer.log" &
  PIDS+=($!)
  "$BIN/chat" fanout --group "$run-fanout" >"$WORK/fanout.out" 2>"$WORK/fanout.log" &
  PIDS+=($!)
  "$BIN/chat" gateway --listen "127.0.0.1:$GW_PORT" --node-id 1 --instance-id "$run-gw1" \
    >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
  PIDS+=($!)
  wait_url "http://127.0.0.1:$GW_PORT/readyz"
  bench distributed "http://127.0.0.1:$GW_PORT"
  cleanup
}

# The store's search statement (store/src/sql/store.rs) for query Q over
# the chats CHATS, as SQLite and MariaDB run it.
sqlite_sql() {
  echo "SELECT count(*) FROM (SELECT chat_id AS c, seq AS s, rowid AS r FROM message_search \
WHERE message_search MATCH '$1' AND rowid < 9223372036854775807 AND chat_id IN ($2) \
ORDER BY rowid DESC LIMIT 32) h JOIN messages ON messages.chat_id = h.c AND messages.seq = h.s;"
}
mariadb_sql() {
  echo "SELECT chat_id AS c, seq AS s, id AS r FROM message_search \
WHERE MATCH (text) AGAINST ('$1' IN BOOLEAN MODE) AND id < 9223372036854775807 \
AND chat_id IN ($2) ORDER BY id DESC LIMIT 32"
}
mariadb_count() { echo "SELECT count(*) FROM ($(mariadb_sql "$1" "$2")) h"; }

step_plans() { step_plans_sqlite; step_plans_mariadb; }

step_plans_sqlite() {
  local meta=$WORK/set.jsonl.meta.json one all kind q out
  one=$(jq -r '.chats[1]' "$meta")
  all=$(jq -r '.chats | join(",")' "$meta")
  out=$PLANS/sqlite.txt
  log "SQLite plans and timings → $out"
  {
    echo "-- the plan (one chat, common word)"
    sqlite3 -readonly "$WORK/sa-data/chat.db" "EXPLAIN QUERY PLAN SELECT messages.* FROM (SELECT chat_id AS c, \
seq AS s, rowid AS r FROM message_search WHERE message_search MATCH '\"x\"' AND rowid < 9223372036854775807 \
AND chat_id IN ($one) ORDER BY rowid DESC LIMIT 32) h JOIN messages ON messages.chat_id = h.c \
AND messages.seq = h.s ORDER BY h.r DESC"
    echo "-- each query twice (the second warm), within chat index 1 and over all 1,000 chats"
    jq -r '.queries[] | [.kind, .q, .hits, .chat_hits[1]] | @tsv' "$meta" |
      while IFS=$'\t' read -r kind q hits hits1; do
        # FTS5 form of the query, as chat_core::search::Query::fts5 makes it.
        case $kind in
        prefix) fq="\"${q%\*}\"*" ;;
        phrase) fq=$q ;;
        *) fq="\"$q\"" ;;
        esac
        for scope in one all; do
          chats=$one
          [[ $scope == all ]] && chats=$all
          t=$(printf '.timer on\n%s\n%s\n' "$(sqlite_sql "$fq" "$chats")" "$(sqlite_sql "$fq" "$chats")" |
            sqlite3 -readonly "$WORK/sa-data/chat.db" | tail -1)
          printf '%-8s %-16s %-4s matches %7s (chat 1: %4s)  %s\n' "$kind" "$q" "$scope" "$hits" "$hits1" "$t"
        done
      done
    echo "-- all matches of the common word, without and with the chat filter"
    q=$(jq -r '.queries[] | select(.kind == "common") | .q' "$meta")
    printf '.timer on\nSELECT count(*) FROM message_search WHERE message_search MATCH '"'"'"%s"'"'"';\nSELECT count(*) FROM message_search WHERE message_search MATCH '"'"'"%s"'"'"' AND chat_id = %s;\n' "$q" "$q" "$one" |
      sqlite3 -readonly "$WORK/sa-data/chat.db"
  } >"$out" 2>&1
  cat "$out"
}

step_plans_mariadb() {
  local meta=$WORK/set.jsonl.meta.json one all kind q out
  one=$(jq -r '.chats[1]' "$meta")
  all=$(jq -r '.chats | join(",")' "$meta")
  eval "$(env_lines)"
  out=$PLANS/mariadb.txt
  log "MariaDB plans and timings → $out"
  local shard port
  # The shard holding chat index 1.
  for port in 3317 3318; do
    n=$(mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" -u chat -pchat chat -N \
      -e "SELECT count(*) FROM chats WHERE id = $one")
    [[ $n == 1 ]] && shard=$port
  done
  M=(mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$shard" -u chat -pchat chat)
  {
    echo "-- shard on port $shard (holds chat index 1)"
    "${M[@]}" -e "SELECT @@version, @@innodb_buffer_pool_size, @@innodb_ft_min_token_size, @@innodb_ft_enable_stopword"
    echo "-- EXPLAIN (one chat, common word)"
    q=$(jq -r '.queries[] | select(.kind == "common") | .q' "$meta")
    "${M[@]}" -e "EXPLAIN $(mariadb_sql "+$q" "$one")\\G"
    echo "-- ANALYZE FORMAT=JSON (one chat, common word)"
    "${M[@]}" -e "ANALYZE FORMAT=JSON $(mariadb_sql "+$q" "$one")\\G"
    echo "-- each query twice (the second warm; the client's own start, ~30 ms, is not in these), one chat and all chats"
    jq -r '.queries[] | [.kind, .q, .hits, .chat_hits[1]] | @tsv' "$meta" |
      while IFS=$'\t' read -r kind q hits hits1; do
        bq="+$q"
        for scope in one all; do
          chats=$one
          [[ $scope == all ]] && chats=$all
          t=$("${M[@]}" -N -e "$(mariadb_count "$bq" "$chats"); SET profiling = 1; $(mariadb_count "$bq" "$chats"); SHOW PROFILES;" 2>/dev/null |
            awk -F'\t' 'NF == 3 { printf "%.1f ms", $2 * 1000 }')
          printf '%-8s %-16s %-4s matches %7s (chat 1: %4s)  %s\n' "$kind" "$q" "$scope" "$hits" "$hits1" "$t"
        done
      done
  } >"$out" 2>&1
  cat "$out"
}

# An experiment, not the product: the same in-chat queries when the FTS5
# table indexes the chat as a token (column `chat`, token c<chat id>), so
# FTS5 intersects posting lists instead of reading the chat_id of every
# match; on a copy of the database (about 900 MB in /tmp).
step_fts5_chat_token() {
  local meta=$WORK/set.jsonl.meta.json one copy=/tmp/search-bench-fts5-experiment.db out=$PLANS/sqlite-chat-token.txt
  one=$(jq -r '.chats[1]' "$meta")
  log "FTS5 with the chat as a token, on $copy → $out"
  cp "$WORK/sa-data/chat.db" "$copy"
  {
    printf '.timer on\n%s\n%s\n%s\n' \
      "CREATE VIRTUAL TABLE ms2 USING fts5(text, chat, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');" \
      "INSERT INTO ms2 (rowid, text, chat) SELECT rowid, text, 'c' || chat_id FROM message_search;" \
      "INSERT INTO message_search(message_search) VALUES('optimize'); INSERT INTO ms2(ms2) VALUES('optimize');" |
      sqlite3 "$copy"
    echo "-- chat index 1, each query twice (the second counts): the product's statement, then the chat-token one"
    jq -r '.queries[] | [.kind, .q] | @tsv' "$meta" | while IFS=$'\t' read -r kind q; do
      case $kind in
      prefix) fq="\"${q%\*}\"*" ;;
      phrase) fq=$q ;;
      *) fq="\"$q\"" ;;
      esac
      now="SELECT count(*) FROM (SELECT rowid FROM message_search WHERE message_search MATCH '$fq' AND rowid < 9223372036854775807 AND chat_id IN ($one) ORDER BY rowid DESC LIMIT 32);"
      token="SELECT count(*) FROM (SELECT rowid FROM ms2 WHERE ms2 MATCH 'chat:\"c$one\" AND text:($fq)' AND rowid < 9223372036854775807 ORDER BY rowid DESC LIMIT 32);"
      printf '%-8s %-16s chat_id filter: %s   chat token: %s\n' "$kind" "$q" \
        "$(printf '.timer on\n%s\n%s\n' "$now" "$now" | sqlite3 "$copy" | tail -1)" \
        "$(printf '.timer on\n%s\n%s\n' "$token" "$token" | sqlite3 "$copy" | tail -1)"
    done
    echo "-- sizes: $(du -h "$copy" | cut -f1) with both tables"
  } >"$out" 2>&1
  rm -f "$copy"
  cat "$out"
}

step_sizes() {
  eval "$(env_lines)"
  local out=$RESULTS/sizes.txt port
  {
    echo "export file: $(du -h "$WORK/set.jsonl" | cut -f1) ($(stat -c %s "$WORK/set.jsonl") bytes)"
    echo "standalone chat.db: $(du -h "$WORK/sa-data/chat.db" | cut -f1)"
    sqlite3 -readonly "$WORK/sa-data/chat.db" \
      "SELECT name, sum(pgsize)/1048576 || ' MB' FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC LIMIT 8" 2>/dev/null ||
      echo "(no dbstat in this sqlite3)"
    for port in 3317 3318; do
      echo "-- MariaDB on $port: MB of data + indexes per table"
      mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" -u chat -pchat -N -e \
        "SELECT table_name, round(data_length/1048576), round(index_length/1048576), table_rows
         FROM information_schema.tables WHERE table_schema = 'chat' ORDER BY data_length + index_length DESC LIMIT 5"
      echo "datadir of the database: $(du -sh "$CHAT_LOCAL_DIR/mysql/shard$((port - 3317))/data/chat" | cut -f1)"
    done
  } >"$out" 2>&1
  cat "$out"
}

step_table() { table | tee "$RESULTS/table.md"; }
table() {
  local f
  echo "| mode | conc. | run | req/s | global p50 | global p99 | one chat p50 | one chat p99 | page 2 p50 | page 2 p99 | overall p50 | overall p99 | failed checks | errors | load (1 min) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for f in "$RESULTS"/*-c*-r*.json; do
    jq -r 'def r: . * 10 | round / 10;
      [.args.label, (.requests_per_sec | r), (.global.p50_ms | r), (.global.p99_ms | r), (.in_chat.p50_ms | r),
        (.in_chat.p99_ms | r), (.second_pages.p50_ms | r), (.second_pages.p99_ms | r), (.overall.p50_ms | r),
        (.overall.p99_ms | r), ([.violations[]] | add), ([.errors[]] | add // 0), .load_average[0]] |
      "| \(.[0] | split(" ") | .[0]) | \(.[0] | split(" ") | .[1]) | \(.[0] | split(" ") | .[2]) | \(.[1]) | \(.[2]) | \(.[3]) | \(.[4]) | \(.[5]) | \(.[6]) | \(.[7]) | \(.[8]) | \(.[9]) | \(.[10]) | \(.[11]) | \(.[12]) |"' "$f"
  done
  echo
  echo "p50 / p99 ms of first pages per query kind (each run):"
  echo
  echo "| mode | conc. | run | top global | top chat | common global | common chat | rare global | rare chat | prefix global | prefix chat | phrase global | phrase chat | russian global | russian chat | none global | none chat |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for f in "$RESULTS"/*-c*-r*.json; do
    jq -r '(.args.label | split(" ")) as $l
      | [.kinds[] | select(.page == 1)] as $k
      | ["top", "common", "rare", "prefix", "phrase", "russian", "none"] as $order
      | [$order[] as $kind | ("global", "chat") as $s | ($k[] | select(.kind == $kind and .scope == $s)
          | "\(.latency.p50_ms | . * 10 | round / 10) / \(.latency.p99_ms | . * 10 | round / 10)")]
      | "| \($l[0]) | \($l[1]) | \($l[2]) | " + join(" | ") + " |"' "$f"
  done
  [[ -d $RESULTS/kinds ]] || return 0
  echo
  echo "Each kind alone, concurrency 1: first pages over all chats / within one chat, p50 / p99 ms (n), each run:"
  echo
  echo "| mode | kind | query | matching | run | global p50 | global p99 | n | one chat p50 | one chat p99 | n | page 2 p50 | page 2 p99 | failed checks | load (1 min) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for f in "$RESULTS"/kinds/*.json; do
    jq -r 'def r: . * 10 | round / 10;
      (.args.label | split(" ")) as $l
      | def k($s; $p): (.kinds[] | select(.scope == $s and .page == $p) | .latency) // {p50_ms: 0, p99_ms: 0, count: 0};
      (.kinds[0]) as $q
      | "| \($l[0]) | \($l[1]) | `\($q.q)` | \($q.matching_messages) | \($l[2]) | \(k("global"; 1).p50_ms | r) | \(k("global"; 1).p99_ms | r) | \(k("global"; 1).count) | \(k("chat"; 1).p50_ms | r) | \(k("chat"; 1).p99_ms | r) | \(k("chat"; 1).count) | \([.kinds[] | select(.page == 2) | .latency.p50_ms] | max // 0 | r) | \([.kinds[] | select(.page == 2) | .latency.p99_ms] | max // 0 | r) | \([.violations[]] | add) | \(.load_average[0]) |"' "$f"
  done
}

step_stop() {
  if [[ -e $CHAT_LOCAL_DIR/.started-by-search-bench ]]; then
    log "stopping the services of $CHAT_LOCAL_DIR (started by this script) and deleting their data"
    deploy/local/down.sh --purge
    rm -f "$CHAT_LOCAL_DIR/.started-by-search-bench"
  fi
}

STEPS=("$@")
((${#STEPS[@]})) || STEPS=(build data import-standalone services import-distributed standalone distributed plans sizes table stop)
for s in "${STEPS[@]}"; do
  "step_${s//-/_}"
done
