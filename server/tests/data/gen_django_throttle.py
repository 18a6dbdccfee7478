"""Write OUT.json: decisions, wait() values and 429 bodies produced by Django REST
framework's own SimpleRateThrottle and Throttled exception, the oracle for
server/src/throttle.rs (tests at its end).

Deterministic: the throttle's timer is patched to return exactly t_ms / 1000 as a
fractions.Fraction (DRF's arithmetic runs unchanged on it; real DRF uses float seconds, whose
rounding noise can move math.ceil by one exactly at whole-second boundaries), and the cache
is a plain dict (LocMemCache expires entries by the real clock, and DRF prunes the history
itself anyway). Random scenarios use a seeded random.Random.
Usage: .venv/bin/python server/tests/data/gen_django_throttle.py OUT.json
"""

import json
import math
import random
import sys
from fractions import Fraction

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    DATABASES={},
    USE_I18N=True,
    LANGUAGE_CODE="en-us",
)
django.setup()

import rest_framework  # noqa: E402
from rest_framework import exceptions, throttling  # noqa: E402
from rest_framework.renderers import JSONRenderer  # noqa: E402
from rest_framework.views import exception_handler  # noqa: E402


class DictCache:
    def __init__(self):
        self.data = {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def set(self, key, value, timeout=None):
        self.data[key] = list(value)


def make_throttle(rate, cache, clock):
    class T(throttling.SimpleRateThrottle):
        def get_cache_key(self, request, view):
            return request

    T.rate = rate
    T.cache = cache
    T.timer = staticmethod(lambda: clock[0])
    return T()


def render_429(wait):
    response = exception_handler(exceptions.Throttled(wait), {})
    return {
        "status": response.status_code,
        "body": JSONRenderer().render(response.data).decode("utf-8"),
        "retry_after": response.headers.get("Retry-After"),
    }


def run(rate, steps):
    """steps: [(key, t_ms)]. One fresh throttle instance per request, as DRF does."""
    cache, clock, out = DictCache(), [Fraction(0)], []
    for key, t_ms in steps:
        clock[0] = Fraction(t_ms, 1000)
        throttle = make_throttle(rate, cache, clock)
        allowed = throttle.allow_request(key, None)
        step = {"key": key, "t_ms": t_ms, "allowed": allowed}
        if not allowed:
            wait = throttle.wait()
            step["wait"] = wait  # DRF's float, before rounding
            step["wait_secs"] = math.ceil(wait)
            step["detail"] = str(exceptions.Throttled(wait).detail)
        out.append(step)
    return {"rate": rate, "steps": out}


def scenarios():
    s = []
    # Limit, exact expiry boundary (history[-1] <= now - duration drops it), 1 ms before.
    s.append(("3/min", [("a", t) for t in (0, 1000, 2000, 3000, 30500, 59999, 60000, 60001, 61000, 61999, 62000)]))
    # Refused requests are not recorded: hammering at the limit does not extend the wait.
    s.append(("2/min", [("a", 0), ("a", 10000)] + [("a", 10000 + 5000 * i) for i in range(1, 11)] + [("a", 60000), ("a", 60001), ("a", 70000)]))
    # Sub-second waits round up; "1/s"; whole-second remainders stay exact.
    s.append(("1/s", [("a", t) for t in (0, 1, 500, 999, 1000, 1001, 1999, 2000, 2000, 2001, 5000)]))
    s.append(("10/s", [("a", 100 * i) for i in range(12)] + [("a", 1000), ("a", 1050), ("a", 1100)]))
    # Other periods, and DRF reading only the first letter of the period.
    s.append(("5/hour", [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5), ("a", 1800000), ("a", 3599999), ("a", 3600000), ("a", 3600001)]))
    s.append(("2/day", [("a", 0), ("a", 43200000), ("a", 43200001), ("a", 86399500), ("a", 86400000), ("a", 86400001)]))
    s.append(("2/month", [("a", 0), ("a", 1), ("a", 2), ("a", 59999), ("a", 60000)]))  # 'm' = minute
    s.append(("2/decade", [("a", 0), ("a", 1), ("a", 2), ("a", 86400000)]))  # 'd' = day
    # Keys are independent.
    s.append(("2/min", [("a", 0), ("b", 0), ("a", 1), ("b", 2), ("a", 3), ("b", 4), ("c", 5), ("a", 60000), ("b", 60000), ("b", 60001)]))
    # A clock that steps backwards (history is kept in arrival order, not sorted).
    s.append(("2/min", [("a", 10000), ("a", 5000), ("a", 6000), ("a", 65000), ("a", 69999), ("a", 70000), ("a", 70001)]))
    # Seeded random traffic on three keys.
    rng = random.Random(7)
    for rate, gap in (("5/min", 30000), ("3/s", 900), ("4/hour", 1500000)):
        t, steps = 1_700_000_000_000, []
        for _ in range(300):
            t += rng.randrange(0, gap)
            steps.append((rng.choice("xyz"), t))
        s.append((rate, steps))
    return [run(rate, steps) for rate, steps in s]


def parse_rates():
    out = []
    for rate in ["5/min", "100/hour", "10/s", "1000/day", "1/sec", "7/m", "7/h", "7/d", "3/second", "3/minute",
                 "3/hours", "3/days", "3/month", "3/year", "3/ms", "3/hxyz", "0/min", "-1/min", "+5/min", " 5/min",
                 "5 /min", "5/ min", "1_000/day", "٥/min", "5/Min", "5/M", "5/", "/min", "5", "5/min/x", "abc/min",
                 "5.0/min", "", "99999999999/s", "4294967295/s", "4294967296/s"]:
        try:
            num, duration = throttling.SimpleRateThrottle.parse_rate(None, rate)
            out.append({"rate": rate, "drf": {"count": num, "period_secs": duration}})
        except Exception as e:
            out.append({"rate": rate, "drf": "error: %s" % type(e).__name__})
    return out


def main(out):
    doc = {
        "generator": "server/tests/data/gen_django_throttle.py",
        "drf": rest_framework.__version__,
        "django": django.get_version(),
        "parse_rate": parse_rates(),
        "bodies": [dict(render_429(w), wait=w) for w in (0, 0.2, 0.5, 1, 1.0, 1.5, 2, 2.0001, 3, 57, 59.999, 60, 61, 3600, 86400)]
        + [dict(render_429(None), wait=None)],
        "scenarios": scenarios(),
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_django_throttle.py OUT.json")
    main(sys.argv[1])
