#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks rollcall on this machine, side by side with bench/ref (a small Node `ws`
# reference server of our own): builds a release binary of the broker and the load generator
# (gcc, build-release/), installs the reference server's one dependency (npm ci) when it is
# missing, then for each scenario and each server in turn starts a fresh server on 127.0.0.1
# (any free port, random HS256 secret; the broker with a temp data dir and log level warn),
# waits for /readyz, runs bench/loadgen and stops the server by its PID. Prints one result
# line per run on stdout (bench=<scenario> server=<rollcall|node> key=value ...), then a
# table comparing the two servers; progress and the servers' warnings go to stderr.
# Not a test: it refuses to run under ctest or the e2e harness. See bench/README.md.
#
# Overrides (environment):
#   BENCH_SERVERS     "rollcall node"  servers to compare (rollcall-only scenarios ignore it)
#   BENCH_SCENARIOS   "connect ping fanout-low fanout-mid fanout-heavy" (any subset, in order;
#                     also fanout: at BENCH_RATE; and rollcall only: analyze, frames,
#                     fanout-redis-1: one instance on the Redis engine, and
#                     fanout-redis: teacher on instance A, students spread over A and B)
#   BENCH_ROUNDS      1       repeat the scenario list; the table shows medians
#   BENCH_CONNS       10000   connect: idle connections
#   BENCH_CLASSES     100     connect: spread over this many classes
#   BENCH_INFLIGHT    256     handshakes in flight
#   BENCH_HOLD        2       connect: seconds to hold the connections
#   BENCH_CLIENTS     100     ping: connections, each with one PING in flight
#   BENCH_STUDENTS    1000    fanout: students in the class
#   BENCH_RATE        100     fanout: teacher announcements per second
#   BENCH_LOW_RATE    20      fanout-low: announcements per second (20k deliveries/s)
#   BENCH_MID_RATE    60      fanout-mid: announcements per second (60k deliveries/s)
#   BENCH_HEAVY_RATE  500     fanout-heavy: announcements per second (saturation)
#   BENCH_DURATION    10      fanout and ping: seconds of sending
#   BENCH_DRAIN       5       fanout and ping: seconds to wait for stragglers
#   BENCH_DEADLINE    60      hard limit per loadgen run, seconds
#   BENCH_ANALYZE_ROUNDS 3    analyze: passes over the labeled photos
#   BENCH_FRAME_STUDENTS "50 100 200 400"  frames: one run per class size
#   BENCH_FRAME_INTERVAL 3    frames: seconds between a student's frames
#   BENCH_FRAME_DURATION 15   frames: seconds of streaming
#   BENCH_PIN         1       pin the broker to CPU 0 and loadgen to CPU 1 (needs 2 CPUs)
#   BENCH_LO_RPS      (none)  a CPU mask for the loopback device's receive steering
#                     (/sys/class/net/lo/queues/rx-*/rps_cpus; root only), set for the run
#                     and restored at exit. 2 (CPU 1, loadgen's): the receiving side's TCP
#                     work runs on the clients' core, as it would on their own machines,
#                     instead of inside the server's send. Affects all loopback traffic on
#                     the machine meanwhile; see bench/README.md.
#   BENCH_OUT         (none)  also append the result lines to this file
#   BENCH_NO_BUILD    0       1: use the existing build-release binaries
#   BENCH_KEEP        0       1: keep the temp dir (broker logs) afterwards
# Any ROLLCALL_* setting in the environment reaches the broker, except the ones set here
# (host, port, port file, data dir, secret, log level). ROLLCALL_ANALYZER_PRELOAD defaults
# to 0 in the scenarios that compare the servers (none of them sends a frame, and the
# reference server has no analyzer), and keeps the broker's default (1) in the others.
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
SERVERS="${BENCH_SERVERS:-rollcall node}"
SCENARIOS="${BENCH_SCENARIOS:-connect ping fanout-low fanout-mid fanout-heavy}"
ROUNDS="${BENCH_ROUNDS:-1}"
CLIENTS="${BENCH_CLIENTS:-100}"
CONNS="${BENCH_CONNS:-10000}"
CLASSES="${BENCH_CLASSES:-100}"
INFLIGHT="${BENCH_INFLIGHT:-256}"
HOLD="${BENCH_HOLD:-2}"
STUDENTS="${BENCH_STUDENTS:-1000}"
RATE="${BENCH_RATE:-100}"
LOW_RATE="${BENCH_LOW_RATE:-20}"
MID_RATE="${BENCH_MID_RATE:-60}"
HEAVY_RATE="${BENCH_HEAVY_RATE:-500}"
DURATION="${BENCH_DURATION:-10}"
DRAIN="${BENCH_DRAIN:-5}"
DEADLINE="${BENCH_DEADLINE:-60}"
PIN="${BENCH_PIN:-1}"

