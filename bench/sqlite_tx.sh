#!/usr/bin/env bash
# bench/sqlite_tx.sh DIR [N] — N (300) single-row sqlite3 transactions (rollback journal,
# the default) in a new database under DIR; prints `sqlite tx/s X`. Each transaction takes
# and drops sqlite's fcntl locks about nine times and fsyncs three times, so on a ferrofs
# mount it shows what cluster-wide locks cost against `ferrofs mount --local-locks`.
set -euo pipefail
DIR=${1:?usage: bench/sqlite_tx.sh DIR [N]}
N=${2:-300}
DB=$DIR/sqlite_tx.$$.db
SQL=$(mktemp)
trap 'rm -f "$DB" "$DB-journal" "$SQL"' EXIT
sqlite3 "$DB" "create table t(a integer, b text);"
for i in $(seq 1 "$N"); do echo "begin; insert into t values($i, 'row $i'); commit;"; done > "$SQL"
start=$(date +%s.%N)
sqlite3 "$DB" < "$SQL"
end=$(date +%s.%N)
rows=$(sqlite3 "$DB" 'select count(*) from t')
[ "$rows" = "$N" ] || { echo "sqlite_tx: $rows rows, not $N" >&2; exit 1; }
awk -v n="$N" -v s="$start" -v e="$end" 'BEGIN { printf "sqlite tx/s %.1f\n", n / (e - s) }'
