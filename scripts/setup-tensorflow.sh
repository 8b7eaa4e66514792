#!/usr/bin/env bash
# Supplies the TensorFlow C library to @tensorflow/tfjs-node and builds its native
# binding, without the libtensorflow download host that tfjs-node's own install
# script uses (unreachable from our build machines).
#
# Source of the library: the official tensorflow-cpu wheel on PyPI. Since TF 2.12 the
# wheel ships libtensorflow_cc.so.2 (which exports the TF_*/TFE_* C API that the
# binding calls) and libtensorflow_framework.so.2, plus the C headers. The binding is
# compiled against those headers and linked against those libraries.
#
# Idempotent: exits at once when the binding already loads with the native backend.
# Cached: the extracted libraries live in .cache/tensorflow/<version>/ so a fresh
# `npm ci` only re-links and re-compiles (seconds), no re-download.
set -euo pipefail

TF_WHEEL_VERSION="${TF_WHEEL_VERSION:-2.15.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="$ROOT/node_modules/@tensorflow/tfjs-node"
CACHE="$ROOT/.cache/tensorflow/$TF_WHEEL_VERSION"

log() { echo "[setup:tensorflow] $*" >&2; }

native_backend_loads() {
  (cd "$ROOT" && TF_CPP_MIN_LOG_LEVEL=3 node -e "
    const tf = require('@tensorflow/tfjs-node');
    if (tf.getBackend() !== 'tensorflow') process.exit(3);
  " >/dev/null 2>&1)
}

if [ ! -d "$PKG" ]; then
  log "node_modules/@tensorflow/tfjs-node is missing: run npm ci first"; exit 1
fi
if native_backend_loads; then
  log "native backend already built"; exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  # Elsewhere there is no matching wheel layout: use tfjs-node's standard install,
  # which downloads libtensorflow from its usual host (needs normal internet).
  log "not Linux x86_64: running tfjs-node's own install script"
  (cd "$PKG" && node scripts/install.js)
  exit 0
fi

if [ ! -f "$CACHE/lib/libtensorflow_cc.so.2" ]; then
  log "fetching tensorflow-cpu==$TF_WHEEL_VERSION wheel from PyPI (about 210 MB, once)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.10 \
    "tensorflow-cpu==$TF_WHEEL_VERSION" -d "$tmp"
  wheel="$(ls "$tmp"/tensorflow_cpu-*.whl)"
  log "extracting libraries and C headers"
  python3 - "$wheel" "$tmp/out" <<'PY'
import sys, zipfile, os, shutil
wheel, out = sys.argv[1], sys.argv[2]
keep_libs = {"tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"}
keep_inc = ("tensorflow/include/tensorflow/c/", "tensorflow/include/tensorflow/core/platform/",
            "tensorflow/include/tsl/")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith("/"):
            continue
        if name in keep_libs:
            dest = os.path.join(out, "lib", os.path.basename(name))
        elif name.startswith(keep_inc) and name.endswith(".h"):
            dest = os.path.join(out, "include", name[len("tensorflow/include/"):])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
  mkdir -p "$(dirname "$CACHE")"
  rm -rf "$CACHE"
  mv "$tmp/out" "$CACHE"
  # The binding links -ltensorflow -ltensorflow_framework; the loader then records the
  # libraries' sonames (libtensorflow_cc.so.2, libtensorflow_framework.so.2).
  ln -sf libtensorflow_cc.so.2 "$CACHE/lib/libtensorflow.so"
  ln -sf libtensorflow_framework.so.2 "$CACHE/lib/libtensorflow_framework.so"
  # tfjs-node's install.js treats this file as "libtensorflow present": a later
  # `npm rebuild` with scripts then only compiles instead of downloading.
  ln -sf libtensorflow_cc.so.2 "$CACHE/lib/libtensorflow.so.2.9.1"
fi

log "staging TensorFlow into tfjs-node/deps and compiling the binding"
rm -rf "$PKG/deps"
mkdir -p "$PKG/deps"
# Hard links when on one filesystem (instant), copies otherwise.
cp -al "$CACHE/lib" "$CACHE/include" "$PKG/deps/" 2>/dev/null || cp -a "$CACHE/lib" "$CACHE/include" "$PKG/deps/"

nodedir_flag=()
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -f "$node_prefix/include/node/node_api.h" ]; then
  # Use the headers that ship with this Node: node-gyp must not try to download them.
  nodedir_flag=(--nodedir="$node_prefix")
fi
export PATH="$ROOT/node_modules/.bin:$PATH"
(cd "$PKG" && node-pre-gyp install --build-from-source "${nodedir_flag[@]}" >"$ROOT/.cache/tensorflow/build.log" 2>&1) || {
  log "binding build failed; last lines of .cache/tensorflow/build.log:"; tail -n 30 "$ROOT/.cache/tensorflow/build.log" >&2; exit 1; }

if native_backend_loads; then
  log "done: tf.getBackend() === 'tensorflow' (TensorFlow $TF_WHEEL_VERSION from PyPI)"
else
  log "the binding was built but does not load; see .cache/tensorflow/build.log"; exit 1
fi
