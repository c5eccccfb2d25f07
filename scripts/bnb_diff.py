"""The bitsandbytes differential test: compat's quantized bytes against bitsandbytes' own.

    python bnb_diff.py make TENSORS.safetensors      # writes the random and adversarial tensors
    python bnb_diff.py compare TENSORS DUMP_DIR      # bitsandbytes on each tensor vs compat's dump

Both need numpy, torch and safetensors; `compare` also bitsandbytes (its CPU path: no GPU). `scripts/bnb-diff.sh` runs both around `compat smoke --every-tensor --dump`. Compared byte
for byte, for every tensor: NF4 (`quantize_4bit(w, 64, 'nf4')`: packed codes, absmax), NF4 with
double quantization (`compress_statistics=True`: 8-bit absmax, offset, second-level absmax and
code), LLM.int8 without and with the outlier threshold 6.0 (`int8_vectorwise_quant`: values, row
absmax, outlier columns) on the weight, and with 6.0 on the activations compat used.
"""

import json
import os
import sys

import numpy as np

SEED = 20261201
F32 = np.float32


def normal(rng, rows, cols, scale):
    return (rng.standard_normal((rows, cols)) * scale).astype(F32)


def tie_row(rng, cols, e):
    """A row whose absmax is 127 * 2**e, so 127 / absmax = 2**-e exactly: every (k + 0.5) * 2**e
    is an exact tie of x * (127 / absmax), and its neighbours one ulp away are not."""
    m = F32(127.0 * 2.0**e)
    k = rng.integers(-126, 126, cols)
    x = ((k + 0.5) * 2.0**e).astype(F32)
    nudge = rng.integers(-1, 2, cols)
    x = np.where(nudge > 0, np.nextafter(x, F32(np.inf)), np.where(nudge < 0, np.nextafter(x, F32(-np.inf)), x))
    x[rng.integers(0, cols)] = m * rng.choice([1, -1])
    return np.clip(x, -m, m).astype(F32)


def nf4_midpoints():
    code = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                     -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                     0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                     0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=F32)
    return ((code[:-1] + code[1:]) / F32(2)).astype(F32)


def nf4_tie_block(rng, e):
    """A block of 64 whose absmax is 2**e, with values on the NF4 midpoints (x / absmax and
    x * (1 / absmax) are both exact) and one ulp either side."""
    mids = nf4_midpoints()
    x = (rng.choice(mids, 64) * F32(2.0**e)).astype(F32)
    side = rng.integers(-1, 2, 64)
    x = np.where(side > 0, np.nextafter(x, F32(np.inf)), np.where(side < 0, np.nextafter(x, F32(-np.inf)), x))
    x[rng.integers(0, 64)] = F32(2.0**e) * rng.choice([1, -1])
    return x.astype(F32)


