#!/usr/bin/env bash
# CI step: compare compat's fatbin reader with NVIDIA's cuobjdump on the CUDA libraries of a
# real bitsandbytes wheel and of NVIDIA's libcurand. The wheels (about 120 MB) are downloaded
# with pip from the configured index into target/ground-truth/ (never committed), unpacked
# there, and the ignored ground_truth test is run on them. The metadata corpus test needs no
# download and runs with the normal suite.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${COMPAT_GROUND_TRUTH_DIR:-target/ground-truth}"
mkdir -p "$dir"
# Pinned, so that a new release cannot change what is compared (nvidia-curand also has an
# empty 0.0.0a0 placeholder wheel that an unpinned request for another platform would get).
python3 -m pip download --no-deps --only-binary=:all: \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --python-version 3.11 \
  -d "$dir" bitsandbytes==0.50.2 nvidia-cuda-cuobjdump==13.5.37 nvidia-curand==10.4.5.25
for whl in "$dir"/bitsandbytes-*.whl; do
  python3 -m zipfile -e "$whl" "$dir/bnb"
done
for whl in "$dir"/nvidia_curand-*.whl; do
  python3 -m zipfile -e "$whl" "$dir/curand"
done
for whl in "$dir"/nvidia_cuda_cuobjdump-*.whl; do
  python3 -m zipfile -e "$whl" "$dir/cuobjdump"
done
find "$dir/cuobjdump" -type f -name cuobjdump -exec chmod +x {} +
# torch's largest CUDA library (520 MB, SASS with arch-specific targets such as sm_90a), read
# out of its wheel by range requests; COMPAT_GROUND_TRUTH_TORCH=0 skips it.
if [ "${COMPAT_GROUND_TRUTH_TORCH:-1}" != 0 ] && [ ! -f "$dir/torch/libtorch_cuda.so" ]; then
  python3 scripts/fetch_wheel_member.py torch \
    torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl torch/lib/libtorch_cuda.so "$dir/torch"
fi
for lib in 'libbitsandbytes_cuda*.so' 'libcurand.so*'; do
  if [ -z "$(find "$dir" -name "$lib" -print -quit)" ]; then
    echo "ci-ground-truth: no $lib under $dir after unpacking" >&2
    exit 1
  fi
done
COMPAT_GROUND_TRUTH_DIR="$dir" cargo test --locked --test integration ground_truth -- \
  --include-ignored --nocapture
