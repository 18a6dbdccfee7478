"""Runs real Django REST framework on a corpus of request bodies and records its answers.

Usage (from the repository root):

    .venv/bin/python server/tests/data/gen_drf_bodies.py server/tests/data/drf_bodies.json

Needs Django 5.2, djangorestframework 3.16.1 (the versions simplejwt 5.5.1 is deployed with)
on CPython 3.11. Every case is sent through Django's WSGI handler to a DRF APIView with the
default parsers, which validates the body with a Serializer made of CharFields
(required, allow_blank=False, allow_null=False, trim_whitespace as given per field) and
answers {"values": [...cleaned values...], "all": bool(request.data.get("all"))}.

Output is deterministic: cases in corpus order, each with
  name, content_type (null = header absent), body_b64, fields ([name, trim] pairs),
  drf: what DRF answered: {"status", "body"} or, on success, {"status": 200, "values", "all"};
       {"status": 500, "error": <exception class>} for crashes; {"status": 400, "html": true}
       for Django's HTML error pages,
  expected: what tollgate must answer (the same as drf, except for the few cases marked
       "deliberate", where DRF crashes or answers HTML, see server/src/http/drf/mod.rs).
The Rust test in server/src/http/drf/tests.rs replays `expected` through drf::parse + drf::strings.
"""

import base64
import io
import json
import logging
import sys

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="gen-drf-bodies",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    MIDDLEWARE=[],
    DATABASES={},
    USE_TZ=True,
    LOGGING_CONFIG=None,
)
django.setup()
logging.disable(logging.CRITICAL)

import rest_framework  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.signals import got_request_exception  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import serializers  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

assert django.VERSION[:2] == (5, 2), django.VERSION
assert rest_framework.VERSION == "3.16.1", rest_framework.VERSION
assert sys.version_info[:2] == (3, 11), sys.version_info

FIELDS = []


class Echo(APIView):
    authentication_classes = []
    permission_classes = []

    def post(self, request):
        declared = {name: serializers.CharField(trim_whitespace=trim) for name, trim in FIELDS}
        serializer = type("S", (serializers.Serializer,), declared)(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            {
                "values": [serializer.validated_data[name] for name, _ in FIELDS],
                "all": bool(request.data.get("all")),
            }
        )


urlpatterns = [path("t", Echo.as_view())]
HANDLER = WSGIHandler()
CRASHES = []
got_request_exception.connect(
    lambda sender, request=None, **kw: CRASHES.append(sys.exc_info()[0].__name__), weak=False
)


def drf(content_type, body, fields):
    global FIELDS
    FIELDS = fields
    CRASHES.clear()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/t",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    started = []
    try:
        out = b"".join(HANDLER(environ, lambda status, headers, exc=None: started.append(status)))
    except Exception as exc:  # raised before Django's exception middleware (request init)
        return {"status": 500, "error": type(exc).__name__}
    status = int(started[0].split()[0])
    if CRASHES:
        return {"status": status, "error": CRASHES[0]}
    try:
        parsed = json.loads(out)
    except ValueError:
        return {"status": status, "html": True}
    if status == 200:
        return {"status": 200, "values": parsed["values"], "all": parsed["all"]}
    return {"status": status, "body": parsed}


# ------------------------------------------------------------------------------------------
# Corpus
# ------------------------------------------------------------------------------------------

UP = [("username", True), ("password", False)]  # tollgate's obtain serializer
BOTH_TRIM = [("username", True), ("password", True)]  # simplejwt's own
NONE = []  # only request.data.get("all")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MP = "multipart/form-data; boundary=B"

CASES = []


def case(name, content_type, body, fields=UP, deliberate=None):
    if isinstance(body, str):
        body = body.encode("utf-8")
    CASES.append((name, content_type, body, fields, deliberate))


def j(obj):
    return json.dumps(obj)


def mp(*parts, boundary=b"B", close=True, nl=b"\r\n"):
    """A multipart body; parts are (headers, value) with headers as bytes lines."""
    out = b""
    for headers, value in parts:
        out += b"--" + boundary + nl + b"".join(h + nl for h in headers) + nl + value + nl
    if close:
        out += b"--" + boundary + b"--" + nl
    return out


def cd(name, extra=b""):
    return b'Content-Disposition: form-data; name="' + name + b'"' + extra


def fld(name, value):
    return ([cd(name)], value)


