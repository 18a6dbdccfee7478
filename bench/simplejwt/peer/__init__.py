"""A minimal Django project serving djangorestframework-simplejwt as ../shared/spec/http-api.md
configures it: the peer of tollgate in bench/load.sh."""
