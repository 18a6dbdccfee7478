"""A plain Django 5.2 + Simple JWT 5.5.1 site on PostgreSQL, as a site that tollgate takes the
token endpoints of would have: auth users, Simple JWT with rotation and the blacklist app,
Django's default password hasher. Its database comes from DATABASE_URL
(postgres://user[:password]@host:port/name) and its signing key from SIGNING_KEY, both set
by tests/django/beside.sh (the same database and key as tollgate's).
"""

import os
from datetime import timedelta
from urllib.parse import unquote, urlsplit

url = urlsplit(os.environ["DATABASE_URL"])
SECRET_KEY = os.environ["SIGNING_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
ROOT_URLCONF = "site_beside.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": url.path.lstrip("/"),
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname,
        "PORT": url.port or 5432,
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ["SIGNING_KEY"],
    "AUTH_HEADER_TYPES": ("Bearer",),
}

LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
