#!/usr/bin/env python3
"""Extract one member of a wheel from the configured package index without downloading the wheel.

  fetch_wheel_member.py PROJECT WHEEL_FILENAME MEMBER OUT_DIR

Reads the zip central directory with HTTP Range requests (see make_metadata_corpus.py, whose
index lookup and RangeFile it uses), then fetches only the member's compressed bytes in one
ranged request and inflates them to OUT_DIR/<basename of MEMBER>. Used by ci-ground-truth.sh
to get torch's libtorch_cuda.so (about 360 MB compressed) out of a wheel of about 900 MB.
"""

import os
import sys
import urllib.request
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_metadata_corpus as corpus  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    project, wheel, member, out_dir = sys.argv[1:]
    files = dict(corpus.list_files(corpus.index_url(), project))
    url = files.get(wheel)
    if url is None:
        sys.exit("fetch_wheel_member: %s is not on the index" % wheel)
    rf = corpus.RangeFile(url)
    info = zipfile.ZipFile(rf).getinfo(member)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        sys.exit("fetch_wheel_member: %s: compression %d" % (member, info.compress_type))
    local, _ = rf._get("bytes=%d-%d" % (info.header_offset, info.header_offset + 29))
    start = (info.header_offset + 30 + int.from_bytes(local[26:28], "little")
             + int.from_bytes(local[28:30], "little"))
    req = urllib.request.Request(url, headers={
        **corpus.UA, "Range": "bytes=%d-%d" % (start, start + info.compress_size - 1)})
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    os.makedirs(out_dir, exist_ok=True)
    out_path = os.path.join(out_dir, os.path.basename(member))
    crc = 0
    with urllib.request.urlopen(req, timeout=600) as r, open(out_path, "wb") as out:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            data = inflate.decompress(chunk) if inflate else chunk
            crc = zlib.crc32(data, crc)
            out.write(data)
        if inflate:
            data = inflate.flush()
            crc = zlib.crc32(data, crc)
            out.write(data)
    if crc != info.CRC or os.path.getsize(out_path) != info.file_size:
        sys.exit("fetch_wheel_member: %s: CRC or size mismatch" % member)
    print("%s: %d bytes" % (out_path, info.file_size))


if __name__ == "__main__":
    main()
