#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the shared data, at run time.

    python3 tests/fuzz/seed.py OUT_DIR

OUT_DIR/<target>/ gets one file per seed (named by its SHA-1, so a second run adds
nothing): every token vector in tests/vectors/*.json, their decoded headers and
payloads, Authorization headers built from them plus hand-picked odd ones, and every
request body DRF answered in server/tests/data/drf_bodies.json. Nothing here is
committed: the corpus is derived data (see .gitignore).
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def b64url_decode(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        return None


def write(out: Path, target: str, data: bytes) -> None:
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    tokens = []
    for path in sorted((ROOT / "tests/vectors").glob("*.json")):
        if path.name != "keys.json":
            tokens += [v["token"] for v in json.loads(path.read_text("utf-8"))["vectors"]]
    previous = ""
    for token in tokens:
        raw = token.encode("utf-8")
        if len(raw) <= 10_000:
            # token NUL previous token: decode_reusing sees shared and different headers.
            write(out, "token", raw + b"\0" + previous.encode("utf-8"))
            write(out, "bearer", b"Bearer " + raw)
        previous = token
        parts = token.split(".")
        if len(parts) == 3:
            header, payload = b64url_decode(parts[0]), b64url_decode(parts[1])
            if header is not None and payload is not None and len(header + payload) < 10_000:
                write(out, "signed_claims", header + b"\0" + payload)
                write(out, "json", header)
                write(out, "json", payload)
    for odd in [b"", b"Bearer", b"Bearer a b", b"bearer x", b"JWT x", b"\tBearer\t\tx\t",
                b"Bearer x,Bearer y", b"Bearer \xffx", b"Basic YWxpY2U6eA==", b"Bearer\x0bx\x0c"]:
        write(out, "bearer", odd)
    cases = json.loads((ROOT / "server/tests/data/drf_bodies.json").read_text("utf-8"))
    for case in cases:
        body = base64.b64decode(case["body_b64"])
        content_type = (case["content_type"] or "").encode("latin-1", "replace")
        write(out, "body", content_type + b"\0" + body)
        if (case["content_type"] or "").startswith("application/json"):
            write(out, "json", body)
    counts = {d.name: len(list(d.iterdir())) for d in sorted(out.iterdir()) if d.is_dir()}
    print("seeds:", ", ".join(f"{name} {n}" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
