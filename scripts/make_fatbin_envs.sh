#!/usr/bin/env bash
# Builds the fixture environments whose CUDA libraries are real ELF shared objects with a
# `.nv_fatbin` section (fixtures/envs/fatbin-*), and the one whose torch family mixes CUDA
# variants (fixtures/envs/family-mismatch). Needs gcc, objcopy and python3; the result is
# committed, so tests never run this.
#
#   fatbin-cu124: torch 2.4.1+cu124 whose libtorch_cuda.so carries SASS sm_80 sm_86 sm_90 and
#                 no PTX (a synthetic fatbin: headers as NVIDIA's `fatbinary` writes them, see
#                 src/env/fatbin.rs), beside bitsandbytes 0.43.3 whose libbitsandbytes_cuda124.so
#                 carries the real fatbin of fixtures/fatbin/arch-variants.fatbin.
#   family-mismatch: torch 2.4.1+cu124 beside torchvision 0.19.1+cu118 (pip check passes it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
good="$root/fixtures/envs/good-cu124/lib/python3.11/site-packages"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf 'int compat_fixture_marker(void) { return 0; }\n' > "$tmp/empty.c"
gcc -shared -fPIC -o "$tmp/empty.so" "$tmp/empty.c"

# wrap FATBIN OUT: an ELF shared object with FATBIN as its .nv_fatbin section.
wrap() {
  objcopy --add-section ".nv_fatbin=$1" \
    "$tmp/empty.so" "$2"
}

python3 - "$tmp/sass-80-86-90.fatbin" <<'PY'
import struct, sys
def entry(kind, arch, payload):
    # kind, 0x0101, header size 64, payload size, 2×u32, minor, major, arch, name off/len, flags
    h = struct.pack("<HHIQIIHHIIIQQQ", kind, 0x0101, 64, len(payload), 0, 0, 0, 1, arch, 0, 0, 0x11, 0, 0)
    assert len(h) == 64
    return h + payload
body = b"".join(entry(2, a, b"\x7fELF synthetic cubin sm_%d\0" % a) for a in (80, 86, 90))
open(sys.argv[1], "wb").write(struct.pack("<IHHQ", 0xBA55ED50, 1, 16, len(body)) + body)
PY

env_skeleton() {
  rm -rf "$1"
  mkdir -p "$1/lib/python3.11/site-packages"
  cp "$root/fixtures/envs/good-cu124/pyvenv.cfg" "$1/pyvenv.cfg"
}

dist() { # SITE NAME VERSION [REQUIRES...]
  local site=$1 name=$2 version=$3; shift 3
  local d="$site/$name-$version.dist-info"
  mkdir -p "$d"
  {
    printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' "$name" "$version"
    for r in "$@"; do printf 'Requires-Dist: %s\n' "$r"; done
  } > "$d/METADATA"
  printf 'Wheel-Version: 1.0\nGenerator: compat-fixture\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n' > "$d/WHEEL"
}

out="$root/fixtures/envs/fatbin-cu124"
env_skeleton "$out"
site="$out/lib/python3.11/site-packages"
cp -r "$good/torch-2.4.1+cu124.dist-info" "$good/torch" "$site/"
mkdir -p "$site/torch/lib"
wrap "$tmp/sass-80-86-90.fatbin" "$site/torch/lib/libtorch_cuda.so"
cp "$tmp/empty.so" "$site/torch/lib/libtorch_cpu.so"
printf 'torch/lib/libtorch_cuda.so,,\ntorch/lib/libtorch_cpu.so,,\ntorch/version.py,,\n' \
  > "$site/torch-2.4.1+cu124.dist-info/RECORD"
cp -r "$good/bitsandbytes-0.43.3.dist-info" "$site/"
mkdir -p "$site/bitsandbytes"
cp "$good/bitsandbytes/__init__.py" "$site/bitsandbytes/"
wrap "$root/fixtures/fatbin/arch-variants.fatbin" "$site/bitsandbytes/libbitsandbytes_cuda124.so"
cp "$tmp/empty.so" "$site/bitsandbytes/libbitsandbytes_cpu.so"
for d in filelock typing_extensions sympy networkx jinja2 fsspec numpy packaging; do
  for src in "$good"/"$d"-*.dist-info; do [ -d "$src" ] && cp -r "$src" "$site/"; done
done

out="$root/fixtures/envs/family-mismatch"
env_skeleton "$out"
site="$out/lib/python3.11/site-packages"
cp -r "$good/torch-2.4.1+cu124.dist-info" "$good/torch" "$site/"
for src in "$good"/*.dist-info; do
  case "$(basename "$src")" in torch-*|bitsandbytes-*) ;; *) cp -r "$src" "$site/";; esac
done
dist "$site" torchvision "0.19.1+cu118" numpy "torch==2.4.1"
echo "done: fixtures/envs/fatbin-cu124 fixtures/envs/family-mismatch"