def depth_error(kind):
    return {
        "status": 400,
        "body": {
            "detail": "JSON parse error - maximum recursion depth exceeded while decoding a JSON "
            + kind
            + " from a unicode string"
        },
    }


TOO_MANY_FIELDS = {
    "status": 400,
    "body": {
        "detail": "The number of GET/POST parameters exceeded "
        "settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
    },
}
TOO_MANY_FILES = {
    "status": 400,
    "body": {"detail": "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES."},
}


def unsupported(content_type):
    return {
        "status": 415,
        "body": {"detail": 'Unsupported media type "%s" in request.' % content_type},
    }


OK = j({"username": "alice", "password": "secret"})

# --- parser selection and Content-Type handling ---
case("json basic", JSON, OK)
case("json simplejwt trims both", JSON, j({"username": " alice ", "password": " s "}), BOTH_TRIM)
case("json tollgate keeps password spaces", JSON, j({"username": " alice ", "password": " s "}))
case("no content type with body", None, OK)
case("no content type empty body", None, b"")
case("empty content type with body", "", OK)
case("text/plain", "text/plain", OK)
case("text/plain with charset", "text/plain; charset=utf-8", OK)
case("text/plain empty body is not parsed", "text/plain", b"")
case("unsupported type empty body", "application/xml", b"")
case("uppercase json type", "APPLICATION/JSON", OK)
case("json charset no space", "application/json;charset=utf-8", OK)
case("json charset quoted uppercase", 'application/json; charset="UTF-8"', OK)
case("json trailing semicolon", "application/json;", OK)
case("json trailing space", "application/json ", OK)
case("json space inside type", "application/ json", OK)
case("star star selects json", "*/*", OK)
case("application star selects json", "application/*", OK)
case("star json selects json", "*/json", OK)
case("vnd api json", "application/vnd.api+json", OK)
case("json patch", "application/json-patch+json", OK)
case("type list", "application/json, text/plain", OK)
case("bare json", "json", OK)
case("non-ascii media type", "text/\xe9", OK)
case("form basic", FORM, "username=alice&password=secret")
case("form mixed case type", "Application/X-WWW-Form-URLEncoded", "username=alice&password=secret")
case("multipart basic", MP, mp(fld(b"username", b"alice"), fld(b"password", b"secret")))
case("multipart capital type", "Multipart/form-data; boundary=B", mp(fld(b"username", b"a")))
case("multipart no boundary", "multipart/form-data", mp(fld(b"username", b"a")))
case("multipart empty boundary", "multipart/form-data; boundary=", b"--\r\n")
case("multipart quoted empty boundary", 'multipart/form-data; boundary=""', b"--\r\n")
case("multipart boundary trailing space", 'multipart/form-data; boundary="a b "', b"x")
case("multipart boundary inner space", "multipart/form-data; boundary=a b", mp(fld(b"username", b"a"), boundary=b"a b"))
case("multipart boundary too long", "multipart/form-data; boundary=" + "x" * 202, b"x")
case("multipart boundary 201", "multipart/form-data; boundary=" + "x" * 201, mp(fld(b"username", b"a"), boundary=b"x" * 201))
case("multipart star subtype", "multipart/*; boundary=B", mp(fld(b"username", b"a"), fld(b"password", b"b")))
case("star form-data", "*/form-data; boundary=B", mp(fld(b"username", b"a")))
case("multipart mixed", "multipart/mixed; boundary=B", mp(fld(b"username", b"a")))
case("multipart non-ascii content type", "multipart/form-data; boundary=B; x=\xe9", mp(fld(b"username", b"a")))
case("multipart empty body no boundary", "multipart/form-data", b"")

