"""Write OUT.json: the real output of `python manage.py dumpdata auth.User` from a throwaway
Django project (sqlite, USE_TZ=True), the oracle for server/src/import.rs (tests at its end).

The users cover: superuser, staff, inactive, an unusable password (Django's
set_unusable_password), a non-ASCII username and names, last_login set (with and without
microseconds) and unset, password hashes at 1000 iterations (fast tests), Django's default
1,000,000 and pbkdf2_sha1, one user in a group with a permission (so the m2m fields are not
empty), and a gap in the ids (a deleted user).

Deterministic: fixed salts and timestamps; set_unusable_password's random string comes from
a seeded random.Random.
Usage: .venv/bin/python server/tests/data/gen_django_dumpdata.py [--all] [DUMPDATA_OPTION...] OUT.json
  --all: dump every model (contenttypes, permissions, groups, users) instead of auth.User;
  other options go to dumpdata as is (e.g. --indent 2, --natural-foreign --natural-primary).
Committed outputs (regenerate each with the same arguments):
  django_dumpdata_users.json          (no options)
  django_dumpdata_users_indent2.json  --indent 2
  django_dumpdata_all.json            --all --indent 2
  django_dumpdata_natural.json        --natural-foreign --natural-primary
  django_dumpdata_users.jsonl         --format jsonl
"""

import os
import subprocess
import sys
import tempfile
import textwrap

SETTINGS = """
SECRET_KEY = "gen-django-dumpdata"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %(db)r}}
USE_TZ = True
TIME_ZONE = "Europe/Paris"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

MANAGE = """
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["DJANGO_SETTINGS_MODULE"] = "tgsite_settings"
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""

CREATE_USERS = textwrap.dedent(
    """
    import random
    from datetime import datetime, timedelta, timezone
    from django.contrib.auth import hashers
    from django.contrib.auth.models import Group, Permission, User
    from django.utils import crypto

    crypto.secrets.choice = random.Random(42).choice
    fast = hashers.PBKDF2PasswordHasher()
    sha1 = hashers.PBKDF2SHA1PasswordHasher()
    T = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)

    def add(username, password, **kw):
        u = User(username=username, **kw)
        u.password = password
        u.date_joined = kw.get("date_joined", T)
        u.save()
        return u

    add("admin", fast.encode("admin-pass", "adminsalt0000000000000", 1000), email="admin@example.com",
        is_staff=True, is_superuser=True, first_name="Ada", last_name="Admin",
        last_login=datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=timezone.utc))
    add("staff", fast.encode("staff-pass", "staffsalt0000000000000", 1000), email="staff@example.com",
        is_staff=True, last_login=datetime(2024, 5, 2, 0, 0, 0, tzinfo=timezone.utc))
    add("alice", fast.encode("alice-pass", "alicesalt0000000000000", 1000), email="alice@example.com",
        date_joined=datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc))
    add("inactive", fast.encode("inactive-pass", "inactivesalt0000000000", 1000), is_active=False)
    gone = add("deleted", fast.encode("x", "deletedsalt00000000000", 1000))
    nopass = User(username="nopass", email="nopass@example.com", date_joined=T)
    nopass.set_unusable_password()
    nopass.save()
    add("jos\\u00e9.\\u65e5\\u672c", fast.encode("p\\u00e4ss w\\u00f6rd \\U0001f511", "josesalt00000000000000", 1000),
        first_name="Jos\\u00e9", last_name="M\\u00fcller \\u65e5\\u672c", email="jose@example.com",
        last_login=datetime(2024, 2, 29, 23, 0, 0, 500000, tzinfo=timezone.utc))
    add("bob", hashers.make_password("bob-default-pass", salt="bobsalt000000000000000"), email="bob@example.com")
    add("carol", sha1.encode("carol-pass", "carolsalt", 1000), email="carol@example.com")
    editors = Group.objects.create(name="editors")
    editors.permissions.add(Permission.objects.get(codename="change_user"))
    carol = User.objects.get(username="carol")
    carol.groups.add(editors)
    carol.user_permissions.add(Permission.objects.get(codename="view_user"))
    gone.delete()
    """
)


def main(argv):
    if not argv or argv[-1].startswith("-"):
        sys.exit("usage: gen_django_dumpdata.py [--all] [DUMPDATA_OPTION...] OUT.json")
    out, options = os.path.abspath(argv[-1]), argv[:-1]
    labels = ["auth.User"]
    if "--all" in options:
        options.remove("--all")
        labels = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "tgsite_settings.py"), "w") as f:
            f.write(SETTINGS % {"db": os.path.join(tmp, "db.sqlite3")})
        with open(os.path.join(tmp, "manage.py"), "w") as f:
            f.write(MANAGE)
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONIOENCODING="utf-8")

        def manage(*args):
            subprocess.run([sys.executable, "manage.py", *args], cwd=tmp, env=env, check=True,
                           stdout=subprocess.DEVNULL)

        manage("migrate", "-v", "0")
        manage("shell", "-c", CREATE_USERS)
        manage("dumpdata", *labels, *options, "--output", out)


if __name__ == "__main__":
    main(sys.argv[1:])
