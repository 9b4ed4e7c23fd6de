#!/usr/bin/env bash
# Create .venv with the pinned Airflow, the test tools and this package (editable), from nothing.
# Idempotent: a second run only checks. Uses uv when it can (seconds), pip otherwise (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.bootstrap-stamp"
want="$(cat requirements/dev.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
export UV_SYSTEM_CERTS=1 UV_CACHE_DIR="${UV_CACHE_DIR:-$PWD/.cache/uv}" UV_COMPILE_BYTECODE=1
if ! command -v uv >/dev/null 2>&1; then
  "$PY" -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1 || true
fi
if command -v uv >/dev/null 2>&1; then
  [ -x "$VENV/bin/python" ] || uv venv -q -p "$PY" "$VENV"
  uv pip install -q -p "$VENV/bin/python" -r requirements/dev.lock
  uv pip install -q -p "$VENV/bin/python" --no-deps -e .
else
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q -r requirements/dev.lock
  "$VENV/bin/pip" install -q --no-deps -e .
fi
echo "$want" > "$stamp"
echo "bootstrap: $VENV ready ($("$VENV/bin/python" -c 'import airflow; print("apache-airflow", airflow.__version__)'))"
