"""Fail if freshly generated vector files differ from the committed ones.

Usage: python compare.py COMMITTED_DIR NEW_DIR FILE...
Files are compared field by field, vector by vector (matched by name). The one allowed
difference: for a token whose header alg is ES256/384/512 or PS256/384/512, the signature
(third segment) of `token` is ignored, since ECDSA and RSA-PSS signatures are randomized. Exit 1 with every difference listed.
"""

import base64
import json
import sys
from pathlib import Path


RANDOMIZED = {"ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}


def token_alg(token: str):
    try:
        segment = token.split(".")[0]
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))).get("alg")
    except (ValueError, AttributeError):
        return None


def comparable_token(token):
    alg = token_alg(token) if isinstance(token, str) else None
    if alg in RANDOMIZED:
        return token.rsplit(".", 1)[0] + f".<{alg} signature ignored>"
    return token


def diff_file(name: str, old: dict, new: dict) -> tuple:
    problems = []
    for field in sorted((set(old) | set(new)) - {"vectors"}):
        if old.get(field) != new.get(field):
            problems.append(f"{name}: top-level '{field}': committed {old.get(field)!r}, new {new.get(field)!r}")
    old_vectors = {v["name"]: v for v in old.get("vectors", [])}
    new_vectors = {v["name"]: v for v in new.get("vectors", [])}
    if list(old_vectors) != list(new_vectors):
        gone, added = set(old_vectors) - set(new_vectors), set(new_vectors) - set(old_vectors)
        problems.append(f"{name}: vector list differs (missing {sorted(gone)}, new {sorted(added)}, or order)")
    for vname in [n for n in old_vectors if n in new_vectors]:
        a, b = old_vectors[vname], new_vectors[vname]
        for field in sorted(set(a) | set(b)):
            x, y = a.get(field, "<absent>"), b.get(field, "<absent>")
            if field == "token":
                x, y = comparable_token(x), comparable_token(y)
            if x != y and isinstance(x, dict) and isinstance(y, dict):
                for sub in sorted(k for k in set(x) | set(y) if x.get(k, "<absent>") != y.get(k, "<absent>")):
                    problems.append(f"{name}: vector '{vname}' field '{field}.{sub}': "
                                    f"committed {x.get(sub, '<absent>')!r}, new {y.get(sub, '<absent>')!r}")
            elif x != y:
                problems.append(f"{name}: vector '{vname}' field '{field}': committed {x!r}, new {y!r}")
    return problems, len(old_vectors)


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    committed, fresh, files = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    problems, count = [], 0
    for name in files:
        try:
            old = json.loads((committed / name).read_text(encoding="utf-8"))
            new = json.loads((fresh / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            problems.append(f"{name}: cannot load: {error}")
            continue
        file_problems, n = diff_file(name, old, new)
        problems += file_problems
        count += n
    if problems:
        print("vector drift (regenerate and commit, or fix the generator):", file=sys.stderr)
        for line in problems:
            print("  " + line, file=sys.stderr)
        return 1
    print(f"vectors: {len(files)} files, {count} vectors, no drift")
    return 0


if __name__ == "__main__":
    sys.exit(main())
