"""Times `compat check` (no GPU work) against `pip check` on the same environment.

usage: python3 bench/check_vs_pip.py --python VENV [--compat PATH] [--runs N]
Prints the median wall time of each, and the ratio. Each command runs once untimed first, so
both are measured with warm file caches.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def timed(cmd, runs):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True, help="the environment folder (a venv)")
    ap.add_argument("--compat", default="target/release/compat")
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    py = os.path.join(a.python, "bin", "python")
    n = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout.count("\n")
    rows = [
        ("compat check --format json", [a.compat, "check", "--python", a.python, "--format", "json"]),
        ("pip check", [py, "-m", "pip", "check"]),
    ]
    results = []
    for name, cmd in rows:
        med, best = timed(cmd, a.runs)
        results.append((name, med, best))
    pip_med = results[-1][1]
    print(f"environment: {a.python} ({n} distributions), {a.runs} runs each, median (best)")
    for name, med, best in results:
        ratio = "" if name == "pip check" else f"  {pip_med / med:5.1f}x faster than pip check"
        print(f"  {name:34s} {med:8.1f} ms ({best:.1f}){ratio}")


if __name__ == "__main__":
    sys.exit(main())
