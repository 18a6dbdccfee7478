"""Write OUTDIR/pyjwt.json and OUTDIR/simplejwt.json: token vectors made by PyJWT and by
djangorestframework-simplejwt's own token classes (format: tests/vectors/README.md).

Deterministic: issuance clock frozen at 1700000000, jti = uuid.UUID(int=counter).hex, keys
from tests/vectors/keys.json (ES256 signatures are the only random part). Before writing,
every vector is re-verified through simplejwt (`simplejwt_outcome`, with PyJWT under it) at
its `now`, and its exact header/claims or error message checked.
crosscheck.py imports the helpers (configure_django, frozen_clock, simplejwt_outcome, ...).
Usage: .venv/bin/python gen_python.py OUTDIR
"""

import base64
import contextlib
import hashlib
import hmac
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import jwt.api_jwt

VECTORS_DIR = Path(__file__).resolve().parent.parent
T0 = 1700000000  # issuance clock
NOW = T0 + 100  # default verification clock
ACCESS, REFRESH = 30 * 60, 3 * 86400
SLIDING, SLIDING_REFRESH = 5 * 60, 86400
MESSAGES = {
    "token_algorithm_mismatch": "Token is invalid",
    "token_signature_invalid": "Token is invalid",
    "token_not_yet_valid": "Token is invalid",
    "token_audience_mismatch": "Token is invalid",
    "token_issuer_mismatch": "Token is invalid",
    "token_malformed": "Token is invalid",
    "token_claim_invalid": "Token is invalid",
    "token_expired": "Token is expired",
    "token_blacklisted": "Token is blacklisted",
    "token_no_exp": "Token has no 'exp' claim",
    "token_no_id": "Token has no id",
    "token_no_type": "Token has no type",
    "token_wrong_type": "Token has wrong type",
    "token_no_refresh_exp": "Token has no 'refresh_exp' claim",
    "token_refresh_exp_expired": "Token 'refresh_exp' claim has expired",
}
SIGNING_KEY = {
    "HS256": "hmac", "HS384": "hmac", "HS512": "hmac", "EdDSA": "ed25519",
    "ES256": "es256", "ES384": "es384", "ES512": "es512",
    "RS256": "rsa", "RS384": "rsa", "RS512": "rsa", "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
}
USER = {"user_id": "42", "username": "alice", "email": "alice@example.com", "is_staff": False}
UNICODE_NAME = "José Ünal 日本 🎉"


def load_keys() -> dict:
    return json.loads((VECTORS_DIR / "keys.json").read_text(encoding="utf-8"))


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_json(segment: str):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def decode_unverified(token: str) -> tuple:
    header, payload, _ = token.split(".")
    return b64u_json(header), b64u_json(payload)


# ---------------------------------------------------------------- clock and Django
_clock = [T0]


class _FrozenDatetime(datetime):
    """Stand-in for `datetime` in jwt.api_jwt, whose claim checks call datetime.now()."""

    @classmethod
    def now(cls, tz=None):
        return datetime.fromtimestamp(_clock[0], tz)


@contextlib.contextmanager
def frozen_clock(now: int):
    """Freeze PyJWT's and simplejwt's notion of "now" (epoch seconds)."""
    saved, _clock[0] = _clock[0], now
    try:
        yield
    finally:
        _clock[0] = saved


