#!/usr/bin/env python3
"""Build the differential METADATA corpus in fixtures/metadata-corpus/.

What it writes:
  files/<name>-<version>.METADATA   the METADATA member of one real wheel per distribution
  files/<name>-<version>.PKG-INFO   the egg-info PKG-INFO of an sdist (distributions without wheels)
  synthetic/*                       odd cases derived from real files (see synthetic/README.md)
  expected.json                     what Python's importlib.metadata reads from every file
  sources.tsv                       rank, name, file and the wheel or sdist each came from

Two changes are made to each file before it is written, both recorded in README.md beside it:
the long description after the header block is cut to its first BODY_LINES lines (the corpus
tests the headers; this keeps it small), and every host name that appears in a URL anywhere in
the corpus is replaced by "example.invalid" everywhere (the repository names no package
registry's host, and real descriptions link to them). expected.json is computed from the files
as committed, so the comparison is exact on the bytes the test reads.

Distributions are taken the most downloaded first (rank list given with --ranks, a TSV with the
columns name and rank_among_15000_most_downloaded), plus a few named ones known to carry
multi-line License blocks. Only the METADATA member is read out of each wheel, with HTTP Range
requests on the zip central directory, never the whole wheel. Files over 200 kB are skipped.

The package index is the one pip is configured with (PIP_INDEX_URL, then `pip config get
global.index-url`, then pip's own default); no host name is written anywhere.

  --expected-only   recompute expected.json from the committed files, without network.
"""

import argparse
import concurrent.futures
import csv
import html.parser
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from importlib.metadata import PathDistribution
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "metadata-corpus"
MAX_BYTES = 200_000
MAX_SDIST = 5_000_000
BODY_LINES = 40
URL_HOST = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@\s]*@)?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# Distributions named on purpose (issue 11: setuptools License blocks with whitespace-only
# continuation lines), besides the rank list.
EXTRA = ["wandb", "nbdime"]
# Distributions whose sdist's egg-info PKG-INFO is read too (small setuptools sdists).
EGG_INFO = ["pyyaml", "psutil", "wrapt", "markupsafe", "simplejson"]
UA = {"User-Agent": "compat-metadata-corpus/1"}


