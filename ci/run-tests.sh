#!/usr/bin/env bash
# Runs cmocka test binaries from the project root and prints one summary line.
# Fails when any binary fails, crashes, or when no test ran at all.
# Usage: ci/run-tests.sh LABEL BINARY...   (LABEL is one word: unit, asan, coverage)
set -uo pipefail
label=${1:-unit}; shift || true
passed=0; failed=0; bins_failed=()
for bin in "$@"; do
  out=$("$bin" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED) |^\[  ERROR|^\[ RUN|^==|runtime error|Sanitizer' | grep -v '^\[ RUN' || true
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
  if [ $rc -ne 0 ]; then
    bins_failed+=("$bin")
    [ "$f" -eq 0 ] && failed=$((failed + 1))     # crashed or sanitizer abort
    printf '%s\n' "$out" | tail -n 40
  fi
done
echo "$label: $passed passed, $failed failed"
if [ ${#bins_failed[@]} -ne 0 ]; then echo "failing: ${bins_failed[*]}"; exit 1; fi
if [ $passed -eq 0 ]; then echo "no test ran"; exit 1; fi
exit 0