def configure_django() -> None:
    """Django settings as a Simple JWT site with the spec's SIMPLE_JWT values; freezes clocks."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    keys = load_keys()
    settings.configure(
        SECRET_KEY=keys["hmac"]["secret"],
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "rest_framework_simplejwt",
        ],
        SIMPLE_JWT={
            "ACCESS_TOKEN_LIFETIME": timedelta(seconds=ACCESS),
            "REFRESH_TOKEN_LIFETIME": timedelta(seconds=REFRESH),
            "SLIDING_TOKEN_LIFETIME": timedelta(seconds=SLIDING),
            "SLIDING_TOKEN_REFRESH_LIFETIME": timedelta(seconds=SLIDING_REFRESH),
            "ROTATE_REFRESH_TOKENS": True,
            "ALGORITHM": "HS256",
            "USER_ID_FIELD": "id",
            "USER_ID_CLAIM": "user_id",
        },
    )
    django.setup()
    from rest_framework_simplejwt import tokens

    # PyJWT's claim checks call datetime.now(); simplejwt's Token reads tokens.aware_utcnow().
    jwt.api_jwt.datetime = _FrozenDatetime
    tokens.aware_utcnow = lambda: datetime.fromtimestamp(_clock[0], timezone.utc)


def backend_for(vector: dict, keys: dict):
    """A simplejwt TokenBackend configured like the vector's verifier."""
    from rest_framework_simplejwt.backends import TokenBackend

    key = vector["key"]
    if isinstance(key, dict):  # inline JWK
        key = jwt.PyJWK(key, vector["algorithm"]).key
    elif "secret" in keys[key]:
        key = keys[key]["secret"]
    else:
        key = keys[key]["public_pem"]
    hs = vector["algorithm"].startswith("HS")
    return TokenBackend(
        vector["algorithm"],
        signing_key=key if hs else None,
        verifying_key="" if hs else key,
        audience=vector.get("audience"),
        issuer=vector.get("issuer"),
        leeway=vector.get("leeway", 0),
    )


def _code_for(error) -> str:
    """tollgate-core's code for a simplejwt TokenError, from the PyJWT exception under it."""
    cause = error.__cause__.__cause__ if error.__cause__ is not None else None
    if cause is None:
        return {m: c for c, m in MESSAGES.items() if m != "Token is invalid"}[str(error)]
    if isinstance(cause, jwt.MissingRequiredClaimError):
        return {"aud": "token_audience_mismatch", "iss": "token_issuer_mismatch"}[cause.claim]
    for exc, code in [
        (jwt.InvalidAlgorithmError, "token_algorithm_mismatch"),
        (jwt.InvalidSignatureError, "token_signature_invalid"),
        (jwt.ExpiredSignatureError, "token_expired"),
        (jwt.ImmatureSignatureError, "token_not_yet_valid"),
        (jwt.InvalidAudienceError, "token_audience_mismatch"),
        (jwt.InvalidIssuerError, "token_issuer_mismatch"),
        (jwt.DecodeError, "token_malformed"),
    ]:
        if isinstance(cause, exc):
            return code
    return "token_claim_invalid"


def simplejwt_outcome(vector: dict, keys: dict) -> dict:
    """Verify a vector's token with simplejwt's token class for its expect_type, at its `now`.

    Returns {"payload": ...} or {"code": ..., "message": ...}. The blacklist check runs first
    in verify(), as BlacklistMixin does (the token_blacklist app itself needs a database).
    """
    from rest_framework_simplejwt import tokens
    from rest_framework_simplejwt.exceptions import TokenError

    expect = vector["expect_type"]
    base = {
        "access": tokens.AccessToken,
        "refresh": tokens.RefreshToken,
        "sliding": tokens.SlidingToken,
        "sliding_refresh": tokens.SlidingToken,
        "untyped": tokens.UntypedToken,
    }[expect]
    blacklisted = set(vector.get("blacklisted") or [])

    def verify(self):
        if self.payload.get("jti") in blacklisted:
            raise TokenError("Token is blacklisted")
        base.verify(self)

    cls = type("Vector" + base.__name__, (base,), {"_token_backend": backend_for(vector, keys), "verify": verify})
    with frozen_clock(vector["now"]):
        try:
            token = cls(vector["token"])
            if expect == "sliding_refresh":  # as TokenRefreshSlidingSerializer
                token.check_exp("refresh_exp")
        except TokenError as error:
            return {"code": _code_for(error), "message": str(error)}
    return {"payload": token.payload}


def check_vector(vector: dict, keys: dict) -> None:
    """Assert a generated vector's expectation is what simplejwt really does."""
    got = simplejwt_outcome(vector, keys)
    if vector["expect_fail"]:
        want = {"code": vector["code"], "message": vector["message"]}
    else:
        want = {"payload": vector["claims"]}
        header, claims = decode_unverified(vector["token"])
        assert header == vector["header"], (vector["name"], header)
        assert claims == vector["claims"], (vector["name"], claims)
    assert got == want, f"{vector['name']}: simplejwt gives {got}, vector says {want}"