# --- charsets ---
UTF8_NAME = j({"username": "\u00e9t\u00e9", "password": "p"}).encode("utf-8")
case("json utf-8 escapes", JSON, j({"username": "\u00e9t\u00e9", "password": "p"}))
case("json raw utf-8", JSON, json.dumps({"username": "\u00e9t\u00e9", "password": "p"}, ensure_ascii=False))
case("json latin-1 charset", "application/json; charset=latin-1", json.dumps({"username": "\u00e9", "password": "p"}, ensure_ascii=False))
case("json ISO-8859-1 charset", "application/json; charset=ISO-8859-1", b'{"username":"\xe9","password":"p"}')
case("json ascii charset non-ascii", "application/json; charset=ascii", json.dumps({"username": "\u00e9", "password": "p"}, ensure_ascii=False))
case("json us-ascii charset", "application/json; charset=US-ASCII", OK)
case("json unknown charset is utf-8", "application/json; charset=utf8mb4", json.dumps({"username": "\u00e9", "password": "p"}, ensure_ascii=False))
case("json empty charset", "application/json; charset=", OK)
case("json utf8 alias", "application/json; charset=UTF8", OK)
case("json utf-8-sig with bom", "application/json; charset=utf-8-sig", b"\xef\xbb\xbf" + OK.encode())
case("json utf-8-sig bad byte after bom", "application/json; charset=utf-8-sig", b'\xef\xbb\xbf{"username":"\xff"}')
case("json utf-8-sig partial bom", "application/json; charset=utf-8-sig", b"\xef\xbb")
case("json rfc2231 charset", "application/json; charset*=utf-8''latin-1", b'{"username":"\xe9","password":"p"}')
case("json utf-16 charset", "application/json; charset=utf-16", OK, deliberate=unsupported("application/json; charset=utf-16"))
case("json cp1252 charset", "application/json; charset=cp1252", OK, deliberate=unsupported("application/json; charset=cp1252"))
case("json unknown rfc2231 charset", "application/json; charset*=bogus''utf-8", OK, deliberate=unsupported("application/json; charset*=bogus''utf-8"))
case("json unused param in undecodable rfc2231 charset", "application/json; x*=cp1252''%E9", OK)
case("json charset in undecodable rfc2231 charset", "application/json; charset*=cp1252''utf-8", OK, deliberate=unsupported("application/json; charset*=cp1252''utf-8"))
case("multipart boundary in undecodable rfc2231 charset", "multipart/form-data; boundary*=cp1252''B", mp(fld(b"username", b"u")), deliberate=unsupported("multipart/form-data; boundary*=cp1252''B"))
case("multipart cp1252 charset without boundary", "multipart/form-data; charset=cp1252", b"x")
case("form latin-1 charset", FORM + "; charset=latin-1", b"username=%E9t%E9&password=\xe9")
case("form ascii charset", FORM + "; charset=ascii", "username=%C3%A9&password=p")
case("multipart latin-1 charset", MP + "; charset=latin-1", mp(fld(b"username", b"\xc3\xa9"), fld(b"pass\xc3\xa9", b"x"), fld(b"password", b"p")))

# --- JSON syntax errors (CPython's json messages and positions) ---
for label, text in [
    ("whitespace only", " "),
    ("newlines only", "\n\n"),
    ("open brace", "{"),
    ("key without colon", '{"username"'),
    ("key colon nothing", '{"username":'),
    ("missing comma", '{"username":"a" "password":"b"}'),
    ("unclosed object", '{"username":"a"'),
    ("trailing comma object", '{"username":"a",}'),
    ("single quotes", "{'username':'a'}"),
    ("unquoted key", "{username:1}"),
    ("trailing comma array", "[1,]"),
    ("array missing comma", "[1 2]"),
    ("extra data", '{"username":"a"}x'),
    ("two objects", "{} {}"),
    ("unterminated string", '{"username":"abc'),
    ("unterminated after backslash", '{"username":"abc\\'),
    ("control character", '{"username":"a\x01b"}'),
    ("raw newline in string", '{"username":"a\nb"}'),
    ("raw tab in string", '{"username":"a\tb"}'),
    ("bad escape", '{"username":"\\q"}'),
    ("short unicode escape", '{"username":"\\u12"}'),
    ("unicode escape at end", '{"username":"\\u1234'),
    ("bad hex in escape", '{"username":"\\u12zz"}'),
    ("bad hex in low surrogate", '{"username":"\\ud83d\\u12zz"}'),
    ("high surrogate then end", '{"username":"\\ud83d\\ude00'),
    ("multi-line position", '{\n  "username": "a",\n  x\n}'),
    ("extra data after newlines", '{"username":"a"}\n\n]'),
    ("code point positions", '{"\u00e9\u00e9":"\U0001f600", x}'),
    ("NaN", '{"username":NaN}'),
    ("Infinity", '{"username":Infinity}'),
    ("minus Infinity", '{"username":-Infinity}'),
    ("lowercase nan", '{"username":nan}'),
    ("lone minus", "-"),
    ("minus letter", "[-x]"),
    ("leading zero", "01"),
    ("dot without digits", "1."),
    ("exponent without digits", "1e"),
    ("exponent sign only", "[1e+]"),
    ("leading dot", ".5"),
    ("truncated true", "tru"),
    ("truncated null", "[nul]"),
    ("capital True", "True"),
    ("utf-8 bom", "\ufeff{}"),
    ("nested error position", '{"a":[1,{"b":}]}'),
    ("deep error before depth limit", "[" * 50 + "x"),
    ("huge int", '{"username":' + "1" * 4301 + "}"),
    ("huge negative int", '{"username":-' + "2" * 4301 + "}"),
    ("huge int in ignored field", '{"other":[' + "3" * 5000 + "]}"),
    ("int limit before later syntax error", '{"x":' + "4" * 4301 + ",}"),
    ("syntax error before huge int", '{"x":1,,' + "4" * 4301 + "}"),
]:
    case("json " + label, JSON, text)

