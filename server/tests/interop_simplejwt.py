"""Interop with djangorestframework-simplejwt, both ways, against a real tollgate server.

Starts the `tollgate` binary (path in argv[1]) on 127.0.0.1 with a fresh data folder and
the same HS256 key as a Simple JWT site configured per ../shared/spec/http-api.md, then:
  1. tollgate's access and refresh tokens verify in PyJWT and in simplejwt's own
     AccessToken/RefreshToken classes, with the claims Simple JWT would have put there;
  2. tokens minted by simplejwt's RefreshToken.for_user (plus the site's custom claims)
     are accepted by tollgate: /api/me/ with the access token, /api/token/refresh/ with
     the refresh token (recorded and rotated), presented again within the reuse interval
     it gets the same successor, and once that was used the replay is refused.
  3. with `algorithm = "RS256"` and the RSA key of tests/vectors/keys.json (a Simple JWT
     site's RSA keys kept), tollgate's tokens verify in PyJWT, in simplejwt's classes over
     an RS256 TokenBackend and in jose (node), and simplejwt's RS256 tokens in tollgate.
Prints "interop-simplejwt: N passed, 0 failed" and exits non-zero on any failure.
Usage: .venv/bin/python server/tests/interop_simplejwt.py target/debug/tollgate
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import timedelta

import django
import jwt
from django.conf import settings

SECRET = "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz"

settings.configure(
    SECRET_KEY=SECRET,
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "rest_framework_simplejwt"],
    SIMPLE_JWT={
        "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
        "REFRESH_TOKEN_LIFETIME": timedelta(days=3),
        "ROTATE_REFRESH_TOKENS": True,
        "ALGORITHM": "HS256",
    },
)
django.setup()

from rest_framework_simplejwt.backends import TokenBackend  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
with open(os.path.join(ROOT, "tests", "vectors", "keys.json"), encoding="utf-8") as f:
    KEYS = json.load(f)

results = []


def check(name, condition, detail=""):
    results.append(bool(condition))
    if not condition:
        print(f"FAIL {name}: {detail}", file=sys.stderr)


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class SiteUser:
    """What a Simple JWT site's get_token(user) sees."""

    def __init__(self, pk, username, email):
        self.id, self.pk, self.username, self.email, self.is_staff, self.is_active = pk, pk, username, email, False, True


@contextlib.contextmanager
def serving(binary, extra_env):
    """A tollgate server on 127.0.0.1 with user alice (password pw-alice); yields its URL."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TOLLGATE_SIGNING_KEY": SECRET,
            "TOLLGATE_PBKDF2_ITERATIONS": "1000",
            "TOLLGATE_DATA_DIR": os.path.join(tmp, "data"),
            **extra_env,
        }
        subprocess.run([binary, "users", "add", "alice", "--email", "alice@example.com", "--password-stdin"],
                       input=b"pw-alice\n", env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        server = subprocess.Popen([binary, "serve", "--bind", "127.0.0.1:0", "--no-demo-user"], env=env, cwd=tmp,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            base = None
            for line in server.stdout:
                if line.startswith("tollgate listening on "):
                    base = line.split(" on ", 1)[1].strip().rstrip("/")
                    break
            check("server started", base, "no listening line")
            yield base
        finally:
            server.terminate()
            check("server exits 0 on SIGTERM", server.wait(timeout=30) == 0)


def rs256_round(binary):
    """3. An RS256 server with a Simple JWT site's RSA key, both ways, and jose."""
    private_pem, public_pem = KEYS["rsa"]["private_pem"], KEYS["rsa"]["public_pem"]
    with serving(binary, {"TOLLGATE_ALGORITHM": "RS256", "TOLLGATE_SIGNING_KEY": private_pem}) as base:
        status, body = call(base, "POST", "/api/token/", {"username": "alice", "password": "pw-alice"})
        check("RS256 login", status == 200, body)
        access, refresh = body["access"], body["refresh"]
        header = jwt.get_unverified_header(access)
        check("RS256 header", header == {"alg": "RS256", "typ": "JWT"}, header)
        claims = jwt.decode(access, public_pem, algorithms=["RS256"])
        check("RS256 access in PyJWT", claims["user_id"] == "1" and claims["token_type"] == "access", claims)
        backend = TokenBackend("RS256", private_pem, public_pem)
        access_cls = type("RS256Access", (AccessToken,), {"_token_backend": backend})
        refresh_cls = type("RS256Refresh", (RefreshToken,), {"_token_backend": backend, "access_token_class": access_cls})
        check("RS256 access in simplejwt", access_cls(access)["user_id"] == "1")
        check("RS256 refresh in simplejwt", refresh_cls(refresh)["user_id"] == "1")
        script = (
            'import { importSPKI, jwtVerify } from "jose";'
            'const [token, pem] = JSON.parse(process.argv[1]);'
            'const { payload } = await jwtVerify(token, await importSPKI(pem, "RS256"), { algorithms: ["RS256"] });'
            "console.log(JSON.stringify(payload));"
        )
        node = subprocess.run(["node", "--input-type=module", "-e", script, json.dumps([access, public_pem])],
                              cwd=os.path.join(ROOT, "tests"), capture_output=True, text=True)
        jose_claims = json.loads(node.stdout) if node.returncode == 0 else node.stderr
        check("RS256 access in jose", jose_claims == claims, jose_claims)
        site_refresh = refresh_cls.for_user(SiteUser(1, "alice", "alice@example.com"))
        status, body = call(base, "GET", "/api/me/", token=str(site_refresh.access_token))
        check("simplejwt RS256 access on /api/me/", (status, body) == (200, {"id": 1, "username": "alice"}), (status, body))
        status, body = call(base, "POST", "/api/token/refresh/", {"refresh": str(site_refresh)})
        check("simplejwt RS256 refresh rotated by tollgate", status == 200, (status, body))
        status, body = call(base, "GET", "/.well-known/jwks.json")
        published = body["keys"][0] if status == 200 and body.get("keys") else {}
        check("RS256 key in the JWKS", {k: published.get(k) for k in ("kty", "n", "e", "kid", "alg")}
              == {**{k: KEYS["rsa"]["public_jwk"][k] for k in ("kty", "n", "e", "kid")}, "alg": "RS256"}, published)