# ---------------------------------------------------------------- vector rows
def row(name, description, token, algorithm, key, *, now=NOW, leeway=0, audience=None,
        issuer=None, expect_type="access", blacklisted=(), fail=None) -> dict:
    """One vector; `fail` is an error code, else header and claims are decoded from the token."""
    vector = {
        "name": name,
        "description": description,
        "algorithm": algorithm,
        "key": key,
        "now": now,
        "leeway": leeway,
        "audience": audience,
        "issuer": issuer,
        "expect_type": expect_type,
        "blacklisted": list(blacklisted),
        "token": token,
        "expect_fail": fail is not None,
    }
    if fail is None:
        vector["header"], vector["claims"] = decode_unverified(token)
    else:
        vector["code"], vector["message"] = fail, MESSAGES[fail]
    return vector


class PyJWTVectors:
    """Simple JWT-shaped tokens built and signed with plain PyJWT."""

    def __init__(self, keys):
        self.keys = keys
        self.counter = 0
        self.rows = []

    def jti(self) -> str:
        self.counter += 1
        return uuid.UUID(int=self.counter).hex

    def claims(self, token_type="access", iat=T0, lifetime=None, **extra) -> dict:
        lifetime = lifetime or (ACCESS if token_type == "access" else REFRESH)
        payload = {"token_type": token_type, "exp": iat + lifetime, "iat": iat, "jti": self.jti()}
        payload.update(USER)
        payload.update(extra)
        return payload

    def sign(self, payload, alg="HS256", key=None) -> str:
        entry = self.keys[key or SIGNING_KEY[alg]]
        secret = entry.get("secret") or entry["private_pem"]
        if isinstance(payload, bytes):  # exact payload bytes
            return jwt.api_jws.encode(payload, secret, algorithm=alg, headers={"typ": "JWT"})
        return jwt.encode(payload, secret, algorithm=alg)

    def add(self, name, description, token, algorithm="HS256", key=None, **kw):
        key = key or SIGNING_KEY[algorithm]
        self.rows.append(row("pyjwt-" + name, description, token, algorithm, key, **kw))

    def build(self) -> list:
        for alg in SIGNING_KEY:
            a = alg.lower()
            self.add(f"{a}-access-valid", f"{alg} access token", self.sign(self.claims(), alg), alg)
            self.add(f"{a}-refresh-valid", f"{alg} refresh token", self.sign(self.claims("refresh"), alg),
                     alg, expect_type="refresh")
            self.add(f"{a}-expired-at-exp", f"{alg} access token verified at now == exp",
                     self.sign(self.claims(), alg), alg, now=T0 + ACCESS, fail="token_expired")
            other = SIGNING_KEY[alg] + "-other"
            self.add(f"{a}-wrong-key", f"{alg} token signed with {other}",
                     self.sign(self.claims(), alg, other), alg, fail="token_signature_invalid")
        self.add("eddsa-token-es256-verifier", "EdDSA token, verifier pinned to ES256",
                 self.sign(self.claims(), "EdDSA"), "ES256", fail="token_algorithm_mismatch")
        self.add("es256-token-eddsa-verifier", "ES256 token, verifier pinned to EdDSA",
                 self.sign(self.claims(), "ES256"), "EdDSA", fail="token_algorithm_mismatch")
        self.add("rs256-token-ps256-verifier", "RS256 token, verifier pinned to PS256 (same RSA key)",
                 self.sign(self.claims(), "RS256"), "PS256", fail="token_algorithm_mismatch")
        self.add("es384-token-es512-verifier", "ES384 token, verifier pinned to ES512",
                 self.sign(self.claims(), "ES384"), "ES512", fail="token_algorithm_mismatch")
        for alg, other in [("RS256", "RS384"), ("PS256", "RS256")]:
            # The header says the verifier's algorithm; the signature is another scheme's.
            payload = json.dumps(self.claims(), separators=(",", ":")).encode()
            real = self.sign(payload, other).split(".")[2]
            header = b64u(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
            self.add(f"{alg.lower()}-header-{other.lower()}-signature",
                     f"header alg {alg}, signature made with {other} over another header",
                     f"{header}.{b64u(payload)}.{real}", alg, fail="token_signature_invalid")
        self.add("rs256-jwk-key", "RS256 token, verifying key given as an inline public JWK",
                 self.sign(self.claims(), "RS256"), "RS256", key=self.keys["rsa"]["public_jwk"])
        self.add("es512-jwk-key", "ES512 token, verifying key given as an inline public JWK",
                 self.sign(self.claims(), "ES512"), "ES512", key=self.keys["es512"]["public_jwk"])
        self.add("unicode-username", "non-ASCII claim, \\u-escaped by json.dumps (surrogate pair)",
                 self.sign(self.claims(username=UNICODE_NAME)), "HS256")
        self.time_rows()
        self.algorithm_rows()
        self.aud_iss_rows()
        self.claim_rows()
        return self.rows

    def time_rows(self):
        exp = T0 + ACCESS
        self.add("one-second-before-exp", "verified at exp - 1", self.sign(self.claims()), now=exp - 1)
        self.add("leeway-edge-expired", "now == exp + leeway", self.sign(self.claims()), now=exp + 5,
                 leeway=5, fail="token_expired")
        self.add("leeway-inside", "now == exp + leeway - 1", self.sign(self.claims()), now=exp + 4, leeway=5)
        self.add("nbf-future", "nbf one second after now", self.sign(self.claims(nbf=NOW + 1)),
                 fail="token_not_yet_valid")
        self.add("nbf-now", "nbf == now", self.sign(self.claims(nbf=NOW)))
        self.add("iat-future", "iat 60 s ahead of now, leeway 5", self.sign(self.claims(iat=NOW + 60)),
                 leeway=5, fail="token_not_yet_valid")
        self.add("iat-future-within-leeway", "iat == now + leeway", self.sign(self.claims(iat=NOW + 5)),
                 leeway=5)

    def algorithm_rows(self):
        self.add("hs256-token-hs384-verifier", "HS256 token, verifier pinned to HS384",
                 self.sign(self.claims()), "HS384", fail="token_algorithm_mismatch")
        self.add("hs256-token-eddsa-verifier", "HS256 token, verifier pinned to EdDSA",
                 self.sign(self.claims()), "EdDSA", fail="token_algorithm_mismatch")
        unsigned = jwt.encode(self.claims(), None, algorithm="none")
        assert unsigned.endswith("."), unsigned
        self.add("alg-none", "unsigned alg none token, HS256 verifier", unsigned,
                 fail="token_algorithm_mismatch")
        self.add("alg-none-eddsa-verifier", "unsigned alg none token, EdDSA verifier", unsigned, "EdDSA",
                 fail="token_algorithm_mismatch")
        for alg, key in [("EdDSA", "ed25519"), ("ES256", "es256")]:
            # PyJWT refuses PEM text as an HMAC secret, so this HS256 token is signed by hand.
            header = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
            body = b64u(json.dumps(self.claims(), separators=(",", ":")).encode())
            mac = hmac.new(self.keys[key]["public_pem"].encode(), f"{header}.{body}".encode(), hashlib.sha256)
            self.add(f"alg-confusion-{alg.lower()}", f"HS256 token keyed with the {key} public PEM, {alg} verifier",
                     f"{header}.{body}.{b64u(mac.digest())}", alg, fail="token_algorithm_mismatch")

    def aud_iss_rows(self):
        iss = "https://issuer.example"
        self.add("aud-match", "aud 'api', verifier audience 'api'", self.sign(self.claims(aud="api")), audience="api")
        self.add("aud-list-match", "aud ['x','api'], verifier audience 'api'",
                 self.sign(self.claims(aud=["x", "api"])), audience="api")
        self.add("aud-verifier-list-match", "aud 'api', verifier audience ['other','api']",
                 self.sign(self.claims(aud="api")), audience=["other", "api"])
        self.add("aud-not-configured", "aud 'api', verifier has no audience (not checked)",
                 self.sign(self.claims(aud="api")))
        self.add("aud-mismatch", "aud 'api', verifier audience 'other'", self.sign(self.claims(aud="api")),
                 audience="other", fail="token_audience_mismatch")
        self.add("aud-missing", "no aud, verifier audience 'api'", self.sign(self.claims()), audience="api",
                 fail="token_audience_mismatch")
        self.add("iss-match", "iss matches verifier issuer", self.sign(self.claims(iss=iss)), issuer=iss)
        self.add("iss-mismatch", "iss differs from verifier issuer",
                 self.sign(self.claims(iss="https://evil.example")), issuer=iss, fail="token_issuer_mismatch")
        self.add("iss-missing", "no iss, verifier issuer set", self.sign(self.claims()), issuer=iss,
                 fail="token_issuer_mismatch")

    def claim_rows(self):
        def without(claim, payload):
            del payload[claim]
            return payload

        self.add("no-jti", "access token without jti", self.sign(without("jti", self.claims())), fail="token_no_id")
        self.add("no-token-type", "access token without token_type",
                 self.sign(without("token_type", self.claims())), fail="token_no_type")
        self.add("no-exp", "access token without exp", self.sign(without("exp", self.claims())), fail="token_no_exp")
        self.add("access-as-refresh", "access token verified as refresh", self.sign(self.claims()),
                 expect_type="refresh", fail="token_wrong_type")
        self.add("access-as-untyped", "access token verified as untyped", self.sign(self.claims()),
                 expect_type="untyped")
        refresh = self.claims("refresh")
        self.add("refresh-blacklisted", "refresh token whose jti is blacklisted", self.sign(refresh),
                 expect_type="refresh", blacklisted=[refresh["jti"]], fail="token_blacklisted")
        untyped = without("token_type", self.claims("refresh"))
        self.add("blacklisted-before-no-type", "blacklisted jti and no token_type: blacklist wins",
                 self.sign(untyped), expect_type="refresh", blacklisted=[untyped["jti"]], fail="token_blacklisted")


# ---------------------------------------------------------------- simplejwt
def simplejwt_rows(keys: dict) -> list:
    """Tokens minted by simplejwt's own classes and serializer logic, clock frozen."""
    from rest_framework_simplejwt import tokens
    from rest_framework_simplejwt.backends import TokenBackend
    from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenObtainSlidingSerializer

    counter = [0]

    def uuid4():
        counter[0] += 1
        return uuid.UUID(int=counter[0])

    tokens.uuid4 = uuid4

    class User:  # plain object: what for_user and get_token read
        def __init__(self, username):
            self.id, self.username, self.email = 42, username, "alice@example.com"
            self.is_staff, self.is_active = False, True

    def add_claims(token, user):  # a site's get_token override
        token["username"], token["email"], token["is_staff"] = user.username, user.email, user.is_staff
        return token

    class PairSerializer(TokenObtainPairSerializer):
        @classmethod
        def get_token(cls, user):
            return add_claims(super().get_token(user), user)

    class SlidingSerializer(TokenObtainSlidingSerializer):
        @classmethod
        def get_token(cls, user):
            return add_claims(super().get_token(user), user)

    rows = []

    def add(name, description, token, algorithm="HS256", **kw):
        rows.append(row("simplejwt-" + name, description, str(token), algorithm, SIGNING_KEY[algorithm], **kw))

    alice = User("alice")
    with frozen_clock(T0):
        refresh = PairSerializer.get_token(alice)
        access = refresh.access_token
    add("access", "access from RefreshToken.for_user(user).access_token, custom claims copied", access)
    add("refresh", "refresh from get_token(user) with custom claims", refresh, expect_type="refresh")
    add("access-as-untyped", "access verified as untyped (verify endpoint)", access, expect_type="untyped")
    add("access-expired-at-exp", "access verified at now == exp", access, now=T0 + ACCESS, fail="token_expired")
    add("refresh-as-access", "refresh verified as access", refresh, fail="token_wrong_type")
    add("access-as-refresh", "access verified as refresh", access, expect_type="refresh", fail="token_wrong_type")

    t1 = T0 + 600  # TokenRefreshSerializer.validate with ROTATE_REFRESH_TOKENS on
    with frozen_clock(t1):
        rotated = tokens.RefreshToken(str(refresh))
        new_access = str(rotated.access_token)
        rotated.set_jti()
        rotated.set_exp()
        rotated.set_iat()
        rotated.outstand()
    add("refreshed-access", "access returned by token refresh", new_access, now=t1 + 100)
    add("rotated-refresh", "refresh rotated by token refresh (set_jti, set_exp, set_iat)", rotated,
        now=t1 + 100, expect_type="refresh")

    with frozen_clock(T0):
        sliding = SlidingSerializer.get_token(alice)
    add("sliding", "SlidingToken.for_user(user) with custom claims", sliding, expect_type="sliding")
    add("sliding-refreshable", "sliding token checked for refreshing", sliding, expect_type="sliding_refresh")
    add("sliding-as-access", "sliding token verified as access", sliding, fail="token_wrong_type")
    add("sliding-expired-not-refreshable", "expired sliding token cannot be slid (exp checked first)", sliding,
        now=T0 + SLIDING, expect_type="sliding_refresh", fail="token_expired")

    def slide(token_str, at):  # TokenRefreshSlidingSerializer.validate
        with frozen_clock(at):
            token = tokens.SlidingToken(token_str)
            token.check_exp("refresh_exp")
            token.set_exp()
            token.set_iat()
            return str(token)

    slid = slide(str(sliding), T0 + 200)
    add("slid", "sliding token after one sliding refresh", slid, now=T0 + 300, expect_type="sliding")
    last = str(sliding)
    for at in range(T0 + 240, T0 + SLIDING_REFRESH, 240):  # keep sliding until refresh_exp
        last = slide(last, at)
    end = T0 + SLIDING_REFRESH
    add("slid-to-end-refreshable", "slid every 4 min; refresh_exp - 1", last, now=end - 1, expect_type="sliding_refresh")
    add("slid-to-end-refresh-exp-expired", "slid every 4 min; now == refresh_exp", last, now=end,
        expect_type="sliding_refresh", fail="token_refresh_exp_expired")
    add("slid-to-end-still-valid", "past refresh_exp but exp not reached: still a valid sliding token", last,
        now=end, expect_type="sliding")

    with frozen_clock(T0):
        unicode_access = PairSerializer.get_token(User(UNICODE_NAME)).access_token
    add("unicode-username", "non-ASCII username as simplejwt encodes it", unicode_access)

    for alg in ("EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        entry = keys[SIGNING_KEY[alg]]
        backend = TokenBackend(alg, entry["private_pem"], entry["public_pem"])
        access_cls = type(f"{alg}Access", (tokens.AccessToken,), {"_token_backend": backend})
        refresh_cls = type(f"{alg}Refresh", (tokens.RefreshToken,),
                           {"_token_backend": backend, "access_token_class": access_cls})
        serializer = type(f"{alg}Pair", (PairSerializer,), {"token_class": refresh_cls})
        with frozen_clock(T0):
            alg_refresh = serializer.get_token(alice)
            alg_access = alg_refresh.access_token
        add(f"{alg.lower()}-access", f"{alg} access (SIGNING_KEY/VERIFYING_KEY PEMs)", alg_access, alg)
        add(f"{alg.lower()}-refresh", f"{alg} refresh", alg_refresh, alg, expect_type="refresh")
    return rows


def write(path: Path, source: str, rows: list, keys: dict) -> None:
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)), "duplicate vector names"
    for vector in rows:
        check_vector(vector, keys)
    text = json.dumps({"source": source, "vectors": rows}, indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def main() -> None:
    from importlib.metadata import version

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    keys = load_keys()
    configure_django()
    write(out / "pyjwt.json", f"PyJWT {version('PyJWT')}", PyJWTVectors(keys).build(), keys)
    source = f"djangorestframework-simplejwt {version('djangorestframework-simplejwt')}, Django {version('Django')}"
    write(out / "simplejwt.json", source, simplejwt_rows(keys), keys)


if __name__ == "__main__":
    main()
