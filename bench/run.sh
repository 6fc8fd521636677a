#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks rollcall on this machine: builds a release binary of the broker and the load
# generator (gcc, build-release/), then for each scenario starts a fresh broker on 127.0.0.1
# (any free port, temp data dir, random HS256 secret, log level warn), waits for /readyz,
# runs bench/loadgen and stops the broker by its PID. Prints one result line per scenario on
# stdout (bench=<scenario> key=value ...); progress and the broker's warnings go to stderr.
# Not a test: it refuses to run under ctest or the e2e harness. See bench/README.md.
#
# Overrides (environment):
#   BENCH_SCENARIOS   "connect fanout fanout-heavy" (any subset, in order; also
#                     fanout-redis-1: one instance on the Redis engine, and
#                     fanout-redis: teacher on instance A, students spread over A and B)
#   BENCH_CONNS       10000   connect: idle connections
#   BENCH_CLASSES     100     connect: spread over this many classes
#   BENCH_INFLIGHT    256     handshakes in flight
#   BENCH_HOLD        2       connect: seconds to hold the connections
#   BENCH_STUDENTS    1000    fanout: students in the class
#   BENCH_RATE        100     fanout: teacher marks per second
#   BENCH_HEAVY_RATE  500     fanout-heavy: teacher marks per second
#   BENCH_DURATION    10      fanout: seconds of sending
#   BENCH_DRAIN       5       fanout: seconds to wait for stragglers
#   BENCH_DEADLINE    60      hard limit per loadgen run, seconds
#   BENCH_ANALYZE_ROUNDS 3    analyze: passes over the labeled photos
#   BENCH_FRAME_STUDENTS "50 100 200 400"  frames: one run per class size
#   BENCH_FRAME_INTERVAL 3    frames: seconds between a student's frames
#   BENCH_FRAME_DURATION 15   frames: seconds of streaming
#   BENCH_PIN         1       pin the broker to CPU 0 and loadgen to CPU 1 (needs 2 CPUs)
#   BENCH_OUT         (none)  also append the result lines to this file
#   BENCH_NO_BUILD    0       1: use the existing build-release binaries
#   BENCH_KEEP        0       1: keep the temp dir (broker logs) afterwards
# Any ROLLCALL_* setting in the environment reaches the broker, except the ones set here
# (host, port, port file, data dir, secret, log level).
set -euo pipefail

# --- not part of the test suite -------------------------------------------------------------
if [ -n "${ROLLCALL_TEST_DATA:-}" ] || [ -n "${ROLLCALL_BIN:-}" ] || [ -n "${CTEST_SCRIPT:-}" ]; then
  echo "bench/run.sh: refusing to run inside the test suite (it is a benchmark, not a test)" >&2
  exit 1
fi
pid=$$
while [ "$pid" -gt 1 ] 2>/dev/null; do
  comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  if [ "$comm" = "ctest" ]; then
    echo "bench/run.sh: refusing to run under ctest (it is a benchmark, not a test)" >&2
    exit 1
  fi
  pid="$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$REPO/build-release"
SCENARIOS="${BENCH_SCENARIOS:-connect fanout fanout-heavy}"
CONNS="${BENCH_CONNS:-10000}"
CLASSES="${BENCH_CLASSES:-100}"
INFLIGHT="${BENCH_INFLIGHT:-256}"
HOLD="${BENCH_HOLD:-2}"
STUDENTS="${BENCH_STUDENTS:-1000}"
RATE="${BENCH_RATE:-100}"
HEAVY_RATE="${BENCH_HEAVY_RATE:-500}"
DURATION="${BENCH_DURATION:-10}"
DRAIN="${BENCH_DRAIN:-5}"
DEADLINE="${BENCH_DEADLINE:-60}"
PIN="${BENCH_PIN:-1}"

log() { echo "bench: $*" >&2; }

# --- build ----------------------------------------------------------------------------------
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building release binaries in $BUILD (gcc)"
  cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
  cmake --build "$BUILD" --target rollcall loadgen analyze_bench -j"$(nproc)" >/dev/null
fi
ROLLCALL="$BUILD/rollcall"
LOADGEN="$BUILD/bench/loadgen"
[ -x "$ROLLCALL" ] && [ -x "$LOADGEN" ] || { log "missing $ROLLCALL or $LOADGEN"; exit 1; }

