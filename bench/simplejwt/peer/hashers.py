"""Django's PBKDF2-SHA256 hasher at the iteration count the benchmark sets, so that both servers
hash passwords with the same work."""

import os

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class BenchPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    algorithm = "pbkdf2_sha256"
    iterations = int(os.environ.get("BENCH_PBKDF2_ITERATIONS", PBKDF2PasswordHasher.iterations))