def main():
    binary = os.path.abspath(sys.argv[1])
    rs256_round(binary)
    with serving(binary, {}) as base:
        status, body = call(base, "POST", "/api/token/", {"username": "alice", "password": "pw-alice"})
        check("login", status == 200, body)

        # 1. tollgate -> PyJWT and simplejwt.
        access, refresh = body["access"], body["refresh"]
        claims = jwt.decode(access, SECRET, algorithms=["HS256"])
        check("pyjwt access", claims["user_id"] == "1" and claims["token_type"] == "access", claims)
        check("claim order", list(claims)[:5] == ["token_type", "exp", "iat", "jti", "user_id"], list(claims))
        check("custom claims", (claims["username"], claims["email"], claims["is_staff"]) == ("alice", "alice@example.com", False), claims)
        check("jti format", len(claims["jti"]) == 32 and claims["jti"] == claims["jti"].lower(), claims["jti"])
        simple_access = AccessToken(access)
        check("simplejwt AccessToken", simple_access["user_id"] == "1", simple_access.payload)
        simple_refresh = RefreshToken(refresh)
        check("simplejwt RefreshToken", simple_refresh["user_id"] == "1", simple_refresh.payload)
        derived = simple_refresh.access_token
        check("simplejwt derives the same claims", {k: v for k, v in derived.payload.items() if k not in ("exp", "iat", "jti")}
              == {k: v for k, v in claims.items() if k not in ("exp", "iat", "jti")}, derived.payload)

        # 2. simplejwt -> tollgate (a user migrated from the Simple JWT site keeps working).
        site_refresh = RefreshToken.for_user(SiteUser(1, "alice", "alice@example.com"))
        for claim in ("username", "email", "is_staff"):
            site_refresh[claim] = {"username": "alice", "email": "alice@example.com", "is_staff": False}[claim]
        status, body = call(base, "GET", "/api/me/", token=str(site_refresh.access_token))
        check("simplejwt access on /api/me/", (status, body) == (200, {"id": 1, "username": "alice"}), (status, body))
        status, body = call(base, "POST", "/api/token/refresh/", {"refresh": str(site_refresh)})
        check("simplejwt refresh rotated by tollgate", status == 200 and set(body) == {"access", "refresh"}, (status, body))
        new_claims = jwt.decode(body["refresh"], SECRET, algorithms=["HS256"])
        check("rotated keeps claims", new_claims["username"] == "alice" and new_claims["jti"] != site_refresh["jti"], new_claims)
        successor = body["refresh"]
        status, body = call(base, "POST", "/api/token/refresh/", {"refresh": str(site_refresh)})
        check("again within the reuse interval: the same successor", status == 200 and body["refresh"] == successor, (status, body))
        status, body = call(base, "POST", "/api/token/refresh/", {"refresh": successor})
        check("the successor refreshes", status == 200, (status, body))
        status, body = call(base, "POST", "/api/token/refresh/", {"refresh": str(site_refresh)})
        check("replay refused once the successor was used", (status, body) == (401, {"detail": "Token is blacklisted", "code": "token_not_valid"}), (status, body))
    passed, failed = results.count(True), results.count(False)
    print(f"interop-simplejwt: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