# --- invalid UTF-8 in JSON bodies ---
for label, raw in [
    ("invalid start byte", b'{"username":"\xff"}'),
    ("lone continuation", b'{"username":"\x80"}'),
    ("bad continuation", b'{"username":"\xc3("}'),
    ("bad third byte", b'{"username":"\xe2\x82("}'),
    ("bad fourth byte", b'{"username":"\xf0\x9f\x98("}'),
    ("overlong", b'{"username":"\xc0\xaf"}'),
    ("surrogate encoding", b'{"username":"\xed\xa0\x80"}'),
    ("out of range", b'{"username":"\xf4\x90\x80\x80"}'),
    ("truncated at end of valid json", b'{"username":"a","password":"b"}\xf0\x9f'),
    ("truncated inside string", b'{"username":"a\xe2\x82'),
    ("truncated surrogate at end", b'{"username":"a","password":"b"}\xed\xa0'),
    ("truncated surrogate not at end", b'{"username":"a","password":"b"}\xed\xa0 '),
    ("invalid byte at end", b'{"username":"a","password":"b"}\xff'),
    ("invalid after multibyte", "{\"username\":\"\u00e9\u00e9\"}".encode() + b"\xff"),
]:
    case("utf-8 " + label, JSON, raw)

# --- JSON values and CharField ---
for label, obj, fields in [
    ("missing fields", {}, UP),
    ("blank fields", {"username": "", "password": ""}, UP),
    ("whitespace fields", {"username": "   ", "password": "   "}, UP),
    ("whitespace both trimmed", {"username": "   ", "password": "\t\n"}, BOTH_TRIM),
    ("trim only username", {"username": "  a  ", "password": "  b  "}, UP),
    ("trim neither", {"username": "  a  ", "password": "  b  "}, [("username", False), ("password", False)]),
    ("null fields", {"username": None, "password": None}, UP),
    ("list and object", {"username": [], "password": {}}, UP),
    ("non-empty list and object", {"username": ["a"], "password": {"a": 1}}, UP),
    ("booleans", {"username": True, "password": False}, UP),
    ("integers", {"username": 0, "password": -12}, UP),
    ("floats", {"username": 1.0, "password": -2.5}, UP),
    ("big int", {"username": int("9" * 4300), "password": 10**30}, UP),
    ("mixed errors", {"username": None, "password": ""}, UP),
    ("nul character", {"username": "a\x00b", "password": "\x00"}, UP),
    ("nbsp only", {"username": "\u00a0", "password": "\u00a0"}, UP),
    ("python-only whitespace", {"username": "\x1c\x1d\x1e\x1f", "password": "x"}, UP),
    ("next line and ideographic space", {"username": "\x85\u3000a\u2028", "password": "x"}, UP),
    ("zero width space is not whitespace", {"username": "\u200b", "password": "\ufeff"}, UP),
    ("duplicate key last wins", None, UP),
    ("extra fields ignored", {"username": "a", "password": "b", "x": [1, {"y": None}]}, UP),
    ("escaped key", None, UP),
    ("emoji", {"username": "\U0001f600", "password": "\u00e9"}, UP),
]:
    if label == "duplicate key last wins":
        text = '{"username":"a","password":"b","username":"c"}'
    elif label == "escaped key":
        text = '{"user\\u006eame":"a","pass\\/word":"b","password":"\\"\\\\\\/\\b\\f\\n\\r\\t"}'
    else:
        text = j(obj)
    case("field " + label, JSON, text, fields)