log() { echo "bench: $*" >&2; }

for sv in $SERVERS; do
  case "$sv" in
  rollcall | node) ;;
  *) log "unknown server '$sv' in BENCH_SERVERS (rollcall, node)"; exit 1 ;;
  esac
done
case "$ROUNDS" in
'' | *[!0-9]* | 0) log "BENCH_ROUNDS must be a positive integer"; exit 1 ;;
esac

# --- build ----------------------------------------------------------------------------------
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building release binaries in $BUILD (gcc)"
  cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc >/dev/null
  cmake --build "$BUILD" --target rollcall loadgen analyze_bench -j"$(nproc)" >/dev/null
fi
ROLLCALL="$BUILD/rollcall"
LOADGEN="$BUILD/bench/loadgen"
[ -x "$ROLLCALL" ] && [ -x "$LOADGEN" ] || { log "missing $ROLLCALL or $LOADGEN"; exit 1; }

# --- the reference server ---------------------------------------------------------------------
REF="$REPO/bench/ref"
case " $SERVERS " in
*" node "*)
  command -v node >/dev/null || { log "node is not installed: drop 'node' from BENCH_SERVERS"; exit 1; }
  if [ ! -d "$REF/node_modules/ws" ]; then
    log "installing the reference server's dependencies (npm ci --prefix bench/ref)"
    npm ci --prefix "$REF" --no-audit --no-fund --loglevel=error >&2
  fi
  log "reference server: node $(node --version), ws $(node -p 'require(process.argv[1]).version' "$REF/node_modules/ws/package.json")" ;;
esac

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

# --- loopback receive steering (BENCH_LO_RPS) -------------------------------------------------
RPS_FILES=()
RPS_SAVED=()
LO_RPS="${BENCH_LO_RPS:-}"
if [ -n "$LO_RPS" ]; then
  case "$LO_RPS" in
  *[!0-9a-fA-F,]*) log "BENCH_LO_RPS must be a hex CPU mask (2 = CPU 1)"; exit 1 ;;
  esac
  for f in /sys/class/net/lo/queues/rx-*/rps_cpus; do
    [ -w "$f" ] || { log "cannot write $f (BENCH_LO_RPS needs root)"; exit 1; }
    RPS_FILES+=("$f")
    RPS_SAVED+=("$(cat "$f")")
  done
