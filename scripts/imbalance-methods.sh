#!/usr/bin/env bash
# Issue #16's table: every built-in strategy (every imbalance method, `none`, the service
# default) and the reference rows on the realistic profile, 3 seeds × 2 skews. The first
# PRETRAIN events pre-train `warm_start` (run --init-from); every row is measured on the
# EVENTS after them. Writes the JSON reports (and seed 1's HTML charts) to OUT_DIR and
# prints the tables.
#   bash scripts/imbalance-methods.sh [OUT_DIR] [EVENTS] [PRETRAIN]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tmp/methods}
events=${2:-100000}
pretrain=${3:-20000}
mkdir -p "$out"
for skew in 250 5000; do
  for seed in 1 2 3; do
    echo "== seed $seed, skew $skew ($(date +%T))" >&2
    chart=()
    if [ "$seed" = 1 ]; then chart=(--chart "$out/seed$seed-skew$skew.html"); fi
    node bin/rebalancer.js backtest --generate $((events + pretrain)) --pretrain-events "$pretrain" --profile realistic \
      --seed "$seed" --skew "$skew" --strategies all --quiet "${chart[@]}" \
      --json "$out/seed$seed-skew$skew.json" > "$out/seed$seed-skew$skew.txt"
  done
done
node --import tsx scripts/summarize-backtests.ts "$out"/*.json
