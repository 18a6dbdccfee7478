#!/usr/bin/env python
"""The Django site tollgate runs beside in tests/django/ (see settings.py)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_beside.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
