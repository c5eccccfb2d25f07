#!/usr/bin/env bash
# The GPU checks, in one short run on a machine with an NVIDIA GPU (and no network).
# Build here first (the binaries link only libc and load the NVIDIA libraries at run time):
#   cargo build --release && cargo test --release --test smoke --no-run
#   scripts/gpu-check.sh --collect      # copies the binaries to target/gpu-carry/
# then carry target/gpu-carry to the GPU machine and run:  target/gpu-carry/gpu-check.sh
# It prints the probe, the smoke table on the GPU, and the CUDA column of `compat check`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = "--collect" ]; then
  out="$here/../target/gpu-carry"; mkdir -p "$out"
  cp "$here/../target/release/compat" "$out/"
  smoke=$(ls -t "$here"/../target/release/deps/smoke-* 2>/dev/null | grep -v '\.d$' | head -1)
  [ -n "$smoke" ] && cp "$smoke" "$out/smoke-tests"
  cp "$0" "$out/gpu-check.sh"
  echo "collected in $out"; exit 0
fi
bin=${COMPAT:-$here/compat}
# NVRTC and cuBLAS: cudarc (built for CUDA 12.8) looks for libnvrtc.so / .so.12; on a CUDA 13-only
# machine, point unversioned names at whatever is installed.
links=$(mktemp -d); extra=""
for n in nvrtc cublas cublasLt; do
  f=$(ls /usr/local/cuda*/lib64/lib$n.so.1[0-9]* /usr/lib/x86_64-linux-gnu/lib$n.so.1[0-9]* \
        /usr/local/lib/python3*/*-packages/nvidia/*/lib/lib$n.so.1[0-9]* 2>/dev/null | head -1)
  if [ -n "$f" ]; then ln -sf "$f" "$links/lib$n.so"; extra="$extra:$(dirname "$f")"; echo "$n: $f"; fi
done
export LD_LIBRARY_PATH="$links$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "== probe";            "$bin" probe
echo "== smoke (GPU, full)"; "$bin" smoke --device cuda --level full; echo "exit $?"
echo "== smoke (GPU + CPU, quick)"; "$bin" smoke --level quick --format json > smoke.json; echo "exit $?"
echo "== check with smoke";  "$bin" check --smoke quick --format table | sed -n '1,40p'
if [ -x "$here/smoke-tests" ]; then
  echo "== GPU tests"; "$here/smoke-tests" --ignored gpu_checks --nocapture; echo "exit $?"
fi