for label, text in [
    ("lone high surrogate", '{"username":"\\ud800","password":"x"}'),
    ("lone low surrogate", '{"username":"a\\udc00b\\ud800","password":"x"}'),
    ("high surrogate before non-low escape", '{"username":"\\ud800\\u0041","password":"x"}'),
    ("surrogate pair", '{"username":"\\ud83d\\ude00","password":"x"}'),
    ("surrogate and nul", '{"username":" \\u0000\\udfff ","password":"x"}'),
    ("surrogate in key", '{"\\ud800":"a","username":"u","password":"p"}'),
    ("surrogate whitespace", '{"username":"\\ud800 ","password":"  "}'),
]:
    case("surrogates " + label, JSON, text)

for label, num in [
    ("1.0", "1.0"), ("1e400", "1e400"), ("-1e400", "-1e400"), ("1e16", "1e16"),
    ("1e15", "1e15"), ("1.5e16", "1.5e16"), ("1e-5", "1e-5"), ("0.0001", "0.0001"),
    ("-0", "-0"), ("-0.0", "-0.0"), ("0e10", "0e10"), ("5e-324", "5e-324"),
    ("1e-400", "1e-400"), ("max float", "1.7976931348623157e308"), ("0.1", "0.1"),
    ("many digits", "123456789.123456789123"), ("exponent capital", "1E+2"),
    ("precision", "9007199254740993"), ("float precision", "9007199254740993.0"),
    ("repr boundary", "9999999999999998.0"), ("small", "0.000123"),
    ("long mantissa", "0." + "0" * 300 + "1"),
]:
    case("number " + label, JSON, '{"username":' + num + ',"password":"p","all":' + num + "}")

# --- top-level non-objects ---
for label, text in [
    ("list", "[]"), ("non-empty list", '[{"username":"a"}]'), ("string", '"username"'),
    ("int", "1"), ("float", "1.5"), ("exponent float", "1e5"), ("true", "true"),
    ("false", "false"), ("null", "null"), ("null with spaces", " null \n"),
    ("empty object", "{}"), ("object with spaces", " { } "),
]:
    case("top-level " + label, JSON, text)

# --- nesting depth ---
case("depth 500 arrays", JSON, '{"username":"a","password":"b","x":' + "[" * 500 + "]" * 500 + "}")
case("depth 900 objects", JSON, '{"username":"a","password":"b","x":' + '{"a":' * 899 + "1" + "}" * 899 + "}")
case("depth 1200 arrays", JSON, '{"username":"a","x":' + "[" * 1200 + "]" * 1200 + "}", deliberate=depth_error("array"))
case("depth 1200 objects", JSON, '{"x":' * 1200 + "1" + "}" * 1200, deliberate=depth_error("object"))
case("depth unterminated", JSON, "[" * 1200, deliberate=depth_error("array"))

# --- truthiness of "all" ---
for label, value in [
    ('"1"', "1"), ('"0"', "0"), ('""', ""), ("true", True), ("false", False), ("1", 1),
    ("0", 0), ("0.0", 0.0), ("-0.0", -0.0), ("0.5", 0.5), ("null", None), ("[]", []),
    ("{}", {}), ("[0]", [0]), ('{"a":0}', {"a": 0}), ('"false"', "false"), ('" "', " "),
]:
    case("all json " + label, JSON, j({"all": value}), NONE)
case("all json absent", JSON, j({"x": 1}), NONE)
case("all json last duplicate", JSON, '{"all":1,"all":0}', NONE)
case("all json 1e-400", JSON, '{"all":1e-400}', NONE)
case("all form 1", FORM, "all=1", NONE)
case("all form 0", FORM, "all=0", NONE)
case("all form empty", FORM, "all=", NONE)
case("all form bare name", FORM, "all", NONE)
case("all form last empty", FORM, "all=1&all=", NONE)
case("all form false", FORM, "all=false", NONE)
case("all multipart empty", MP, mp(fld(b"all", b"")), NONE)
case("all multipart 0", MP, mp(fld(b"all", b"0")), NONE)
case("all multipart file", MP, mp(([cd(b"all", b'; filename="a.txt"')], b"")), NONE)
case("all empty body", JSON, b"", NONE)

