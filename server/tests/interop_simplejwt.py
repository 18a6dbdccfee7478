"""Interop with djangorestframework-simplejwt, both ways, against a real tollgate server.

Starts the `tollgate` binary (path in argv[1]) on 127.0.0.1 with a fresh data folder and
the same HS256 key as a Simple JWT site configured per ../shared/spec/http-api.md, then:
  1. tollgate's access and refresh tokens verify in PyJWT and in simplejwt's own
     AccessToken/RefreshToken classes, with the claims Simple JWT would have put there;
  2. tokens minted by simplejwt's RefreshToken.for_user (plus the site's custom claims)
     are accepted by tollgate: /api/me/ with the access token, /api/token/refresh/ with
     the refresh token (recorded and rotated), presented again within the reuse interval
     it gets the same successor, and once that was used the replay is refused.
Prints "interop-simplejwt: N passed, 0 failed" and exits non-zero on any failure.
Usage: .venv/bin/python server/tests/interop_simplejwt.py target/debug/tollgate
"""

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

from rest_framework_simplejwt.tokens import AccessToken, RefreshToken  # noqa: E402

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


def main():
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TOLLGATE_SIGNING_KEY": SECRET,
            "TOLLGATE_PBKDF2_ITERATIONS": "1000",
            "TOLLGATE_DATA_DIR": os.path.join(tmp, "data"),
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
        finally:
            server.terminate()
            check("server exits 0 on SIGTERM", server.wait(timeout=30) == 0)
    passed, failed = results.count(True), results.count(False)
    print(f"interop-simplejwt: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