def make(path):
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(SEED)
    out = {}
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}

    def add(kind, a, dtype="f32"):
        # torch rounds to bf16 / f16 to nearest even, as compat reads them back exactly
        out[f"t{len(out):03d}.{kind}"] = torch.from_numpy(np.ascontiguousarray(a, dtype=F32)).to(dtypes[dtype])

    cols_choices = [64, 128, 192, 256, 512, 1024]
    for i in range(60):
        a = normal(rng, int(rng.integers(1, 48)), int(rng.choice(cols_choices)), rng.choice([0.02, 1.0, 1e3, 1e-3, 3.0]))
        add("normal", a, ["f32", "bf16", "f16"][i % 3] if abs(a).max() < 6e4 else "f32")
    for _ in range(40):
        add("odd", normal(rng, int(rng.integers(1, 10)), int(rng.integers(1, 200)), 1.0))
    for _ in range(20):
        a = normal(rng, int(rng.integers(2, 40)), int(rng.choice(cols_choices)), 0.02)
        a[:, rng.choice(a.shape[1], 3, replace=False)] *= F32(40)
        add("outlier_cols_x40", a)
    for _ in range(15):
        a = normal(rng, int(rng.integers(2, 32)), 256, 0.5).reshape(-1)
        for b in rng.choice(a.size // 64, max(1, a.size // 128), replace=False):
            a[b * 64:(b + 1) * 64] = 0
        a = a.reshape(-1, 256)
        a[rng.integers(0, a.shape[0])] = 0
        add("zero_blocks", a)
    for _ in range(15):
        a = normal(rng, int(rng.integers(2, 32)), 128, 0.3).reshape(-1)
        for b in rng.choice(a.size // 64, max(1, a.size // 128), replace=False):
            a[b * 64:(b + 1) * 64] = F32(rng.choice([0.05, -0.03, 1.0, 6.0, 1e-20]))
        add("constant_blocks", a.reshape(-1, 128))
    for _ in range(15):
        a = normal(rng, int(rng.integers(2, 16)), 128, 1.0)
        a[0] = (rng.standard_normal(128) * 1e-40).astype(F32)  # a row of subnormals
        flat = a.reshape(-1)
        b = int(rng.integers(1, flat.size // 64))
        flat[b * 64:(b + 1) * 64] = (rng.standard_normal(64) * rng.choice([1e-39, 1e-42, 1e-45])).astype(F32)
        add("subnormals", flat.reshape(a.shape))
    for _ in range(15):
        a = normal(rng, int(rng.integers(2, 32)), 128, 1.0)
        for r in range(a.shape[0]):
            m = F32(abs(a[r]).max())
            j, k = rng.choice(128, 2, replace=False)
            a[r, j], a[r, k] = m, -m  # two elements share the row's (and a block's) absmax
        add("absmax_ties", a)
    for _ in range(30):
        rows = int(rng.integers(1, 16))
        e = int(rng.integers(-12, 4))
        add("int8_round_ties", np.stack([tie_row(rng, 128, e) for _ in range(rows)]))
    for _ in range(30):
        blocks = int(rng.integers(1, 24))
        e = int(rng.integers(-12, 4))
        a = np.concatenate([nf4_tie_block(rng, e) for _ in range(blocks)])
        tail = int(rng.integers(0, 64))
        if tail:
            a = np.concatenate([a, nf4_tie_block(rng, e)[:tail]])  # a partial block (division path)
        add("nf4_midpoint_ties", a.reshape(1, -1))
    for _ in range(20):
        # the outlier threshold: exact 6.0, just below it, whole outlier rows and columns
        a = normal(rng, int(rng.integers(2, 24)), 64, 2.5)
        a[0, 3] = F32(6.0)
        a[1, 5] = np.nextafter(F32(6.0), F32(0))
        a[:, 7] = F32(-7.5)
        add("int8_threshold", a, ["f32", "bf16"][len(out) % 2])
    for _ in range(15):
        # many blocks with a spread of absmax values: the double quantization's 256-value blocks
        a = (rng.standard_normal((64, 512)) * np.exp(rng.standard_normal((64, 1)) * 2)).astype(F32)
        add("dq_spread", a)
    save_file(out, path, metadata={"json": json.dumps({"seed": SEED, "tensors": len(out)})})
    print(f"wrote {len(out)} tensors to {path}")


def dump_name(tensor):
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in tensor.removesuffix(".weight"))
    return ("_" + stem if not stem or stem.startswith(".") else stem) + ".safetensors"


def compare(tensors_path, dump_dir):
    import torch
    import bitsandbytes as bnb
    import bitsandbytes.functional as F
    from safetensors.torch import load_file

    src = load_file(tensors_path)
    totals = {}
    bad = []
    checked = 0

    def same(kind, name, ours, theirs):
        a = ours.contiguous().view(torch.uint8).reshape(-1)
        b = theirs.contiguous().view(torch.uint8).reshape(-1)
        n = max(a.numel(), b.numel())
        if a.numel() != b.numel():
            differ = n
        else:
            differ = int((a != b).sum())
        t = totals.setdefault(kind, [0, 0])
        t[0] += n
        t[1] += differ
        if differ:
            first = int((a != b).nonzero()[0]) if a.numel() == b.numel() else -1
            bad.append(f"{name} {kind}: {differ} of {n} bytes differ (first at byte {first})")

    for name in sorted(src):
        path = os.path.join(dump_dir, dump_name(name))
        d = load_file(path)
        w = src[name].float()
        if not torch.equal(d["weight"].float(), w):
            bad.append(f"{name}: the dump's weight is not the tensor given")
        p, st = F.quantize_4bit(w, blocksize=64, quant_type="nf4")
        same("nf4 packed", name, d["nf4_packed_u8"], p.view(-1))
        same("nf4 absmax", name, d["nf4_absmax_f32"], st.absmax)
        p2, st2 = F.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
        same("nf4 packed (dq)", name, d["nf4_packed_u8"], p2.view(-1))
        same("nf4-dq absmax u8", name, d["nf4dq_absmax_u8"], st2.absmax)
        same("nf4-dq offset", name, d["nf4dq_offset_f32"], st2.offset.reshape(1).float())
        same("nf4-dq absmax2", name, d["nf4dq_absmax2_f32"], st2.state2.absmax)
        same("nf4-dq code2", name, d["nf4dq_code2_f32"], st2.state2.code)
        for prefix, a, th in [("int8", w, 0.0), ("int8t6w", w, 6.0), ("int8t6", d["input_f32"], 6.0)]:
            q, rs, oc = F.int8_vectorwise_quant(a.clone(), threshold=th)
            same(f"{prefix} values", name, d[f"{prefix}_values_i8"], q)
            same(f"{prefix} row absmax", name, d[f"{prefix}_row_absmax_f32"], rs)
            if th > 0:
                oc = oc if oc is not None else torch.empty(0, dtype=torch.int64)
                same(f"{prefix} outlier cols", name, d[f"{prefix}_outlier_cols_i64"], oc.to(torch.int64))
        checked += 1

    total = sum(t[0] for t in totals.values())
    differ = sum(t[1] for t in totals.values())
    print(f"bitsandbytes {bnb.__version__}, torch {torch.__version__}: {checked} tensors, "
          f"{sum(t.numel() * t.element_size() for t in src.values())} input bytes")
    for kind, (n, dif) in sorted(totals.items()):
        print(f"  {kind:24} {n:>10} bytes  {dif:>6} differ")
    print(f"{total} bytes compared, {differ} differ")
    for b in bad[:20]:
        print("  " + b)
    return 0 if differ == 0 and not bad and checked > 0 else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
