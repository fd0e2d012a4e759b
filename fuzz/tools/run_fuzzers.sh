#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS seconds and prints a summary table
# from libFuzzer's final stats. Called by `make -f fuzz/fuzz.mk run`.
#
#   FZ=build-fuzz FUZZ_SECONDS=60 [FUZZ_MAX_LEN=8192] [FUZZ_ARGS=...] DICT_<target>=file \
#     fuzz/tools/run_fuzzers.sh TARGET...
#
# Per target: working corpus $FZ/work/<t> (kept between runs), seeds $FZ/corpus/<t>,
# crash/leak/timeout files in $FZ/artifacts/<t>/, full log in $FZ/logs/<t>.log.
# Exits 1 when any target crashed (the others still run), 2 on a missing binary.
set -uo pipefail
FZ=${FZ:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_ARGS=${FUZZ_ARGS:-}
rows=()
failed=()
for t in "$@"; do
  bin="$FZ/$t"
  [ -x "$bin" ] || { echo "run_fuzzers: $bin not built" >&2; exit 2; }
  mkdir -p "$FZ/work/$t" "$FZ/artifacts/$t" "$FZ/logs" "$FZ/corpus/$t"
  dictvar="DICT_$t"
  dict=${!dictvar:-}
  # -max_len 8192: the 64 KiB frame seeds would otherwise set it to 64 KiB and cut the
  # exec rate by 5x; they are still replayed whole by `make replay`. FUZZ_ARGS overrides.
  args=(-max_total_time="$FUZZ_SECONDS" -max_len="${FUZZ_MAX_LEN:-8192}" -timeout=10
        -rss_limit_mb=2560 -print_final_stats=1
        -artifact_prefix="$FZ/artifacts/$t/")
  [ -n "$dict" ] && args+=(-dict="$dict")
  # shellcheck disable=SC2206
  [ -n "$FUZZ_ARGS" ] && args+=($FUZZ_ARGS)
  log="$FZ/logs/$t.log"
  echo "fuzz: $t for ${FUZZ_SECONDS}s (log $log)"
  # CPU seconds (user + sys) too: on a shared machine exec per CPU-second is the
  # figure that compares runs; exec/s (libFuzzer's, wall clock) drops with the load.
  TIMEFORMAT='%U %S'
  { time "$bin" "${args[@]}" "$FZ/work/$t" "$FZ/corpus/$t" >"$log" 2>&1; } 2>"$log.cpu"
  rc=$?
  cpu=$(awk '{printf "%.1f", $1 + $2}' "$log.cpu")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n1)
  per_cpu=$(awk -v r="${runs:-0}" -v c="$cpu" 'BEGIN {if (c > 0) printf "%d", r / c; else print "-"}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -n1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  status=ok
  if [ $rc -ne 0 ]; then
    status="CRASH (rc $rc)"
    failed+=("$t")
    echo "---- $t: last lines of $log"
    grep -E 'ERROR|SUMMARY|invariant|runtime error|Test unit written|deadly signal' "$log" | head -n 20
    tail -n 30 "$log"
  fi
  rows+=("$(printf '%-24s %10s %9s %7s %11s %7s %7s %7s %7s  %s' "$t" "${runs:--}" "${eps:--}" \
           "${cpu:--}" "$per_cpu" "${cov:--}" "${ft:--}" "${corp:--}" "${rss:--}" "$status")")
done
echo
printf '%-24s %10s %9s %7s %11s %7s %7s %7s %7s  %s\n' target runs exec/s cpu_s exec/cpu_s cov ft \
  corpus rss_mb result
for r in "${rows[@]}"; do echo "$r"; done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: crashes in ${failed[*]}; inputs in $FZ/artifacts/<target>/ (reproduce: $FZ/<target> FILE)"
  exit 1
fi
echo "fuzz: ${#rows[@]} targets, ${FUZZ_SECONDS}s each, no crash"