# --- limits and pinning ---------------------------------------------------------------------
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((CONNS > STUDENTS ? CONNS + 64 : STUDENTS + 64))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  log "open-file limit $(ulimit -n) is below $need: lower BENCH_CONNS/BENCH_STUDENTS"
  exit 1
fi
BROKER_PIN=()
LOADGEN_PIN=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  BROKER_PIN=(taskset -c 0)
  LOADGEN_PIN=(taskset -c 1)
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/rollcall-bench.XXXXXX")"
BROKER_PID=""
SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  if kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$BROKER_PID" 2>/dev/null; then
      log "broker $BROKER_PID did not stop within 15 s of SIGTERM: SIGKILL"
      kill -KILL "$BROKER_PID" 2>/dev/null || true
    fi
  fi
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}

REDIS_PID=""
BROKER2_PID=""

stop_redis_set() {
  if [ -n "$BROKER2_PID" ]; then
    local keep="$BROKER_PID"
    BROKER_PID="$BROKER2_PID"
    stop_broker
    BROKER_PID="$keep"
    BROKER2_PID=""
  fi
  stop_broker
  if [ -n "$REDIS_PID" ]; then
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  fi
}

cleanup() {
  stop_redis_set
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

readyz() {
  curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null
}

# Starts a fresh broker for one scenario; sets BROKER_PID and PORT.
start_broker() {
  local name="$1" dir="$TMP/$1"
  mkdir -p "$dir/data"
  (
    export ROLLCALL_JWT_SECRET="$SECRET" ROLLCALL_LOG_LEVEL=warn
    unset ROLLCALL_DEV ROLLCALL_JWT_PUBLIC_KEY ROLLCALL_JWT_ALG ROLLCALL_JWT_ISSUER \
      ROLLCALL_JWT_AUDIENCE
    exec "${BROKER_PIN[@]}" "$ROLLCALL" --host 127.0.0.1 --port 0 --port-file "$dir/port" \
      --data-dir "$dir/data"
  ) 2>"$dir/broker.log" &
  BROKER_PID=$!
  PORT=""
  for _ in $(seq 1 100); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      log "broker exited during start-up; its log:"
      cat "$dir/broker.log" >&2
      exit 1
    fi
    if [ -s "$dir/port" ]; then
      PORT="$(cat "$dir/port")"
      readyz "$PORT" && return 0
    fi
    sleep 0.1
  done
  log "broker not ready after 10 s; its log:"
  tail -n 20 "$dir/broker.log" >&2
  exit 1
}

# Runs one loadgen scenario against a fresh broker and prints its result line.
run_scenario() {
  local name="$1"
  shift
  start_broker "$name"
  log "$name: broker pid $BROKER_PID on 127.0.0.1:$PORT; loadgen $*"
  local line rc=0
  line="$(ROLLCALL_JWT_SECRET="$SECRET" "${LOADGEN_PIN[@]}" "$LOADGEN" "$@" --port "$PORT" \
    --broker-pid "$BROKER_PID" --deadline "$DEADLINE")" || rc=$?
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    wait "$BROKER_PID" 2>/dev/null && st=0 || st=$?
    log "$name: THE BROKER DIED (exit status $st) during the run; last log lines:"
    tail -n 20 "$TMP/$name/broker.log" >&2
    BROKER_PID=""
    line="${line:+$line }broker_died=1"
  fi
  [ -n "$line" ] || line="bench=${name%%-*} error=no_result loadgen_status=$rc"
  echo "$line"
  [ -z "${BENCH_OUT:-}" ] || echo "$line" >>"$BENCH_OUT"
  if [ "$rc" -ne 0 ]; then
    log "$name: loadgen exit status $rc (2 = completed with failures or losses)"
  fi
  if [ -s "$TMP/$name/broker.log" ]; then
    log "$name: broker warnings (first 10 of $(wc -l <"$TMP/$name/broker.log")):"
    head -n 10 "$TMP/$name/broker.log" | sed 's/^/  broker: /' >&2
  fi
  stop_broker
}

# Fanout through Redis: a throwaway redis-server on a unix socket (append-only file,
# fsync every second, as README advises), then 1 or 2 brokers on the Redis engine. With 2,
# the teacher is on A and the students alternate between A and B.
run_redis_fanout() {
  local name="$1" n="$2" dir="$TMP/$1-redis"
  mkdir -p "$dir"
  redis-server --port 0 --unixsocket "$dir/redis.sock" --dir "$dir" --save "" \
    --appendonly yes --appendfsync everysec --daemonize no --logfile "$dir/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    [ -S "$dir/redis.sock" ] && break
    sleep 0.05
  done
  export ROLLCALL_REDIS_URL="unix://$dir/redis.sock"
  local port2_args=()
  if [ "$n" = 2 ]; then
    start_broker "$name-b"
    BROKER2_PID="$BROKER_PID"
    port2_args=(--port2 "$PORT")
  fi
  start_broker "$name"
  unset ROLLCALL_REDIS_URL
  log "$name: redis pid $REDIS_PID, broker A pid $BROKER_PID on $PORT${BROKER2_PID:+, broker B pid $BROKER2_PID}"
  local line rc=0
  line="$(ROLLCALL_JWT_SECRET="$SECRET" "${LOADGEN_PIN[@]}" "$LOADGEN" fanout --label "$name" \
    --students "$STUDENTS" --rate "$RATE" --duration "$DURATION" --drain "$DRAIN" \
    --inflight "$INFLIGHT" --port "$PORT" "${port2_args[@]}" --broker-pid "$BROKER_PID" \
    --deadline "$DEADLINE")" || rc=$?
  [ -n "$line" ] || line="bench=fanout label=$name error=no_result loadgen_status=$rc"
  echo "$line"
  [ -z "${BENCH_OUT:-}" ] || echo "$line" >>"$BENCH_OUT"
  [ "$rc" -eq 0 ] || log "$name: loadgen exit status $rc"
  stop_redis_set
}

log "machine: $(nproc) CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
log "pinning: broker '${BROKER_PIN[*]:-none}', loadgen '${LOADGEN_PIN[*]:-none}'"
for s in $SCENARIOS; do
  case "$s" in
  connect)
    run_scenario connect connect --conns "$CONNS" --classes "$CLASSES" --inflight "$INFLIGHT" \
      --hold "$HOLD" ;;
  fanout)
    run_scenario fanout fanout --students "$STUDENTS" --rate "$RATE" --duration "$DURATION" \
      --drain "$DRAIN" --inflight "$INFLIGHT" ;;
  fanout-heavy)
    run_scenario fanout-heavy fanout --label heavy --students "$STUDENTS" --rate "$HEAVY_RATE" \
      --duration "$DURATION" --drain "$DRAIN" --inflight "$INFLIGHT" ;;
  analyze)
    # One analyzer on one core over the labeled photos fitted into 640x480 JPEGs.
    line="$(ROLLCALL_MODEL_DIR="${ROLLCALL_MODEL_DIR:-$REPO/models}" "${LOADGEN_PIN[@]}" \
      "$BUILD/bench/analyze_bench" "$REPO/../shared/data/faces" "${BENCH_ANALYZE_ROUNDS:-3}" \
      "$TMP/frame640.jpg")"
    echo "$line"
    [ -z "${BENCH_OUT:-}" ] || echo "$line" >>"$BENCH_OUT" ;;
  frames)
    # Students stream a 640x480 JPEG of a real face; the broker uses every core (no pinning).
    [ -s "$TMP/frame640.jpg" ] || ROLLCALL_MODEL_DIR="${ROLLCALL_MODEL_DIR:-$REPO/models}" \
      "$BUILD/bench/analyze_bench" "$REPO/../shared/data/faces" 0 "$TMP/frame640.jpg" >/dev/null
    saved_b=("${BROKER_PIN[@]}")
    saved_l=("${LOADGEN_PIN[@]}")
    BROKER_PIN=()
    LOADGEN_PIN=()
    for n in ${BENCH_FRAME_STUDENTS:-50 100 200 400}; do
      run_scenario "frames-$n" frames --students "$n" --image "$TMP/frame640.jpg" \
        --interval "${BENCH_FRAME_INTERVAL:-3}" --duration "${BENCH_FRAME_DURATION:-15}" \
        --drain "$DRAIN" --inflight "$INFLIGHT"
    done
    BROKER_PIN=("${saved_b[@]}")
    LOADGEN_PIN=("${saved_l[@]}") ;;
  fanout-redis-1)
    run_redis_fanout fanout-redis-1 1 ;;
  fanout-redis)
    run_redis_fanout fanout-redis 2 ;;
  *)
    log "unknown scenario '$s' (connect, fanout, fanout-heavy, fanout-redis-1, fanout-redis, analyze, frames)"
    exit 1 ;;
  esac
done
