#!/bin/sh
# The scaling curves of docs/performance.md, measured and drawn on this machine: each point is one bench run's
# --json file, each SVG drawn by `voltvend bench plot` from them. Run from the repository with a release build:
#   cargo build --release --bin voltvend && sh docs/perf/curves.sh
# Each run works on a database of its own under $WORK (default /tmp/voltvend-curves), removed first.
set -eu
BIN=${BIN:-target/release/voltvend}
WORK=${WORK:-/tmp/voltvend-curves}
OUT=${OUT:-docs/perf}
rm -rf "$WORK" && mkdir -p "$WORK"

# Sales per second through the HTTP API against the load generator's keep-alive connections.
for c in 1 4 16 64 256; do
  "$BIN" --database-url "sqlite://$WORK/vend-c$c.sqlite" bench vend --clients "$c" --duration-s 5 \
    --json "$WORK/vend-c$c.json" > "$WORK/vend-c$c.txt"
done
"$BIN" bench plot --x scenario.clients --y figures.sales_per_s_closed_loop --title "Durable sales per second (SQLite)" \
  --out "$OUT/vend-concurrency.svg" "$WORK"/vend-c*.json

# A sale's p99 latency at fixed offered rates (open loop).
for r in 500 1000 2000 3000 4000; do
  "$BIN" --database-url "sqlite://$WORK/vend-r$r.sqlite" bench vend --rate "$r" --duration-s 5 \
    --json "$WORK/vend-r$r.json" > "$WORK/vend-r$r.txt"
done
"$BIN" bench plot --x scenario.rate_per_s --y figures.open_loop_p99_ms --decimals 1 \
  --title "p99 latency of a sale, ms, at an offered rate (SQLite)" --out "$OUT/vend-latency.svg" "$WORK"/vend-r*.json

# A full poll cycle's time against the fleet's size.
for n in 1000 5000 20000 50000; do
  "$BIN" --database-url "sqlite://$WORK/poll-$n.sqlite" migrate > /dev/null
  "$BIN" --database-url "sqlite://$WORK/poll-$n.sqlite" bench poll --meters "$n" \
    --json "$WORK/poll-$n.json" > "$WORK/poll-$n.txt"
done
"$BIN" bench plot --x scenario.meters --y figures.cycle_s --decimals 2 \
  --title "Poll cycle, s, read + priced + debited (SQLite)" --out "$OUT/poll-fleet.svg" "$WORK"/poll-*.json
