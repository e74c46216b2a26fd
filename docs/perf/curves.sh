#!/bin/sh
# The scaling curves of docs/performance.md, measured and drawn on this machine: each point is one bench run's
# --json file, each SVG drawn by `voltvend bench plot` from them. Run from the repository with a release build:
#   cargo build --release --bin voltvend && sh docs/perf/curves.sh
# On PostgreSQL (the SVGs get a -pg suffix; a database per run is created on that server and dropped after):
#   BACKEND=postgres PG_SERVER=postgres://postgres@127.0.0.1:5432 sh docs/perf/curves.sh
# Each run works on a database of its own under $WORK (default /tmp/voltvend-curves), removed first.
set -eu
BIN=${BIN:-target/release/voltvend}
WORK=${WORK:-/tmp/voltvend-curves}
OUT=${OUT:-docs/perf}
BACKEND=${BACKEND:-sqlite}
case "$BACKEND" in
  sqlite) SUFFIX="" LABEL=SQLite ;;
  postgres) SUFFIX="-pg" LABEL=PostgreSQL PG_SERVER=${PG_SERVER:?"PG_SERVER=postgres://user@host:port is needed"} ;;
  *) echo "BACKEND is sqlite or postgres" >&2; exit 2 ;;
esac
rm -rf "$WORK" && mkdir -p "$WORK"
# psql says only what went wrong (not that a database to drop was not there).
export PGOPTIONS="--client-min-messages=warning"

# The URL of a new, empty database for one run, named $1.
fresh_db() {
  if [ "$BACKEND" = sqlite ]; then
    echo "sqlite://$WORK/$1.sqlite"
  else
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS voltvend_curves_$1" \
      -c "CREATE DATABASE voltvend_curves_$1" >&2
    echo "$1" >> "$WORK/created-databases"
    echo "$PG_SERVER/voltvend_curves_$1"
  fi
}

# Sales per second through the HTTP API against the load generator's keep-alive connections.
for c in 1 4 16 64 256; do
  url=$(fresh_db "vend_c$c")
  "$BIN" --database-url "$url" bench vend --clients "$c" --duration-s 5 \
    --json "$WORK/vend-c$c.json" > "$WORK/vend-c$c.txt"
done
"$BIN" bench plot --x scenario.clients --y figures.sales_per_s_closed_loop --title "Durable sales per second ($LABEL)" \
  --out "$OUT/vend-concurrency$SUFFIX.svg" "$WORK"/vend-c*.json

# A sale's p99 latency at fixed offered rates (open loop).
for r in 500 1000 2000 3000 4000; do
  url=$(fresh_db "vend_r$r")
  "$BIN" --database-url "$url" bench vend --rate "$r" --duration-s 5 \
    --json "$WORK/vend-r$r.json" > "$WORK/vend-r$r.txt"
done
"$BIN" bench plot --x scenario.rate_per_s --y figures.open_loop_p99_ms --decimals 1 \
  --title "p99 latency of a sale, ms, at an offered rate ($LABEL)" --out "$OUT/vend-latency$SUFFIX.svg" \
  "$WORK"/vend-r*.json

# A full poll cycle's time against the fleet's size.
for n in 1000 5000 20000 50000; do
  url=$(fresh_db "poll_$n")
  "$BIN" --database-url "$url" migrate > /dev/null
  "$BIN" --database-url "$url" bench poll --meters "$n" \
    --json "$WORK/poll-$n.json" > "$WORK/poll-$n.txt"
done
"$BIN" bench plot --x scenario.meters --y figures.cycle_s --decimals 2 \
  --title "Poll cycle, s, read + priced + debited ($LABEL)" --out "$OUT/poll-fleet$SUFFIX.svg" "$WORK"/poll-*.json

if [ -f "$WORK/created-databases" ]; then
  while read -r name; do
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS voltvend_curves_$name"
  done < "$WORK/created-databases"
fi
