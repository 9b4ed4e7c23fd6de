#!/usr/bin/env bash
# Set-up of the real-deployment stage: PostgreSQL from the OS packages when absent (Debian/Ubuntu, as
# root), and the PostgreSQL drivers of requirements/deploy.txt in .venv when missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
  echo "deploy/setup.sh: installing PostgreSQL (apt-get)"
  # Do not let the package start its default cluster: the stage runs its own throwaway one.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  trap 'if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
fi
if ! "$VENV/bin/python" -c "import psycopg2, asyncpg" >/dev/null 2>&1; then
  echo "deploy/setup.sh: installing requirements/deploy.txt into $VENV"
  export UV_SYSTEM_CERTS=1 UV_CACHE_DIR="${UV_CACHE_DIR:-$PWD/.cache/uv}" UV_COMPILE_BYTECODE=1
  if command -v uv >/dev/null 2>&1; then
    uv pip install -q -p "$VENV/bin/python" -r requirements/deploy.txt
  elif [ -x "$VENV/bin/uv" ]; then
    "$VENV/bin/uv" pip install -q -p "$VENV/bin/python" -r requirements/deploy.txt
  else
    "$VENV/bin/pip" install -q -r requirements/deploy.txt
  fi
fi
