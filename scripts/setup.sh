#!/usr/bin/env bash
# One idempotent set-up for a fresh clone, run by `npm start`, `npm test` and
# `npm run bench`: node modules, native TensorFlow (from PyPI), the Kafka broker jars
# (from Maven Central), the TypeScript build, and with --test the Prometheus server
# and Chromium for the browser tests (from Debian's packages) and the schema registry (Apicurio, from
# Maven Central). Each step is skipped when already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${1:-}"
log() { echo "[setup] $*" >&2; }
started=$(date +%s)

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++ make)
# The browser tests (live page, backtest report) drive Debian's headless Chromium.
if [ "$MODE" = "--test" ] && ! command -v chromium >/dev/null 2>&1 && [ -z "${CHROMIUM_PATH:-}" ]; then
  need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing system packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    log "missing ${need_apt[*]} and not root: install them and re-run"; exit 1
  fi
fi

# 1. Node modules, re-installed only when package-lock.json changes.
lock_sum="$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f node_modules/.setup-lock-sum ] || [ "$(cat node_modules/.setup-lock-sum)" != "$lock_sum" ]; then
  log "installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.setup-lock-sum
fi

# 2. Native TensorFlow for tfjs-node.
bash scripts/setup-tensorflow.sh

# 3. Kafka broker jars.
node --import tsx scripts/kafka.ts install

# 4. Build to dist/ (the `rebalancer` executable runs the build).
if [ ! -f dist/.build-stamp ] || [ -n "$(find src -newer dist/.build-stamp -name '*.ts' -print -quit)" ]; then
  log "compiling TypeScript to dist/"
  rm -rf dist
  npx tsc -p tsconfig.build.json
  touch dist/.build-stamp
fi

# 5. Test-only servers.
if [ "$MODE" = "--test" ] && [ -f scripts/setup-prometheus.sh ]; then
  bash scripts/setup-prometheus.sh
fi
# The schema-registry tests run a real Apicurio Registry (Maven Central, Java 21+).
if [ "$MODE" = "--test" ]; then
  node --import tsx scripts/registry.ts install
fi
log "ready ($(( $(date +%s) - started )) s)"