fi
restore_rps() {
  local i
  for i in "${!RPS_FILES[@]}"; do
    echo "${RPS_SAVED[$i]}" > "${RPS_FILES[$i]}" 2>/dev/null || log "could not restore ${RPS_FILES[$i]}"
  done
  RPS_FILES=()
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/rollcall-bench.XXXXXX")"
BROKER_PID=""
PRELOAD=""
SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

RESULTS="$TMP/results.txt"
: >"$RESULTS"

# Stops the server under test (the broker or the reference server) by its PID.
stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  if kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$BROKER_PID" 2>/dev/null; then
      log "server $BROKER_PID did not stop within 15 s of SIGTERM: SIGKILL"
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
  restore_rps
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

# Starts a fresh server (kind rollcall or node) for one run in $TMP/<dir>; sets BROKER_PID,
# PORT and RSS_START (its VmRSS in kB right after /readyz answered, before any connection).
# Both kinds are started the same way: pinned alike, the same secret, a port file, /readyz.
start_server() {
  local name="$1" kind="$2" dir="$TMP/$1"
  mkdir -p "$dir"
  if [ "$kind" = node ]; then
    (
      export ROLLCALL_JWT_SECRET="$SECRET"
      exec "${BROKER_PIN[@]}" node "$REF/server.mjs" --host 127.0.0.1 --port 0 \
        --port-file "$dir/port"
    ) 2>"$dir/server.log" &
  else
    mkdir -p "$dir/data"
    (
      export ROLLCALL_JWT_SECRET="$SECRET" ROLLCALL_LOG_LEVEL=warn
      [ -z "$PRELOAD" ] || export ROLLCALL_ANALYZER_PRELOAD="$PRELOAD"
      unset ROLLCALL_DEV ROLLCALL_JWT_PUBLIC_KEY ROLLCALL_JWT_ALG ROLLCALL_JWT_ISSUER \
        ROLLCALL_JWT_AUDIENCE
      exec "${BROKER_PIN[@]}" "$ROLLCALL" --host 127.0.0.1 --port 0 --port-file "$dir/port" \
        --data-dir "$dir/data"
    ) 2>"$dir/server.log" &
  fi
  BROKER_PID=$!
  PORT=""
  RSS_START=na
  for _ in $(seq 1 100); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      log "$kind server exited during start-up; its log:"
      cat "$dir/server.log" >&2
      exit 1
    fi
    if [ -s "$dir/port" ]; then
      PORT="$(cat "$dir/port")"
      if readyz "$PORT"; then
        RSS_START="$(awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status" 2>/dev/null || true)"
        [ -n "$RSS_START" ] || RSS_START=na
        return 0
      fi
    fi
    sleep 0.1
  done
  log "$kind server not ready after 10 s; its log:"
  tail -n 20 "$dir/server.log" >&2
  exit 1
}

start_broker() {
  start_server "$1" rollcall
}

# Prints a result line and keeps it for the comparison table.
emit() {
  echo "$1"
  echo "$1" >>"$RESULTS"
  [ -z "${BENCH_OUT:-}" ] || echo "$1" >>"$BENCH_OUT"
}

# Runs one loadgen scenario against a fresh server of one kind and prints its result line:
# run_scenario <name> <rollcall|node> <loadgen arguments...>
run_scenario() {
  local name="$1" kind="$2" dir="$1-$2"
  shift 2
  [ "$ROUNDS" = 1 ] || dir="$dir-r$ROUND"
  start_server "$dir" "$kind"
  local load1
  load1="$(cut -d' ' -f1 /proc/loadavg)"
  log "$name: $kind pid $BROKER_PID on 127.0.0.1:$PORT (load average $load1); loadgen $*"
  local line rc=0 st
  line="$(ROLLCALL_JWT_SECRET="$SECRET" "${LOADGEN_PIN[@]}" "$LOADGEN" "$@" --server "$kind" \
    --port "$PORT" --broker-pid "$BROKER_PID" --deadline "$DEADLINE")" || rc=$?
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    wait "$BROKER_PID" 2>/dev/null && st=0 || st=$?
    log "$name: THE $kind SERVER DIED (exit status $st) during the run; last log lines:"
    tail -n 20 "$TMP/$dir/server.log" >&2
    BROKER_PID=""
    line="${line:+$line }broker_died=1"
  fi
  [ -n "$line" ] || line="bench=${name%%-*} server=$kind error=no_result loadgen_status=$rc"
  line="$line rss_start_kb=$RSS_START load1=$load1"
  [ "$ROUNDS" = 1 ] || line="$line round=$ROUND"
  emit "$line"
  if [ "$rc" -ne 0 ]; then
    log "$name: loadgen exit status $rc (2 = completed with failures or losses)"
  fi
  if [ -s "$TMP/$dir/server.log" ]; then
    log "$name: $kind server warnings (first 10 of $(wc -l <"$TMP/$dir/server.log")):"
    head -n 10 "$TMP/$dir/server.log" | sed "s/^/  $kind: /" >&2
  fi
  stop_broker
}