# --- application/x-www-form-urlencoded ---
for label, text in [
    ("plus and percent", "username=al+ice%20b&password=%2B%20+"),
    ("literal bad escapes", "username=%zz%4&password=100%"),
    ("repeated keys last wins", "username=a&username=b&password=p&password="),
    ("name without value", "username&password=p"),
    ("empty name", "=x&username=u&password=p"),
    ("empty pairs", "&&username=u&&password=p&"),
    ("semicolon is not a separator", "username=u;password=p"),
    ("equals in value", "username=a=b&password=c=="),
    ("percent-encoded name", "user%6Eame=u&pass+word=x&password=p"),
    ("utf-8 percent escapes", "username=%C3%A9t%C3%A9&password=%E2%82%AC"),
    ("invalid utf-8 escapes", "username=%FF%C3&password=%E2%82"),
    ("raw utf-8", "username=\u00e9t\u00e9&password=p"),
    ("nul escape", "username=a%00&password=%00"),
    ("whitespace values", "username=+%09+&password=+"),
    ("blank values", "username=&password="),
    ("json body as form", OK),
]:
    case("form " + label, FORM, text)
case("form raw invalid utf-8 falls back to latin-1", FORM, b"username=\xe9t\xe9&password=%C3%A9")
case("form raw latin-1 with percent", FORM, b"username=\xff%41&password=p")
case("form utf-8-sig bom", FORM + "; charset=utf-8-sig", b"\xef\xbb\xbfusername=u&password=%EF%BB%BFp")
case("form 1000 fields", FORM, "&".join(["x=1"] * 998 + ["username=u", "password=p"]))
case("form 1001 fields", FORM, "&".join(["x=1"] * 999 + ["username=u", "password=p"]), deliberate=TOO_MANY_FIELDS)
case("form 1000 separators", FORM, "&" * 1000, deliberate=TOO_MANY_FIELDS)

