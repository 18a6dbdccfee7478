"""CPU time of one Django password hash at $BENCH_PBKDF2_ITERATIONS: prints the median of
argv[1] runs of make_password (PBKDF2-SHA256 through hashlib, as a login's check_password
costs), in milliseconds."""

import os
import statistics
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402

runs = []
for _ in range(int(sys.argv[1])):
    started = time.process_time()
    make_password("bench-password")
    runs.append(time.process_time() - started)
print(f"{statistics.median(runs) * 1000:.1f}")