# Runs one scenario against every server of BENCH_SERVERS in turn, each on a fresh server.
# The server that goes first alternates from one call to the next, so that neither always
# runs on the machine the other has just warmed up (or loaded).
PAIR=0
run_pair() {
  local name="$1" order=() sv
  shift
  for sv in $SERVERS; do
    if [ $((PAIR % 2)) = 0 ]; then order+=("$sv"); else order=("$sv" "${order[@]}"); fi
  done
  PAIR=$((PAIR + 1))
  for sv in "${order[@]}"; do
    run_scenario "$name" "$sv" "$@"
  done
}

# Fanout through Redis: a throwaway redis-server on a unix socket (append-only file,
# fsync every second, as README advises), then 1 or 2 brokers on the Redis engine. With 2,
# the teacher is on A and the students alternate between A and B.
run_redis_fanout() {
  local name="$1" n="$2" tag="$1"
  [ "$ROUNDS" = 1 ] || tag="$tag-r$ROUND"
  local dir="$TMP/$tag-redis"
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
    start_broker "$tag-b"
    BROKER2_PID="$BROKER_PID"
    port2_args=(--port2 "$PORT" --broker2-pid "$BROKER2_PID")
  fi
  start_broker "$tag"
  unset ROLLCALL_REDIS_URL
  log "$name: redis pid $REDIS_PID, broker A pid $BROKER_PID on $PORT${BROKER2_PID:+, broker B pid $BROKER2_PID}"
  local line rc=0
  line="$(ROLLCALL_JWT_SECRET="$SECRET" "${LOADGEN_PIN[@]}" "$LOADGEN" fanout --label "$name" \
    --server rollcall \
    --students "$STUDENTS" --rate "$RATE" --duration "$DURATION" --drain "$DRAIN" \
    --inflight "$INFLIGHT" --port "$PORT" "${port2_args[@]}" --broker-pid "$BROKER_PID" \
    --deadline "$DEADLINE")" || rc=$?
  [ -n "$line" ] || line="bench=fanout server=rollcall label=$name error=no_result loadgen_status=$rc"
  line="$line rss_start_kb=$RSS_START load1=$(cut -d' ' -f1 /proc/loadavg)"
  [ "$ROUNDS" = 1 ] || line="$line round=$ROUND"
  emit "$line"
  [ "$rc" -eq 0 ] || log "$name: loadgen exit status $rc"
  stop_redis_set
}

