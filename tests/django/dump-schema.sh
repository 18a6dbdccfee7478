#!/usr/bin/env bash
# Prints the schema real Django's migrations created in the database at URL, as the
# fixture server/tests/data/django_schema.sql holds it: pg_dump --schema-only, without
# comments, session settings and pg_dump's \restrict lines (random per run), so that two
# dumps of the same schema are equal. Usage: tests/django/dump-schema.sh URL
set -euo pipefail
bin="${TOLLGATE_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}"
"$bin/pg_dump" --schema-only --no-owner --no-privileges "$1" |
  grep -v -e '^--' -e '^SET ' -e '^SELECT pg_catalog.set_config' -e '^\\restrict' -e '^\\unrestrict' |
  cat -s | sed '1{/^$/d}'
