"""Compares `pip check` output with the consistency section of a compat JSON report.

usage: compare_pip_check.py PIP_CHECK_TXT PIP_RC COMPAT_JSON COMPAT_RC
Exits 1 when the two disagree on any problem (package, dependency, kind) or on pass/fail.
"""
import json
import re
import sys


def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_problems(text):
    out = set()
    for line in text.splitlines():
        m = re.match(r"^(\S+) (\S+) requires (\S+), which is not installed\.$", line)
        if m:
            out.add((canon(m[1]), canon(m[3]), "missing-dependency"))
            continue
        m = re.match(r"^(\S+) (\S+) has requirement (.+), but you have (\S+) (\S+)\.$", line)
        if m:
            out.add((canon(m[1]), canon(m[4]), "version-conflict"))
            continue
        m = re.match(r"^(\S+) (\S+) is not supported on this platform$", line)
        if m:
            out.add((canon(m[1]), "", "unsupported-platform"))
    return out


def main():
    pip_txt, pip_rc, report, compat_rc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    pip = pip_problems(open(pip_txt, encoding="utf-8").read())
    r = json.load(open(report, encoding="utf-8"))
    compat = {(canon(p["package"]), canon(p["dependency"]), p["code"]) for p in r["consistency"]["problems"]}
    compat |= {(canon(f["package"]), "", "unsupported-platform") for f in r["findings"] if f["code"] == "wheel-tag-mismatch"}
    print(f"pip check: exit {pip_rc}, {len(pip)} problems; compat: exit {compat_rc}, {len(compat)} problems "
          f"({r['consistency']['distributions']} distributions, {r['consistency']['requirements_checked']} requirements)")
    for p in sorted(pip | compat):
        where = "both" if p in pip and p in compat else ("pip only" if p in pip else "compat only")
        print(f"  [{where}] {p[2]}: {p[0]} -> {p[1]}")
    agree = pip == compat and (pip_rc != 0) == (compat_rc != 0)
    print("agreement:", "yes" if agree else "NO")
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