# Prints the comparison table: for each figure, the median over the rounds for each server
# and the factor by which rollcall is ahead (above 1) or behind (below 1), taken as
# rollcall/node where higher is better and node/rollcall where lower is better. A value
# marked * comes from a run that did not complete cleanly (failures, drops, or deliveries
# missing at the end of the drain below saturation). A saturation figure marked >= comes from
# runs where the server kept up with the offered rate: a lower bound, not its capacity.
compare_table() {
  awk -v rounds="$ROUNDS" -v k="$STUDENTS" -v low="$LOW_RATE" -v mid="$MID_RATE" \
    -v preload="${ROLLCALL_ANALYZER_PRELOAD:-0}" -v rps="${LO_RPS:-off}" \
    -v heavy="$HEAVY_RATE" -v clients="$CLIENTS" -v conns="$CONNS" -v load0="$LOAD_START" \
    -v load1="$(cut -d' ' -f1-3 /proc/loadavg)" '
  function med(key, n, i, j, t, a) {
    n = cnt[key]
    if (n == 0) return ""
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function row(id, title, better, fmt,   r, n, rb, nb, rs, ns, ratio, how) {
    r = med(id SUBSEP "rollcall"); n = med(id SUBSEP "node")
    if (r == "" && n == "") return
    rb = r == "" ? "" : bound(id, "rollcall"); nb = n == "" ? "" : bound(id, "node")
    rs = r == "" ? "-" : rb sprintf(fmt, r) (bad[id, "rollcall"] ? "*" : "")
    ns = n == "" ? "-" : nb sprintf(fmt, n) (bad[id, "node"] ? "*" : "")
    if (bad[id, "rollcall"] || bad[id, "node"]) anybad = 1
    ratio = "-"
    if (better == "hi" && r != "" && n != "" && n > 0) ratio = sprintf("%.2fx", r / n)
    if (better == "lo" && r != "" && n != "" && r > 0) ratio = sprintf("%.2fx", n / r)
    # A lower bound on one side makes the factor a bound too; on both sides, no factor.
    if (ratio != "-" && rb != "" && nb != "") ratio = "-"
    else if (ratio != "-" && rb != "") ratio = ">=" ratio
    else if (ratio != "-" && nb != "") ratio = "<=" ratio
    how = better == "hi" ? "rollcall/node, higher is better" : "node/rollcall, lower is better"
    printf "| %s | %s | %s | %s (%s) |\n", title, rs, ns, ratio, how
  }
  function bound(id, s) {
    if (id != "sat" || kept[s] < cnt[id, s]) return ""
    lower = 1
    return ">="
  }
  function add(id, s, v, b) {
    if (v == "" || v == "na") return
    cnt[id, s]++; val[id, s, cnt[id, s]] = v + 0
    if (b) bad[id, s] = 1
    any = 1
  }
  {
    delete kv
    for (i = 1; i <= NF; i++) { e = index($i, "="); if (e) kv[substr($i, 1, e - 1)] = substr($i, e + 1) }
    s = kv["server"]
    if (s != "rollcall" && s != "node") next
    # Values are strings here: +0 makes every comparison numeric.
    b = ("error" in kv) || kv["broker_died"] + 0 || kv["deadline_hit"] + 0 || kv["failed"] + 0 || kv["dropped"] + 0
    if (kv["bench"] == "connect") {
      b = b || kv["ping_errors"] + 0 || kv["pinged"] + 0 < kv["established"] + 0
      add("conns", s, kv["conns_per_s"], b); add("rss_conn", s, kv["rss_per_conn_kb"], b)
    } else if (kv["bench"] == "ping") {
      b = b || kv["unanswered"] + 0 || kv["ping_errors"] + 0
      add("ping", s, kv["pings_per_s"], b); add("cpu_ping", s, kv["cpu_us_per_ping"], b)
      add("rtt50", s, kv["rtt_p50_ms"], b); add("rtt99", s, kv["rtt_p99_ms"], b)
    } else if (kv["bench"] == "fanout" && (kv["label"] == "low" || kv["label"] == "mid")) {
      l = kv["label"]; b = b || kv["lost"] + 0 || kv["order_errors"] + 0
      add("cpu_" l, s, kv["cpu_us_per_delivery"], b)
      add("p50_" l, s, kv["lat_p50_ms"], b); add("p99_" l, s, kv["lat_p99_ms"], b)
      add("w50_" l, s, kv["wire_p50_ms"], b); add("w99_" l, s, kv["wire_p99_ms"], b)
      add("dps_" l, s, kv["deliveries_per_s"], b)
    } else if (kv["bench"] == "fanout" && kv["label"] == "heavy") {
      b = b || kv["order_errors"] + 0
      add("sat", s, kv["deliveries_per_s"], b); add("cpu_sat", s, kv["cpu_us_per_delivery"], b)
      if (kv["lost"] != "" && kv["lost"] + 0 == 0) kept[s]++
    } else {
      next
    }
    if (kv["rss_start_kb"] != "" && kv["rss_start_kb"] != "na") add("rss_start", s, kv["rss_start_kb"] / 1024, 0)
  }
  END {
    if (!any) exit
    print ""
    printf "# rollcall vs node (bench/ref): median of %d round%s; load average (1, 5, 15 min) %s at the start, %s at the end; rollcall with ROLLCALL_ANALYZER_PRELOAD=%s; loopback receive steering %s\n", rounds, rounds == 1 ? "" : "s", load0, load1, preload, rps
    print "| figure | rollcall | node | rollcall ahead by |"
    print "|---|---|---|---|"
    row("sat", sprintf("fanout at saturation (R=%s, %s students): deliveries/s", heavy, k), "hi", "%.0f")
    row("cpu_sat", "fanout at saturation: server CPU us per delivery", "lo", "%.2f")
    row("cpu_low", sprintf("fanout at %gk/s: server CPU us per delivery", low * k / 1000), "lo", "%.2f")
    row("p50_low", sprintf("fanout at %gk/s: latency p50 ms", low * k / 1000), "lo", "%.2f")
    row("p99_low", sprintf("fanout at %gk/s: latency p99 ms", low * k / 1000), "lo", "%.2f")
    row("w50_low", sprintf("fanout at %gk/s: to the socket p50 ms", low * k / 1000), "lo", "%.2f")
    row("w99_low", sprintf("fanout at %gk/s: to the socket p99 ms", low * k / 1000), "lo", "%.2f")
    row("cpu_mid", sprintf("fanout at %gk/s: server CPU us per delivery", mid * k / 1000), "lo", "%.2f")
    row("p50_mid", sprintf("fanout at %gk/s: latency p50 ms", mid * k / 1000), "lo", "%.2f")
    row("p99_mid", sprintf("fanout at %gk/s: latency p99 ms", mid * k / 1000), "lo", "%.2f")
    row("w50_mid", sprintf("fanout at %gk/s: to the socket p50 ms", mid * k / 1000), "lo", "%.2f")
    row("w99_mid", sprintf("fanout at %gk/s: to the socket p99 ms", mid * k / 1000), "lo", "%.2f")
    row("conns", sprintf("connect %s: connections/s", conns), "hi", "%.0f")
    row("ping", sprintf("ping, %s clients: PING/s", clients), "hi", "%.0f")
    row("cpu_ping", "ping: server CPU us per PING", "lo", "%.2f")
    row("rtt50", "ping: round trip p50 ms", "lo", "%.3f")
    row("rtt99", "ping: round trip p99 ms", "lo", "%.3f")
    row("rss_conn", "RSS per connection, KB (idle, one PING answered)", "lo", "%.2f")
    row("rss_start", "RSS after start, MB (median over every fresh start)", "lo", "%.1f")
    if (anybad) print "* from a run that did not complete cleanly: see its result line"
    if (lower) print ">= the server delivered everything offered: not saturated, so this is a lower bound (raise BENCH_HEAVY_RATE)"
  }' "$RESULTS"
}

# Check the whole list first: a typo should not surface after minutes of running.
for s in $SCENARIOS; do
  case "$s" in
  connect | ping | fanout | fanout-low | fanout-mid | fanout-heavy | analyze | frames | \
    fanout-redis-1 | fanout-redis) ;;
  *)
    log "unknown scenario '$s' (connect, ping, fanout, fanout-low, fanout-mid, fanout-heavy," \
      "fanout-redis-1, fanout-redis, analyze, frames)"
    exit 1 ;;
  esac
