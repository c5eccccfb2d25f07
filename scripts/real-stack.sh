#!/usr/bin/env bash
# Builds a real Python environment with the seed matrix's stack (pip, from the index pip is
# configured for), makes one deliberate conflict, and checks that compat reports exactly the
# problems `pip check` reports on it. bench/run.sh times compat against pip and uv on it.
#
# usage: scripts/real-stack.sh [VENV_DIR] [COMPAT_BIN]
# torch is left out (its CUDA wheels weigh gigabytes): the packages that need it are installed
# with --no-deps, so pip check reports torch as missing for them, and so must compat.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-target/ci-stack}
compat=${2:-target/release/compat}
[ -x "$compat" ] || cargo build --release --locked
pip_q=(--quiet --disable-pip-version-check --no-input)

if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.stack-done" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  py="$venv/bin/python"
  echo "== installing the stack into $venv (without torch)"
  # The libraries of the seed matrix that do not pull torch, with their dependencies.
  "$py" -m pip install "${pip_q[@]}" \
    'transformers==4.44.2' 'safetensors>=0.4' \
    'pytest>=8.2' 'hypothesis>=6.100' 'black>=24.4' 'ruff>=0.5' 'mypy>=1.10' 'jupyterlab>=4.2' \
    'wandb>=0.17' 'tensorboard>=2.17' 'dvc>=3.51' 'nbdime>=4.0'
  # Those that require torch: without their dependencies.
  "$py" -m pip install "${pip_q[@]}" --no-deps 'accelerate>=0.33' 'peft>=0.12'
  # The deliberate conflict: transformers 4.44.2 needs huggingface-hub>=0.23.2,<1.0.
  "$py" -m pip install "${pip_q[@]}" --no-deps 'huggingface-hub==0.20.3'
  touch "$venv/.stack-done"
fi
py="$venv/bin/python"

echo "== pip check vs compat check on $($py -m pip list --format=freeze 2>/dev/null | wc -l) distributions"
pip_out=$("$py" -m pip check 2>/dev/null) && pip_rc=0 || pip_rc=$?
set +e
"$compat" check --python "$venv" --format json --output "$venv/compat-report.json"
compat_rc=$?
set -e
printf '%s\n' "$pip_out" > "$venv/pip-check.txt"
python3 scripts/compare_pip_check.py "$venv/pip-check.txt" "$pip_rc" "$venv/compat-report.json" "$compat_rc"
