#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, starting from the seed corpus in fuzz/corpus.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]     bounded by time (CI's short run)
#        scripts/fuzz.sh --runs N [TARGET...]     bounded by executions: each target runs N inputs
# FUZZ_MAX_LEN=N caps the input length (libFuzzer's -max_len; by default the largest seed's):
# long runs of the slow targets (merge, index_page, metadata) go 5-10x faster under 8192.
# FUZZ_SANITIZER=none builds without AddressSanitizer (cargo fuzz -s none): for long runs of
# these targets, whose code is safe Rust, 2-3x more executions per second; the default keeps ASan.
# cargo fuzz needs a nightly compiler's -Z flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them (this machine has no other toolchain).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
if [ "${1:-}" = "--runs" ]; then
  runs=${2:?--runs needs a count}
  shift 2
  bound=(-runs="$runs")
  what="$runs executions"
  targets=${*:-$(cargo fuzz list)}
else
  secs=${1:-20}
  bound=(-max_total_time="$secs")
  what="${secs} s"
  targets=$(cargo fuzz list)
fi
if [ -n "${FUZZ_MAX_LEN:-}" ]; then
  bound+=(-max_len="$FUZZ_MAX_LEN")
  what="$what, inputs up to $FUZZ_MAX_LEN bytes"
fi
san=(-s "${FUZZ_SANITIZER:-address}")
cargo fuzz build -O "${san[@]}"
for t in $targets; do
  mkdir -p "corpus/$t"
  # A copy of the seeds, so the run's new inputs do not land in the repository's corpus.
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/"
  echo "-- $t: $what"
  log="$work.log"
  status=0
  cargo fuzz run -O "${san[@]}" "$t" "$work" -- "${bound[@]}" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|SUMMARY)|panicked|ERROR" "$log" || true
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz target $t failed (exit $status); the crashing input is in fuzz/artifacts/$t" >&2
    exit 1
  fi
  rm -f "$log"
done
echo "fuzzing: every target ran $what without a crash"
