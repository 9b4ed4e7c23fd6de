#!/usr/bin/env bash
# Create .venv with the pinned Airflow (requirements/dev.lock), the test tools and this package
# (editable), from nothing. Idempotent: a second run only checks a stamp.
#
# Nothing is installed outside .venv: the virtualenv is made with the system Python's own venv
# module, uv is installed with pip *inside* .venv (about 2 s) and installs the lock in seconds;
# if uv cannot be installed, .venv's pip installs the lock instead (about a minute). uv's cache and
# the build scratch are .cache/uv and .cache/tmp in the checkout (git-ignored): nothing in /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.bootstrap-stamp"
want="$(cat requirements/dev.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
say() { echo "bootstrap: $*"; }
export UV_SYSTEM_CERTS=1 UV_CACHE_DIR="${UV_CACHE_DIR:-$PWD/.cache/uv}" UV_COMPILE_BYTECODE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Build scratch (uv's and pip's lock files and build trees) in the checkout, not in /tmp.
mkdir -p .cache/tmp
export TMPDIR="$PWD/.cache/tmp"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $("$PY" --version 2>&1) ($PY -m venv)"
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  say "adding pip to $VENV (ensurepip)"
  "$VENV/bin/python" -m ensurepip --upgrade >/dev/null
fi
if [ ! -x "$VENV/bin/uv" ]; then
  say "installing uv into $VENV (pip)"
  "$VENV/bin/python" -m pip install -q uv || say "could not install uv; using pip (about a minute)"
fi
if [ -x "$VENV/bin/uv" ]; then
  say "installing the pinned packages (requirements/dev.lock) into $VENV with uv"
  "$VENV/bin/uv" pip install -q -p "$VENV/bin/python" -r requirements/dev.lock
  say "installing this package (editable) into $VENV"
  "$VENV/bin/uv" pip install -q -p "$VENV/bin/python" --no-deps -e .
else
  say "installing the pinned packages (requirements/dev.lock) into $VENV with pip"
  "$VENV/bin/python" -m pip install -q -r requirements/dev.lock
  say "installing this package (editable) into $VENV"
  "$VENV/bin/python" -m pip install -q --no-deps -e .
fi
echo "$want" > "$stamp"
say "$VENV ready ($("$VENV/bin/python" -c 'import airflow; print("apache-airflow", airflow.__version__)'))"
