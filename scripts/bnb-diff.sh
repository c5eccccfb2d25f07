#!/usr/bin/env bash
# The bitsandbytes differential test: compat's NF4, NF4 double-quant and LLM.int8 bytes against
# bitsandbytes' own (its CPU path, no GPU), byte for byte, on a few hundred random and
# adversarial tensors (scripts/bnb_diff.py says which). Exits 1 on any differing byte.
#   scripts/bnb-diff.sh [COMPAT_BINARY]      (default target/release/compat)
# bitsandbytes needs torch; the torch wheel of the package index is its CUDA build, which pulls
# the CUDA libraries (some GB, cached by pip) but runs on the CPU without a GPU. The versions are
# pinned to the ones the golden files (fixtures/golden) were made with.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== bitsandbytes differential test (compat --dump against bitsandbytes, byte for byte)"
bin=${1:-target/release/compat}
venv=target/bnb-venv
work=target/bnb-diff
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  'torch==2.15.0' 'bitsandbytes==0.50.2' numpy safetensors
rm -rf "$work" && mkdir -p "$work"
"$venv/bin/python" scripts/bnb_diff.py make "$work/tensors.safetensors"
# Checks that fail on these adversarial tensors exit 1; only bad input (2) stops the comparison.
code=0
"$bin" smoke --device cpu --level quick --every-tensor --weights "$work/tensors.safetensors" \
  --dump "$work/dump" --format json --output "$work/report.json" || code=$?
[ "$code" -le 1 ] || { echo "compat smoke exited $code"; exit "$code"; }
"$venv/bin/python" scripts/bnb_diff.py compare "$work/tensors.safetensors" "$work/dump" 2>&1 \
  | grep -v 'kernels-community'
