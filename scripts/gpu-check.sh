#!/usr/bin/env bash
# The GPU checks, in one short run on a machine with an NVIDIA GPU (and no network).
# Build here first (the binaries link only libc and load the NVIDIA libraries at run time):
#   cargo build --release && cargo test --release --test integration --no-run
#   scripts/gpu-check.sh --collect      # copies the binaries to target/gpu-carry/
# then carry target/gpu-carry to the GPU machine and run:  target/gpu-carry/gpu-check.sh
# It prints the probe, the table of every GPU check (kernel error and its bound, format error and
# the format's worst case, GB/s and the share of the measured HBM bandwidth, whether the GPU's
# bytes are the CPU's), the CUDA column of `compat check`, and the GPU integration tests.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = "--collect" ]; then
  out="$here/../target/gpu-carry"; mkdir -p "$out"
  cp "$here/../target/release/compat" "$out/"
  tests=$(ls -t "$here"/../target/release/deps/integration-* 2>/dev/null | grep -v '\.d$' | head -1)
  [ -n "$tests" ] && cp "$tests" "$out/integration-tests"
  cp "$0" "$out/gpu-check.sh"
  echo "collected in $out"; exit 0
fi
bin=${COMPAT:-$here/compat}
# compat loads libnvrtc.so.13 / .so.12 and libcublas.so.13 / .so.12 by name: put the folders
# that hold them (a toolkit, or NVIDIA's wheels) on the library path.
extra=""
for n in nvrtc cublas; do
  for f in /usr/local/cuda*/lib64/lib$n.so.1[23] /usr/lib/x86_64-linux-gnu/lib$n.so.1[23] \
           /usr/local/lib/python3*/*-packages/nvidia/*/lib/lib$n.so.1[23]; do
    [ -e "$f" ] && { extra="$extra:$(dirname "$f")"; echo "$n: $f"; }
  done
done
export LD_LIBRARY_PATH="${extra#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "== probe";            "$bin" probe
echo "== smoke (GPU + CPU, full)"
"$bin" smoke --level full --format json --output smoke.json; echo "exit $?"
python3 - smoke.json <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
print(f"GPU: {r.get('gpu')}")
print("| check | tensor | verdict | kernel error (bound) | format error (worst case) | GB/s | share of HBM | GPU bytes == CPU |")
print("|---|---|---|---|---|---|---|---|")
e = lambda v: "—" if v is None else f"{v:.2e}"
for c in r["checks"]:
    if c["device"] != "cuda":
        continue
    m = re.match(r"([0-9.]+) GB/s(?: \(([0-9]+)% of)?", c.get("throughput") or "")
    gbs, share = (m.group(1), (m.group(2) or "—") + "%") if m else (c.get("throughput") or "—", "—")
    same = {True: "yes", False: "NO", None: "—"}[c.get("same_bytes")]
    print(f"| {c['id']} | {c['layer'].removeprefix('model.')} | {c['verdict']} | {e(c['kernel_error'])} ({e(c['kernel_bound'])}) "
          f"| {e(c['format_error'])} ({e(c['format_bound'])}) | {gbs} | {share} | {same} |")
    if c["verdict"] != "verified":
        print(f"|   | reason: {c.get('reason')} | | | | | | |")
EOF
echo "== check with smoke";  "$bin" check --smoke quick --format table | sed -n '1,40p'
if [ -x "$here/integration-tests" ]; then
  echo "== GPU tests"; "$here/integration-tests" --ignored gpu_checks --nocapture; echo "exit $?"
fi
