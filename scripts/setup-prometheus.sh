#!/usr/bin/env bash
# Installs Debian's `prometheus` package (server + promtool) for the ops tests, once.
# The tests run their own server on a free loopback port with their own config and a
# temp storage dir, so the system service the package may start is stopped and
# disabled. Idempotent: does nothing when both binaries are already on PATH.
set -euo pipefail
log() { echo "[setup-prometheus] $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

if have prometheus && have promtool; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "prometheus/promtool missing and not root: run 'apt-get install prometheus' and re-run"
  exit 1
fi

log "installing Debian's prometheus package (server and promtool)"
# policy-rc.d with exit 101 tells invoke-rc.d not to start services during the install.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Never leave the system service running (it would hold port 9090 and scrape nothing
# useful). Either init system may be absent in a container: ignore its errors.
if have systemctl && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prometheus ]; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
if have update-rc.d; then
  update-rc.d prometheus disable >/dev/null 2>&1 || true
fi

if ! have prometheus || ! have promtool; then
  log "the prometheus package installed but prometheus/promtool are not on PATH"
  exit 1
fi
log "installed: $(prometheus --version 2>&1 | head -n1)"
