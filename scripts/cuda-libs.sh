#!/usr/bin/env bash
# compat's GPU path loads NVRTC and cuBLAS of CUDA 13 or 12, whichever the host has. Proven here
# without a GPU: every kernel in kernels/ compiles with NVRTC 12 and with NVRTC 13, for every
# architecture each supports, and every cuBLAS function compat calls resolves from cuBLAS 12 and
# cuBLAS 13 (cublasGetProperty runs, needing no GPU). The libraries come from NVIDIA's wheels:
# nvidia-cuda-nvrtc-cu12 and nvidia-cublas-cu12 for 12; nvidia-cuda-nvrtc and nvidia-cublas (the
# CUDA 13 wheels, without a suffix) for 13.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== CUDA 12 and 13: NVRTC compiles every kernel, every cuBLAS symbol resolves (no GPU needed)"
pip_install() {
  [ -x "$1/bin/python" ] || python3 -m venv "$1"
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check "${@:2}"
}
pip_install target/cuda12-venv 'nvidia-cuda-nvrtc-cu12>=12.4,<13' 'nvidia-cublas-cu12>=12.4,<13'
pip_install target/cuda13-venv 'nvidia-cuda-nvrtc>=13,<14' 'nvidia-cublas>=13,<14'
find_lib() {
  local f
  f=$(find "$PWD/$1" -name "$2" \( -type f -o -type l \) | head -1)
  [ -n "$f" ] || { echo "$2 not found under $1" >&2; exit 1; }
  echo "$f"
}
n12=$(find_lib target/cuda12-venv libnvrtc.so.12)
n13=$(find_lib target/cuda13-venv libnvrtc.so.13)
b12=$(find_lib target/cuda12-venv libcublas.so.12)
b13=$(find_lib target/cuda13-venv libcublas.so.13)
# the builtins beside each NVRTC, and libcublasLt beside each cuBLAS, are found on this path
export LD_LIBRARY_PATH="$(dirname "$n12"):$(dirname "$n13"):$(dirname "$b12"):$(dirname "$b13")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
COMPAT_TEST_NVRTC="$n12:$n13" COMPAT_TEST_CUBLAS="$b12:$b13" \
  cargo test --locked --lib smoke::gpu -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep -E '^(NVRTC|cuBLAS) |^test |test result|panicked|FAILED|error'