done

log "machine: $(nproc) CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
log "pinning: server '${BROKER_PIN[*]:-none}', loadgen '${LOADGEN_PIN[*]:-none}'; servers: $SERVERS"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${#RPS_FILES[@]}" -gt 0 ]; then
  for f in "${RPS_FILES[@]}"; do echo "$LO_RPS" > "$f"; done
  log "loopback receive steering: rps_cpus=$LO_RPS (was ${RPS_SAVED[0]}); restored at exit"
fi
log "load average (1, 5, 15 min): $LOAD_START"
FANOUT_ARGS=(--students "$STUDENTS" --duration "$DURATION" --drain "$DRAIN" --inflight "$INFLIGHT")
for ROUND in $(seq 1 "$ROUNDS"); do
  [ "$ROUNDS" = 1 ] || log "round $ROUND of $ROUNDS"
  for s in $SCENARIOS; do
    # The compared scenarios send no frame: the broker runs without its analyzer's models,
    # as the reference server has none, unless the environment says otherwise.
    PRELOAD="${ROLLCALL_ANALYZER_PRELOAD:-0}"
    case "$s" in
    connect)
      run_pair connect connect --conns "$CONNS" --classes "$CLASSES" --inflight "$INFLIGHT" \
        --hold "$HOLD" --ping-each 1 ;;
    ping)
      run_pair ping ping --clients "$CLIENTS" --duration "$DURATION" --drain "$DRAIN" \
        --inflight "$INFLIGHT" ;;
    fanout)
      run_pair fanout fanout --rate "$RATE" "${FANOUT_ARGS[@]}" ;;
    fanout-low)
      run_pair fanout-low fanout --label low --rate "$LOW_RATE" "${FANOUT_ARGS[@]}" ;;
    fanout-mid)
      run_pair fanout-mid fanout --label mid --rate "$MID_RATE" "${FANOUT_ARGS[@]}" ;;
    fanout-heavy)
      run_pair fanout-heavy fanout --label heavy --rate "$HEAVY_RATE" "${FANOUT_ARGS[@]}" ;;
    analyze)
      # One analyzer on one core over the labeled photos fitted into 640x480 JPEGs.
      line="$(ROLLCALL_MODEL_DIR="${ROLLCALL_MODEL_DIR:-$REPO/models}" "${LOADGEN_PIN[@]}" \
        "$BUILD/bench/analyze_bench" "$REPO/../shared/data/faces" "${BENCH_ANALYZE_ROUNDS:-3}" \
        "$TMP/frame640.jpg")"
      echo "$line"
      [ -z "${BENCH_OUT:-}" ] || echo "$line" >>"$BENCH_OUT" ;;
    frames)
      # Students stream a 640x480 JPEG of a real face; the broker uses every core (no pinning)
      # and, by default, has its models loaded before /readyz.
      PRELOAD=""
      [ -s "$TMP/frame640.jpg" ] || ROLLCALL_MODEL_DIR="${ROLLCALL_MODEL_DIR:-$REPO/models}" \
        "$BUILD/bench/analyze_bench" "$REPO/../shared/data/faces" 0 "$TMP/frame640.jpg" >/dev/null
      saved_b=("${BROKER_PIN[@]}")
      saved_l=("${LOADGEN_PIN[@]}")
      BROKER_PIN=()
      LOADGEN_PIN=()
      for n in ${BENCH_FRAME_STUDENTS:-50 100 200 400}; do
        run_scenario "frames-$n" rollcall frames --students "$n" --image "$TMP/frame640.jpg" \
          --interval "${BENCH_FRAME_INTERVAL:-3}" --duration "${BENCH_FRAME_DURATION:-15}" \
          --drain "$DRAIN" --inflight "$INFLIGHT"
      done
      BROKER_PIN=("${saved_b[@]}")
      LOADGEN_PIN=("${saved_l[@]}") ;;
    fanout-redis-1)
      PRELOAD=""
      run_redis_fanout fanout-redis-1 1 ;;
    fanout-redis)
      PRELOAD=""
      run_redis_fanout fanout-redis 2 ;;
    esac
  done
done
compare_table
