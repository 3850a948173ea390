#!/usr/bin/env python3
"""Regenerates the per-family sample records the criterion benches use.

    cargo build --release --example gen_corpus --bin track2pipelines
    python3 benches/data/extract.py            # writes benches/data/*.ndjson

Takes the first records of each family, in corpus order, from `gen_corpus --seed 1`
(the generator's realistic mix: unicode, escapes, long baskets, every timestamp encoding),
keeping only records the converter accepts (rejects are checked with `track2pipelines check`),
except for malformed.ndjson, which holds the generator's deliberately broken lines, and
http_rows.csv, the first 64 KiB of `gen_corpus --seed 1 --format csv` (rejects included).
"""
import json
import os
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "benches", "data")
RELEASE = os.path.join(ROOT, "target", "release")

# family -> how many records to keep
WANT = {
    "v1_identify": 24,
    "v1_event": 24,
    "v2_identify": 24,
    "v2_event": 24,
    "object_relationships": 24,
    "batch": 12,
    "other": 24,
    "malformed": 8,
}


def family(line):
    try:
        o = json.loads(line)
    except ValueError:
        return "malformed"
    if not isinstance(o, dict):
        return "malformed"
    if isinstance(o.get("batch"), list):
        return "batch"
    if "method" in o:
        path = o.get("path") or o.get("url") or ""
        path = re.sub(r"^https?://[^/]+", "", path).split("?")[0]
        method = str(o["method"]).upper()
        if "/v2/" in path:
            body = o.get("body")
            if isinstance(body, str):
                body = json.loads(body)
            if isinstance(body, dict) and "batch" in body:
                return "batch"
            return "other"
        if method == "PUT" and re.search(r"/customers/[^/]*$", path):
            return "v1_identify"
        if method == "POST" and re.search(r"/customers/[^/]*/events$|/v1/events$", path):
            return "v1_event"
        return "other"
    t, a = o.get("type"), o.get("action")
    if t == "person" and a == "identify":
        return "v2_identify"
    if t == "person" and a in ("event", "page", "screen"):
        return "v2_event"
    if t in ("object", "group") or (t == "person" and "relationship" in str(a)):
        return "object_relationships"
    if t in ("person", "delivery"):
        return "other"
    return "malformed"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.ndjson")
        subprocess.run(
            [os.path.join(RELEASE, "examples", "gen_corpus"), "--size-mb", "8", "--seed", "1",
             "--out", corpus],
            check=True,
        )
        errors = os.path.join(tmp, "errors.ndjson")
        subprocess.run(
            [os.path.join(RELEASE, "track2pipelines"), "check", "--quiet", "--progress", "never",
             "--now", "2026-01-01T00:00:00Z", "--errors", errors, corpus],
            check=False,
        )
        rejected = {json.loads(e)["line"] for e in open(errors, encoding="utf-8")}
        picked = {k: [] for k in WANT}
        with open(corpus, encoding="utf-8", errors="surrogateescape") as f:
            for n, line in enumerate(f, 1):
                fam = family(line)
                if (n in rejected) != (fam == "malformed") or len(picked[fam]) >= WANT[fam]:
                    continue
                picked[fam].append(line)
        # The CSV HTTP-calls layout (method,path,body): the generator's first 64 KiB as is.
        subprocess.run(
            [os.path.join(RELEASE, "examples", "gen_corpus"), "--size-mb", "0.0625", "--seed", "1",
             "--format", "csv", "--out", os.path.join(OUT, "http_rows.csv")],
            check=True,
        )
        for fam, lines in picked.items():
            path = os.path.join(OUT, fam + ".ndjson")
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.writelines(lines)
            print(f"{path}: {len(lines)} records, {sum(len(x.encode('utf-8', 'surrogateescape')) for x in lines)} bytes")


if __name__ == "__main__":
    main()
