"""Creates the peer's database: `python -m peer.setup_db migrate` (the schema, into
$BENCH_SQLITE), then `python -m peer.setup_db user NAME EMAIL` (the benchmark user, password
from standard input, hashed at $BENCH_PBKDF2_ITERATIONS)."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

if sys.argv[1] == "migrate":
    call_command("migrate", verbosity=0, interactive=False)
elif sys.argv[1] == "user":
    name, email = sys.argv[2], sys.argv[3]
    user = get_user_model().objects.create_user(name, email, sys.stdin.readline().rstrip("\n"))
    print(f"added user {name!r} (id {user.id})")
else:
    sys.exit(f"usage: {sys.argv[0]} migrate | user NAME EMAIL")
