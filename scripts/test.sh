#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a clang build with AddressSanitizer
# and UndefinedBehaviorSanitizer (unit, end-to-end and a short libFuzzer run), after a gcc
# build of everything with warnings as errors, and a clang build with ThreadSanitizer of the
# threaded modules' unit tests, which the ASan suite runs as its tsan.* tests. Ends with
# ctest's summary line of the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs="$(nproc)"

echo "== gcc build (warnings are errors)"
cmake -S . -B build-gcc -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release -DROLLCALL_WERROR=ON >/dev/null
cmake --build build-gcc -j"$jobs" >/dev/null

echo "== clang build with ThreadSanitizer (threaded modules' unit tests)"
# Only the test targets: the pool links an analyzer stand-in, so the C++ island is not built.
cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DROLLCALL_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target jobq_test pool_test journal_test journal_analytics_test \
  mongo_sink_test st_redis_test acct_service_test acct_backend_test \
  >/dev/null

echo "== clang build with ASan + UBSan"
cmake -S . -B build-test -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DROLLCALL_SANITIZE=ON -DROLLCALL_FUZZ=ON -DROLLCALL_TSAN_BUILD_DIR="$PWD/build-tsan" >/dev/null
cmake --build build-test -j"$jobs" >/dev/null

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ulimit -n 65536 2>/dev/null || true
cd build-test
ctest --output-on-failure --timeout 600 -j"$jobs"
