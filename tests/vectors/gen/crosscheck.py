"""Reverse check: every success vector (expect_fail false) must verify in PyJWT and in
djangorestframework-simplejwt, each clock frozen at the vector's `now`, with the decoded
header/payload equal to the vector's `header`/`claims`.

PyJWT: jwt.decode_complete with algorithms=[algorithm], the vector's key (name from keys.json
or inline JWK), leeway, audience, issuer; aud is checked only when an audience is configured,
as simplejwt's TokenBackend does. simplejwt: the token class for expect_type (AccessToken,
RefreshToken, SlidingToken, UntypedToken; sliding_refresh also checks refresh_exp) over a
TokenBackend configured like the vector's verifier (gen_python.simplejwt_outcome).
Usage: .venv/bin/python crosscheck.py FILE...
"""

import json
import sys
from pathlib import Path

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_python import configure_django, frozen_clock, load_keys, simplejwt_outcome  # noqa: E402


def pyjwt_key(vector: dict, keys: dict):
    key = vector["key"]
    if isinstance(key, dict):
        return jwt.PyJWK(key, vector["algorithm"]).key
    entry = keys[key]
    return entry["secret"] if "secret" in entry else entry["public_pem"]


def pick_from_set(vector: dict, keys: dict) -> dict:
    """A key set ({"keys": [...]}) verifies with the member whose kid the token names."""
    key = vector["key"]
    if not (isinstance(key, dict) and "keys" in key):
        return vector
    kid = jwt.get_unverified_header(vector["token"]).get("kid")
    for member in key["keys"]:
        member_kid = member.get("kid") if isinstance(member, dict) else keys[member]["kid"]
        if member_kid == kid:
            return dict(vector, key=member)
    raise LookupError(f"no key with kid {kid!r} in the set")


def check_pyjwt(vector: dict, keys: dict):
    audience = vector.get("audience")
    with frozen_clock(vector["now"]):
        decoded = jwt.decode_complete(
            vector["token"],
            pyjwt_key(vector, keys),
            algorithms=[vector["algorithm"]],
            audience=audience,
            issuer=vector.get("issuer"),
            leeway=vector.get("leeway") or 0,
            options={"verify_aud": audience is not None},
        )
    if decoded["header"] != vector["header"]:
        return f"header {decoded['header']!r} != {vector['header']!r}"
    if decoded["payload"] != vector["claims"]:
        return f"payload {decoded['payload']!r} != {vector['claims']!r}"
    return None


def check_simplejwt(vector: dict, keys: dict):
    outcome = simplejwt_outcome(vector, keys)
    if "payload" not in outcome:
        return f"rejected: {outcome}"
    if outcome["payload"] != vector["claims"]:
        return f"payload {outcome['payload']!r} != {vector['claims']!r}"
    return None


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    configure_django()
    keys = load_keys()
    checkers = {"pyjwt": check_pyjwt, "simplejwt": check_simplejwt}
    counts = {name: [0, 0] for name in checkers}
    skipped = 0
    for path in sys.argv[1:]:
        vectors = json.loads(Path(path).read_text(encoding="utf-8"))["vectors"]
        for vector in vectors:
            if vector["expect_fail"]:
                skipped += 1
                continue
            for name, check in checkers.items():
                try:
                    problem = check(pick_from_set(vector, keys), keys)
                except Exception as error:  # noqa: BLE001 - any exception is a failed vector
                    problem = f"{type(error).__name__}: {error}"
                counts[name][problem is not None] += 1
                if problem:
                    print(f"FAIL {name} {Path(path).name} {vector['name']}: {problem}", file=sys.stderr)
    for name, (passed, failed) in counts.items():
        print(f"crosscheck-{name}: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if any(failed for _, failed in counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
