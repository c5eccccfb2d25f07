#!/usr/bin/env bash
# The one benchmark: every command started as a user's shell starts it (`bash -c`, the caller's
# own PATH — on a machine with pyenv, its shims come first), timed over several runs, printed
# side by side with the ratio against what a user would run instead.
#
#   compat check vs `uv pip check` vs `pip check`, on a small (~20) and a large (200+) venv
#   compat probe (target: 50 ms)
#   compat smoke --device cpu --level quick (target: 2 s)
#   the CPU kernels (NF4, NF4-DQ, int8) vs candle's Q4_0 / Q4K / Q8_0 on down_proj and q_proj,
#   batch 1 and 8: ms, GB/s, share of the measured memory bandwidth, ratio (examples/kernels.rs)
#
# usage: bench/run.sh [--runs N] [--quick]
#   --quick: fewer runs (what .ci/run uses). Needs: target/release/compat and
#   target/release/examples/kernels (built if missing),
#   python3 with venv and pip, and an index pip can install from (for the venvs and for uv).
#   Environments are made once under target/bench/ and reused.
#
# Not a test: it prints figures, and exits 0 unless a command cannot run at all.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --quick) runs=5; shift ;;
    *) echo "usage: bench/run.sh [--runs N] [--quick]" >&2; exit 2 ;;
  esac
done
compat=$PWD/target/release/compat
[ -x "$compat" ] || cargo build --release --locked
work=$PWD/target/bench
mkdir -p "$work"
pip_q=(--quiet --disable-pip-version-check --no-input)

# --- environments ----------------------------------------------------------------------------
small=$work/venv-small
if [ ! -f "$small/.done" ]; then
  rm -rf "$small"
  python3 -m venv "$small"
  "$small/bin/python" -m pip install "${pip_q[@]}" requests rich click jinja2 pyyaml packaging \
    tqdm attrs python-dateutil
  touch "$small/.done"
fi
large=${BENCH_LARGE_VENV:-$PWD/target/ci-stack}
if [ ! -x "$large/bin/python" ]; then
  echo "bench: $large is missing: run scripts/real-stack.sh first (it builds the 200+ venv)" >&2
  large=""
fi
tools=$work/tools
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install "${pip_q[@]}" uv || echo "bench: uv could not be installed; its column stays empty" >&2
fi
uv=""
[ -x "$tools/bin/uv" ] && uv=$tools/bin/uv

# --- timing ----------------------------------------------------------------------------------
# median_ms CMD: runs CMD once untimed (warm caches), then $runs times through `bash -c`, and
# prints the median wall time in milliseconds.
median_ms() {
  local cmd=$1 i t0 t1
  bash -c "$cmd" >/dev/null 2>&1 || true
  local times=()
  for ((i = 0; i < runs; i++)); do
    t0=$EPOCHREALTIME
    bash -c "$cmd" >/dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

count() { "$1/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l; }

printf '\ncompat benchmark — %s runs each, median wall time, commands started by `bash -c` with this PATH\n' "$runs"
printf 'PATH starts: %s\n\n' "$(printf '%s' "$PATH" | cut -d: -f1-3)"
printf '%-34s %12s %12s %12s %10s %10s\n' "what" "compat" "uv pip" "pip" "vs uv" "vs pip"
row_check() {
  local label=$1 venv=$2
  local c u p
  c=$(median_ms "$(printf '%q check --python %q --format json' "$compat" "$venv")")
  p=$(median_ms "$(printf '%q -m pip check' "$venv/bin/python")")
  if [ -n "$uv" ]; then u=$(median_ms "$(printf '%q pip check --python %q' "$uv" "$venv/bin/python")"); else u=""; fi
  awk -v l="$label" -v c="$c" -v u="$u" -v p="$p" 'BEGIN {
    us = (u == "") ? "—" : sprintf("%.1f ms", u); ur = (u == "") ? "—" : sprintf("%.1fx", u / c)
    printf "%-34s %9.1f ms %12s %9.1f ms %10s %9.0fx\n", l, c, us, p, ur, p / c }'
}
row_check "check, $(count "$small") distributions" "$small"
[ -n "$large" ] && row_check "check, $(count "$large") distributions" "$large"

probe=$(median_ms "$(printf '%q probe --format json' "$compat")")
awk -v c="$probe" 'BEGIN { printf "%-34s %9.1f ms %12s %12s   target 50 ms: %s\n", "probe", c, "", "", (c <= 50 ? "met" : "missed") }'
smoke_runs=$runs
runs=$(( runs < 3 ? runs : 3 ))
smoke=$(median_ms "$(printf '%q smoke --device cpu --level quick' "$compat")")
runs=$smoke_runs
awk -v c="$smoke" 'BEGIN { printf "%-34s %9.1f ms %12s %12s   target 2000 ms: %s\n", "smoke --level quick (cpu)", c, "", "", (c <= 2000 ? "met" : "missed") }'

# --- kernels ---------------------------------------------------------------------------------
kernels=$PWD/target/release/examples/kernels
[ -x "$kernels" ] || cargo build --release --locked --example kernels
echo
if [ "$runs" -le 5 ]; then "$kernels" --quick; else "$kernels"; fi
