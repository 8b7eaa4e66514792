#!/usr/bin/env bash
# Reproduces the README's backtest tables: the realistic profile, 3 seeds × 2 skews,
# every built-in strategy, the reference rows and examples/ablation.yaml.
#   bash scripts/backtest-tables.sh [OUT_DIR] [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tmp/tables}
events=${2:-100000}
mkdir -p "$out"
for skew in 250 5000; do
  for seed in 1 2 3; do
    echo "== seed $seed, skew $skew" >&2
    node bin/rebalancer.js backtest --generate "$events" --profile realistic --seed "$seed" --skew "$skew" \
      --strategies all --strategy-file examples/ablation.yaml --quiet \
      --json "$out/seed$seed-skew$skew.json" > "$out/seed$seed-skew$skew.txt"
  done
done
node --import tsx scripts/summarize-backtests.ts "$out"/*.json
