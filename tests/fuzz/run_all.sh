#!/usr/bin/env bash
# Runs every libFuzzer target of a CAIRN_FUZZ build for a bounded time each.
#   tests/fuzz/run_all.sh BUILD_DIR SECONDS
# Seeds come from tests/fuzz/corpus/<name>/ (read only); inputs libFuzzer finds go to
# BUILD_DIR/fuzz/<name>/. A crash, leak, timeout or sanitizer report stops that target, keeps the
# input in BUILD_DIR/fuzz/artifacts/ and makes this script fail; copy the input into the corpus
# once it is fixed, so it stays a regression test. Ends with "N passed, N failed".
set -uo pipefail
build=${1:?build dir}
seconds=${2:?seconds per target}
root=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/fuzz/artifacts"
passed=0; failed=0; failures=()
for bin in "$build"/bin/fuzz_*; do
  name=${bin##*/fuzz_}
  work="$build/fuzz/$name"
  mkdir -p "$work"
  echo "== fuzz $name for ${seconds}s"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="$build/fuzz/artifacts/$name-" \
       "$work" "$root/corpus/$name" >"$build/fuzz/$name.log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$build/fuzz/$name.log" | tr '\n' ' '
    echo; passed=$((passed + 1))
  else
    tail -n 40 "$build/fuzz/$name.log"; failed=$((failed + 1)); failures+=("$name")
  fi
done
[ $((passed + failed)) -gt 0 ] || { echo "no fuzz targets in $build/bin"; exit 1; }
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