# --- multipart/form-data ---
CRLF = b"\r\n"
case("mp values keep inner whitespace", MP, mp(fld(b"username", b" al ice "), fld(b"password", b" p w ")))
case("mp value with crlf", MP, mp(fld(b"username", b"a\r\n"), fld(b"password", b"\r\np\r\n")))
case("mp value with blank line", MP, mp(fld(b"username", b"a\r\n\r\nb"), fld(b"password", b"p")))
case("mp lf line endings", MP, mp(fld(b"username", b"a"), fld(b"password", b"p"), nl=b"\n"))
case("mp empty values", MP, mp(fld(b"username", b""), fld(b"password", b"")))
case("mp repeated field", MP, mp(fld(b"username", b"a"), fld(b"username", b"b"), fld(b"password", b"p")))
case("mp unquoted name", MP, mp(([b"Content-Disposition: form-data; name=username"], b"u"), fld(b"password", b"p")))
case("mp name with spaces", MP, mp(([b'Content-Disposition: form-data; name=" username\t"'], b"u"), fld(b"password", b"p")))
case("mp header case", MP, mp(([b'CONTENT-DISPOSITION: FORM-DATA; NAME="username"'], b"u"), fld(b"password", b"p")))
case("mp space before colon", MP, mp(([b'Content-Disposition : form-data; name="username"'], b"u"), fld(b"password", b"p")))
case("mp no disposition params", MP, mp(([b"Content-Disposition: form-data"], b"u"), fld(b"password", b"p")))
case("mp no name", MP, mp(([b'Content-Disposition: form-data; filename=""'], b"u"), fld(b"password", b"p")))
case("mp no headers", MP, mp(([], b"u"), fld(b"password", b"p")))
case("mp other header only", MP, mp(([b"Content-Type: text/plain"], b"u"), fld(b"password", b"p")))
case("mp duplicate name param", MP, mp(([b'Content-Disposition: form-data; name="password"; name="username"'], b"u"), fld(b"password", b"p")))
case("mp two disposition headers", MP, mp(([cd(b"password"), cd(b"username")], b"u"), fld(b"password", b"p")))
case("mp rfc2231 name", MP, mp(([b"Content-Disposition: form-data; name*=utf-8''user%6Eame"], b"u"), fld(b"password", b"p")))
case("mp rfc2231 continuations", MP, mp(([b'Content-Disposition: form-data; name*1="name"; name*0="user"'], b"u"), fld(b"password", b"p")))
case("mp rfc2231 unknown charset", MP, mp(([b"Content-Disposition: form-data; name*=bogus''username"], b"u"), fld(b"password", b"p")))
case("mp rfc2231 no charset", MP, mp(([b"Content-Disposition: form-data; name*=username"], b"u"), fld(b"password", b"p")))
case("mp escaped quote in name", MP, mp(([b'Content-Disposition: form-data; name="user\\"name"'], b"u"), fld(b"password", b"p")))
case("mp semicolon in quoted name", MP, mp(([b'Content-Disposition: form-data; name="a;b"; name="username"'], b"u"), fld(b"password", b"p")))
case("mp angle brackets", MP, mp(([b"Content-Disposition: form-data; name=<username>"], b"u"), fld(b"password", b"p")))
case("mp invalid utf-8 in header", MP, mp(([b'Content-Disposition: form-data; name="username"; x="\xff"'], b"u"), fld(b"password", b"p")))
case("mp utf-8 field name", MP, mp(fld("us\u00e9r".encode(), b"u"), fld(b"password", b"p")), [("us\u00e9r", True), ("password", False)])
case("mp invalid utf-8 value", MP, mp(fld(b"username", b"a\xffb\xe2\x82"), fld(b"password", b"\xc3")))
case("mp nul in value", MP, mp(fld(b"username", b"\x00"), fld(b"password", b"p")))
case("mp base64 field", MP, mp(([cd(b"username"), b"Content-Transfer-Encoding: base64"], b"YWxp\r\nY2U="), ([cd(b"password"), b"content-transfer-encoding: BASE64 "], b"cw==")))
case("mp base64 field bad padding", MP, mp(([cd(b"username"), b"Content-Transfer-Encoding: base64"], b"YWxpY2"), ([cd(b"password"), b"Content-Transfer-Encoding: base64"], b"c")))
case("mp base64 field junk and early padding", MP, mp(([cd(b"username"), b"Content-Transfer-Encoding: base64"], b"Y*W-x=p=Y2U"), ([cd(b"password"), b"Content-Transfer-Encoding: base64"], b"cA==cA==")))
case("mp quoted-printable ignored", MP, mp(([cd(b"username"), b"Content-Transfer-Encoding: quoted-printable"], b"a=3Db"), fld(b"password", b"p")))
case("mp preamble and epilogue", MP, b"preamble\r\n" + mp(fld(b"username", b"u"), fld(b"password", b"p")) + b"epilogue")
case("mp no closing boundary", MP, mp(fld(b"username", b"u"), fld(b"password", b"p"), close=False))
case("mp no final crlf", MP, mp(fld(b"username", b"u"), fld(b"password", b"p"))[:-2])
case("mp garbage", MP, b"garbage")
case("mp only boundary", MP, b"--B")
case("mp boundary inside value", MP, mp(fld(b"username", b"x--By"), fld(b"password", b"p")))
case("mp boundary prefix inside value", MP, mp(fld(b"username", b"--Bx"), fld(b"password", b"p"), boundary=b"Bx"), UP)
case("mp header too large", MP, b"--B\r\n" + b"X-Long: " + b"a" * 1100 + b"\r\n" + cd(b"username") + b"\r\n\r\nu\r\n--B--\r\n")
case("mp header just fits", MP, b"--B\r\nX-Long: " + b"a" * 940 + b"\r\n" + cd(b"username") + b"\r\n\r\nu\r\n--B--\r\n")
case("mp unterminated long part", MP, b"--B\r\n" + b"a" * 3000)
case(
    "mp tail of unterminated raw part",
    MP,
    b"--B\r\nX: y\r\n\r\n" + b"a" * 1100 + b"\r\n" + cd(b"username") + b"\r\n\r\nu",
)
# With no closing boundary, Django holds back the last len(boundary)+6 bytes of a part; when
# the part is skipped unread (no Content-Disposition) those bytes are parsed as a new part.
LONG_B = b"L" * 150
TAIL = b"filler\r\n" + cd(b"username") + b"\r\n\r\nu"
TAIL = b"." * (len(LONG_B) + 8 - len(TAIL)) + TAIL
case(
    "mp held-back tail becomes a part",
    "multipart/form-data; boundary=" + LONG_B.decode(),
    b"--" + LONG_B + b"\r\nX: y\r\n\r\n" + b"a" * 1100 + TAIL,
)
case("mp quoted boundary", 'multipart/form-data; boundary="B"', mp(fld(b"username", b"u"), fld(b"password", b"p")))
case("mp boundary param case", "multipart/form-data; BOUNDARY=B", mp(fld(b"username", b"u"), fld(b"password", b"p")))
# files
FILE = b'; filename="f.txt"'
case("mp file for field", MP, mp(([cd(b"username", FILE), b"Content-Type: text/plain"], b"data"), fld(b"password", b"p")))
case("mp file after text wins", MP, mp(fld(b"username", b"u"), ([cd(b"username", FILE)], b"x"), fld(b"password", b"p")))
case("mp file before text wins", MP, mp(([cd(b"username", FILE)], b"x"), fld(b"username", b"u"), fld(b"password", b"p")))
case("mp empty filename is a field", MP, mp(([cd(b"username", b'; filename=""')], b"u"), fld(b"password", b"p")))
case("mp blank filename", MP, mp(([cd(b"username", b'; filename=" "')], b"x"), ([cd(b"password", b'; filename="  "')], b"x")))
case("mp blank filename both trimmed", MP, mp(([cd(b"username", b'; filename=" "')], b"x"), ([cd(b"password", b'; filename="  "')], b"x")), BOTH_TRIM)
case("mp dot filenames skipped", MP, mp(([cd(b"username", b'; filename=".."')], b"x"), ([cd(b"password", b'; filename="a/."')], b"x")))
case("mp filename path", MP, mp(([cd(b"username", b'; filename="a/b\\\\c"')], b"x"), fld(b"password", b"p")))
case("mp filename entities skipped", MP, mp(([cd(b"username", b'; filename="&period;&period;"')], b"x"), ([cd(b"password", b'; filename="x&sol;"')], b"x")))
case("mp filename entity space", MP, mp(([cd(b"username", b'; filename="&#32;&#x20;"')], b"x"), ([cd(b"password", b'; filename="&nbsp&Tab;"')], b"x")))
case("mp filename nonprintable", MP, mp(([cd(b"username", b'; filename="\t\x7f"')], b"x"), ([cd(b"password", b'; filename="&#0;"')], b"x")))
case("mp filename entity prefix", MP, mp(([cd(b"username", b'; filename="&nbsp/"')], b"x"), ([cd(b"password", b'; filename="&notit;"')], b"x")))
case("mp file last part is dropped", MP, mp(fld(b"password", b"p"), ([cd(b"username", FILE)], b"x"), close=False))
case("mp file base64", MP, mp(([cd(b"username", FILE), b"Content-Transfer-Encoding: base64"], b"YWJj\r\nZA=="), fld(b"password", b"p")))
case("mp file bad base64", MP, mp(([cd(b"username", FILE), b"Content-Transfer-Encoding: base64"], b"YWJjZ"), fld(b"password", b"p")))
case("mp file base64 junk", MP, mp(([cd(b"username", FILE), b"Content-Transfer-Encoding: base64"], b"YW*J"), fld(b"password", b"p")))
case("mp many raw parts", MP, b"--B" * 998 + mp(fld(b"username", b"u"), fld(b"password", b"p")))
case("mp too many raw parts", MP, b"--B" * 999 + mp(fld(b"username", b"u"), fld(b"password", b"p")), deliberate=TOO_MANY_FIELDS)
case("mp 100 files", MP, mp(*[([cd(b"f", FILE)], b"x")] * 100, fld(b"username", b"u"), fld(b"password", b"p")))
case("mp 101 files", MP, mp(*[([cd(b"f", FILE)], b"x")] * 101, fld(b"username", b"u"), fld(b"password", b"p")), deliberate=TOO_MANY_FILES)
case("mp 101 skipped files", MP, mp(*[([cd(b"f", b'; filename="."')], b"x")] * 101), deliberate=TOO_MANY_FILES)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_drf_bodies.py OUT.json")
    out = []
    names = set()
    for name, content_type, body, fields, deliberate in CASES:
        assert name not in names, name
        names.add(name)
        answer = drf(content_type, body, fields)
        crashed = "error" in answer or "html" in answer
        if deliberate is None:
            assert not crashed, (name, answer)
        elif deliberate["status"] == 415:
            # A charset or header DRF handles (or crashes on) and tollgate does not.
            pass
        else:
            assert crashed, ("expected DRF to crash or answer HTML", name, answer)
        record = {
            "name": name,
            "content_type": content_type,
            "body_b64": base64.b64encode(body).decode("ascii"),
            "fields": [[field, trim] for field, trim in fields],
            "drf": answer,
            "expected": deliberate if deliberate is not None else answer,
        }
        if deliberate is not None:
            record["deliberate"] = True
        out.append(record)
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=True, sort_keys=True)
        f.write("\n")
    print("%d cases written to %s" % (len(out), sys.argv[1]))


if __name__ == "__main__":
    main()
