#!/usr/bin/env bash
# Installs pygeoapi (PyPI), the peer of `heaven bench --ogc`, into a virtual environment
# of its own, once, with gunicorn (its production server, which --ogc runs it under too):
# ${XDG_CACHE_HOME:-~/.cache}/heaven/pygeoapi-0.21.0. Prints the path of its `pygeoapi`
# program.
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/heaven/pygeoapi-0.21.0"
if ! "$venv/bin/python" -c 'import pygeoapi, sys; sys.exit(pygeoapi.__version__ != "0.21.0")' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check pygeoapi==0.21.0 >&2
fi
if ! "$venv/bin/python" -c 'import gunicorn, sys; sys.exit(gunicorn.__version__ != "23.0.0")' 2>/dev/null; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check gunicorn==23.0.0 >&2
fi
echo "$venv/bin/pygeoapi"