def index_url():
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        try:
            out = subprocess.run(
                [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                capture_output=True, text=True, check=False,
            )
            url = out.stdout.strip() if out.returncode == 0 else ""
        except OSError:
            url = ""
    if not url:
        from pip._internal.models.index import PyPI  # pip's own default
        url = PyPI.simple_url
    return url.rstrip("/") + "/"


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            d = dict(attrs)
            if d.get("href"):
                self.links.append((d["href"], d.get("data-yanked") is not None))


def list_files(index, name):
    """[(filename, url)] for a project, yanked files left out."""
    url = urllib.parse.urljoin(index, normalize(name) + "/")
    req = urllib.request.Request(url, headers={
        **UA, "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(req, timeout=60) as r:
        ctype = r.headers.get("Content-Type", "")
        body = r.read()
        base = r.geturl()
    out = []
    if "json" in ctype:
        for f in json.loads(body).get("files", []):
            if f.get("yanked"):
                continue
            out.append((f["filename"], urllib.parse.urljoin(base, f["url"])))
    else:
        p = _Links()
        p.feed(body.decode("utf-8", "replace"))
        for href, yanked in p.links:
            if yanked:
                continue
            full = urllib.parse.urljoin(base, href)
            fname = urllib.parse.unquote(urllib.parse.urlsplit(full).path.rsplit("/", 1)[-1])
            out.append((fname, full))
    return out


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file, read with HTTP Range requests."""

    BLOCK = 64 * 1024

    def __init__(self, url):
        self.url = url
        self.pos = 0
        self.blocks = {}
        self.requests = 0
        data, total = self._get("bytes=-%d" % self.BLOCK)
        self.size = total
        start = total - len(data)
        self.tail = (start, data)

    def _get(self, rng):
        req = urllib.request.Request(self.url, headers={**UA, "Range": rng})
        with urllib.request.urlopen(req, timeout=120) as r:
            self.requests += 1
            if r.status != 206:
                raise OSError("the server does not answer Range requests")
            cr = r.headers.get("Content-Range", "")
            m = re.match(r"bytes (\d+)-(\d+)/(\d+)", cr)
            if not m:
                raise OSError("no Content-Range in the answer")
            return r.read(), int(m.group(3))

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, off, whence=0):
        if whence == 0:
            self.pos = off
        elif whence == 1:
            self.pos += off
        else:
            self.pos = self.size + off
        return self.pos

    def _read_at(self, start, n):
        tstart, tdata = self.tail
        if start >= tstart:
            return tdata[start - tstart:start - tstart + n]
        end = min(start + max(n, self.BLOCK), self.size) - 1
        data, _ = self._get("bytes=%d-%d" % (start, end))
        self.blocks = {start: data}
        return data[:n]

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        for bstart, bdata in self.blocks.items():
            if bstart <= self.pos and self.pos + n <= bstart + len(bdata):
                out = bdata[self.pos - bstart:self.pos - bstart + n]
                self.pos += n
                return out
        out = self._read_at(self.pos, n)
        self.pos += len(out)
        return out

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def wheel_version(fname):
    parts = fname[:-4].split("-")
    return parts[1] if len(parts) >= 5 else None


def pick_wheel(files):
    """The newest version's wheel, preferring a pure one, then a Linux x86_64 one."""
    from pip._vendor.packaging.version import InvalidVersion, Version

    by_version = {}
    for fname, url in files:
        if not fname.endswith(".whl"):
            continue
        v = wheel_version(fname)
        try:
            key = Version(v)
        except (InvalidVersion, TypeError):
            continue
        by_version.setdefault(key, []).append((fname, url))
    if not by_version:
        return None
    finals = [v for v in by_version if not (v.is_prerelease or v.is_devrelease)]
    wheels = by_version[max(finals or by_version)]

    def score(w):
        f = w[0]
        if f.endswith("-none-any.whl"):
            return 0
        if "manylinux" in f and "x86_64" in f:
            return 1
        return 2

    return sorted(wheels, key=score)[0]


def pick_sdist(files):
    from pip._vendor.packaging.version import InvalidVersion, Version

    best = None
    for fname, url in files:
        if not fname.endswith(".tar.gz"):
            continue
        stem = fname[:-7]
        if "-" not in stem:
            continue
        try:
            v = Version(stem.rsplit("-", 1)[1])
        except InvalidVersion:
            continue
        if v.is_prerelease:
            continue
        if best is None or v > best[0]:
            best = (v, fname, url)
    return best


def metadata_from_wheel(url):
    f = RangeFile(url)
    with zipfile.ZipFile(f) as z:
        names = [i for i in z.infolist()
                 if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)]
        if len(names) != 1:
            raise OSError("no single .dist-info/METADATA in the wheel")
        info = names[0]
        if info.file_size > MAX_BYTES:
            raise OSError("METADATA over %d bytes" % MAX_BYTES)
        return z.read(info), f.requests


def pkg_info_from_sdist(url):
    req = urllib.request.Request(url, headers={**UA, "Range": "bytes=0-%d" % MAX_SDIST})
    with urllib.request.urlopen(req, timeout=120) as r:
        data = r.read(MAX_SDIST + 1)
        cr = r.headers.get("Content-Range", "")
        m = re.match(r"bytes \d+-\d+/(\d+)", cr)
        if m and int(m.group(1)) > MAX_SDIST + 1:
            raise OSError("sdist too large")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        for m in t.getmembers():
            if re.fullmatch(r"[^/]+/[^/]+\.egg-info/PKG-INFO", m.name) and m.isfile():
                if m.size > MAX_BYTES:
                    raise OSError("PKG-INFO too large")
                return t.extractfile(m).read()
    raise OSError("no egg-info PKG-INFO in the sdist")


def cut_body(data):
    """The header block and the first BODY_LINES lines of the body."""
    m = re.search(rb"\r\n\r\n|\n\n|\r\r", data)
    if not m:
        return data
    body = data[m.end():]
    lines = body.splitlines(keepends=True)
    return data[:m.end()] + b"".join(lines[:BODY_LINES])


def redact_hosts(datas, extra_hosts):
    """Every URL host seen in any file (and extra_hosts) replaced by example.invalid."""
    hosts = set(h.lower() for h in extra_hosts if h)
    for d in datas:
        hosts.update(m.group(1).decode("ascii").lower() for m in URL_HOST.finditer(d))
    hosts.discard("example.invalid")
    pats = [re.compile(rb"(?<![A-Za-z0-9-])" + re.escape(h.encode()) + rb"(?![A-Za-z0-9-])",
                       re.IGNORECASE) for h in sorted(hosts, key=len, reverse=True)]

    def redact(d):
        for p in pats:
            d = p.sub(b"example.invalid", d)
        return d
    return redact, hosts


def safe(s):
    return re.sub(r"[^A-Za-z0-9._+-]", "_", s)


def fetch_one(index, name, rank, sdist=False):
    try:
        files = list_files(index, name)
        w = None if sdist else pick_wheel(files)
        if w is not None:
            data, nreq = metadata_from_wheel(w[1])
            ver = wheel_version(w[0])
            return dict(name=name, rank=rank, source=w[0], requests=nreq,
                        file="files/%s-%s.METADATA" % (safe(normalize(name)), safe(ver)), data=data)
        s = pick_sdist(files)
        if s is not None:
            data = pkg_info_from_sdist(s[2])
            return dict(name=name, rank=rank, source=s[1], requests=1,
                        file="files/%s-%s.PKG-INFO" % (safe(normalize(name)), safe(str(s[0]))), data=data)
        return dict(name=name, rank=rank, skip="no wheel and no sdist")
    except Exception as e:  # noqa: BLE001 - every failure is a skip, reported
        return dict(name=name, rank=rank, skip="%s: %s" % (type(e).__name__, e))


def ranked_names(ranks_tsv, count):
    rows = []
    with open(ranks_tsv, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            r = row.get("rank_among_15000_most_downloaded") or ""
            if r.strip().isdigit():
                rows.append((int(r), row["name"]))
    rows.sort()
    return rows[:count]


def synthesize(corpus):
    """Odd cases no wheel in the corpus may carry, derived from real files, byte-exactly."""
    syn = corpus / "synthetic"
    syn.mkdir(exist_ok=True)
    for old in syn.iterdir():
        old.unlink()
    files = sorted((corpus / "files").glob("*.METADATA"))
    made = []

    def first(pred):
        for p in files:
            b = p.read_bytes()
            if pred(b):
                return p, b
        return None, None

    # CR-only line endings (old Mac style).
    p, b = first(lambda b: b"\nRequires-Dist:" in b and b"\r" not in b)
    if p:
        (syn / ("cr-only-" + p.name)).write_bytes(b.replace(b"\n", b"\r"))
        made.append(("cr-only-" + p.name, "every LF of %s replaced by CR" % p.name))
    # CRLF line endings.
    if p:
        (syn / ("crlf-" + p.name)).write_bytes(b.replace(b"\n", b"\r\n"))
        made.append(("crlf-" + p.name, "every LF of %s replaced by CRLF" % p.name))
    # Latin-1 bytes: a real file with non-ASCII text, re-encoded as Latin-1.
    def latin1able(b):
        try:
            t = b.decode("utf-8")
            return any(ord(c) > 127 for c in t) and t.encode("latin-1") is not None
        except UnicodeError:
            return False
    p, b = first(latin1able)
    if p:
        (syn / ("latin1-" + p.name)).write_bytes(b.decode("utf-8").encode("latin-1"))
        made.append(("latin1-" + p.name, "%s re-encoded from UTF-8 to Latin-1" % p.name))
    # A UTF-8 byte order mark in front of a real file.
    p, b = first(lambda b: b.startswith(b"Metadata-Version"))
    if p:
        (syn / ("bom-" + p.name)).write_bytes(b"\xef\xbb\xbf" + b)
        made.append(("bom-" + p.name, "a UTF-8 BOM put in front of %s" % p.name))
    lines = ["# Synthetic corpus files", "",
             "Derived byte-exactly from real files of ../files/ by scripts/make_metadata_corpus.py,",
             "for line endings and encodings that no wheel of the corpus happens to carry.", ""]
    lines += ["- `%s`: %s" % m for m in made]
    (syn / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_readme(corpus):
    n = len(list((corpus / "files").iterdir()))
    text = f"""# METADATA corpus

{n} core metadata files of real distributions, the most downloaded first (`sources.tsv` says
which wheel or sdist each came from), for the differential test
`tests/integration/ground_truth.rs`: compat's reader must read from each exactly what Python's
`importlib.metadata` reads (`expected.json`). `synthetic/` holds odd cases derived from them.

Written by `scripts/make_metadata_corpus.py` (`--expected-only` recomputes expected.json from
these files, offline). Changes made to the real files, applied before expected.json is computed:

- the long description after the header block is cut to its first {BODY_LINES} lines;
- every host name that appears in a URL anywhere in the corpus is replaced by
  `example.invalid`, everywhere in every file.
"""
    (corpus / "README.md").write_text(text, encoding="utf-8")


def python_reads(path):
    """What importlib.metadata reads from one file, as it reads an installed distribution."""
    with tempfile.TemporaryDirectory() as d:
        kind = "PKG-INFO" if path.name.endswith("PKG-INFO") else "METADATA"
        info = Path(d) / ("x.egg-info" if kind == "PKG-INFO" else "x.dist-info")
        info.mkdir()
        (info / kind).write_bytes(path.read_bytes())
        dist = PathDistribution(info)
        try:
            md = dist.metadata
        except UnicodeDecodeError as e:
            return {"error": "UnicodeDecodeError", "offset": e.start}
        return {
            "name": md["Name"],
            "version": md["Version"],
            "requires_dist": md.get_all("Requires-Dist") or [],
            "requires_python": md["Requires-Python"],
            "provides_extra": md.get_all("Provides-Extra") or [],
        }


def write_expected(corpus):
    out = {}
    for p in sorted(corpus.rglob("*")):
        if p.is_file() and (p.name.endswith(".METADATA") or p.name.endswith(".PKG-INFO")):
            out[p.relative_to(corpus).as_posix()] = python_reads(p)
    doc = {
        "python": sys.version.split()[0],
        "reader": "importlib.metadata.PathDistribution(...).metadata",
        "count": len(out),
        "files": out,
    }
    (corpus / "expected.json").write_text(
        json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--expected-only", action="store_true")
    ap.add_argument("--ranks", default="/work/.library/env/packages/pypi.tsv")
    ap.add_argument("--count", type=int, default=560)
    ap.add_argument("--jobs", type=int, default=12)
    a = ap.parse_args()

    if not a.expected_only:
        index = index_url()
        names = ranked_names(a.ranks, a.count) + [(0, n) for n in EXTRA]
        files_dir = CORPUS / "files"
        files_dir.mkdir(parents=True, exist_ok=True)
        for old in files_dir.iterdir():
            old.unlink()
        sources = []
        fetched = []
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
            futs = [ex.submit(fetch_one, index, n, r) for r, n in names]
            futs += [ex.submit(fetch_one, index, n, 0, True) for n in EGG_INFO]
            for fut in concurrent.futures.as_completed(futs):
                res = fut.result()
                if "skip" in res:
                    print("skip %s: %s" % (res["name"], res["skip"]), file=sys.stderr)
                    continue
                fetched.append(res)
        cut = [cut_body(r["data"]) for r in fetched]
        redact, hosts = redact_hosts(cut, [urllib.parse.urlsplit(index).hostname])
        for res, data in zip(fetched, cut):
            (CORPUS / res["file"]).write_bytes(redact(data))
            sources.append((res["rank"], res["name"], res["file"], res["source"], res["requests"]))
        print("redacted %d host names" % len(hosts))
        sources.sort()
        with open(CORPUS / "sources.tsv", "w", encoding="utf-8") as fh:
            fh.write("rank\tname\tfile\tfrom\trange_requests\n")
            for s in sources:
                fh.write("\t".join(map(str, s)) + "\n")
        synthesize(CORPUS)
        write_readme(CORPUS)
    n = write_expected(CORPUS)
    print("expected.json: %d files" % n)


if __name__ == "__main__":
    main()
