"""Settings of the peer: Simple JWT as the HTTP contract configures it (rotation and blacklist
after rotation on, custom claims username/email/is_staff, HS256, 30 min / 3 days), on sqlite.

Everything the benchmark varies comes from the environment, set by bench/load.sh:
BENCH_SIGNING_KEY (the HS256 key tollgate gets too), BENCH_SQLITE (the database file) and
BENCH_PBKDF2_ITERATIONS (the password hasher's iteration count; Django's default if unset).
"""

import os
from datetime import timedelta

SECRET_KEY = os.environ["BENCH_SIGNING_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "peer.urls"
WSGI_APPLICATION = "peer.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# An API service: no sessions, templates, admin or static files.
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# sqlite as Django sets it up (rollback journal, synchronous FULL): a committed write is on
# disk before the view returns, as tollgate's answers are. The timeout only lets the two
# workers wait for each other's write lock instead of failing.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_SQLITE"],
        "OPTIONS": {"timeout": 30},
    }
}

PASSWORD_HASHERS = ["peer.hashers.BenchPBKDF2PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=3),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ["BENCH_SIGNING_KEY"],
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_OBTAIN_SERIALIZER": "peer.views.PairSerializer",
}

LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
