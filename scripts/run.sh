#!/usr/bin/env bash
# Sets everything up and runs rollcall on its embedded defaults (port 8080, memory state,
# journal in ./rollcall-data). Without ROLLCALL_JWT_SECRET it runs in development mode,
# which generates a secret and says so. Extra arguments go to rollcall.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target rollcall -j"$(nproc)" >/dev/null
if [ -z "${ROLLCALL_JWT_SECRET:-}" ] && [ -z "${ROLLCALL_JWT_PUBLIC_KEY:-}" ]; then
  export ROLLCALL_DEV="${ROLLCALL_DEV:-1}"
  echo "run: no ROLLCALL_JWT_SECRET set: development mode. Mint a token with:" >&2
  echo "     ./build/rollcall token --dev --sub t1 --role teacher --class demo" >&2
fi
exec ./build/rollcall "$@"
