#!/usr/bin/env bash
# Prints Com_stmt_prepare/close/execute of both local shards (global counters).
cd /work/main && eval "$(bash deploy/local/env.sh)"
IFS=',' read -ra parts <<<"$CHAT_MYSQL_SHARDS"
for s in "${parts[@]}"; do
  name=${s%%=*}; url=${s#*=}; rest=${url#mysql://}; cred=${rest%%@*}; hp=${rest#*@}; hp=${hp%%/*}
  printf '%s ' "$name"
  MYSQL_PWD=${cred#*:} mariadb --no-defaults --protocol=TCP -h "${hp%:*}" -P "${hp##*:}" -u "${cred%%:*}" -N \
    -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_prepare','Com_stmt_close','Com_stmt_execute','Prepared_stmt_count','Queries')" | tr '\t\n' '= '
  echo
done
