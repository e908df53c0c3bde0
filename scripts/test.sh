#!/usr/bin/env bash
# Installs what is needed, builds and runs every test: the release build (unit + integration
# against real peers), the same tests under ASan+UBSan, and a bounded libFuzzer run per parser.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=${JOBS:-$(nproc)}

bash scripts/setup.sh

echo "== release build"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$JOBS"
echo "== release tests"
ctest --test-dir build/release --output-on-failure -j "$JOBS"

echo "== asan+ubsan build"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAUSEWAY_SANITIZE=ON \
  -DCAUSEWAY_BENCH=OFF >/dev/null
cmake --build build/asan -j "$JOBS"
echo "== asan+ubsan tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$JOBS"

echo "== fuzz build (clang-14, libFuzzer)"
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAUSEWAY_FUZZ=ON \
  -DCAUSEWAY_TESTS=OFF -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
# Only the fuzz targets (and what they link): the whole tree is already built twice above.
fuzz_targets=$(for f in tests/fuzz/*_fuzz.cc; do basename "$f" .cc; done)
cmake --build build/fuzz -j "$JOBS" --target $fuzz_targets
echo "== fuzz runs (${FUZZ_SECONDS}s each)"
for target in build/fuzz/tests/fuzz/*_fuzz; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus=build/fuzz/corpus/$name
  mkdir -p "$corpus"
  seeds=tests/fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=""
  echo "-- $name"
  "$target" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 \
    -print_final_stats=1 "$corpus" $seeds 2>&1 | tail -n 12
done
echo "all test stages passed"
