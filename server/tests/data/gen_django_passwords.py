"""Write OUT.json: password hashes made by Django's own hashers, the oracle for
server/src/password.rs (tests at its end).

Deterministic: fixed salts; where Django draws randomness itself (its salt generator and
make_password(None)), `secrets.choice` is replaced by a seeded random.Random.
Usage: .venv/bin/python server/tests/data/gen_django_passwords.py OUT.json
"""

import json
import random
import sys

import django
from django.conf import settings

settings.configure(
    # Django 5.2's default list, plus MD5 so an "installed but not supported by tollgate"
    # algorithm can be exercised.
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ],
)
django.setup()

from django.contrib.auth import hashers  # noqa: E402
from django.utils import crypto  # noqa: E402

DEFAULT = hashers.PBKDF2PasswordHasher.iterations
SHA256 = hashers.PBKDF2PasswordHasher()
SHA1 = hashers.PBKDF2SHA1PasswordHasher()

PASSWORDS = [
    "",
    "password",
    "correct horse battery staple",
    " padded ",
    "padded",
    "pässwörd",
    "p\u00e4ss",  # precomposed a-umlaut
    "pa\u0308ss",  # a + combining diaeresis: a different password (no normalization)
    "日本語のパスワード",
    "emoji 🎉🔑",
    "tab\there\nnewline",
    "nul\x00byte",
    "x" * 200,
    "$dollar$signs$",
]
SALTS = ["seasalt", "abcdefghijklmnopqrstuv", "Z9yX8wV7uT6sR5qP4oN3mL", "sälz", "s"]


def hasher_with(base, iterations):
    class Preferred(type(base)):
        pass

    Preferred.iterations = iterations
    return Preferred()


def django_check(password, encoded):
    # The verdict does not depend on the preferred hasher; a 1000-iteration one only skips
    # harden_runtime()'s padding to 1,000,000 iterations on wrong passwords (speed).
    try:
        return hashers.check_password(password, encoded, preferred=hasher_with(SHA256, 1000))
    except Exception as e:  # Django itself fails on some malformed inputs
        return "error: %s" % type(e).__name__


def must_update(password, encoded, target):
    """Django's verify_password()'s second result, with `target` as the preferred count.
    The right password is passed: a wrong one only adds Django's harden_runtime() work."""
    try:
        return hashers.verify_password(password, encoded, preferred=hasher_with(SHA256, target))[1]
    except Exception as e:
        return "error: %s" % type(e).__name__


def main(out):
    rng = random.Random(20240611)
    crypto.secrets.choice = rng.choice  # get_random_string's only source of randomness

    hashes = []
    i = 0
    for iterations in (1000, 2000):
        for password in PASSWORDS:
            salt = SALTS[i % len(SALTS)]
            i += 1
            encoded = hashers.make_password(password, salt=salt, hasher=SHA256) if iterations == DEFAULT else SHA256.encode(password, salt, iterations)
            hashes.append({"algorithm": "pbkdf2_sha256", "password": password, "salt": salt, "iterations": iterations, "encoded": encoded})
    for password in ("password", "", "pässwörd", "emoji 🎉🔑"):
        encoded = SHA1.encode(password, "seasalt", 1000)
        hashes.append({"algorithm": "pbkdf2_sha1", "password": password, "salt": "seasalt", "iterations": 1000, "encoded": encoded})
    # Django's real default, through its public make_password (fixed salt).
    at_default = hashers.make_password("correct horse battery staple", salt="abcdefghijklmnopqrstuv")
    hashes.append({"algorithm": "pbkdf2_sha256", "password": "correct horse battery staple", "salt": "abcdefghijklmnopqrstuv", "iterations": DEFAULT, "encoded": at_default})
    for h in hashes:
        assert hashers.check_password(h["password"], h["encoded"]) is True

    # Salts and unusable passwords drawn by Django itself (seeded): shape only.
    random_salts = [SHA256.salt() for _ in range(3)]
    unusable = hashers.make_password(None)
    assert not hashers.is_password_usable(unusable)

    # check_password verdicts on edge cases; "error: X" means Django raises X (a 500 there).
    good = SHA256.encode("password", "seasalt", 1000)
    alg, it, salt, digest = good.split("$")
    variants = {
        "canonical": good,
        "unusable": unusable,
        "unusable_bare": "!",
        "empty": "",
        "leading_zero_iterations": "$".join([alg, "01000", salt, digest]),
        "plus_iterations": "$".join([alg, "+1000", salt, digest]),
        "underscore_iterations": "$".join([alg, "1_000", salt, digest]),
        "space_iterations": "$".join([alg, " 1000", salt, digest]),
        "zero_iterations": "$".join([alg, "0", salt, digest]),
        "negative_iterations": "$".join([alg, "-1000", salt, digest]),
        "nondigit_iterations": "$".join([alg, "abc", salt, digest]),
        "empty_salt": "$".join([alg, "1000", "", digest]),
        "unpadded_hash": "$".join([alg, "1000", salt, digest.rstrip("=")]),
        "hash_with_dollar": "$".join([alg, "1000", salt, digest + "$x"]),
        "missing_hash": "$".join([alg, "1000", salt]),
        "only_algorithm": alg,
        "uppercase_algorithm": "$".join([alg.upper(), "1000", salt, digest]),
        "sha1_label_on_sha256_hash": "$".join(["pbkdf2_sha1", "1000", salt, digest]),
        "trailing_newline": good + "\n",
        "md5": hashers.make_password("password", salt="seasalt", hasher="md5"),
        "argon2_uninstalled": "argon2$argon2id$v=19$m=102400,t=2,p=8$c2Vhc2FsdA$AAAA",
        "unknown_algorithm": "sha3$1000$seasalt$AAAA",
        "unsalted_md5": "5f4dcc3b5aa765d61d8327deb882cf99",
    }
    checks = []
    for name, encoded in variants.items():
        for password in ("password", "wrong"):
            checks.append({"name": name, "password": password, "encoded": encoded, "django": django_check(password, encoded)})

    rehash = []
    for password, encoded in [
        ("password", good),  # 7-char salt
        ("password", SHA1.encode("password", "abcdefghijklmnopqrstuv", 1000)),
        ("password", SHA256.encode("password", "abcdefghijklmnopqrstu", 1000)),  # 21 chars: < 128 bits
        ("password", SHA256.encode("password", "abcdefghijklmnopqrstuv", 1000)),  # 22 chars: enough
        ("password", SHA256.encode("password", "abcdefghijklmnopqrstuv", 2000)),
        ("password", SHA256.encode("password", "sälzsälzsälzsälzsälzsä", 1000)),  # 22 chars, non-ASCII
        ("correct horse battery staple", at_default),
        ("password", unusable),
        ("password", "sha3$1000$seasalt$AAAA"),
    ]:
        for target in (1000, DEFAULT):
            rehash.append({"encoded": encoded, "iterations": target, "django": must_update(password, encoded, target)})

    doc = {
        "generator": "server/tests/data/gen_django_passwords.py",
        "django": django.get_version(),
        "default_iterations": DEFAULT,
        "salt_alphabet": crypto.RANDOM_STRING_CHARS,
        "salt_length": len(SHA256.salt()),
        "unusable_prefix": hashers.UNUSABLE_PASSWORD_PREFIX,
        "unusable_suffix_length": hashers.UNUSABLE_PASSWORD_SUFFIX_LENGTH,
        "random_salts": random_salts,
        "unusable": unusable,
        "hashes": hashes,
        "checks": checks,
        "must_update": rehash,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_django_passwords.py OUT.json")
    main(sys.argv[1])
